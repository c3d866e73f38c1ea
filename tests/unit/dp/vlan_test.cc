// The seed's VLAN port rules ("VLAN端口"), each its own test, run through a
// real switch: a frame enters one port and we look at what leaves another.
#include <gtest/gtest.h>

#include "testing.h"

namespace kvnet::testing {
namespace {

constexpr uint64_t kA = 0x525400000001, kB = 0x525400000002, kBcast = 0xffffffffffff;

// A switch with the port under test `p` and a reference port on each side.
struct SeedSwitch : ::testing::Test {
  Harness h;
  dp::Bridge& br = h.bridge("br", dp::BridgeType::kSwitch);
  // `ref` is a trunk carrying every VLAN the tests use, tagged (pvid 4094 unused).
  void make(dp::VlanConfig p) {
    h.port(br, "p", p);
    h.port(br, "ref", trunk(4094, {1, 10, 20, 30, 4094}));
  }
};

// ---------------------------------------------------------------- access

TEST_F(SeedSwitch, AccessReceiveUntaggedTagsPvidAndSwitches) {
  make(access(10));
  h.send("p", eth(kBcast, kA));
  auto out = h.take("ref");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], eth(kBcast, kA, {{0x8100, 10, 0}}, 0x0800, 64));
}

TEST_F(SeedSwitch, AccessReceiveTaggedIsDropped) {
  make(access(10));
  h.send("p", eth(kBcast, kA, {{0x8100, 10, 0}}));
  EXPECT_TRUE(h.take("ref").empty());
  EXPECT_EQ(h.counters("p").dropped(dp::Drop::kTaggedOnAccess), 1u);
}

TEST_F(SeedSwitch, AccessSendStripsTag) {
  make(access(10));
  h.send("ref", eth(kBcast, kB, {{0x8100, 10, 3}}));
  auto out = h.take("p");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], eth(kBcast, kB, {}, 0x0800, 56));  // tag removed, payload unchanged
}

TEST_F(SeedSwitch, AccessSendsOnlyItsPvidVlan) {
  make(access(10));
  h.send("ref", eth(kBcast, kB, {{0x8100, 20, 0}}));
  EXPECT_TRUE(h.take("p").empty());
}

// ---------------------------------------------------------------- trunk

TEST_F(SeedSwitch, TrunkReceiveUntaggedTagsPvid) {
  make(trunk(20, {10, 20}));
  h.send("p", eth(kBcast, kA));
  auto out = h.take("ref");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], eth(kBcast, kA, {{0x8100, 20, 0}}, 0x0800, 64));
}

TEST_F(SeedSwitch, TrunkReceiveTaggedAllowedKeepsTag) {
  make(trunk(20, {10, 20}));
  h.send("p", eth(kBcast, kA, {{0x8100, 10, 5}}));
  auto out = h.take("ref");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], eth(kBcast, kA, {{0x8100, 10, 5}}));
}

TEST_F(SeedSwitch, TrunkReceiveTaggedNotAllowedIsDropped) {
  make(trunk(20, {10, 20}));
  h.send("p", eth(kBcast, kA, {{0x8100, 30, 0}}));
  EXPECT_TRUE(h.take("ref").empty());
  EXPECT_EQ(h.counters("p").dropped(dp::Drop::kVlanNotAllowed), 1u);
}

TEST_F(SeedSwitch, TrunkSendPvidVlanStripsTag) {
  make(trunk(20, {10, 20}));
  h.send("ref", eth(kBcast, kB, {{0x8100, 20, 0}}));
  auto out = h.take("p");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], eth(kBcast, kB, {}, 0x0800, 56));
}

TEST_F(SeedSwitch, TrunkSendOtherVlanKeepsTag) {
  make(trunk(20, {10, 20}));
  h.send("ref", eth(kBcast, kB, {{0x8100, 10, 0}}));
  auto out = h.take("p");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], eth(kBcast, kB, {{0x8100, 10, 0}}));
}

