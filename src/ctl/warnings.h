// Configurations that are valid but probably not meant: kvnetd accepts them
// and says so (a "warnings" list in the answer of the change, printed by
// kvnetctl as `warning: ...`).
//
//   - two endpoints (containers, VM NICs) with the same IP address or MAC in
//     one broadcast domain (a bridge, or a VLAN of a switch; a hub or
//     learning bridge patched to one switch port counts as that port's VLAN,
//     the seed's qbr layout);
//   - a VLAN listed twice in `allowed`/`tagged`/`untagged`/`cvlans`
//     (found while parsing: Topology::warnings, make_port/update_port);
//   - an endpoint with `ip: dhcp` whose port has port_security but no
//     allowed address: its lease's address would be dropped as spoofed.
#pragma once

#include <string>
#include <vector>

#include "ctl/topology.h"

namespace kvnet::ctl {

// Every address conflict of `t`, one sentence each, in a stable order.
std::vector<std::string> address_conflicts(const Topology& t);

// Every endpoint with ip=dhcp behind port security that allows no address.
std::vector<std::string> dhcp_port_security(const Topology& t);

// The warnings of `next` that `cur` did not have already (a change is told
// only about what it introduces).
std::vector<std::string> new_warnings(const Topology& cur, const Topology& next);

}  // namespace kvnet::ctl
