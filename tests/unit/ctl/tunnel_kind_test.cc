// The tunnel port kinds (vxlan, geneve, gre): their options as a topology
// file and kvnetd's KEY=VALUE settings give them, what export writes back,
// every refusal with its message, the VLAN configuration a vni_map implies,
// and the rules between ports (one endpoint, one claimant per VNI and remote)
// and static FDB entries naming a remote.
#include "ctl/kinds/tunnel.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include "ctl/topology.h"
#include "testing.h"

namespace kvnet::ctl {
namespace {

using io::IpAddr;
using io::TunnelType;

IpAddr ip(const char* s) {
  auto a = IpAddr::parse(s);
  EXPECT_TRUE(a.has_value()) << s;
  return a.value_or(IpAddr{});
}

// A topology of one bridge `b` (of `type`) with `ports` (YAML list items,
// each on its own line) and optional extra bridge keys (fdb: ...).
std::string doc(const std::string& ports, const std::string& type = "switch", const std::string& extra = "") {
  return "bridges:\n  - name: b\n    type: " + type + "\n" + extra + "    ports:\n" + ports;
}

std::string error_of(const std::string& yaml) {
  auto r = parse_topology(yaml, "t.yaml", "/base");
  return r.ok() ? "<ok>" : r.error().message;
}

// The error names the file and the port and holds `fragment`.
void expect_error(const std::string& yaml, const std::string& fragment) {
  const std::string e = error_of(yaml);
  EXPECT_NE(e.find(fragment), std::string::npos) << "error was: " << e << "\nfor:\n" << yaml;
  EXPECT_EQ(e.rfind("t.yaml:", 0), 0u) << "error does not name the file: " << e;
  EXPECT_NE(e.find("bridge 'b'"), std::string::npos) << "error does not name the bridge: " << e;
}

void expect_ok(const std::string& yaml) { EXPECT_EQ(error_of(yaml), "<ok>") << yaml; }

const io::TunnelConfig& cfg_of(const Topology& t, const std::string& port) {
  const PortSpec* p = t.find_port(port);
  EXPECT_NE(p, nullptr) << port;
  const auto* o = p->as<TunnelOptions>();
  EXPECT_NE(o, nullptr) << port << " has no tunnel options";
  return o->cfg;
}

const char* kTunnels = R"(
bridges:
  - name: b
    ports:
      - {name: vx, type: vxlan, remote_ip: [10.0.0.2, 10.0.0.3], local_ip: 10.0.0.1, vni: 5000, dst_port: 8472, ttl: 10, tos: 184}
      - {name: vf, type: vxlan, remote_ip: flow, vni: 16777215}
      - {name: gn, type: geneve, remote_ip: "fd00::2", local_ip: "fd00::1", vni: 0}
      - {name: gr, type: gre, remote_ip: 10.0.0.2, key: 4294967295}
      - {name: nv, type: gre, remote_ip: "10.0.0.4, 10.0.0.5", key: 16777215, nvgre: true, ttl: 255, tos: 0}
      - {name: gk, type: gre, remote_ip: 10.0.0.6}
      - {name: vm, type: vxlan, remote_ip: 10.0.0.7, vni_map: {10: 5010, 20: 5020}}
      - name: vs
        type: geneve
        remote_ip: 10.0.0.8
        vni_map: "30:6030,40:6040"
      - name: gm
        type: gre
        remote_ip: 10.0.0.9
        nvgre: true
        vni_map:
          1: 100
          2: 200
          3: 300
)";

TEST(TunnelKind, TypedOptionsReadBack) {
  auto r = parse_topology(kTunnels, "t.yaml", "/base");
  ASSERT_TRUE(r.ok()) << r.error().message;
  const Topology& t = *r;

  const io::TunnelConfig& vx = cfg_of(t, "vx");
  EXPECT_EQ(vx.type, TunnelType::kVxlan);
  EXPECT_EQ(vx.remotes, (std::vector<IpAddr>{ip("10.0.0.2"), ip("10.0.0.3")}));
  EXPECT_FALSE(vx.remote_flow);
  EXPECT_EQ(vx.local, ip("10.0.0.1"));
  EXPECT_EQ(vx.vni, 5000u);
  EXPECT_TRUE(vx.has_key);
  EXPECT_EQ(vx.dst_port, 8472);
  EXPECT_EQ(vx.ttl, 10);
  EXPECT_EQ(vx.tos, 184);
  EXPECT_TRUE(vx.vni_map.empty());
  EXPECT_EQ(vx.family(), AF_INET);

  const io::TunnelConfig& vf = cfg_of(t, "vf");
  EXPECT_TRUE(vf.remote_flow);
  EXPECT_TRUE(vf.remotes.empty());
  EXPECT_TRUE(vf.local.unset());
  EXPECT_EQ(vf.vni, 16777215u);
  EXPECT_EQ(vf.dst_port, 0);  // the default: 4789 when the backend opens
  EXPECT_EQ(vf.ttl, 64);
  EXPECT_EQ(vf.tos, 0);

  const io::TunnelConfig& gn = cfg_of(t, "gn");
  EXPECT_EQ(gn.type, TunnelType::kGeneve);
  EXPECT_EQ(gn.family(), AF_INET6);
  EXPECT_EQ(gn.local, ip("fd00::1"));
  EXPECT_EQ(gn.remotes, std::vector<IpAddr>{ip("fd00::2")});
  EXPECT_EQ(gn.vni, 0u);
  EXPECT_TRUE(gn.has_key);
  EXPECT_EQ(gn.dst_port, 0);  // 6081 when the backend opens

  const io::TunnelConfig& gr = cfg_of(t, "gr");
  EXPECT_EQ(gr.type, TunnelType::kGre);
  EXPECT_EQ(gr.vni, 4294967295u);  // a GRE key has 32 bits
  EXPECT_TRUE(gr.has_key);
  EXPECT_FALSE(gr.nvgre);

  const io::TunnelConfig& nv = cfg_of(t, "nv");
  EXPECT_TRUE(nv.nvgre);
  EXPECT_TRUE(nv.has_key);
  EXPECT_EQ(nv.vni, 16777215u);  // the VSID
  EXPECT_EQ(nv.remotes, (std::vector<IpAddr>{ip("10.0.0.4"), ip("10.0.0.5")}));  // spaces trimmed
  EXPECT_EQ(nv.ttl, 255);

  const io::TunnelConfig& gk = cfg_of(t, "gk");
  EXPECT_FALSE(gk.has_key);  // GRE without a key
  EXPECT_FALSE(gk.nvgre);

  EXPECT_EQ(cfg_of(t, "vm").vni_map, (std::map<uint16_t, uint32_t>{{10, 5010}, {20, 5020}}));
  EXPECT_FALSE(cfg_of(t, "vm").has_key);
  EXPECT_EQ(cfg_of(t, "vs").vni_map, (std::map<uint16_t, uint32_t>{{30, 6030}, {40, 6040}}));
  EXPECT_EQ(cfg_of(t, "gm").vni_map, (std::map<uint16_t, uint32_t>{{1, 100}, {2, 200}, {3, 300}}));
  EXPECT_TRUE(cfg_of(t, "gm").nvgre);
  EXPECT_TRUE(cfg_of(t, "gm").has_key);  // GRE with a vni_map sends keys

  // Ports without a vni_map are plain access ports of VLAN 1.
  EXPECT_EQ(t.find_port("vx")->vlan.mode, dp::VlanMode::kAccess);
  EXPECT_EQ(t.find_port("vx")->vlan.pvid, 1);
  EXPECT_EQ(t.find_port("vx")->kind->name(), "vxlan");
  EXPECT_EQ(t.find_port("gn")->kind->name(), "geneve");
  EXPECT_EQ(t.find_port("gr")->kind->name(), "gre");
}

TEST(TunnelKind, VniMapImpliesATrunkOfTheMappedVlans) {
  auto r = parse_topology(kTunnels, "t.yaml", "/base");
  ASSERT_TRUE(r.ok()) << r.error().message;
  struct Want {
    const char* port;
    const char* allowed;
    uint16_t pvid;
  };
  for (const Want& w : {Want{"vm", "10,20", 1}, Want{"vs", "30,40", 1}, Want{"gm", "1-3", 4}}) {
    const PortSpec* p = r->find_port(w.port);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(p->vlan.mode, dp::VlanMode::kTrunk) << w.port;
    ASSERT_TRUE(p->vlan.allowed.has_value()) << w.port;
    EXPECT_EQ(dp::vlan_set_str(*p->vlan.allowed), w.allowed) << w.port;
    EXPECT_EQ(p->vlan.pvid, w.pvid) << w.port;
    EXPECT_FALSE((*p->vlan.allowed)[p->vlan.pvid]) << w.port << ": the pvid is a mapped VLAN";
    EXPECT_TRUE(p->has_vlan_config);
  }
  // The kind says so itself; without a vni_map it implies nothing.
  const PortSpec* vm = r->find_port("vm");
  auto implied = vm->kind->implied_vlan(*vm->options);
  ASSERT_TRUE(implied.has_value());
  EXPECT_EQ(dp::vlan_set_str(*implied->allowed), "10,20");
  const PortSpec* vx = r->find_port("vx");
  EXPECT_FALSE(vx->kind->implied_vlan(*vx->options).has_value());

  // An explicit configuration that is the implied one is fine too.
  expect_ok(doc("      - {name: t, type: vxlan, remote_ip: 10.0.0.1, vni_map: '10:5010,20:5020', vlan_mode: trunk, "
                "pvid: 5, allowed: [10, 20]}\n"));
}

TEST(TunnelKind, ExportRoundTrips) {
  const std::string fdb =
      "    fdb: [{vlan: 1, mac: '02:00:00:00:00:01', port: vf, remote_ip: 10.9.9.9},\n"
      "          {vlan: 10, mac: '02:00:00:00:00:02', port: vm, remote_ip: 10.0.0.77}]\n";
  std::string yaml = kTunnels;
  yaml.insert(yaml.find("    ports:"), fdb);
  auto a = parse_topology(yaml, "t.yaml", "/base");
  ASSERT_TRUE(a.ok()) << a.error().message;
  const std::string y1 = to_yaml(*a);
  auto b = parse_topology(y1, "export", "/base");
  ASSERT_TRUE(b.ok()) << b.error().message << "\n" << y1;
  EXPECT_EQ(to_yaml(*b), y1);
  for (const char* want : {"remote_ip: [10.0.0.2, 10.0.0.3]", "local_ip: 10.0.0.1", "vni: 5000", "dst_port: 8472",
                           "ttl: 10", "tos: 184", "remote_ip: flow", "vni: 16777215", "key: 4294967295",
                           "nvgre: true", "key: 16777215", "vni_map: {10: 5010, 20: 5020}",
                           "vni_map: {30: 6030, 40: 6040}", "vni_map: {1: 100, 2: 200, 3: 300}",
                           "remote_ip: 10.9.9.9", "remote_ip: 10.0.0.77"})
    EXPECT_NE(y1.find(want), std::string::npos) << want << " not in:\n" << y1;
  // Defaults are not written: no dst_port for vf, no ttl 64, no tos 0, no key for gk.
  const auto line_of = [&](const char* port) {
    const size_t at = y1.find(std::string("{name: ") + port + ",");
    EXPECT_NE(at, std::string::npos) << port << "\n" << y1;
    return y1.substr(at, y1.find('\n', at) - at);
  };
  EXPECT_EQ(line_of("vf").find("dst_port"), std::string::npos) << line_of("vf");
  EXPECT_EQ(line_of("vf").find("ttl"), std::string::npos) << line_of("vf");
  EXPECT_EQ(line_of("nv").find("tos"), std::string::npos) << line_of("nv");
  EXPECT_EQ(line_of("gk").find("key"), std::string::npos) << line_of("gk");
  EXPECT_EQ(line_of("vm").find(" vni:"), std::string::npos) << line_of("vm");

  // The options themselves survive, and so do IPv6 addresses.
  for (const char* p : {"vx", "vf", "gn", "gr", "nv", "gk", "vm", "vs", "gm"}) {
    const io::TunnelConfig& x = cfg_of(*a, p);
    const io::TunnelConfig& y = cfg_of(*b, p);
    EXPECT_EQ(x.remotes, y.remotes) << p;
    EXPECT_EQ(x.local, y.local) << p;
    EXPECT_EQ(x.vni, y.vni) << p;
    EXPECT_EQ(x.has_key, y.has_key) << p;
    EXPECT_EQ(x.vni_map, y.vni_map) << p;
    const PortSpec* pa = a->find_port(p);
    EXPECT_TRUE(pa->kind->same_backend(*pa->options, *b->find_port(p)->options)) << p;
  }
  ASSERT_EQ(b->bridges[0].fdb.size(), 2u);
  EXPECT_EQ(b->bridges[0].fdb[0].remote_ip, "10.9.9.9");
  EXPECT_EQ(b->bridges[0].fdb[1].remote_ip, "10.0.0.77");
}

TEST(TunnelKind, Ipv6ListsRoundTrip) {
  auto a = parse_topology(doc("      - {name: v6, type: vxlan, remote_ip: ['fd00::2', '::3'], local_ip: '::1', vni: 9}\n"),
                          "t.yaml", "/base");
  ASSERT_TRUE(a.ok()) << a.error().message;
  const std::string y1 = to_yaml(*a);
  auto b = parse_topology(y1, "export", "/base");
  ASSERT_TRUE(b.ok()) << b.error().message << "\n" << y1;
  EXPECT_EQ(to_yaml(*b), y1);
  EXPECT_EQ(cfg_of(*b, "v6").remotes, (std::vector<IpAddr>{ip("fd00::2"), ip("::3")}));
  EXPECT_EQ(cfg_of(*b, "v6").local, ip("::1"));
}

TEST(TunnelKind, RefusesBadIdentifiers) {
  expect_error(doc("      - {name: v, type: vxlan, remote_ip: 10.0.0.1}\n"),
               "port 'v': a vxlan port needs 'vni' (or 'vni_map')");
  expect_error(doc("      - {name: v, type: geneve, remote_ip: 10.0.0.1}\n"), "a geneve port needs 'vni'");
  expect_error(doc("      - {name: v, type: vxlan, remote_ip: 10.0.0.1, vni: 16777216}\n"),
               "port 'v': vni 16777216 is out of range 0-16777215");
  expect_error(doc("      - {name: v, type: geneve, remote_ip: 10.0.0.1, vni: -1}\n"), "vni -1 is out of range");
  expect_error(doc("      - {name: v, type: vxlan, remote_ip: 10.0.0.1, vni: ten}\n"), "vni 'ten' is not an integer");
  // NVGRE's VSID has 24 bits; a plain GRE key 32.
  expect_error(doc("      - {name: g, type: gre, remote_ip: 10.0.0.1, nvgre: true, key: 16777216}\n"),
               "port 'g': key 16777216 is out of range 0-16777215");
  expect_ok(doc("      - {name: g, type: gre, remote_ip: 10.0.0.1, key: 16777216}\n"));
  expect_error(doc("      - {name: g, type: gre, remote_ip: 10.0.0.1, key: 4294967296}\n"),
               "key 4294967296 is out of range 0-4294967295");
  expect_error(doc("      - {name: g, type: gre, remote_ip: 10.0.0.1, nvgre: true}\n"),
               "an nvgre port needs 'key' (its VSID) or 'vni_map'");
  expect_error(doc("      - {name: g, type: gre, remote_ip: 10.0.0.1, nvgre: maybe, key: 1}\n"),
               "nvgre 'maybe' must be true or false");
  // Keys of the other tunnel kinds are named as theirs.
  expect_error(doc("      - {name: g, type: gre, remote_ip: 10.0.0.1, vni: 5}\n"), "'vni' applies to vxlan, geneve ports only");
  expect_error(doc("      - {name: g, type: gre, remote_ip: 10.0.0.1, dst_port: 5}\n"),
               "'dst_port' applies to vxlan, geneve ports only");
  expect_error(doc("      - {name: v, type: vxlan, remote_ip: 10.0.0.1, vni: 1, key: 5}\n"), "'key' applies to gre ports only");
  expect_error(doc("      - {name: v, type: vxlan, remote_ip: 10.0.0.1, vni: 1, nvgre: true}\n"),
               "'nvgre' applies to gre ports only");
  expect_error(doc("      - {name: v, type: vxlan, remote_ip: 10.0.0.1, vni: 1, dst_port: 0}\n"),
               "dst_port 0 is out of range 1-65535");
  expect_error(doc("      - {name: v, type: vxlan, remote_ip: 10.0.0.1, vni: 1, ttl: 0}\n"), "ttl 0 is out of range 1-255");
  expect_error(doc("      - {name: v, type: vxlan, remote_ip: 10.0.0.1, vni: 1, tos: 256}\n"), "tos 256 is out of range 0-255");
}

TEST(TunnelKind, RefusesBadRemotes) {
  expect_error(doc("      - {name: v, type: vxlan, vni: 1}\n"),
               "port 'v': a vxlan port needs 'remote_ip' (an address, a list, or flow)");
  expect_error(doc("      - {name: v, type: vxlan, remote_ip: not-an-ip, vni: 1}\n"),
               "port 'v': remote_ip 'not-an-ip' is not an IPv4 or IPv6 address");
  expect_error(doc("      - {name: v, type: vxlan, remote_ip: 10.0.0.256, vni: 1}\n"),
               "remote_ip '10.0.0.256' is not an IPv4 or IPv6 address");
  expect_error(doc("      - {name: v, type: vxlan, remote_ip: 'flow,10.0.0.1', vni: 1}\n"),
               "remote_ip 'flow' cannot be combined with addresses");
  expect_error(doc("      - {name: v, type: vxlan, remote_ip: [10.0.0.1, flow], vni: 1}\n"),
               "remote_ip 'flow' cannot be combined with addresses");
  expect_error(doc("      - {name: v, type: vxlan, remote_ip: '10.0.0.1,fd00::1', vni: 1}\n"),
               "remote_ip fd00::1 is not of the same address family as the first remote");
  expect_error(doc("      - {name: v, type: vxlan, remote_ip: 10.0.0.1, local_ip: 'fd00::1', vni: 1}\n"),
               "remote_ip 10.0.0.1 is not of the same address family as local_ip fd00::1");
  expect_error(doc("      - {name: v, type: vxlan, remote_ip: 10.0.0.1, local_ip: somewhere, vni: 1}\n"),
               "local_ip 'somewhere' is not an IPv4 or IPv6 address");
  expect_error(doc("      - {name: v, type: vxlan, remote_ip: '10.0.0.1,10.0.0.2,10.0.0.1', vni: 1}\n"),
               "remote_ip 10.0.0.1 is listed twice");
  expect_error(doc("      - {name: v, type: vxlan, remote_ip: '10.0.0.1,,10.0.0.2', vni: 1}\n"),
               "'remote_ip' has an empty item");
  expect_error(doc("      - {name: v, type: gre, remote_ip: ['fd00::1', 'fd00::1']}\n"), "remote_ip fd00::1 is listed twice");
}

TEST(TunnelKind, RefusesBadVniMaps) {
  expect_error(doc("      - {name: v, type: vxlan, remote_ip: 10.0.0.1, vni: 5, vni_map: '10:5010'}\n"),
               "port 'v': give either 'vni' or 'vni_map', not both");
  expect_error(doc("      - {name: g, type: gre, remote_ip: 10.0.0.1, key: 5, vni_map: '10:5010'}\n"),
               "give either 'key' or 'vni_map', not both");
  expect_error(doc("      - {name: v, type: vxlan, remote_ip: 10.0.0.1, vni_map: '0:5010'}\n"),
               "vni_map: VLAN 0 is out of range 1-4094");
  expect_error(doc("      - {name: v, type: vxlan, remote_ip: 10.0.0.1, vni_map: '4095:5010'}\n"),
               "vni_map: VLAN 4095 is out of range 1-4094");
  expect_error(doc("      - {name: v, type: vxlan, remote_ip: 10.0.0.1, vni_map: {ten: 5010}}\n"),
               "vni_map: VLAN 'ten' is not a number");
  expect_error(doc("      - {name: v, type: vxlan, remote_ip: 10.0.0.1, vni_map: '10:5010,20:5010'}\n"),
               "vni_map: vni 5010 is mapped twice");
  expect_error(doc("      - {name: g, type: gre, remote_ip: 10.0.0.1, vni_map: {10: 7, 20: 7}}\n"),
               "vni_map: key 7 is mapped twice");
  expect_error(doc("      - {name: v, type: vxlan, remote_ip: 10.0.0.1, vni_map: '10:5010,10:5020'}\n"),
               "vni_map: VLAN 10 is mapped twice");
  expect_error(doc("      - {name: v, type: vxlan, remote_ip: 10.0.0.1, vni_map: '10:16777216'}\n"),
               "vni_map: '16777216' is not a number in 0-16777215");
  expect_error(doc("      - {name: g, type: gre, remote_ip: 10.0.0.1, nvgre: true, vni_map: '10:16777216'}\n"),
               "vni_map: '16777216' is not a number in 0-16777215");
  expect_ok(doc("      - {name: g, type: gre, remote_ip: 10.0.0.1, vni_map: '10:4294967295'}\n"));
  expect_error(doc("      - {name: v, type: vxlan, remote_ip: 10.0.0.1, vni_map: '10'}\n"), "'10' is not KEY:VALUE");
  // The VLANs need a switch.
  expect_error(doc("      - {name: v, type: vxlan, remote_ip: 10.0.0.1, vni_map: '10:5010'}\n", "learning"),
               "port 'v': vni_map needs a switch bridge (VLANs), not a learning bridge");
  expect_error(doc("      - {name: v, type: vxlan, remote_ip: 10.0.0.1, vni_map: '10:5010'}\n", "hub"),
               "vni_map needs a switch bridge (VLANs), not a hub bridge");
  // An explicit VLAN configuration must be the trunk of exactly the mapped VLANs.
  const char* trunk_msg =
      "a port with vni_map is a trunk of exactly its VLANs, with a pvid not among them: vlan_mode trunk, allowed 10,20";
  expect_error(doc("      - {name: v, type: vxlan, remote_ip: 10.0.0.1, vni_map: '10:5010,20:5020', vlan_mode: trunk, "
                   "allowed: [10, 30]}\n"),
               trunk_msg);
  expect_error(doc("      - {name: v, type: vxlan, remote_ip: 10.0.0.1, vni_map: '10:5010,20:5020', vlan_mode: trunk, "
                   "pvid: 10, allowed: [10, 20]}\n"),
               trunk_msg);
  expect_error(doc("      - {name: v, type: vxlan, remote_ip: 10.0.0.1, vni_map: '10:5010,20:5020', vlan_mode: access}\n"),
               trunk_msg);
  // A pvid given alone is kept (not silently replaced), and checked.
  expect_error(doc("      - {name: v, type: vxlan, remote_ip: 10.0.0.1, vni_map: '10:5010,20:5020', pvid: 20}\n"),
               trunk_msg);
  auto r = parse_topology(doc("      - {name: v, type: vxlan, remote_ip: 10.0.0.1, vni_map: '10:5010,20:5020', pvid: 99}\n"),
                          "t.yaml", "/");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->find_port("v")->vlan.pvid, 99);
  EXPECT_EQ(r->find_port("v")->vlan.mode, dp::VlanMode::kTrunk);
}

