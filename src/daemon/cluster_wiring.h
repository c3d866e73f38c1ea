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
#include <vector>

#include "base/result.h"
#include "cluster/records.h"
#include "cluster/state.h"
#include "ctl/topology.h"

namespace kvnet::daemon {

inline constexpr const char* kIntegrationBridge = ctl::kClusterBridge;
inline constexpr const char* kClusterTunnel = "vx-cluster";
inline constexpr uint32_t kIntegrationMacTable = 65536;  // br-int's mac_table_size

// Network -> local VLAN, from the containers and VM NICs on networks and
// their ports on br-int (a qbr NIC's: its qvo patch port).
std::map<std::string, uint16_t> local_vlans(const ctl::Topology& t);

// Makes `t` carry `net` here: br-int, the network's local VLAN and
// vx-cluster's map entry for it (sent from `underlay_ip`). Returns the
// local VLAN.
Result<uint16_t> wire_network(ctl::Topology& t, const cluster::NetworkRecord& net, const std::string& underlay_ip);

// wire_network, then `port` on br-int as an access port of the network's
// local VLAN (with `settings` of its own: mtu, security ...), unless br-int
// has it already. Returns the local VLAN.
Result<uint16_t> wire_port(ctl::Topology& t, const cluster::NetworkRecord& net, const std::string& underlay_ip,
                           const std::string& port, ctl::Settings settings = {},
                           std::vector<std::string>* warnings = nullptr);

// What vx-cluster's static entries are, from the store: for every network
// carried here, each winning binding (below) on another host that is up
// becomes (local VLAN, MAC) -> that host's underlay address (EVPN type 2;
// the per-VNI flood lists follow, as vx-cluster does not learn). These are
// the cluster's, not configuration: kvnetd gives them to the datapath
// (Service::sync_cluster) and keeps them out of the topology and its store.
using RemoteEntries = std::map<std::pair<uint16_t, uint64_t>, std::string>;
RemoteEntries remote_entries(const ctl::Topology& t, const cluster::ClusterState& st, const std::string& this_host);

// The binding that holds each MAC of each network (MAC mobility): among the
// bindings of this host and of hosts that are up, the highest sequence
// number wins; equal ones: the first by key (every host picks the same).
// Keyed by (network, MAC as a number).
std::map<std::pair<std::string, uint64_t>, const cluster::BindingRecord*> binding_winners(
    const cluster::ClusterState& st, const std::string& this_host);

// The sequence number a new binding of `mac` on `network` carries: one above
// the highest the cluster knows for it (1 for a new MAC).
int64_t next_seq(const cluster::ClusterState& st, const std::string& network, const std::string& mac);

// The addresses br-int answers ARP requests and neighbour solicitations for
// (ARP suppression, dp/neighbors.h): every address of a winning binding on
// a network carried here, in that network's local VLAN, labelled with the
// network and host. Null when br-int carries no network.
struct NeighborEntry {
  uint16_t vlan;
  std::string ip;  // without a prefix length
  std::string mac;
  std::string label;
  bool operator==(const NeighborEntry&) const = default;
};
std::vector<NeighborEntry> neighbor_entries(const ctl::Topology& t, const cluster::ClusterState& st,
                                            const std::string& this_host);

// Takes out of vx-cluster's map the VLANs of networks no container or NIC
// here is on any more; vx-cluster goes with the last.
Status unwire_unused(ctl::Topology& t, const std::string& underlay_ip);

}  // namespace kvnet::daemon
