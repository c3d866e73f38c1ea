// Turning a validated topology into a running datapath (offline: replay and
// trace).
//
// `build_datapath()` is the plan from an empty configuration, translated by
// the one translator kvnetd uses too (ctl/translate.h) and applied with
// io::apply_change: every bridge and port, patch pairs, firewalls, static
// FDB entries and mirrors, exactly as kvnetd builds them. Port backends come
// from a caller-supplied factory, so replay (pcap files) and trace (nothing)
// share this code. If the translation or the factory fails for any port,
// nothing is built.
#pragma once

#include <functional>
#include <memory>

#include "base/result.h"
#include "ctl/topology.h"
#include "dp/datapath.h"

namespace kvnet::ctl {

using BackendFactory =
    std::function<Result<std::unique_ptr<dp::PortBackend>>(const BridgeSpec&, const PortSpec&)>;

// Adds everything of `t` to an empty datapath (or one with nothing of `t`'s
// names). A patch port whose peer is not in `t` stays unconnected.
Status populate_datapath(dp::Datapath& dp, const Topology& t, const BackendFactory& factory);

Result<std::unique_ptr<dp::Datapath>> build_datapath(const Topology& t, const BackendFactory& factory,
                                                     size_t pool_frames = 16384);

}  // namespace kvnet::ctl
