// Topology validation: every rule, the message it gives, and that nothing
// half-built comes out.
#include "ctl/topology.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "ctl/kinds/patch.h"
#include "ctl/kinds/pcap.h"
#include "ctl/replay.h"
#include "ctl/report.h"

namespace kvnet::ctl {
namespace {

std::string error_of(const std::string& yaml) {
  auto r = parse_topology(yaml, "t.yaml", "/base");
  return r.ok() ? "<ok>" : r.error().message;
}

void expect_error(const std::string& yaml, const std::string& fragment) {
  const std::string e = error_of(yaml);
  EXPECT_NE(e.find(fragment), std::string::npos) << "error was: " << e;
  EXPECT_EQ(e.rfind("t.yaml", 0), 0u) << "error does not name the file: " << e;
}

const char* kGood = R"(
bridges:
  - name: br-int
    type: switch
    mac_aging: 120
    mac_table_size: 100
    fdb: [{vlan: 10, mac: "52:54:00:00:00:01", port: a1}]
    ports:
      - {name: a1, type: pcap, rx: a1-in.pcap, tx: out/a1.pcap, vlan_mode: access, pvid: 10}
      - {name: t1, type: pcap, vlan_mode: trunk, pvid: 1, allowed: [1, 10, 20-30]}
      - {name: h1, type: pcap, vlan_mode: hybrid, pvid: 10, tagged: [20], untagged: "10,11"}
      - {name: q1, type: pcap, vlan_mode: dot1q-tunnel, pvid: 30, cvlans: [100], qinq_ethtype: 802.1q}
      - {name: to-eth, type: patch, peer: br-eth1/to-int, vlan_mode: trunk, allowed: [10, 20]}
  - name: br-eth1
    ports:
      - {name: to-int, type: patch, peer: br-int/to-eth, vlan_mode: trunk, allowed: [10, 20]}
      - {name: eth1, type: pcap, mtu: 9000, vlan_mode: native-untagged, pvid: 5, priority_tags: always}
  - name: qbr
    type: hub
    ports:
      - {name: vnet0, type: pcap}
)";

TEST(Topology, LoadsAValidFile) {
  auto r = parse_topology(kGood, "t.yaml", "/base");
  ASSERT_TRUE(r.ok()) << r.error().message;
  const Topology& t = *r;
  ASSERT_EQ(t.bridges.size(), 3u);
  EXPECT_EQ(t.bridges[1].type, dp::BridgeType::kSwitch);  // the default type
  EXPECT_EQ(t.bridges[0].settings.mac_aging_sec, 120u);
  EXPECT_EQ(t.bridges[0].settings.mac_table_size, 100u);
  const PortSpec* a1 = t.find_port("br-int/a1");
  ASSERT_NE(a1, nullptr);
  EXPECT_EQ(a1->as<PcapOptions>()->rx, "/base/a1-in.pcap");
  EXPECT_EQ(a1->as<PcapOptions>()->tx, "/base/out/a1.pcap");
  EXPECT_EQ(a1->vlan.pvid, 10);
  const PortSpec* t1 = t.find_port("t1");
  EXPECT_EQ(dp::vlan_set_str(*t1->vlan.allowed), "1,10,20-30");
  EXPECT_EQ(dp::vlan_set_str(t.find_port("h1")->vlan.untagged), "10-11");
  EXPECT_EQ(t.find_port("q1")->vlan.qinq_tpid, 0x8100);
  EXPECT_EQ(t.find_port("eth1")->mtu, 9000u);
  EXPECT_EQ(t.find_port("to-eth")->as<PatchOptions>()->peer_bridge, "br-eth1");
  ASSERT_EQ(t.bridges[0].fdb.size(), 1u);
  EXPECT_EQ(t.bridges[0].fdb[0].mac, 0x525400000001u);
}

TEST(Topology, RejectsUnknownKeys) {
  expect_error("bridges: []\nswitches: []\n", "unknown key 'switches'");
  expect_error("bridges:\n  - {name: b, colour: red}\n", "bridge 'b': unknown key 'colour'");
  expect_error("bridges:\n  - name: b\n    ports:\n      - {name: p, type: pcap, pvid: 3, pvid: 4}\n",
               "duplicate key 'pvid'");
  expect_error("bridges:\n  - name: b\n    ports:\n      - {name: p, type: pcap, vlan: 3}\n",
               "bridge 'b': port 'p': unknown key 'vlan'");
}

TEST(Topology, ReportsLineAndColumn) {
  const std::string e = error_of("bridges:\n  - name: b\n    ports:\n      - {name: p, type: pcap, pvid: 4095}\n");
  EXPECT_EQ(e, "t.yaml:4:37: bridge 'b': port 'p': pvid 4095 is out of range 1-4094");
}

TEST(Topology, RejectsBadVids) {
  expect_error("bridges:\n  - name: b\n    ports:\n      - {name: p, type: pcap, pvid: 0}\n", "pvid 0 is out of range");
  expect_error("bridges:\n  - name: b\n    ports:\n      - {name: p, type: pcap, vlan_mode: trunk, allowed: [1, 4095]}\n",
               "allowed: VLAN '4095' is out of range 1-4094");
  expect_error("bridges:\n  - name: b\n    ports:\n      - {name: p, type: pcap, vlan_mode: trunk, allowed: [30-20]}\n",
               "is empty");
  expect_error("bridges:\n  - name: b\n    ports:\n      - {name: p, type: pcap, vlan_mode: trunk, allowed: [ten]}\n",
               "'ten' is not a VLAN ID");
  expect_error("bridges:\n  - name: b\n    ports:\n      - {name: p, type: pcap, pvid: x}\n", "pvid 'x' is not an integer");
}

TEST(Topology, RejectsMisplacedVlanKeys) {
  expect_error("bridges:\n  - name: b\n    type: hub\n    ports:\n      - {name: p, type: pcap, vlan_mode: access}\n",
               "'vlan_mode' applies to ports of switch bridges, not hub bridges");
  expect_error("bridges:\n  - name: b\n    ports:\n      - {name: p, type: pcap, vlan_mode: access, allowed: [1]}\n",
               "'allowed' applies to trunk");
  expect_error("bridges:\n  - name: b\n    ports:\n      - {name: p, type: pcap, tagged: [1]}\n",
               "apply to hybrid ports only");
  expect_error("bridges:\n  - name: b\n    ports:\n      - {name: p, type: pcap, vlan_mode: hybrid, tagged: [5], untagged: [5]}\n",
               "both 'tagged' and 'untagged'");
  expect_error("bridges:\n  - name: b\n    ports:\n      - {name: p, type: pcap, vlan_mode: sideways}\n",
               "vlan_mode 'sideways' is unknown");
  expect_error("bridges:\n  - name: b\n    ports:\n      - {name: p, type: pcap, vlan_mode: trunk, qinq_ethtype: 802.1ad}\n",
               "dot1q-tunnel ports only");
  expect_error("bridges:\n  - name: b\n    ports:\n      - {name: p, type: pcap, priority_tags: sometimes}\n",
               "priority_tags 'sometimes' is unknown");
  expect_error("bridges:\n  - name: b\n    type: hub\n    mac_aging: 10\n", "'mac_aging' applies to learning and switch");
}

TEST(Topology, RejectsDuplicateNames) {
  expect_error("bridges:\n  - {name: b}\n  - {name: b}\n", "duplicate bridge name 'b'");
  expect_error("bridges:\n  - name: b1\n    ports: [{name: p, type: pcap}]\n  - name: b2\n    ports: [{name: p, type: pcap}]\n",
               "duplicate port name 'p'");
  expect_error("bridges:\n  - {name: this-name-is-far-too-long}\n", "must be 1-15 characters");
  expect_error("bridges:\n  - {name: 'a b'}\n", "may only hold");
  expect_error("bridges:\n  - {name: '-all'}\n", "must start with a letter or a digit");
  expect_error("bridges:\n  - {name: '..'}\n", "must start with a letter or a digit");
}

TEST(Topology, RejectsBadPatches) {
  expect_error("bridges:\n  - name: b\n    ports: [{name: p, type: patch}]\n", "needs 'peer: BRIDGE/PORT'");
  expect_error("bridges:\n  - name: b\n    ports: [{name: p, type: patch, peer: nobridge}]\n", "must be BRIDGE/PORT");
  expect_error("bridges:\n  - name: b\n    ports: [{name: p, type: patch, peer: x/y}]\n",
               "bridge 'b': port 'p': peer bridge 'x' does not exist");
  expect_error("bridges:\n  - name: b\n    ports: [{name: p, type: patch, peer: b/q}]\n",
               "peer port 'b/q' does not exist");
  expect_error("bridges:\n  - name: b\n    ports: [{name: p, type: patch, peer: b/p}]\n", "cannot be its own peer");
  expect_error("bridges:\n  - name: b\n    ports: [{name: p, type: patch, peer: b/q}, {name: q, type: pcap}]\n",
               "is a pcap port, not a patch port");
  expect_error(
      "bridges:\n  - name: b\n    ports: [{name: p, type: patch, peer: b/q}, {name: q, type: patch, peer: b/r}, "
      "{name: r, type: patch, peer: b/q}]\n",
      "names 'b/r' as its peer, not this port");
  expect_error("bridges:\n  - name: b\n    ports: [{name: p, type: pcap, peer: b/q}]\n", "'peer' applies to patch ports only");
}

TEST(Topology, RejectsBadPortsAndFiles) {
  expect_error("bridges:\n  - name: b\n    ports: [{name: p}]\n", "'type' is required");
  expect_error("bridges:\n  - name: b\n    ports: [{name: p, type: wormhole}]\n", "type 'wormhole' is unknown");
  expect_error("bridges:\n  - name: b\n    ports: [{name: p, type: pcap, mtu: 10}]\n", "mtu 10 is out of range 68-9216");
  expect_error("bridges:\n  - name: b\n    ports: [{name: p, type: pcap, tx: o.pcap}, {name: q, type: pcap, tx: o.pcap}]\n",
               "is written by another port too");
  expect_error("bridges:\n  - name: b\n    ports: [{name: p, type: pcap, rx: o.pcap}, {name: q, type: pcap, tx: o.pcap}]\n",
               "is also a tx file");
  expect_error("bridges:\n  - name: b\n    ports: [{name: p, type: patch, peer: b/q, rx: x.pcap}]\n", "'rx' applies to pcap");
}

TEST(Topology, RejectsBadStaticFdb) {
  expect_error("bridges:\n  - name: b\n    fdb: [{vlan: 1, mac: 'zz', port: p}]\n    ports: [{name: p, type: pcap}]\n",
               "is not a MAC address");
  expect_error("bridges:\n  - name: b\n    fdb: [{vlan: 1, mac: 'ff:ff:ff:ff:ff:ff', port: p}]\n    ports: [{name: p, type: pcap}]\n",
               "must be a unicast MAC");
  expect_error("bridges:\n  - name: b\n    fdb: [{vlan: 1, mac: '02:00:00:00:00:01', port: q}]\n    ports: [{name: p, type: pcap}]\n",
               "port 'q' is not a port of this bridge");
  expect_error("bridges:\n  - name: b\n    fdb: [{vlan: 7, mac: '02:00:00:00:00:01', port: p}]\n    ports: [{name: p, type: pcap}]\n",
               "does not carry VLAN 7");
  expect_error("bridges:\n  - name: b\n    fdb: [{mac: '02:00:00:00:00:01', port: p}]\n    ports: [{name: p, type: pcap}]\n",
               "needs 'vlan'");
}

TEST(Topology, RejectsMalformedYaml) {
  expect_error("bridges: [\n", "invalid YAML");
  expect_error("", "the file is empty");
  expect_error("- a\n- b\n", "the topology must be a mapping");
  EXPECT_NE(load_topology("/nonexistent/kvnet.yaml").error().message.find("cannot open topology file"),
            std::string::npos);
}

TEST(Topology, ReplayRejectsUnreadablePcapsBeforeAnyFrameMoves) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(::testing::TempDir()) / ("kvnet-topo-" + std::to_string(getpid()));
  fs::create_directories(dir);
  {
    std::ofstream(dir / "bad.pcap") << "this is not a capture";
  }
  auto t = parse_topology(
      "bridges:\n  - name: b\n    type: hub\n    ports:\n      - {name: p, type: pcap, tx: p-out.pcap}\n"
      "      - {name: q, type: pcap, rx: bad.pcap}\n",
      "t.yaml", dir.string());
  ASSERT_TRUE(t.ok());
  auto r = replay(*t);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("bridge 'b': port 'q': rx:"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("not a pcap file"), std::string::npos) << r.error().message;
  EXPECT_FALSE(fs::exists(dir / "p-out.pcap"));  // nothing was written