TEST(TunnelKind, OneClaimantPerVniAndRemoteOnAnEndpoint) {
  const std::string dup = "already receives the same VNI from the same remote on this endpoint";
  expect_error(doc("      - {name: v1, type: vxlan, remote_ip: 10.0.0.1, vni: 7}\n"
                   "      - {name: v2, type: vxlan, remote_ip: '10.0.0.2,10.0.0.1', vni: 7}\n"),
               dup);
  // Across bridges too.
  expect_error("bridges:\n  - name: b\n    ports: [{name: v1, type: vxlan, remote_ip: 10.0.0.1, vni: 7}]\n"
               "  - name: c\n    ports: [{name: v2, type: vxlan, remote_ip: 10.0.0.1, vni: 7}]\n",
               dup);
  // The default port and its explicit number are one endpoint.
  expect_error(doc("      - {name: v1, type: vxlan, remote_ip: 10.0.0.1, vni: 7}\n"
                   "      - {name: v2, type: vxlan, remote_ip: 10.0.0.1, vni: 7, dst_port: 4789}\n"),
               dup);
  // `flow` takes every remote.
  expect_error(doc("      - {name: v1, type: vxlan, remote_ip: flow, vni: 7}\n"
                   "      - {name: v2, type: vxlan, remote_ip: 10.0.0.1, vni: 7}\n"),
               dup);
  // A vni_map VNI counts.
  expect_error(doc("      - {name: v1, type: vxlan, remote_ip: 10.0.0.1, vni_map: '10:7'}\n"
                   "      - {name: v2, type: vxlan, remote_ip: 10.0.0.1, vni: 7}\n"),
               dup);
  expect_error(doc("      - {name: g1, type: gre, remote_ip: 10.0.0.1, key: 7}\n"
                   "      - {name: g2, type: gre, remote_ip: 10.0.0.1, key: 7}\n"),
               "already receives the same key from the same remote");
  // Fine: different VNIs, remotes, UDP ports, local addresses or kinds.
  expect_ok(doc("      - {name: v1, type: vxlan, remote_ip: 10.0.0.1, vni: 7}\n"
                "      - {name: v2, type: vxlan, remote_ip: 10.0.0.1, vni: 8}\n"));
  expect_ok(doc("      - {name: v1, type: vxlan, remote_ip: 10.0.0.1, vni: 7}\n"
                "      - {name: v2, type: vxlan, remote_ip: 10.0.0.2, vni: 7}\n"));
  expect_ok(doc("      - {name: v1, type: vxlan, remote_ip: 10.0.0.1, vni: 7}\n"
                "      - {name: v2, type: vxlan, remote_ip: 10.0.0.1, vni: 7, dst_port: 4790}\n"));
  expect_ok(doc("      - {name: v1, type: vxlan, remote_ip: 10.0.0.1, vni: 7, local_ip: 10.1.0.1}\n"
                "      - {name: v2, type: vxlan, remote_ip: 10.0.0.1, vni: 7, local_ip: 10.1.0.2}\n"));
  expect_ok(doc("      - {name: v1, type: vxlan, remote_ip: 10.0.0.1, vni: 7}\n"
                "      - {name: v2, type: geneve, remote_ip: 10.0.0.1, vni: 7}\n"));
  expect_ok(doc("      - {name: v1, type: vxlan, remote_ip: 10.0.0.1, vni_map: '10:7'}\n"
                "      - {name: v2, type: vxlan, remote_ip: 10.0.0.1, vni_map: '10:8'}\n"));
  // Two kinds on one UDP port of one address: refused (each needs the socket).
  expect_error(doc("      - {name: v1, type: vxlan, remote_ip: 10.0.0.1, vni: 7}\n"
                   "      - {name: v2, type: geneve, remote_ip: 10.0.0.1, vni: 8, dst_port: 4789}\n"),
               "UDP port 4789 on this address is taken by port 'v2' (geneve): give one of them another dst_port");
  expect_ok(doc("      - {name: v1, type: vxlan, remote_ip: 10.0.0.1, vni: 7, local_ip: 10.1.0.1}\n"
                "      - {name: v2, type: geneve, remote_ip: 10.0.0.1, vni: 8, dst_port: 4789, local_ip: 10.1.0.2}\n"));
}

