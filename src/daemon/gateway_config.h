// What kvnetd writes for its NAT gateways (ctl/gateway_spec.h), as text:
// the nftables ruleset of its own table, each gateway's dnsmasq
// configuration, and the reading of dnsmasq's lease file. Pure functions:
// daemon/gateway_host.h hands the text to the kernel and to dnsmasq.
//
// The ruleset (one table, `table ip kvnet` by default; no other table is
// ever touched), for a gateway G on interface G with subnet S at address A:
//   prerouting (nat, dstnat)    iifname != G fib daddr type local PROTO dport HOSTPORT dnat to IP:PORT
//   postrouting (nat, srcnat)   masquerade: ip saddr S ip daddr != S oifname != G (not to multicast
//                                 or broadcast) masquerade
//   forward (filter)            from G with a source in S: accept; to G: established/related,
//                                 forwarded ports (ct status dnat), and everything when not
//                                 masquerading (a routed network); anything else from or to G:
//                                 rejected (libvirt's rules for a NAT network)
// It is written as one transaction that creates, empties and fills the
// table, so a change replaces the whole ruleset atomically or not at all.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ctl/gateway_spec.h"

namespace kvnet::daemon {

inline constexpr const char* kDefaultNftTable = "kvnet";
inline constexpr int kDhcpLeaseSeconds = 3600;

// The nft script that replaces table `ip TABLE` with the rules of `gws`.
std::string nft_ruleset(const std::vector<ctl::GatewaySpec>& gws, const std::string& table);
// The nft script that removes table `ip TABLE` (whether or not it exists).
std::string nft_delete(const std::string& table);

// The files of one gateway's dnsmasq, in its directory.
struct DnsmasqPaths {
  std::string dir, conf, pidfile, leases, log;
  static DnsmasqPaths under(const std::string& root, const std::string& gateway);
};
// dnsmasq's configuration for a gateway with DHCP: bound to the gateway's
// interface only, DHCP range with the gateway as router and DNS server,
// leases and pid in its directory, nothing read from /etc (hosts, resolv.conf
// is dnsmasq's default upstream).
// `mtu` (0: none) is offered as DHCP option 26.
std::string dnsmasq_conf(const ctl::GatewaySpec& gw, const DnsmasqPaths& paths, uint32_t mtu = 0);

// One line of dnsmasq's lease file: "EXPIRY MAC IP HOSTNAME CLIENT-ID".
struct Lease {
  int64_t expires = 0;  // Unix time; 0: never
  std::string mac, ip, hostname;  // hostname "" when the client sent none ('*')
  bool operator==(const Lease&) const = default;
};
// IPv4 leases of the file's text; malformed lines and DHCPv6 lines are skipped.
std::vector<Lease> parse_leases(const std::string& text);

}  // namespace kvnet::daemon
