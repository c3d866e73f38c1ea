#include "net/icmp_error.h"

#include <algorithm>
#include <cstring>

#include "net/bytes.h"
#include "net/flow_key.h"
#include "net/headers.h"

namespace kvnet::net {
namespace {

constexpr size_t kIpv4Max = 576;   // RFC 1812 4.3.2.3: an ICMP error need not be longer
constexpr size_t kIpv6Max = 1280;  // RFC 4443 2.4(c): as much as fits the minimum MTU
constexpr uint8_t kIcmpDestUnreach = 3, kIcmpFragNeeded = 4, kIcmpv6TooBig = 2;

// The offset of the IP header behind the MACs and up to two VLAN tags, and
// its EtherType; 0 if the frame is too short.
size_t l3_offset(const Frame& f, uint16_t& type) {
  const uint8_t* p = f.data();
  size_t ofs = 12;
  for (int i = 0; i < 3; ++i) {
    if (f.len() < ofs + 2) return 0;
    type = load_be16(p + ofs);
    if (type != kEthTypeVlan && type != kEthTypeQinQ) return ofs + 2;
    ofs += kVlanTagLen;
  }
  return 0;  // more than two tags
}

bool ipv4_error(uint8_t type) { return type == 3 || type == 4 || type == 5 || type == 11 || type == 12; }

// Swaps the MACs: the reply goes back to the sender, from the destination.
void swap_macs(uint8_t* p) {
  uint8_t tmp[6];
  std::memcpy(tmp, p, 6);
  std::memcpy(p, p + 6, 6);
  std::memcpy(p + 6, tmp, 6);
}

bool reply_v4(Frame& f, size_t l3, uint32_t mtu, IcmpRateLimit& limit) {
  uint8_t* p = f.data();
  const size_t len = f.len();
  if (len < l3 + 20) return false;
  const uint8_t* ip = p + l3;
  const size_t ihl = size_t{ip[0] & 0x0fu} * 4;
  const uint16_t frag = load_be16(ip + 6);
  if ((ip[0] >> 4) != 4 || ihl < 20 || len < l3 + ihl) return false;
  if (!(frag & 0x4000) || (frag & 0x1fff)) return false;  // no DF: a router would fragment; or a later fragment
  const uint32_t src = load_be32(ip + 12), dst = load_be32(ip + 16);
  auto special = [](uint32_t a) { return a == 0 || a == 0xffffffffu || (a >> 28) == 0xe || (a >> 24) == 127; };
  if (special(src) || (dst >> 28) == 0xe || dst == 0xffffffffu) return false;
  if (ip[9] == kIpProtoIcmp && (len < l3 + ihl + 1 || ipv4_error(p[l3 + ihl]))) return false;
  if (!limit.take(f.meta.ts_ns)) return false;
  // The quote: the original packet from its IP header, as much as fits.
  const size_t total = std::min<size_t>(load_be16(ip + 2), len - l3);
  const size_t quote = std::min(total, kIpv4Max - 28);
  if (f.tailroom() + len < l3 + 28 + quote) return false;  // cannot happen: the frame was longer
  std::memmove(p + l3 + 28, p + l3, quote);
  swap_macs(p);
  uint8_t* h = p + l3;
  h[0] = 0x45;
  h[1] = 0xc0;  // internetwork control, as Linux's ICMP errors
  store_be16(h + 2, static_cast<uint16_t>(28 + quote));
  store_be16(h + 4, 0);
  store_be16(h + 6, 0);
  h[8] = 64;
  h[9] = kIpProtoIcmp;
  store_be16(h + 10, 0);
  store_be32(h + 12, dst);
  store_be32(h + 16, src);
  store_be16(h + 10, inet_checksum(h, 20));
  uint8_t* icmp = h + 20;
  icmp[0] = kIcmpDestUnreach;
  icmp[1] = kIcmpFragNeeded;
  store_be16(icmp + 2, 0);
  store_be16(icmp + 4, 0);
  store_be16(icmp + 6, static_cast<uint16_t>(mtu > 0xffff ? 0xffff : mtu));  // next-hop MTU (RFC 1191)
  store_be16(icmp + 2, inet_checksum(icmp, 8 + quote));
  f.set_len(l3 + 28 + quote);
  return true;
}

bool reply_v6(Frame& f, size_t l3, uint32_t mtu, IcmpRateLimit& limit) {
  uint8_t* p = f.data();
  const size_t len = f.len();
  Ipv6Upper up;
  if (!ipv6_upper(p, len, l3, up) || up.later_fragment) return false;
  const uint8_t* ip = p + l3;
  if (ip[8] == 0xff || ip[24] == 0xff) return false;  // a multicast source or destination
  static const uint8_t kZero[16] = {};
  uint8_t loopback[16] = {};
  loopback[15] = 1;
  if (std::memcmp(ip + 8, kZero, 16) == 0 || std::memcmp(ip + 8, loopback, 16) == 0) return false;
  // ICMPv6 errors are types 0-127; a cut header counts as one.
  if (up.proto == kIpProtoIcmpv6 && (len < size_t{up.ofs} + 1 || p[up.ofs] < 128)) return false;
  if (!limit.take(f.meta.ts_ns)) return false;
  const size_t total = std::min<size_t>(40 + load_be16(ip + 4), len - l3);
  const size_t quote = std::min(total, kIpv6Max - 48);
  if (f.tailroom() + len < l3 + 48 + quote) return false;  // cannot happen: the frame was longer
  uint8_t src[16], dst[16];
  std::memcpy(src, ip + 8, 16);
  std::memcpy(dst, ip + 24, 16);
  std::memmove(p + l3 + 48, p + l3, quote);
  swap_macs(p);
  uint8_t* h = p + l3;
  store_be32(h, 0x60000000u);
  store_be16(h + 4, static_cast<uint16_t>(8 + quote));
  h[6] = kIpProtoIcmpv6;
  h[7] = 64;
  std::memcpy(h + 8, dst, 16);
  std::memcpy(h + 24, src, 16);
  uint8_t* icmp = h + 40;
  icmp[0] = kIcmpv6TooBig;
  icmp[1] = 0;
  store_be16(icmp + 2, 0);
  store_be32(icmp + 4, mtu);
  // The checksum covers a pseudo header: addresses, length, next header
  // (inet_checksum's seed: a sum of big-endian words).
  uint32_t pseudo = kIpProtoIcmpv6 + static_cast<uint32_t>(8 + quote);
  for (size_t i = 8; i < 40; i += 2) pseudo += load_be16(h + i);
  store_be16(icmp + 2, inet_checksum(icmp, 8 + quote, pseudo));
  f.set_len(l3 + 48 + quote);
  return true;
}

}  // namespace

bool reply_too_big(Frame& f, size_t max_len, IcmpRateLimit& limit) {
  if (f.len() < kEthHeaderLen || (f.data()[0] & 1)) return false;  // a multicast or broadcast destination
  uint16_t type = 0;
  const size_t l3 = l3_offset(f, type);
  if (!l3 || max_len <= l3 + 68) return false;  // 68: IPv4's least MTU (RFC 791)
  const auto mtu = static_cast<uint32_t>(max_len - l3);
  bool ok = false;
  if (type == kEthTypeIpv4) ok = reply_v4(f, l3, mtu, limit);
  else if (type == kEthTypeIpv6) ok = reply_v6(f, l3, mtu, limit);
  if (ok) f.meta.vnet = VnetHdr{};  // a whole frame with its checksums: no offload left
  return ok;
}

}  // namespace kvnet::net
