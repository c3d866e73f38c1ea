// kvnet: the offline front door. Replays pcap traffic through a topology,
// traces one frame through it, draws it, checks topology files, and writes
// test pcaps.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>

#include "app/cli_errors.h"
#include "ctl/draw.h"
#include "ctl/flow_spec.h"
#include "ctl/render.h"
#include "ctl/replay.h"
#include "ctl/report.h"
#include "ctl/topology.h"
#include "ctl/trace_run.h"
#include "net/pcap.h"

namespace {

using namespace kvnet;

int fail(const std::string& msg) {
  std::cerr << "kvnet: " << msg << "\n";
  return 1;
}

void add_format(CLI::App* cmd, std::string& format) {
  cmd->add_option("--format", format, "output format")->check(CLI::IsMember({"human", "json"}))->default_val("human");
}

int cmd_replay(const std::string& file, const std::string& host, const std::string& format, bool show_fdb) {
  auto topo = ctl::load_topology(file, host);
  if (!topo) return fail(topo.error().message);
  ctl::Progress progress;
  if (isatty(STDERR_FILENO))
    progress = [](uint64_t done, uint64_t total) {
      std::fprintf(stderr, "\rreplaying: %llu/%llu frames", static_cast<unsigned long long>(done),
                   static_cast<unsigned long long>(total));
      if (done == total) std::fprintf(stderr, "\r\033[K");
    };
  auto r = ctl::replay(*topo, progress, show_fdb);
  if (!r) return fail(r.error().message);
  if (format == "json") std::cout << ctl::render_replay_json(*r).dump(2) << "\n";
  else std::cout << ctl::render_replay_text(*r, show_fdb);
  return 0;
}

// Writes the picture to `out`, whose extension picks the format.
Status write_picture(const std::string& dot, const std::string& out) {
  auto f = ctl::image_format_of(out);
  if (!f) return f.error();
  auto bytes = ctl::render(dot, *f);
  if (!bytes) return bytes.error();
  std::ofstream o(out, std::ios::binary);
  o << *bytes;
  o.close();
  if (!o) return Error{out + ": cannot write: " + std::strerror(errno)};
  return Ok{};
}

// A picture's file name whose extension names no format: bad usage (2).
int usage(const std::string& msg) {
  std::cerr << "kvnet: " << msg << "\n";
  return 2;
}

int cmd_draw(const std::string& file, const std::string& host, const std::string& out, const std::string& format) {
  if (!out.empty())
    if (auto f = ctl::image_format_of(out); !f) return usage(f.error().message);
  auto topo = ctl::load_topology(file, host);
  if (!topo) return fail(topo.error().message);
  const std::string dot = ctl::to_dot(*topo, {.title = file + (host.empty() ? "" : " (host " + host + ")")});
  if (out.empty()) {
    if (format == "json") std::cout << nlohmann::json{{"format", "dot"}, {"data", dot}}.dump(2) << "\n";
    else std::cout << dot;
    return 0;
  }
  if (auto s = write_picture(dot, out); !s) return fail(s.error().message);
  if (format == "json")
    std::cout << nlohmann::json{{"format", std::string(ctl::to_string(*ctl::image_format_of(out)))}, {"file", out}}.dump(2)
              << "\n";
  return 0;
}

int cmd_trace(const std::string& file, const std::string& host, const ctl::TraceRequest& req,
              const std::string& format, const std::string& draw) {
  if (!draw.empty())
    if (auto f = ctl::image_format_of(draw); !f) return usage("--draw: " + f.error().message);
  auto topo = ctl::load_topology(file, host);
  if (!topo) return fail(topo.error().message);
  auto r = ctl::run_trace(*topo, req);
  if (!r) return fail(r.error().message);
  if (format == "json") {
    auto j = ctl::render_trace_json(*r);
    if (!draw.empty()) j["drawing"] = draw;
    std::cout << j.dump(2) << "\n";
  } else {
    std::cout << ctl::render_trace_text(*r);
  }
  if (!draw.empty()) {
    const std::string dot =
        ctl::to_dot(*topo, {.trace = &r->trace, .title = "trace from " + r->in_port + ": " + r->flow});
    if (auto s = write_picture(dot, draw); !s) return fail("--draw: " + s.error().message);
  }
  return 0;
}

int cmd_validate(const std::string& file, const std::string& host, const std::string& format) {
  auto topo = ctl::load_topology(file, host);
  if (!topo) return fail(topo.error().message);
  size_t ports = 0;
  for (const auto& b : topo->bridges) ports += b.ports.size();
  if (format == "json") {
    std::cout << nlohmann::json{{"file", file},           {"valid", true},
                                {"bridges", topo->bridges.size()}, {"ports", ports},
                                {"containers", topo->containers.size()}, {"vms", topo->vms.size()}}
                     .dump(2)
              << "\n";
  } else {
    std::string extra;
    if (!topo->containers.empty()) extra += fmt::format(", {} container(s)", topo->containers.size());
    if (!topo->vms.empty()) extra += fmt::format(", {} vm(s)", topo->vms.size());
    std::cout << fmt::format("{}: valid ({} bridge(s), {} port(s){})\n", file, topo->bridges.size(), ports, extra);
  }
  return 0;
}

int cmd_pcap_gen(const std::string& out, const std::vector<std::string>& flows, int count, double start,
                 double interval_ms, bool nsec) {
  std::vector<std::vector<uint8_t>> frames;
  for (const auto& f : flows) {
    auto b = ctl::build_frame_from_flow(f);
    if (!b) return fail(b.error().message);
    frames.push_back(std::move(*b));
  }
  net::PcapWriter w;
  if (auto s = w.open(out, nsec); !s) return fail(s.error().message);
  auto ts = static_cast<uint64_t>(start * 1e9);
  const auto step = static_cast<uint64_t>(interval_ms * 1e6);
  for (int i = 0; i < count; ++i)
    for (const auto& fr : frames) {
      w.write(ts, fr.data(), static_cast<uint32_t>(fr.size()));
      ts += step;
    }
  if (auto s = w.close(); !s) return fail(s.error().message);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"kvnet: software-defined L2 networking for VMs and containers (offline tools)", "kvnet"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "kvnet 0.1.0");