  auto t2 = parse_topology("bridges:\n  - name: b\n    ports:\n      - {name: p, type: pcap, rx: missing.pcap}\n",
                           "t.yaml", dir.string());
  ASSERT_TRUE(t2.ok());
  EXPECT_NE(replay(*t2).error().message.find("cannot open"), std::string::npos);

  auto t3 = parse_topology("bridges:\n  - name: b\n    ports:\n      - {name: p, type: tap}\n", "t.yaml", dir.string());
  ASSERT_TRUE(t3.ok());
  EXPECT_NE(replay(*t3).error().message.find("need the live daemon"), std::string::npos);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace kvnet::ctl

namespace kvnet::ctl {
namespace {

TEST(TopologyYaml, ExportRoundTrips) {
  auto a = parse_topology(kGood, "t.yaml", "/base");
  ASSERT_TRUE(a.ok()) << a.error().message;
  const std::string y1 = to_yaml(*a);
  auto b = parse_topology(y1, "export", "/base");
  ASSERT_TRUE(b.ok()) << b.error().message << "\n" << y1;
  EXPECT_EQ(to_yaml(*b), y1);
  EXPECT_NE(y1.find("allowed: [1, 10, 20-30]"), std::string::npos) << y1;
  EXPECT_NE(y1.find("qinq_ethtype: 802.1q"), std::string::npos) << y1;
  EXPECT_NE(y1.find("mac_aging: 120"), std::string::npos) << y1;
}

TEST(TopologyYaml, ContainersAreValidated) {
  const std::string base =
      "bridges:\n  - name: b\n    ports: [{name: c1p, type: system}, {name: pc, type: pcap}]\n";
  auto ok = parse_topology(base + "containers:\n  - {name: c1, bridge: b, port: c1p, ip: 10.0.0.1/24, gw: 10.0.0.254}\n",
                           "t.yaml", "/");
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(ok->containers.at(0).ip, "10.0.0.1/24");
  EXPECT_NE(to_yaml(*ok).find("containers:"), std::string::npos);
  auto err = [&](const std::string& c) {
    auto r = parse_topology(base + "containers:\n  - " + c + "\n", "", "/");
    return r.ok() ? std::string("<ok>") : r.error().message;
  };
  EXPECT_EQ(err("{name: c1, bridge: x, port: c1p}"), "container 'c1': bridge 'x' does not exist");
  EXPECT_EQ(err("{name: c1, bridge: b, port: pc}"),
            "container 'c1': port 'pc' must be a system port (the container's veth), not pcap");
  EXPECT_EQ(err("{name: c1, bridge: b, port: c1p, ip: 10.0.0.1}"),
            "container 'c1': ip '10.0.0.1' must be ADDRESS/PREFIX (e.g. 10.0.0.1/24)");
  EXPECT_EQ(err("{name: c1, bridge: b, port: c1p, ip: 10.0.0.1/33}"),
            "container 'c1': ip '10.0.0.1/33': prefix length must be 0-32");
  EXPECT_EQ(err("{name: c1, bridge: b, port: c1p, gw: 300.1.1.1}"),
            "container 'c1': '300.1.1.1' is not an IPv4 or IPv6 address");
  EXPECT_EQ(err("{name: c1, bridge: b, port: c1p, ip: dhcp, gw: 10.0.0.254}"),
            "container 'c1': 'gw' cannot go with ip=dhcp: the DHCP lease gives the default route");
}

TEST(TopologyYaml, ContainersTakeDhcp) {
  auto t = parse_topology(
      "bridges:\n  - name: b\n    ports: [{name: c1p, type: system}]\n"
      "containers:\n  - {name: c1, bridge: b, port: c1p, ip: dhcp}\n",
      "", "/");
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->containers.at(0).ip, "dhcp");
  EXPECT_NE(to_yaml(*t).find("ip: dhcp"), std::string::npos) << to_yaml(*t);
  EXPECT_TRUE(check_container_ip("dhcp", "").ok());
  EXPECT_FALSE(check_container_ip("dhcp", "10.0.0.1").ok());
  EXPECT_FALSE(check_container_ip("10.0.0.1", "").ok());
}

TEST(TopologyYaml, AContainerWithoutMacHasOneDerivedFromItsName) {
  ContainerSpec c{"cb", "b", "p", "", "", "", {}};
  // Pinned: the MAC must not change between kvnet versions (leases, ARP caches).
  EXPECT_EQ(container_mac(c), "02:07:b5:4a:11:b0");
  c.name = "cc";
  EXPECT_NE(container_mac(c), "02:07:b5:4a:11:b0");
  EXPECT_EQ(container_mac(c).substr(0, 3), "02:");  // locally administered, unicast
  c.mac = "52:54:00:00:00:01";
  EXPECT_EQ(container_mac(c), "52:54:00:00:00:01");
}

}  // namespace
}  // namespace kvnet::ctl