TEST(TunnelKind, StaticEntriesNameRemotesOfTunnelPortsOnly) {
  const std::string ports =
      "      - {name: vx, type: vxlan, remote_ip: flow, vni: 7}\n"
      "      - {name: tp, type: tap}\n";
  auto fdb = [](const std::string& entries) { return "    fdb: [" + entries + "]\n"; };
  expect_error(doc(ports, "switch", fdb("{vlan: 1, mac: '02:00:00:00:00:01', port: tp, remote_ip: 10.0.0.1}")),
               "static FDB entry 02:00:00:00:00:01: remote_ip applies to entries of tunnel ports (vxlan, geneve, gre), "
               "not tap ports");
  expect_error(doc(ports, "switch", fdb("{vlan: 1, mac: '02:00:00:00:00:01', port: vx, remote_ip: nowhere}")),
               "static FDB entry 02:00:00:00:00:01: remote_ip 'nowhere' is not an IPv4 or IPv6 address");
  expect_error(doc(ports, "switch", fdb("{vlan: 1, mac: '02:00:00:00:00:01', port: vx, remote_ip: 'fd00::1'}")),
               "remote_ip fd00::1 is not of the address family of port 'vx'");

  auto r = parse_topology(doc(ports, "switch",
                              fdb("{vlan: 1, mac: '02:00:00:00:00:01', port: vx, remote_ip: 10.0.0.1}, "
                                  "{vlan: 1, mac: '02:00:00:00:00:02', port: tp}")),
                          "t.yaml", "/");
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->bridges[0].fdb.size(), 2u);
  EXPECT_EQ(r->bridges[0].fdb[0].remote_ip, "10.0.0.1");
  EXPECT_EQ(r->bridges[0].fdb[1].remote_ip, "");
  const std::string y = to_yaml(*r);
  EXPECT_NE(y.find("{vlan: 1, mac: \"02:00:00:00:00:01\", port: vx, remote_ip: 10.0.0.1}"), std::string::npos) << y;
  EXPECT_NE(y.find("{vlan: 1, mac: \"02:00:00:00:00:02\", port: tp}"), std::string::npos) << y;
  auto again = parse_topology(y, "export", "/");
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(again->bridges[0].fdb[0].remote_ip, "10.0.0.1");

  // The kind's own check, as kvnetd's fdb-add uses it.
  const PortSpec* vx = r->find_port("vx");
  EXPECT_TRUE(vx->kind->check_remote(*vx, "10.1.2.3").ok());
  EXPECT_FALSE(vx->kind->check_remote(*vx, "::1").ok());
  const PortSpec* tp = r->find_port("tp");
  EXPECT_FALSE(tp->kind->check_remote(*tp, "10.1.2.3").ok());
}

