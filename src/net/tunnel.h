// Tunnel encapsulations on the wire: VXLAN (RFC 7348), Geneve (RFC 8926) and
// GRE carrying Ethernet (RFC 2784/2890; NVGRE, RFC 7637).
//
// kvnet's tunnels let the kernel build the outer IP (and, for VXLAN and
// Geneve, UDP) header: a UDP or raw IP socket sends what these functions
// build, the tunnel header, followed by the inner Ethernet frame. On receive
// they parse what the socket hands over: the UDP payload, or for GRE the
// packet from its IP header on (IPv4 raw sockets include it; IPv6 ones do
// not, see gre_parse).
//
// Parsing never reads past `len`, never trusts a length field it has not
// checked, and says why a packet is refused (TunnelError), so the caller can
// count the drop under that reason.
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace kvnet::net {

inline constexpr uint16_t kVxlanPort = 4789;
inline constexpr uint16_t kGenevePort = 6081;
inline constexpr uint8_t kIpProtoGre = 47;
inline constexpr uint16_t kEthTypeTeb = 0x6558;  // transparent Ethernet bridging (GRE, Geneve)
inline constexpr uint32_t kMaxVni = 0xffffff;    // 24 bits

inline constexpr size_t kVxlanHeaderLen = 8;
inline constexpr size_t kGeneveHeaderLen = 8;      // without options
inline constexpr size_t kGeneveMaxOptionsLen = 252;  // 6-bit length in 4-byte words
inline constexpr size_t kGreMaxHeaderLen = 16;     // base 4 + checksum 4 + key 4 + sequence 4

enum class TunnelError : uint8_t {
  kNone,
  kShort,          // shorter than the tunnel header (or the IP header before it)
  kBadFlags,       // VXLAN I flag clear; GRE version not 0 or routing bit set; Geneve version not 0
  kBadProtocol,    // GRE/Geneve protocol type not 0x6558 (not Ethernet); (GRE over IPv4) IP protocol not 47
  kBadOptions,     // Geneve options or GRE fields overrun the packet, or a malformed option TLV
  kNotIp,          // (GRE over IPv4) not an IPv4 header, or its header length is wrong
  kFragment,       // (GRE over IPv4) an IP fragment: tunnels never fragment
  kShortInner,     // the inner frame is shorter than an Ethernet header
  kCount
};
std::string_view to_string(TunnelError e);  // "short", "bad_flags", ...

// What a parse found. `inner_off`/`inner_len` is the Ethernet frame carried.
// When `error` is not kNone every other field is zero: nothing half-parsed.
struct TunnelRx {
  TunnelError error = TunnelError::kNone;
  uint32_t vni = 0;          // VXLAN/Geneve VNI; GRE: the key (0 if absent); NVGRE: see gre_vsid
  bool has_key = false;      // GRE only: the K bit was set
  uint16_t options_len = 0;  // Geneve: bytes of option TLVs (carried, not interpreted)
  uint16_t option_count = 0; // Geneve: number of option TLVs
  bool critical = false;     // Geneve: the C bit (a critical option is present)
  bool oam = false;          // Geneve: the O bit (control packet, not for the data path)
  size_t inner_off = 0;      // offset of the inner Ethernet frame in the buffer
  size_t inner_len = 0;
};

// --- VXLAN: 8 bytes: flags (0x08 = I), 24 reserved bits, VNI, 8 reserved bits.
// Writes 8 bytes to `out`. Reserved bits are zero.
void vxlan_build(uint8_t* out, uint32_t vni);
// Reserved bits (and flags other than I) are ignored, as RFC 7348 says.
TunnelRx vxlan_parse(const uint8_t* p, size_t len);

// --- Geneve: version 0, options carried through. `options` (a multiple of 4
// bytes, at most 252) is copied after the base header. Returns the bytes
// written (8 + options_len); `out` must have room. Any other length is a
// programming error: asserted, and in release builds cut down to a multiple
// of 4 and at most 252 (the bytes past that are not copied), so the header
// always describes what follows it. The C bit is set when an option's type
// has its critical bit (0x80); O is never set (kvnet sends no control packets).
size_t geneve_build(uint8_t* out, uint32_t vni, const uint8_t* options = nullptr, size_t options_len = 0);
TunnelRx geneve_parse(const uint8_t* p, size_t len);

// --- GRE carrying Ethernet. With a key: the K bit and 4 key bytes (NVGRE:
// key = VSID << 8 | FlowID). Returns the bytes written (4 or 8).
size_t gre_build(uint8_t* out, bool has_key, uint32_t key);
// `p` is the GRE header (IPv6 raw sockets; ipv4_gre_parse calls it for IPv4).
// Checksum and sequence fields are skipped (the checksum is not verified);
// a version other than 0 or the routing bit is refused; the other reserved
// bits are ignored, as Linux does. Optional fields past `len` are kBadOptions.
TunnelRx gre_parse(const uint8_t* p, size_t len);
// IPv4 raw sockets hand over the IP header too: checks it (version 4, IHL,
// protocol 47, not a fragment, total length within `len`) and parses the GRE
// header behind it; `inner_off` is then relative to `p` as well. The outer
// source address is returned in `src` (network byte order) when non-null,
// as soon as the IP header passed its checks (so also for a GRE error).
// Errors: kShort (under 20 bytes, IHL or total length past `len`), kNotIp
// (version, IHL < 5, total length < IHL), kBadProtocol (not 47), kFragment.
// The GRE header ends at the IP total length: trailing padding is not inner.
TunnelRx ipv4_gre_parse(const uint8_t* p, size_t len, uint32_t* src = nullptr);

// NVGRE's 24-bit VSID and 8-bit FlowID packed into a GRE key and back.
inline uint32_t nvgre_key(uint32_t vsid, uint8_t flow_id) { return (vsid & kMaxVni) << 8 | flow_id; }
inline uint32_t gre_vsid(uint32_t key) { return key >> 8; }

// Bytes a tunnel adds in front of the inner frame, outer IP header included:
// what the underlay MTU must hold beyond the inner frame (14-byte Ethernet
// header included in the inner frame's length, not in the MTU: an inner
// MTU is underlay_mtu - overhead - 14).
inline constexpr size_t kIpv4HeaderLen = 20;
inline constexpr size_t kIpv6HeaderLen = 40;
inline constexpr size_t kUdpHeaderLen = 8;

// A hash of the inner frame's flow (MACs, EtherType, and for IPv4/IPv6 the
// addresses, protocol and TCP/UDP ports when present), stable for a flow and
// spread over 32 bits: picks the outer UDP source port and NVGRE's FlowID.
// Up to two 802.1Q/802.1ad tags are looked past (their VIDs hashed); IPv6
// extension headers are not walked; IP fragments hash without ports, so all
// fragments of a datagram hash alike. Any `len` is fine, from 0 on; the
// frame's length itself is not hashed.
uint32_t inner_flow_hash(const uint8_t* frame, size_t len);
// RFC 7348's recommended source port range: 49152-65535.
inline uint16_t tunnel_src_port(uint32_t hash) { return static_cast<uint16_t>(49152 + (hash % 16384)); }

}  // namespace kvnet::net
