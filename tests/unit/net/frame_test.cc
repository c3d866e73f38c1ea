// Frames, the frame pool, VLAN tag push/pop and the Internet checksum.
#include <gtest/gtest.h>

#include <set>

#include "net/frame.h"
#include "net/headers.h"
#include "net/vlan_ops.h"
#include "testing.h"

namespace kvnet::testing {
namespace {

using net::Frame;
using net::FramePool;

constexpr uint64_t kDst = 0xffffffffffff, kSrc = 0x525400000001;

// ---------------------------------------------------------------- FramePool

TEST(Frame, PoolGetPutAndExhaustion) {
  FramePool pool(4);
  EXPECT_EQ(pool.size(), 4u);
  EXPECT_EQ(pool.available(), 4u);
  std::set<Frame*> got;
  for (int i = 0; i < 4; ++i) {
    Frame* f = pool.get();
    ASSERT_NE(f, nullptr);
    got.insert(f);
  }
  EXPECT_EQ(got.size(), 4u);  // four distinct frames
  EXPECT_EQ(pool.available(), 0u);
  EXPECT_EQ(pool.get(), nullptr);
  EXPECT_EQ(pool.get(), nullptr);

  Frame* f = *got.begin();
  pool.put(f);
  EXPECT_EQ(pool.available(), 1u);
  EXPECT_EQ(pool.get(), f);
  EXPECT_EQ(pool.get(), nullptr);
  for (Frame* x : got) pool.put(x);
  EXPECT_EQ(pool.available(), 4u);
}

TEST(Frame, FramesDoNotOverlap) {
  FramePool pool(3);
  Frame* a = pool.get();
  Frame* b = pool.get();
  Frame* c = pool.get();
  const Bytes big(net::kMaxFrameLen, 0x11);
  ASSERT_TRUE(a->assign(big.data(), big.size()));
  ASSERT_TRUE(c->assign(big.data(), big.size()));
  std::memset(b->data() - b->headroom(), 0x22, b->headroom() + b->len() + b->tailroom());
  EXPECT_EQ(Bytes(a->data(), a->data() + a->len()), big);
  EXPECT_EQ(Bytes(c->data(), c->data() + c->len()), big);
}

TEST(Frame, GetResetsFrameAndMetadata) {
  FramePool pool(1);
  Frame* f = pool.get();
  ASSERT_NE(f, nullptr);
  const Bytes b = eth(kDst, kSrc);
  ASSERT_TRUE(f->assign(b.data(), b.size()));
  f->pull_front(6);
  f->meta.in_port = 7;
  f->meta.vlan = 10;
  f->meta.ts_ns = 123;
  f->meta.s_tpid = 0x88a8;
  pool.put(f);
  Frame* g = pool.get();
  ASSERT_EQ(g, f);
  EXPECT_EQ(g->len(), 0u);
  EXPECT_EQ(g->headroom(), net::kHeadroom);
  EXPECT_EQ(g->meta.in_port, 0u);
  EXPECT_EQ(g->meta.vlan, 0);
  EXPECT_EQ(g->meta.ts_ns, 0u);
  EXPECT_EQ(g->meta.s_tpid, 0x8100);
}

TEST(Frame, HeadroomAndCapacity) {
  FramePool pool(1);
  Frame* f = pool.get();
  EXPECT_GE(f->headroom(), 64u);  // room for an 802.1Q tag and a VXLAN header
  EXPECT_GE(f->tailroom(), net::kMaxFrameLen);
  const Bytes max(net::kMaxFrameLen, 0x5a);
  EXPECT_TRUE(f->assign(max.data(), max.size()));
  EXPECT_EQ(f->len(), net::kMaxFrameLen);
  EXPECT_EQ(f->headroom(), net::kHeadroom);

  // Too big for the buffer: refused, nothing written past the end (Asan).
  const Bytes too_big(net::kMaxFrameLen + 1, 0x5a);
  EXPECT_FALSE(f->assign(too_big.data(), too_big.size()));
}

TEST(Frame, PushFrontAndPullFront) {
  FramePool pool(1);
  Frame* f = pool.get();
  const Bytes b = eth(kDst, kSrc);
  ASSERT_TRUE(f->assign(b.data(), b.size()));
  uint8_t* old = f->data();
  uint8_t* p = f->push_front(8);
  ASSERT_EQ(p, old - 8);
  EXPECT_EQ(f->data(), p);
  EXPECT_EQ(f->len(), b.size() + 8);
  EXPECT_EQ(f->headroom(), net::kHeadroom - 8);
  f->pull_front(8);
  EXPECT_EQ(f->data(), old);
  EXPECT_EQ(f->len(), b.size());

  // More than the headroom: refused, frame unchanged.
  EXPECT_EQ(f->push_front(net::kHeadroom + 1), nullptr);
  EXPECT_EQ(f->data(), old);
  EXPECT_EQ(f->len(), b.size());
  EXPECT_NE(f->push_front(net::kHeadroom), nullptr);
  EXPECT_EQ(f->headroom(), 0u);
  EXPECT_EQ(f->push_front(1), nullptr);
}

TEST(Frame, CopyFromKeepsBytesOffsetAndMetadata) {
  FramePool pool(2);
  Frame* a = pool.get();
  Frame* b = pool.get();
  const Bytes bytes = eth(kDst, kSrc, {{0x8100, 5, 0}}, 0x0800, 70);
  ASSERT_TRUE(a->assign(bytes.data(), bytes.size()));
  a->pull_front(4);
  a->meta.in_port = 3;
  a->meta.vlan = 5;
  net::parse_flow(a->data(), a->len(), a->key);
  b->copy_from(*a);
  EXPECT_EQ(b->headroom(), a->headroom());
  EXPECT_EQ(Bytes(b->data(), b->data() + b->len()), Bytes(bytes.begin() + 4, bytes.end()));
  EXPECT_EQ(b->meta.in_port, 3u);
  EXPECT_EQ(b->meta.vlan, 5);
  EXPECT_EQ(b->key.str(), a->key.str());
  EXPECT_NE(b->data(), a->data());
}

TEST(Frame, BatchAddAndReturnToPool) {
  FramePool pool(net::kBatchSize + 1);
  net::FrameBatch batch;
  EXPECT_TRUE(batch.empty());
  for (size_t i = 0; i < net::kBatchSize; ++i) batch.add(pool.get());
  EXPECT_TRUE(batch.full());
  EXPECT_EQ(pool.available(), 1u);
  pool.put(batch);
  EXPECT_TRUE(batch.empty());
  EXPECT_EQ(pool.available(), net::kBatchSize + 1);
}

// ---------------------------------------------------------------- VLAN ops

// An IPv4/UDP frame (port 5000 -> 53) with the given tags; the bytes after
// the EtherType are the same whatever the tags.
Bytes udp_frame(std::vector<Tag> tags) {
  Bytes b = eth(kDst, kSrc, std::move(tags), 0x0800, 0);
  const Bytes ip = {0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
                    0x13, 0x88, 0x00, 0x35, 0, 8, 0, 0};
  b.insert(b.end(), ip.begin(), ip.end());
  b.insert(b.end(), 18, 0);  // padding: 60 bytes untagged, 64 with one tag
  return b;
}

Bytes bytes_of(const Frame& f) { return Bytes(f.data(), f.data() + f.len()); }

TEST(VlanOps, PushPopRoundTrip) {
  FramePool pool(1);
  Frame* f = pool.get();
  const Bytes plain = udp_frame({});
  const Bytes tagged = udp_frame({{0x8100, 100, 5}});
  ASSERT_EQ(tagged.size(), plain.size() + 4);
  ASSERT_TRUE(f->assign(plain.data(), plain.size()));
  net::parse_flow(f->data(), f->len(), f->key);
  ASSERT_EQ(f->key.l3_ofs, 14);
  ASSERT_EQ(f->key.l4_ofs, 34);
  uint8_t* payload = f->data() + 14;

  ASSERT_TRUE(net::push_vlan(*f, 0x8100, (5 << 13) | 100));
  EXPECT_EQ(bytes_of(*f), tagged);
  EXPECT_EQ(f->data() + 18, payload);  // the payload did not move
  EXPECT_EQ(f->key.l3_ofs, 18);
  EXPECT_EQ(f->key.l4_ofs, 38);
  // The adjusted offsets agree with a fresh parse.
  net::FlowKey fresh;
  net::parse_flow(f->data(), f->len(), fresh);
  EXPECT_EQ(fresh.n_tags, 1);
  EXPECT_EQ(fresh.vlan_vid(), 100);
  EXPECT_EQ(fresh.vlan_pcp(), 5);
  EXPECT_EQ(fresh.l3_ofs, f->key.l3_ofs);
  EXPECT_EQ(fresh.l4_ofs, f->key.l4_ofs);
  EXPECT_EQ(fresh.tp_dst, 53);

  net::pop_vlan(*f);
  EXPECT_EQ(bytes_of(*f), plain);
  EXPECT_EQ(f->data() + 14, payload);
  EXPECT_EQ(f->headroom(), net::kHeadroom);
  EXPECT_EQ(f->key.l3_ofs, 14);
  EXPECT_EQ(f->key.l4_ofs, 34);
}

TEST(VlanOps, PushTwiceMakesQinQ) {
  FramePool pool(1);
  Frame* f = pool.get();
  const Bytes plain = udp_frame({});
  ASSERT_TRUE(f->assign(plain.data(), plain.size()));
  net::parse_flow(f->data(), f->len(), f->key);
  ASSERT_TRUE(net::push_vlan(*f, 0x8100, 10));
  ASSERT_TRUE(net::push_vlan(*f, 0x88a8, 20));
  EXPECT_EQ(bytes_of(*f), udp_frame({{0x88a8, 20, 0}, {0x8100, 10, 0}}));
  EXPECT_EQ(f->key.l3_ofs, 22);
  EXPECT_EQ(f->key.l4_ofs, 42);
  EXPECT_EQ(net::l2_payload_len(f->data(), f->len()), plain.size() - 14);
  net::pop_vlan(*f);
  EXPECT_EQ(bytes_of(*f), udp_frame({{0x8100, 10, 0}}));
  net::pop_vlan(*f);
  EXPECT_EQ(bytes_of(*f), plain);
  EXPECT_EQ(f->key.l3_ofs, 14);
}

TEST(VlanOps, ZeroOffsetsStayZero) {
  // A key with no L3/L4 offsets (not parsed, or a runt) is not shifted.
  FramePool pool(1);
  Frame* f = pool.get();
  const Bytes b = eth(kDst, kSrc, {}, 0x88cc, 60);
  ASSERT_TRUE(f->assign(b.data(), b.size()));
  ASSERT_TRUE(net::push_vlan(*f, 0x8100, 7));
  EXPECT_EQ(f->key.l3_ofs, 0);
  EXPECT_EQ(f->key.l4_ofs, 0);
  net::pop_vlan(*f);
  EXPECT_EQ(f->key.l3_ofs, 0);
  EXPECT_EQ(bytes_of(*f), b);
}

TEST(VlanOps, PushWithoutHeadroomFails) {
  FramePool pool(1);
  Frame* f = pool.get();
  const Bytes b = eth(kDst, kSrc);
  ASSERT_TRUE(f->assign(b.data(), b.size()));
  ASSERT_NE(f->push_front(net::kHeadroom - 3), nullptr);
  const Bytes before = bytes_of(*f);
  EXPECT_FALSE(net::push_vlan(*f, 0x8100, 1));
  EXPECT_EQ(bytes_of(*f), before);
  f->pull_front(1);  // now exactly 4 bytes of headroom
  EXPECT_TRUE(net::push_vlan(*f, 0x8100, 1));
  EXPECT_EQ(f->headroom(), 0u);
}

TEST(VlanOps, L2PayloadLen) {
  const Bytes untagged = eth(kDst, kSrc, {}, 0x0800, 60);
  EXPECT_EQ(net::l2_payload_len(untagged.data(), untagged.size()), 46u);
  const Bytes one = eth(kDst, kSrc, {{0x8100, 10, 0}}, 0x0800, 64);
  EXPECT_EQ(net::l2_payload_len(one.data(), one.size()), 46u);
  const Bytes two = eth(kDst, kSrc, {{0x8100, 10, 0}, {0x8100, 20, 0}}, 0x0800, 68);
  EXPECT_EQ(net::l2_payload_len(two.data(), two.size()), 46u);
  const Bytes qinq = eth(kDst, kSrc, {{0x88a8, 10, 0}, {0x8100, 20, 0}}, 0x0800, 68);
  EXPECT_EQ(net::l2_payload_len(qinq.data(), qinq.size()), 46u);
  const Bytes s_only = eth(kDst, kSrc, {{0x88a8, 10, 0}}, 0x0800, 64);
  EXPECT_EQ(net::l2_payload_len(s_only.data(), s_only.size()), 46u);
  // At most two tags are header; a third counts as payload.
  const Bytes three = eth(kDst, kSrc, {{0x8100, 1, 0}, {0x8100, 2, 0}, {0x8100, 3, 0}}, 0x0800, 72);
  EXPECT_EQ(net::l2_payload_len(three.data(), three.size()), 50u);
  // Other EtherTypes are not tags.
  const Bytes other = eth(kDst, kSrc, {{0x9100, 10, 0}}, 0x0800, 64);
  EXPECT_EQ(net::l2_payload_len(other.data(), other.size()), 50u);
  // Header-only and short frames.
  const Bytes hdr = eth(kDst, kSrc, {}, 0x0800, 0);
  EXPECT_EQ(net::l2_payload_len(hdr.data(), hdr.size()), 0u);
  const Bytes tag_only = eth(kDst, kSrc, {{0x8100, 10, 0}}, 0x0800, 0);
  EXPECT_EQ(net::l2_payload_len(tag_only.data(), tag_only.size()), 0u);
  const Bytes runt(10, 0);
  EXPECT_EQ(net::l2_payload_len(runt.data(), runt.size()), 0u);
}

// ---------------------------------------------------------------- checksum

TEST(Frame, InetChecksumKnownIpv4Header) {
  // The classic example: 192.168.0.1 -> 192.168.0.199, UDP, total length 115.
  Bytes h = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
             0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
  EXPECT_EQ(net::inet_checksum(h.data(), h.size()), 0xb861);
  h[10] = 0xb8;
  h[11] = 0x61;
  EXPECT_EQ(net::inet_checksum(h.data(), h.size()), 0);  // a correct header verifies to zero
  h[15] ^= 1;
  EXPECT_NE(net::inet_checksum(h.data(), h.size()), 0);
}

TEST(Frame, InetChecksumRfc1071AndEdgeCases) {
  // RFC 1071 section 3 example: the sum of these words is 0xddf2.
  const Bytes r = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  EXPECT_EQ(net::inet_checksum(r.data(), r.size()), static_cast<uint16_t>(~0xddf2));
  // An odd trailing byte is padded with a zero low byte.
  const Bytes odd = {0x12, 0x34, 0x56};
  EXPECT_EQ(net::inet_checksum(odd.data(), odd.size()), static_cast<uint16_t>(~(0x1234 + 0x5600)));
  // Carries fold back in (end-around carry).
  const Bytes ff = {0xff, 0xff, 0x00, 0x02};
  EXPECT_EQ(net::inet_checksum(ff.data(), ff.size()), static_cast<uint16_t>(~0x0002));
  // The seed is added to the sum (pseudo-headers), folded too.
  EXPECT_EQ(net::inet_checksum(nullptr, 0, 0x1234), 0xedcb);
  EXPECT_EQ(net::inet_checksum(nullptr, 0, 0x2fffe), static_cast<uint16_t>(~0x0001));  // 0x2fffe -> 0x10000 -> 1
  EXPECT_EQ(net::inet_checksum(r.data(), r.size(), 0x0001), static_cast<uint16_t>(~0xddf3));
  EXPECT_EQ(net::inet_checksum(nullptr, 0), 0xffff);
}

}  // namespace
}  // namespace kvnet::testing
