// The one translator from a plan to datapath commands.
//
// `translate(cur, next, plan, live)` turns a plan (ctl/plan.h) into the one
// typed datapath command that carries it out (io::Change, io/dp_commands.h):
// what goes, what comes, what changes in place, patch links, static FDB
// entries, firewalls and mirrors. kvnetd applies it between two batches
// (daemon/applier.h); the offline tools (`kvnet replay`, `kvnet trace`)
// apply the plan from an empty configuration to a fresh datapath
// (ctl/build.h) with io::apply_change. Both therefore build the same
// datapath from the same configuration, and refuse the same things.
//
// Ports are named by their datapath id (`live`: the id of a port of `cur`
// that is in the datapath, none otherwise) or, for ports the change adds, by
// their index in Change::add_ports, which follows plan.ports_added. Added
// ports carry no backend: whoever applies the change opens them.
//
// Refused (nothing is applied): static FDB entries that do not fit a
// bridge's table (mac_table_size); validate() refuses them in a change, and
// this also holds for a restored or hand-built configuration.
//
// Thread-safety: a pure function of its arguments.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "base/result.h"
#include "ctl/plan.h"
#include "ctl/topology.h"
#include "io/dp_commands.h"

namespace kvnet::ctl {

// The datapath id of a port of the current configuration, if it has one.
using LivePortId = std::function<std::optional<uint32_t>(const std::string& port)>;

Result<io::Change> translate(const Topology& cur, const Topology& next, const Plan& plan, const LivePortId& live);

// What every bridge's static entries need: Error naming the bridge and its
// mac_table_size if they do not fit.
Status check_static_fdb(const Topology& t);

}  // namespace kvnet::ctl
