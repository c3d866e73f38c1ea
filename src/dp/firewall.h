// A port's firewall policy, compiled for the datapath: its security groups'
// allow rules with every remote resolved to address prefixes, and its port
// security (the MACs and addresses it may send from). The firewall stage
// (stateful: with dp/conntrack.h) asks two questions of it:
//
//   fw_match(policy, key, direction)  which rule allows this frame, if any?
//                                     ingress: the frame goes to the port's
//                                     endpoint, its source is the remote;
//                                     egress: it comes from the endpoint, its
//                                     destination is the remote
//   check_source(policy, key, frame)  may the endpoint send this frame?
//                                     (own MAC, only IPv4, ARP and IPv6,
//                                     own addresses, ARP replies and IPv6
//                                     neighbour advertisements only for
//                                     them, no DHCP server, no IPv6 RA; the
//                                     IPv6 extension headers walked first)
//
// A policy is built on the control thread (ctl/firewall_build) and never
// changed after: a new one replaces it whole (the port holds a shared_ptr).
// Matching allocates nothing.
//
// Thread-safety: immutable once built.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "net/flow_key.h"

namespace kvnet::dp {

// An IPv4 or IPv6 prefix.
struct IpPrefix {
  bool v6 = false;
  uint8_t addr[16] = {};  // IPv4: the first 4 bytes, network order
  uint8_t len = 0;        // prefix length
  // Whether `a` (4 or 16 bytes, network order, per v6) is in the prefix.
  bool contains(bool a_v6, const uint8_t* a) const;
  std::string str() const;
  // "10.0.0.0/24", "fd00::1/128", "10.0.0.5" (a host): false if it is not one.
  static bool parse(const std::string& text, IpPrefix& out);
  bool operator==(const IpPrefix&) const = default;
};

inline constexpr int16_t kFwAny = -1;

struct FwRule {
  uint32_t id = 0;        // the rule's id in its group
  uint16_t group = 0;     // index into FwPolicy::groups
  bool ingress = true;
  bool v6 = false;        // ethertype
  int16_t proto = kFwAny;
  uint16_t port_min = 0, port_max = 0;  // 0-0: any (TCP/UDP destination port)
  int16_t icmp_type = kFwAny, icmp_code = kFwAny;
  bool any_remote = true;               // no remote_ip / remote_group
  std::vector<IpPrefix> remotes;        // remote_ip, or remote_group's members' addresses
  std::string text;                     // the rule as configured, for trace ("ingress ipv4 tcp port 80")
  bool operator==(const FwRule&) const = default;
};

// What port security allows a port to send from.
struct FwSource {
  uint64_t mac = 0;  // 48 bits
  IpPrefix prefix;
  bool operator==(const FwSource&) const = default;
};

struct FwPolicy {
  std::vector<std::string> groups;  // names, for trace and listings
  std::vector<FwRule> rules;        // none with groups: everything is denied
  bool filtered = false;            // the port has groups
  bool port_security = false;
  std::vector<FwSource> sources;    // with port_security
  bool operator==(const FwPolicy&) const = default;
};

// The first rule that allows `key` in that direction, or null.
const FwRule* fw_match(const FwPolicy& p, const net::FlowKey& key, bool ingress);

enum class SourceVerdict : uint8_t {
  kOk,
  kBadMac,
  kBadIp,
  kBadArp,
  kDhcpServer,
  kRouterAdvert,
  kBadEtherType,    // not IPv4, ARP or IPv6 (Neutron's allow-list)
  kBadIpv6Headers,  // an extension header chain that cannot be walked to its end
};
const char* to_string(SourceVerdict v);
// Port security for a frame the endpoint sends (kOk without port_security).
// `frame` is the frame `key` was parsed from: a neighbour advertisement's
// target address is read from it (without it, or truncated: kBadArp).
SourceVerdict check_source(const FwPolicy& p, const net::FlowKey& key, std::span<const uint8_t> frame = {});

// The upper layer of the IPv6 packet `key` was parsed from, behind its
// extension headers (net/flow_key.h: net::ipv6_upper); false if it is not
// IPv6 or the chain cannot be walked. Allocates nothing.
using net::Ipv6Upper;
using net::kMaxIpv6ExtHeaders;
bool ipv6_upper(const net::FlowKey& key, std::span<const uint8_t> frame, Ipv6Upper& out);

// fe80::/64 with the EUI-64 interface identifier of `mac` (RFC 4291
// appendix A): the link-local address an IPv6 stack derives from its MAC.
IpPrefix eui64_link_local(uint64_t mac);

// The frame's family and addresses as fw_match sees them (false: not IP).
bool fw_addresses(const net::FlowKey& key, bool& v6, uint8_t src[16], uint8_t dst[16]);

}  // namespace kvnet::dp
