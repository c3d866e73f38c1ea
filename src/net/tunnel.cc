#include "net/tunnel.h"

#include <algorithm>
#include <cassert>
#include <cstring>

#include "net/bytes.h"
#include "net/headers.h"

namespace kvnet::net {
namespace {

constexpr uint8_t kVxlanFlagI = 0x08;  // "the VNI is valid"; the only flag RFC 7348 defines

// Geneve (RFC 8926, 3.4): byte 0 is Ver(2) | Opt Len(6), byte 1 is O | C |
// 6 reserved bits.
constexpr uint8_t kGeneveVersionMask = 0xc0;
constexpr uint8_t kGeneveOptLenMask = 0x3f;
constexpr uint8_t kGeneveOam = 0x80;
constexpr uint8_t kGeneveCritical = 0x40;
constexpr size_t kGeneveOptHeaderLen = 4;    // class(16) type(8) reserved(3) length(5)
constexpr uint8_t kGeneveOptLenBits = 0x1f;  // option data length in 4-byte words
constexpr uint8_t kGeneveOptCriticalType = 0x80;  // the high bit of an option's type

// GRE (RFC 2784, 2890): the flags/version word.
constexpr uint16_t kGreChecksum = 0x8000;
constexpr uint16_t kGreRouting = 0x4000;  // RFC 1701 source routing: never implemented by kvnet
constexpr uint16_t kGreKey = 0x2000;
constexpr uint16_t kGreSequence = 0x1000;
constexpr uint16_t kGreVersionMask = 0x0007;
constexpr size_t kGreBaseLen = 4;

constexpr uint16_t kIpv4MoreFragments = 0x2000;
constexpr uint16_t kIpv4OffsetMask = 0x1fff;

TunnelRx refuse(TunnelError e) {
  TunnelRx rx;
  rx.error = e;
  return rx;
}

// Sets the inner frame to [off, len) and checks that it holds an Ethernet
// header. On refusal every other field is dropped, as for any error.
TunnelRx with_inner(TunnelRx rx, size_t off, size_t len) {
  if (len - off < kEthHeaderLen) return refuse(TunnelError::kShortInner);
  rx.inner_off = off;
  rx.inner_len = len - off;
  return rx;
}

// A Geneve option's whole length (header and data) from its header at `opt`.
size_t geneve_option_len(const uint8_t* opt) {
  return kGeneveOptHeaderLen + static_cast<size_t>(opt[3] & kGeneveOptLenBits) * 4;
}

uint32_t load_be24(const uint8_t* p) { return uint32_t{p[0]} << 16 | uint32_t{p[1]} << 8 | p[2]; }
void store_be24(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 16);
  p[1] = static_cast<uint8_t>(v >> 8);
  p[2] = static_cast<uint8_t>(v);
}

}  // namespace

std::string_view to_string(TunnelError e) {
  switch (e) {
    case TunnelError::kNone: return "none";
    case TunnelError::kShort: return "short";
    case TunnelError::kBadFlags: return "bad_flags";
    case TunnelError::kBadProtocol: return "bad_protocol";
    case TunnelError::kBadOptions: return "bad_options";
    case TunnelError::kNotIp: return "not_ip";
    case TunnelError::kFragment: return "fragment";
    case TunnelError::kShortInner: return "short_inner";
    case TunnelError::kCount: break;
  }
  return "?";
}

// --- VXLAN

void vxlan_build(uint8_t* out, uint32_t vni) {
  assert(vni <= kMaxVni);
  std::memset(out, 0, kVxlanHeaderLen);
  out[0] = kVxlanFlagI;
  store_be24(out + 4, vni & kMaxVni);
}

TunnelRx vxlan_parse(const uint8_t* p, size_t len) {
  if (len < kVxlanHeaderLen) return refuse(TunnelError::kShort);
  // RFC 7348 5: the I flag must be set; the other flag bits and every
  // reserved field are ignored on receipt (VXLAN-GPE and GBP reuse them).
  if (!(p[0] & kVxlanFlagI)) return refuse(TunnelError::kBadFlags);
  TunnelRx rx;
  rx.vni = load_be24(p + 4);
  return with_inner(rx, kVxlanHeaderLen, len);
}

// --- Geneve

