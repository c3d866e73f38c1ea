// The pipeline's seams: a stage of a port's own runs at its ingress and
// egress on every bridge type without the bridge types knowing of it (where
// the firewall goes); built-in stages count by name; a dry run changes no
// counter.
#include <gtest/gtest.h>

#include <thread>

#include "dp/datapath.h"
#include "dp/pipeline.h"
#include "testing.h"

namespace kvnet::testing {
namespace {

// Drops frames from one source MAC; counts what it saw and dropped.
class BlockSource final : public dp::Stage {
 public:
  explicit BlockSource(uint64_t mac) : mac_(mac) {}
  std::string_view name() const override { return "block-source"; }
  void process(dp::PipelineContext& ctx, dp::Port& port, net::FrameBatch& batch) override {
    dp::keep_if(batch, [&](net::Frame* f) {
      ++c_[0].value;
      seen_vlans.push_back(f->meta.vlan);
      if (f->key.dl_src.u64() != mac_) return true;
      ++c_[1].value;
      ctx.drop(port, f, dp::Drop::kTxError);
      return false;
    });
  }
  std::span<const dp::StageCounter> counters() const override { return c_; }
  std::vector<uint16_t> seen_vlans;

 private:
  uint64_t mac_;
  dp::StageCounter c_[2] = {{"seen"}, {"blocked"}};
};

constexpr uint64_t kA = 0x525400000001, kB = 0x525400000002, kBcast = 0xffffffffffff;
constexpr uint64_t kBlocked = 0x020000000066;

class PortStages : public ::testing::TestWithParam<dp::BridgeType> {};

TEST_P(PortStages, IngressStageOfAPortRunsOnWhatEntersIt) {
  Harness h;
  auto& br = h.bridge("b", GetParam());
  dp::Port& a = h.port(br, "a");
  h.port(br, "z");
  auto stage = std::make_unique<BlockSource>(kBlocked);
  BlockSource* s = stage.get();
  a.ingress.push_back(std::move(stage));
  h.send("a", eth(kBcast, kBlocked));
  h.send("a", eth(kBcast, kA));
  h.send("z", eth(kBcast, kBlocked));  // another port: not its stage
  EXPECT_EQ(h.take("z").size(), 1u);
  EXPECT_EQ(h.take("a").size(), 1u);
  EXPECT_EQ(s->counters()[0].value, 2u);
  EXPECT_EQ(s->counters()[1].value, 1u);
  EXPECT_EQ(h.counters("a").dropped(dp::Drop::kTxError), 1u);
  EXPECT_EQ(h.dp.pool().available(), h.dp.pool().size());
}

TEST_P(PortStages, EgressStageOfAPortRunsOnWhatLeavesIt) {
  Harness h;
  auto& br = h.bridge("b", GetParam());
  h.port(br, "a");
  dp::Port& z = h.port(br, "z");
  h.port(br, "y");
  auto stage = std::make_unique<BlockSource>(kBlocked);
  BlockSource* s = stage.get();
  z.egress.push_back(std::move(stage));
  h.send("a", eth(kBcast, kBlocked));
  EXPECT_EQ(h.take("z").size(), 0u);  // blocked on its way out of z only
  EXPECT_EQ(h.take("y").size(), 1u);
  EXPECT_EQ(s->counters()[1].value, 1u);
  EXPECT_EQ(h.counters("z").dropped(dp::Drop::kTxError), 1u);
  EXPECT_EQ(h.dp.pool().available(), h.dp.pool().size());
}

INSTANTIATE_TEST_SUITE_P(EveryBridgeType, PortStages,
                         ::testing::Values(dp::BridgeType::kHub, dp::BridgeType::kLearning, dp::BridgeType::kSwitch),
                         [](const auto& info) { return std::string(dp::to_string(info.param)); });

TEST(PortStages, OnASwitchTheyRunBetweenVlanClassificationAndTagging) {
  Harness h;
  auto& br = h.bridge("b", dp::BridgeType::kSwitch);
  dp::Port& a = h.port(br, "a", access(10));
  dp::Port& t = h.port(br, "t", trunk(1, {10}));
  auto in = std::make_unique<BlockSource>(0);
  auto out = std::make_unique<BlockSource>(0);
  BlockSource* si = in.get();
  BlockSource* so = out.get();
  a.ingress.push_back(std::move(in));
  t.egress.push_back(std::move(out));
  h.send("a", eth(kBcast, kA));
  EXPECT_EQ(si->seen_vlans, (std::vector<uint16_t>{10}));  // classified already
  EXPECT_EQ(so->seen_vlans, (std::vector<uint16_t>{10}));
  auto sent = h.take("t");
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0][12], 0x81);  // tagged after the port's egress stage
}