BridgeSpec switch_bridge() {
  BridgeSpec b;
  b.name = "b";
  return b;
}

TEST(TunnelKind, SettingsMakeAndUpdatePorts) {
  const BridgeSpec b = switch_bridge();
  auto p = make_port(b, "vx", {{"type", "vxlan"}, {"remote_ip", "10.0.0.1,10.0.0.2"}, {"vni", "7"}});
  ASSERT_TRUE(p.ok()) << p.error().message;
  const auto* o = p->as<TunnelOptions>();
  ASSERT_NE(o, nullptr);
  EXPECT_EQ(o->cfg.remotes, (std::vector<IpAddr>{ip("10.0.0.1"), ip("10.0.0.2")}));
  EXPECT_EQ(o->cfg.vni, 7u);
  const Fields f = port_fields(*p, b.type);
  EXPECT_NE(std::find(f.begin(), f.end(), Field{"remote_ip", "10.0.0.1,10.0.0.2", true}), f.end());
  EXPECT_NE(std::find(f.begin(), f.end(), Field{"vni", "7"}), f.end());
  // What the kind writes back parses to the same port.
  auto again = parse_port(b, port_to_yaml(*p, b.type));
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(port_fields(*again, b.type), f);
  EXPECT_TRUE(p->kind->same_backend(*p->options, *again->options));

  // Updates keep what is not given.
  auto q = update_port(b, *p, {{"vni", "8"}, {"ttl", "9"}});
  ASSERT_TRUE(q.ok()) << q.error().message;
  EXPECT_EQ(q->as<TunnelOptions>()->cfg.vni, 8u);
  EXPECT_EQ(q->as<TunnelOptions>()->cfg.ttl, 9);
  EXPECT_EQ(q->as<TunnelOptions>()->cfg.remotes.size(), 2u);
  EXPECT_FALSE(p->kind->same_backend(*p->options, *q->options));
  auto fl = update_port(b, *q, {{"remote_ip", "flow"}});
  ASSERT_TRUE(fl.ok()) << fl.error().message;
  EXPECT_TRUE(fl->as<TunnelOptions>()->cfg.remote_flow);
  EXPECT_TRUE(fl->as<TunnelOptions>()->cfg.remotes.empty());
  auto nottl = update_port(b, *q, {{"ttl", ""}});
  ASSERT_TRUE(nottl.ok());
  EXPECT_EQ(nottl->as<TunnelOptions>()->cfg.ttl, 64);

  // Errors name the bridge and the port.
  EXPECT_EQ(make_port(b, "vx", {{"type", "vxlan"}, {"remote_ip", "10.0.0.1"}, {"vni", "x"}}).error().message,
            "bridge 'b': port 'vx': vni 'x' is not an integer");
  EXPECT_EQ(make_port(b, "vx", {{"type", "vxlan"}, {"remote_ip", "10.0.0.1"}}).error().message,
            "bridge 'b': port 'vx': a vxlan port needs 'vni' (or 'vni_map')");
  EXPECT_EQ(make_port(b, "g", {{"type", "gre"}, {"remote_ip", "10.0.0.1"}, {"vni", "5"}}).error().message,
            "bridge 'b': port 'g': 'vni' applies to vxlan, geneve ports only");
  EXPECT_EQ(make_port(b, "vx", {{"type", "vxlan"}, {"remote_ip", "10.0.0.1,flow"}, {"vni", "1"}}).error().message,
            "bridge 'b': port 'vx': remote_ip 'flow' cannot be combined with addresses");

  // GRE and NVGRE from settings.
  auto g = make_port(b, "g", {{"type", "gre"}, {"remote_ip", "10.0.0.1"}, {"key", "4000000000"}});
  ASSERT_TRUE(g.ok()) << g.error().message;
  EXPECT_EQ(g->as<TunnelOptions>()->cfg.vni, 4000000000u);
  EXPECT_EQ(make_port(b, "g", {{"type", "gre"}, {"remote_ip", "10.0.0.1"}, {"key", "4000000000"}, {"nvgre", "true"}})
                .error()
                .message,
            "bridge 'b': port 'g': key 4000000000 is out of range 0-16777215");
}

