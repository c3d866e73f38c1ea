// Port mirrors (dp/mirror.h): selection by source and destination ports and
// VLANs, one copy per destination and input frame, the reserved output
// port, the copy's VLAN encoding, output to a VLAN, counters, trace.
#include <gtest/gtest.h>

#include "dp/mirror.h"
#include "testing.h"

namespace kvnet::testing {
namespace {

constexpr uint64_t kA = 0x525400000001, kB = 0x525400000002, kBcast = 0xffffffffffff;

dp::MirrorConfig mirror(const std::string& name, std::vector<dp::Port*> src, std::vector<dp::Port*> dst,
                        dp::Port* out) {
  dp::MirrorConfig m;
  m.name = name;
  m.src = std::move(src);
  m.dst = std::move(dst);
  m.out_port = out;
  return m;
}

uint16_t vid_of(const Bytes& f) { return static_cast<uint16_t>((f[14] << 8 | f[15]) & 0x0fff); }
bool tagged(const Bytes& f) { return f.size() >= 18 && f[12] == 0x81 && f[13] == 0x00; }

struct SwitchMirror : ::testing::Test {
  Harness h;
  dp::Bridge& br = h.bridge("br", dp::BridgeType::kSwitch);
  dp::Port& a = h.port(br, "a", access(10));
  dp::Port& b = h.port(br, "b", access(10));
  dp::Port& c = h.port(br, "c", access(10));
  dp::Port& ids = h.port(br, "ids", access(10));

  const dp::MirrorCounters& counters(size_t i) { return br.mirrors().mirrors()[i].counters; }
};

TEST_F(SwitchMirror, SourcePortSelectsWhatItReceivesOnly) {
  h.dp.set_mirrors(br, {mirror("m", {&a}, {}, &ids)});
  h.send("a", eth(kB, kA));
  h.send("b", eth(kA, kB));  // b -> a: a sends it, it did not receive it
  const auto got = h.take("ids");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], eth(kB, kA));
  EXPECT_EQ(counters(0).tx_packets, 1u);
  EXPECT_EQ(counters(0).tx_bytes, 60u);
  EXPECT_EQ(h.take("b").size(), 1u);  // the frame itself goes on
}

TEST_F(SwitchMirror, DestinationPortSelectsWhatItSendsOnly) {
  h.dp.set_mirrors(br, {mirror("m", {}, {&a}, &ids)});
  h.send("a", eth(kB, kA));  // flooded to b and c, not sent by a
  EXPECT_TRUE(h.take("ids").empty());
  h.send("b", eth(kA, kB));  // known unicast to a
  const auto got = h.take("ids");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], eth(kA, kB));
}

TEST_F(SwitchMirror, OneCopyPerInputFrameHoweverOftenSelected) {
  // Received on a and flooded to b and c, all three selected; a second
  // mirror with the same output adds no copy.
  h.dp.set_mirrors(br, {mirror("m1", {&a}, {&b, &c}, &ids), mirror("m2", {}, {&c}, &ids)});
  h.send("a", eth(kBcast, kA));
  EXPECT_EQ(h.take("ids").size(), 1u);
  EXPECT_EQ(counters(0).tx_packets, 1u);
  EXPECT_EQ(counters(1).tx_packets, 0u);
  // The next input frame is mirrored again.
  h.send("a", eth(kBcast, kA));
  EXPECT_EQ(h.take("ids").size(), 1u);
}

TEST_F(SwitchMirror, EachInputFrameOfABatchIsItsOwn) {
  h.dp.set_mirrors(br, {mirror("m", {&a}, {&b}, &ids)});
  net::FrameBatch batch;
  for (int i = 0; i < 3; ++i) {
    net::Frame* f = h.dp.pool().get();
    const Bytes x = eth(kBcast, kA + static_cast<uint64_t>(i) * 0x100);
    f->assign(x.data(), x.size());
    batch.add(f);
  }
  h.dp.receive(a, batch);
  EXPECT_EQ(h.take("ids").size(), 3u);
}

TEST_F(SwitchMirror, OutputPortIsReservedForTheMirror) {
  h.dp.set_mirrors(br, {mirror("m", {&b}, {}, &ids)});
  h.send("a", eth(kBcast, kA));  // a flood skips the output port
  EXPECT_TRUE(h.take("ids").empty());
  EXPECT_EQ(h.take("b").size(), 1u);
  h.send("ids", eth(kBcast, 0x525400000009));  // what it sends is dropped, not learned
  EXPECT_TRUE(h.take("a").empty());
  EXPECT_EQ(h.counters("ids").dropped(dp::Drop::kMirrorOutput), 1u);
  EXPECT_EQ(h.counters("ids").rx_packets, 1u);
  // Mirror gone: the port is an ordinary port again.
  h.dp.set_mirrors(br, {});
  h.send("a", eth(kBcast, kA));
  EXPECT_EQ(h.take("ids").size(), 1u);
}