uint64_t counter(const dp::Stage& s, std::string_view name) {
  for (const auto& c : s.counters())
    if (c.name == name) return c.value;
  ADD_FAILURE() << "no counter " << name << " in " << s.name();
  return 0;
}

TEST(BuiltInStages, CountByNameAndADryRunChangesNothing) {
  Harness h;
  auto& br = h.bridge("b", dp::BridgeType::kSwitch);
  h.port(br, "a", access(10));
  h.port(br, "t", trunk(1, {10, 20}));
  ASSERT_EQ(br.ingress_stages().size(), 2u);
  ASSERT_EQ(br.egress_stages().size(), 1u);
  const dp::Stage& l2 = *br.ingress_stages()[0];
  const dp::Stage& vin = *br.ingress_stages()[1];
  const dp::Stage& vout = *br.egress_stages()[0];
  EXPECT_EQ(l2.name(), "l2-check");
  EXPECT_EQ(vin.name(), "vlan-in");
  EXPECT_EQ(vout.name(), "vlan-out");
  h.send("a", eth(kBcast, kA));
  h.send("a", eth(kBcast, kA, {Tag{.vid = 10}}));  // tagged on access: dropped by vlan-in
  h.send("a", eth(kBcast, kBcast));          // multicast source: dropped by l2-check
  EXPECT_EQ(counter(l2, "passed"), 2u);
  EXPECT_EQ(counter(l2, "bad_src_mac"), 1u);
  EXPECT_EQ(counter(vin, "accepted"), 1u);
  EXPECT_EQ(counter(vin, "dropped"), 1u);
  EXPECT_EQ(counter(vout, "tagged"), 1u);
  dp::Trace tr;
  h.dp.set_trace(&tr, /*dry_run=*/true);
  h.send("a", eth(kBcast, kB));
  h.dp.set_trace(nullptr);
  EXPECT_EQ(counter(l2, "passed"), 2u);
  EXPECT_EQ(counter(vin, "accepted"), 1u);
  EXPECT_EQ(counter(vout, "tagged"), 1u);
  EXPECT_EQ(h.counters("a").rx_packets, 3u);
  EXPECT_FALSE(tr.steps.empty());
}

}  // namespace
}  // namespace kvnet::testing

namespace kvnet::testing {
namespace {

#ifndef NDEBUG
TEST(DatapathOwner, MutatorsAssertTheyRunOnTheOwningThread) {
  dp::Datapath d(64);
  std::thread other([] {});
  const std::thread::id id = other.get_id();
  other.join();
  d.set_owner(id);  // as io::Runtime does for its thread
  EXPECT_DEATH(d.add_bridge("b", dp::BridgeType::kHub), "datapath changed outside its thread");
  d.set_owner(std::this_thread::get_id());
  d.add_bridge("b", dp::BridgeType::kHub);
}
#endif

}  // namespace
}  // namespace kvnet::testing

namespace kvnet::testing {
namespace {

// A frame flooded by one switch is checked against the egress rules of the
// next switch again: a flood's "carried" mark does not cross a patch.
TEST(SwitchEgress, AFloodMarkDoesNotCrossAPatch) {
  Harness h;
  auto& a = h.bridge("a", dp::BridgeType::kSwitch);
  auto& b = h.bridge("b", dp::BridgeType::kSwitch);
  dp::VlanConfig tunnel;
  tunnel.mode = dp::VlanMode::kDot1qTunnel;
  tunnel.pvid = 30;
  tunnel.qinq_tpid = 0x8100;
  h.port(a, "in", tunnel);
  h.patch(a, "x", trunk(1, {30}), b, "y", trunk(1, {30}));
  h.port(b, "acc", access(30));
  constexpr uint64_t kDst = 0x525400000099;
  b.fdb()->add_static(30, kDst, h.dp.find_port("acc")->id);
  // Customer VLAN 100 inside service VLAN 30: unknown in a (flood), known in b.
  h.send("in", eth(kDst, 0x525400000001, {Tag{.vid = 100}}));
  EXPECT_TRUE(h.take("acc").empty()) << "an access port sent a frame that still carries an inner tag";
  EXPECT_EQ(h.dp.pool().available(), h.dp.pool().size());
}

}  // namespace
}  // namespace kvnet::testing
