// What the datapath offers the kernel fast path (dp/fast_path.h): known
// unicast only, once per frame, with the tags it arrived with and the
// bridges it crossed; nothing from a flood, a trace or a bridge that opted
// out; and the epoch that outdates cached decisions moves with every change
// that could alter them, and only then.
#include <gtest/gtest.h>

#include "testing.h"

namespace kvnet::testing {
namespace {

constexpr uint64_t kA = 0x525400000001, kB = 0x525400000002, kBcast = 0xffffffffffff;

struct Offer {
  std::string in, out;
  net::FastMeta meta;
  Bytes frame;
  uint32_t mtu;
};

class RecordingSink final : public dp::FastPathSink {
 public:
  bool port_added(dp::Port& p) override {
    added.push_back(p.name);
    return !p.patch;
  }
  void port_removed(dp::Port& p) override { removed.push_back(p.name); }
  void offer(const dp::Port& in, const dp::Port& out, const net::Frame& f, uint32_t mtu) override {
    offers.push_back({in.name, out.name, f.meta.fast, Bytes(f.data(), f.data() + f.len()), mtu});
  }
  void publish(uint64_t) override {}
  void revalidate(uint64_t) override {}
  void sync() override {}
  std::vector<std::string> added, removed;
  std::vector<Offer> offers;
};

struct FastPathOffers : ::testing::Test {
  Harness h;
  RecordingSink sink;
  void SetUp() override { h.dp.set_fast_path(&sink); }
  // Both stations known: a's and b's first frames flood (not offered).
  void learn_both(const std::string& pa, const std::string& pb, std::vector<Tag> ta = {}, std::vector<Tag> tb = {}) {
    h.send(pa, eth(kBcast, kA, ta));
    h.send(pb, eth(kBcast, kB, tb));
    sink.offers.clear();
  }
};

TEST_F(FastPathOffers, KnownUnicastIsOfferedOnceWithItsWay) {
  dp::Bridge& br = h.bridge("br", dp::BridgeType::kSwitch);
  h.port(br, "a", access(10), 9000);
  h.port(br, "b", access(10), 1500);
  learn_both("a", "b");
  h.send("a", eth(kB, kA));
  ASSERT_EQ(sink.offers.size(), 1u);
  const Offer& o = sink.offers[0];
  EXPECT_EQ(o.in, "a");
  EXPECT_EQ(o.out, "b");
  EXPECT_EQ(o.meta.tags, 0);
  ASSERT_EQ(o.meta.hops, 1);
  EXPECT_EQ(o.meta.hop_vlan[0], 10);
  EXPECT_EQ(o.mtu, 1500u);  // the smaller of the two ports'
  EXPECT_FALSE(o.meta.ok);  // offered once: a second output would not offer again
  EXPECT_EQ(h.take("b").size(), 1u);
}

TEST_F(FastPathOffers, FloodsBroadcastsAndUnknownDestinationsAreNot) {
  dp::Bridge& br = h.bridge("br", dp::BridgeType::kLearning);
  h.port(br, "a");
  h.port(br, "b");
  h.send("a", eth(kB, kA));      // b unknown: flood
  h.send("a", eth(kBcast, kA));  // broadcast
  h.send("b", eth(0x01005e000001, kB));  // multicast
  EXPECT_TRUE(sink.offers.empty());
  h.send("a", eth(kB, kA));  // b is known now (it sent)
  ASSERT_EQ(sink.offers.size(), 1u);
  EXPECT_EQ(sink.offers[0].meta.hop_vlan[0], 0);  // a VLAN-unaware bridge
}

TEST_F(FastPathOffers, TaggedIngressAndThePatchPairAreRecorded) {
  dp::Bridge& b0 = h.bridge("b0", dp::BridgeType::kSwitch);
  dp::Bridge& b1 = h.bridge("b1", dp::BridgeType::kSwitch);
  h.port(b0, "t", trunk(1, {10}));
  h.port(b1, "c", access(10), 1400);
  h.patch(b0, "p0", trunk(1, {10}), b1, "p1", trunk(1, {10}));
  learn_both("t", "c", {{net::kEthTypeVlan, 10}}, {});
  h.send("t", eth(kB, kA, {{net::kEthTypeVlan, 10, 3}}));
  ASSERT_EQ(sink.offers.size(), 1u);
  const Offer& o = sink.offers[0];
  EXPECT_EQ(o.in, "t");
  EXPECT_EQ(o.out, "c");
  ASSERT_EQ(o.meta.tags, 1);
  EXPECT_EQ(o.meta.tci[0], (3 << 13) | 10);  // the whole TCI: the priority counts
  ASSERT_EQ(o.meta.hops, 2);
  EXPECT_EQ(h.dp.port(o.meta.hop_port[1]).name, "p1");
  EXPECT_EQ(o.mtu, 1400u);
  EXPECT_EQ(net::load_be16(o.frame.data() + 12), 0x0800);  // leaves untagged (access)
}

TEST_F(FastPathOffers, NothingFromABridgeThatOptsOutOrATrace) {
  dp::BridgeSettings off;
  off.fast_path = false;
  dp::Bridge& br = h.bridge("br", dp::BridgeType::kLearning, off);
  h.port(br, "a");
  h.port(br, "b");
  learn_both("a", "b");
  h.send("a", eth(kB, kA));
  EXPECT_TRUE(sink.offers.empty());
  dp::BridgeSettings on;
  br.set_settings(on);
  dp::Trace t;
  h.dp.set_trace(&t);
  h.send("a", eth(kB, kA));
  h.dp.set_trace(nullptr);
  EXPECT_TRUE(sink.offers.empty());
  h.send("a", eth(kB, kA));
  EXPECT_EQ(sink.offers.size(), 1u);
}

TEST_F(FastPathOffers, NothingWhenTheWayOutIsNotAFastPort) {
  dp::Bridge& b0 = h.bridge("b0", dp::BridgeType::kLearning);
  h.port(b0, "a");
  dp::Port& p = h.dp.add_port(b0, "p", dp::kPatchKind, 1500, {}, nullptr);  // a patch port with no peer
  (void)p;
  h.port(b0, "b");
  learn_both("a", "b");
  EXPECT_EQ(std::count(sink.added.begin(), sink.added.end(), "p"), 1);
  h.send("a", eth(kB, kA));
  EXPECT_EQ(sink.offers.size(), 1u);
}

TEST_F(FastPathOffers, TheEpochMovesWithChangesThatCouldAlterADecision) {
  dp::Bridge& br = h.bridge("br", dp::BridgeType::kSwitch);
  dp::Port& a = h.port(br, "a", access(10));
  h.port(br, "b", access(10));
  dp::Port& c = h.port(br, "c", access(10));
  learn_both("a", "b");
  uint64_t e = h.dp.epoch();
  h.send("a", eth(kB, kA));  // a refresh of a known station: no change
  EXPECT_EQ(h.dp.epoch(), e);
  h.send("c", eth(kBcast, kA));  // a moved to c
  EXPECT_GT(h.dp.epoch(), e);
  e = h.dp.epoch();
  h.dp.reconfigure_port(a, access(20), 1500);
  EXPECT_GT(h.dp.epoch(), e);
  e = h.dp.epoch();
  br.fdb()->add_static(10, kB, c.id);
  EXPECT_GT(h.dp.epoch(), e);
  e = h.dp.epoch();
  br.fdb()->flush();
  EXPECT_GT(h.dp.epoch(), e);
  e = h.dp.epoch();
  h.dp.remove_port(c);
  EXPECT_GT(h.dp.epoch(), e);
  EXPECT_EQ(sink.removed, std::vector<std::string>{"c"});
}

TEST_F(FastPathOffers, AgingAStationOutMovesTheEpoch) {
  dp::BridgeSettings s;
  s.mac_aging_sec = 1;
  dp::Bridge& br = h.bridge("br", dp::BridgeType::kLearning, s);
  h.port(br, "a");
  h.port(br, "b");
  h.send("a", eth(kBcast, kA), 1);
  const uint64_t e = h.dp.epoch();
  br.fdb()->age(3'000'000'000ULL);
  EXPECT_GT(h.dp.epoch(), e);
}

TEST_F(FastPathOffers, TouchRefreshesOnlyTheStationAtItsPort) {
  dp::Fdb fdb(16, 1'000'000'000ULL);
  fdb.learn(0, kA, 1, 100);
  fdb.touch(0, kA, 2, 500'000'000ULL);  // not where it is: nothing
  EXPECT_EQ(fdb.lookup(0, kA, 1'050'000'000ULL), dp::kNoPort);
  fdb.learn(0, kA, 1, 100);
  fdb.touch(0, kA, 1, 900'000'000ULL);
  EXPECT_EQ(fdb.lookup(0, kA, 1'500'000'000ULL), 1u);  // alive thanks to the touch
}

}  // namespace
}  // namespace kvnet::testing
