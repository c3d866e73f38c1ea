// The flow key: every header field a stage may look at, extracted by one parse
// of the frame's bytes. Stages read the key, not the bytes.
//
// Field names follow Open vSwitch's (dl_*, nw_*, tp_*) so `trace` can take and
// print them in OVS's syntax. Layer-3/4 fields are filled only as far as the
// bytes allow; `flags` records what was truncated or malformed. A switch still
// forwards such frames (it is a layer-2 device); a firewall stage may not.
//
// Thread-safety: plain data.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "net/bytes.h"

namespace kvnet::net {

enum FlowFlags : uint8_t {
  kFlowL3Truncated = 1 << 0,  // EtherType says IPv4/IPv6/ARP but the header does not fit
  kFlowL3Malformed = 1 << 1,  // bad version, IHL, or lengths inconsistent with the frame
  kFlowL4Truncated = 1 << 2,  // protocol header does not fit
  kFlowFragment = 1 << 3,     // IPv4 non-first fragment: no L4 fields
};

struct FlowKey {
  Mac dl_dst;
  Mac dl_src;
  uint16_t dl_type = 0;    // EtherType after any 802.1Q tags
  uint16_t vlan_tci = 0;   // outer 0x8100 tag's TCI as on the wire (valid if n_tags >= 1)
  uint16_t inner_tci = 0;  // second 0x8100 tag's TCI (valid if n_tags >= 2)
  uint8_t n_tags = 0;      // 0x8100 tags seen in front of dl_type (counts at most 2)
  uint8_t flags = 0;       // FlowFlags

  uint8_t nw_proto = 0;  // IP protocol / IPv6 next header; ARP opcode (low byte)
  uint8_t nw_tos = 0;
  uint8_t nw_ttl = 0;
  uint32_t nw_src = 0;   // IPv4 source / ARP SPA, host order
  uint32_t nw_dst = 0;   // IPv4 destination / ARP TPA, host order
  uint8_t ipv6_src[16] = {};
  uint8_t ipv6_dst[16] = {};
  Mac arp_sha;
  Mac arp_tha;
  uint16_t tp_src = 0;   // TCP/UDP port; ICMP type
  uint16_t tp_dst = 0;   // TCP/UDP port; ICMP code
  uint16_t l3_ofs = 0;   // offset of the L3 header in the frame
  uint16_t l4_ofs = 0;   // offset of the L4 header (0 if none)

  uint16_t vlan_vid() const { return vlan_tci & 0x0fff; }
  uint8_t vlan_pcp() const { return static_cast<uint8_t>(vlan_tci >> 13); }
  // OVS-style one-line rendering: "dl_src=..,dl_dst=..,dl_type=0x0800,nw_src=..".
  std::string str() const;
};

enum class ParseStatus : uint8_t {
  kOk,
  kRunt,  // shorter than an Ethernet header
};

// Fills `key` from `len` bytes at `p`. Only a runt fails; malformed upper
// layers are reported in key.flags.
ParseStatus parse_flow(const uint8_t* p, size_t len, FlowKey& key);

// An IPv6 packet's upper layer, found behind its extension headers.
struct Ipv6Upper {
  uint8_t proto = 0;            // the upper-layer protocol (59: no next header)
  uint16_t ofs = 0;             // offset of its header in the frame
  bool later_fragment = false;  // a fragment other than the first: no upper-layer header in it
};
// At most this many extension headers are walked; a longer chain is refused.
inline constexpr int kMaxIpv6ExtHeaders = 8;
// Walks the extension headers (hop-by-hop, routing, fragment, destination
// options, AH, mobility, HIP, shim6) of the IPv6 packet at offset `l3` of
// the `len` bytes at `p`, within its payload length. False if the fixed
// header is not there (or not version 6), or the chain is longer than
// kMaxIpv6ExtHeaders or runs past the packet. The flow key does not walk
// them (its nw_proto is the first next header); port security and ICMP
// errors do. Allocates nothing.
bool ipv6_upper(const uint8_t* p, size_t len, size_t l3, Ipv6Upper& out);

std::string ipv4_str(uint32_t host_order);
std::string ipv6_str(const uint8_t* a);

}  // namespace kvnet::net