TEST_F(SeedSwitch, TrunkSendsOnlyAllowedVlans) {
  make(trunk(20, {10, 20}));
  h.send("ref", eth(kBcast, kB, {{0x8100, 30, 0}}));
  EXPECT_TRUE(h.take("p").empty());
}

TEST_F(SeedSwitch, TrunkDefaultAllowedIsItsPvid) {
  dp::VlanConfig c;
  c.mode = dp::VlanMode::kTrunk;
  c.pvid = 10;
  make(c);
  h.send("p", eth(kBcast, kA, {{0x8100, 20, 0}}));
  EXPECT_TRUE(h.take("ref").empty());
  h.send("p", eth(kBcast, kA, {{0x8100, 10, 0}}));
  EXPECT_EQ(h.take("ref").size(), 1u);
}

// ---------------------------------------------------------------- hybrid

TEST_F(SeedSwitch, HybridReceiveUntaggedTagsPvid) {
  make(hybrid(10, {20}, {10}));
  h.send("p", eth(kBcast, kA));
  auto out = h.take("ref");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], eth(kBcast, kA, {{0x8100, 10, 0}}, 0x0800, 64));
}

TEST_F(SeedSwitch, HybridReceiveTaggedMemberIsSwitched) {
  make(hybrid(10, {20}, {30}));
  h.send("p", eth(kBcast, kA, {{0x8100, 20, 0}}));
  h.send("p", eth(kBcast, kA, {{0x8100, 30, 0}}));
  auto out = h.take("ref");
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0], eth(kBcast, kA, {{0x8100, 20, 0}}));
  EXPECT_EQ(out[1], eth(kBcast, kA, {{0x8100, 30, 0}}));
}

TEST_F(SeedSwitch, HybridReceiveTaggedNonMemberIsDropped) {
  make(hybrid(10, {20}, {10}));
  h.send("p", eth(kBcast, kA, {{0x8100, 30, 0}}));
  EXPECT_TRUE(h.take("ref").empty());
  EXPECT_EQ(h.counters("p").dropped(dp::Drop::kVlanNotAllowed), 1u);
}

TEST_F(SeedSwitch, HybridSendUntaggedVlanStripsTag) {
  make(hybrid(10, {20}, {30}));
  h.send("ref", eth(kBcast, kB, {{0x8100, 30, 0}}));
  auto out = h.take("p");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], eth(kBcast, kB, {}, 0x0800, 56));
}

TEST_F(SeedSwitch, HybridSendTaggedVlanEqualToPvidStripsTag) {
  make(hybrid(20, {20}, {}));
  h.send("ref", eth(kBcast, kB, {{0x8100, 20, 0}}));
  auto out = h.take("p");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], eth(kBcast, kB, {}, 0x0800, 56));
}

TEST_F(SeedSwitch, HybridSendTaggedVlanOtherThanPvidKeepsTag) {
  make(hybrid(10, {20}, {10}));
  h.send("ref", eth(kBcast, kB, {{0x8100, 20, 6}}));
  auto out = h.take("p");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], eth(kBcast, kB, {{0x8100, 20, 6}}));
}

TEST_F(SeedSwitch, HybridSendVlanInNeitherListIsNotSent) {
  make(hybrid(10, {20}, {10}));
  h.send("ref", eth(kBcast, kB, {{0x8100, 30, 0}}));
  EXPECT_TRUE(h.take("p").empty());
}

// ---------------------------------------------------------------- clarifications

TEST_F(SeedSwitch, UntaggedDroppedWhenTrunkPvidNotAllowed) {
  make(trunk(1, {10, 20}));
  h.send("p", eth(kBcast, kA));
  EXPECT_TRUE(h.take("ref").empty());
  EXPECT_EQ(h.counters("p").dropped(dp::Drop::kUntaggedNotAllowed), 1u);
}

TEST_F(SeedSwitch, UntaggedDroppedWhenHybridPvidInNeitherList) {
  make(hybrid(10, {20}, {30}));
  h.send("p", eth(kBcast, kA));
  EXPECT_TRUE(h.take("ref").empty());
  EXPECT_EQ(h.counters("p").dropped(dp::Drop::kUntaggedNotAllowed), 1u);
}

