// `kvnet trace`: one synthetic frame through the topology, with every step.
//
// The frame (built from OVS-style fields, ctl/flow_spec.h) enters at
// `in_port` with the datapath in trace mode; the result lists every stage of
// every bridge and patch it crossed and the frames that leave. With `warm`,
// the topology's rx pcaps are replayed first (outputs discarded) so the FDB
// holds what that traffic taught it.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "base/result.h"
#include "ctl/topology.h"
#include "dp/trace.h"

namespace kvnet::ctl {

struct TraceRequest {
  std::string in_port;  // "bridge/port" or "port"
  std::string flow;     // OVS-style fields
  bool warm = false;
};

struct TraceResult {
  std::string in_port;   // resolved "bridge/port"
  std::string flow;      // the frame as parsed
  uint64_t warm_frames = 0;
  dp::Trace trace;
};

Result<TraceResult> run_trace(const Topology& t, const TraceRequest& req);
std::string render_trace_text(const TraceResult& r);
nlohmann::json render_trace_json(const TraceResult& r);

}  // namespace kvnet::ctl
