#include "net/offload.h"

#include <gtest/gtest.h>

#include <cstring>

#include "ctl/flow_spec.h"
#include "net/frame.h"
#include "net/headers.h"
#include "net/vlan_ops.h"

namespace kvnet::net {
namespace {

// A TCP/IPv4 frame with `payload` bytes, as the kernel hands it over with
// checksum offload: the TCP checksum field holds the pseudo-header sum only.
Frame* partial_tcp(FramePool& pool, size_t payload, bool tagged) {
  auto base = ctl::build_frame_from_flow(std::string(tagged ? "dl_vlan=7," : "") +
                                         "dl_src=02:00:00:00:00:01,dl_dst=02:00:00:00:00:02,tcp,"
                                         "nw_src=10.0.0.1,nw_dst=10.0.0.2,tp_src=5000,tp_dst=80");
  std::vector<uint8_t> b = *base;
  const size_t l3 = tagged ? 18 : 14, l4 = l3 + 20;
  b.resize(l4 + 20);
  for (size_t i = 0; i < payload; ++i) b.push_back(static_cast<uint8_t>(i * 7));
  store_be16(&b[l3 + 2], static_cast<uint16_t>(b.size() - l3));
  store_be16(&b[l3 + 10], 0);
  store_be16(&b[l3 + 10], inet_checksum(&b[l3], 20));
  b[l4 + 13] = 0x18 | 0x01;  // PSH ACK FIN
  store_be32(&b[l4 + 4], 1000);
  uint32_t ps = 6 + static_cast<uint32_t>(b.size() - l4);
  for (size_t i = 12; i < 20; i += 2) ps += load_be16(&b[l3 + i]);
  while (ps >> 16) ps = (ps & 0xffff) + (ps >> 16);
  store_be16(&b[l4 + 16], static_cast<uint16_t>(ps));
  Frame* f = pool.get();
  f->assign(b.data(), b.size());
  f->meta.vnet.flags = kVnetNeedsCsum;
  f->meta.vnet.csum_start = static_cast<uint16_t>(l4);
  f->meta.vnet.csum_offset = 16;
  return f;
}

void expect_valid_tcp(const Frame& f) {
  FlowKey k;
  parse_flow(f.data(), f.len(), k);
  ASSERT_EQ(k.nw_proto, kIpProtoTcp);
  EXPECT_EQ(inet_checksum(f.data() + k.l3_ofs, 20), 0) << "IPv4 header checksum";
  const size_t l4len = f.len() - k.l4_ofs;
  uint32_t ps = 6 + static_cast<uint32_t>(l4len);
  for (size_t i = 12; i < 20; i += 2) ps += load_be16(f.data() + k.l3_ofs + i);
  EXPECT_EQ(inet_checksum(f.data() + k.l4_ofs, l4len, ps), 0) << "TCP checksum";
  EXPECT_EQ(load_be16(f.data() + k.l3_ofs + 2), f.len() - k.l3_ofs) << "IPv4 total length";
}

TEST(Offload, FinishChecksumCompletesPartialTcp) {
  FramePool pool(8);
  Frame* f = partial_tcp(pool, 100, false);
  ASSERT_TRUE(finish_checksum(*f));
  EXPECT_FALSE(f->meta.vnet.flags & kVnetNeedsCsum);
  expect_valid_tcp(*f);
  pool.put(f);
}

TEST(Offload, FinishChecksumRejectsOffsetsOutsideTheFrame) {
  FramePool pool(8);
  Frame* f = partial_tcp(pool, 10, false);
  f->meta.vnet.csum_start = 2000;
  EXPECT_FALSE(finish_checksum(*f));
  pool.put(f);
}

TEST(Offload, SegmentsTcpSuperFrame) {
  FramePool pool(16, kHeadroom + kMaxGsoFrameLen);
  Frame* f = partial_tcp(pool, 3500, true);
  f->meta.vnet.gso_type = kGsoTcpV4;
  f->meta.vnet.gso_size = 1000;
  f->meta.vnet.hdr_len = 58;
  Frame* out[8];
  ASSERT_EQ(segment(f, pool, out, 8), 4);
  const size_t sizes[] = {1000, 1000, 1000, 500};
  for (int i = 0; i < 4; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(out[i]->len(), 18u + 20 + 20 + sizes[i]);
    expect_valid_tcp(*out[i]);
    EXPECT_EQ(load_be32(out[i]->data() + 38 + 4), 1000u + 1000u * static_cast<uint32_t>(i)) << "sequence";
    const uint8_t flags = out[i]->data()[38 + 13];
    EXPECT_EQ(flags & 0x09, i == 3 ? 0x09 : 0) << "FIN/PSH only on the last segment";
    EXPECT_EQ(out[i]->data()[38 + 20 + 3], static_cast<uint8_t>((1000 * i + 3) * 7)) << "payload slice";
    EXPECT_EQ(out[i]->meta.vnet.gso_type, kGsoNone);
    pool.put(out[i]);
  }
  EXPECT_EQ(pool.available(), pool.size());
}

// Software GRO undoes segment(): the segments of a super-frame merge back
// into one GSO frame whose checksum and re-segmentation are right; what does
// not continue the flow is refused and leaves the frame as it was.
TEST(Offload, TcpCoalesceMergesContiguousSegmentsOnly) {
  FramePool pool(16, kHeadroom + kMaxGsoFrameLen);
  Frame* big = partial_tcp(pool, 3500, false);
  big->meta.vnet.gso_type = kGsoTcpV4;
  big->meta.vnet.gso_size = 1000;
  big->meta.vnet.hdr_len = 54;
  Frame* seg[8];
  ASSERT_EQ(segment(big, pool, seg, 8), 4);
  const std::vector<uint8_t> orig0(seg[0]->data(), seg[0]->data() + seg[0]->len());

  Frame* f = pool.get();
  f->assign(seg[0]->data(), seg[0]->len());
  EXPECT_FALSE(tcp_coalesce(*f, seg[2]->data(), seg[2]->len())) << "a gap in the sequence";
  std::vector<uint8_t> bad(seg[1]->data(), seg[1]->data() + seg[1]->len());
  bad[60] ^= 1;
  EXPECT_FALSE(tcp_coalesce(*f, bad.data(), bad.size())) << "a wrong TCP checksum";
  bad.assign(seg[1]->data(), seg[1]->data() + seg[1]->len());
  bad[14 + 15] = 63;  // another TTL
  EXPECT_FALSE(tcp_coalesce(*f, bad.data(), bad.size())) << "another IPv4 TTL";
  EXPECT_EQ(std::vector<uint8_t>(f->data(), f->data() + f->len()), orig0) << "refusals change nothing";
  EXPECT_EQ(f->meta.vnet.gso_type, kGsoNone);

  ASSERT_TRUE(tcp_coalesce(*f, seg[1]->data(), seg[1]->len()));
  ASSERT_TRUE(tcp_coalesce(*f, seg[2]->data(), seg[2]->len()));
  EXPECT_FALSE(tcp_coalesce(*f, seg[3]->data(), seg[3]->len())) << "FIN is never merged";
  EXPECT_EQ(f->len(), 14u + 20 + 20 + 3000);
  EXPECT_EQ(f->meta.vnet.gso_type, kGsoTcpV4);
  EXPECT_EQ(f->meta.vnet.gso_size, 1000);
  EXPECT_EQ(f->meta.vnet.hdr_len, 54);
  EXPECT_EQ(f->meta.vnet.csum_start, 34);

  Frame* back[8];
  ASSERT_EQ(segment(f, pool, back, 8), 3);
  for (int i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    expect_valid_tcp(*back[i]);
    // Identical to the original segments but for the IPv4 id (segment() numbers them anew).
    std::vector<uint8_t> a(back[i]->data(), back[i]->data() + back[i]->len());
    std::vector<uint8_t> b(seg[i]->data(), seg[i]->data() + seg[i]->len());
    ASSERT_EQ(a.size(), b.size());
    for (size_t k : {18u, 19u, 24u, 25u}) a[k] = b[k] = 0;  // id and header checksum
    EXPECT_EQ(a, b);
    pool.put(back[i]);
  }
  for (int i = 0; i < 4; ++i) pool.put(seg[i]);
  EXPECT_EQ(pool.available(), pool.size());
}

// What a kernel VTEP over veth sends: the bytes of a partial-checksum frame
// without the offload metadata (a UDP socket hands the payload over as is).
Frame* partial_without_meta(FramePool& pool, size_t payload, bool tagged) {
  Frame* f = partial_tcp(pool, payload, tagged);
  f->meta.vnet = VnetHdr{};
  return f;
}

TEST(Offload, CompletePartialChecksumFillsWhatAKernelVtepLeftPartial) {
  FramePool pool(8);
  for (bool tagged : {false, true}) {
    SCOPED_TRACE(tagged);
    Frame* f = partial_without_meta(pool, 300, tagged);
    EXPECT_TRUE(complete_partial_checksum(*f));
    expect_valid_tcp(*f);
    EXPECT_EQ(f->meta.vnet.flags, 0) << "filled, not marked";
    EXPECT_FALSE(complete_partial_checksum(*f)) << "a correct checksum is left alone";
    expect_valid_tcp(*f);
    pool.put(f);
  }
  // A wrong checksum that is not the partial one: not ours to repair.
  Frame* f = partial_without_meta(pool, 300, false);
  f->data()[14 + 20 + 16] ^= 0x10;
  const std::vector<uint8_t> before(f->data(), f->data() + f->len());
  EXPECT_FALSE(complete_partial_checksum(*f));
  EXPECT_EQ(std::vector<uint8_t>(f->data(), f->data() + f->len()), before);
  pool.put(f);
  // Offload metadata present: finish_checksum's job, not this one's.
  f = partial_tcp(pool, 300, false);
  EXPECT_FALSE(complete_partial_checksum(*f));
  pool.put(f);
  // Ethernet padding after the IP packet is not summed.
  f = partial_without_meta(pool, 4, false);
  const size_t ip_end = f->len();
  f->set_len(60);
  std::memset(f->data() + ip_end, 0xab, 60 - ip_end);
  EXPECT_TRUE(complete_partial_checksum(*f));
  f->set_len(ip_end);
  expect_valid_tcp(*f);
  pool.put(f);
}

TEST(Offload, CompletePartialChecksumUdpOverIpv6) {
  // IPv6 UDP with the field holding the folded pseudo-header sum.
  auto base = ctl::build_frame_from_flow(
      "dl_src=02:00:00:00:00:01,dl_dst=02:00:00:00:00:02,udp6,ipv6_src=fd00::1,ipv6_dst=fd00::2,tp_src=5000,tp_dst=53");
  ASSERT_TRUE(base.ok()) << base.error().message;
  std::vector<uint8_t> b = *base;
  const size_t l3 = 14, l4 = l3 + 40;
  b.resize(l4 + 8);
  for (int i = 0; i < 77; ++i) b.push_back(static_cast<uint8_t>(i * 3 + 1));
  const size_t l4len = b.size() - l4;
  store_be16(&b[l3 + 4], static_cast<uint16_t>(l4len));
  store_be16(&b[l4 + 4], static_cast<uint16_t>(l4len));
  uint32_t ps = kIpProtoUdp + static_cast<uint32_t>(l4len);
  for (size_t i = 8; i < 40; i += 2) ps += load_be16(&b[l3 + i]);
  store_be16(&b[l4 + 6], static_cast<uint16_t>(~inet_checksum(nullptr, 0, ps)));
  FramePool pool(4);
  Frame* f = pool.get();
  f->assign(b.data(), b.size());
  EXPECT_TRUE(complete_partial_checksum(*f));
  EXPECT_EQ(inet_checksum(f->data() + l4, l4len, ps), 0) << "UDP checksum";
  EXPECT_FALSE(complete_partial_checksum(*f));
  pool.put(f);
}

TEST(Offload, DescribeTcpGsoMakesAKernelVtepsSuperFrameAGsoFrameAgain) {
  FramePool pool(16, kHeadroom + kMaxGsoFrameLen);
  Frame* f = partial_without_meta(pool, 3500, false);
  f->data()[14 + 20 + 13] = 0x10;
  VnetHdr v;
  EXPECT_FALSE(describe_tcp_gso(f->data(), f->len(), 4000, v)) << "its payload fits one segment";
  EXPECT_FALSE(describe_tcp_gso(f->data(), f->len() - 1, 1040, v)) << "its IP packet does not span the frame";
  EXPECT_FALSE(describe_tcp_gso(f->data(), f->len(), 40, v)) << "no room for a payload";
  EXPECT_EQ(v.gso_type, kGsoNone) << "refusals leave it untouched";
  ASSERT_TRUE(describe_tcp_gso(f->data(), f->len(), 1040, v));
  EXPECT_EQ(v.gso_type, kGsoTcpV4);
  EXPECT_EQ(v.gso_size, 1000) << "the IP packets of its segments are 1040 bytes";
  EXPECT_EQ(v.hdr_len, 54);
  EXPECT_EQ(v.csum_start, 34);
  EXPECT_EQ(v.csum_offset, 16);
  f->meta.vnet = v;
  Frame* seg[8];
  ASSERT_EQ(segment(f, pool, seg, 8), 4);
  for (int i = 0; i < 4; ++i) {
    SCOPED_TRACE(i);
    expect_valid_tcp(*seg[i]);
    EXPECT_LE(seg[i]->len() - 14, 1040u);
    pool.put(seg[i]);
  }
  EXPECT_EQ(pool.available(), pool.size());
}

TEST(Offload, TcpCoalesceTakesSegmentsAKernelVtepLeftPartial) {
  FramePool pool(16, kHeadroom + kMaxGsoFrameLen);
  Frame* big = partial_tcp(pool, 2000, false);
  big->data()[14 + 20 + 13] = 0x10;  // ACK only: mergeable
  big->meta.vnet.gso_type = kGsoTcpV4;
  big->meta.vnet.gso_size = 1000;
  big->meta.vnet.hdr_len = 54;
  Frame* seg[4];
  ASSERT_EQ(segment(big, pool, seg, 4), 2);
  // The second segment as a kernel VTEP sends it: the field partial again.
  std::vector<uint8_t> p(seg[1]->data(), seg[1]->data() + seg[1]->len());
  uint32_t ps = 6 + static_cast<uint32_t>(p.size() - 34);
  for (size_t i = 12; i < 20; i += 2) ps += load_be16(&p[14 + i]);
  store_be16(&p[34 + 16], static_cast<uint16_t>(~inet_checksum(nullptr, 0, ps)));
  Frame* f = pool.get();
  f->assign(seg[0]->data(), seg[0]->len());
  ASSERT_TRUE(tcp_coalesce(*f, p.data(), p.size()));
  Frame* back[4];
  ASSERT_EQ(segment(f, pool, back, 4), 2);
  for (int i = 0; i < 2; ++i) {
    expect_valid_tcp(*back[i]);
    pool.put(back[i]);
    pool.put(seg[i]);
  }
  EXPECT_EQ(pool.available(), pool.size());
}

TEST(Offload, TagPushAndPopMoveChecksumStart) {
  FramePool pool(8);
  Frame* f = partial_tcp(pool, 10, false);
  parse_flow(f->data(), f->len(), f->key);
  ASSERT_TRUE(push_vlan(*f, kEthTypeVlan, 5));
  EXPECT_EQ(f->meta.vnet.csum_start, 38);
  ASSERT_TRUE(finish_checksum(*f));
  expect_valid_tcp(*f);
  pool.put(f);
}

TEST(Offload, RejectsMalformedSuperFrames) {
  FramePool pool(8, kHeadroom + kMaxGsoFrameLen);
  Frame* f = partial_tcp(pool, 3000, false);
  f->meta.vnet.gso_type = kGsoTcpV6;  // says IPv6, is IPv4: no matching L4
  f->meta.vnet.gso_size = 1000;
  Frame* out[8];
  f->data()[23] = kIpProtoUdp;
  EXPECT_EQ(segment(f, pool, out, 8), -1);
  Frame* g = partial_tcp(pool, 3000, false);
  g->meta.vnet.gso_type = kGsoTcpV4;
  g->meta.vnet.gso_size = 100;  // 30 segments do not fit in 8
  EXPECT_EQ(segment(g, pool, out, 8), -1);
  EXPECT_EQ(pool.available(), pool.size());
}

// Issue 6 §8: a data offset below 5 made every segment's header rewrite
// (sequence, flags, checksum at +16) land up to 18 bytes past a short segment.
TEST(Offload, SegmentRejectsTcpDataOffsetBelow5) {
  FramePool pool(8, kHeadroom + kMaxGsoFrameLen);
  for (uint8_t doff = 0; doff < 5; ++doff) {
    SCOPED_TRACE(static_cast<int>(doff));
    Frame* f = partial_tcp(pool, 3000, false);
    f->data()[34 + 12] = static_cast<uint8_t>(doff << 4);
    f->meta.vnet.gso_type = kGsoTcpV4;
    f->meta.vnet.gso_size = 1000;
    EXPECT_EQ(gso_segment_l3_len(f->data(), f->len(), f->meta.vnet), 0u);
    Frame* out[8];
    EXPECT_EQ(segment(f, pool, out, 8), -1);
  }
  EXPECT_EQ(pool.available(), pool.size());
}

TEST(Offload, SegmentRejectsHeadersBeyondTheFrame) {
  FramePool pool(8, kHeadroom + kMaxGsoFrameLen);
  Frame* f = partial_tcp(pool, 30, false);
  f->data()[34 + 12] = 15 << 4;  // 60-byte TCP header, but only 50 bytes follow the IP header
  f->meta.vnet.gso_type = kGsoTcpV4;
  f->meta.vnet.gso_size = 10;
  EXPECT_EQ(gso_segment_l3_len(f->data(), f->len(), f->meta.vnet), 0u);
  Frame* out[8];
  EXPECT_EQ(segment(f, pool, out, 8), -1);
  Frame* g = partial_tcp(pool, 0, false);  // headers only, nothing to segment
  g->meta.vnet.gso_type = kGsoTcpV4;
  g->meta.vnet.gso_size = 10;
  EXPECT_EQ(segment(g, pool, out, 8), -1);
  EXPECT_EQ(pool.available(), pool.size());
}

TEST(Offload, SegmentCutsToTheEgressMtu) {
  FramePool pool(16, kHeadroom + kMaxGsoFrameLen);
  Frame* f = partial_tcp(pool, 8000, false);
  f->meta.vnet.gso_type = kGsoTcpV4;
  f->meta.vnet.gso_size = 4000;  // 4040-byte segments would not fit a 1500 MTU
  Frame* out[16];
  ASSERT_EQ(segment(f, pool, out, 16, 1500), 6);  // 5 x 1460 + 700
  for (int i = 0; i < 6; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(out[i]->len() - 14, i < 5 ? 1500u : 740u);
    expect_valid_tcp(*out[i]);
    EXPECT_EQ(load_be32(out[i]->data() + 34 + 4), 1000u + 1460u * static_cast<uint32_t>(i)) << "sequence";
    pool.put(out[i]);
  }
  // A gso_size below what the MTU allows is kept.
  Frame* g = partial_tcp(pool, 3000, false);
  g->meta.vnet.gso_type = kGsoTcpV4;
  g->meta.vnet.gso_size = 1000;
  ASSERT_EQ(segment(g, pool, out, 16, 1500), 3);
  for (int i = 0; i < 3; ++i) pool.put(out[i]);
  // An MTU that does not even hold the headers.
  Frame* h = partial_tcp(pool, 3000, false);
  h->meta.vnet.gso_type = kGsoTcpV4;
  h->meta.vnet.gso_size = 1000;
  EXPECT_EQ(segment(h, pool, out, 16, 40), -1);
  EXPECT_EQ(pool.available(), pool.size());
}

TEST(Offload, SegmentL3LengthIsWhatAnMtuLimits) {
  FramePool pool(8, kHeadroom + kMaxGsoFrameLen);
  Frame* f = partial_tcp(pool, 3000, true);  // tagged: the tag does not count
  VnetHdr v;
  v.gso_type = kGsoTcpV4;
  v.gso_size = 1000;
  EXPECT_EQ(gso_segment_l3_len(f->data(), f->len(), v), 1040u);
  v.gso_type = kGsoTcpV4 | kGsoEcn;
  EXPECT_EQ(gso_segment_l3_len(f->data(), f->len(), v), 1040u);
  v.gso_size = 5000;  // larger than the payload: one segment, the frame
  EXPECT_EQ(gso_segment_l3_len(f->data(), f->len(), v), 3040u);
  v.gso_type = kGsoUdpL4;  // not a UDP frame
  EXPECT_EQ(gso_segment_l3_len(f->data(), f->len(), v), 0u);
  EXPECT_FALSE(is_gso(VnetHdr{0, kGsoEcn}));
  EXPECT_TRUE(is_gso(VnetHdr{0, kGsoTcpV6 | kGsoEcn}));
  pool.put(f);
}

}  // namespace
}  // namespace kvnet::net
