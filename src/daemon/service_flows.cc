// kvnetd's OpenFlow verbs (ovs-ofctl's add-flow, add-flows, mod-flows,
// del-flows, dump-flows) on a switch's flow tables (dp/flow_table.h), in
// ovs-ofctl's syntax (dp/flow_text.h). As in Open vSwitch, flows are the
// datapath's state, not configuration: they are not stored, and a bridge
// made again starts with the default table. Ports are named or numbered
// (kvnet's port ids are the OpenFlow port numbers).
#include "base/clock.h"
#include "daemon/service_args.h"
#include "daemon/verbs.h"
#include "dp/flow_text.h"

namespace kvnet::daemon {

using namespace kvnet::ctl;

namespace {

class FlowVerbs : VerbContext {
 public:
  using VerbContext::VerbContext;
  Result<json> add_flow(const Args& a);
  Result<json> mod_flows(const Args& a);
  Result<json> del_flows(const Args& a);
  Result<json> dump_flows(const Args& a);

 private:
  // The switch a verb names, checked; its ports' names and numbers.
  Result<const BridgeSpec*> bridge(const Args& a) const {
    TRY(br, a.str("bridge"));
    const BridgeSpec* b = cur_.find_bridge(br);
    if (!b) return Error{"bridge '" + br + "' does not exist"};
    if (b->type != dp::BridgeType::kSwitch)
      return Error{"bridge '" + br + "' is a " + std::string(dp::to_string(b->type)) +
                   " bridge: OpenFlow tables are a switch's"};
    return b;
  }
  dp::FlowPorts ports(const BridgeSpec& b) const {
    dp::FlowPorts p;
    p.id = [this, &b](std::string_view n) -> std::optional<uint32_t> {
      if (!b.find_port(std::string(n))) return std::nullopt;
      auto it = live_.find(std::string(n));
      if (it == live_.end()) return std::nullopt;
      return it->second.id;
    };
    p.name = [this, &b](uint32_t id) -> std::string {
      for (const auto& port : b.ports)
        if (auto it = live_.find(port.name); it != live_.end() && it->second.id == id) return port.name;
      return "";
    };
    p.id_of_number = [this, &b](uint32_t n) -> std::optional<uint32_t> {
      for (const auto& port : b.ports)
        if (auto it = live_.find(port.name); it != live_.end() && dp::openflow_port(it->second.id) == n)
          return it->second.id;
      return std::nullopt;
    };
    p.number_of_id = dp::openflow_port;
    return p;
  }
  Result<dp::ParsedFlow> parse(const BridgeSpec& b, const std::string& text, dp::FlowTextMode mode) const {
    auto r = dp::parse_flow_text(text, ports(b), mode);
    if (!r) return Error{"bridge '" + b.name + "': flow '" + text + "': " + r.error().message};
    return r;
  }
  static dp::FlowSelector selector(const dp::ParsedFlow& p, bool strict) {
    dp::FlowSelector s;
    if (p.has_table) s.table = p.flow.table;
    s.match = p.flow.match;
    s.strict = strict;
    s.priority = p.flow.priority;
    s.cookie = p.flow.cookie;
    s.cookie_mask = p.cookie_mask;
    s.out_port = p.out_port;
    return s;
  }
  Result<size_t> run(const BridgeSpec& b, dp::FlowModCommand cmd, const dp::ParsedFlow& p, bool strict) {
    auto n = dp_.flow_mod(b.name, cmd, p.flow, selector(p, strict));
    if (!n) return Error{"bridge '" + b.name + "' is not in the datapath"};
    return *n;
  }
};

// add-flow BR FLOW, and add-flows BR with `flows` (a list): all parsed
// before any is added.
Result<json> FlowVerbs::add_flow(const Args& a) {
  TRY(b, bridge(a));
  TRY(texts, a.strings("flows"));
  if (texts.empty()) {
    TRY(one, a.str("flow"));
    texts.push_back(one);
  }
  std::vector<dp::ParsedFlow> parsed;
  for (const auto& t : texts) {
    TRY(p, parse(*b, t, dp::FlowTextMode::kAdd));
    parsed.push_back(std::move(p));
  }
  for (const auto& p : parsed)
    if (auto r = run(*b, dp::FlowModCommand::kAdd, p, false); !r) return r.error();
  return json{{"bridge", b->name}, {"added", parsed.size()}};
}

Result<json> FlowVerbs::mod_flows(const Args& a) {
  TRY(b, bridge(a));
  TRY(text, a.str("flow"));
  TRY(strict, a.flag("strict"));
  TRY(p, parse(*b, text, dp::FlowTextMode::kModify));
  TRY(n, run(*b, strict ? dp::FlowModCommand::kModifyStrict : dp::FlowModCommand::kModify, p, strict));
  return json{{"bridge", b->name}, {"modified", n}};
}

Result<json> FlowVerbs::del_flows(const Args& a) {
  TRY(b, bridge(a));
  TRY(text, a.str("flow", false));
  TRY(strict, a.flag("strict"));
  TRY(p, parse(*b, text, dp::FlowTextMode::kDelete));  // "": every flow of every table
  TRY(n, run(*b, strict ? dp::FlowModCommand::kDeleteStrict : dp::FlowModCommand::kDelete, p, strict));
  return json{{"bridge", b->name}, {"deleted", n}};
}

Result<json> FlowVerbs::dump_flows(const Args& a) {
  TRY(b, bridge(a));
  TRY(text, a.str("flow", false));
  TRY(p, parse(*b, text, dp::FlowTextMode::kDelete));  // a selection, as del-flows takes it
  const dp::FlowSelector sel = selector(p, false);
  auto flows = dp_.dump_flows(b->name);
  if (!flows) return Error{"bridge '" + b->name + "' is not in the datapath"};
  const auto names = ports(*b);
  const uint64_t now = monotonic_ns();
  json out = json::array();
  for (auto f : *flows) {
    if (!sel.selects(f)) continue;
    if (f.created_ns == 0) f.created_ns = now;  // the default flow of a bridge never changed
    out.push_back({{"table", f.table},
                   {"priority", f.priority},
                   {"cookie", f.cookie},
                   {"match", dp::match_text(f.match, names)},
                   {"actions", dp::actions_text(f.actions, names)},
                   {"n_packets", f.n_packets},
                   {"n_bytes", f.n_bytes},
                   {"duration_s", static_cast<double>(now > f.created_ns ? now - f.created_ns : 0) / 1e9},
                   {"idle_timeout", f.idle_timeout},
                   {"hard_timeout", f.hard_timeout},
                   {"line", dp::flow_line(f, now, names)}});
  }
  return out;
}

}  // namespace

std::span<const Verb> flow_verbs() {
  static const Verb kVerbs[] = {
      {"add-flow", false, true, &verb<FlowVerbs, &FlowVerbs::add_flow>},
      {"mod-flows", false, true, &verb<FlowVerbs, &FlowVerbs::mod_flows>},
      {"del-flows", false, true, &verb<FlowVerbs, &FlowVerbs::del_flows>},
      {"dump-flows", false, false, &verb<FlowVerbs, &FlowVerbs::dump_flows>},
  };
  return kVerbs;
}

}  // namespace kvnet::daemon