size_t geneve_build(uint8_t* out, uint32_t vni, const uint8_t* options, size_t options_len) {
  assert(options_len % 4 == 0 && options_len <= kGeneveMaxOptionsLen);
  assert(vni <= kMaxVni);
  assert(options || options_len == 0);
  // Release builds: cut a bad length down to what the header can say, so the
  // header written always describes exactly the bytes that follow it.
  options_len = std::min(options_len, kGeneveMaxOptionsLen) & ~size_t{3};
  if (!options) options_len = 0;

  out[0] = static_cast<uint8_t>(options_len / 4);  // version 0
  out[1] = 0;
  store_be16(out + 2, kEthTypeTeb);
  store_be24(out + 4, vni & kMaxVni);
  out[7] = 0;
  if (options_len) std::memcpy(out + kGeneveHeaderLen, options, options_len);

  // RFC 8926 3.4: C is set when any option's type has its critical bit, so a
  // receiver that strips unknown options knows it may not. Walks the TLVs that
  // fit; the bytes are carried as given either way.
  for (size_t off = 0; off + kGeneveOptHeaderLen <= options_len;) {
    const uint8_t* opt = options + off;
    if (opt[2] & kGeneveOptCriticalType) out[1] |= kGeneveCritical;
    off += geneve_option_len(opt);
  }
  return kGeneveHeaderLen + options_len;
}

TunnelRx geneve_parse(const uint8_t* p, size_t len) {
  if (len < kGeneveHeaderLen) return refuse(TunnelError::kShort);
  if (p[0] & kGeneveVersionMask) return refuse(TunnelError::kBadFlags);
  if (load_be16(p + 2) != kEthTypeTeb) return refuse(TunnelError::kBadProtocol);
  const size_t options_len = static_cast<size_t>(p[0] & kGeneveOptLenMask) * 4;
  if (options_len > len - kGeneveHeaderLen) return refuse(TunnelError::kBadOptions);

  // Options are carried, not interpreted, but each TLV's length must end
  // inside the options area: a receiver that does walk them (or a critical
  // option the caller looks for) must not run into the inner frame.
  const uint8_t* opts = p + kGeneveHeaderLen;
  uint16_t count = 0;
  for (size_t off = 0; off < options_len; ++count) {
    if (options_len - off < kGeneveOptHeaderLen) return refuse(TunnelError::kBadOptions);
    const size_t tlv = geneve_option_len(opts + off);
    if (tlv > options_len - off) return refuse(TunnelError::kBadOptions);
    off += tlv;
  }

  TunnelRx rx;
  rx.vni = load_be24(p + 4);
  rx.options_len = static_cast<uint16_t>(options_len);
  rx.option_count = count;
  rx.oam = p[1] & kGeneveOam;
  rx.critical = p[1] & kGeneveCritical;
  return with_inner(rx, kGeneveHeaderLen + options_len, len);
}

// --- GRE

size_t gre_build(uint8_t* out, bool has_key, uint32_t key) {
  store_be16(out, has_key ? kGreKey : 0);  // version 0, no checksum, no sequence
  store_be16(out + 2, kEthTypeTeb);
  if (!has_key) return kGreBaseLen;
  store_be32(out + kGreBaseLen, key);
  return kGreBaseLen + 4;
}

TunnelRx gre_parse(const uint8_t* p, size_t len) {
  if (len < kGreBaseLen) return refuse(TunnelError::kShort);
  const uint16_t flags = load_be16(p);
  // Version 1 is PPTP's enhanced GRE, a different header. The routing bit
  // would put a variable-length routing list here (RFC 1701). Bits 4-12
  // (RFC 1701's strict source route and recursion count, then reserved) are
  // ignored, as Linux's GRE receive path does.
  if ((flags & kGreVersionMask) || (flags & kGreRouting)) return refuse(TunnelError::kBadFlags);
  if (load_be16(p + 2) != kEthTypeTeb) return refuse(TunnelError::kBadProtocol);

  // Optional fields, in this order: checksum + reserved, key, sequence number.
  size_t off = kGreBaseLen;
  if (flags & kGreChecksum) off += 4;  // not verified: the outer IP layer already checks the packet
  const size_t key_off = off;
  if (flags & kGreKey) off += 4;
  if (flags & kGreSequence) off += 4;  // carried for reordering kvnet does not do
  if (off > len) return refuse(TunnelError::kBadOptions);

  TunnelRx rx;
  rx.has_key = flags & kGreKey;
  if (rx.has_key) rx.vni = load_be32(p + key_off);
  return with_inner(rx, off, len);
}

