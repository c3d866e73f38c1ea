// ARP and ND suppression (dp/neighbors.h): a switch with a neighbour table
// answers requests for the addresses it knows, in the frame's VLAN, out of
// the ingress port only; everything else is switched as before.
#include <gtest/gtest.h>

#include "dp/datapath.h"
#include "dp/neighbors.h"
#include "net/headers.h"
#include "packets.h"
#include "testing.h"

namespace kvnet::testing {
namespace {

constexpr uint64_t kA = 0x020000000001, kB = 0x020000000002, kBcast = 0xffffffffffff;
constexpr uint32_t kIpA = 0x0a000001, kIpB = 0x0a000002;  // 10.0.0.1, 10.0.0.2

Bytes arp_request(uint64_t src_mac, uint32_t spa, uint32_t tpa, std::vector<Tag> tags = {}) {
  Bytes b = eth(kBcast, src_mac, std::move(tags), net::kEthTypeArp, 0);
  auto p16 = [&](uint16_t v) { b.push_back(uint8_t(v >> 8)), b.push_back(uint8_t(v)); };
  auto p32 = [&](uint32_t v) { p16(uint16_t(v >> 16)), p16(uint16_t(v)); };
  auto pmac = [&](uint64_t m) {
    for (int i = 40; i >= 0; i -= 8) b.push_back(uint8_t(m >> i));
  };
  p16(1), p16(0x0800), b.push_back(6), b.push_back(4), p16(1);
  pmac(src_mac), p32(spa), pmac(0), p32(tpa);
  while (b.size() < 60) b.push_back(0);
  return b;
}

std::array<uint8_t, 16> v6addr(uint8_t last) {
  std::array<uint8_t, 16> a{0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, last};
  return a;
}

Bytes neighbor_solicit(uint64_t src_mac, const uint8_t* src, const uint8_t* target) {
  Bytes icmp = {135, 0, 0, 0, 0, 0, 0, 0};
  icmp.insert(icmp.end(), target, target + 16);
  Bytes opt = {1, 1};
  for (int i = 40; i >= 0; i -= 8) opt.push_back(uint8_t(src_mac >> i));
  icmp.insert(icmp.end(), opt.begin(), opt.end());
  uint8_t dst[16] = {0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, target[13], target[14], target[15]};
  Bytes ip = pkt::ip6(net::kIpProtoIcmpv6, src, dst, icmp);
  ip[7] = 255;  // hop limit
  uint32_t pseudo = net::kIpProtoIcmpv6 + uint32_t(icmp.size());
  for (size_t i = 8; i < 40; i += 2) pseudo += net::load_be16(ip.data() + i);
  net::store_be16(ip.data() + 42, net::inet_checksum(ip.data() + 40, icmp.size(), pseudo));
  Bytes f = eth(0x3333ff000000 | target[15], src_mac, {}, net::kEthTypeIpv6, 0);
  f.insert(f.end(), ip.begin(), ip.end());
  return f;
}

std::shared_ptr<dp::NeighborTable> table() {
  auto t = std::make_shared<dp::NeighborTable>();
  uint8_t ip[4] = {10, 0, 0, 2};
  t->add(10, ip, 4, mac(kB), "network blue, host h2");
  auto b6 = v6addr(2);
  t->add(10, b6.data(), 16, mac(kB), "network blue, host h2");
  return t;
}

struct Switch {
  Harness h;
  dp::Bridge& br = h.bridge("br-int", dp::BridgeType::kSwitch);
  Switch() {
    h.port(br, "a", access(10));
    h.port(br, "other", access(10));
    h.port(br, "tun", trunk(0, {10, 20}));
  }
  uint64_t counter(std::string_view name) {
    for (const auto& s : br.ingress_stages())
      if (s->name() == "arp-suppress")
        for (const auto& c : s->counters())
          if (c.name == name) return c.value;
    return 0;
  }
};

TEST(ArpSuppress, AnswersAKnownAddressOutOfTheIngressPortOnly) {
  Switch s;
  s.br.set_neighbors(table());
  s.h.send("a", arp_request(kA, kIpA, kIpB));
  auto r = s.h.take("a");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_TRUE(s.h.take("other").empty());
  EXPECT_TRUE(s.h.take("tun").empty());  // never over the tunnel
  const Bytes& f = r[0];
  EXPECT_EQ(net::Mac::from_bytes(f.data()).u64(), kA);
  EXPECT_EQ(net::Mac::from_bytes(f.data() + 6).u64(), kB);
  EXPECT_EQ(net::load_be16(f.data() + 12), net::kEthTypeArp);
  EXPECT_EQ(net::load_be16(f.data() + 20), 2);  // reply
  EXPECT_EQ(net::Mac::from_bytes(f.data() + 22).u64(), kB);
  EXPECT_EQ(net::load_be32(f.data() + 28), kIpB);
  EXPECT_EQ(net::Mac::from_bytes(f.data() + 32).u64(), kA);
  EXPECT_EQ(net::load_be32(f.data() + 38), kIpA);
  EXPECT_EQ(s.counter("arp_answered"), 1u);
  EXPECT_EQ(s.h.dp.pool().available(), s.h.dp.pool().size());
}

TEST(ArpSuppress, UnknownTargetsAndOtherVlansAreFlooded) {
  Switch s;
  s.br.set_neighbors(table());
  s.h.send("a", arp_request(kA, kIpA, 0x0a000009));
  EXPECT_EQ(s.h.take("other").size(), 1u);
  EXPECT_EQ(s.h.take("tun").size(), 1u);
  EXPECT_TRUE(s.h.take("a").empty());
  // 10.0.0.2 is known in VLAN 10 only: a request in VLAN 20 is not answered.
  s.h.send("tun", arp_request(kA, kIpA, kIpB, {{net::kEthTypeVlan, 20, 0}}));
  EXPECT_TRUE(s.h.take("tun").empty());
  EXPECT_EQ(s.counter("not_known"), 2u);
  EXPECT_EQ(s.counter("arp_answered"), 0u);
}

TEST(ArpSuppress, GratuitousArpAndTheOwnersProbeAreNotAnswered) {
  Switch s;
  s.br.set_neighbors(table());
  s.h.send("a", arp_request(kA, kIpB, kIpB));  // gratuitous (announces 10.0.0.2)
  EXPECT_EQ(s.h.take("other").size(), 1u);
  s.h.send("other", arp_request(kB, 0, kIpB));  // the owner probes its own address
  EXPECT_EQ(s.h.take("a").size(), 1u);
  EXPECT_TRUE(s.h.take("other").empty());
  EXPECT_EQ(s.counter("arp_answered"), 0u);
}

TEST(ArpSuppress, ATrunkGetsTheAnswerTaggedInTheRequestsVlan) {
  Switch s;
  s.br.set_neighbors(table());
  s.h.send("tun", arp_request(kA, kIpA, kIpB, {{net::kEthTypeVlan, 10, 3}}));
  auto r = s.h.take("tun");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(net::load_be16(r[0].data() + 12), net::kEthTypeVlan);
  EXPECT_EQ(net::load_be16(r[0].data() + 14) & 0x0fff, 10);
  EXPECT_EQ(net::load_be16(r[0].data() + 14) >> 13, 3);  // its priority kept
  EXPECT_EQ(net::load_be16(r[0].data() + 16), net::kEthTypeArp);
  EXPECT_EQ(net::load_be16(r[0].data() + 24), 2);
  EXPECT_TRUE(s.h.take("a").empty());
}

TEST(ArpSuppress, NeighbourSolicitationGetsAValidAdvertisement) {
  Switch s;
  s.br.set_neighbors(table());
  auto src = v6addr(1), tgt = v6addr(2);
  s.h.send("a", neighbor_solicit(kA, src.data(), tgt.data()));
  auto r = s.h.take("a");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_TRUE(s.h.take("tun").empty());
  const Bytes& f = r[0];
  ASSERT_EQ(f.size(), 14u + 40 + 32);
  EXPECT_EQ(net::Mac::from_bytes(f.data()).u64(), kA);
  EXPECT_EQ(net::Mac::from_bytes(f.data() + 6).u64(), kB);
  const uint8_t* ip = f.data() + 14;
  EXPECT_EQ(ip[7], 255);
  EXPECT_EQ(std::memcmp(ip + 8, tgt.data(), 16), 0);   // from the target
  EXPECT_EQ(std::memcmp(ip + 24, src.data(), 16), 0);  // to the solicitor
  const uint8_t* icmp = ip + 40;
  EXPECT_EQ(icmp[0], 136);
  EXPECT_EQ(icmp[4], 0x60);  // solicited, override
  EXPECT_EQ(std::memcmp(icmp + 8, tgt.data(), 16), 0);
  EXPECT_EQ(icmp[24], 2);
  EXPECT_EQ(net::Mac::from_bytes(icmp + 26).u64(), kB);
  uint32_t pseudo = net::kIpProtoIcmpv6 + 32;
  for (size_t i = 8; i < 40; i += 2) pseudo += net::load_be16(ip + i);
  EXPECT_EQ(net::inet_checksum(icmp, 32, pseudo), 0);  // a valid checksum sums to zero
  EXPECT_EQ(s.counter("nd_answered"), 1u);
}

TEST(ArpSuppress, DuplicateAddressDetectionIsNotAnswered) {
  Switch s;
  s.br.set_neighbors(table());
  uint8_t any[16] = {};
  auto tgt = v6addr(2);
  s.h.send("a", neighbor_solicit(kA, any, tgt.data()));
  EXPECT_TRUE(s.h.take("a").empty());
  EXPECT_EQ(s.h.take("other").size(), 1u);
}

TEST(ArpSuppress, TheStageComesWithTheFirstTableAndOnlyOnSwitches) {
  Switch s;
  const size_t before = s.br.ingress_stages().size();
  s.h.send("a", arp_request(kA, kIpA, kIpB));
  EXPECT_EQ(s.h.take("other").size(), 1u);  // no table: flooded
  s.br.set_neighbors(table());
  EXPECT_EQ(s.br.ingress_stages().size(), before + 1);
  EXPECT_EQ(s.br.ingress_stages().back()->name(), "arp-suppress");
  auto old = s.br.set_neighbors(table());  // replaced: the old one handed back
  EXPECT_NE(old, nullptr);
  EXPECT_EQ(s.br.ingress_stages().size(), before + 1);
  s.br.set_neighbors(nullptr);
  s.h.send("a", arp_request(kA, kIpA, kIpB));
  EXPECT_EQ(s.h.take("other").size(), 1u);

  Harness h;
  auto& lb = h.bridge("lb", dp::BridgeType::kLearning);
  const size_t n = lb.ingress_stages().size();
  lb.set_neighbors(table());
  EXPECT_EQ(lb.ingress_stages().size(), n);
  EXPECT_EQ(lb.neighbors(), nullptr);
}

TEST(ArpSuppress, TraceSaysWhoAnsweredAndWhere) {
  Switch s;
  s.br.set_neighbors(table());
  dp::Trace t;
  Bytes req = arp_request(kA, kIpA, kIpB);
  s.h.dp.set_trace(&t, /*dry_run=*/true);
  s.h.send("a", req);
  s.h.dp.set_trace(nullptr);
  bool seen = false;
  for (const auto& st : t.steps)
    if (st.stage == dp::TraceStage::kSuppress) {
      seen = true;
      EXPECT_EQ(st.what, dp::TraceWhat::kAnswered);
      EXPECT_NE(dp::describe(st).find("10.0.0.2 (network blue, host h2) answered here: is at 02:00:00:00:00:02"),
                std::string::npos)
          << dp::describe(st);
    }
  EXPECT_TRUE(seen);
  EXPECT_EQ(s.counter("arp_answered"), 0u);  // a dry run counts nothing
  ASSERT_EQ(t.outputs.size(), 1u);
  EXPECT_EQ(t.outputs[0].port, "a");
}

}  // namespace
}  // namespace kvnet::testing
