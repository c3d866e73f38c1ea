// A per-stage log of what the pipeline did with one frame (`kvnet trace`).
//
// The datapath holds a Trace* that is null in normal operation; every stage
// checks it before formatting anything, so tracing costs one predictable
// branch per stage when off. With it on, each stage appends a step, and every
// frame that leaves through a non-patch port is recorded as an output.
//
// Thread-safety: used by the datapath thread for one traced frame at a time.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace kvnet::dp {

struct TraceStep {
  int depth;           // patch crossings before this step
  std::string bridge;  // bridge the step happened in
  std::string port;    // port involved ("" if none)
  std::string stage;   // ingress, vlan, learn, lookup, flood, egress, output, patch, drop
  std::string detail;  // human sentence
};

struct TraceOutput {
  std::string bridge;
  std::string port;
  std::string flow;  // OVS-style fields of the frame as it leaves
  std::vector<uint8_t> bytes;
};

struct Trace {
  std::vector<TraceStep> steps;
  std::vector<TraceOutput> outputs;
};

}  // namespace kvnet::dp
