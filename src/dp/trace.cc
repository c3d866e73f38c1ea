#include "dp/trace.h"

#include <fmt/format.h>

namespace kvnet::dp {

std::string_view to_string(TraceStage s) {
  switch (s) {
    case TraceStage::kIngress: return "ingress";
    case TraceStage::kVlan: return "vlan";
    case TraceStage::kLearn: return "learn";
    case TraceStage::kLookup: return "lookup";
    case TraceStage::kFlood: return "flood";
    case TraceStage::kEgress: return "egress";
    case TraceStage::kOutput: return "output";
    case TraceStage::kEncap: return "encap";
    case TraceStage::kPatch: return "patch";
    case TraceStage::kFirewall: return "firewall";
    case TraceStage::kDrop: return "drop";
    case TraceStage::kMirror: return "mirror";
    case TraceStage::kSuppress: return "arp-suppress";
    case TraceStage::kFlowTable: return "openflow";
  }
  return "?";
}

std::string_view to_string(TraceWhat w) {
  switch (w) {
    case TraceWhat::kNone: return "";
    case TraceWhat::kLearned: return "learned";
    case TraceWhat::kRefreshed: return "refreshed";
    case TraceWhat::kMoved: return "moved";
    case TraceWhat::kStaticEntry: return "static_entry";
    case TraceWhat::kTableFull: return "table_full";
    case TraceWhat::kWouldLearn: return "would_learn";
    case TraceWhat::kBroadcast: return "broadcast";
    case TraceWhat::kMulticast: return "multicast";
    case TraceWhat::kUnknown: return "unknown";
    case TraceWhat::kKnown: return "known";
    case TraceWhat::kNotCarried: return "not_carried";
    case TraceWhat::kInnerNotCarried: return "inner_not_carried";
    case TraceWhat::kPriorityTag: return "priority_tag";
    case TraceWhat::kUntagged: return "untagged";
    case TraceWhat::kTagged: return "tagged";
    case TraceWhat::kFwUnfiltered: return "unfiltered";
    case TraceWhat::kFwEstablished: return "established";
    case TraceWhat::kFwRelated: return "related";
    case TraceWhat::kFwAllowed: return "allowed";
    case TraceWhat::kFwDenied: return "denied";
    case TraceWhat::kFwInvalid: return "invalid";
    case TraceWhat::kFwSpoofed: return "spoofed";
    case TraceWhat::kAnswered: return "answered";
    case TraceWhat::kNotKnown: return "not_known";
  }
  return "?";
}

namespace {

std::string vlan_in(const TraceStep& s) {
  std::string how;
  if (!s.tagged) how = "untagged";
  else if (s.vid == 0) how = fmt::format("priority-tagged (pcp {}), counts as untagged", s.pcp);
  else how = fmt::format("tagged VLAN {}", s.vid);
  std::string what;
  if (s.tunnel)
    what = fmt::format("dot1q-tunnel: joins service VLAN {}{}", s.vlan,
                       s.inner < 0    ? std::string()
                       : s.inner == 0 ? std::string(", priority tag kept as inner tag")
                                      : fmt::format(", customer VLAN {} kept as inner tag", s.inner));
  else if (!s.tagged || s.vid == 0)
    what = fmt::format("{} pvid {} -> VLAN {}", s.mode, s.pvid, s.vlan);
  else
    what = fmt::format("{}: VLAN {} is allowed, tag removed for switching", s.mode, s.vid);
  return how + "; " + what;
}

std::string learn(const TraceStep& s) {
  const std::string who = fmt::format("{} in VLAN {}", s.mac, s.vlan);
  switch (s.what) {
    case TraceWhat::kWouldLearn: return fmt::format("(trace) would learn {} on {}", who, s.port);
    case TraceWhat::kLearned: return "learned " + who + " on " + s.port;
    case TraceWhat::kRefreshed: return "refreshed " + who + " on " + s.port;
    case TraceWhat::kMoved: return "moved " + who + " from " + s.other + " to " + s.port;
    case TraceWhat::kStaticEntry: return who + " has a static entry: not learned";
    default: return "table full of static entries: " + who + " not learned";
  }
}

std::string lookup(const TraceStep& s) {
  switch (s.what) {
    case TraceWhat::kBroadcast: return s.mac + " is broadcast: flood";
    case TraceWhat::kMulticast: return s.mac + " is multicast: flood";
    case TraceWhat::kUnknown: return fmt::format("{} in VLAN {} is unknown: flood", s.mac, s.vlan);
    default: return fmt::format("{} in VLAN {} is on port {}", s.mac, s.vlan, s.other);
  }
}

std::string egress(const TraceStep& s) {
  switch (s.what) {
    case TraceWhat::kNotCarried: return fmt::format("{} {}: VLAN {} is not carried: not sent", s.mode, s.port, s.vlan);
    case TraceWhat::kInnerNotCarried:
      return fmt::format("{} {}: inner VLAN {} is not carried: not sent", s.mode, s.port, s.inner);
    default: break;
  }
  const std::string what = s.what == TraceWhat::kPriorityTag
                               ? fmt::format("untagged with a priority tag (VID 0, pcp {})", s.pcp)
                           : s.what == TraceWhat::kUntagged ? std::string("tag stripped, sent untagged")
                                                            : fmt::format("sent tagged VLAN {} (tpid 0x{:04x})", s.vlan, s.tpid);
  return fmt::format("{} port {} (pvid {}): VLAN {}: {}", s.mode, s.port, s.pvid, s.vlan, what);
}

std::string firewall(const TraceStep& s) {
  const std::string where = fmt::format("port {} ({} rules of {})", s.port, s.mode, s.other);
  const std::string conn = s.conn_state.empty() ? std::string() : " (" + s.conn_state + ")";
  switch (s.what) {
    case TraceWhat::kFwUnfiltered: return fmt::format("port {}: {}: passes unfiltered", s.port, s.other);
    case TraceWhat::kFwSpoofed: return fmt::format("port {}: port security: {}", s.port, s.other);
    case TraceWhat::kFwEstablished:
      return fmt::format("{}: conntrack zone {}: established{}: passes", where, s.zone, conn);
    case TraceWhat::kFwRelated:
      return fmt::format("{}: conntrack zone {}: related ICMP error of a connection{}: passes", where, s.zone, conn);
    case TraceWhat::kFwAllowed:
      return fmt::format("{}: conntrack zone {}: new connection, allowed by group {} rule {} ({})", where, s.zone,
                         s.group, s.rule_id, s.rule);
    case TraceWhat::kFwDenied:
      return fmt::format("{}: conntrack zone {}: new connection, no rule allows it", where, s.zone);
    case TraceWhat::kFwInvalid:
      return fmt::format("{}: conntrack zone {}: invalid{}", where, s.zone,
                         s.conn_state.empty() ? std::string(" (no connection, and it cannot start one)")
                                              : " for the connection's state" + conn);
    default: break;
  }
  return where;
}

}  // namespace

std::string describe(const TraceStep& s) {
  switch (s.stage) {
    case TraceStage::kIngress:
      return fmt::format("port {} of {} bridge {}: {} bytes: {}", s.port, s.bridge_type, s.bridge, s.bytes, s.flow);
    case TraceStage::kVlan: return vlan_in(s);
    case TraceStage::kLearn: return learn(s);
    case TraceStage::kLookup: return lookup(s);
    case TraceStage::kFlood:
      if (s.vlan < 0) return fmt::format("hub: repeat to every other port ({})", s.count);
      return fmt::format("flood in VLAN {} to {} member port(s)", s.vlan, s.count);
    case TraceStage::kEgress: return egress(s);
    case TraceStage::kOutput: return fmt::format("output to {} port {}", s.kind, s.port);
    case TraceStage::kEncap: return s.other;
    case TraceStage::kPatch:
      return fmt::format("output to patch {} -> peer {}", s.port,
                         s.other.empty() ? std::string("(none: the peer does not exist)") : s.other);
    case TraceStage::kFirewall: return firewall(s);
    case TraceStage::kDrop: return fmt::format("dropped ({}): {}", to_string(s.reason), explain(s.reason));
    case TraceStage::kMirror:
      return fmt::format("{} port {}{}: mirror {} -> {} ({} cop{})", s.mode == "src" ? "received on" : "sent out of",
                         s.port, s.vlan > 0 ? fmt::format(" in VLAN {}", s.vlan) : std::string(), s.other,
                         s.mirror_output, s.count, s.count == 1 ? "y" : "ies");
    case TraceStage::kFlowTable:
      if (s.priority < 0) return fmt::format("table {}: no flow matched ({})", s.table, s.rule);
      return fmt::format("table {}: priority={}{}{}, cookie={:#x} -> actions={}", s.table, s.priority,
                         s.flow.empty() ? "" : ",", s.flow, s.cookie, s.rule);
    case TraceStage::kSuppress: {
      const char* what = s.kind == "nd" ? "neighbour solicitation" : "ARP request";
      if (s.what == TraceWhat::kAnswered)
        return fmt::format("{} for {} answered here: is at {}; sent back out of {}, not flooded", what, s.other,
                           s.mac, s.port);
      return fmt::format("{} for {} in VLAN {}: not known here: goes on", what, s.other, s.vlan);
    }
  }
  return "";
}

}  // namespace kvnet::dp
