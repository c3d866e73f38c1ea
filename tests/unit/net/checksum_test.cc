// inet_checksum sums 8 bytes at a time in host order; it must equal RFC 1071's
// plain big-endian 16-bit sum for every length, alignment and seed.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

#include "net/bytes.h"
#include "net/headers.h"

namespace kvnet::net {
namespace {

uint16_t reference(const uint8_t* p, size_t len, uint32_t seed) {
  uint64_t sum = seed;
  for (; len >= 2; p += 2, len -= 2) sum += load_be16(p);
  if (len) sum += uint32_t{p[0]} << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

TEST(InetChecksum, EqualsTheBigEndianWordSumForEveryLengthAlignmentAndSeed) {
  std::mt19937 rng(7);
  std::vector<uint8_t> buf(1600);
  for (auto& b : buf) b = static_cast<uint8_t>(rng());
  for (size_t off = 0; off < 8; ++off)
    for (size_t len = 0; len < 200; ++len)
      for (uint32_t seed : {0u, 1u, 0xffffu, 0x1fffeu, static_cast<uint32_t>(rng())})
        ASSERT_EQ(inet_checksum(buf.data() + off, len, seed), reference(buf.data() + off, len, seed))
            << "offset " << off << " length " << len << " seed " << seed;
  ASSERT_EQ(inet_checksum(buf.data(), buf.size()), reference(buf.data(), buf.size(), 0));
  std::vector<uint8_t> ff(65536, 0xff);  // the largest sums
  EXPECT_EQ(inet_checksum(ff.data(), ff.size(), 0xffffffffu), reference(ff.data(), ff.size(), 0xffffffffu));
  // RFC 1071's example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2, complemented 220d.
  const uint8_t ex[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  EXPECT_EQ(inet_checksum(ex, sizeof ex), 0x220d);
}

}  // namespace
}  // namespace kvnet::net
