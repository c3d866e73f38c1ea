// Per-port counters and the reasons a frame is dropped.
//
// The datapath never logs per frame; it counts. Every drop has a reason and is
// counted on the port where it happened (the ingress port for receive-side
// drops, the egress port for send-side ones). The CLI, the API and the tests
// all read these same counters.
//
// Thread-safety: written by the datapath thread only; other threads read
// snapshots (torn reads of a single 64-bit counter do not occur on x86-64).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string_view>

namespace kvnet::dp {

enum class Drop : uint8_t {
  kRunt,                 // shorter than 14 bytes
  kOversize,             // payload (a GSO frame: one segment) larger than the port's MTU
  kBadSrcMac,            // multicast or all-zero source MAC (learning, switch)
  kReservedDst,          // 01:80:C2:00:00:00-0F, never forwarded (learning, switch)
  kTaggedOnAccess,       // access port received a tagged frame
  kVlanNotAllowed,       // tagged VLAN not a member of the port
  kUntaggedNotAllowed,   // untagged frame, pvid not a member of the port
  kInvalidVid,           // VID 4095
  kCvlanNotAllowed,      // dot1q-tunnel: customer VLAN not in cvlans
  kUntaggedNotInCvlans,  // dot1q-tunnel with cvlans: untagged/priority-tagged (customer VLAN 0)
  kToIngressPort,        // known unicast whose port is the one it came in on
  kLoopCut,              // work bound of one input frame exceeded (bridge loop)
  kNoBuffer,             // frame pool exhausted
  kNoHeadroom,           // no room to push a tag
  kTxError,              // the port backend failed to send
  kTooBig,               // tunnel: the encapsulated frame exceeds the underlay path MTU
  kNoRemote,             // tunnel: no remote endpoint to send to (remote_ip=flow, nothing learned)
  kUnmappedVlan,         // tunnel with vni_map: the frame's VLAN has no VNI
  kUnmappedVni,          // tunnel with vni_map: a received VNI has no VLAN
  kFwDenied,             // firewall: no rule of the port's security groups allows it
  kCtInvalid,            // firewall: conntrack says invalid (e.g. TCP without a connection, not a SYN)
  kCtFull,               // firewall: the connection table is full
  kSpoofedMac,           // port security: source MAC is not the port's
  kSpoofedIp,            // port security: source address is not the port's
  kSpoofedArp,           // port security: ARP for an address that is not the port's
  kDhcpServer,           // port security: the endpoint answers as a DHCP server
  kRouterAdvert,         // port security: the endpoint sends IPv6 router advertisements
  kBadEthertype,         // port security: not IPv4, ARP or IPv6
  kBadIpv6Headers,       // port security: IPv6 extension headers that cannot be walked to the upper layer
  kMirrorOutput,         // received on a port reserved as a mirror's output
  kNoFlow,               // OpenFlow: no flow of the bridge's tables matched (table miss)
  kCount
};

namespace detail {
struct DropName {
  Drop drop;
  std::string_view name;
  std::string_view why;  // what `trace` says of such a drop
};
// One row per reason, in enum order. A reason added to the enum without a row
// here (or rows out of order) fails the static_assert below.
inline constexpr DropName kDropTable[] = {
    {Drop::kRunt, "runt", "shorter than an Ethernet header (14 bytes)"},
    {Drop::kOversize, "oversize", "payload exceeds the port's MTU"},
    {Drop::kBadSrcMac, "bad_src_mac", "source MAC is multicast or all-zero"},
    {Drop::kReservedDst, "reserved_dst", "01:80:c2:00:00:0x link-local groups are never forwarded"},
    {Drop::kTaggedOnAccess, "tagged_on_access", "access port: tagged frames are dropped"},
    {Drop::kVlanNotAllowed, "vlan_not_allowed", "tagged VLAN is not allowed on this port"},
    {Drop::kUntaggedNotAllowed, "untagged_not_allowed", "untagged frame, but the pvid is not a member of this port"},
    {Drop::kInvalidVid, "invalid_vid", "VID 4095 is reserved"},
    {Drop::kCvlanNotAllowed, "cvlan_not_allowed", "customer VLAN is not in cvlans"},
    {Drop::kUntaggedNotInCvlans, "untagged_not_in_cvlans", "dot1q-tunnel with cvlans: untagged frame (customer VLAN 0)"},
    {Drop::kToIngressPort, "to_ingress_port", "destination is on the ingress port"},
    {Drop::kLoopCut, "loop_cut", "work budget of this frame exhausted"},
    {Drop::kNoBuffer, "no_buffer", "no frame buffer left for a copy"},
    {Drop::kNoHeadroom, "no_headroom", "no headroom to push a tag"},
    {Drop::kTxError, "tx_error", "the port could not send it"},
    {Drop::kTooBig, "too_big", "encapsulated, the frame exceeds the underlay's path MTU (tunnels never fragment)"},
    {Drop::kNoRemote, "no_remote", "the tunnel knows no remote endpoint for this destination"},
    {Drop::kUnmappedVlan, "unmapped_vlan", "the frame's VLAN is not in the tunnel's vni_map"},
    {Drop::kUnmappedVni, "unmapped_vni", "the received VNI is not in the tunnel's vni_map"},
    {Drop::kFwDenied, "fw_denied", "no rule of the port's security groups allows it"},
    {Drop::kCtInvalid, "ct_invalid", "connection tracking: not part of a connection and cannot start one"},
    {Drop::kCtFull, "ct_full", "connection tracking: the table is full"},
    {Drop::kSpoofedMac, "spoofed_mac", "port security: the source MAC is not the port's"},
    {Drop::kSpoofedIp, "spoofed_ip", "port security: the source address is not one of the port's"},
    {Drop::kSpoofedArp, "spoofed_arp", "port security: ARP for an address that is not the port's"},
    {Drop::kDhcpServer, "dhcp_server", "port security: the endpoint may not act as a DHCP server"},
    {Drop::kRouterAdvert, "router_advert", "port security: the endpoint may not send router advertisements"},
    {Drop::kBadEthertype, "bad_ethertype", "port security: only IPv4, ARP and IPv6 may be sent"},
    {Drop::kBadIpv6Headers, "bad_ipv6_headers",
     "port security: IPv6 extension headers too many (over 8), truncated, or past the packet"},
    {Drop::kMirrorOutput, "mirror_output", "the port is a mirror's output: what it receives is dropped"},
    {Drop::kNoFlow, "no_flow", "no flow of the bridge's OpenFlow tables matched it (a table miss drops)"},
};
constexpr bool drop_table_complete() {
  if (std::size(kDropTable) != static_cast<size_t>(Drop::kCount)) return false;
  for (size_t i = 0; i < std::size(kDropTable); ++i)
    if (static_cast<size_t>(kDropTable[i].drop) != i || kDropTable[i].name.empty()) return false;
  return true;
}
static_assert(drop_table_complete(), "kDropTable needs exactly one row per Drop value, in enum order");

constexpr std::array<std::string_view, static_cast<size_t>(Drop::kCount)> drop_names() {
  std::array<std::string_view, static_cast<size_t>(Drop::kCount)> a{};
  for (size_t i = 0; i < a.size(); ++i) a[i] = kDropTable[i].name;
  return a;
}
}  // namespace detail

// Indexed by Drop; built from (and checked against) detail::kDropTable.
inline constexpr std::array<std::string_view, static_cast<size_t>(Drop::kCount)> kDropNames = detail::drop_names();
// The sentence `trace` gives for a drop of this reason.
inline std::string_view explain(Drop d) { return detail::kDropTable[static_cast<size_t>(d)].why; }

inline std::string_view to_string(Drop d) { return kDropNames[static_cast<size_t>(d)]; }

struct PortCounters {
  uint64_t rx_packets = 0;
  uint64_t rx_bytes = 0;
  uint64_t tx_packets = 0;
  uint64_t tx_bytes = 0;
  std::array<uint64_t, static_cast<size_t>(Drop::kCount)> drops{};

  void drop(Drop d) { ++drops[static_cast<size_t>(d)]; }
  uint64_t dropped(Drop d) const { return drops[static_cast<size_t>(d)]; }
  uint64_t total_drops() const {
    uint64_t t = 0;
    for (auto v : drops) t += v;
    return t;
  }
};

}  // namespace kvnet::dp
