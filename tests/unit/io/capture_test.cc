// Capture taps (io/capture.h) on a live datapath: what they see at each
// port's receive and send points, the filter, the VLAN and direction
// selection, the ring that never blocks (drops counted), --count, and that a
// port without taps has none at all.
#include <gtest/gtest.h>

#include "../dp/packets.h"
#include "io/capture.h"
#include "testing.h"

namespace kvnet::testing {
namespace {

constexpr uint64_t kA = 0x525400000001, kB = 0x525400000002, kBcast = 0xffffffffffff;

Bytes icmp_frame() { return pkt::v4(1, 0x0a000001, 0x0a000002, pkt::icmp(8, 0, 1, 1)); }
Bytes udp_frame(uint16_t dport = 53) { return pkt::v4(17, 0x0a000001, 0x0a000002, pkt::udp(1000, dport, 10)); }

std::shared_ptr<io::Capture> make(io::CaptureOptions o = {}) {
  auto c = io::Capture::create(o);
  EXPECT_TRUE(c) << c.error().message;
  return *c;
}

struct Record {
  io::ByteRing::Header h;
  Bytes data;
};
std::vector<Record> drain(io::Capture& c) {
  std::vector<Record> out;
  Record r;
  while (c.pop(r.h, r.data)) out.push_back(r);
  return out;
}

struct CaptureTest : ::testing::Test {
  Harness h;
  dp::Bridge& br = h.bridge("br", dp::BridgeType::kHub);
  dp::Port& a = h.port(br, "a");
  dp::Port& b = h.port(br, "b");
};

TEST_F(CaptureTest, PortsWithoutCapturesHaveNoTaps) {
  EXPECT_EQ(a.taps, nullptr);
  auto c = make();
  h.dp.add_tap(a, c);
  ASSERT_NE(a.taps, nullptr);
  EXPECT_TRUE(h.dp.remove_tap(a, c.get()));
  EXPECT_EQ(a.taps, nullptr);  // back to one null test per batch
  EXPECT_FALSE(h.dp.remove_tap(a, c.get()));
  h.send("a", icmp_frame());
  EXPECT_EQ(c->captured(), 0u);
  EXPECT_EQ(h.take("b").size(), 1u);
}

TEST_F(CaptureTest, SeesWhatThePortReceivesAndSendsWithWallClockTimes) {
  auto ca = make(), cb = make();
  h.dp.add_tap(a, ca);
  h.dp.add_tap(b, cb);
  timespec before{};
  clock_gettime(CLOCK_REALTIME, &before);
  h.send("a", icmp_frame());
  const auto ra = drain(*ca), rb = drain(*cb);
  ASSERT_EQ(ra.size(), 1u);
  ASSERT_EQ(rb.size(), 1u);
  EXPECT_EQ(ra[0].h.dir, static_cast<uint8_t>(dp::Direction::kIn));
  EXPECT_EQ(rb[0].h.dir, static_cast<uint8_t>(dp::Direction::kOut));
  EXPECT_EQ(ra[0].data, icmp_frame());
  EXPECT_EQ(rb[0].data, h.take("b")[0]);
  EXPECT_EQ(ra[0].h.orig_len, icmp_frame().size());
  EXPECT_GE(ra[0].h.ts_ns / 1000000000ULL, static_cast<uint64_t>(before.tv_sec));
}

TEST_F(CaptureTest, SeveralCapturesOfOnePortEachGetEverything) {
  auto c1 = make(), c2 = make();
  h.dp.add_tap(a, c1);
  h.dp.add_tap(a, c2);
  h.send("a", icmp_frame());
  h.send("a", udp_frame());
  EXPECT_EQ(drain(*c1).size(), 2u);
  EXPECT_EQ(drain(*c2).size(), 2u);
  EXPECT_TRUE(h.dp.remove_tap(a, c1.get()));
  h.send("a", icmp_frame());
  EXPECT_EQ(drain(*c1).size(), 0u);
  EXPECT_EQ(drain(*c2).size(), 1u);
}

TEST_F(CaptureTest, FilterIsATcpdumpExpression) {
  auto c = make({.filter = "icmp"});
  auto u = make({.filter = "udp dst port 53"});
  h.dp.add_tap(a, c);
  h.dp.add_tap(a, u);
  h.send("a", icmp_frame());
  h.send("a", udp_frame(53));
  h.send("a", udp_frame(54));
  const auto r = drain(*c);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].data, icmp_frame());
  const auto ru = drain(*u);
  ASSERT_EQ(ru.size(), 1u);
  EXPECT_EQ(ru[0].data, udp_frame(53));
}

