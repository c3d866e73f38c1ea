// NAT gateways, configuration side: the forward and DHCP range syntax, the
// checks of one gateway, the `gateways:` section (its implied internal
// port), cross-object validation, export, the store round trip and the plan.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "ctl/gateway_spec.h"
#include "ctl/plan.h"
#include "ctl/store.h"
#include "ctl/topology.h"
#include "testing.h"

namespace kvnet::ctl {
namespace {

using kvnet::testing::error_of;

GatewaySpec gw(const std::string& name = "gw0", const std::string& ip = "10.0.0.1/24") {
  GatewaySpec g;
  g.name = name;
  g.bridge = "br0";
  g.ip = ip;
  return g;
}

std::string parse_error(const std::string& yaml) {
  auto t = parse_topology(yaml, "t.yaml", "/");
  return t ? "" : t.error().message;
}

TEST(GatewayForward, ParsesTheFourParts) {
  auto f = parse_forward("tcp:8080:10.0.0.5:80");
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_EQ(f->proto, "tcp");
  EXPECT_EQ(f->host_port, 8080);
  EXPECT_EQ(f->ip, "10.0.0.5");
  EXPECT_EQ(f->port, 80);
  EXPECT_EQ(f->str(), "tcp:8080:10.0.0.5:80");
  EXPECT_EQ(parse_forward("udp:53:10.0.0.6:5353")->str(), "udp:53:10.0.0.6:5353");
}

TEST(GatewayForward, RefusesMalformedOnes) {
  EXPECT_NE(parse_forward("tcp:8080:10.0.0.5").error().message.find("must be tcp|udp:HOSTPORT:IP:PORT"), std::string::npos);
  EXPECT_NE(parse_forward("sctp:1:10.0.0.5:2").error().message.find("protocol 'sctp' is not tcp or udp"), std::string::npos);
  EXPECT_NE(parse_forward("tcp:0:10.0.0.5:80").error().message.find("host port '0' is not a port number"), std::string::npos);
  EXPECT_NE(parse_forward("tcp:80:10.0.0.5:70000").error().message.find("port '70000'"), std::string::npos);
  EXPECT_NE(parse_forward("tcp:80:10.0.0:80").error().message.find("'10.0.0' is not an IPv4 address"), std::string::npos);
  EXPECT_NE(parse_forward("tcp:80:fd00::1:80").error().message.find("must be"), std::string::npos);
}

TEST(GatewayDhcpRange, ParsesStartAndEnd) {
  auto r = parse_dhcp_range("10.0.0.100-10.0.0.199");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->first, "10.0.0.100");
  EXPECT_EQ(r->second, "10.0.0.199");
  EXPECT_FALSE(parse_dhcp_range("10.0.0.100").ok());
  EXPECT_FALSE(parse_dhcp_range("10.0.0.100-x").ok());
}

TEST(GatewayCidr, SubnetArithmetic) {
  auto n = parse_ipv4_cidr("192.168.7.9/20");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->cidr(), "192.168.0.0/20");
  EXPECT_EQ(n->netmask(), "255.255.240.0");
  EXPECT_EQ(ipv4_str(n->broadcast()), "192.168.15.255");
  EXPECT_TRUE(n->contains(*parse_ipv4("192.168.15.1")));
  EXPECT_FALSE(n->contains(*parse_ipv4("192.168.16.1")));
}

TEST(GatewayCheck, AcceptsAFullGateway) {
  GatewaySpec g = gw();
  g.vlan = 10;
  g.masquerade = true;
  g.dhcp_start = "10.0.0.100";
  g.dhcp_end = "10.0.0.199";
  g.forwards = {*parse_forward("tcp:8080:10.0.0.5:80"), *parse_forward("udp:8080:10.0.0.5:80")};
  EXPECT_EQ(error_of(check_gateway(g)), "");
}

