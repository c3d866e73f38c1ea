// Bounds of net::segment() against malformed headers, found by fuzzing
// (fuzz/offload.cc; each crashing input is also in fuzz/corpus/offload/).
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "ctl/flow_spec.h"
#include "net/frame.h"
#include "net/headers.h"
#include "net/offload.h"

namespace kvnet::net {
namespace {

// A TCP/IPv4 GSO super-frame with `payload` bytes and TCP data offset `doff`.
Frame* gso_tcp(FramePool& pool, size_t payload, uint8_t doff) {
  auto base = ctl::build_frame_from_flow("dl_src=02:00:00:00:00:01,dl_dst=02:00:00:00:00:02,tcp,"
                                         "nw_src=10.0.0.1,nw_dst=10.0.0.2,tp_src=5000,tp_dst=80");
  std::vector<uint8_t> b = *base;
  const size_t l3 = 14, l4 = l3 + 20;
  b.resize(l4 + 20);
  b.insert(b.end(), payload, 0x67);
  store_be16(&b[l3 + 2], static_cast<uint16_t>(b.size() - l3));
  b[l4 + 12] = static_cast<uint8_t>(doff << 4);
  Frame* f = pool.get();
  f->assign(b.data(), b.size());
  f->meta.vnet.gso_type = kGsoTcpV4;
  f->meta.vnet.gso_size = 10;
  f->meta.vnet.hdr_len = static_cast<uint16_t>(l4 + 20);
  return f;
}

TEST(OffloadBounds, SegmentRejectsTcpDataOffsetBelowFive) {
  FramePool pool(64);
  Frame* segs[32];
  for (uint8_t doff = 0; doff < 5; ++doff) {
    // Segments would be cut inside the TCP header; the sequence number and
    // checksum would be written past each segment's end.
    Frame* f = gso_tcp(pool, 40, doff);
    EXPECT_EQ(segment(f, pool, segs, std::size(segs)), -1) << "data offset " << int{doff};
    EXPECT_EQ(pool.available(), pool.size());
  }
  Frame* f = gso_tcp(pool, 40, 5);
  ASSERT_EQ(segment(f, pool, segs, std::size(segs)), 4);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(segs[i]->len(), 14u + 20 + 20 + 10);
    pool.put(segs[i]);
  }
  EXPECT_EQ(pool.available(), pool.size());
}

}  // namespace
}  // namespace kvnet::net
