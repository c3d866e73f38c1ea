// What the pipeline did with one frame (`kvnet trace`, `kvnetctl trace`), as
// structured events.
//
// The datapath holds a Trace* that is null in normal operation; stages check
// it once per frame before building an event, so tracing costs one
// predictable branch when off. With it on, every stage appends a TraceStep:
// which stage, where (bridge, port, patch depth) and the facts of what it
// decided, in typed fields. `describe()` is the one place that turns an event
// into a sentence; the JSON form of a trace is the events themselves.
//
// Thread-safety: used by the datapath thread for one traced frame at a time.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "dp/counters.h"

namespace kvnet::dp {

enum class TraceStage : uint8_t {
  kIngress, kVlan, kLearn, kLookup, kFlood, kEgress, kOutput, kEncap, kPatch, kFirewall, kDrop, kMirror,
  kSuppress,  // arp-suppress (dp/neighbors.h)
  kFlowTable  // an OpenFlow table's lookup (dp/flow_table.h)
};
std::string_view to_string(TraceStage s);

// What happened, for the stages that have several outcomes.
enum class TraceWhat : uint8_t {
  kNone,
  // learn
  kLearned, kRefreshed, kMoved, kStaticEntry, kTableFull, kWouldLearn,
  // lookup
  kBroadcast, kMulticast, kUnknown, kKnown,
  // egress
  kNotCarried, kInnerNotCarried, kPriorityTag, kUntagged, kTagged,
  // firewall
  kFwUnfiltered,  // not subject to the rules: no groups, not IP, DHCP client traffic
  kFwEstablished, kFwRelated,
  kFwAllowed,     // a new connection a rule allows
  kFwDenied,      // a new connection no rule allows
  kFwInvalid,     // not valid for conntrack
  kFwSpoofed,     // port security
  // arp-suppress
  kAnswered,      // answered here from the neighbour table
  kNotKnown,      // the target is not in the table: goes on (flooded)
};
std::string_view to_string(TraceWhat w);

struct TraceStep {
  int depth = 0;        // patch crossings before this step
  std::string bridge;   // bridge the step happened in
  std::string port;     // port involved ("" if none)
  TraceStage stage = TraceStage::kIngress;
  TraceWhat what = TraceWhat::kNone;

  // The facts; which are set depends on the stage (-1 / "" = not set).
  std::string bridge_type;  // ingress: hub, learning, switch
  std::string flow;         // ingress: the frame as parsed
  std::string mode;         // vlan, egress: the port's VLAN mode
  std::string mac;          // learn, lookup; suppress: the MAC answered
  std::string other;        // learn kMoved: old port; lookup kKnown: out port; patch: peer path;
                            // encap: the outer headers (the port backend's words);
                            // suppress: the target address (and where it is)
  std::string kind;         // output: the port's kind; suppress: arp or nd
  int64_t bytes = -1;       // ingress
  int64_t vlan = -1;        // the VLAN the frame is switched in
  int64_t vid = -1;         // vlan: VID of the received tag (0: priority tag)
  int64_t pcp = -1;         // vlan: priority of the received tag; egress: of a priority tag
  int64_t pvid = -1;        // vlan, egress
  int64_t inner = -1;       // vlan: customer VLAN kept; egress: inner VLAN not carried
  int64_t tpid = -1;        // egress kTagged
  int64_t count = -1;       // flood: ports
  // firewall: mode = "egress" (frames from the endpoint) or "ingress" (to it);
  // other = the port's groups, or what port security refused
  std::string group;        // the group of the rule that allowed it
  std::string rule;         // that rule, as configured
  std::string ct;           // conntrack: new, established, related, invalid
  std::string conn_state;   // the connection's state (ESTABLISHED, REPLIED, ...), its direction
  int64_t rule_id = -1;
  int64_t zone = -1;
  // mirror: other = the mirror's name, mode = "src" (received on `port`) or
  // "dst" (sent out of it), vlan (switch bridges), count = copies sent,
  // mirror_output = "port P" or "vlan N"
  std::string mirror_output;
  // flow table: the table, the flow that matched (priority, cookie, match in
  // `flow`, actions in `rule`); priority -1: none matched
  int64_t table = -1;
  int64_t priority = -1;
  uint64_t cookie = 0;
  bool tagged = false;      // vlan: the frame came with a tag
  bool tunnel = false;      // vlan: dot1q-tunnel port
  Drop reason = Drop::kCount;  // drop
};

// The sentence for one step (what `trace` prints after the stage name).
std::string describe(const TraceStep& s);

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
