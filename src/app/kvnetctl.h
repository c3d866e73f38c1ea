// kvnetctl's verb table and what its verbs share (kvnetctl_main.cc holds
// the switch verbs and main(), kvnetctl_ct.cc the `ct` group, kvnetctl_vm.cc the `vm` group,
// kvnetctl_draw.cc `draw` and trace's --draw).
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

namespace kvnet::cli {

using json = nlohmann::json;

struct Failure {
  std::string msg;
  int code;  // 1: the command failed, 2: bad usage
};

// Every argument any verb takes; a verb declares the ones it uses.
struct Args {
  std::string socket = "/run/kvnet/kvnetd.sock";
  std::string format = "human";
  std::string name, bridge, port, file, mac, ip, gw, table;
  std::vector<std::string> kvs, cmd, del_args;
  std::string host;
  int vlan = 0;
  bool may_exist = false, if_exists = false, dry_run = false, with_containers = false;
  std::string key;  // get
  std::string flow;     // add-flow, mod-flows, del-flows, dump-flows
  bool strict = false;  // mod-flows, del-flows
  // vm verbs
  std::string mem, accel, machine, kernel, initrd, cmdline, disk, exec;
  std::string image, disk_size, user_data_file;  // vm add --image ...
  std::vector<std::string> ssh_key_files;
  bool keep_disk = false;
  std::string migrate_to;      // vm migrate --to
  int64_t max_downtime_ms = 0, bandwidth_mbps = 0;
  bool cancel = false;
  bool exec_stdin = false;     // vm exec -i
  std::string description;  // sg
  std::string draw_to;      // trace --draw FILE
  // gw
  std::string dhcp;
  std::vector<std::string> forwards;
  int gw_vlan = -1;  // -1: not given
  bool masquerade = false;
  std::vector<std::string> nics, sgs;
  int vcpus = 0;
  double timeout = -1;  // seconds; < 0: the verb's default
  double api_timeout = -1;  // --timeout before the verb: how long to wait for kvnetd's answer
  bool autostart = false, start = false, wait = false, no_wait = false, log = false, force = false;
  // stats
  bool watch = false, clear = false;
  double interval = 1.0;
  int count = 0;
  // mirror
  std::vector<std::string> src_ports, dst_ports, mirror_vlans;
  std::string output_port;
  int output_vlan = 0;
  bool select_all = false;
  bool whole_cluster = false;  // draw --cluster
  // capture
  std::string direction = "both", filter, write;
  uint64_t packets = 0;  // --count
  uint32_t snaplen = 0;  // 0: kvnetd's default
  // network
  int64_t vni = 0;
  std::string subnet, network;
  int mtu = 0;  // 0: the network's default
};

struct Verb {
  const char* group;  // "" or the parent verb ("ct")
  const char* name;
  const char* help;
  void (*declare)(CLI::App& cmd, Args& a);
  json (*request)(const Args& a);                    // may throw Failure (usage: code 2)
  void (*human)(const json& result, const Args& a);  // null: nothing to show
  void (*json_view)(json& result) = nullptr;         // trims the JSON output
  void (*run)(const Args& a) = nullptr;              // instead of request/human
};

// --- helpers ---

// A repeatable option that takes exactly one word per use ("--sg a --sg b",
// "--sg=a"; with `comma` also "--sg a,b"). CLI11's vector options otherwise
// take every following word, so "ct add C --sg web pvid=101" would read the
// port option pvid=101 as a second group.
inline CLI::Option* one_per_use(CLI::Option* o, bool comma) {
  o->expected(1)->allow_extra_args(false)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  if (comma) o->delimiter(',');
  return o;
}

// key=value words into an options object; a word without '=' is a usage error.
json options(const std::vector<std::string>& kvs, const char* verb);
// One request to kvnetd; its error becomes a Failure (code 1).
json call(const Args& a, const json& req);
std::string str(const json& j, const char* key);

// `stats` (kvnetctl_stats.cc): counters, rates (--watch), --clear.
void declare_stats(CLI::App& cmd, Args& a);
void run_stats(const Args& a);

// The `ct`, `vm`, `sg`, `gw` and `mirror` groups' verbs, and `draw`.
std::span<const Verb> ct_verbs();
std::span<const Verb> vm_verbs();
std::span<const Verb> sg_verbs();
std::span<const Verb> gw_verbs();
std::span<const Verb> mirror_verbs();
std::span<const Verb> draw_verbs();
// `trace ... --draw FILE`: one `draw` request with the trace's arguments;
// prints the trace as `trace` does and writes the picture of its path.
void draw_trace(const Args& a, const json& trace_request);
std::span<const Verb> capture_verbs();
std::span<const Verb> cluster_verbs();  // kvnetctl_cluster.cc
std::span<const Verb> network_verbs();  // kvnetctl_cluster.cc
std::span<const Verb> image_verbs();    // kvnetctl_image.cc
std::span<const Verb> fastpath_verbs(); // kvnetctl_fastpath.cc

}  // namespace kvnet::cli
