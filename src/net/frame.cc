#include "net/frame.h"

#include "net/headers.h"

namespace kvnet::net {

FramePool::FramePool(size_t frames, size_t frame_capacity)
    : storage_(new uint8_t[frames * frame_capacity]) {
  frames_.reserve(frames);
  free_.reserve(frames);
  for (size_t i = 0; i < frames; ++i) frames_.emplace_back(storage_.get() + i * frame_capacity, frame_capacity);
  for (size_t i = frames; i-- > 0;) free_.push_back(&frames_[i]);
}

uint16_t inet_checksum(const uint8_t* p, size_t len, uint32_t seed) {
  uint64_t sum = seed;
  for (; len >= 2; p += 2, len -= 2) sum += load_be16(p);
  if (len) sum += uint32_t{p[0]} << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

}  // namespace kvnet::net
