// Installing a port's firewall: the control-path half of the firewall stage
// (dp/firewall_stage.h runs per frame; this puts it in place).
//
//   install_firewall(port, policy)
//     none before, policy now  -> the port's bridge gets its connection table
//                                 (on first use), the port's zone is emptied
//                                 (a port id is reused), and the two stages go
//                                 to the end of port.ingress / port.egress
//     policy before, none now  -> the stages go, the zone is emptied
//     policy replaced          -> the connections whose allowing rule is gone
//                                 (or matches otherwise now) are cut, in the
//                                 port's zone and in every other zone that
//                                 holds the same connection, then both stages
//                                 take the new policy
// A connection's mark (fw_mark) names its allowing rule by the group's index
// in the policy that allowed it and the rule's id; `still_allowed` decodes it
// against the old policy and looks for the same rule in the new one.
//
// Thread-safety: the datapath thread (Datapath::set_firewall asserts it).
#pragma once

#include <cstdint>
#include <memory>

#include "dp/firewall.h"
#include "dp/port.h"

namespace kvnet::dp {

// The conntrack zone of a filtered port (0: none).
inline uint16_t fw_zone(const Port& p) { return static_cast<uint16_t>(p.id + 1); }
// The port id of a zone (fw_zone's inverse; zone 0 has none).
inline uint32_t fw_zone_port(uint16_t zone) { return zone - 1u; }

// Installs, replaces (null: removes) the port's firewall stages (see above).
void install_firewall(Port& p, std::shared_ptr<const FwPolicy> policy);

// Whether a connection committed under `old` with `mark` is still allowed by
// the same rule of the same group in `next`.
bool still_allowed(const FwPolicy& old, const FwPolicy& next, uint32_t mark);

}  // namespace kvnet::dp
