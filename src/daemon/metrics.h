// kvnetd's metrics in the Prometheus text exposition format (version 0.0.4),
// as served by `kvnetd --metrics ADDR:PORT` at /metrics
// (daemon/metrics_server.h).
//
// Two halves:
//   - MetricsSnapshot: what is measured, copied on the control loop
//     (Service::metrics_snapshot(), one datapath command) plus what the
//     process knows of itself (/proc/self, read on the caller's thread);
//   - render_metrics(): the text, built on the HTTP thread from the copy.
// The Exposition writer underneath writes a family's HELP and TYPE lines
// before its first sample (families without samples are left out), escapes
// label values and help text as the format wants (\\, \" and \n) and makes
// every label value valid UTF-8.
//
// The metrics (docs/operations.md lists them with their labels):
//   kvnet_port_{rx,tx}_{packets,bytes}_total, kvnet_port_drops_total{reason},
//   kvnet_port_attached, kvnet_bridge_fdb_entries,
//   kvnet_bridge_conntrack_entries, kvnet_tunnel_remotes,
//   kvnet_tunnel_learned_macs, kvnet_vm_state, kvnet_containers,
//   kvnet_datapath_loop_seconds (histogram), kvnet_up, kvnet_build_info,
//   process_{cpu_seconds_total,resident_memory_bytes,open_fds,start_time_seconds};
//   in a cluster: kvnet_cluster_{store_round_trips_total,store_errors_total,
//   resyncs_total,joined,store_connected,revision,remote_hosts,bindings,
//   remote_stations,arp_suppression_entries,watch_lag_seconds (histogram)}.
// Port counters are reset by `kvnetctl stats --clear`; Prometheus sees a
// counter that went down as a reset (rate() and increase() handle it).
//
// Thread-safety: pure functions on plain data, any thread.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/vm_host.h"
#include "io/dp_commands.h"

namespace kvnet::daemon {

// What the process knows of itself (Linux /proc/self).
struct ProcessStats {
  double cpu_seconds = 0;
  uint64_t resident_bytes = 0;
  uint64_t open_fds = 0;
  double start_time_s = 0;  // Unix time
};
// Reads /proc/self/stat and /proc/self/fd; what cannot be read stays 0.
ProcessStats read_process_stats();

struct MetricsSnapshot {
  io::DatapathMetrics dp;
  std::vector<std::string> detached;  // ports configured without a device (vanished, stopped VM)
  struct Vm {
    std::string name;
    VmState state;
  };
  std::vector<Vm> vms;
  size_t containers = 0;
  // The cluster (none: standalone).
  struct Cluster {
    uint64_t round_trips = 0, errors = 0, resyncs = 0;
    int64_t watch_revision = 0, applied_revision = 0;
    size_t hosts_up = 0, hosts_down = 0;  // other hosts
    size_t bindings = 0;                  // every host's, as this host knows them
    size_t remote_stations = 0;           // vx-cluster's entries from the store
    size_t arp_entries = 0;               // addresses br-int answers ARP/ND for
    bool joined = false, connected = false;
    std::array<double, 10> lag_bounds{};
    std::array<uint64_t, 10> lag_buckets{};  // cumulative
    uint64_t lag_count = 0;
    double lag_sum = 0;
  };
  std::optional<Cluster> cluster;
  // The kernel fast path (io/fastpath.h; none: off).
  struct FastPath {
    uint64_t entries = 0, max_entries = 0, generation = 0;
    uint64_t hits = 0, misses = 0, stale = 0, punted = 0, too_big = 0, errors = 0;
    uint64_t installs = 0, install_failures = 0, evictions = 0, idle_removals = 0, stale_removals = 0;
  };
  std::optional<FastPath> fast_path;
  std::string version;
  ProcessStats process;
};

std::string render_metrics(const MetricsSnapshot& s);

// --- the writer ---

enum class MetricType { kCounter, kGauge, kHistogram };

struct Label {
  std::string_view name;
  std::string_view value;
};

class Exposition {
 public:
  // Starts a family: its HELP and TYPE lines go out with its first sample.
  void family(std::string_view name, MetricType type, std::string_view help);
  // A sample of the current family: `suffix` is appended to its name
  // ("_bucket", "_sum", "_count" for histograms; "" otherwise).
  void sample(std::initializer_list<Label> labels, uint64_t value, std::string_view suffix = "");
  void sample(std::initializer_list<Label> labels, double value, std::string_view suffix = "");
  // A histogram's bucket: NAME_bucket{labels..., le="LE"} count.
  void bucket(std::initializer_list<Label> labels, std::string_view le, uint64_t count);
  const std::string& text() const { return out_; }

 private:
  void write(std::initializer_list<Label> labels, const Label* extra, std::string_view suffix, std::string_view value);
  std::string out_;
  std::string name_, header_;
  bool header_written_ = true;
};

// \ -> \\, " -> \", newline -> \n; invalid UTF-8 -> U+FFFD.
std::string escape_label_value(std::string_view v);
// \ -> \\, newline -> \n.
std::string escape_help(std::string_view v);
// [a-zA-Z_:][a-zA-Z0-9_:]* (label names: no ':').
bool valid_metric_name(std::string_view name);
bool valid_label_name(std::string_view name);
// Prometheus's float text: shortest round-trip form, +Inf, -Inf, NaN.
std::string format_value(double v);

}  // namespace kvnet::daemon
