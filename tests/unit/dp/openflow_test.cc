// OpenFlow tables in a switch's pipeline (dp/bridge.h, dp/flow_table.h):
// Neutron's VLAN translation between br-int and br-eth1 (the seed's
// compute node), output actions that leave frames as they are, a table
// miss, resubmit and goto_table, counters, and the default table leaving
// the bridge as it was.
#include <gtest/gtest.h>

#include "dp/flow_text.h"
#include "testing.h"

namespace kvnet::testing {
namespace {

constexpr uint64_t kA = 0x525400000001, kB = 0x525400000002;
constexpr uint64_t kBcast = 0xffffffffffff;

// Every VLAN, each tagged (OVS's port without VLAN settings, as far as
// tagged frames go).
dp::VlanConfig trunk_all() {
  dp::VlanConfig c;
  c.mode = dp::VlanMode::kNativeTagged;
  dp::VlanSet all;
  for (int v = 1; v < 4095; ++v) all.set(static_cast<size_t>(v));
  c.allowed = all;
  return c;
}

// Tables from flows in ovs-ofctl's syntax, ports by name on `br`.
std::unique_ptr<dp::FlowTables> tables(dp::Bridge& br, std::initializer_list<const char*> flows) {
  dp::FlowPorts ports;
  ports.id = [&br](std::string_view n) -> std::optional<uint32_t> {
    for (const dp::Port* p : br.ports())
      if (p->name == n) return p->id;
    return std::nullopt;
  };
  auto t = std::make_unique<dp::FlowTables>();
  t->table(0).remove(dp::FlowSelector{});  // no default flow: the test says what it wants
  for (const char* f : flows) {
    auto r = dp::parse_flow_text(f, ports, dp::FlowTextMode::kAdd);
    EXPECT_TRUE(r) << f << ": " << r.error().message;
    if (r) t->table(r->flow.table).add(r->flow);
  }
  return t;
}

const dp::Flow* flow_of(dp::Bridge& br, uint8_t table, uint16_t priority) {
  for (const dp::Flow* f : br.flows()->table(table).flows())
    if (f->priority == priority) return f;
  return nullptr;
}

// The seed's compute node, as Neutron's OVS agent programs it: local VLAN 1
// on br-int is provider VLAN 101 on eth1.
struct ComputeNode : ::testing::Test {
  Harness h;
  dp::Bridge& br_int = h.bridge("br-int", dp::BridgeType::kSwitch);
  dp::Bridge& br_eth1 = h.bridge("br-eth1", dp::BridgeType::kSwitch);
  void SetUp() override {
    h.port(br_int, "qvo1", access(1));
    h.patch(br_int, "int-br-eth1", trunk_all(), br_eth1, "phy-br-eth1", trunk_all());
    h.port(br_eth1, "eth1", trunk(1, {101}));
    br_eth1.set_flows(tables(br_eth1, {"priority=4,in_port=phy-br-eth1,dl_vlan=1,actions=mod_vlan_vid:101,NORMAL",
                                       "priority=2,in_port=phy-br-eth1,actions=drop", "priority=0,actions=NORMAL"}));
    br_int.set_flows(tables(br_int, {"priority=3,in_port=int-br-eth1,dl_vlan=101,actions=mod_vlan_vid:1,NORMAL",
                                     "priority=2,in_port=int-br-eth1,actions=drop", "priority=0,actions=NORMAL"}));
  }
};

TEST_F(ComputeNode, LocalVlanBecomesTheProviderVlanAndBack) {
  ASSERT_TRUE(br_int.openflow());
  h.send("qvo1", eth(kBcast, kA));  // the VM's broadcast, untagged on its access port
  // (Tags are pushed on a 60-byte frame and popped from one: 64 and 56 bytes.)
  EXPECT_EQ(h.take("eth1"), std::vector<Bytes>{eth(kBcast, kA, {{0x8100, 101, 0}}, 0x0800, 64)});
  h.send("eth1", eth(kA, kB, {{0x8100, 101, 0}}));  // the reply, in the provider VLAN
  EXPECT_EQ(h.take("qvo1"), std::vector<Bytes>{eth(kA, kB, {}, 0x0800, 56)});
  EXPECT_EQ(flow_of(br_eth1, 0, 4)->n_packets, 1u);
  EXPECT_EQ(flow_of(br_int, 0, 3)->n_packets, 1u);
  EXPECT_EQ(flow_of(br_int, 0, 3)->n_bytes, 60u);
  // Another provider VLAN from eth1 is not translated: br-int drops it.
  h.send("eth1", eth(kBcast, kB, {{0x8100, 102, 0}}));
  EXPECT_TRUE(h.take("qvo1").empty());
  h.send("eth1", eth(kBcast, kB, {{0x8100, 101, 0}}));
  EXPECT_EQ(h.take("qvo1").size(), 1u);
  EXPECT_EQ(flow_of(br_int, 0, 2)->n_packets, 0u);  // VLAN 102 never left eth1's trunk (allowed 101)
}

TEST(OpenFlow, OutputSendsTheFrameAsItIs) {
  Harness h;
  auto& br = h.bridge("br", dp::BridgeType::kSwitch);
  h.port(br, "p1", access(5));
  h.port(br, "p2", access(7));
  h.port(br, "p3", trunk(1, {9}));
  br.set_flows(tables(br, {"in_port=p1,actions=output:p2,mod_vlan_vid:9,output:p3", "in_port=p2,actions=strip_vlan,IN_PORT"}));
  const Bytes f = eth(kB, kA);
  h.send("p1", f);
  EXPECT_EQ(h.take("p2"), std::vector<Bytes>{f});  // no VLAN rule on an output action
  EXPECT_EQ(h.take("p3"), std::vector<Bytes>{eth(kB, kA, {{0x8100, 9, 0}}, 0x0800, 64)});  // pushed
  h.send("p2", eth(kA, kB, {{0x8100, 3, 0}}));
  EXPECT_EQ(h.take("p2"), std::vector<Bytes>{eth(kA, kB, {}, 0x0800, 56)});  // IN_PORT, popped
  // A table miss drops, counted as no_flow.
  h.send("p3", f);
  EXPECT_EQ(h.counters("p3").dropped(dp::Drop::kNoFlow), 1u);
  for (const char* p : {"p1", "p2"}) EXPECT_TRUE(h.take(p).empty());
}

TEST(OpenFlow, ResubmitGotoTableAndModifications) {
  Harness h;
  auto& br = h.bridge("br", dp::BridgeType::kSwitch);
  h.port(br, "p1");
  h.port(br, "p2");
  h.port(br, "p3");
  br.set_flows(tables(br, {"table=0,actions=mod_dl_src:02:00:00:00:00:09,resubmit(,1),goto_table:2",
                           "table=1,dl_src=02:00:00:00:00:09,actions=output:p2",
                           "table=2,dl_src=02:00:00:00:00:09,actions=push_vlan:0x8100,mod_vlan_vid:30,set_field:7->tun_id,resubmit(,3)",
                           "table=3,tun_id=7,dl_vlan=30,actions=FLOOD"}));
  h.send("p1", eth(kB, kA));
  const Bytes tagged = eth(kB, 0x020000000009, {{0x8100, 30, 0}}, 0x0800, 64);
  EXPECT_EQ(h.take("p2"), (std::vector<Bytes>{eth(kB, 0x020000000009), tagged}));
  EXPECT_EQ(h.take("p3"), std::vector<Bytes>{tagged});
  EXPECT_TRUE(h.take("p1").empty());  // FLOOD: not back out of the input port
  // An 802.1ad tag: pushed, then its VID and PCP set.
  br.set_flows(tables(br, {"in_port=p1,actions=push_vlan:0x88a8,mod_vlan_vid:40,mod_vlan_pcp:3,output:p2"}));
  h.send("p1", eth(kB, kA));
  EXPECT_EQ(h.take("p2"), std::vector<Bytes>{eth(kB, kA, {{0x88a8, 40, 3}}, 0x0800, 64)});
  // A loop of resubmits is cut, counted.
  br.set_flows(tables(br, {"actions=resubmit(,0)"}));
  h.send("p1", eth(kB, kA));
  EXPECT_EQ(h.counters("p1").dropped(dp::Drop::kLoopCut), 1u);
}

TEST(OpenFlow, TheDefaultTableIsTheBridgeWithoutTables) {
  Harness h;
  auto& br = h.bridge("br", dp::BridgeType::kSwitch);
  h.port(br, "p1", access(10));
  h.port(br, "p2", access(10));
  h.port(br, "p3", access(20));
  br.set_flows(std::make_unique<dp::FlowTables>());
  EXPECT_FALSE(br.openflow());
  h.send("p1", eth(kBcast, kA));
  EXPECT_EQ(h.take("p2").size(), 1u);
  EXPECT_TRUE(h.take("p3").empty());
  // Only the NORMAL flow, at another priority: OpenFlow's path, same result.
  br.set_flows(tables(br, {"priority=1,actions=NORMAL"}));
  EXPECT_TRUE(br.openflow());
  h.send("p1", eth(kBcast, kA));
  EXPECT_EQ(h.take("p2").size(), 1u);
  EXPECT_TRUE(h.take("p3").empty());
  // Hubs and learning bridges have no tables.
  auto& hub = h.bridge("hub", dp::BridgeType::kHub);
  EXPECT_NE(hub.set_flows(std::make_unique<dp::FlowTables>()), nullptr);
  EXPECT_EQ(hub.flows(), nullptr);
}

}  // namespace
}  // namespace kvnet::testing
