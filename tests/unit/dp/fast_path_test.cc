// What the datapath offers the kernel fast path (dp/fast_path.h): known
// unicast only, once per frame, with the tags it arrived with and the
// bridges it crossed; nothing from a flood, a trace or a bridge that opted
// out; and the epoch that outdates cached decisions moves with every change
// that could alter them, and only then.
#include <gtest/gtest.h>

#include "dp/firewall_stage.h"
#include "dp/packets.h"
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
    return p.name != refuse;
  }
  void port_removed(dp::Port& p) override { removed.push_back(p.name); }
  void offer(const dp::Port& in, const dp::Port& out, const net::Frame& f, uint32_t mtu) override {
    offers.push_back({in.name, out.name, f.meta.fast, Bytes(f.data(), f.data() + f.len()), mtu});
  }
  void publish(uint64_t) override {}
  void revalidate(uint64_t) override {}
  void sync() override {}
  void forget_conn(const dp::Conntrack&, uint32_t conn) override { forgotten.push_back(conn); }
  std::vector<uint32_t> forgotten;
  std::string refuse;  // a port the sink does not serve
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
    for (auto& [name, frames] : h.out) frames.clear();
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
  sink.refuse.assign(1, 'b');  // as a TAP kvnetd holds, or a tunnel: not a kernel port the programs serve
  dp::Bridge& br = h.bridge("br", dp::BridgeType::kLearning);
  h.port(br, "a");
  dp::Port& b = h.port(br, "b");
  EXPECT_FALSE(b.fast);
  learn_both("a", "b");
  h.send("a", eth(kB, kA));
  h.send("b", eth(kA, kB));
  EXPECT_TRUE(sink.offers.empty());
  EXPECT_EQ(h.take("b").size(), 1u);  // forwarded all the same
}

// A mirror's copies are never candidates: the copy of a frame to the
// mirror's output would otherwise be cached as the flow's only way out.
TEST_F(FastPathOffers, MirroredFramesAndTheirCopiesAreNot) {
  dp::Bridge& br = h.bridge("br", dp::BridgeType::kLearning);
  dp::Port& a = h.port(br, "a");
  h.port(br, "b");
  dp::Port& ids = h.port(br, "ids");
  learn_both("a", "b");
  dp::MirrorConfig m;
  m.name = "m";
  m.dst = {&a};
  m.out_port = &ids;
  h.dp.set_mirrors(br, {m});
  h.send("b", eth(kA, kB));
  EXPECT_TRUE(sink.offers.empty());
  EXPECT_EQ(h.take("a").size(), 1u);
  EXPECT_EQ(h.take("ids").size(), 1u);
  h.send("a", eth(kB, kA));  // a's own frames are not selected: offered
  ASSERT_EQ(sink.offers.size(), 1u);
  EXPECT_EQ(sink.offers[0].out, "b");
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

// A firewalled port: only an established connection's packets are offered,
// each with its connection; a FIN forgets the connection's entries.
TEST_F(FastPathOffers, AFirewallOffersOnlyEstablishedConnections) {
  using namespace kvnet::testing::pkt;
  dp::Bridge& br = h.bridge("br", dp::BridgeType::kSwitch);
  dp::Port& a = h.port(br, "a");
  h.port(br, "b");
  auto pol = std::make_shared<dp::FwPolicy>();
  pol->filtered = true;
  pol->groups = {"web"};
  dp::FwRule out;
  out.id = 1;
  out.ingress = false;
  out.proto = 6;
  out.port_min = out.port_max = 80;
  pol->rules = {out};
  h.dp.set_firewall(a, pol);
  learn_both("a", "b");
  constexpr uint32_t kIpA = 0x0a000001, kIpB = 0x0a000002;
  constexpr uint8_t kSyn = 0x02, kAck = 0x10, kFin = 0x01;
  auto seg = [&](bool from_a, uint8_t flags) {
    Bytes b = eth(from_a ? kB : kA, from_a ? kA : kB, {}, 0x0800, 0);
    append(b, from_a ? ip4(6, kIpA, kIpB, tcp(40000, 80, flags, 100)) : ip4(6, kIpB, kIpA, tcp(80, 40000, flags, 100)));
    h.send(from_a ? "a" : "b", b, 1);
  };
  seg(true, kSyn);
  seg(false, kSyn | kAck);
  seg(true, kAck);  // completes the handshake: the connection was SYN_RECV before it
  EXPECT_TRUE(sink.offers.empty());
  seg(true, kAck);
  seg(false, kAck);
  ASSERT_EQ(sink.offers.size(), 2u);
  EXPECT_EQ(sink.offers[0].meta.conns, 1);  // a's firewall, once each way
  EXPECT_EQ(sink.offers[1].meta.conns, 1);
  EXPECT_EQ(sink.offers[0].meta.conn[0], sink.offers[1].meta.conn[0]);
  EXPECT_NE(sink.offers[0].meta.conn_dir[0], sink.offers[1].meta.conn_dir[0]);
  seg(true, kFin | kAck);
  EXPECT_EQ(sink.offers.size(), 2u);
  ASSERT_EQ(sink.forgotten.size(), 1u);
  EXPECT_EQ(sink.forgotten[0], sink.offers[0].meta.conn[0]);
}

TEST(ConntrackRefresh, CountsAndKeepsAliveOnlyTheSameConnection) {
  using namespace kvnet::testing::pkt;
  dp::Conntrack ct(16);
  const Bytes syn = v4(17, 0x0a000001, 0x0a000002, udp(5000, 53, 10));
  net::FlowKey k;
  net::parse_flow(syn.data(), syn.size(), k);
  const dp::Conntrack::Packet p(k, syn.data(), syn.size(), 1);
  const auto c = ct.commit(p, 100, 0);
  ASSERT_EQ(c.result, dp::Conntrack::Commit::kCreated);
  const dp::Conntrack::Tuple* t = ct.tuple_of(c.conn, dp::Conntrack::Dir::kOrig, 200);
  ASSERT_NE(t, nullptr);
  const dp::Conntrack::Tuple orig = *t;
  const uint64_t udp_timeout = ct.timeouts().udp_unreplied_ns;
  EXPECT_TRUE(ct.refresh(c.conn, dp::Conntrack::Dir::kOrig, orig, udp_timeout, 5, 500, udp_timeout));
  const auto e = ct.entries(udp_timeout + 50);
  ASSERT_EQ(e.size(), 1u);  // alive past its first deadline thanks to the refresh
  EXPECT_EQ(e[0].packets[0], 6u);
  dp::Conntrack::Tuple other = orig;
  other.sport = 1;
  EXPECT_FALSE(ct.refresh(c.conn, dp::Conntrack::Dir::kOrig, other, udp_timeout, 1, 1, udp_timeout));
  EXPECT_FALSE(ct.refresh(c.conn, dp::Conntrack::Dir::kOrig, orig, 3 * udp_timeout, 1, 1, 3 * udp_timeout));  // expired
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