TEST_F(SeedSwitch, PriorityTagCountsAsUntaggedAndKeepsPcp) {
  make(access(10));
  h.send("p", eth(kBcast, kA, {{0x8100, 0, 5}}));
  auto out = h.take("ref");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], eth(kBcast, kA, {{0x8100, 10, 5}}, 0x0800, 60));
}

TEST_F(SeedSwitch, Vid4095IsDropped) {
  make(trunk(1, {1, 10}));
  h.send("p", eth(kBcast, kA, {{0x8100, 4095, 0}}));
  EXPECT_TRUE(h.take("ref").empty());
  EXPECT_EQ(h.counters("p").dropped(dp::Drop::kInvalidVid), 1u);
}

TEST_F(SeedSwitch, OnlyTpid8100IsATag) {
  make(access(10));
  // An 802.1ad-tagged frame is an untagged frame with EtherType 0x88a8.
  const Bytes qinq = eth(kBcast, kA, {{0x88a8, 20, 0}});
  h.send("p", qinq);
  auto out = h.take("ref");
  ASSERT_EQ(out.size(), 1u);
  Bytes expect = qinq;
  expect.insert(expect.begin() + 12, {0x81, 0x00, 0x00, 10});
  EXPECT_EQ(out[0], expect);
}

TEST_F(SeedSwitch, PcpSurvivesPopAndPush) {
  make(trunk(1, {1, 10, 20}));
  h.port(br, "t2", trunk(1, {20}));
  h.send("p", eth(kBcast, kA, {{0x8100, 20, 7}}));
  auto out = h.take("t2");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], eth(kBcast, kA, {{0x8100, 20, 7}}));
}

// ---------------------------------------------------------------- OVS modes

TEST_F(SeedSwitch, NativeTaggedUntaggedJoinsNativeVlanAndLeavesTagged) {
  dp::VlanConfig c;
  c.mode = dp::VlanMode::kNativeTagged;
  c.pvid = 10;
  make(c);
  h.send("p", eth(kBcast, kA));
  ASSERT_EQ(h.take("ref"), std::vector<Bytes>{eth(kBcast, kA, {{0x8100, 10, 0}}, 0x0800, 64)});
  h.send("ref", eth(kBcast, kB, {{0x8100, 10, 0}}));
  EXPECT_EQ(h.take("p"), std::vector<Bytes>{eth(kBcast, kB, {{0x8100, 10, 0}})});
  // Omitted `allowed` means every VLAN.
  h.send("ref", eth(kBcast, kB, {{0x8100, 4094, 0}}));
  EXPECT_EQ(h.take("p").size(), 1u);
}

TEST_F(SeedSwitch, NativeUntaggedSendsNativeVlanUntagged) {
  dp::VlanConfig c;
  c.mode = dp::VlanMode::kNativeUntagged;
  c.pvid = 10;
  c.allowed = vset({20});
  make(c);
  h.send("ref", eth(kBcast, kB, {{0x8100, 10, 0}}));
  EXPECT_EQ(h.take("p"), std::vector<Bytes>{eth(kBcast, kB, {}, 0x0800, 56)});
  h.send("ref", eth(kBcast, kB, {{0x8100, 20, 0}}));
  EXPECT_EQ(h.take("p"), std::vector<Bytes>{eth(kBcast, kB, {{0x8100, 20, 0}})});
  h.send("ref", eth(kBcast, kB, {{0x8100, 30, 0}}));
  EXPECT_TRUE(h.take("p").empty());
  // Tagged native VLAN is accepted too.
  h.send("p", eth(kBcast, kA, {{0x8100, 10, 0}}));
  EXPECT_EQ(h.take("ref").size(), 1u);
}