  std::string file, host, format, in_port, flow, out, draw_to;
  bool show_fdb = false, warm = false, nsec = false;
  auto* replay = app.add_subcommand("replay", "run every port's rx pcap through the topology; write tx pcaps");
  replay->add_option("topology", file, "topology YAML file")->required();
  replay->add_option("--host", host, "a file with a 'hosts:' section: the host to use");
  replay->add_flag("--fdb", show_fdb, "also print the FDB after the replay");
  add_format(replay, format);

  auto* trace = app.add_subcommand("trace", "show every step one frame takes through the topology");
  trace->add_option("topology", file, "topology YAML file")->required();
  trace->add_option("--host", host, "a file with a 'hosts:' section: the host to use");
  trace->add_option("--in-port", in_port, "ingress port, BRIDGE/PORT")->required();
  trace->add_option("flow", flow, "frame fields, OVS ofproto/trace syntax: 'dl_src=..,dl_dst=..,dl_vlan=10,arp'")
      ->required();
  trace->add_flag("--warm", warm, "replay the topology's rx pcaps first so the FDB has learned their MACs");
  trace->add_option("--draw", draw_to, "also draw the topology with the frame's path: FILE.svg|.png|.dot");
  add_format(trace, format);

  auto* draw = app.add_subcommand("draw", "draw the topology with Graphviz (DOT to stdout, or -o FILE.svg|.png|.dot)");
  draw->add_option("topology", file, "topology YAML file")->required();
  draw->add_option("--host", host, "a file with a 'hosts:' section: the host to draw");
  draw->add_option("-o,--output", out, "write the picture here; its extension picks the format (svg, png, dot)");
  add_format(draw, format);

  auto* validate = app.add_subcommand("validate", "check a topology file without moving any frame");
  validate->add_option("topology", file, "topology YAML file")->required();
  validate->add_option("--host", host, "a file with a 'hosts:' section: the host to use");
  add_format(validate, format);

  std::vector<std::string> flows;
  int count = 1;
  double start = 0, interval = 1;
  auto* gen = app.add_subcommand("pcap-gen", "write frames described in OVS flow syntax to a pcap file");
  gen->add_option("output", out, "pcap file to write")->required();
  gen->add_option("flows", flows, "one or more flows ('dl_src=..,dl_dst=..,udp,tp_dst=53')")->required();
  gen->add_option("--count", count, "repeat the list this many times")->check(CLI::Range(1, 10000000));
  gen->add_option("--start", start, "timestamp of the first frame, seconds")->check(CLI::NonNegativeNumber);
  gen->add_option("--interval-ms", interval, "time between frames, ms")->check(CLI::NonNegativeNumber);
  gen->add_flag("--nanosecond", nsec, "write a nanosecond-resolution pcap");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return kvnet::app::report_cli_error(app, e);
  }
  if (*replay) return cmd_replay(file, host, format, show_fdb);
  if (*trace) return cmd_trace(file, host, ctl::TraceRequest{in_port, flow, warm}, format, draw_to);
  if (*draw) return cmd_draw(file, host, out, format);
  if (*validate) return cmd_validate(file, host, format);
  if (*gen) return cmd_pcap_gen(out, flows, count, start, interval, nsec);
  return 2;
}
