// From configuration to the datapath's firewall policy: a port's security
// groups and port security, compiled into a dp::FwPolicy (dp/firewall.h)
// with every remote_group resolved to its members' addresses.
//
// A group's members are the ports of `t` in it and, in a cluster, the
// addresses `t.remote_members` lists for it (ports on other hosts).
// A port's addresses are its endpoint's (the container's `ip`, the VM NIC's
// `ip`) and its `allowed_addresses`. A port's MACs are its endpoint's `mac`
// and the MACs of its `allowed_addresses`; an allowed address without a MAC
// goes with the endpoint's MAC, or, on a port without an endpoint, with each
// MAC its other entries name (none named: it allows nothing). Membership changes (a port joins
// or leaves a group, an address changes) change the policies of every port
// whose rules name that group: `affected_ports` lists them.
//
// Thread-safety: pure functions of the control thread.
#pragma once

#include <memory>
#include <set>
#include <string>

#include "ctl/topology.h"
#include "dp/firewall.h"

namespace kvnet::ctl {

// The policy of `port` (null when the port is neither filtered nor secured).
std::shared_ptr<const dp::FwPolicy> build_firewall(const Topology& t, const std::string& port);
// The same for a port of `t` at hand (no lookup).
std::shared_ptr<const dp::FwPolicy> build_firewall(const Topology& t, const PortSpec& port);

// Ports whose compiled policy differs between `before` and `after`. With a
// scope (ctl/scope.h), the candidates are its ports and, when one of them
// is (or was) a member of a group, the ports whose rules name that group.
std::set<std::string> affected_ports(const Topology& before, const Topology& after,
                                     const Scope& scope = Scope::all());

// The endpoint MAC of a port (a VM NIC's `mac`, a container's container_mac),
// "" when the port has no endpoint.
std::string endpoint_mac(const Topology& t, const std::string& port);

}  // namespace kvnet::ctl