TEST_F(CaptureTest, BadFilterNamesTheExpressionAndLibpcapsReason) {
  auto c = io::Capture::create({.filter = "tcp prot 80"});
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("'tcp prot 80'"), std::string::npos) << c.error().message;
  EXPECT_NE(c.error().message.find("syntax error"), std::string::npos) << c.error().message;
}

TEST_F(CaptureTest, DirectionSelectsReceivedOrSent) {
  auto in = make({.in = true, .out = false}), out = make({.in = false, .out = true});
  h.dp.add_tap(a, in);
  h.dp.add_tap(a, out);
  h.send("a", icmp_frame());  // a receives
  h.send("b", udp_frame());   // a sends
  const auto ri = drain(*in), ro = drain(*out);
  ASSERT_EQ(ri.size(), 1u);
  ASSERT_EQ(ro.size(), 1u);
  EXPECT_EQ(ri[0].data, icmp_frame());
  EXPECT_EQ(ro[0].data, udp_frame());
}

TEST_F(CaptureTest, FullRingCountsDropsAndNeverBlocks) {
  auto c = make({.ring_bytes = 4096});
  h.dp.add_tap(a, c);
  const Bytes big = eth(kBcast, kA, {}, 0x0800, 1000);
  for (int i = 0; i < 10; ++i) h.send("a", big);
  EXPECT_EQ(h.take("b").size(), 10u);  // forwarding went on
  EXPECT_EQ(c->captured(), 4u);        // 4 x (24 + 1000) bytes fit in 4096
  EXPECT_EQ(c->dropped(), 6u);
  EXPECT_EQ(drain(*c).size(), 4u);
  h.send("a", big);  // room again
  EXPECT_EQ(c->captured(), 5u);
}

TEST_F(CaptureTest, SnaplenCutsTheCopyNotTheOriginalLength) {
  auto c = make({.snaplen = 64});
  h.dp.add_tap(a, c);
  h.send("a", eth(kBcast, kA, {}, 0x0800, 500));
  const auto r = drain(*c);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].data.size(), 64u);
  EXPECT_EQ(r[0].h.orig_len, 500u);
}

TEST_F(CaptureTest, CountStopsTakingFrames) {
  auto c = make({.count = 3});
  h.dp.add_tap(a, c);
  for (int i = 0; i < 10; ++i) h.send("a", icmp_frame());
  EXPECT_EQ(c->captured(), 3u);
  EXPECT_TRUE(c->count_reached());
  EXPECT_EQ(drain(*c).size(), 3u);
}

TEST_F(CaptureTest, RemovedPortTellsItsCaptures) {
  auto c = make();
  h.dp.add_tap(a, c);
  EXPECT_FALSE(c->port_was_removed());
  (void)h.dp.remove_port(a);
  EXPECT_TRUE(c->port_was_removed());
}

