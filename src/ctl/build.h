// Turning a validated topology into a running datapath.
//
// `build_datapath()` creates every bridge and port, connects patch pairs and
// installs static FDB entries. Port backends come from a caller-supplied
// factory, so replay (pcap files), trace (nothing) and the daemon (kernel
// interfaces) share this code. If the factory fails for any port, nothing is
// returned.
#pragma once

#include <functional>
#include <memory>

#include "base/result.h"
#include "ctl/topology.h"
#include "dp/datapath.h"

namespace kvnet::ctl {

using BackendFactory =
    std::function<Result<std::unique_ptr<dp::PortBackend>>(const BridgeSpec&, const PortSpec&)>;

// Adds everything of `t` to an existing (empty or unrelated) datapath.
// A patch port whose peer is not in `t` stays unconnected.
Status populate_datapath(dp::Datapath& dp, const Topology& t, const BackendFactory& factory);

Result<std::unique_ptr<dp::Datapath>> build_datapath(const Topology& t, const BackendFactory& factory,
                                                     size_t pool_frames = 16384);

}  // namespace kvnet::ctl
