// Small helpers for kernel network interfaces by name (ioctl-based): index,
// existence, up/down, MTU, link-layer type. All act in the caller's network namespace.
#pragma once

#include <optional>
#include <string>

#include "base/result.h"

namespace kvnet::io {

int if_index(const std::string& name);  // 0 if it does not exist
bool if_exists(const std::string& name);
Status if_set_up(const std::string& name, bool up);
Result<int> if_mtu(const std::string& name);
Status if_set_mtu(const std::string& name, int mtu);
// The link-layer type (ARPHRD_*: 1 Ethernet, 772 loopback, 65534 none).
Result<int> if_hw_type(const std::string& name);
// The name of the interface with this index ("" none), whether it is
// administratively up (false also when it does not exist), its driver as
// ethtool names it ("veth", "tun"; "" unknown), and the index of the
// interface it is linked to (a veth: its peer's, in the peer's namespace;
// its own for most devices; 0 unknown).
std::string if_name(int ifindex);
bool if_is_up(const std::string& name);
std::string if_driver(const std::string& name);
int if_link(const std::string& name);

// What OVSDB's Interface rows show of a kernel interface, read in one go;
// nullopt if it does not exist.
struct IfFacts {
  int ifindex = 0;
  std::string mac;  // "aa:bb:cc:dd:ee:ff" ("" not Ethernet-like)
  bool admin_up = false;   // IFF_UP
  bool running = false;    // IFF_RUNNING: the link is up (operstate up)
  int mtu = 0;
};
std::optional<IfFacts> if_facts(const std::string& name);

// Keeps the host's own IP stack out of an interface that is only a switch
// port's plumbing (the host end of a container's veth, a VM's TAP): what
// arrives on it is the switch's, not the host's. Call it before the
// interface goes up. IPv6 off on it (disable_ipv6=1: no link-local address,
// nothing received; accept_ra=0, autoconf=0: no route from a router
// advertisement), IPv4 without addresses and with arp_ignore=8 (no ARP
// answers for the host's addresses), rp_filter=1 (strict: nothing that
// arrives on it is routed, delivered or forwarded, as no route leads back
// through it) and forwarding=0. A host without IPv6 has no IPv6 settings:
// those are skipped. Errors name the interface and the setting.
Status if_keep_host_out(const std::string& name);
// The values if_keep_host_out sets, as "ipv6/disable_ipv6=1 ..." (docs, tests).
std::string host_out_settings();

}  // namespace kvnet::io
