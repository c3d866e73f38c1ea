// Wire-format header structs (Ethernet, 802.1Q, ARP, IPv4, IPv6, UDP, TCP,
// ICMP/ICMPv6) and the constants that name their fields.
//
// Every struct is packed to its wire size and checked with static_assert, so a
// layout mistake fails to compile. Multi-byte fields use Be16/Be32. Use
// `header_at<T>(p, len)` to get a view only when `len` bytes really hold a T.
//
// Thread-safety: plain data.
#pragma once

#include <cstddef>
#include <cstdint>

#include "net/bytes.h"

namespace kvnet::net {

inline constexpr size_t kEthHeaderLen = 14;
inline constexpr size_t kVlanTagLen = 4;
inline constexpr size_t kMinFrameLen = kEthHeaderLen;

// EtherTypes / TPIDs.
inline constexpr uint16_t kEthTypeIpv4 = 0x0800;
inline constexpr uint16_t kEthTypeArp = 0x0806;
inline constexpr uint16_t kEthTypeVlan = 0x8100;   // 802.1Q C-tag: the only TPID a port classifies as a tag
inline constexpr uint16_t kEthTypeQinQ = 0x88a8;   // 802.1ad S-tag (pushed by dot1q-tunnel ports)
inline constexpr uint16_t kEthTypeIpv6 = 0x86dd;

inline constexpr uint8_t kIpProtoIcmp = 1;
inline constexpr uint8_t kIpProtoTcp = 6;
inline constexpr uint8_t kIpProtoUdp = 17;
inline constexpr uint8_t kIpProtoIcmpv6 = 58;

#pragma pack(push, 1)
struct EthHeader {
  uint8_t dst[6];
  uint8_t src[6];
  Be16 type;
};
static_assert(sizeof(EthHeader) == 14);

// The 4 bytes that follow the MAC addresses in a tagged frame.
struct VlanTag {
  Be16 tpid;
  Be16 tci;  // PCP(3) DEI(1) VID(12)
  uint16_t vid() const { return tci.host() & 0x0fff; }
  uint8_t pcp() const { return static_cast<uint8_t>(tci.host() >> 13); }
};
static_assert(sizeof(VlanTag) == 4);

struct ArpHeader {
  Be16 htype;
  Be16 ptype;
  uint8_t hlen;
  uint8_t plen;
  Be16 op;
  uint8_t sha[6];
  Be32 spa;
  uint8_t tha[6];
  Be32 tpa;
};
static_assert(sizeof(ArpHeader) == 28);

struct Ipv4Header {
  uint8_t ver_ihl;
  uint8_t tos;
  Be16 total_len;
  Be16 id;
  Be16 frag;  // flags(3) offset(13)
  uint8_t ttl;
  uint8_t proto;
  Be16 csum;
  Be32 src;
  Be32 dst;
  uint8_t version() const { return ver_ihl >> 4; }
  size_t header_len() const { return size_t{ver_ihl & 0x0fu} * 4; }
  bool is_later_fragment() const { return (frag.host() & 0x1fff) != 0; }
};
static_assert(sizeof(Ipv4Header) == 20);

struct Ipv6Header {
  Be32 ver_tc_flow;
  Be16 payload_len;
  uint8_t next_header;
  uint8_t hop_limit;
  uint8_t src[16];
  uint8_t dst[16];
  uint8_t version() const { return static_cast<uint8_t>(ver_tc_flow.host() >> 28); }
  uint8_t traffic_class() const { return static_cast<uint8_t>(ver_tc_flow.host() >> 20); }
};
static_assert(sizeof(Ipv6Header) == 40);

struct UdpHeader {
  Be16 src;
  Be16 dst;
  Be16 len;
  Be16 csum;
};
static_assert(sizeof(UdpHeader) == 8);

struct TcpHeader {
  Be16 src;
  Be16 dst;
  Be32 seq;
  Be32 ack;
  uint8_t data_off;  // header length in 32-bit words, high nibble
  uint8_t flags;
  Be16 window;
  Be16 csum;
  Be16 urgent;
  size_t header_len() const { return static_cast<size_t>(data_off >> 4) * 4; }
};
static_assert(sizeof(TcpHeader) == 20);

// ICMP and ICMPv6 share the first four bytes.
struct IcmpHeader {
  uint8_t type;
  uint8_t code;
  Be16 csum;
};
static_assert(sizeof(IcmpHeader) == 4);
#pragma pack(pop)

// A typed view of `p` if `avail` bytes hold a whole T, else nullptr.
template <typename T>
const T* header_at(const uint8_t* p, size_t avail) {
  return avail >= sizeof(T) ? reinterpret_cast<const T*>(p) : nullptr;
}
template <typename T>
T* header_at(uint8_t* p, size_t avail) {
  return avail >= sizeof(T) ? reinterpret_cast<T*>(p) : nullptr;
}

// RFC 1071 Internet checksum over `len` bytes, folded and complemented.
uint16_t inet_checksum(const uint8_t* p, size_t len, uint32_t seed = 0);

}  // namespace kvnet::net