TunnelRx ipv4_gre_parse(const uint8_t* p, size_t len, uint32_t* src) {
  auto* ip = header_at<Ipv4Header>(p, len);
  if (!ip) return refuse(TunnelError::kShort);
  const size_t ihl = ip->header_len();
  if (ip->version() != 4 || ihl < sizeof(Ipv4Header)) return refuse(TunnelError::kNotIp);
  if (ihl > len) return refuse(TunnelError::kShort);
  const size_t total = ip->total_len.host();
  if (total < ihl) return refuse(TunnelError::kNotIp);
  if (total > len) return refuse(TunnelError::kShort);
  if (ip->proto != kIpProtoGre) return refuse(TunnelError::kBadProtocol);
  // A raw socket delivers reassembled packets; a fragment here means the
  // kernel did not reassemble, and its GRE header may be incomplete or absent.
  const uint16_t frag = ip->frag.host();
  if ((frag & kIpv4MoreFragments) || (frag & kIpv4OffsetMask)) return refuse(TunnelError::kFragment);
  if (src) *src = ip->src.raw;

  // Bytes past the IP total length (link-layer padding) are not GRE payload.
  TunnelRx rx = gre_parse(p + ihl, total - ihl);
  if (rx.error == TunnelError::kNone) rx.inner_off += ihl;
  return rx;
}

// --- inner flow hash

namespace {

// A multiply-xorshift mixer over 64-bit words: each field is folded in with a
// multiplication by an odd constant (so no input bit is lost) and a rotation
// (so a field's high bits reach the low ones the port range keeps).
struct FlowHasher {
  uint64_t h = 0x243f6a8885a308d3ULL;  // an arbitrary nonzero start
  void add(uint64_t v) {
    h ^= v;
    h *= 0x9e3779b97f4a7c15ULL;
    h = h << 29 | h >> 35;
  }
  uint32_t finish() const {
    uint64_t x = h;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return static_cast<uint32_t>(x);
  }
};

// Adds the TCP/UDP ports at `l4` if `avail` bytes hold them.
void add_ports(FlowHasher& hs, uint8_t proto, const uint8_t* l4, size_t avail) {
  if ((proto == kIpProtoTcp || proto == kIpProtoUdp) && avail >= 4) hs.add(load_be32(l4));
}

void add_ipv4(FlowHasher& hs, const uint8_t* ip, size_t avail) {
  auto* h = header_at<Ipv4Header>(ip, avail);
  if (!h || h->version() != 4) return;
  hs.add(uint64_t{h->src.host()} << 32 | h->dst.host());
  hs.add(h->proto);
  const size_t ihl = h->header_len();
  // Every fragment of a datagram must hash alike, and only the first carries
  // the ports: leave them out of all of them.
  const uint16_t frag = h->frag.host();
  if (ihl < sizeof(Ipv4Header) || ihl > avail || (frag & (kIpv4MoreFragments | kIpv4OffsetMask))) return;
  add_ports(hs, h->proto, ip + ihl, avail - ihl);
}

void add_ipv6(FlowHasher& hs, const uint8_t* ip, size_t avail) {
  auto* h = header_at<Ipv6Header>(ip, avail);
  if (!h || h->version() != 6) return;
  for (size_t i = 0; i < 16; i += 8) {
    uint64_t s, d;
    std::memcpy(&s, h->src + i, 8);
    std::memcpy(&d, h->dst + i, 8);
    hs.add(s);
    hs.add(d);
  }
  hs.add(h->next_header);
  // Extension headers are not walked: such a flow hashes on its addresses.
  add_ports(hs, h->next_header, ip + sizeof(Ipv6Header), avail - sizeof(Ipv6Header));
}

}  // namespace

uint32_t inner_flow_hash(const uint8_t* frame, size_t len) {
  FlowHasher hs;
  if (len < kEthHeaderLen) {
    // Not a frame: hash what there is, so that it still gets some port.
    hs.add(len);
    for (size_t i = 0; i < len; ++i) hs.add(frame[i]);
    return hs.finish();
  }
  // The frame's length is left out: it varies within a flow.
  hs.add(load_mac64(frame));
  hs.add(load_mac64(frame + 6));
  size_t off = 12;
  uint16_t type = load_be16(frame + off);
  // Look past up to two 802.1Q/802.1ad tags to the IP header (VIDs hashed).
  for (int tags = 0; tags < 2 && (type == kEthTypeVlan || type == kEthTypeQinQ) && len - off >= 6; ++tags) {
    hs.add(load_be32(frame + off) & 0xffff0fffu);  // TPID and VID; not PCP/DEI, which may vary within a flow
    off += kVlanTagLen;
    type = load_be16(frame + off);
  }
  hs.add(type);
  off += 2;
  if (type == kEthTypeIpv4) add_ipv4(hs, frame + off, len - off);
  if (type == kEthTypeIpv6) add_ipv6(hs, frame + off, len - off);
  return hs.finish();
}

}  // namespace kvnet::net