TEST_F(SeedSwitch, Dot1qTunnelPushesServiceTagOverCustomerTag) {
  dp::VlanConfig c;
  c.mode = dp::VlanMode::kDot1qTunnel;
  c.pvid = 30;
  c.cvlans = vset({100, 200});
  make(c);  // default qinq_ethtype 802.1ad
  h.send("p", eth(kBcast, kA, {{0x8100, 100, 2}}));
  // Changed for issue 6 §9 (OVS): the service tag has PCP 0 (was: a copy of the customer's 2).
  EXPECT_EQ(h.take("ref"), std::vector<Bytes>{eth(kBcast, kA, {{0x88a8, 30, 0}, {0x8100, 100, 2}}, 0x0800, 64)});
  // Changed for issue 6 §9 (OVS): with cvlans, an untagged customer frame is dropped
  // (was: sent with the service tag only).
  h.send("p", eth(kBcast, kA));
  EXPECT_TRUE(h.take("ref").empty());
  h.send("p", eth(kBcast, kA, {{0x8100, 300, 0}}));  // not in cvlans
  EXPECT_TRUE(h.take("ref").empty());
  EXPECT_EQ(h.counters("p").dropped(dp::Drop::kCvlanNotAllowed), 1u);
  // Back: service VLAN removed, customer tag exposed.
  h.send("ref", eth(kBcast, kB, {{0x8100, 30, 0}, {0x8100, 100, 0}}));
  EXPECT_EQ(h.take("p"), std::vector<Bytes>{eth(kBcast, kB, {{0x8100, 100, 0}}, 0x0800, 56)});
}

TEST_F(SeedSwitch, Dot1qTunnelWith8021qEthtype) {
  dp::VlanConfig c;
  c.mode = dp::VlanMode::kDot1qTunnel;
  c.pvid = 30;
  c.qinq_tpid = 0x8100;
  make(c);
  h.send("p", eth(kBcast, kA, {{0x8100, 100, 0}}));
  EXPECT_EQ(h.take("ref"), std::vector<Bytes>{eth(kBcast, kA, {{0x8100, 30, 0}, {0x8100, 100, 0}}, 0x0800, 64)});
}

TEST_F(SeedSwitch, PriorityTagsOption) {
  dp::VlanConfig c = access(10);
  c.priority_tags = dp::PriorityTags::kIfNonzero;
  make(c);
  h.send("ref", eth(kBcast, kB, {{0x8100, 10, 0}}));
  EXPECT_EQ(h.take("p"), std::vector<Bytes>{eth(kBcast, kB, {}, 0x0800, 56)});
  h.send("ref", eth(kBcast, kB, {{0x8100, 10, 4}}));
  EXPECT_EQ(h.take("p"), std::vector<Bytes>{eth(kBcast, kB, {{0x8100, 0, 4}})});
}

TEST_F(SeedSwitch, PriorityTagsAlways) {
  dp::VlanConfig c = access(10);
  c.priority_tags = dp::PriorityTags::kAlways;
  make(c);
  h.send("ref", eth(kBcast, kB, {{0x8100, 10, 0}}));
  EXPECT_EQ(h.take("p"), std::vector<Bytes>{eth(kBcast, kB, {{0x8100, 0, 0}})});
}

// ---------------------------------------------------------------- OVS QinQ rules
// Open vSwitch 3.x, ofproto/ofproto-dpif-xlate.c. One test per rule.

dp::VlanConfig tunnel(uint16_t pvid, std::optional<dp::VlanSet> cvlans = std::nullopt) {
  dp::VlanConfig c;
  c.mode = dp::VlanMode::kDot1qTunnel;
  c.pvid = pvid;
  c.cvlans = cvlans;
  return c;
}

