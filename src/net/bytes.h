// Network-order integer types and MAC addresses.
//
// `Be16`/`Be32` hold a value exactly as it sits on the wire. They do not
// convert implicitly, so a host-order value can never be written into a header
// by accident: use `Be16::from_host()` and `.host()`. Both are trivially
// copyable, have the size of the integer they wrap and an alignment of 1, so
// header structs built from them can be overlaid on frame bytes at any offset
// (an IPv4 address sits at offset 26 of an Ethernet frame).
//
// Thread-safety: plain values.
#pragma once

#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace kvnet::net {

constexpr uint16_t byteswap16(uint16_t v) { return static_cast<uint16_t>((v << 8) | (v >> 8)); }
constexpr uint32_t byteswap32(uint32_t v) {
  return ((v & 0xffu) << 24) | ((v & 0xff00u) << 8) | ((v >> 8) & 0xff00u) | (v >> 24);
}

static_assert(std::endian::native == std::endian::little, "kvnet assumes a little-endian host");

struct [[gnu::packed]] Be16 {
  uint16_t raw;  // network byte order
  static constexpr Be16 from_host(uint16_t v) { return Be16{byteswap16(v)}; }
  constexpr uint16_t host() const { return byteswap16(raw); }
  friend constexpr bool operator==(Be16, Be16) = default;
};
static_assert(sizeof(Be16) == 2 && alignof(Be16) == 1);

struct [[gnu::packed]] Be32 {
  uint32_t raw;  // network byte order
  static constexpr Be32 from_host(uint32_t v) { return Be32{byteswap32(v)}; }
  constexpr uint32_t host() const { return byteswap32(raw); }
  friend constexpr bool operator==(Be32, Be32) = default;
};
static_assert(sizeof(Be32) == 4 && alignof(Be32) == 1);

// Unaligned loads/stores of network-order values from raw bytes.
inline uint16_t load_be16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
inline uint32_t load_be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
inline void store_be16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
inline void store_be32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

// A 48-bit Ethernet address, in wire order.
struct Mac {
  std::array<uint8_t, 6> b{};

  static Mac from_bytes(const uint8_t* p) {
    Mac m;
    std::memcpy(m.b.data(), p, 6);
    return m;
  }
  // Parses "aa:bb:cc:dd:ee:ff" (also accepts '-' separators).
  static std::optional<Mac> parse(std::string_view s);
  std::string str() const;

  // The 48 bits as an integer, first wire byte most significant.
  constexpr uint64_t u64() const {
    return (uint64_t{b[0]} << 40) | (uint64_t{b[1]} << 32) | (uint64_t{b[2]} << 24) |
           (uint64_t{b[3]} << 16) | (uint64_t{b[4]} << 8) | uint64_t{b[5]};
  }
  static constexpr Mac from_u64(uint64_t v) {
    Mac m;
    for (int i = 5; i >= 0; --i) {
      m.b[static_cast<size_t>(i)] = static_cast<uint8_t>(v);
      v >>= 8;
    }
    return m;
  }
  constexpr bool is_multicast() const { return (b[0] & 1) != 0; }  // includes broadcast
  constexpr bool is_broadcast() const { return u64() == 0xffffffffffffULL; }
  constexpr bool is_zero() const { return u64() == 0; }
  // 01:80:C2:00:00:00-0F: IEEE 802.1D link-local groups (STP, LACP, LLDP, 802.1X...).
  constexpr bool is_reserved_link_local() const { return (u64() & ~0xfULL) == 0x0180c2000000ULL; }
  friend constexpr bool operator==(const Mac&, const Mac&) = default;
};
static_assert(sizeof(Mac) == 6);

inline uint64_t load_mac64(const uint8_t* p) {
  return (uint64_t{p[0]} << 40) | (uint64_t{p[1]} << 32) | (uint64_t{p[2]} << 24) |
         (uint64_t{p[3]} << 16) | (uint64_t{p[4]} << 8) | uint64_t{p[5]};
}

}  // namespace kvnet::net
