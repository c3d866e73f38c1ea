// plan(current, next): every kind of change, as a line and as work to do.
#include "ctl/plan.h"

#include <gtest/gtest.h>

namespace kvnet::ctl {
namespace {

Topology topo(const std::string& yaml) {
  auto t = parse_topology(yaml, "", "/", ParseOptions{.allow_dangling_patches = true});
  EXPECT_TRUE(t.ok()) << t.error().message;
  return t.ok() ? *t : Topology{};
}

const char* kBase = R"(bridges:
  - name: br0
    mac_aging: 300
    fdb: [{vlan: 10, mac: "02:00:00:00:00:01", port: a1}]
    ports:
      - {name: a1, type: internal, vlan_mode: access, pvid: 10}
      - {name: t1, type: tap, vlan_mode: trunk, allowed: [10, 20]}
  - name: hub0
    type: hub
    ports:
      - {name: h1, type: system}
containers:
  - {name: c1, bridge: hub0, port: h1, ip: 10.0.0.2/24}
)";

std::string replace(std::string s, const std::string& from, const std::string& to) {
  const auto at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return s.replace(at, from.size(), to);
}

TEST(Plan, NoChangeIsEmpty) {
  const Topology t = topo(kBase);
  const Plan p = plan(t, t);
  EXPECT_TRUE(p.empty());
  EXPECT_TRUE(p.ports_added.empty() && p.ports_removed.empty() && p.containers_added.empty());
}

TEST(Plan, FromNothingAddsEverything) {
  const Plan p = plan(Topology{}, topo(kBase));
  EXPECT_EQ(p.text(), (std::vector<std::string>{"+ bridge br0", "+ port br0/a1", "+ port br0/t1",
                                                "+ fdb br0 10 02:00:00:00:00:01 a1", "+ bridge hub0",
                                                "+ port hub0/h1", "+ container c1"}));
  EXPECT_EQ(p.bridges_added, (std::vector<std::string>{"br0", "hub0"}));
  EXPECT_EQ(p.ports_added.size(), 3u);
  EXPECT_EQ(p.fdb_added.size(), 1u);
}

TEST(Plan, ToNothingRemovesEverything) {
  const Plan p = plan(topo(kBase), Topology{});
  EXPECT_EQ(p.text(), (std::vector<std::string>{"- fdb br0 10 02:00:00:00:00:01 a1", "- port br0/a1", "- port br0/t1",
                                                "- bridge br0", "- port hub0/h1", "- bridge hub0", "- container c1"}));
  EXPECT_EQ(p.bridges_removed, (std::vector<std::string>{"br0", "hub0"}));
  EXPECT_TRUE(p.ports_removed.empty());  // they go with their bridges
}

TEST(Plan, VlanChangeIsInPlaceAndListsEveryKey) {
  const Plan p = plan(topo(kBase), topo(replace(kBase, "allowed: [10, 20]", "allowed: [10, 20-22], pvid: 20, mtu: 9000")));
  EXPECT_EQ(p.text(), (std::vector<std::string>{"~ port br0/t1 mtu (none)->9000 pvid 1->20 allowed 10,20->10,20-22"}));
  EXPECT_EQ(p.ports_reconfigured, (std::vector<PortRef>{{"br0", "t1"}}));
  EXPECT_TRUE(p.ports_added.empty());
}

TEST(Plan, BackendChangeRecreatesThePort) {
  const Plan p = plan(topo(kBase), topo(replace(kBase, "type: tap,", "type: tap, persistent: true,")));
  EXPECT_EQ(p.text(), (std::vector<std::string>{"~ port br0/t1 persistent (none)->true"}));
  EXPECT_EQ(p.ports_removed, (std::vector<PortRef>{{"br0", "t1"}}));
  EXPECT_EQ(p.ports_added, (std::vector<PortRef>{{"br0", "t1"}}));
  EXPECT_TRUE(p.ports_reconfigured.empty());
}

TEST(Plan, KindChangeRecreatesThePort) {
  const Plan p = plan(topo(kBase), topo(replace(kBase, "name: t1, type: tap", "name: t1, type: system")));
  EXPECT_EQ(p.text(), (std::vector<std::string>{"~ port br0/t1 type tap->system"}));
  EXPECT_EQ(p.ports_added, (std::vector<PortRef>{{"br0", "t1"}}));
}

TEST(Plan, BridgeSettings) {
  const Plan p = plan(topo(kBase), topo(replace(kBase, "mac_aging: 300", "mac_aging: 60")));
  EXPECT_EQ(p.text(), (std::vector<std::string>{"~ bridge br0 mac_aging 300->60"}));
  EXPECT_EQ(p.bridges_changed, (std::vector<std::string>{"br0"}));
}

TEST(Plan, BridgeTypeChangeRecreatesItWithItsPorts) {
  const Plan p = plan(topo(kBase), topo(replace(kBase, "type: hub", "type: learning")));
  EXPECT_EQ(p.bridges_removed, (std::vector<std::string>{"hub0"}));
  EXPECT_EQ(p.bridges_added, (std::vector<std::string>{"hub0"}));
  EXPECT_EQ(p.ports_added, (std::vector<PortRef>{{"hub0", "h1"}}));
  EXPECT_EQ(p.text().front(), "~ bridge hub0 type hub->learning mac_aging (none)->300 mac_table_size (none)->8192");
}

TEST(Plan, StaticFdbEntries) {
  const std::string moved = replace(kBase, "port: a1}]", "port: t1}]");
  Plan p = plan(topo(kBase), topo(moved));
  EXPECT_EQ(p.text(), (std::vector<std::string>{"~ fdb br0 10 02:00:00:00:00:01 port a1->t1"}));
  EXPECT_EQ(p.fdb_removed.size(), 1u);
  EXPECT_EQ(p.fdb_added.size(), 1u);
  p = plan(topo(kBase), topo(replace(kBase, "    fdb: [{vlan: 10, mac: \"02:00:00:00:00:01\", port: a1}]\n", "")));
  EXPECT_EQ(p.text(), (std::vector<std::string>{"- fdb br0 10 02:00:00:00:00:01 a1"}));
}

TEST(Plan, PortMovesBetweenBridges) {
  const std::string y = replace(replace(kBase, "      - {name: t1, type: tap, vlan_mode: trunk, allowed: [10, 20]}\n", ""),
                                "      - {name: h1, type: system}\n",
                                "      - {name: h1, type: system}\n      - {name: t1, type: tap}\n");
  const Plan p = plan(topo(kBase), topo(y));
  EXPECT_EQ(p.text(), (std::vector<std::string>{"- port br0/t1", "+ port hub0/t1"}));
  EXPECT_EQ(p.ports_removed, (std::vector<PortRef>{{"br0", "t1"}}));
  EXPECT_EQ(p.ports_added, (std::vector<PortRef>{{"hub0", "t1"}}));
}

TEST(Plan, ChangedContainerIsRecreatedWithItsPort) {
  const Plan p = plan(topo(kBase), topo(replace(kBase, "10.0.0.2/24", "10.0.0.3/24")));
  EXPECT_EQ(p.text(), (std::vector<std::string>{"~ container c1 ip 10.0.0.2/24->10.0.0.3/24"}));
  ASSERT_EQ(p.containers_removed.size(), 1u);
  ASSERT_EQ(p.containers_added.size(), 1u);
  EXPECT_EQ(p.containers_added[0].ip, "10.0.0.3/24");
  // Its veth is new: the port is re-opened.
  EXPECT_EQ(p.ports_removed, (std::vector<PortRef>{{"hub0", "h1"}}));
  EXPECT_EQ(p.ports_added, (std::vector<PortRef>{{"hub0", "h1"}}));
}

}  // namespace
}  // namespace kvnet::ctl
