#include "daemon/metrics.h"

#include <algorithm>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "base/text.h"
#include "dp/counters.h"

namespace kvnet::daemon {

// --- the writer ---

std::string escape_label_value(std::string_view v) {
  std::string out;
  for (const char c : valid_utf8(v)) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string escape_help(std::string_view v) {
  std::string out;
  for (const char c : valid_utf8(v)) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

namespace {
bool name_chars(std::string_view n, bool colon) {
  if (n.empty()) return false;
  for (size_t i = 0; i < n.size(); ++i) {
    const char c = n[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':') ||
                    (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}
}  // namespace

bool valid_metric_name(std::string_view name) { return name_chars(name, true); }
bool valid_label_name(std::string_view name) { return name_chars(name, false) && !name.starts_with("__"); }

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", v);
}

void Exposition::family(std::string_view name, MetricType type, std::string_view help) {
  name_ = std::string(name);
  const char* t = type == MetricType::kCounter ? "counter" : type == MetricType::kGauge ? "gauge" : "histogram";
  header_ = fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, escape_help(help), name, t);
  header_written_ = false;
}

void Exposition::write(std::initializer_list<Label> labels, const Label* extra, std::string_view suffix,
                       std::string_view value) {
  if (!header_written_) {
    out_ += header_;
    header_written_ = true;
  }
  out_ += name_;
  out_ += suffix;
  if (labels.size() || extra) {
    out_ += '{';
    bool first = true;
    auto one = [&](const Label& l) {
      if (!first) out_ += ',';
      first = false;
      out_ += l.name;
      out_ += "=\"";
      out_ += escape_label_value(l.value);
      out_ += '"';
    };
    for (const Label& l : labels) one(l);
    if (extra) one(*extra);
    out_ += '}';
  }
  out_ += ' ';
  out_ += value;
  out_ += '\n';
}

void Exposition::sample(std::initializer_list<Label> labels, uint64_t value, std::string_view suffix) {
  write(labels, nullptr, suffix, std::to_string(value));
}

void Exposition::sample(std::initializer_list<Label> labels, double value, std::string_view suffix) {
  write(labels, nullptr, suffix, format_value(value));
}

void Exposition::bucket(std::initializer_list<Label> labels, std::string_view le, uint64_t count) {
  const Label l{"le", le};
  write(labels, &l, "_bucket", std::to_string(count));
}

// --- the process ---

ProcessStats read_process_stats() {
  ProcessStats p;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const long page = sysconf(_SC_PAGESIZE);
  std::ifstream stat("/proc/self/stat");
  std::string line;
  if (std::getline(stat, line) && ticks > 0) {
    // Fields after "(comm)", which may itself hold spaces and parentheses.
    const auto close = line.rfind(')');
    if (close != std::string::npos) {
      std::istringstream in(line.substr(close + 2));
      std::vector<std::string> f;
      for (std::string w; in >> w;) f.push_back(w);
      // f[0] is field 3 (state): field N is f[N - 3].
      auto field = [&](size_t n) -> uint64_t { return n - 3 < f.size() ? std::stoull(f[n - 3]) : 0; };
      try {
        p.cpu_seconds = static_cast<double>(field(14) + field(15)) / ticks;
        p.resident_bytes = field(24) * static_cast<uint64_t>(page > 0 ? page : 4096);
        std::ifstream s("/proc/stat");
        for (std::string l; std::getline(s, l);)
          if (l.starts_with("btime ")) p.start_time_s = std::stod(l.substr(6)) + static_cast<double>(field(22)) / ticks;
      } catch (const std::exception&) {
        // a /proc we do not understand: the values stay 0
      }
    }
  }
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec); !ec && it != std::filesystem::directory_iterator();
       it.increment(ec))
    ++p.open_fds;
  return p;
}

// --- kvnetd's metrics ---

namespace {

constexpr VmState kVmStates[] = {VmState::kStopped,  VmState::kStarting, VmState::kRunning,
                                 VmState::kPaused,   VmState::kStopping, VmState::kCrashed,
                                 VmState::kIncoming};

void port_counters(Exposition& e, const MetricsSnapshot& s) {
  struct Field {
    const char* name;
    const char* help;
    uint64_t dp::PortCounters::*member;
  };
  static constexpr Field kFields[] = {
      {"kvnet_port_rx_packets_total", "Frames received on the port (entering the switch).",
       &dp::PortCounters::rx_packets},
      {"kvnet_port_rx_bytes_total", "Bytes of the frames received on the port.", &dp::PortCounters::rx_bytes},
      {"kvnet_port_tx_packets_total", "Frames sent out of the port (leaving the switch).",
       &dp::PortCounters::tx_packets},
      {"kvnet_port_tx_bytes_total", "Bytes of the frames sent out of the port.", &dp::PortCounters::tx_bytes},
  };
  for (const auto& f : kFields) {
    e.family(f.name, MetricType::kCounter, f.help);
    for (const auto& p : s.dp.ports)
      e.sample({{"bridge", p.bridge}, {"port", p.port}, {"kind", p.kind}}, p.counters.*f.member);
  }
  // Every reason, zeros included: rate() then sees a port's first drop.
  e.family("kvnet_port_drops_total", MetricType::kCounter,
           "Frames dropped, by the port where it happened and the reason (kvnetctl trace explains each).");
  for (const auto& p : s.dp.ports)
    for (size_t r = 0; r < dp::kDropNames.size(); ++r)
      e.sample({{"bridge", p.bridge}, {"port", p.port}, {"reason", dp::kDropNames[r]}}, p.counters.drops[r]);
  const std::set<std::string> detached(s.detached.begin(), s.detached.end());
  e.family("kvnet_port_attached", MetricType::kGauge,
           "1 if the port has its device (interface, TAP, socket), 0 if it is configured but waiting for it.");
  for (const auto& p : s.dp.ports)
    e.sample({{"bridge", p.bridge}, {"port", p.port}, {"kind", p.kind}}, uint64_t{detached.count(p.port) ? 0u : 1u});
}

void bridges_and_tunnels(Exposition& e, const MetricsSnapshot& s) {
  e.family("kvnet_bridge_fdb_entries", MetricType::kGauge, "MAC table entries of the bridge (learned and static).");
  for (const auto& b : s.dp.bridges)
    if (b.fdb_entries) e.sample({{"bridge", b.name}}, uint64_t{*b.fdb_entries});
  e.family("kvnet_bridge_conntrack_entries", MetricType::kGauge,
           "Tracked connections of the bridge's firewall (bridges with security groups).");
  for (const auto& b : s.dp.bridges)
    if (b.conntrack_entries) e.sample({{"bridge", b.name}}, uint64_t{*b.conntrack_entries});
  e.family("kvnet_tunnel_remotes", MetricType::kGauge,
           "Remote VTEPs a tunnel port floods to (configured, or known from static and learned entries).");
  for (const auto& t : s.dp.tunnels) e.sample({{"bridge", t.bridge}, {"port", t.port}}, uint64_t{t.remotes});
  e.family("kvnet_tunnel_learned_macs", MetricType::kGauge, "MACs a tunnel port learned behind its remotes.");
  for (const auto& t : s.dp.tunnels) e.sample({{"bridge", t.bridge}, {"port", t.port}}, uint64_t{t.learned});
}

void vms_and_loop(Exposition& e, const MetricsSnapshot& s) {
  e.family("kvnet_vm_state", MetricType::kGauge, "1 for the state the VM is in, 0 for the others.");
  for (const auto& v : s.vms)
    for (const VmState st : kVmStates) e.sample({{"vm", v.name}, {"state", to_string(st)}}, uint64_t{v.state == st});
  e.family("kvnet_containers", MetricType::kGauge, "Containers (network namespaces) kvnetd manages.");
  e.sample({}, uint64_t{s.containers});

  const io::LoopTimes& lt = s.dp.loop;
  e.family("kvnet_datapath_loop_seconds", MetricType::kHistogram,
           "Time the datapath thread took per polling round that received frames.");
  for (size_t i = 0; i < io::LoopTimes::kBoundsNs.size(); ++i)
    e.bucket({}, format_value(static_cast<double>(io::LoopTimes::kBoundsNs[i]) / 1e9), lt.cumulative(i));
  e.bucket({}, "+Inf", lt.count);
  e.sample({}, static_cast<double>(lt.sum_ns) / 1e9, "_sum");
  e.sample({}, lt.count, "_count");
}

void cluster(Exposition& e, const MetricsSnapshot& s) {
  if (!s.cluster) return;
  const MetricsSnapshot::Cluster& c = *s.cluster;
  e.family("kvnet_cluster_store_round_trips_total", MetricType::kCounter,
           "Requests kvnetd's cluster threads made to etcd (lease, publication, reads, watch).");
  e.sample({}, c.round_trips);
  e.family("kvnet_cluster_store_errors_total", MetricType::kCounter, "Of those, the ones that failed.");
  e.sample({}, c.errors);
  e.family("kvnet_cluster_resyncs_total", MetricType::kCounter,
           "Full reads of the store (at start, and when a watch could not resume: compacted).");
  e.sample({}, c.resyncs);
  e.family("kvnet_cluster_joined", MetricType::kGauge, "1 while this host is published under a live lease.");
  e.sample({}, uint64_t{c.joined});
  e.family("kvnet_cluster_store_connected", MetricType::kGauge, "1 while the last call to etcd succeeded.");
  e.sample({}, uint64_t{c.connected});
  e.family("kvnet_cluster_revision", MetricType::kGauge,
           "The store revision the watch delivered (watched) and the one programmed here (applied).");
  e.sample({{"of", "watched"}}, static_cast<uint64_t>(std::max<int64_t>(0, c.watch_revision)));
  e.sample({{"of", "applied"}}, static_cast<uint64_t>(std::max<int64_t>(0, c.applied_revision)));
  e.family("kvnet_cluster_remote_hosts", MetricType::kGauge, "Other hosts of the cluster, by state.");
  e.sample({{"state", "up"}}, uint64_t{c.hosts_up});
  e.sample({{"state", "down"}}, uint64_t{c.hosts_down});
  e.family("kvnet_cluster_bindings", MetricType::kGauge, "Port bindings of every host, as this host knows them.");
  e.sample({}, uint64_t{c.bindings});
  e.family("kvnet_cluster_remote_stations", MetricType::kGauge,
           "MACs of other hosts programmed on vx-cluster from their bindings.");
  e.sample({}, uint64_t{c.remote_stations});
  e.family("kvnet_cluster_arp_suppression_entries", MetricType::kGauge,
           "Addresses br-int answers ARP requests and neighbour solicitations for.");
  e.sample({}, uint64_t{c.arp_entries});
  e.family("kvnet_cluster_watch_lag_seconds", MetricType::kHistogram,
           "From a change's arrival from etcd to the end of its programming here.");
  for (size_t i = 0; i < c.lag_bounds.size(); ++i) e.bucket({}, format_value(c.lag_bounds[i]), c.lag_buckets[i]);
  e.bucket({}, "+Inf", c.lag_count);
  e.sample({}, c.lag_sum, "_sum");
  e.sample({}, c.lag_count, "_count");
}

void process(Exposition& e, const MetricsSnapshot& s) {
  e.family("kvnet_up", MetricType::kGauge, "1 while kvnetd answers.");
  e.sample({}, uint64_t{1});
  e.family("kvnet_build_info", MetricType::kGauge, "kvnetd's version, as a label; the value is 1.");
  e.sample({{"version", s.version}}, uint64_t{1});
  e.family("process_cpu_seconds_total", MetricType::kCounter, "User and system CPU time kvnetd used, in seconds.");
  e.sample({}, s.process.cpu_seconds);
  e.family("process_resident_memory_bytes", MetricType::kGauge, "kvnetd's resident memory, in bytes.");
  e.sample({}, s.process.resident_bytes);
  e.family("process_open_fds", MetricType::kGauge, "File descriptors kvnetd holds open.");
  e.sample({}, s.process.open_fds);
  e.family("process_start_time_seconds", MetricType::kGauge, "When kvnetd started, in seconds since the Unix epoch.");
  e.sample({}, s.process.start_time_s);
}

}  // namespace

void fast_path(Exposition& e, const MetricsSnapshot& s) {
  e.family("kvnet_fastpath_enabled", MetricType::kGauge, "1 while the kernel fast path (eBPF) is loaded.");
  e.sample({}, uint64_t{s.fast_path.has_value()});
  if (!s.fast_path) return;
  const MetricsSnapshot::FastPath& f = *s.fast_path;
  e.family("kvnet_fastpath_entries", MetricType::kGauge, "Flow entries in the kernel's map.");
  e.sample({}, f.entries);
  e.family("kvnet_fastpath_max_entries", MetricType::kGauge, "The map's capacity.");
  e.sample({}, f.max_entries);
  e.family("kvnet_fastpath_generation", MetricType::kGauge,
           "The map's generation: every change that could alter a cached decision moves it.");
  e.sample({}, f.generation);
  e.family("kvnet_fastpath_frames_total", MetricType::kCounter,
           "Frames the programs saw on kernel ports, by what became of them: forwarded in the kernel (hit), or "
           "sent to the slow path (miss, stale: an entry of an older generation, punted: never cached, too_big: "
           "over the path's MTU), or dropped (error: a VLAN push or pop failed).");
  e.sample({{"result", "hit"}}, f.hits);
  e.sample({{"result", "miss"}}, f.misses);
  e.sample({{"result", "stale"}}, f.stale);
  e.sample({{"result", "punted"}}, f.punted);
  e.sample({{"result", "too_big"}}, f.too_big);
  e.sample({{"result", "error"}}, f.errors);
  e.family("kvnet_fastpath_installs_total", MetricType::kCounter, "Entries the slow path installed.");
  e.sample({}, f.installs);
  e.family("kvnet_fastpath_install_failures_total", MetricType::kCounter, "Installs the kernel refused.");
  e.sample({}, f.install_failures);
  e.family("kvnet_fastpath_removals_total", MetricType::kCounter,
           "Entries removed by the revalidator: evicted (the map was full), idle, outdated (older generation).");
  e.sample({{"reason", "evicted"}}, f.evictions);
  e.sample({{"reason", "idle"}}, f.idle_removals);
  e.sample({{"reason", "outdated"}}, f.stale_removals);
}

std::string render_metrics(const MetricsSnapshot& s) {
  Exposition e;
  process(e, s);
  port_counters(e, s);
  bridges_and_tunnels(e, s);
  vms_and_loop(e, s);
  cluster(e, s);
  fast_path(e, s);
  return e.text();
}

}  // namespace kvnet::daemon
