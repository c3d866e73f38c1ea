#include "net/frame.h"

#include <bit>
#include <cstring>

#include "net/headers.h"

namespace kvnet::net {

FramePool::FramePool(size_t frames, size_t frame_capacity)
    : storage_(new uint8_t[frames * frame_capacity]) {
  frames_.reserve(frames);
  free_.reserve(frames);
  for (size_t i = 0; i < frames; ++i) frames_.emplace_back(storage_.get() + i * frame_capacity, frame_capacity);
  for (size_t i = frames; i-- > 0;) free_.push_back(&frames_[i]);
}

// RFC 1071: the one's complement sum is independent of byte order, so the
// words are summed in host (little-endian) order, 8 bytes at a time, and the
// folded result swapped once (RFC 1071 section 2(B)).
static_assert(std::endian::native == std::endian::little, "inet_checksum sums little-endian words");
uint16_t inet_checksum(const uint8_t* p, size_t len, uint32_t seed) {
  uint64_t sum = 0;
  for (; len >= 8; p += 8, len -= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    sum += (v & 0xffffffffu) + (v >> 32);  // each term < 2^33: no overflow below 2^30 words
  }
  for (; len >= 2; p += 2, len -= 2) {
    uint16_t v;
    std::memcpy(&v, p, 2);
    sum += v;
  }
  if (len) sum += p[0];  // a last odd byte is the high byte of a big-endian word
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  uint64_t be = ((sum & 0xff) << 8) | (sum >> 8);
  be += seed;
  while (be >> 16) be = (be & 0xffff) + (be >> 16);
  return static_cast<uint16_t>(~be);
}

}  // namespace kvnet::net
