// How a host carries cluster networks, as Neutron's OVS agent does and the
// seed's figure shows: one integration bridge `br-int` (a switch, made on
// demand) with a local VLAN per network, and one tunnel port `vx-cluster`
// (vxlan, remote_ip=flow, learning=false) whose vni_map carries each local
// VLAN to its network's VNI. A container on a network has an access port of
// its network's local VLAN on br-int.
//
// Local VLANs are this host's own business: a network keeps the VLAN its
// ports have; a network new to the host gets the lowest VLAN no other
// network uses here. The configuration itself says which VLAN is whose
// (the containers' `network` and their ports' pvid), so a restart keeps them.
//
// Pure functions of the configuration (ctl::Topology): the verbs commit
// what they return through the one change path.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "base/result.h"
#include "cluster/records.h"
#include "cluster/state.h"
#include "ctl/topology.h"

namespace kvnet::daemon {

inline constexpr const char* kIntegrationBridge = "br-int";
inline constexpr const char* kClusterTunnel = "vx-cluster";

// Network -> local VLAN, from the containers on networks and their ports.
std::map<std::string, uint16_t> local_vlans(const ctl::Topology& t);

// Makes `t` carry `net` here: br-int, the network's local VLAN and
// vx-cluster's map entry for it (sent from `underlay_ip`). Returns the
// local VLAN.
Result<uint16_t> wire_network(ctl::Topology& t, const cluster::NetworkRecord& net, const std::string& underlay_ip);

// Programs br-int from the store: for every network carried here, each
// binding on another host that is up becomes a static entry of
// vx-cluster in the network's local VLAN with that host's underlay address
// as its remote (EVPN type 2; the per-VNI flood lists follow, as
// vx-cluster does not learn). Entries of hosts that are down, or of
// bindings gone, go. Returns whether `t` changed.
bool program_remotes(ctl::Topology& t, const cluster::ClusterState& st, const std::string& this_host);

// Takes out of vx-cluster's map (and its static entries) the VLANs of
// networks no container here is on any more; vx-cluster goes with the last.
Status unwire_unused(ctl::Topology& t, const std::string& underlay_ip);

}  // namespace kvnet::daemon
