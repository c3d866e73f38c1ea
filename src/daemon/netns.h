// Container plumbing: a network namespace with a veth into a kvnet bridge.
//
// `create()` makes namespace NAME (as `ip netns add` does, so `ip netns exec`
// works), a veth pair whose host end is PORT and whose other end is `eth0`
// inside the namespace, sets the MAC (ctl::container_mac), the address
// (unless it comes from DHCP) and default route, and brings
// lo and eth0 up. `destroy()` removes the namespace (the kernel removes the
// veth with it). Uses iproute2's `ip`, run without a shell.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"
#include "ctl/topology.h"

namespace kvnet::daemon {

using ctl::ContainerSpec;

// Runs argv (no shell); returns its combined output, or an Error naming the
// command and its output when it exits non-zero.
Result<std::string> run_command(const std::vector<std::string>& argv);

bool netns_exists(const std::string& name);
// `mtu` (ctl/mtu.h's endpoint_mtu; 0: the kernel's default) is set on both
// ends of the veth.
Status container_create(const ContainerSpec& c, uint32_t mtu = 0);
Status container_destroy(const std::string& name, const std::string& port);
// Re-creates what is missing (after a reboot or a manual deletion).
Status container_ensure(const ContainerSpec& c, uint32_t mtu = 0);
// Sets both ends of a container's veth to `mtu` (the bridge it is on can
// carry another).
Status container_set_mtu(const ContainerSpec& c, uint32_t mtu);

}  // namespace kvnet::daemon