TEST_F(SwitchMirror, ANewOutputPortForgetsWhatWasLearnedOnIt) {
  h.send("ids", eth(kBcast, kB));  // kB learned on ids
  for (const char* p : {"a", "b", "c"}) h.take(p);
  h.dp.set_mirrors(br, {mirror("m", {&c}, {}, &ids)});
  h.send("a", eth(kB, kA));  // unknown again: flooded, not sent to ids
  EXPECT_TRUE(h.take("ids").empty());
  EXPECT_EQ(h.take("b").size(), 1u);
}

TEST_F(SwitchMirror, SelectAllTakesInPortsAddedLater) {
  dp::MirrorConfig m = mirror("all", {}, {}, &ids);
  m.select_all = true;
  h.dp.set_mirrors(br, {m});
  h.port(br, "d", access(10));
  h.send("d", eth(kBcast, kA));
  EXPECT_EQ(h.take("ids").size(), 1u);
}

TEST_F(SwitchMirror, RemovingTheOutputPortStopsTheMirror) {
  h.dp.set_mirrors(br, {mirror("m", {&a}, {}, &ids)});
  h.dp.remove_port(ids);
  h.send("a", eth(kBcast, kA));
  EXPECT_EQ(h.take("b").size(), 1u);
  EXPECT_EQ(counters(0).tx_packets, 0u);
}

TEST_F(SwitchMirror, CountersSurviveAReconfigurationUnderTheSameName) {
  h.dp.set_mirrors(br, {mirror("m", {&a}, {}, &ids)});
  h.send("a", eth(kBcast, kA));
  h.dp.set_mirrors(br, {mirror("m", {&a, &b}, {}, &ids), mirror("n", {&c}, {}, &ids)});
  EXPECT_EQ(counters(0).tx_packets, 1u);
  EXPECT_EQ(counters(1).tx_packets, 0u);
}

TEST_F(SwitchMirror, TraceShowsTheMirrorStep) {
  h.dp.set_mirrors(br, {mirror("m", {&a}, {}, &ids)});
  dp::Trace t;
  h.dp.set_trace(&t, true);
  h.send("a", eth(kBcast, kA));
  h.dp.set_trace(nullptr);
  bool found = false;
  for (const auto& s : t.steps)
    if (s.stage == dp::TraceStage::kMirror) {
      found = true;
      EXPECT_EQ(dp::describe(s), "received on port a in VLAN 10: mirror m -> port ids (1 copy)");
    }
  EXPECT_TRUE(found);
  EXPECT_TRUE(h.take("ids").empty());  // a dry run sends nothing
  EXPECT_EQ(counters(0).tx_packets, 0u);
}

struct VlanMirror : ::testing::Test {
  Harness h;
  dp::Bridge& br = h.bridge("br", dp::BridgeType::kSwitch);
  dp::Port& a10 = h.port(br, "a10", access(10));
  dp::Port& b10 = h.port(br, "b10", access(10));
  dp::Port& a20 = h.port(br, "a20", access(20));
  dp::Port& t = h.port(br, "t", trunk(1, {1, 10, 20, 99}));
};

TEST_F(VlanMirror, SelectedVlansOnly) {
  dp::Port& ids = h.port(br, "ids", access(10));
  dp::MirrorConfig m = mirror("m", {}, {}, &ids);
  m.select_all = true;
  m.vlans = vset({20});
  h.dp.set_mirrors(br, {m});
  h.send("a10", eth(kBcast, kA));
  EXPECT_TRUE(h.take("ids").empty());
  h.send("a20", eth(kBcast, kA));
  const auto got = h.take("ids");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_FALSE(tagged(got[0]));  // an access output port: untagged, whatever its own VLAN
}

TEST_F(VlanMirror, TrunkOutputCarriesTheFramesVlanAsATag) {
  dp::Port& ids = h.port(br, "ids", trunk(1, {1}));  // membership does not matter
  h.dp.set_mirrors(br, {mirror("m", {&t, &a20}, {}, &ids)});
  h.send("a20", eth(kBcast, kA));
  h.send("t", eth(kBcast, kB, {{.vid = 10, .pcp = 5}}));
  h.send("t", eth(kBcast, kB));  // untagged on t: its pvid 1, the trunk's native VLAN
  const auto got = h.take("ids");
  ASSERT_EQ(got.size(), 3u);
  ASSERT_TRUE(tagged(got[0]));
  EXPECT_EQ(vid_of(got[0]), 20);
  ASSERT_TRUE(tagged(got[1]));
  EXPECT_EQ(vid_of(got[1]), 10);
  EXPECT_EQ(got[1][14] >> 5, 5);  // the priority stays
  EXPECT_EQ(got[1], eth(kBcast, kB, {{.vid = 10, .pcp = 5}}));
  EXPECT_FALSE(tagged(got[2]));  // VLAN 1 is ids' pvid: untagged
}

TEST_F(VlanMirror, SentFramesAreMirroredInTheirVlanNotAsTheirPortTagsThem) {
  dp::Port& ids = h.port(br, "ids", access(99));
  h.dp.set_mirrors(br, {mirror("m", {}, {&t}, &ids)});
  h.send("a10", eth(kBcast, kA));  // t sends it tagged 10; the access output gets it untagged
  ASSERT_EQ(h.take("t").size(), 1u);
  const auto got = h.take("ids");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], eth(kBcast, kA));
}