TEST(GatewayCheck, NamesTheRuleABadGatewayBreaks) {
  auto e = [](GatewaySpec g) { return error_of(check_gateway(g)); };
  EXPECT_EQ(e(gw("bad name")), "gateway 'bad name': name 'bad name' may only hold letters, digits, '-', '_' and '.'");
  EXPECT_EQ(e(gw("gw0", "10.0.0.1")), "gateway 'gw0': ip '10.0.0.1' must be an IPv4 ADDRESS/PREFIX (e.g. 10.0.0.1/24)");
  EXPECT_EQ(e(gw("gw0", "10.0.0.300/24")), "gateway 'gw0': ip '10.0.0.300/24': '10.0.0.300' is not an IPv4 address");
  EXPECT_EQ(e(gw("gw0", "fd00::1/64")), "gateway 'gw0': ip 'fd00::1/64': 'fd00::1' is not an IPv4 address");
  EXPECT_EQ(e(gw("gw0", "10.0.0.1/31")), "gateway 'gw0': ip '10.0.0.1/31': prefix length 31 is out of range 8-30");
  EXPECT_EQ(e(gw("gw0", "10.0.0.0/24")),
            "gateway 'gw0': ip '10.0.0.0/24': 10.0.0.0 is the subnet's network address, not a host address");
  GatewaySpec v = gw();
  v.vlan = 4095;
  EXPECT_EQ(e(v), "gateway 'gw0': vlan 4095 is out of range 1-4094");
  GatewaySpec d = gw();
  d.dhcp_start = "10.0.1.10";
  d.dhcp_end = "10.0.1.20";
  EXPECT_EQ(e(d), "gateway 'gw0': dhcp range start 10.0.1.10 is outside the subnet 10.0.0.0/24");
  d.dhcp_start = "10.0.0.1";
  d.dhcp_end = "10.0.0.20";
  EXPECT_EQ(e(d), "gateway 'gw0': dhcp range 10.0.0.1-10.0.0.20 contains the gateway's own address 10.0.0.1");
  d.dhcp_start = "10.0.0.30";
  EXPECT_EQ(e(d), "gateway 'gw0': dhcp range 10.0.0.30-10.0.0.20 ends before it starts");
  d.dhcp_start = "10.0.0.30";
  d.dhcp_end = "10.0.0.255";
  EXPECT_EQ(e(d), "gateway 'gw0': dhcp range end 10.0.0.255 is not a host address of 10.0.0.0/24");
  GatewaySpec f = gw();
  f.forwards = {*parse_forward("tcp:80:10.9.0.5:80")};
  EXPECT_EQ(e(f), "gateway 'gw0': forward 'tcp:80:10.9.0.5:80': address 10.9.0.5 is outside the subnet 10.0.0.0/24");
  f.forwards = {*parse_forward("tcp:80:10.0.0.1:80")};
  EXPECT_EQ(e(f), "gateway 'gw0': forward 'tcp:80:10.0.0.1:80' points at the gateway itself");
  f.forwards = {*parse_forward("tcp:80:10.0.0.5:80"), *parse_forward("tcp:80:10.0.0.6:81")};
  EXPECT_EQ(e(f), "gateway 'gw0': host port tcp/80 is forwarded twice");
}

const char* kTopo = R"(bridges:
  - name: br0
    ports:
      - {name: p1, type: system}
  - name: hub0
    type: hub
gateways:
  - name: gw0
    bridge: br0
    vlan: 10
    ip: 10.0.0.1/24
    masquerade: true
    dhcp: "10.0.0.100-10.0.0.199"
    forwards: ["tcp:8080:10.0.0.5:80", "udp:5353:10.0.0.6:53"]
  - {name: gw1, bridge: hub0, ip: 10.1.0.1/16}
)";

TEST(GatewayTopology, ParsesTheSectionAndImpliesThePorts) {
  auto t = parse_topology(kTopo, "t.yaml", "/");
  ASSERT_TRUE(t.ok()) << t.error().message;
  ASSERT_EQ(t->gateways.size(), 2u);
  const GatewaySpec& g = t->gateways[0];
  EXPECT_TRUE(t->has_gateways);
  EXPECT_EQ(g.vlan, 10);
  EXPECT_TRUE(g.masquerade);
  EXPECT_EQ(g.dhcp(), "10.0.0.100-10.0.0.199");
  ASSERT_EQ(g.forwards.size(), 2u);
  EXPECT_EQ(g.forwards[1].str(), "udp:5353:10.0.0.6:53");
  const PortSpec* p = t->find_bridge("br0")->find_port("gw0");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->kind->name(), "internal");
  EXPECT_EQ(p->vlan.mode, dp::VlanMode::kAccess);
  EXPECT_EQ(p->vlan.pvid, 10);
  ASSERT_NE(t->find_bridge("hub0")->find_port("gw1"), nullptr);
  EXPECT_FALSE(t->gateways[1].masquerade);
}

