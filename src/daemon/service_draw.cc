// The API's `draw`: the live topology as a picture (ctl/draw.h), with each
// port's state and, optionally, one traced frame's path. Rendering runs on
// the control thread (libgvc, serialized by ctl/render.h's mutex); for the
// sizes kvnet draws it takes milliseconds.
#include "ctl/draw.h"
#include "ctl/render.h"
#include "daemon/netns.h"
#include "daemon/service.h"
#include "daemon/service_args.h"
#include "daemon/vm_host.h"

namespace kvnet::daemon {

Result<json> Service::draw(const Args& a) {
  TRY(name, a.str("format", false));
  TRY(format, ctl::parse_image_format(name.empty() ? "svg" : name));
  TRY(trace_args, a.object("trace"));

  ctl::DrawStatus st;
  st.port_down = vanished_;
  for (const auto& vm : cur_.vms) st.vm_state[vm.name] = vms_ ? to_string(vms_->status(vm.name).state) : "stopped";
  if (opts_.manage_containers)
    for (const auto& c : cur_.containers)
      if (!netns_exists(c.name)) st.ct_missing.insert(c.name);

  ctl::DrawRequest req{.status = &st, .title = "kvnetd " + store_->path()};
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

}  // namespace kvnet::daemon