TEST_F(VlanMirror, FramesThePortRefusesAreNotMirrored) {
  dp::Port& ids = h.port(br, "ids", access(10));
  h.dp.set_mirrors(br, {mirror("m", {&t}, {}, &ids)});
  h.send("t", eth(kBcast, kA, {{.vid = 30}}));  // VLAN 30 is not allowed on t
  EXPECT_TRUE(h.take("ids").empty());
}

TEST_F(VlanMirror, OutputVlanFloodsTheCopyInThatVlan) {
  dp::Port& r99 = h.port(br, "r99", access(99));
  dp::MirrorConfig m = mirror("rspan", {&a10}, {}, nullptr);
  m.out_vlan = 99;
  h.dp.set_mirrors(br, {m});
  h.send("a10", eth(kB, kA));
  EXPECT_EQ(h.take("b10").size(), 1u);   // the frame itself (flooded in VLAN 10)
  const auto on_t = h.take("t");         // flood copy tagged 10, mirror copy tagged 99
  ASSERT_EQ(on_t.size(), 2u);
  std::vector<uint16_t> vids{vid_of(on_t[0]), vid_of(on_t[1])};
  std::sort(vids.begin(), vids.end());
  EXPECT_EQ(vids, (std::vector<uint16_t>{10, 99}));
  const auto on_r = h.take("r99");
  ASSERT_EQ(on_r.size(), 1u);
  EXPECT_EQ(on_r[0], eth(kB, kA));  // untagged on the access port of VLAN 99
  EXPECT_TRUE(h.take("a20").empty());
  EXPECT_EQ(br.mirrors().mirrors()[0].counters.tx_packets, 1u);
  (void)r99;
}

TEST_F(VlanMirror, OutputVlanSkipsFramesAlreadyInItAndReservedGroups) {
  h.port(br, "r99", access(99));
  dp::MirrorConfig m = mirror("rspan", {}, {}, nullptr);
  m.select_all = true;
  m.out_vlan = 99;
  h.dp.set_mirrors(br, {m});
  h.send("t", eth(kBcast, kA, {{.vid = 99}}));
  EXPECT_EQ(h.take("r99").size(), 1u);  // the frame itself, no copy
  h.send("a10", eth(0x0180c2000000, kA));  // STP: dropped by the switch, not mirrored to a VLAN
  EXPECT_TRUE(h.take("r99").empty());
  EXPECT_TRUE(h.take("t").empty());
}

TEST(HubMirror, CopiesTheFrameAsItIs) {
  Harness h;
  dp::Bridge& br = h.bridge("hub", dp::BridgeType::kHub);
  dp::Port& a = h.port(br, "a");
  h.port(br, "b");
  dp::Port& ids = h.port(br, "ids");
  h.dp.set_mirrors(br, {mirror("m", {&a}, {}, &ids)});
  const Bytes f = eth(kBcast, kA, {{.vid = 7}});
  h.send("a", f);
  const auto got = h.take("ids");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], f);
  EXPECT_EQ(h.take("b").size(), 1u);
}

TEST(PatchMirror, ACopyToAPatchPortCrossesToThePeerBridge) {
  Harness h;
  dp::Bridge& br = h.bridge("br", dp::BridgeType::kSwitch);
  dp::Bridge& mon = h.bridge("mon", dp::BridgeType::kHub);
  dp::Port& a = h.port(br, "a", access(10));
  h.port(br, "b", access(10));
  auto [out, in] = h.patch(br, "to-mon", trunk(1, {10}), mon, "from-br", {});
  h.port(mon, "sniffer");
  h.dp.set_mirrors(br, {mirror("m", {&a}, {}, out)});
  h.send("a", eth(kBcast, kA));
  const auto got = h.take("sniffer");
  ASSERT_EQ(got.size(), 1u);
  ASSERT_TRUE(tagged(got[0]));
  EXPECT_EQ(vid_of(got[0]), 10);
  (void)in;
}

TEST(MirrorPool, NoBufferForACopyIsCountedOnTheOutput) {
  Harness h(1);  // the received frame is the pool's only one
  dp::Bridge& br = h.bridge("br", dp::BridgeType::kHub);
  dp::Port& a = h.port(br, "a");
  h.port(br, "b");
  dp::Port& ids = h.port(br, "ids");
  h.dp.set_mirrors(br, {mirror("m", {&a}, {}, &ids)});
  h.send("a", eth(kBcast, kA));
  EXPECT_TRUE(h.take("ids").empty());
  EXPECT_EQ(h.counters("ids").dropped(dp::Drop::kNoBuffer), 1u);
  EXPECT_EQ(h.take("b").size(), 1u);  // the frame itself is not held up
  EXPECT_EQ(br.mirrors().mirrors()[0].counters.tx_packets, 0u);
  EXPECT_EQ(h.dp.pool().available(), 1u);
}

}  // namespace
}  // namespace kvnet::testing
