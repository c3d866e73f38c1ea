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

// --- VMs: definitions only, one line each ---

const char* kVmBase = R"(bridges:
  - name: br0
    ports:
      - {name: vnet0, type: system}
      - {name: vnet1, type: system}
      - {name: vnet2, type: system}
vms:
  - name: vm01
    nics: [{bridge: br0, port: vnet0, mac: "52:54:00:00:00:01", ip: 10.0.0.11/24}]
  - name: vm02
    memory: 1G
    autostart: true
    nics: [{bridge: br0, port: vnet1, mac: "52:54:00:00:00:02"}]
)";

TEST(PlanVms, FromNothingAndToNothing) {
  Plan p = plan(Topology{}, topo(kVmBase));
  EXPECT_EQ(p.text(), (std::vector<std::string>{"+ bridge br0", "+ port br0/vnet0", "+ port br0/vnet1", "+ port br0/vnet2",
                                                "+ vm vm01", "+ vm vm02"}));
  EXPECT_EQ(p.vms_added, (std::vector<std::string>{"vm01", "vm02"}));
  EXPECT_TRUE(p.vms_removed.empty() && p.vms_changed.empty());
  p = plan(topo(kVmBase), Topology{});
  EXPECT_EQ(p.text(), (std::vector<std::string>{"- port br0/vnet0", "- port br0/vnet1", "- port br0/vnet2", "- bridge br0",
                                                "- vm vm01", "- vm vm02"}));
  EXPECT_EQ(p.vms_removed, (std::vector<std::string>{"vm01", "vm02"}));
  EXPECT_TRUE(p.vms_added.empty() && p.vms_changed.empty());
}

TEST(PlanVms, AddAndRemoveOneVm) {
  const std::string without_vm02 =
      replace(kVmBase, "  - name: vm02\n    memory: 1G\n    autostart: true\n    nics: [{bridge: br0, port: vnet1, mac: \"52:54:00:00:00:02\"}]\n", "");
  Plan p = plan(topo(kVmBase), topo(without_vm02));
  EXPECT_EQ(p.text(), (std::vector<std::string>{"- vm vm02"}));
  EXPECT_EQ(p.vms_removed, (std::vector<std::string>{"vm02"}));
  EXPECT_TRUE(p.ports_removed.empty());  // its port is the configuration's, not the VM's
  p = plan(topo(without_vm02), topo(kVmBase));
  EXPECT_EQ(p.text(), (std::vector<std::string>{"+ vm vm02"}));
  EXPECT_EQ(p.vms_added, (std::vector<std::string>{"vm02"}));
  EXPECT_TRUE(p.ports_added.empty());
}

TEST(PlanVms, ChangedVmListsItsChangedKeys) {
  Plan p = plan(topo(kVmBase), topo(replace(kVmBase, "  - name: vm01\n", "  - name: vm01\n    memory: 512M\n    vcpus: 2\n")));
  EXPECT_EQ(p.text(), (std::vector<std::string>{"~ vm vm01 memory 256M->512M vcpus 1->2"}));
  EXPECT_EQ(p.vms_changed, (std::vector<std::string>{"vm01"}));
  EXPECT_TRUE(p.vms_added.empty() && p.vms_removed.empty());
  EXPECT_TRUE(p.ports_added.empty() && p.ports_removed.empty() && p.ports_reconfigured.empty());

  p = plan(topo(kVmBase), topo(replace(kVmBase, "ip: 10.0.0.11/24", "ip: 10.0.0.12/24, gw: 10.0.0.1")));
  EXPECT_EQ(p.text(), (std::vector<std::string>{
                          "~ vm vm01 nic0 bridge=br0,port=vnet0,mac=52:54:00:00:00:01,ip=10.0.0.11/24->"
                          "bridge=br0,port=vnet0,mac=52:54:00:00:00:01,ip=10.0.0.12/24,gw=10.0.0.1"}));

  // Keys that appear and disappear.
  p = plan(topo(kVmBase), topo(replace(kVmBase, "    memory: 1G\n    autostart: true\n", "    memory: 1G\n    accel: tcg\n")));
  EXPECT_EQ(p.text(), (std::vector<std::string>{"~ vm vm02 accel (none)->tcg autostart true->(none)"}));
  EXPECT_EQ(p.vms_changed, (std::vector<std::string>{"vm02"}));

  // A NIC more.
  p = plan(topo(kVmBase), topo(replace(kVmBase, "port: vnet1, mac: \"52:54:00:00:00:02\"}]",
                                       "port: vnet1, mac: \"52:54:00:00:00:02\"}, {bridge: br0, port: vnet2, "
                                       "mac: \"52:54:00:00:00:03\"}]")));
  EXPECT_EQ(p.text(), (std::vector<std::string>{"~ vm vm02 nic1 (none)->bridge=br0,port=vnet2,mac=52:54:00:00:00:03"}));
}

TEST(PlanVms, WhereAVmIsWrittenIsNoChange) {
  // The same VMs in the other order (other lines and columns).
  const std::string swapped = R"(bridges:
  - name: br0
    ports:
      - {name: vnet0, type: system}
      - {name: vnet1, type: system}
      - {name: vnet2, type: system}
vms:
  - {name: vm02, memory: 1024M, autostart: yes, nics: [{bridge: br0, port: vnet1, mac: "52:54:00:00:00:02"}]}
  - name: vm01
    memory: 256
    nics: [{bridge: br0, port: vnet0, mac: "52:54:00:00:00:01", ip: 10.0.0.11/24}]
)";
  const Plan p = plan(topo(kVmBase), topo(swapped));
  EXPECT_TRUE(p.empty()) << ::testing::PrintToString(p.text());
  EXPECT_TRUE(p.vms_changed.empty());
}

TEST(PlanVms, RemovedThenChangedThenAdded) {
  const std::string next = replace(
      replace(replace(kVmBase, "  - name: vm02\n    memory: 1G\n    autostart: true\n    nics: [{bridge: br0, port: vnet1, mac: \"52:54:00:00:00:02\"}]\n",
                      "  - name: vm03\n    nics: [{bridge: br0, port: vnet1, mac: \"52:54:00:00:00:02\"}]\n"),
              "  - name: vm01\n", "  - name: vm01\n    machine: pc\n"),
      "port: vnet0, mac", "port: vnet2, mac");
  const Plan p = plan(topo(kVmBase), topo(next));
  EXPECT_EQ(p.text(), (std::vector<std::string>{
                          "- vm vm02", "~ vm vm01 machine (none)->pc nic0 bridge=br0,port=vnet0,mac=52:54:00:00:00:01,ip=10.0.0.11/24->"
                                       "bridge=br0,port=vnet2,mac=52:54:00:00:00:01,ip=10.0.0.11/24",
                          "+ vm vm03"}));
  EXPECT_EQ(p.vms_removed, (std::vector<std::string>{"vm02"}));
  EXPECT_EQ(p.vms_changed, (std::vector<std::string>{"vm01"}));
  EXPECT_EQ(p.vms_added, (std::vector<std::string>{"vm03"}));
}

}  // namespace
}  // namespace kvnet::ctl
