// parse_flow: every layer it reads, and every way a layer can be cut short or
// malformed. Frames are built in exactly-sized vectors so that the Asan build
// reports any read past the end of the frame.
#include <gtest/gtest.h>

#include <random>

#include "net/flow_key.h"
#include "net/headers.h"
#include "testing.h"

namespace kvnet::testing {
namespace {

using net::FlowKey;
using net::ParseStatus;

constexpr uint64_t kDst = 0x525400000002, kSrc = 0x525400000001;
constexpr uint32_t kIpA = 0x0a000001, kIpB = 0xc0a80102;  // 10.0.0.1, 192.168.1.2

void append(Bytes& b, const Bytes& more) { b.insert(b.end(), more.begin(), more.end()); }

// An Ethernet header with no payload (exactly 14 + 4 * tags bytes).
Bytes l2(std::vector<Tag> tags, uint16_t type) { return eth(kDst, kSrc, std::move(tags), type, 0); }

struct V4 {
  uint8_t ver_ihl = 0x45;
  uint8_t tos = 0x10;
  int total = -1;  // -1: header + payload length
  uint16_t frag = 0;
  uint8_t ttl = 63;
  uint8_t proto = net::kIpProtoUdp;
  uint32_t src = kIpA, dst = kIpB;
};

// An IPv4 header (with zeroed options up to the IHL) followed by `l4`.
Bytes ipv4(const V4& v, const Bytes& l4) {
  Bytes b;
  const size_t ihl = size_t{v.ver_ihl & 0x0fu} * 4;
  const size_t hdr = ihl < 20 ? 20 : ihl;
  b.push_back(v.ver_ihl);
  b.push_back(v.tos);
  put16(b, static_cast<uint16_t>(v.total >= 0 ? static_cast<size_t>(v.total) : hdr + l4.size()));
  put16(b, 0x1234);
  put16(b, v.frag);
  b.push_back(v.ttl);
  b.push_back(v.proto);
  put16(b, 0);
  put32(b, v.src);
  put32(b, v.dst);
  b.resize(hdr, 0);
  append(b, l4);
  return b;
}

constexpr uint8_t kV6A[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01};
constexpr uint8_t kV6B[16] = {0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02};

Bytes ipv6(uint8_t next, const Bytes& l4, int payload_len = -1, uint8_t version = 6) {
  Bytes b;
  put32(b, (uint32_t{version} << 28) | (uint32_t{0xb8} << 20) | 0x12345);
  put16(b, static_cast<uint16_t>(payload_len >= 0 ? payload_len : static_cast<int>(l4.size())));
  b.push_back(next);
  b.push_back(255);
  b.insert(b.end(), kV6A, kV6A + 16);
  b.insert(b.end(), kV6B, kV6B + 16);
  append(b, l4);
  return b;
}

Bytes tcp(uint16_t sp, uint16_t dp) {
  Bytes b;
  put16(b, sp);
  put16(b, dp);
  put32(b, 1000);
  put32(b, 0);
  b.push_back(0x50);
  b.push_back(0x02);
  put16(b, 65535);
  put16(b, 0);
  put16(b, 0);
  return b;  // 20 bytes
}
Bytes udp(uint16_t sp, uint16_t dp) {
  Bytes b;
  put16(b, sp);
  put16(b, dp);
  put16(b, 8);
  put16(b, 0);
  return b;  // 8 bytes
}
Bytes icmp(uint8_t type, uint8_t code) { return {type, code, 0, 0, 0x12, 0x34, 0, 1}; }

Bytes arp(uint16_t op = 1, uint8_t hlen = 6, uint8_t plen = 4, uint16_t htype = 1, uint16_t ptype = 0x0800) {
  Bytes b;
  put16(b, htype);
  put16(b, ptype);
  b.push_back(hlen);
  b.push_back(plen);
  put16(b, op);
  for (uint8_t x : {0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc}) b.push_back(x);
  put32(b, kIpA);
  for (int i = 0; i < 6; ++i) b.push_back(0);
  put32(b, kIpB);
  return b;  // 28 bytes
}

Bytes frame(std::vector<Tag> tags, uint16_t type, const Bytes& l3) {
  Bytes b = l2(std::move(tags), type);
  append(b, l3);
  return b;
}

// Parses `b` from an exactly-sized heap copy (so overreads hit the redzone).
FlowKey parse(const Bytes& b, ParseStatus expect = ParseStatus::kOk) {
  Bytes exact(b.begin(), b.end());
  exact.shrink_to_fit();
  FlowKey k;
  k.dl_type = 0xdead;  // stale contents must not survive a parse
  k.tp_src = 0xbeef;
  k.nw_src = 0xffffffff;
  EXPECT_EQ(net::parse_flow(exact.data(), exact.size(), k), expect);
  EXPECT_LE(k.l3_ofs, exact.size());
  EXPECT_LE(k.l4_ofs, exact.size());
  return k;
}

// ---------------------------------------------------------------- L2

TEST(FlowKey, RuntsShorterThanEthernetHeader) {
  const Bytes full = eth(kDst, kSrc, {}, 0x0800, 60);
  for (size_t n = 0; n < net::kEthHeaderLen; ++n) {
    SCOPED_TRACE(n);
    FlowKey k = parse(Bytes(full.begin(), full.begin() + static_cast<long>(n)), ParseStatus::kRunt);
    EXPECT_EQ(k.dl_type, 0);  // the key is reset, not left stale
    EXPECT_EQ(k.tp_src, 0);
    EXPECT_EQ(k.nw_src, 0u);
  }
  FlowKey k = parse(Bytes(full.begin(), full.begin() + 14));
  EXPECT_EQ(k.dl_type, 0x0800);
  EXPECT_EQ(k.flags, net::kFlowL3Truncated);  // IPv4 EtherType but no header
}

TEST(FlowKey, PlainEthernet) {
  FlowKey k = parse(eth(kDst, kSrc, {}, 0x88cc, 60));
  EXPECT_EQ(k.dl_dst, mac(kDst));
  EXPECT_EQ(k.dl_src, mac(kSrc));
  EXPECT_EQ(k.dl_type, 0x88cc);
  EXPECT_EQ(k.n_tags, 0);
  EXPECT_EQ(k.vlan_tci, 0);
  EXPECT_EQ(k.flags, 0);
  EXPECT_EQ(k.l3_ofs, 14);
  EXPECT_EQ(k.l4_ofs, 0);
  EXPECT_EQ(k.tp_src, 0);
  EXPECT_EQ(k.nw_src, 0u);
}

TEST(FlowKey, OneTag) {
  FlowKey k = parse(eth(kDst, kSrc, {{0x8100, 10, 5}}, 0x88cc, 64));
  EXPECT_EQ(k.n_tags, 1);
  EXPECT_EQ(k.vlan_tci, (5 << 13) | 10);
  EXPECT_EQ(k.vlan_vid(), 10);
  EXPECT_EQ(k.vlan_pcp(), 5);
  EXPECT_EQ(k.inner_tci, 0);
  EXPECT_EQ(k.dl_type, 0x88cc);
  EXPECT_EQ(k.l3_ofs, 18);
  EXPECT_EQ(k.flags, 0);
}

TEST(FlowKey, TagKeepsDeiBitInTci) {
  Bytes b = eth(kDst, kSrc, {{0x8100, 4095, 7}}, 0x88cc, 64);
  b[14] |= 0x10;  // DEI
  FlowKey k = parse(b);
  EXPECT_EQ(k.vlan_tci, 0xf000 | 0x0fff);
  EXPECT_EQ(k.vlan_vid(), 4095);
  EXPECT_EQ(k.vlan_pcp(), 7);
}

TEST(FlowKey, TwoTagsAndArp) {
  FlowKey k = parse(frame({{0x8100, 100, 1}, {0x8100, 200, 2}}, 0x0806, arp()));
  EXPECT_EQ(k.n_tags, 2);
  EXPECT_EQ(k.vlan_vid(), 100);
  EXPECT_EQ(k.vlan_pcp(), 1);
  EXPECT_EQ(k.inner_tci, (2 << 13) | 200);
  EXPECT_EQ(k.dl_type, 0x0806);
  EXPECT_EQ(k.l3_ofs, 22);
  EXPECT_EQ(k.flags, 0);
  EXPECT_EQ(k.nw_src, kIpA);
  EXPECT_EQ(k.nw_dst, kIpB);
}

TEST(FlowKey, ThirdTagIsSkippedButNotCounted) {
  FlowKey k = parse(frame({{0x8100, 1, 0}, {0x8100, 2, 0}, {0x8100, 3, 0}}, 0x0800,
                          ipv4({}, udp(1, 2))));
  EXPECT_EQ(k.n_tags, 2);
  EXPECT_EQ(k.vlan_vid(), 1);
  EXPECT_EQ(k.inner_tci & 0x0fff, 2);
  EXPECT_EQ(k.dl_type, 0x0800);
  EXPECT_EQ(k.l3_ofs, 26);
  EXPECT_EQ(k.l4_ofs, 46);
  EXPECT_EQ(k.tp_dst, 2);
  EXPECT_EQ(k.flags, 0);
}

TEST(FlowKey, QinQTpidIsNotATag) {
  // An outer 802.1ad S-tag: the frame's EtherType is 0x88a8 and nothing is parsed behind it.
  FlowKey k = parse(frame({{0x88a8, 30, 0}, {0x8100, 10, 0}}, 0x0800, ipv4({}, udp(1, 2))));
  EXPECT_EQ(k.n_tags, 0);
  EXPECT_EQ(k.vlan_tci, 0);
  EXPECT_EQ(k.dl_type, 0x88a8);
  EXPECT_EQ(k.l3_ofs, 14);
  EXPECT_EQ(k.l4_ofs, 0);
  EXPECT_EQ(k.nw_src, 0u);
  EXPECT_EQ(k.flags, 0);

  // Behind a C-tag, an S-tag TPID is the EtherType.
  k = parse(frame({{0x8100, 10, 0}, {0x88a8, 30, 0}}, 0x0800, ipv4({}, udp(1, 2))));
  EXPECT_EQ(k.n_tags, 1);
  EXPECT_EQ(k.vlan_vid(), 10);
  EXPECT_EQ(k.dl_type, 0x88a8);
  EXPECT_EQ(k.l3_ofs, 18);
}

TEST(FlowKey, TagThatDoesNotFit) {
  // 0x8100 with fewer than 4 tag bytes + 2 EtherType bytes behind it.
  const Bytes full = eth(kDst, kSrc, {{0x8100, 10, 0}}, 0x0800, 18);
  for (size_t n = 14; n < 18; ++n) {
    SCOPED_TRACE(n);
    FlowKey k = parse(Bytes(full.begin(), full.begin() + static_cast<long>(n)));
    EXPECT_EQ(k.dl_type, 0x8100);
    EXPECT_EQ(k.n_tags, 0);
    EXPECT_EQ(k.flags, net::kFlowL3Truncated);
    EXPECT_EQ(k.l3_ofs, 0);
  }
  FlowKey k = parse(full);  // exactly one tag and the EtherType
  EXPECT_EQ(k.n_tags, 1);
  EXPECT_EQ(k.dl_type, 0x0800);
  EXPECT_EQ(k.l3_ofs, 18);
  EXPECT_EQ(k.flags, net::kFlowL3Truncated);  // no IPv4 header

  // A second tag that does not fit.
  const Bytes two = eth(kDst, kSrc, {{0x8100, 10, 0}, {0x8100, 20, 0}}, 0x0800, 22);
  for (size_t n = 18; n < 22; ++n) {
    SCOPED_TRACE(n);
    FlowKey k2 = parse(Bytes(two.begin(), two.begin() + static_cast<long>(n)));
    EXPECT_EQ(k2.n_tags, 1);
    EXPECT_EQ(k2.vlan_vid(), 10);
    EXPECT_EQ(k2.dl_type, 0x8100);
    EXPECT_EQ(k2.flags, net::kFlowL3Truncated);
  }
}

// ---------------------------------------------------------------- ARP

TEST(FlowKey, ArpRequestAndReply) {
  FlowKey k = parse(frame({}, 0x0806, arp(1)));
  EXPECT_EQ(k.dl_type, 0x0806);
  EXPECT_EQ(k.nw_proto, 1);
  EXPECT_EQ(k.nw_src, kIpA);
  EXPECT_EQ(k.nw_dst, kIpB);
  EXPECT_EQ(k.arp_sha, mac(0x525400aabbcc));
  EXPECT_EQ(k.arp_tha, mac(0));
  EXPECT_EQ(k.l3_ofs, 14);
  EXPECT_EQ(k.l4_ofs, 0);
  EXPECT_EQ(k.flags, 0);

  // Ethernet padding after the ARP body is ignored.
  Bytes padded = frame({}, 0x0806, arp(2));
  padded.resize(60, 0);
  k = parse(padded);
  EXPECT_EQ(k.nw_proto, 2);
  EXPECT_EQ(k.flags, 0);
}

TEST(FlowKey, ArpTruncated) {
  const Bytes full = frame({{0x8100, 5, 0}}, 0x0806, arp());
  for (size_t n = 18; n < full.size(); ++n) {
    SCOPED_TRACE(n);
    FlowKey k = parse(Bytes(full.begin(), full.begin() + static_cast<long>(n)));
    EXPECT_EQ(k.dl_type, 0x0806);
    EXPECT_EQ(k.flags, net::kFlowL3Truncated);
    EXPECT_EQ(k.nw_src, 0u);
  }
}

TEST(FlowKey, ArpMalformed) {
  const Bytes bad[] = {arp(1, 8), arp(1, 6, 16), arp(1, 6, 4, 6), arp(1, 6, 4, 1, 0x86dd)};
  for (const Bytes& body : bad) {
    FlowKey k = parse(frame({}, 0x0806, body));
    EXPECT_EQ(k.flags, net::kFlowL3Malformed);
    EXPECT_EQ(k.nw_src, 0u);
    EXPECT_EQ(k.nw_dst, 0u);
    EXPECT_EQ(k.nw_proto, 0);
    EXPECT_EQ(k.arp_sha, mac(0));
  }
}

// ---------------------------------------------------------------- IPv4

TEST(FlowKey, Ipv4Tcp) {
  FlowKey k = parse(frame({}, 0x0800, ipv4({.proto = net::kIpProtoTcp}, tcp(40000, 443))));
  EXPECT_EQ(k.dl_type, 0x0800);
  EXPECT_EQ(k.nw_src, kIpA);
  EXPECT_EQ(k.nw_dst, kIpB);
  EXPECT_EQ(k.nw_proto, 6);
  EXPECT_EQ(k.nw_tos, 0x10);
  EXPECT_EQ(k.nw_ttl, 63);
  EXPECT_EQ(k.tp_src, 40000);
  EXPECT_EQ(k.tp_dst, 443);
  EXPECT_EQ(k.l3_ofs, 14);
  EXPECT_EQ(k.l4_ofs, 34);
  EXPECT_EQ(k.flags, 0);
}

TEST(FlowKey, Ipv4UdpTaggedAndPadded) {
  Bytes b = frame({{0x8100, 42, 3}}, 0x0800, ipv4({}, udp(5353, 53)));
  b.resize(64, 0);  // Ethernet padding beyond the IP total length
  FlowKey k = parse(b);
  EXPECT_EQ(k.vlan_vid(), 42);
  EXPECT_EQ(k.nw_proto, 17);
  EXPECT_EQ(k.tp_src, 5353);
  EXPECT_EQ(k.tp_dst, 53);
  EXPECT_EQ(k.l3_ofs, 18);
  EXPECT_EQ(k.l4_ofs, 38);
  EXPECT_EQ(k.flags, 0);
}

TEST(FlowKey, Ipv4Icmp) {
  FlowKey k = parse(frame({}, 0x0800, ipv4({.proto = net::kIpProtoIcmp}, icmp(3, 13))));
  EXPECT_EQ(k.nw_proto, 1);
  EXPECT_EQ(k.tp_src, 3);   // type
  EXPECT_EQ(k.tp_dst, 13);  // code
  EXPECT_EQ(k.flags, 0);
}

TEST(FlowKey, Ipv4OptionsMoveL4) {
  FlowKey k = parse(frame({}, 0x0800, ipv4({.ver_ihl = 0x47, .proto = net::kIpProtoUdp}, udp(7, 9))));
  EXPECT_EQ(k.l4_ofs, 14 + 28);
  EXPECT_EQ(k.tp_src, 7);
  EXPECT_EQ(k.tp_dst, 9);
  EXPECT_EQ(k.flags, 0);
}

TEST(FlowKey, Ipv4OtherProtocolHasNoPorts) {
  FlowKey k = parse(frame({}, 0x0800, ipv4({.proto = 47}, Bytes(4, 0xff))));
  EXPECT_EQ(k.nw_proto, 47);
  EXPECT_EQ(k.tp_src, 0);
  EXPECT_EQ(k.tp_dst, 0);
  EXPECT_EQ(k.flags, 0);
}

TEST(FlowKey, Ipv4ShorterThan20Bytes) {
  const Bytes full = frame({}, 0x0800, ipv4({}, {}));
  for (size_t n = 14; n < 34; ++n) {
    SCOPED_TRACE(n);
    FlowKey k = parse(Bytes(full.begin(), full.begin() + static_cast<long>(n)));
    EXPECT_EQ(k.flags, net::kFlowL3Truncated);
    EXPECT_EQ(k.nw_src, 0u);
    EXPECT_EQ(k.nw_proto, 0);
    EXPECT_EQ(k.l4_ofs, 0);
  }
}

TEST(FlowKey, Ipv4BadVersion) {
  FlowKey k = parse(frame({}, 0x0800, ipv4({.ver_ihl = 0x65}, udp(1, 2))));
  EXPECT_EQ(k.flags, net::kFlowL3Malformed);
  EXPECT_EQ(k.nw_src, 0u);
  EXPECT_EQ(k.tp_src, 0);
  EXPECT_NE(k.str().find("l3=bad"), std::string::npos);
}

TEST(FlowKey, Ipv4IhlBelowFive) {
  for (uint8_t ihl = 0; ihl < 5; ++ihl) {
    SCOPED_TRACE(int{ihl});
    FlowKey k = parse(frame({}, 0x0800, ipv4({.ver_ihl = static_cast<uint8_t>(0x40 | ihl)}, udp(1, 2))));
    EXPECT_EQ(k.flags, net::kFlowL3Malformed);
    EXPECT_EQ(k.nw_src, 0u);
    EXPECT_EQ(k.l4_ofs, 0);
  }
}

TEST(FlowKey, Ipv4IhlBeyondFrame) {
  // IHL 15 (60 bytes) and a total length that agrees, but only 28 bytes of L3.
  Bytes l3 = ipv4({.ver_ihl = 0x4f, .total = 60}, {});
  l3.resize(28);
  FlowKey k = parse(frame({}, 0x0800, l3));
  EXPECT_EQ(k.flags, net::kFlowL3Truncated);
  EXPECT_EQ(k.nw_src, 0u);
  EXPECT_EQ(k.l4_ofs, 0);
}

TEST(FlowKey, Ipv4TotalLenBelowIhl) {
  FlowKey k = parse(frame({}, 0x0800, ipv4({.total = 19}, udp(1, 2))));
  EXPECT_EQ(k.flags, net::kFlowL3Malformed);
  EXPECT_EQ(k.nw_src, 0u);
}

TEST(FlowKey, Ipv4TotalLenBeyondFrame) {
  // The addresses and the ports that are present are still read.
  FlowKey k = parse(frame({}, 0x0800, ipv4({.total = 100}, udp(1000, 2000))));
  EXPECT_EQ(k.flags, net::kFlowL3Malformed);
  EXPECT_EQ(k.nw_src, kIpA);
  EXPECT_EQ(k.tp_src, 1000);
  EXPECT_EQ(k.tp_dst, 2000);

  // ... unless they are cut off too.
  Bytes l3 = ipv4({.total = 100, .proto = net::kIpProtoTcp}, tcp(1, 2));
  l3.resize(20 + 12);
  k = parse(frame({}, 0x0800, l3));
  EXPECT_EQ(k.flags, net::kFlowL3Malformed | net::kFlowL4Truncated);
  EXPECT_EQ(k.nw_proto, 6);
  EXPECT_EQ(k.tp_src, 0);
}

TEST(FlowKey, Ipv4LaterFragmentHasNoPorts) {
  FlowKey k = parse(frame({}, 0x0800, ipv4({.frag = 0x2000 | 185}, udp(1000, 2000))));
  EXPECT_EQ(k.flags, net::kFlowFragment);
  EXPECT_EQ(k.nw_src, kIpA);
  EXPECT_EQ(k.nw_dst, kIpB);
  EXPECT_EQ(k.nw_proto, 17);
  EXPECT_EQ(k.tp_src, 0);
  EXPECT_EQ(k.tp_dst, 0);
  EXPECT_EQ(k.l4_ofs, 0);
  EXPECT_NE(k.str().find("nw_frag=later"), std::string::npos);

  // The first fragment (MF set, offset 0) carries the ports.
  k = parse(frame({}, 0x0800, ipv4({.frag = 0x2000}, udp(1000, 2000))));
  EXPECT_EQ(k.flags, 0);
  EXPECT_EQ(k.tp_src, 1000);
}

TEST(FlowKey, Ipv4L4HeaderCut) {
  struct Case {
    uint8_t proto;
    Bytes l4;
  };
  const Case cases[] = {{net::kIpProtoTcp, tcp(1, 2)}, {net::kIpProtoUdp, udp(1, 2)}, {net::kIpProtoIcmp, icmp(8, 0)}};
  for (const Case& c : cases) {
    // Every length short of the header the protocol needs (ICMP needs 4).
    const size_t need = c.proto == net::kIpProtoIcmp ? 4 : c.l4.size();
    for (size_t n = 0; n < need; ++n) {
      SCOPED_TRACE(::testing::Message() << "proto " << int{c.proto} << " l4 bytes " << n);
      const Bytes l4(c.l4.begin(), c.l4.begin() + static_cast<long>(n));
      FlowKey k = parse(frame({}, 0x0800, ipv4({.proto = c.proto}, l4)));
      EXPECT_EQ(k.flags, net::kFlowL4Truncated);
      EXPECT_EQ(k.nw_src, kIpA);
      EXPECT_EQ(k.tp_src, 0);
      EXPECT_EQ(k.tp_dst, 0);
    }
  }
}

TEST(FlowKey, Ipv4L4CutByTotalLenDespitePadding) {
  // total_len says 10 bytes of TCP; the frame is padded to 60 bytes. Padding is not payload.
  Bytes b = frame({}, 0x0800, ipv4({.total = 30, .proto = net::kIpProtoTcp}, tcp(1, 2)));
  b.resize(60, 0);
  FlowKey k = parse(b);
  EXPECT_EQ(k.flags, net::kFlowL4Truncated);
  EXPECT_EQ(k.tp_src, 0);
  EXPECT_NE(k.str().find("l4=truncated"), std::string::npos);
}

// ---------------------------------------------------------------- IPv6

TEST(FlowKey, Ipv6TcpUdpIcmpv6) {
  FlowKey k = parse(frame({}, 0x86dd, ipv6(net::kIpProtoTcp, tcp(1234, 22))));
  EXPECT_EQ(k.dl_type, 0x86dd);
  EXPECT_EQ(0, std::memcmp(k.ipv6_src, kV6A, 16));
  EXPECT_EQ(0, std::memcmp(k.ipv6_dst, kV6B, 16));
  EXPECT_EQ(k.nw_proto, 6);
  EXPECT_EQ(k.nw_tos, 0xb8);
  EXPECT_EQ(k.nw_ttl, 255);
  EXPECT_EQ(k.tp_src, 1234);
  EXPECT_EQ(k.tp_dst, 22);
  EXPECT_EQ(k.l3_ofs, 14);
  EXPECT_EQ(k.l4_ofs, 54);
  EXPECT_EQ(k.nw_src, 0u);  // IPv4 fields untouched
  EXPECT_EQ(k.flags, 0);

  k = parse(frame({{0x8100, 7, 0}}, 0x86dd, ipv6(net::kIpProtoUdp, udp(546, 547))));
  EXPECT_EQ(k.l4_ofs, 58);
  EXPECT_EQ(k.tp_src, 546);
  EXPECT_EQ(k.tp_dst, 547);
  EXPECT_EQ(k.flags, 0);

  k = parse(frame({}, 0x86dd, ipv6(net::kIpProtoIcmpv6, icmp(135, 0))));
  EXPECT_EQ(k.nw_proto, 58);
  EXPECT_EQ(k.tp_src, 135);
  EXPECT_EQ(k.tp_dst, 0);
  EXPECT_EQ(k.flags, 0);
}

TEST(FlowKey, Ipv6Truncated) {
  const Bytes full = frame({}, 0x86dd, ipv6(59, {}));
  for (size_t n = 14; n < full.size(); ++n) {
    SCOPED_TRACE(n);
    FlowKey k = parse(Bytes(full.begin(), full.begin() + static_cast<long>(n)));
    EXPECT_EQ(k.flags, net::kFlowL3Truncated);
    EXPECT_EQ(k.nw_proto, 0);
    EXPECT_EQ(k.ipv6_src[0], 0);
  }
  FlowKey k = parse(full);
  EXPECT_EQ(k.flags, 0);
  EXPECT_EQ(k.nw_proto, 59);
}

TEST(FlowKey, Ipv6BadVersion) {
  FlowKey k = parse(frame({}, 0x86dd, ipv6(net::kIpProtoUdp, udp(1, 2), -1, 4)));
  EXPECT_EQ(k.flags, net::kFlowL3Malformed);
  EXPECT_EQ(k.nw_proto, 0);
  EXPECT_EQ(k.tp_src, 0);
}

TEST(FlowKey, Ipv6PayloadLenBeyondFrame) {
  FlowKey k = parse(frame({}, 0x86dd, ipv6(net::kIpProtoUdp, udp(1, 2), 500)));
  EXPECT_EQ(k.flags, net::kFlowL3Malformed);
  EXPECT_EQ(k.tp_src, 1);
  EXPECT_EQ(k.tp_dst, 2);
}

TEST(FlowKey, Ipv6L4Cut) {
  for (size_t n = 0; n < 20; ++n) {
    SCOPED_TRACE(n);
    const Bytes t = tcp(1, 2);
    FlowKey k = parse(frame({}, 0x86dd, ipv6(net::kIpProtoTcp, Bytes(t.begin(), t.begin() + static_cast<long>(n)))));
    EXPECT_EQ(k.flags, net::kFlowL4Truncated);
    EXPECT_EQ(k.tp_src, 0);
  }
  // payload_len shorter than the UDP header, frame padded: truncated.
  Bytes b = frame({}, 0x86dd, ipv6(net::kIpProtoUdp, udp(1, 2), 4));
  b.resize(80, 0);
  FlowKey k = parse(b);
  EXPECT_EQ(k.flags, net::kFlowL4Truncated);
  EXPECT_EQ(k.tp_src, 0);
}

// ---------------------------------------------------------------- strings

TEST(FlowKey, MacParseAndStr) {
  auto m = net::Mac::parse("52:54:00:ab:CD:0f");
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(*m, mac(0x525400abcd0f));
  EXPECT_EQ(m->str(), "52:54:00:ab:cd:0f");
  auto d = net::Mac::parse("ff-ff-ff-ff-ff-ff");
  ASSERT_TRUE(d.has_value());
  EXPECT_TRUE(d->is_broadcast());
  EXPECT_EQ(net::Mac::from_u64(0x0180c2000003).str(), "01:80:c2:00:00:03");
  EXPECT_TRUE(net::Mac::from_u64(0x0180c2000003).is_reserved_link_local());
  EXPECT_FALSE(net::Mac::from_u64(0x0180c2000010).is_reserved_link_local());

  for (const char* bad : {"", "52:54:00:ab:cd", "52:54:00:ab:cd:0g", "52:54:00:ab:cd:0f0", "52:54:00:ab:cd:0",
                          "5254.00ab.cd0f..", "52:54:00:ab:cd;0f", " 52:54:00:ab:cd:0", "52:54:00:ab:cd:0f "}) {
    EXPECT_FALSE(net::Mac::parse(bad).has_value()) << "'" << bad << "'";
  }
}

TEST(FlowKey, StrArpTagged) {
  FlowKey k = parse(frame({{0x8100, 10, 3}}, 0x0806, arp(1)));
  EXPECT_EQ(k.str(),
            "dl_vlan=10,dl_vlan_pcp=3,dl_src=52:54:00:00:00:01,dl_dst=52:54:00:00:00:02,dl_type=0x0806,"
            "arp_op=1,arp_spa=10.0.0.1,arp_tpa=192.168.1.2,arp_sha=52:54:00:aa:bb:cc,arp_tha=00:00:00:00:00:00");
}

TEST(FlowKey, StrIpv4UdpAndIcmpAndDoubleTag) {
  FlowKey k = parse(frame({}, 0x0800, ipv4({}, udp(5353, 53))));
  EXPECT_EQ(k.str(),
            "dl_src=52:54:00:00:00:01,dl_dst=52:54:00:00:00:02,dl_type=0x0800,nw_src=10.0.0.1,"
            "nw_dst=192.168.1.2,nw_proto=17,nw_tos=16,nw_ttl=63,tp_src=5353,tp_dst=53");
  k = parse(frame({{0x8100, 1, 0}, {0x8100, 2, 0}}, 0x0800, ipv4({.proto = 1}, icmp(8, 0))));
  EXPECT_EQ(k.str(),
            "dl_vlan=1,dl_vlan_pcp=0,inner_vlan=2,dl_src=52:54:00:00:00:01,dl_dst=52:54:00:00:00:02,"
            "dl_type=0x0800,nw_src=10.0.0.1,nw_dst=192.168.1.2,nw_proto=1,nw_tos=16,nw_ttl=63,"
            "icmp_type=8,icmp_code=0");
}

TEST(FlowKey, StrIpv6) {
  FlowKey k = parse(frame({}, 0x86dd, ipv6(net::kIpProtoIcmpv6, icmp(128, 0))));
  EXPECT_EQ(k.str(),
            "dl_src=52:54:00:00:00:01,dl_dst=52:54:00:00:00:02,dl_type=0x86dd,ipv6_src=2001:db8::1,"
            "ipv6_dst=fe80::2,nw_proto=58,nw_tos=184,nw_ttl=255,icmp_type=128,icmp_code=0");
}

TEST(FlowKey, Ipv4Str) {
  EXPECT_EQ(net::ipv4_str(0), "0.0.0.0");
  EXPECT_EQ(net::ipv4_str(0xffffffff), "255.255.255.255");
  EXPECT_EQ(net::ipv4_str(0xc0a80001), "192.168.0.1");
}

// ---------------------------------------------------------------- property

// Random bytes never crash the parser or push an offset past the frame. The
// EtherType and first L3 byte are often forced to interesting values so that
// the deeper layers are reached too.
TEST(FlowKey, RandomBytesNeverOverread) {
  std::mt19937 rng(20240611);
  const uint16_t types[] = {0x0800, 0x86dd, 0x0806, 0x8100, 0x88a8, 0x1234};
  size_t reached_l4 = 0, reached_tags = 0, runts = 0;
  for (int iter = 0; iter < 4000; ++iter) {
    const size_t len = rng() % 201;
    Bytes b(len);
    for (auto& x : b) x = static_cast<uint8_t>(rng());
    if (rng() % 4 != 0) {
      // Up to two tags followed by a chosen EtherType and a plausible first L3 byte.
      size_t ofs = 12;
      const int tags = static_cast<int>(rng() % 3);
      for (int t = 0; t < tags && ofs + 4 <= len; ++t, ofs += 4) {
        b[ofs] = 0x81;
        b[ofs + 1] = 0x00;
      }
      const uint16_t type = types[rng() % std::size(types)];
      if (ofs + 2 <= len) {
        b[ofs] = static_cast<uint8_t>(type >> 8);
        b[ofs + 1] = static_cast<uint8_t>(type);
      }
      const size_t l3 = ofs + 2;
      if (rng() % 2) {  // a plausible L3 header start with a protocol that has ports
        const uint8_t protos[] = {net::kIpProtoTcp, net::kIpProtoUdp, net::kIpProtoIcmp, net::kIpProtoIcmpv6};
        const uint8_t proto = protos[rng() % std::size(protos)];
        auto set = [&](size_t i, uint8_t v) {
          if (l3 + i < len) b[l3 + i] = v;
        };
        if (type == 0x86dd) {
          set(0, 0x60);
          set(6, proto);
          if (rng() % 2) set(4, 0);  // payload length below 256
        } else {
          set(0, rng() % 8 ? 0x45 : 0x46);
          set(6, 0);  // not a later fragment
          set(7, 0);
          set(9, proto);
          if (rng() % 2) set(2, 0);  // total length below 256
        }
      }
    }
    b.shrink_to_fit();
    FlowKey k;
    const ParseStatus st = net::parse_flow(b.data(), b.size(), k);
    ASSERT_EQ(st == ParseStatus::kRunt, len < 14) << "len " << len;
    if (st == ParseStatus::kRunt) {
      ++runts;
      continue;
    }
    ASSERT_LE(k.l3_ofs, len);
    ASSERT_LE(k.l4_ofs, len);
    ASSERT_LE(k.n_tags, 2);
    if (k.l4_ofs) {
      ASSERT_GE(k.l4_ofs, k.l3_ofs + 20u);
      if (!(k.flags & net::kFlowL4Truncated) &&
          (k.nw_proto == net::kIpProtoTcp || k.nw_proto == net::kIpProtoUdp)) {
        ASSERT_LE(k.l4_ofs + 8u, len);
        ++reached_l4;
      }
    }
    if (k.n_tags) ++reached_tags;
    (void)k.str();  // rendering any parse result is safe too

    FlowKey again;
    net::parse_flow(b.data(), b.size(), again);
    ASSERT_EQ(again.str(), k.str());  // deterministic
  }
  // The generator really exercises the deep paths.
  EXPECT_GT(runts, 50u);
  EXPECT_GT(reached_tags, 500u);
  EXPECT_GT(reached_l4, 20u);
}

}  // namespace
}  // namespace kvnet::testing
