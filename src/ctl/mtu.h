// The MTU a bridge can carry, and the MTU its endpoints get.
//
// A container or VM on a bridge whose frames may leave through a tunnel
// must not send IP packets larger than the tunnel's inner MTU (the underlay
// path MTU minus the encapsulation): a tunnel never fragments, and what does
// not fit is dropped (`too_big`, answered with an ICMP error). So, as
// Neutron gives a network's ports the network's MTU, kvnet gives endpoints
// the MTU their broadcast domain can carry:
//
//   bridge_mtu(t, br)    the smallest carried MTU (PortKind::carried_mtu:
//                        tunnels) of the ports of `br` and of every bridge
//                        reachable from it through patch ports, capped at
//                        1500 (nothing kvnet knows of carries more by
//                        default); nullopt when no such port is reachable.
//                        VLANs are not told apart: a tunnel on one VLAN of
//                        a switch lowers the whole bridge's.
//   endpoint_mtu(t, p)   for the container's veth (both ends), a VM NIC
//                        (the guest's kernel command line: kvnet.mtuN=) and
//                        a gateway's DHCP option 26: the port's own `mtu`
//                        when the user gave one, else bridge_mtu when it is
//                        below 1500; 0: leave the kernel's default.
//
// Measuring a tunnel's path MTU asks the kernel's routes (a system call per
// tunnel port): control path only.
//
// Thread-safety: pure functions of the topology (and the host's routes).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "ctl/topology.h"

namespace kvnet::ctl {

std::optional<uint32_t> bridge_mtu(const Topology& t, const std::string& bridge);
// Every bridge's bridge_mtu (one pass over the topology), for show and apply.
std::map<std::string, uint32_t> bridge_mtus(const Topology& t);
uint32_t endpoint_mtu(const Topology& t, const std::string& port);
// The same with bridge_mtus() already computed.
uint32_t endpoint_mtu(const Topology& t, const std::string& port, const std::map<std::string, uint32_t>& mtus);
// Whether an edit of `scope`'s ports may change an endpoint's MTU: one of
// them (before or after) carries an MTU (a tunnel), joins bridges (a patch)
// or has a user's `mtu`. A whole scope: always.
bool endpoint_mtus_may_change(const Topology& before, const Topology& after, const Scope& scope);

}  // namespace kvnet::ctl
