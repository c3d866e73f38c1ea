// Packet builders for tests of layer-3/4 code (conntrack, the firewall):
// L4 headers, IPv4/IPv6 packets, and Ethernet frames around them, built by
// hand, big-endian, checksums zero.
#pragma once

#include "testing.h"

namespace kvnet::testing::pkt {

inline void append(Bytes& b, const Bytes& more) { b.insert(b.end(), more.begin(), more.end()); }

inline Bytes tcp(uint16_t sp, uint16_t dp, uint8_t flags, size_t payload = 0, uint8_t data_off = 0x50) {
  Bytes b;
  put16(b, sp);
  put16(b, dp);
  put32(b, 1000);
  put32(b, (flags & 0x10) ? 2000 : 0);  // an ACK carries an acknowledgment number
  b.push_back(data_off);
  b.push_back(flags);
  put16(b, 65535);
  put16(b, 0);
  put16(b, 0);
  b.resize(b.size() + payload, 0x61);
  return b;
}

inline Bytes udp(uint16_t sp, uint16_t dp, size_t payload = 0) {
  Bytes b;
  put16(b, sp);
  put16(b, dp);
  put16(b, static_cast<uint16_t>(8 + payload));
  put16(b, 0);
  b.resize(b.size() + payload, 0x62);
  return b;
}

// ICMP/ICMPv6: type, code, checksum, then id/seq (echo) or the unused word (errors), then `rest`.
inline Bytes icmp(uint8_t type, uint8_t code, uint16_t id, uint16_t seq, const Bytes& rest = {}) {
  Bytes b{type, code, 0, 0};
  put16(b, id);
  put16(b, seq);
  append(b, rest);
  return b;
}

// An IPv4 packet (no Ethernet header).
inline Bytes ip4(uint8_t proto, uint32_t src, uint32_t dst, const Bytes& l4, uint16_t frag = 0) {
  Bytes b{0x45, 0};
  put16(b, static_cast<uint16_t>(20 + l4.size()));
  put16(b, 0x1234);
  put16(b, frag);
  b.push_back(64);
  b.push_back(proto);
  put16(b, 0);
  put32(b, src);
  put32(b, dst);
  append(b, l4);
  return b;
}

inline Bytes ip6(uint8_t next, const uint8_t* src, const uint8_t* dst, const Bytes& l4) {
  Bytes b;
  put32(b, 0x60000000);
  put16(b, static_cast<uint16_t>(l4.size()));
  b.push_back(next);
  b.push_back(64);
  b.insert(b.end(), src, src + 16);
  b.insert(b.end(), dst, dst + 16);
  append(b, l4);
  return b;
}

inline Bytes l2(uint16_t type, const Bytes& l3) {
  Bytes b = eth(0x525400000002, 0x525400000001, {}, type, 0);
  append(b, l3);
  return b;
}
inline Bytes v4(uint8_t proto, uint32_t src, uint32_t dst, const Bytes& l4) { return l2(0x0800, ip4(proto, src, dst, l4)); }
inline Bytes v6(uint8_t next, const uint8_t* src, const uint8_t* dst, const Bytes& l4) {
  return l2(0x86dd, ip6(next, src, dst, l4));
}

}  // namespace kvnet::testing::pkt
