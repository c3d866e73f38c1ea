#include "ctl/trace_run.h"

#include <fmt/format.h>

#include "ctl/build.h"
#include "ctl/flow_spec.h"
#include "ctl/replay.h"
#include "net/flow_key.h"

namespace kvnet::ctl {

Result<TraceResult> run_trace(const Topology& t, const TraceRequest& req) {
  const BridgeSpec* bs = nullptr;
  const PortSpec* ps = t.find_port(req.in_port, &bs);
  if (!ps) return Error{"--in-port: port '" + req.in_port + "' is not in " + t.file};
  if (ps->kind->is_patch())
    return Error{"--in-port: port '" + req.in_port + "' is a patch port; trace from the port a frame enters on"};
  auto bytes = build_frame_from_flow(req.flow);
  if (!bytes) return bytes.error();

  auto discard = [](const BridgeSpec&, const PortSpec&) -> Result<std::unique_ptr<dp::PortBackend>> {
    return std::unique_ptr<dp::PortBackend>();
  };
  auto built = build_datapath(t, discard);
  if (!built) return built.error();
  dp::Datapath& dp = **built;

  TraceResult r;
  r.in_port = bs->name + "/" + ps->name;
  net::FlowKey k;
  net::parse_flow(bytes->data(), bytes->size(), k);
  r.flow = k.str();
  uint64_t clock = 0;
  if (req.warm) {
    auto n = feed_rx(t, dp);
    if (!n) return n.error();
    r.warm_frames = *n;
    // The traced frame arrives just after the last replayed one.
    for (const auto& b : dp.bridges())
      if (b->fdb())
        for (const auto& e : b->fdb()->entries()) clock = std::max(clock, e.last_seen_ns);
  }
  dp::Port* in = dp.find_port(r.in_port);
  net::Frame* f = dp.pool().get();
  f->assign(bytes->data(), bytes->size());
  f->meta.ts_ns = clock;
  dp.set_trace(&r.trace);
  net::FrameBatch b;
  b.add(f);
  dp.receive(*in, b);
  dp.set_trace(nullptr);
  return r;
}

std::string render_trace_text(const TraceResult& r) {
  std::string out = "Flow: " + r.flow + "\nIngress: " + r.in_port + "\n";
  if (r.warm_frames) out += fmt::format("FDB warmed by replaying {} frame(s)\n", r.warm_frames);
  std::string bridge;
  int depth = -1;
  std::vector<std::string> devices;  // in order of first appearance
  auto seen = [&](const std::string& d) {
    for (const auto& x : devices)
      if (x == d) return;
    devices.push_back(d);
  };
  for (const auto& s : r.trace.steps) {
    const std::string ind(static_cast<size_t>(s.depth) * 4, ' ');
    if (s.bridge != bridge || s.depth != depth) {
      bridge = s.bridge;
      depth = s.depth;
      out += fmt::format("\n{}bridge(\"{}\")\n{}{}\n", ind, s.bridge, ind, std::string(10 + s.bridge.size(), '-'));
    }
    if (s.stage == dp::TraceStage::kIngress) seen(s.port), seen(s.bridge);
    if (s.stage == dp::TraceStage::kPatch || s.stage == dp::TraceStage::kOutput) seen(s.port);
    out += fmt::format("{} {:<8} {}\n", ind, dp::to_string(s.stage), dp::describe(s));
  }
  out += "\nDevices crossed: ";
  for (size_t i = 0; i < devices.size(); ++i) out += (i ? " -> " : "") + devices[i];
  out += fmt::format(" ({} devices)\n", devices.size());
  if (r.trace.outputs.empty()) {
    out += "Final: the frame leaves through no port (dropped or filtered).\n";
  } else {
    out += fmt::format("Final: {} frame(s) leave:\n", r.trace.outputs.size());
    for (const auto& o : r.trace.outputs)
      out += fmt::format("  {}/{}: {} ({} bytes)\n", o.bridge, o.port, o.flow, o.bytes.size());
  }
  return out;
}

// One event as JSON: its place, its stage and outcome, the facts that are
// set, and the sentence the text form prints.
nlohmann::json trace_step_json(const dp::TraceStep& s) {
  nlohmann::json j{{"depth", s.depth}, {"bridge", s.bridge}, {"port", s.port}, {"stage", dp::to_string(s.stage)}};
  if (s.what != dp::TraceWhat::kNone) j["what"] = dp::to_string(s.what);
  auto text = [&](const char* k, const std::string& v) {
    if (!v.empty()) j[k] = v;
  };
  auto num = [&](const char* k, int64_t v) {
    if (v >= 0) j[k] = v;
  };
  text("bridge_type", s.bridge_type);
  text("flow", s.flow);
  text("mode", s.mode);
  text("mac", s.mac);
  text("kind", s.kind);
  if (!s.other.empty())
    j[s.stage == dp::TraceStage::kPatch      ? "peer"
      : s.stage == dp::TraceStage::kLearn    ? "from_port"
      : s.stage == dp::TraceStage::kEncap    ? "encap"
      : s.stage == dp::TraceStage::kMirror   ? "mirror"
      : s.stage == dp::TraceStage::kFirewall ? (s.what == dp::TraceWhat::kFwSpoofed     ? "refused"
                                                : s.what == dp::TraceWhat::kFwUnfiltered ? "because"
                                                                                         : "groups")
                                             : "out_port"] = s.other;
  text("group", s.group);
  text("rule", s.rule);
  text("ct", s.ct);
  text("conn_state", s.conn_state);
  text("mirror_output", s.mirror_output);
  num("rule_id", s.rule_id);
  num("table", s.table);
  if (s.stage == dp::TraceStage::kFlowTable) {
    num("priority", s.priority);
    if (s.priority >= 0) j["cookie"] = s.cookie;
  }
  num("zone", s.zone);
  num("bytes", s.bytes);
  num("vlan", s.vlan);
  num("vid", s.vid);
  num("pcp", s.pcp);
  num("pvid", s.pvid);
  num("inner", s.inner);
  num("tpid", s.tpid);
  num("count", s.count);
  if (s.stage == dp::TraceStage::kVlan) {
    j["tagged"] = s.tagged;
    j["tunnel"] = s.tunnel;
  }
  if (s.stage == dp::TraceStage::kDrop) j["reason"] = dp::to_string(s.reason);
  j["detail"] = dp::describe(s);
  return j;
}

nlohmann::json render_trace_json(const TraceResult& r) {
  nlohmann::json j;
  j["flow"] = r.flow;
  j["in_port"] = r.in_port;
  j["warm_frames"] = r.warm_frames;
  j["steps"] = nlohmann::json::array();
  for (const auto& s : r.trace.steps) j["steps"].push_back(trace_step_json(s));
  j["outputs"] = nlohmann::json::array();
  for (const auto& o : r.trace.outputs) {
    std::string hex;
    for (uint8_t b : o.bytes) hex += fmt::format("{:02x}", b);
    j["outputs"].push_back({{"bridge", o.bridge}, {"port", o.port}, {"flow", o.flow}, {"len", o.bytes.size()},
                            {"hex", hex}});
  }
  return j;
}

}  // namespace kvnet::ctl