TEST(CaptureVlan, TagElsePvidInElseSwitchedVlanOut) {
  Harness h;
  dp::Bridge& sw = h.bridge("sw", dp::BridgeType::kSwitch);
  dp::Port& acc = h.port(sw, "acc", access(10));
  dp::Port& tr = h.port(sw, "tr", trunk(1, {1, 10, 20}));
  auto v10_in = make({.out = false, .vlan = 10}), v10_out = make({.in = false, .vlan = 10});
  auto v20 = make({.vlan = 20});
  h.dp.add_tap(acc, v10_in);  // untagged on an access port: its pvid
  h.dp.add_tap(tr, v10_out);  // leaves the trunk tagged 10
  h.dp.add_tap(tr, v20);
  h.send("acc", eth(kBcast, kA, {}, 0x0800));
  EXPECT_EQ(drain(*v10_in).size(), 1u);
  const auto out = drain(*v10_out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(net::load_be16(out[0].data.data() + 12), 0x8100);
  EXPECT_EQ(drain(*v20).size(), 0u);
  // Tagged 20 into the trunk: matched by its tag.
  h.send("tr", eth(kBcast, kB, {{.vid = 20}}, 0x0800));
  EXPECT_EQ(drain(*v20).size(), 1u);
  // An untagged frame sent on the trunk's native VLAN 1 is in VLAN 1, not 10.
  auto v1 = make({.in = false, .vlan = 1});
  h.dp.add_tap(tr, v1);
  h.port(sw, "acc1", access(1));
  h.send("acc1", eth(kBcast, kA, {}, 0x0800));
  EXPECT_EQ(drain(*v1).size(), 1u);
  EXPECT_EQ(drain(*v10_out).size(), 0u);
}

TEST(CapturePatch, PatchPortsSeeWhatTheyHandOverAndWhatArrives) {
  Harness h;
  dp::Bridge& x = h.bridge("x", dp::BridgeType::kHub);
  dp::Bridge& y = h.bridge("y", dp::BridgeType::kHub);
  h.port(x, "px");
  h.port(y, "py");
  auto [xp, yp] = h.patch(x, "x-y", {}, y, "y-x", {});
  auto cx = make(), cy = make();
  h.dp.add_tap(*xp, cx);
  h.dp.add_tap(*yp, cy);
  h.send("px", icmp_frame());
  const auto rx = drain(*cx), ry = drain(*cy);
  ASSERT_EQ(rx.size(), 1u);
  ASSERT_EQ(ry.size(), 1u);
  EXPECT_EQ(rx[0].h.dir, static_cast<uint8_t>(dp::Direction::kOut));
  EXPECT_EQ(ry[0].h.dir, static_cast<uint8_t>(dp::Direction::kIn));
  EXPECT_EQ(h.take("py").size(), 1u);
}

TEST(CaptureTrace, DryRunTracesAreNotCaptured) {
  Harness h;
  dp::Bridge& x = h.bridge("x", dp::BridgeType::kHub);
  dp::Bridge& y = h.bridge("y", dp::BridgeType::kHub);
  h.port(x, "px");
  h.port(y, "py");
  auto [xp, yp] = h.patch(x, "x-y", {}, y, "y-x", {});
  auto c_in = make(), c_patch = make(), c_peer = make();
  h.dp.add_tap(*h.dp.find_port("px"), c_in);
  h.dp.add_tap(*xp, c_patch);
  h.dp.add_tap(*yp, c_peer);
  dp::Trace t;
  h.dp.set_trace(&t, true);
  h.send("px", icmp_frame());
  h.dp.set_trace(nullptr);
  EXPECT_EQ(c_in->captured() + c_patch->captured() + c_peer->captured(), 0u);
}

TEST(ByteRing, WrapsRecordsAroundItsEnd) {
  io::ByteRing r(4096);
  std::vector<uint8_t> data(1000), got;
  io::ByteRing::Header h{}, o{};
  for (int round = 0; round < 20; ++round) {
    for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i + round);
    h.caplen = h.orig_len = static_cast<uint32_t>(data.size() - round);
    h.ts_ns = round;
    ASSERT_TRUE(r.push(h, data.data()));
    ASSERT_TRUE(r.push(h, data.data()));
    for (int k = 0; k < 2; ++k) {
      ASSERT_TRUE(r.pop(o, got));
      EXPECT_EQ(o.ts_ns, static_cast<uint64_t>(round));
      EXPECT_EQ(got, std::vector<uint8_t>(data.begin(), data.begin() + h.caplen));
    }
    EXPECT_TRUE(r.empty());
  }
}

}  // namespace
}  // namespace kvnet::testing