TEST(TunnelKind, SettingsWithAVniMapMakeATrunk) {
  const BridgeSpec b = switch_bridge();
  auto p = make_port(b, "vm", {{"type", "vxlan"}, {"remote_ip", "10.0.0.1"}, {"vni_map", "10:5010,20:5020"}});
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(p->as<TunnelOptions>()->cfg.vni_map, (std::map<uint16_t, uint32_t>{{10, 5010}, {20, 5020}}));
  EXPECT_EQ(p->vlan.mode, dp::VlanMode::kTrunk);
  ASSERT_TRUE(p->vlan.allowed.has_value());
  EXPECT_EQ(dp::vlan_set_str(*p->vlan.allowed), "10,20");
  EXPECT_EQ(p->vlan.pvid, 1);
  const Fields f = port_fields(*p, b.type);
  EXPECT_NE(std::find(f.begin(), f.end(), Field{"vni_map", "10:5010,20:5020", false, true}), f.end());
  auto again = parse_port(b, port_to_yaml(*p, b.type));
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(port_fields(*again, b.type), f);

  // Changing the map changes the implied trunk with it.
  auto q = update_port(b, *p, {{"vni_map", "10:5010,30:5030"}});
  ASSERT_TRUE(q.ok()) << q.error().message;
  EXPECT_EQ(q->as<TunnelOptions>()->cfg.vni_map, (std::map<uint16_t, uint32_t>{{10, 5010}, {30, 5030}}));
  ASSERT_TRUE(q->vlan.allowed.has_value());
  EXPECT_EQ(dp::vlan_set_str(*q->vlan.allowed), "10,30");
  // The implied pvid moves out of the way of a newly mapped VLAN 1.
  auto one = update_port(b, *p, {{"vni_map", "1:100,2:200"}});
  ASSERT_TRUE(one.ok()) << one.error().message;
  EXPECT_EQ(dp::vlan_set_str(*one->vlan.allowed), "1-2");
  EXPECT_EQ(one->vlan.pvid, 3);
  // A pvid of the user's own survives a change of the map.
  auto p99 = update_port(b, *p, {{"pvid", "99"}});
  ASSERT_TRUE(p99.ok()) << p99.error().message;
  EXPECT_EQ(p99->vlan.pvid, 99);
  auto q99 = update_port(b, *p99, {{"vni_map", "10:5010,30:5030"}});
  ASSERT_TRUE(q99.ok()) << q99.error().message;
  EXPECT_EQ(q99->vlan.pvid, 99);
  EXPECT_EQ(dp::vlan_set_str(*q99->vlan.allowed), "10,30");
  // The port so made is valid in a topology.
  Topology t;
  t.bridges.push_back(b);
  t.bridges[0].ports.push_back(*q);
  EXPECT_EQ(testing::error_of(validate(t)), "");

  // Replacing the map by a single VNI leaves an access port.
  auto r = update_port(b, *q, {{"vni_map", ""}, {"vni", "9"}});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->as<TunnelOptions>()->cfg.vni_map.empty());
  EXPECT_EQ(r->vlan.mode, dp::VlanMode::kAccess);
  t.bridges[0].ports[0] = *r;
  EXPECT_EQ(testing::error_of(validate(t)), "");

  // And a map given to a port of a single VNI makes it the trunk.
  auto m = update_port(b, *r, {{"vni", ""}, {"vni_map", "5:500"}});
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->vlan.mode, dp::VlanMode::kTrunk);
  EXPECT_EQ(dp::vlan_set_str(*m->vlan.allowed), "5");
  t.bridges[0].ports[0] = *m;
  EXPECT_EQ(testing::error_of(validate(t)), "");
  // The pvid of an access port of the user's own is kept, as the trunk's.
  auto a10 = update_port(b, *r, {{"pvid", "10"}});
  ASSERT_TRUE(a10.ok()) << a10.error().message;
  auto a10m = update_port(b, *a10, {{"vni", ""}, {"vni_map", "5:500"}});
  ASSERT_TRUE(a10m.ok()) << a10m.error().message;
  EXPECT_EQ(a10m->vlan.mode, dp::VlanMode::kTrunk);
  EXPECT_EQ(a10m->vlan.pvid, 10);
  t.bridges[0].ports[0] = *a10m;
  EXPECT_EQ(testing::error_of(validate(t)), "");
  // A pvid among the mapped VLANs is refused.
  auto a5m = update_port(b, *a10, {{"vni", ""}, {"vni_map", "10:500"}});
  ASSERT_TRUE(a5m.ok()) << a5m.error().message;
  t.bridges[0].ports[0] = *a5m;
  EXPECT_NE(testing::error_of(validate(t)).find("a port with vni_map is a trunk of exactly its VLANs"), std::string::npos);

  // A VLAN configuration given along with the map is kept (and checked).
  auto s = update_port(b, *p, {{"vni_map", "10:5010,30:5030"}, {"allowed", "10,20"}});
  ASSERT_TRUE(s.ok()) << s.error().message;
  t.bridges[0].ports[0] = *s;
  EXPECT_NE(testing::error_of(validate(t)).find("a port with vni_map is a trunk of exactly its VLANs"), std::string::npos);
}

}  // namespace
}  // namespace kvnet::ctl
