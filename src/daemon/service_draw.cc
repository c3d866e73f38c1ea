// The API's `trace` (one frame through the live datapath, a dry run) and
// `draw`: the live topology as a picture (ctl/draw.h), with each
// port's state and, optionally, one traced frame's path. Rendering runs on
// the control thread (libgvc, serialized by ctl/render.h's mutex); for the
// sizes kvnet draws it takes milliseconds.
#include "ctl/draw.h"
#include "daemon/cluster_draw.h"
#include "daemon/cluster_host.h"
#include "ctl/render.h"
#include "daemon/netns.h"
#include "daemon/service.h"
#include "base/clock.h"
#include "ctl/flow_spec.h"
#include "ctl/trace_run.h"
#include "daemon/service_args.h"
#include "daemon/verbs.h"
#include "daemon/vm_host.h"

namespace kvnet::daemon {

namespace {

using namespace kvnet::ctl;

class TraceVerbs : VerbContext {
 public:
  using VerbContext::VerbContext;
  Result<json> trace(const Args& a);
  Result<json> draw(const Args& a);

 private:
  // trace's arguments: one frame through the live datapath
  Result<TraceResult> live_trace(const Args& a);
};

Result<json> TraceVerbs::trace(const Args& a) {
  TRY(tr, live_trace(a));
  json j = render_trace_json(tr);
  j["text"] = render_trace_text(tr);
  // Whether this flow's live frames are forwarded in the kernel, and by which entry.
  if (!fast_) {
    j["fast_path"] = {{"in_kernel", false}, {"why", "the fast path is off: " + fast_off_}};
  } else {
    TRY(flow, a.str("flow", false));
    TRY(bytes, build_frame_from_flow(flow));
    const uint32_t id = live_.at(cur_.find_port(tr.in_port.substr(tr.in_port.find('/') + 1))->name).id;
    auto e = dp_.on_fast_path([&](dp::Datapath& dp) -> std::optional<io::FastPath::Entry> {
      if (id >= dp.ports().size() || !dp.ports()[id]) return std::nullopt;
      return fast_->lookup(*dp.ports()[id], bytes.data(), bytes.size());
    });
    if (e && e->live) {
      j["fast_path"] = {{"in_kernel", true}, {"entry", fastpath_entry_json(*e)}};
      j["text"] = j["text"].get<std::string>() + "fast path: live frames of this flow are forwarded in the kernel by\n  " +
                  j["fast_path"]["entry"]["line"].get<std::string>() + "\n";
    } else {
      const std::string why = e ? "its entry is outdated (the next frame goes to the slow path)"
                                : "no entry: the slow path forwards this flow's frames (or has not seen one yet)";
      j["fast_path"] = {{"in_kernel", false}, {"why", why}};
      j["text"] = j["text"].get<std::string>() + "fast path: " + why + "\n";
    }
  }
  return j;
}

Result<TraceResult> TraceVerbs::live_trace(const Args& a) {
  TRY(br, a.str("bridge"));
  TRY(in, a.str("in_port"));
  TRY(flow, a.str("flow", false));
  if (!cur_.find_bridge(br)) return Error{"bridge '" + br + "' does not exist"};
  // in_port is PORT or BRIDGE/PORT (the form `kvnet trace` takes).
  const BridgeSpec* b = nullptr;
  const PortSpec* p = cur_.find_port(in, &b);
  if (!p || b->name != br) return Error{"in_port '" + in + "' is not a port of bridge '" + br + "'"};
  if (p->kind->is_patch())
    return Error{"in_port '" + in + "' is a patch port; trace from the port a frame enters on"};
  TRY(bytes, build_frame_from_flow(flow));
  TraceResult tr;
  tr.in_port = br + "/" + p->name;
  net::FlowKey k;
  net::parse_flow(bytes.data(), bytes.size(), k);
  tr.flow = k.str();
  tr.trace = dp_.trace(live_.at(p->name).id, bytes, monotonic_ns());
  return tr;
}

Result<json> TraceVerbs::draw(const Args& a) {
  TRY(name, a.str("format", false));
  TRY(format, ctl::parse_image_format(name.empty() ? "svg" : name));
  TRY(trace_args, a.object("trace"));
  TRY(whole_cluster, a.flag("cluster"));
  if (whole_cluster) {
    if (!cluster_) return Error{"this kvnetd is standalone: draw --cluster needs a cluster (start it with --cluster URL)"};
    if (trace_args) return Error{"draw --cluster draws no trace"};
    TRY(bytes, ctl::render(cluster_dot(cluster_->state(), cluster_->options().host), format));
    return json{{"format", std::string(ctl::to_string(format))},
                {"data", format == ctl::ImageFormat::kPng ? ctl::base64_encode(bytes) : std::move(bytes)}};
  }

  ctl::DrawStatus st;
  st.port_down = vanished_;
  for (const auto& vm : cur_.vms) st.vm_state[vm.name] = vms_ ? to_string(vms_->status(vm.name).state) : "stopped";
  if (manage_containers_)
    for (const auto& c : cur_.containers)
      if (!netns_exists(c.name)) st.ct_missing.insert(c.name);

  ctl::DrawRequest req{.status = &st, .title = "kvnetd " + store_path()};
  std::optional<ctl::TraceResult> tr;
  if (trace_args) {
    auto r = live_trace(Args(*trace_args));
    if (!r) return Error{"trace: " + r.error().message};
    tr = std::move(*r);
    req.trace = &tr->trace;
    req.title = "trace from " + tr->in_port + ": " + tr->flow;
  }
  TRY(bytes, ctl::render(ctl::to_dot(cur_, req), format));
  json out{{"format", std::string(ctl::to_string(format))},
           {"data", format == ctl::ImageFormat::kPng ? ctl::base64_encode(bytes) : std::move(bytes)}};
  if (tr) {
    out["trace"] = ctl::render_trace_json(*tr);
    out["trace"]["text"] = ctl::render_trace_text(*tr);
  }
  return out;
}

}  // namespace

std::span<const Verb> trace_verbs() {
  static const Verb kVerbs[] = {
      {"trace", false, false, &verb<TraceVerbs, &TraceVerbs::trace>},
      {"draw", false, false, &verb<TraceVerbs, &TraceVerbs::draw>},
  };
  return kVerbs;
}

}  // namespace kvnet::daemon
