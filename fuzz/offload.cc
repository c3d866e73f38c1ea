// Fuzz target offload: an arbitrary virtio-net header and frame through the
// software offload fallbacks, net::finish_checksum and net::segment, and
// through what a tunnel does with a kernel VTEP's inner frames
// (net::complete_partial_checksum, net::describe_tcp_gso).
//
// Input: 10 bytes of net::VnetHdr (host byte order, as the kernel hands it),
// then the frame.
//
// Invariants: no out-of-bounds access (ASan); every frame goes back to the
// pool; every segment is no longer than the super-frame; and nothing is
// written past the end of a segment. Frames share one pool allocation, so a
// write just past a segment's length stays inside the pool and ASan cannot see
// it: before segment() runs, the frames it will take from the pool (the pool
// hands out the most recently returned first) are filled with a canary, which
// must still be intact after each segment's last byte.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "fuzz_check.h"
#include "net/frame.h"
#include "net/offload.h"

namespace {

using namespace kvnet;

constexpr size_t kMaxSegments = 512;  // as dp::Datapath::send_finalized
constexpr uint8_t kCanary = 0xa5;
constexpr size_t kCanaryBytes = 64;

// Fills the first `n` data bytes of the next `count` frames the pool hands
// out with the canary, leaving the pool's order as it was.
void paint_next_frames(net::FramePool& pool, size_t count, size_t n) {
  static std::vector<net::Frame*> taken;
  taken.clear();
  for (size_t i = 0; i < count; ++i) {
    net::Frame* f = pool.get();
    if (!f) break;
    std::memset(f->data(), kCanary, std::min(n, f->tailroom()));
    taken.push_back(f);
  }
  for (auto it = taken.rbegin(); it != taken.rend(); ++it) pool.put(*it);
}

// The first byte of [from, to) that is not the canary, or `to`. Not
// instrumented for coverage: a compare per byte would dominate the run time.
#if defined(__clang__)
__attribute__((no_sanitize("coverage")))
#endif
size_t first_written(const uint8_t* p, size_t from, size_t to) {
  while (from < to && p[from] == kCanary) ++from;
  return from;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static net::FramePool* pool = new net::FramePool(kMaxSegments + 8, net::kHeadroom + net::kMaxGsoFrameLen);
  const size_t pool_size = pool->available();
  net::VnetHdr vnet;
  if (size < sizeof vnet) return 0;
  std::memcpy(&vnet, data, sizeof vnet);
  data += sizeof vnet;
  size -= sizeof vnet;

  // finish_checksum alone.
  {
    net::Frame* f = pool->get();
    if (!f->assign(data, size)) {
      pool->put(f);
      return 0;
    }
    f->meta.vnet = vnet;
    const bool needed = vnet.flags & net::kVnetNeedsCsum;
    if (net::finish_checksum(*f) && needed) {
      FUZZ_CHECK(size_t{vnet.csum_start} + vnet.csum_offset + 2 <= f->len(), "checksum field outside the frame");
      FUZZ_CHECK(!(f->meta.vnet.flags & net::kVnetNeedsCsum), "flag not cleared");
    }
    FUZZ_CHECK(f->len() == size, "finish_checksum changed the length");
    pool->put(f);
  }

  // A kernel VTEP's inner frame: a partial checksum filled in (then it
  // verifies: a second call changes nothing), or a super-frame described,
  // whose segments (cut to the MTU the header's gso_size stands for) fit.
  {
    net::Frame* f = pool->get();
    f->assign(data, size);
    if (net::complete_partial_checksum(*f)) {
      FUZZ_CHECK(f->len() == size, "complete_partial_checksum changed the length");
      FUZZ_CHECK(!net::complete_partial_checksum(*f), "a filled checksum was taken for a partial one");
    }
    const size_t max_l3 = 68 + vnet.gso_size % 9000;
    net::VnetHdr v;
    if (net::describe_tcp_gso(f->data(), f->len(), max_l3, v)) {
      FUZZ_CHECK(v.gso_size > 0 && v.hdr_len < f->len() && size_t{v.csum_start} + v.csum_offset + 2 <= v.hdr_len,
                 "describe_tcp_gso: gso_size %u, hdr_len %u, csum_start %u", v.gso_size, v.hdr_len, v.csum_start);
      FUZZ_CHECK(net::gso_segment_l3_len(f->data(), f->len(), v) <= max_l3, "segments longer than the MTU");
    }
    pool->put(f);
  }

  // segment: what the datapath does for a port that takes no offload.
  const size_t mss = vnet.gso_size;
  const size_t expect = mss ? std::min(kMaxSegments, size / mss + 1) : 1;
  // Segments are at most headers + mss long; headers of more than 512 bytes
  // go unchecked past that.
  const size_t painted = std::min(size, mss + 512) + kCanaryBytes;
  paint_next_frames(*pool, expect + 1, painted);
  net::Frame* f = pool->get();
  f->assign(data, size);
  f->meta.vnet = vnet;
  net::Frame* segs[kMaxSegments];
  const int n = net::segment(f, *pool, segs, kMaxSegments);
  FUZZ_CHECK(n >= -1 && n <= static_cast<int>(kMaxSegments), "segment returned %d", n);
  for (int i = 0; i < n; ++i) {
    net::Frame* s = segs[i];
    FUZZ_CHECK(s->len() <= size, "segment %d is %zu bytes, longer than the %zu-byte frame", i, s->len(), size);
    if (s == f) continue;  // a non-GSO frame comes back as itself
    const size_t end = std::min({painted, s->len() + kCanaryBytes, s->len() + s->tailroom()});
    const size_t at = first_written(s->data(), s->len(), end);
    FUZZ_CHECK(at == end, "segment %d of %d (%zu bytes) was written at byte %zu", i, n, s->len(), at);
  }
  for (int i = 0; i < n; ++i) pool->put(segs[i]);
  FUZZ_CHECK(pool->available() == pool_size, "%zu frames are not back in the pool", pool_size - pool->available());
  return 0;
}