// xbundle_includes_vlan: inner VLAN must be in cvlans; no inner tag = VLAN 0.
TEST_F(SeedSwitch, Dot1qTunnelWithCvlansSendsOnlyInnerVlansInCvlans) {
  make(tunnel(30, vset({100, 200})));
  h.send("ref", eth(kBcast, kB, {{0x8100, 30, 0}, {0x8100, 100, 0}}));
  EXPECT_EQ(h.take("p"), std::vector<Bytes>{eth(kBcast, kB, {{0x8100, 100, 0}}, 0x0800, 56)});
  h.send("ref", eth(kBcast, kB, {{0x8100, 30, 0}, {0x8100, 300, 0}}));  // inner VLAN not in cvlans
  EXPECT_TRUE(h.take("p").empty());
  h.send("ref", eth(kBcast, kB, {{0x8100, 30, 0}}));  // no inner tag: inner VLAN 0
  EXPECT_TRUE(h.take("p").empty());
  h.send("ref", eth(kBcast, kB, {{0x8100, 30, 0}, {0x8100, 0, 5}}));  // inner priority tag: VLAN 0
  EXPECT_TRUE(h.take("p").empty());
  // Known unicast too: B is learned on ref in VLAN 30, A on p.
  h.send("p", eth(kBcast, kA, {{0x8100, 100, 0}}));
  h.take("ref");
  h.send("ref", eth(kA, kB, {{0x8100, 30, 0}, {0x8100, 300, 0}}));
  EXPECT_TRUE(h.take("p").empty());
  h.send("ref", eth(kA, kB, {{0x8100, 30, 0}, {0x8100, 200, 0}}));
  EXPECT_EQ(h.take("p").size(), 1u);
  EXPECT_EQ(h.counters("p").total_drops(), 0u);  // not sent is not a drop: like a non-member port
  // Without cvlans every inner VLAN, and none, is sent.
  h.port(br, "all", tunnel(30));
  h.send("ref", eth(kBcast, kB, {{0x8100, 30, 0}}));
  EXPECT_EQ(h.take("all"), std::vector<Bytes>{eth(kBcast, kB, {}, 0x0800, 56)});
}

// xbundle_includes_vlan: an access port takes inner VLAN 0 only.
TEST_F(SeedSwitch, AccessNeverSendsAFrameWithAnInnerTag) {
  make(access(10));
  h.send("ref", eth(kBcast, kB, {{0x8100, 10, 0}, {0x8100, 7, 0}}));
  EXPECT_TRUE(h.take("p").empty());
  // An inner priority tag is inner VLAN 0: sent, and the priority tag goes too.
  h.send("ref", eth(kBcast, kB, {{0x8100, 10, 0}, {0x8100, 0, 3}}));
  EXPECT_EQ(h.take("p"), std::vector<Bytes>{eth(kBcast, kB, {}, 0x0800, 52)});
  // Known unicast as well.
  h.send("p", eth(kBcast, kA));
  h.take("ref");
  h.send("ref", eth(kA, kB, {{0x8100, 10, 0}, {0x8100, 7, 0}}));
  EXPECT_TRUE(h.take("p").empty());
  // A dot1q-tunnel in the same VLAN delivers its customer frames to trunks only.
  h.port(br, "t", tunnel(10));
  h.send("t", eth(kBcast, kB, {{0x8100, 7, 0}}));
  EXPECT_TRUE(h.take("p").empty());
  EXPECT_EQ(h.take("ref").size(), 1u);
}

// input_vid_is_valid: VID 0 is in no cvlans list.
TEST_F(SeedSwitch, Dot1qTunnelWithCvlansDropsUntaggedAndPriorityTagged) {
  make(tunnel(30, vset({100})));
  h.send("p", eth(kBcast, kA));
  h.send("p", eth(kBcast, kA, {{0x8100, 0, 5}}));
  EXPECT_TRUE(h.take("ref").empty());
  EXPECT_EQ(h.counters("p").dropped(dp::Drop::kUntaggedNotInCvlans), 2u);
  EXPECT_EQ(dp::to_string(dp::Drop::kUntaggedNotInCvlans), "untagged_not_in_cvlans");
  // Without cvlans both are accepted.
  h.port(br, "all", tunnel(30));
  h.send("all", eth(kBcast, kA));
  h.send("all", eth(kBcast, kA, {{0x8100, 0, 5}}));
  EXPECT_EQ(h.take("ref").size(), 2u);
}