TEST(GatewayTopology, RefusesWhatBreaksARule) {
  const std::string base = "bridges:\n  - name: br0\n    ports: [{name: x1, type: system}]\n  - {name: hub0, type: hub}\n";
  EXPECT_EQ(parse_error(base + "gateways:\n  - {name: g, bridge: nope, ip: 10.0.0.1/24}\n"),
            "t.yaml:6:5: gateway 'g': bridge 'nope' does not exist");
  EXPECT_EQ(parse_error(base + "gateways:\n  - {name: g, bridge: hub0, vlan: 5, ip: 10.0.0.1/24}\n"),
            "t.yaml:6:5: gateway 'g': vlan applies to switch bridges; bridge 'hub0' is a hub");
  EXPECT_EQ(parse_error(base + "gateways:\n  - {name: g, bridge: br0, vlan: 4095, ip: 10.0.0.1/24}\n"),
            "t.yaml:6:34: gateway 'g': vlan 4095 is out of range 1-4094");
  EXPECT_EQ(parse_error(base + "gateways:\n  - {name: g, bridge: br0, ip: 10.0.0.1/24, color: red}\n"),
            "t.yaml:6:45: gateway 'g': unknown key 'color' in a gateway (known: name, bridge, vlan, ip, masquerade, dhcp, forwards)");
  EXPECT_EQ(parse_error(base + "gateways:\n  - {name: g, bridge: br0, ip: 10.0.0.1/24, forwards: [\"tcp:1:2\"]}\n"),
            "t.yaml:6:55: gateway 'g': forward 'tcp:1:2' must be tcp|udp:HOSTPORT:IP:PORT (e.g. tcp:8080:10.0.0.5:80)");
  // The port name belongs to a port that is not the gateway's own.
  EXPECT_EQ(parse_error(base + "gateways:\n  - {name: x1, bridge: br0, ip: 10.0.0.1/24}\n"),
            "t.yaml:6:5: gateway 'x1': its port 'x1' must be an internal port, not system");
  EXPECT_EQ(parse_error(base + "gateways:\n  - {name: g, bridge: br0, ip: 10.0.0.1/24}\n  - {name: g, bridge: br0, ip: 10.9.0.1/24}\n"),
            "t.yaml:7:5: duplicate gateway name 'g'");
  EXPECT_EQ(parse_error(base + "gateways:\n  - {name: g, bridge: br0, ip: 10.0.0.1/24}\n  - {name: h, bridge: br0, ip: 10.0.0.2/16}\n"),
            "t.yaml:7:5: gateway 'h': subnet 10.0.0.0/16 overlaps gateway 'g''s 10.0.0.0/24");
  EXPECT_EQ(parse_error(base + "gateways:\n  - {name: g, bridge: br0, ip: 10.0.0.1/24, forwards: [\"tcp:80:10.0.0.5:80\"]}\n"
                               "  - {name: h, bridge: br0, ip: 10.1.0.1/24, forwards: [\"tcp:80:10.1.0.5:80\"]}\n"),
            "t.yaml:7:5: gateway 'h': host port tcp/80 is forwarded by gateway 'g' too");
  // A listed port that does not match the gateway's VLAN.
  EXPECT_EQ(parse_error("bridges:\n  - name: br0\n    ports: [{name: g, type: internal, vlan_mode: access, pvid: 3}]\n"
                        "gateways:\n  - {name: g, bridge: br0, vlan: 4, ip: 10.0.0.1/24}\n"),
            "t.yaml:5:5: gateway 'g': its port 'g' must be an access port of VLAN 4");
}

