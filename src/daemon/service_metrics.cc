// The Service's side of metrics and counters: the snapshot the metrics
// endpoint renders (daemon/metrics.h), and `stats-clear`.
#include "daemon/service.h"
#include "daemon/service_args.h"
#include "daemon/vm_host.h"

namespace kvnet::daemon {

MetricsSnapshot Service::metrics_snapshot() {
  MetricsSnapshot s;
  s.dp = dp_.metrics();
  for (const auto& [port, why] : vanished_) s.detached.push_back(port);
  for (const auto& v : cur_.vms) s.vms.push_back({v.name, vms_ ? vms_->status(v.name).state : VmState::kStopped});
  s.containers = cur_.containers.size();
  return s;
}

Result<json> Service::stats_clear(const Args& a) {
  TRY(only, a.str("port", false));
  std::optional<uint32_t> id;
  if (!only.empty()) {
    if (!cur_.find_port(only)) return Error{"port '" + only + "' does not exist"};
    auto l = live_.find(only);
    if (l == live_.end()) return Error{"port '" + only + "' has no counters (not in the datapath)"};
    id = l->second.id;
  }
  return json{{"cleared", dp_.clear_counters(id)}};
}

}  // namespace kvnet::daemon