// xvlan_input_translate: the pushed service tag has PCP 0.
TEST_F(SeedSwitch, Dot1qTunnelServiceTagHasPcp0AndCustomerTagKeepsItsPcp) {
  make(tunnel(30));
  h.send("p", eth(kBcast, kA, {{0x8100, 100, 6}}));
  EXPECT_EQ(h.take("ref"), std::vector<Bytes>{eth(kBcast, kA, {{0x88a8, 30, 0}, {0x8100, 100, 6}}, 0x0800, 64)});
  // A priority tag with a PCP is the customer's tag too and keeps it.
  h.send("p", eth(kBcast, kA, {{0x8100, 0, 4}}));
  EXPECT_EQ(h.take("ref"), std::vector<Bytes>{eth(kBcast, kA, {{0x88a8, 30, 0}, {0x8100, 0, 4}}, 0x0800, 64)});
  // A priority tag of PCP 0 carries nothing: it is removed.
  h.send("p", eth(kBcast, kA, {{0x8100, 0, 0}}));
  EXPECT_EQ(h.take("ref"), std::vector<Bytes>{eth(kBcast, kA, {{0x88a8, 30, 0}}, 0x0800, 60)});
}

// xvlan_put: a remaining customer tag is the outermost tag; nothing goes on top.
TEST_F(SeedSwitch, PriorityTagsNeverAddAVid0TagOverACustomerTag) {
  dp::VlanConfig c = tunnel(30);
  c.priority_tags = dp::PriorityTags::kAlways;
  make(c);
  h.send("ref", eth(kBcast, kB, {{0x8100, 30, 5}, {0x8100, 100, 2}}));
  EXPECT_EQ(h.take("p"), std::vector<Bytes>{eth(kBcast, kB, {{0x8100, 100, 2}}, 0x0800, 56)});
  // A native-untagged port sending its native VLAN: same.
  dp::VlanConfig n;
  n.mode = dp::VlanMode::kNativeUntagged;
  n.pvid = 30;
  n.priority_tags = dp::PriorityTags::kIfNonzero;
  h.port(br, "n", n);
  h.send("ref", eth(kBcast, kB, {{0x8100, 30, 5}, {0x8100, 100, 2}}));
  EXPECT_EQ(h.take("n"), std::vector<Bytes>{eth(kBcast, kB, {{0x8100, 100, 2}}, 0x0800, 56)});
  h.take("p");
  // Without a customer tag the priority tag is still added.
  h.send("ref", eth(kBcast, kB, {{0x8100, 30, 5}}));
  EXPECT_EQ(h.take("p"), std::vector<Bytes>{eth(kBcast, kB, {{0x8100, 0, 5}})});
}

// ---------------------------------------------------------------- config rules

TEST(VlanConfig, RejectsOutOfRangeAndMisplacedKeys) {
  dp::VlanConfig c = access(4095);
  EXPECT_EQ(error_of(dp::validate(c)), "pvid 4095 is out of range 1-4094");
  c = access(10);
  c.allowed = vset({10});
  EXPECT_NE(error_of(dp::validate(c)).find("'allowed' applies to trunk"), std::string::npos);
  c = hybrid(10, {20}, {20});
  EXPECT_NE(error_of(dp::validate(c)).find("both 'tagged' and 'untagged'"), std::string::npos);
  c = trunk(10, {10});
  EXPECT_TRUE(dp::validate(c).ok());
}

TEST(VlanConfig, ParsesListsAndRanges) {
  dp::VlanSet s;
  EXPECT_TRUE(dp::add_vlan_item(s, "20-30").ok());
  EXPECT_TRUE(dp::add_vlan_item(s, " 5 ").ok());
  EXPECT_EQ(dp::vlan_set_str(s), "5,20-30");
  EXPECT_FALSE(dp::add_vlan_item(s, "0").ok());
  EXPECT_FALSE(dp::add_vlan_item(s, "4095").ok());
  EXPECT_FALSE(dp::add_vlan_item(s, "30-20").ok());
  EXPECT_FALSE(dp::add_vlan_item(s, "x").ok());
  EXPECT_FALSE(dp::add_vlan_item(s, "1-").ok());
}

}  // namespace
}  // namespace kvnet::testing
