// What kvnet accepts but warns about (ctl/warnings.h), and OVS's tag= and
// trunks= as aliases of pvid= and allowed= (ctl/topology.h update_port).
#include "ctl/warnings.h"

#include <gtest/gtest.h>

#include "ctl/topology.h"

namespace kvnet::ctl {
namespace {

Topology parse(const std::string& yaml) {
  auto t = parse_topology(yaml, "t.yaml", "/");
  EXPECT_TRUE(t) << (t ? "" : t.error().message);
  return t ? *t : Topology{};
}

const char* kTwoVlans = R"(
bridges:
  - name: br0
    ports:
      - {name: a, type: internal, vlan_mode: access, pvid: 10}
      - {name: b, type: internal, vlan_mode: access, pvid: 10}
      - {name: c, type: internal, vlan_mode: access, pvid: 20}
      - {name: q, type: patch, peer: qbr/p, vlan_mode: access, pvid: 20}
  - name: qbr
    type: hub
    ports:
      - {name: p, type: patch, peer: br0/q}
      - {name: d, type: internal}
)";

TEST(Warnings, SameAddressInOneVlanOnly) {
  Topology t = parse(kTwoVlans);
  t.containers = {{"ca", "br0", "a", "10.0.0.1/24", "", "02:00:00:00:00:01", {}},
                  {"cb", "br0", "b", "10.0.0.1/24", "", "02:00:00:00:00:02", {}},
                  {"cc", "br0", "c", "10.0.0.1/24", "", "02:00:00:00:00:01", {}}};
  EXPECT_EQ(address_conflicts(t),
            std::vector<std::string>{"container 'ca' and container 'cb' both have IP address 10.0.0.1 in VLAN 10 of bridge 'br0'"});
}

TEST(Warnings, AHubBehindAPatchIsThePatchsVlan) {
  Topology t = parse(kTwoVlans);
  t.containers = {{"cc", "br0", "c", "", "", "02:00:00:00:00:05", {}},
                  {"cd", "qbr", "d", "", "", "02:00:00:00:00:05", {}}};
  EXPECT_EQ(address_conflicts(t),
            std::vector<std::string>{"container 'cc' and container 'cd' both have MAC 02:00:00:00:00:05 in VLAN 20 of bridge 'br0'"});
}

TEST(Warnings, OnlyNewOnesAreTold) {
  Topology cur = parse(kTwoVlans);
  cur.containers = {{"ca", "br0", "a", "10.0.0.1/24", "", "", {}}, {"cb", "br0", "b", "10.0.0.1/24", "", "", {}}};
  Topology next = cur;
  EXPECT_TRUE(new_warnings(cur, next).empty());
  next.containers.push_back({"cc", "br0", "c", "10.0.0.7/24", "", "", {}});
  EXPECT_TRUE(new_warnings(cur, next).empty());
  next.containers.push_back({"ce", "br0", "q", "10.0.0.7/24", "", "", {}});
  EXPECT_EQ(new_warnings(cur, next).size(), 1u);
}

TEST(Warnings, DhcpBehindPortSecurityWithoutAllowedAddresses) {
  Topology t = parse(R"(
bridges:
  - name: br0
    ports:
      - {name: a, type: system, port_security: true}
      - {name: b, type: system, port_security: true, allowed_addresses: ["10.0.0.0/24"]}
      - {name: c, type: system}
containers:
  - {name: ca, bridge: br0, port: a, ip: dhcp}
  - {name: cb, bridge: br0, port: b, ip: dhcp}
  - {name: cc, bridge: br0, port: c, ip: dhcp}
)");
  const auto w = dhcp_port_security(t);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_NE(w[0].find("container 'ca' takes its address by DHCP and its port 'a' has port_security without "
                      "allowed_addresses"),
            std::string::npos)
      << w[0];
  EXPECT_EQ(new_warnings(Topology{}, t), w);
  EXPECT_TRUE(new_warnings(t, t).empty());  // told once
}

TEST(Warnings, AVlanListedTwice) {
  auto t = parse_topology(R"(
bridges:
  - name: br0
    ports:
      - {name: a, type: internal, vlan_mode: trunk, allowed: [10, 12, 9-11]}
      - {name: b, type: internal, vlan_mode: trunk, allowed: "5,6"}
)",
                          "t.yaml", "/");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->warnings,
            std::vector<std::string>{"t.yaml:5:62: bridge 'br0': port 'a': 'allowed' lists VLAN 10 more than once"});
  BridgeSpec b;
  b.name = "br0";
  std::vector<std::string> w;
  ASSERT_TRUE(make_port(b, "p", {{"type", "internal"}, {"vlan_mode", "trunk"}, {"allowed", "3,3-4,4"}}, &w));
  EXPECT_EQ(w, std::vector<std::string>{"bridge 'br0': port 'p': 'allowed' lists VLAN 3-4 more than once"});
}

TEST(OvsAliases, TagIsAnAccessPvidAndTrunksATrunk) {
  BridgeSpec b;
  b.name = "br0";
  auto tag = make_port(b, "p", {{"type", "internal"}, {"tag", "10"}});
  ASSERT_TRUE(tag) << tag.error().message;
  EXPECT_EQ(tag->vlan.mode, dp::VlanMode::kAccess);
  EXPECT_EQ(tag->vlan.pvid, 10);
  auto trunks = make_port(b, "p", {{"type", "internal"}, {"trunks", "10,20-21"}});
  ASSERT_TRUE(trunks) << trunks.error().message;
  EXPECT_EQ(trunks->vlan.mode, dp::VlanMode::kTrunk);
  EXPECT_EQ(dp::vlan_set_str(*trunks->vlan.allowed), "10,20-21");
  auto both = make_port(b, "p", {{"type", "internal"}, {"vlan_mode", "native-tagged"}, {"tag", "5"}, {"trunks", "5-6"}});
  ASSERT_TRUE(both) << both.error().message;
  EXPECT_EQ(both->vlan.mode, dp::VlanMode::kNativeTagged);
  EXPECT_EQ(both->vlan.pvid, 5);
  // Changing a trunk's tag keeps it a trunk only if its mode is given.
  auto retag = update_port(b, *trunks, {{"tag", "7"}, {"vlan_mode", "native-untagged"}});
  ASSERT_TRUE(retag) << retag.error().message;
  EXPECT_EQ(retag->vlan.pvid, 7);
  EXPECT_EQ(make_port(b, "p", {{"tag", "5"}, {"trunks", "5"}}).error().message,
            "port 'p': 'tag' with 'trunks' needs a vlan_mode (native-untagged or native-tagged; OVS would make it an "
            "access port and ignore 'trunks')");
  EXPECT_EQ(make_port(b, "p", {{"tag", "5"}, {"pvid", "5"}}).error().message,
            "port 'p': 'tag' is OVS's name for 'pvid': give one of them");
  EXPECT_EQ(make_port(b, "p", {{"trunks", "5"}, {"allowed", "5"}}).error().message,
            "port 'p': 'trunks' is OVS's name for 'allowed': give one of them");
  EXPECT_FALSE(make_port(b, "p", {{"type", "internal"}, {"tag", "4095"}}));
}

}  // namespace
}  // namespace kvnet::ctl
