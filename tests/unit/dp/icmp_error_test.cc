// ICMP "fragmentation needed" / ICMPv6 "packet too big" for what a tunnel
// cannot carry (net/icmp_error.h): the exact bytes, when none is sent, the
// rate limit, and the datapath switching the reply back to the sender.
#include "net/icmp_error.h"

#include <gtest/gtest.h>

#include <cstring>

#include "dp/datapath.h"
#include "packets.h"
#include "testing.h"

namespace kvnet::net {
namespace {

using testing::Bytes;
namespace pkt = testing::pkt;

constexpr uint64_t kA = 0x525400000001, kB = 0x525400000002;
constexpr uint64_t kSec = 1000000000ULL;
const uint32_t kIpA = 0x0a000001, kIpB = 0x0a000002;

Bytes hex(const char* s) {
  Bytes b;
  for (; s[0] && s[1]; s += 2) b.push_back(static_cast<uint8_t>(std::stoi(std::string(s, 2), nullptr, 16)));
  return b;
}

// A 1514-byte frame from A to B: IPv4 with DF, TCP (1460 bytes of data).
Bytes big_v4(uint16_t frag = 0x4000, uint8_t proto = 6, const Bytes& l4 = pkt::tcp(40000, 80, 0x10, 1460)) {
  Bytes b = testing::eth(kB, kA, {}, 0x0800, 14);
  pkt::append(b, pkt::ip4(proto, kIpA, kIpB, l4, frag));
  return b;
}

const uint8_t kV6A[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
const uint8_t kV6B[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
Bytes big_v6(uint8_t next = 6, const Bytes& l4 = pkt::tcp(40000, 80, 0x10, 1440), const uint8_t* dst = kV6B) {
  Bytes b = testing::eth(kB, kA, {}, 0x86dd, 14);
  pkt::append(b, pkt::ip6(next, kV6A, dst, l4));
  return b;
}

struct Made {
  bool ok;
  Bytes bytes;
  bool offload_left;
};
Made reply(const Bytes& in, size_t max_len, IcmpRateLimit& limit, uint64_t ts = kSec) {
  FramePool pool(1);
  Frame* f = pool.get();
  f->assign(in.data(), in.size());
  f->meta.ts_ns = ts;
  f->meta.vnet.flags = 1;  // a partial checksum the reply must not keep
  Made m;
  m.ok = reply_too_big(*f, max_len, limit);
  m.bytes.assign(f->data(), f->data() + f->len());
  m.offload_left = f->meta.vnet.flags != 0;
  pool.put(f);
  return m;
}

// The RFC 1071 sum of `b` (with a pseudo-header sum): 0 when its checksum is right.
uint16_t fold(const uint8_t* p, size_t n, uint32_t sum = 0) {
  for (size_t i = 0; i + 1 < n; i += 2) sum += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
  if (n & 1) sum += static_cast<uint32_t>(p[n - 1] << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

TEST(IcmpTooBig, Ipv4FragmentationNeededExactBytes) {
  IcmpRateLimit limit;
  const Bytes in = big_v4();
  const Made m = reply(in, 14 + 1450, limit);
  ASSERT_TRUE(m.ok);
  EXPECT_FALSE(m.offload_left);
  ASSERT_EQ(m.bytes.size(), 14u + 576u) << "at most 576 bytes of IP (RFC 1812)";
  // MACs swapped; IPv4: TOS 0xc0, length 576, TTL 64, ICMP, from B to A; ICMP 3/4, next-hop MTU 1450.
  const Bytes head = hex("525400000001525400000002080045c0024000000000400163fb0a0000020a00000103046f40000005aa");
  EXPECT_EQ(Bytes(m.bytes.begin(), m.bytes.begin() + 42), head);
  EXPECT_EQ(Bytes(m.bytes.begin() + 42, m.bytes.end()), Bytes(in.begin() + 14, in.begin() + 14 + 548))
      << "the original packet quoted from its IP header";
  EXPECT_EQ(fold(m.bytes.data() + 14, 20), 0) << "IPv4 header checksum";
  EXPECT_EQ(fold(m.bytes.data() + 34, m.bytes.size() - 34), 0) << "ICMP checksum";
}

TEST(IcmpTooBig, Ipv6PacketTooBigExactBytes) {
  IcmpRateLimit limit;
  const Bytes in = big_v6();
  const Made m = reply(in, 14 + 1450, limit);
  ASSERT_TRUE(m.ok);
  ASSERT_EQ(m.bytes.size(), 14u + 1280u) << "at most the minimum MTU (RFC 4443)";
  const Bytes head = hex(
      "52540000000152540000000286dd6000000004d83a40fd000000000000000000000000000002fd000000000000000000000000000001"
      "0200b203000005aa");
  EXPECT_EQ(Bytes(m.bytes.begin(), m.bytes.begin() + 62), head);
  EXPECT_EQ(Bytes(m.bytes.begin() + 62, m.bytes.end()), Bytes(in.begin() + 14, in.begin() + 14 + 1232));
  uint32_t pseudo = 58 + 1240;
  for (size_t i = 22; i < 54; i += 2) pseudo += static_cast<uint32_t>(m.bytes[i] << 8 | m.bytes[i + 1]);
  EXPECT_EQ(fold(m.bytes.data() + 54, m.bytes.size() - 54, pseudo), 0) << "ICMPv6 checksum over the pseudo header";
}

TEST(IcmpTooBig, TagsAreKeptAndTheMtuCountsFromTheIpHeader) {
  IcmpRateLimit limit;
  Bytes in = testing::eth(kB, kA, {{0x8100, 10, 5}}, 0x0800, 18);
  pkt::append(in, pkt::ip4(6, kIpA, kIpB, pkt::tcp(40000, 80, 0x10, 1460), 0x4000));
  const Made m = reply(in, 18 + 1450, limit);
  ASSERT_TRUE(m.ok);
  EXPECT_EQ(Bytes(m.bytes.begin() + 12, m.bytes.begin() + 18), hex("8100a00a0800")) << "VLAN 10, PCP 5";
  EXPECT_EQ(m.bytes[18 + 20], 3);
  EXPECT_EQ(m.bytes[18 + 26] << 8 | m.bytes[18 + 27], 1450);
}

TEST(IcmpTooBig, NoneForWhatARouterWouldNotAnswer) {
  auto none = [](const Bytes& in, const char* why) {
    IcmpRateLimit limit;
    const Made m = reply(in, 14 + 1450, limit);
    EXPECT_FALSE(m.ok) << why;
    EXPECT_EQ(m.bytes, in) << why << ": the frame is left as it was";
    EXPECT_EQ(limit.tokens, IcmpRateLimit::kBurst) << why << ": no token taken";
  };
  none(big_v4(0), "IPv4 without DF: a router would fragment it");
  none(big_v4(0x4000 | 185), "a later fragment");
  none(big_v4(0x4000, 1, pkt::icmp(3, 4, 0, 1450, Bytes(1472, 0))), "an ICMP error");
  none(big_v4(0x4000, 1, pkt::icmp(11, 0, 0, 0, Bytes(1472, 0))), "an ICMP time exceeded");
  Bytes bcast = big_v4();
  std::memset(bcast.data(), 0xff, 6);
  none(bcast, "a broadcast frame");
  Bytes mcast_ip = big_v4();
  mcast_ip[14 + 16] = 239;
  none(mcast_ip, "to a multicast address");
  Bytes zero_src = big_v4();
  std::memset(zero_src.data() + 14 + 12, 0, 4);
  none(zero_src, "from 0.0.0.0");
  const uint8_t mcast6[16] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  none(big_v6(6, pkt::tcp(40000, 80, 0x10, 1440), mcast6), "to an IPv6 multicast address");
  none(big_v6(58, pkt::icmp(1, 4, 0, 0, Bytes(1452, 0))), "an ICMPv6 error");
  Bytes later{6, 0, 0x05, 0xa8, 0, 0, 0, 1};  // fragment header, offset 181 * 8
  pkt::append(later, Bytes(1432, 0));
  none(big_v6(44, later), "an IPv6 later fragment");
  none(testing::eth(kB, kA, {}, 0x0806, 1514), "ARP");
  none(testing::eth(kB, kA, {}, 0x0800, 30), "a cut IPv4 header");
}

TEST(IcmpTooBig, EchoesAndFirstFragmentsAreAnswered) {
  IcmpRateLimit limit;
  EXPECT_TRUE(reply(big_v4(0x4000, 1, pkt::icmp(8, 0, 1, 1, Bytes(1472, 0))), 14 + 1450, limit).ok);
  Bytes first{6, 0, 0x00, 0x01, 0, 0, 0, 1};  // offset 0, more fragments
  pkt::append(first, pkt::tcp(40000, 80, 0x10, 1412));
  EXPECT_TRUE(reply(big_v6(44, first), 14 + 1450, limit).ok);
}

TEST(IcmpTooBig, RateLimitedPerBucket) {
  IcmpRateLimit limit;
  const Bytes in = big_v4();
  int made = 0;
  for (int i = 0; i < 50; ++i) made += reply(in, 14 + 1450, limit, 5 * kSec).ok;
  EXPECT_EQ(made, static_cast<int>(IcmpRateLimit::kBurst)) << "a burst, then nothing";
  EXPECT_FALSE(reply(in, 14 + 1450, limit, 5 * kSec + kSec / 200).ok) << "5 ms: half a token";
  EXPECT_TRUE(reply(in, 14 + 1450, limit, 5 * kSec + kSec / 100).ok) << "10 ms: one token (100/s)";
  made = 0;
  for (int i = 0; i < 50; ++i) made += reply(in, 14 + 1450, limit, 7 * kSec).ok;
  EXPECT_EQ(made, static_cast<int>(IcmpRateLimit::kBurst)) << "refilled, never above the burst";
}

// A backend that carries frames up to 1464 bytes and answers the others as a
// tunnel does (io/tunnel.cc): counted too_big, the reply in Port::bounced.
class SmallBackend final : public dp::PortBackend {
 public:
  explicit SmallBackend(std::vector<Bytes>* sent) : sent_(sent) {}
  void attach(dp::Port& p) override { port_ = &p; }
  uint32_t send(FrameBatch& batch, FramePool& pool) override {
    for (uint32_t i = 0; i < batch.count; ++i) {
      Frame* f = batch[i];
      if (f->len() > 1464) {
        port_->counters.drop(dp::Drop::kTooBig);
        if (!port_->bounced.full() && reply_too_big(*f, 1464, port_->icmp_limit)) {
          port_->bounced.add(f);
          continue;
        }
      } else {
        sent_->emplace_back(f->data(), f->data() + f->len());
      }
      pool.put(f);
    }
    const uint32_t n = batch.count;
    batch.clear();
    return n;
  }

 private:
  std::vector<Bytes>* sent_;
  dp::Port* port_ = nullptr;
};

TEST(IcmpTooBig, TheDatapathSwitchesTheReplyBackToTheSender) {
  testing::Harness h(64);
  dp::Bridge& br = h.bridge("br", dp::BridgeType::kSwitch);
  h.port(br, "a");
  h.dp.add_port(br, "t", dp::KindTag{"vxlan"}, 1500, {}, std::make_unique<SmallBackend>(&h.out["t"]));
  const size_t pool = h.dp.pool().available();
  h.send("t", testing::eth(kA, kB, {}, 0x0806, 60), kSec);  // B is behind the tunnel
  h.take("a");
  h.send("a", big_v4(), 2 * kSec);
  EXPECT_EQ(h.counters("t").dropped(dp::Drop::kTooBig), 1u);
  EXPECT_TRUE(h.take("t").empty());
  const auto back = h.take("a");
  ASSERT_EQ(back.size(), 1u) << "the ICMP error reaches the sender";
  EXPECT_EQ(Bytes(back[0].begin(), back[0].begin() + 42),
            hex("525400000001525400000002080045c0024000000000400163fb0a0000020a00000103046f40000005aa"));
  EXPECT_EQ(h.counters("t").rx_packets, 2u) << "received on the tunnel port, as a router's answer would be";
  h.send("a", big_v4(0), 3 * kSec);  // no DF: dropped, counted, not answered
  EXPECT_EQ(h.counters("t").dropped(dp::Drop::kTooBig), 2u);
  EXPECT_TRUE(h.take("a").empty());
  EXPECT_EQ(h.dp.pool().available(), pool) << "every frame back in the pool";
}

}  // namespace
}  // namespace kvnet::net
