// The cluster as a picture (`kvnetctl draw --cluster`, the API's `draw` with
// `cluster`): a Graphviz DOT graph of what the store says, from this host's
// state. ctl/render.h lays it out and renders it (SVG, PNG).
//
//   host       a cluster labelled with its name, underlay address and state
//              (up: solid; down: dashed grey, its ports greyed); this host
//              is marked. Inside: br-int, its VTEP (vx-cluster), and a node
//              per port bound there (owner, addresses, MAC) joined to
//              br-int, filled with its network's colour
//   tunnel     an edge between the VTEPs of two hosts that both have a port
//              on a network, labelled with those networks and their VNIs
//              (where a network's broadcasts go: its flood list)
//   legend     the networks: colour, VNI, subnet, ports
//
// Stable ids, as ctl/draw.h's: host:NAME (cluster), brint:NAME,
// vtep:NAME, port:HOST/PORT, tunnel:A--B (A < B), legend.
//
// Thread-safety: a pure function.
#pragma once

#include <string>

#include "cluster/state.h"

namespace kvnet::daemon {

std::string cluster_dot(const cluster::ClusterState& st, const std::string& this_host);

}  // namespace kvnet::daemon