namespace kvnet::ctl {
namespace {

namespace fs = std::filesystem;

// `kvnet replay --format json` without --fdb does not build the FDB list
// (with a million stations it cost a gigabyte).
TEST(ReplayJson, TheFdbIsListedOnlyWhenAsked) {
  const auto dir = fs::path(::testing::TempDir()) / ("kvnet-replay-fdb-" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string yaml = "bridges:\n  - name: b\n    ports: [{name: p, type: pcap}, {name: q, type: pcap}]\n";
  auto t = parse_topology(yaml, (dir / "t.yaml").string(), dir.string());
  ASSERT_TRUE(t.ok()) << t.error().message;
  auto without = replay(*t, nullptr, false);
  ASSERT_TRUE(without.ok());
  EXPECT_FALSE(without->has_fdb);
  EXPECT_FALSE(render_replay_json(*without).contains("fdb"));
  auto with = replay(*t, nullptr, true);
  ASSERT_TRUE(with.ok());
  EXPECT_TRUE(render_replay_json(*with).contains("fdb"));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace kvnet::ctl

namespace kvnet::ctl {
namespace {

// A file of several hosts: `hosts:` maps names to topologies; one is picked.
TEST(TopologyHosts, AFileOfSeveralHostsNeedsAHostAndGivesItsTopology) {
  const std::string two =
      "hosts:\n"
      "  h1:\n    bridges: [{name: a, ports: [{name: p1, type: internal}]}]\n"
      "  h2:\n    bridges: [{name: b, ports: [{name: p2, type: internal}]}]\n    containers: []\n";
  auto t1 = parse_document(two, "f.yaml", "/", "h1");
  ASSERT_TRUE(t1.ok()) << t1.error().message;
  ASSERT_EQ(t1->bridges.size(), 1u);
  EXPECT_EQ(t1->bridges[0].name, "a");
  EXPECT_FALSE(t1->has_containers);
  auto t2 = parse_document(two, "f.yaml", "/", "h2");
  ASSERT_TRUE(t2.ok()) << t2.error().message;
  EXPECT_EQ(t2->bridges[0].name, "b");
  EXPECT_TRUE(t2->has_containers);

  auto none = parse_document(two, "f.yaml", "/");
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().message.find("this file describes several hosts (h1, h2): pick one with --host NAME"),
            std::string::npos)
      << none.error().message;
  auto other = parse_document(two, "f.yaml", "/", "h3");
  ASSERT_FALSE(other.ok());
  EXPECT_NE(other.error().message.find("host 'h3' is not in this file (h1, h2)"), std::string::npos)
      << other.error().message;
  auto single = parse_document("bridges: []\n", "f.yaml", "/", "h1");
  ASSERT_FALSE(single.ok());
  EXPECT_NE(single.error().message.find("there is no 'hosts:' section to pick host 'h1' from"), std::string::npos)
      << single.error().message;
  auto mixed = parse_document("hosts: {h1: {bridges: []}}\nbridges: []\n", "f.yaml", "/", "h1");
  ASSERT_FALSE(mixed.ok());
  EXPECT_NE(mixed.error().message.find("unknown key 'bridges' in a file of several hosts"), std::string::npos)
      << mixed.error().message;
  auto empty = parse_document("hosts: {}\n", "f.yaml", "/", "h1");
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.error().message.find("'hosts' must map host names to topologies"), std::string::npos)
      << empty.error().message;
}

TEST(TopologyHosts, TheExampleFileValidatesForEachHost) {
  for (const char* host : {"host1", "host2"}) {
    auto t = load_topology(std::string(KVNET_SOURCE_DIR) + "/examples/two-hosts-vxlan.yaml", host);
    ASSERT_TRUE(t.ok()) << host << ": " << t.error().message;
    EXPECT_EQ(t->bridges.size(), 1u);
    EXPECT_EQ(t->containers.size(), 2u);
  }
}

}  // namespace
}  // namespace kvnet::ctl
