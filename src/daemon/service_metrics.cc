// The Service's side of metrics and counters: the snapshot the metrics
// endpoint renders (daemon/metrics.h), and the verbs stats, stats-clear and
// pipeline.
#include "ctl/report.h"
#include "daemon/cluster_host.h"
#include "daemon/service.h"
#include "daemon/service_args.h"
#include "daemon/verbs.h"
#include "daemon/vm_host.h"
#include "io/fastpath.h"

namespace kvnet::daemon {

MetricsSnapshot Service::metrics_snapshot() {
  MetricsSnapshot s;
  s.dp = dp_.metrics();
  for (const auto& [port, why] : vanished_) s.detached.push_back(port);
  for (const auto& v : cur_.vms) s.vms.push_back({v.name, vms_ ? vms_->status(v.name).state : VmState::kStopped});
  s.containers = cur_.containers.size();
  if (cluster_) {
    MetricsSnapshot::Cluster c;
    const ClusterHost::Health h = cluster_->health();
    c.round_trips = h.round_trips;
    c.errors = h.errors;
    c.resyncs = h.resyncs;
    c.watch_revision = h.watch_revision;
    c.joined = h.joined;
    c.connected = h.connected;
    const auto& st = cluster_->state();
    c.applied_revision = st.revision();
    std::set<std::string> all;
    for (const auto& [n, r] : st.members()) all.insert(n);
    for (const auto& [n, r] : st.up()) all.insert(n);
    all.erase(cluster_->options().host);
    for (const auto& n : all) ++(st.is_up(n) ? c.hosts_up : c.hosts_down);
    c.bindings = st.bindings().size();
    c.remote_stations = remotes_.size();
    c.arp_entries = neighbors_.size();
    const ClusterHost::Lag lag = cluster_->lag();
    c.lag_bounds = ClusterHost::Lag::kBounds;
    c.lag_buckets = lag.buckets;
    c.lag_count = lag.count;
    c.lag_sum = lag.sum;
    s.cluster = c;
  }
  if (fast_) {
    const io::FastPath::Info i = dp_.on_fast_path([&](dp::Datapath&) { return fast_->info(); });
    s.fast_path = MetricsSnapshot::FastPath{i.entries, i.max_entries, i.generation, i.hits, i.misses, i.stale,
                                            i.punts, i.too_big, i.errors, i.installs, i.install_failures,
                                            i.evictions, i.idle_removals, i.stale_removals};
  }
  return s;
}

namespace {

class StatsVerbs : VerbContext {
 public:
  using VerbContext::VerbContext;
  Result<json> stats(const Args& a);
  Result<json> stats_clear(const Args& a);
  Result<json> pipeline(const Args& a);
};

Result<json> StatsVerbs::stats(const Args& a) {
  TRY(only, a.str("port", false));
  if (!only.empty() && !cur_.find_port(only)) return Error{"port '" + only + "' does not exist"};
  json out = json::array();
  for (const auto& row : dp_.counters()) {
    if (!only.empty() && row.port != only) continue;
    json c = ctl::counters_json(row.counters);
    c["bridge"] = row.bridge;
    c["port"] = row.port;
    c["type"] = row.kind;
    c["captures"] = row.captures;
    out.push_back(c);
  }
  return out;
}

Result<json> StatsVerbs::pipeline(const Args& a) {
  TRY(only, a.str("bridge", false));
  if (!only.empty() && !cur_.find_bridge(only)) return Error{"bridge '" + only + "' does not exist"};
  auto stages = [](const std::vector<io::StageRow>& rows) {
    json out = json::array();
    for (const auto& r : rows) {
      json c = json::object();
      for (const auto& [k, v] : r.counters) c[k] = v;
      out.push_back({{"name", r.name}, {"counters", c}});
    }
    return out;
  };
  json out = json::array();
  for (const auto& b : dp_.pipeline()) {
    if (!only.empty() && b.bridge != only) continue;
    json ports = json::array();
    for (const auto& p : b.ports)
      ports.push_back({{"port", p.port}, {"ingress", stages(p.ingress)}, {"egress", stages(p.egress)}});
    out.push_back({{"bridge", b.bridge},
                   {"type", std::string(dp::to_string(b.type))},
                   {"ingress", stages(b.ingress)},
                   {"forward", std::string(dp::forward_summary(b.type))},
                   {"egress", stages(b.egress)},
                   {"ports", ports}});
  }
  return out;
}

Result<json> StatsVerbs::stats_clear(const Args& a) {
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

}  // namespace

std::span<const Verb> stats_verbs() {
  static const Verb kVerbs[] = {
      {"stats", false, false, &verb<StatsVerbs, &StatsVerbs::stats>},
      {"stats-clear", false, true, &verb<StatsVerbs, &StatsVerbs::stats_clear>},
      {"pipeline", false, false, &verb<StatsVerbs, &StatsVerbs::pipeline>},
  };
  return kVerbs;
}

}  // namespace kvnet::daemon
