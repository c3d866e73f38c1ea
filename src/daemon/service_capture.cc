// The `capture` command: a live capture of one port (kvnetctl capture).
#include "base/text.h"
#include "daemon/capture_stream.h"
#include "daemon/service.h"
#include "daemon/service_args.h"

namespace kvnet::daemon {

Result<ApiStreamStart> Service::capture(const json& req) {
  const Args a(req);
  TRY(port, a.str("port"));
  TRY(dir, a.str("direction", false));
  io::CaptureOptions o;
  if (dir == "in") o.out = false;
  else if (dir == "out") o.in = false;
  else if (!dir.empty() && dir != "both")
    return Error{"argument 'direction' must be in, out or both, not '" + valid_utf8(dir) + "'"};
  if (a.has("vlan")) {
    TRY(vlan, a.integer("vlan", 1, 4094));
    o.vlan = static_cast<uint16_t>(vlan);
  }
  TRY(filter, a.str("filter", false));
  o.filter = filter;
  if (a.has("count")) {
    TRY(count, a.integer("count", 1, int64_t{1} << 53));
    o.count = static_cast<uint64_t>(count);
  }
  if (a.has("snaplen")) {
    TRY(snaplen, a.integer("snaplen", 64, io::kDefaultSnaplen));
    o.snaplen = static_cast<uint32_t>(snaplen);
  }
  const ctl::BridgeSpec* b = nullptr;
  const ctl::PortSpec* p = cur_.find_port(port, &b);
  const auto live = p ? live_.find(p->name) : live_.end();
  if (!p || live == live_.end()) return Error{"port '" + valid_utf8(port) + "' does not exist"};
  if (*captures_ >= kMaxCaptures)
    return Error{"too many captures at once (limit " + std::to_string(kMaxCaptures) + "): end one first"};
  TRY(cap, io::Capture::create(o));
  dp_.tap_add(live->second.id, cap);
  json result{{"port", p->name},
              {"bridge", b->name},
              {"type", std::string(p->kind->name())},
              {"direction", o.in && o.out ? "both" : o.in ? "in" : "out"},
              {"vlan", o.vlan},
              {"filter", o.filter},
              {"count", o.count},
              {"snaplen", o.snaplen},
              {"buffer_bytes", o.ring_bytes}};
  return ApiStreamStart{std::move(result), std::make_unique<CaptureStream>(dp_, live->second.id, p->name, cap, captures_)};
}

}  // namespace kvnet::daemon