TEST(GatewayTopology, ExportLeavesThePortOutAndReadsBackTheSame) {
  auto t = parse_topology(kTopo, "t.yaml", "/");
  ASSERT_TRUE(t.ok()) << t.error().message;
  const std::string y = to_yaml(*t);
  EXPECT_EQ(y.find("name: gw0, type: internal"), std::string::npos) << y;
  EXPECT_NE(y.find("gateways:"), std::string::npos) << y;
  EXPECT_NE(y.find("forwards: [\"tcp:8080:10.0.0.5:80\", \"udp:5353:10.0.0.6:53\"]"), std::string::npos) << y;
  auto back = parse_topology(y, "", "/");
  ASSERT_TRUE(back.ok()) << back.error().message << "\n" << y;
  EXPECT_EQ(back->gateways, t->gateways);
  EXPECT_TRUE(plan(*t, *back).empty()) << y;
  EXPECT_EQ(to_yaml(*back), y);
  // One gateway as a flow map and back (the store's form).
  auto g = parse_gateway(gateway_to_yaml(t->gateways[0]));
  ASSERT_TRUE(g.ok()) << g.error().message;
  EXPECT_EQ(*g, t->gateways[0]);
}

TEST(GatewayStore, SaveAndLoadGiveTheSameGateways) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(::testing::TempDir()) / ("kvnet-store-gw-" + std::to_string(getpid()));
  fs::remove_all(dir);
  auto t = parse_topology(kTopo, "", "/");
  ASSERT_TRUE(t.ok());
  {
    auto st = Store::open((dir / "kvnet.db").string());
    ASSERT_TRUE(st.ok());
    ASSERT_EQ(error_of((*st)->save(*t)), "");
  }
  auto st = Store::open((dir / "kvnet.db").string());
  ASSERT_TRUE(st.ok());
  auto back = (*st)->load();
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->gateways, t->gateways);
  EXPECT_TRUE(plan(*t, *back).empty());
  fs::remove_all(dir);
}

TEST(GatewayPlan, LinesForAddedChangedAndRemovedGateways) {
  auto t = parse_topology(kTopo, "", "/");
  ASSERT_TRUE(t.ok());
  Topology empty;
  empty.bridges = t->bridges;
  std::erase_if(empty.find_bridge("br0")->ports, [](const PortSpec& p) { return p.name == "gw0"; });
  std::erase_if(empty.find_bridge("hub0")->ports, [](const PortSpec& p) { return p.name == "gw1"; });
  const Plan add = plan(empty, *t);
  EXPECT_EQ(add.text(), (std::vector<std::string>{"+ port br0/gw0", "+ port hub0/gw1", "+ gw gw0", "+ gw gw1"}));
  EXPECT_EQ(add.gateways_added, (std::vector<std::string>{"gw0", "gw1"}));
  EXPECT_TRUE(add.gateways_touched());

  Topology changed = *t;
  changed.gateways[0].dhcp_start.clear();
  changed.gateways[0].dhcp_end.clear();
  changed.gateways[0].masquerade = false;
  changed.gateways[0].forwards.pop_back();
  const Plan ch = plan(*t, changed);
  EXPECT_EQ(ch.text(), (std::vector<std::string>{"~ gw gw0 forwards tcp:8080:10.0.0.5:80,udp:5353:10.0.0.6:53->"
                                                 "tcp:8080:10.0.0.5:80 masquerade true->(none) dhcp "
                                                 "10.0.0.100-10.0.0.199->(none)"}));
  EXPECT_EQ(ch.gateways_changed, std::vector<std::string>{"gw0"});

  const Plan del = plan(*t, empty);
  EXPECT_EQ(del.text(), (std::vector<std::string>{"- port br0/gw0", "- port hub0/gw1", "- gw gw0", "- gw gw1"}));
  EXPECT_EQ(del.gateways_removed, (std::vector<std::string>{"gw0", "gw1"}));
}

TEST(GatewayVmNic, DhcpIsAnAddressForTheGuestImage) {
  VmSpec v;
  v.name = "vm1";
  v.nics.push_back({"br0", "tap0", "52:54:00:00:00:01", "dhcp", "", false});
  EXPECT_EQ(error_of(check_vm(v)), "");
  v.nics[0].ip = "dhcpx";
  EXPECT_NE(error_of(check_vm(v)), "");
}

}  // namespace
}  // namespace kvnet::ctl
