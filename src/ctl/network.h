// Cluster networks as a document declares them: the `networks:` section of
// an `apply` file. The home of the network object type (ctl/objects.h).
//
//   networks:
//     - {name: blue, vni: 100, subnet: 10.0.0.0/24}   # mtu: 1450 by default
//     - {name: red, vni: 200}
//
// A network is cluster-wide: it lives in the cluster's store (etcd,
// docs/cluster.md), not in a host's configuration. kvnetd's `apply` creates
// each declared network that the store lacks and refuses one the store has
// with other settings; it deletes none (other hosts' files need not list
// them). So the section is read and checked here, and neither planned,
// stored nor exported: `export` has no `networks:`, and a standalone kvnetd
// refuses a file that has one.
//
// Thread-safety: plain data and pure functions.
#pragma once

#include <cstdint>
#include <string>

#include "base/result.h"
#include "ctl/fields.h"

namespace kvnet::ctl {

class ObjectType;
struct Topology;

inline constexpr uint32_t kMaxNetworkVni = (1u << 24) - 1;
inline constexpr uint32_t kDefaultNetworkMtu = 1450;

struct NetworkSpec {
  std::string name;
  uint32_t vni = 0;
  std::string subnet;  // canonical CIDR ("" none)
  uint32_t mtu = kDefaultNetworkMtu;
  Loc loc;
  bool operator==(const NetworkSpec& o) const {
    return name == o.name && vni == o.vni && subnet == o.subnet && mtu == o.mtu;
  }
};

// One network on its own ("network 'blue': VNI 0 is out of range 1-16777215"):
// a document's, and the store's (cluster::check_network).
Status check_network_spec(const NetworkSpec& n);

// The networks a document declared (none: no `networks:` section).
const std::vector<NetworkSpec>& declared_networks(const Topology& t);

// The network object type.
const ObjectType& network_type();

}  // namespace kvnet::ctl
