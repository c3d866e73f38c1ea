// Ports of this host on cluster networks (a container's, a VM NIC's): the
// store's side of attaching one, shared by `ct add --network` and
// `vm add --nic network=`.
//
// Attaching is: the network read from the store, the port wired on br-int in
// the network's local VLAN (daemon/cluster_wiring.h), the address claimed
// cluster-wide (cluster/ipam.h), the local change committed, and the binding
// published (with the MAC's next sequence number: a MAC that moved here
// wins). Each step is undone if a later one fails, so nothing is left
// half-applied: an address claimed and not bound is released, a committed
// change whose binding could not be written is taken back by the caller.
//
// Thread-safety: the service's thread (store round trips block it).
#pragma once

#include <string>
#include <vector>

#include "base/result.h"
#include "cluster/records.h"
#include "ctl/topology.h"

namespace kvnet::daemon {

class ClusterHost;

// A port of this host bound to a network.
struct NetworkPort {
  std::string network;
  std::string port;   // on br-int
  std::string mac;
  std::string ip;     // A/LEN ("" none: a network without a subnet and no --ip)
  std::string owner;  // "container web", "vm v1 nic 0"
};

// Creates `n` in the store if neither its name nor its VNI is taken (one
// transaction: of hosts racing, exactly one wins). Returns the revision
// written; errors name what is taken ("network 'blue' already exists (VNI
// 100)", "network 'red': VNI 100 is taken by network 'blue'").
Result<int64_t> create_network(ClusterHost& c, const cluster::NetworkRecord& n);

// The network's record, as the store has it now ("network 'x' does not
// exist (network add)" if it has none).
Result<cluster::NetworkRecord> fetch_network(ClusterHost& c, const std::string& name);

// Claims `want` (or, empty, the first free address of the network's
// subnet; none if it has no subnet) for this host's `port`. Returns A/LEN.
Result<std::string> claim_port_address(ClusterHost& c, const cluster::NetworkRecord& net, const std::string& want,
                                       const std::string& port);
// Releases what claim_port_address claimed (best effort: logged).
void release_port_address(ClusterHost& c, const std::string& network, const std::string& ip, const std::string& port);

// Publishes the binding of `p` (sequence: one above any the cluster knows
// for its MAC on the network), with the security groups its port has in `t`
// (other hosts' remote_group rules include its addresses).
Status bind_port(ClusterHost& c, const NetworkPort& p, const ctl::Topology& t);
// Takes the binding and the address of `p` out of the store.
Status unbind_port(ClusterHost& c, const NetworkPort& p);
// Puts back what unbind_port took (a change that followed it failed): the
// address claimed again by its holder, the binding. Best effort: logged.
void rebind_port(ClusterHost& c, const NetworkPort& p, const ctl::Topology& t);

// The security groups of this host's port `port` in `t` (none if it has none).
std::vector<std::string> port_groups(const ctl::Topology& t, const std::string& port);

}  // namespace kvnet::daemon
