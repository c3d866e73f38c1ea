// kvnetctl's `vm` group: define, start, stop and watch QEMU guests, and
// reach their serial consoles.
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "app/kvnetctl.h"
#include "base/text.h"
#include "ctl/render.h"
#include "vm/cloudinit.h"
#include "vm/console.h"

namespace kvnet::cli {
namespace {

using Clock = std::chrono::steady_clock;

std::string absolute(const std::string& p) {
  return p.empty() ? p : std::filesystem::absolute(p).lexically_normal().string();
}

std::string duration(double s) {
  if (s <= 0) return "-";
  const auto t = static_cast<uint64_t>(s);
  if (t < 60) return fmt::format("{:.1f}s", s);
  if (t < 3600) return fmt::format("{}m{:02}s", t / 60, t % 60);
  if (t < 86400) return fmt::format("{}h{:02}m", t / 3600, t / 60 % 60);
  return fmt::format("{}d{:02}h", t / 86400, t / 3600 % 24);
}

// How it ended last, with QEMU's error line if it left one.
std::string exit_text(const json& v) {
  std::string why = str(v, "last_exit");
  if (v.contains("error") && !str(v, "error").empty()) why += (why.empty() ? "" : ": ") + str(v, "error");
  return why;
}

std::string state_text(const json& v) {
  std::string s = str(v, "state");
  if ((s == "stopped" || s == "crashed") && !exit_text(v).empty()) s += " (" + exit_text(v) + ")";
  return s;
}

bool restart_pending(const json& v) { return v.value("restart_pending", false) && v.contains("running"); }

// "memory 256M -> 512M, vcpus 1 -> 2": what runs -> what is configured.
std::string pending_text(const json& v) {
  const json& r = v["running"];
  std::string t;
  auto add = [&](const std::string& key, const std::string& now, const std::string& next) {
    if (now != next) t += (t.empty() ? "" : ", ") + key + " " + now + " -> " + next;
  };
  add("memory", str(r, "memory"), str(v, "memory"));
  add("vcpus", std::to_string(r["vcpus"].get<int>()), std::to_string(v["vcpus"].get<int>()));
  add("machine", str(r, "machine"), str(v, "machine"));
  return t;
}

void print_vm_list(const json& r, const Args&) {
  std::cout << fmt::format("{:<12} {:<10} {:<5} {:>8} {:>6} {:>7} {:>5}  {}\n", "NAME", "STATE", "ACCEL", "UPTIME",
                           "MEMORY", "RSS", "VCPUS", "NICS");
  for (const auto& v : r) {
    std::string nics;
    for (const auto& n : v["nics"]) {
      nics += (nics.empty() ? "" : " ") + str(n, "port") + "@" + str(n, "bridge");
      if (!str(n, "ip").empty()) nics += "(" + str(n, "ip") + ")";
    }
    std::string state = str(v, "state");
    if (state == "running" && v["ready"].get<bool>()) state = "running";
    const double rss = v["rss_mb"].get<double>();
    // A running VM's MEMORY and VCPUS are what QEMU runs with.
    const json& shape = v.contains("running") ? v["running"] : v;
    std::cout << fmt::format("{:<12} {:<10} {:<5} {:>8} {:>6} {:>7} {:>5}  {}\n", str(v, "name"), state,
                             str(v, "accel"), duration(v["uptime_s"].get<double>()), str(shape, "memory"),
                             rss > 0 ? fmt::format("{:.0f}M", rss) : "-", shape["vcpus"].get<int>(),
                             nics.empty() ? "-" : nics);
    if (restart_pending(v))
      std::cout << fmt::format("{:<12} restart pending: {} (configured; takes effect at the next start)\n", "",
                               pending_text(v));
    if ((state == "stopped" || state == "crashed") && !str(v, "last_exit").empty())
      std::cout << fmt::format("{:<12} last exit: {}\n", "", exit_text(v));
  }
}

std::string mib(uint64_t b) { return fmt::format("{:.1f} MiB", static_cast<double>(b) / (1 << 20)); }

// A migration's progress on one line (vm show's "migration").
std::string migration_line(const json& m) {
  // Every key is optional here (a migration that ended says less).
  const auto str = [](const json& j, const char* k) {
    return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : std::string();
  };
  const std::string phase = str(m, "phase");
  std::string t = fmt::format("{} {} {}", str(m, "direction") == "in" ? "from" : "to",
                              str(m, str(m, "direction") == "in" ? "from" : "to"), phase.empty() ? str(m, "state") : phase);
  if (m.value("disk_total", uint64_t{0}))
    t += fmt::format(", disk {}/{}", mib(m.value("disk_done", uint64_t{0})), mib(m.value("disk_total", uint64_t{0})));
  if (m.value("ram_total", uint64_t{0}))
    t += fmt::format(", memory {} sent, {} left, dirtied {}/s, {:.0f} Mbit/s", mib(m.value("ram_transferred", uint64_t{0})),
                     mib(m.value("ram_remaining", uint64_t{0})), mib(m.value("dirty_rate", uint64_t{0})),
                     m.value("mbps", 0.0));
  if (m.value("expected_downtime_ms", int64_t{-1}) >= 0 && phase == "memory")
    t += fmt::format(", expected downtime {} ms", m.value("expected_downtime_ms", int64_t{0}));
  if (m.contains("total_s")) t += fmt::format(", took {:.2f} s", m.value("total_s", 0.0));
  if (m.value("qemu_downtime_ms", int64_t{-1}) >= 0) t += fmt::format(", downtime {} ms (QEMU)", m.value("qemu_downtime_ms", int64_t{0}));
  if (m.value("measured_downtime_ms", int64_t{-1}) >= 0)
    t += fmt::format(", {} ms stop to resume", m.value("measured_downtime_ms", int64_t{0}));
  for (const char* k : {"error", "record_error"})
    if (!str(m, k).empty()) t += ": " + str(m, k);
  return t;
}

void print_vm_show(const json& v, const Args&) {
  std::cout << fmt::format("vm {}\n", str(v, "name"));
  std::cout << fmt::format("  state:     {}\n", state_text(v));
  if (v["pid"].get<int>()) std::cout << fmt::format("  pid:       {}  uptime {}\n", v["pid"].get<int>(), duration(v["uptime_s"].get<double>()));
  if (v["ready"].get<bool>() && v["boot_s"].get<double>() >= 0)
    std::cout << fmt::format("  booted:    ready marker after {:.2f} s\n", v["boot_s"].get<double>());
  std::cout << fmt::format("  accel:     {} (setting {}; KVM {})\n", str(v, "accel"), str(v, "accel_setting"),
                           v.contains("kvm") ? str(v, "kvm") : "?");
  const json& shape = v.contains("running") ? v["running"] : v;
  std::cout << fmt::format("  machine:   {}  memory {}  vcpus {}", str(shape, "machine"), str(shape, "memory"),
                           shape["vcpus"].get<int>());
  if (v["rss_mb"].get<double>() > 0) std::cout << fmt::format("  rss {:.0f}M", v["rss_mb"].get<double>());
  if (restart_pending(v))
    std::cout << fmt::format("\n  restart pending: {} (configured; takes effect at the next start)", pending_text(v));
  std::cout << "\n  boot:      " << str(v, "boot") << (v["autostart"].get<bool>() ? "  (autostart)" : "") << "\n";
  if (v.contains("image"))
    std::cout << fmt::format("  disk:      {} (overlay of image {}, size {})\n", str(v, "disk"), str(v, "image"),
                             str(v, "disk_size"));
  if (v.value("ssh_keys", 0) || v.value("user_data_bytes", 0))
    std::cout << fmt::format("  cloud-init: {} ssh key(s), user-data {} bytes\n", v.value("ssh_keys", 0),
                             v.value("user_data_bytes", 0));
  if (v.contains("migration")) std::cout << "  migration: " << migration_line(v["migration"]) << "\n";
  for (const auto& n : v["nics"]) {
    std::cout << fmt::format("  nic {}:     port {} on {}  mac {}", n["index"].get<int>(), str(n, "port"), str(n, "bridge"),
                             str(n, "mac"));
    if (!str(n, "ip").empty()) std::cout << "  ip " << str(n, "ip");
    if (!str(n, "gw").empty()) std::cout << "  gw " << str(n, "gw");
    if (n["qbr"].get<bool>()) std::cout << "  (qbr)";
    if (!str(n, "network").empty()) std::cout << "  network " << str(n, "network");
    std::cout << (n["attached"].get<bool>() ? "" : "  [not attached]") << "\n";
  }
  if (v.contains("guest")) {  // the guest's own view of its NICs (its agent), loopback left out
    const json& g = v["guest"];
    std::string age;
    if (g.contains("age_s")) age = fmt::format("  [{:.0f} s ago]", g["age_s"].get<double>());
    std::string lead = "  guest agent: ";
    for (const auto& i : g.value("interfaces", json::array())) {
      if (str(i, "name") == "lo") continue;
      std::string addrs;
      for (const auto& a : i["addresses"]) addrs += " " + a.get<std::string>();
      std::cout << lead << str(i, "name") << (i.contains("nic") ? fmt::format(" (nic {})", i["nic"].get<int>()) : "")
                << " " << str(i, "mac") << (addrs.empty() ? " no address" : addrs) << age << "\n";
      lead = "               ";
      age.clear();
    }
    if (!g.value("agent", false)) std::cout << lead << "not answering: " << str(g, "error") << "\n";
  }
  if (v.contains("console_socket")) {
    std::cout << "  console:   " << str(v, "console_socket") << "  log " << str(v, "console_log") << "\n";
    std::cout << "  qmp:       " << str(v, "qmp_socket") << "  QEMU's output " << str(v, "qemu_log") << "\n";
    std::cout << "  agent:     " << str(v, "agent_socket") << "\n";
  }
  if (!str(v, "error").empty()) std::cout << "  error:     " << str(v, "error") << "\n";
  if (v.contains("command") && !v["command"].empty()) {
    std::string cmd;
    for (const auto& w : v["command"]) cmd += (cmd.empty() ? "" : " ") + w.get<std::string>();
    std::cout << "  command:   " << cmd << "\n";
  }
}

json show(const Args& a) { return call(a, {{"cmd", "vm-show"}, {"name", a.name}}); }

// Polls `vm show` until `done` says so; fails past `timeout_s`.
json wait_for(const Args& a, double timeout_s, const std::function<bool(const json&)>& done, const std::string& what) {
  const auto deadline = Clock::now() + std::chrono::duration<double>(timeout_s);
  for (;;) {
    json v = show(a);
    if (done(v)) return v;
    if (Clock::now() > deadline) throw Failure{fmt::format("vm '{}' did not {} within {:.0f} s", a.name, what, timeout_s), 1};
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

// A VM that ended while starting: QEMU's own error line if it left one
// (`vm show`), else where to look.
std::string failed_text(const Args& a, const json& v, const std::string& when) {
  std::string t = "vm '" + a.name + "' " + state_text(v) + " " + when;
  if (str(v, "error").empty()) t += " (see: kvnetctl vm console " + a.name + " --log)";
  return t;
}

// After a start, until QEMU answers on QMP (or ends): a QEMU that cannot
// start (a locked disk, a bad option) fails the start, with its error.
json wait_started(const Args& a) {
  const auto deadline = Clock::now() + std::chrono::seconds(15);  // kvnetd's own QMP timeout
  for (;;) {
    json v = show(a);
    const std::string s = str(v, "state");
    if (s == "stopped" || s == "crashed") throw Failure{failed_text(a, v, "at its start"), 1};
    if (s != "starting" || Clock::now() > deadline) return v;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

// After a start: the ready marker (kvnet's guest image), or QMP's running.
void wait_booted(const Args& a) {
  const double timeout = a.timeout >= 0 ? a.timeout : 180;
  if (a.format == "human") std::cerr << "waiting for " << a.name << " to boot..." << std::flush;
  const auto t0 = Clock::now();
  json v = wait_for(a, timeout, [&](const json& x) {
    const std::string s = str(x, "state");
    if (s == "stopped" || s == "crashed") throw Failure{failed_text(a, x, "while booting"), 1};
    return x.value("ready_marker", str(x, "boot") == "guest image") ? x["ready"].get<bool>() : s == "running";
  }, "boot");
  if (a.format == "human") std::cerr << fmt::format(" ready after {:.1f} s\n", std::chrono::duration<double>(Clock::now() - t0).count());
  else std::cout << v.dump(2) << "\n";
}

// A file the user names whose content goes to kvnetd: at most `max` bytes.
std::string read_small_file(const std::string& path, const std::string& option, size_t max) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Failure{option + " '" + path + "': cannot be read", 2};
  std::string text(max + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > max) throw Failure{option + " '" + path + "': larger than " + std::to_string(max) + " bytes", 2};
  return text;
}

void vm_add(const Args& a) {
  json req{{"cmd", "vm-add"}, {"name", a.name}, {"nics", a.nics}, {"autostart", a.autostart}};
  if (!a.mem.empty()) req["memory"] = a.mem;
  if (a.vcpus) req["vcpus"] = a.vcpus;
  if (!a.accel.empty()) req["accel"] = a.accel;
  if (!a.machine.empty()) req["machine"] = a.machine;
  if (!a.kernel.empty()) req["kernel"] = absolute(a.kernel);
  if (!a.initrd.empty()) req["initrd"] = absolute(a.initrd);
  if (!a.cmdline.empty()) req["cmdline"] = a.cmdline;
  if (!a.disk.empty()) req["disk"] = absolute(a.disk);
  if (!a.image.empty()) req["image"] = a.image;
  if (!a.disk_size.empty()) req["disk_size"] = a.disk_size;
  // Keys and user-data travel by content: kvnetd keeps them with the VM
  // (its seed is written again at each start, also on another host).
  json keys = json::array();
  for (const auto& f : a.ssh_key_files) {
    auto text = read_small_file(f, "--ssh-key", 1 << 20);
    auto parsed = vm::parse_ssh_public_keys(text);
    if (!parsed) throw Failure{"--ssh-key '" + f + "': " + parsed.error().message, 2};
    for (auto& k : *parsed) keys.push_back(k);
  }
  if (!keys.empty()) req["ssh_keys"] = keys;
  if (!a.user_data_file.empty()) {
    auto text = read_small_file(a.user_data_file, "--user-data", vm::kMaxUserData);
    if (auto s = vm::check_user_data(text); !s) throw Failure{"--user-data '" + a.user_data_file + "': " + s.error().message, 2};
    req["user_data"] = text;
  }
  json r = call(a, req);
  if (a.format == "json" && !a.start) std::cout << r.dump(2) << "\n";
  if (a.format == "human") {
    for (const auto& n : r["vm"]["nics"])
      std::cout << fmt::format("vm {}: nic {} is port {} on bridge {} (mac {}{}{})\n", a.name, n["index"].get<int>(),
                               str(n, "port"), str(n, "bridge"), str(n, "mac"),
                               str(n, "network").empty() ? "" : ", network " + str(n, "network"),
                               str(n, "ip").empty() ? "" : ", ip " + str(n, "ip"));
    if (r["vm"]["nics"].empty()) std::cout << fmt::format("vm {} defined (no NICs)\n", a.name);
  }
  if (!a.start) return;
  call(a, {{"cmd", "vm-start"}, {"name", a.name}});
  json v = wait_started(a);
  if (a.wait) wait_booted(a);
  else if (a.format == "json") std::cout << v.dump(2) << "\n";
}

void vm_start(const Args& a) {
  json r = call(a, {{"cmd", "vm-start"}, {"name", a.name}});
  r = wait_started(a);
  if (a.wait) return wait_booted(a);
  if (a.format == "json") std::cout << r.dump(2) << "\n";
  else std::cout << fmt::format("vm {}: started (pid {}, accel {})\n", a.name, r["pid"].get<int>(), str(r, "accel"));
}

void stop_like(const Args& a, const char* cmd) {
  json req{{"cmd", cmd}, {"name", a.name}};
  const double timeout = a.timeout >= 0 ? a.timeout : 30;
  if (std::string(cmd) != "vm-kill") req["timeout_ms"] = static_cast<int64_t>(timeout * 1000);
  call(a, req);
  if (a.no_wait) return;
  const bool restart = std::string(cmd) == "vm-restart";
  if (a.format == "human") std::cerr << (restart ? "restarting " : "stopping ") << a.name << "..." << std::flush;
  const auto t0 = Clock::now();
  json v;
  if (restart) {
    // Down first (the pid changes), then up again.
    const int old_pid = show(a)["pid"].get<int>();
    v = wait_for(a, timeout + 10, [&](const json& x) { return x["pid"].get<int>() != old_pid; }, "restart");
    if (a.wait) {
      if (a.format == "human") std::cerr << "\n";
      return wait_booted(a);
    }
  } else {
    v = wait_for(a, timeout + 10, [](const json& x) {
      const std::string s = str(x, "state");
      return s == "stopped" || s == "crashed";
    }, "stop");
  }
  if (a.format == "human")
    std::cerr << fmt::format(" {} after {:.1f} s\n", state_text(v), std::chrono::duration<double>(Clock::now() - t0).count());
  else
    std::cout << v.dump(2) << "\n";
}

void vm_console(const Args& a) {
  json r = call(a, {{"cmd", "vm-console"}, {"name", a.name}, {"log", a.log}});
  if (a.log) {
    std::cout << str(r, "log");
    return;
  }
  auto fd = vm::console_connect(str(r, "socket"));
  if (!fd) throw Failure{fd.error().message, 1};
  if (!a.exec.empty()) {
    const double timeout = a.timeout >= 0 ? a.timeout : 60;
    auto res = vm::console_exec(*fd, a.exec, static_cast<int>(timeout * 1000));
    ::close(*fd);
    if (!res) throw Failure{"vm '" + a.name + "': " + res.error().message, 1};
    if (a.format == "json") std::cout << json{{"output", res->output}, {"status", res->status}}.dump(2) << "\n";
    else std::cout << res->output << std::flush;
    if (res->status != 0) throw Failure{"", res->status > 0 && res->status < 256 ? res->status : 1};
    return;
  }
  if (isatty(0)) std::cerr << "Connected to " << a.name << "'s serial console; Ctrl-] detaches.\r\n";
  auto s = vm::console_attach(*fd);
  ::close(*fd);
  if (isatty(0)) std::cerr << "\r\nDetached from " << a.name << "'s console.\n";
  if (!s) throw Failure{s.error().message, 1};
}

// vm exec: kvnetd runs the command through the guest agent (guest-exec) and
// follows it; this polls kvnetd until it has exited, then writes its output
// and exits with its status (128+N for signal N), as ssh does.
void vm_exec(const Args& a) {
  constexpr size_t kMaxInput = 2u << 20;  // base64 of it stays under kvnetd's request limit
  std::string input;
  if (a.exec_stdin) {
    char buf[65536];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, stdin)) > 0) {
      input.append(buf, n);
      if (input.size() > kMaxInput) throw Failure{"vm exec -i: more than 2 MiB on standard input", 2};
    }
  }
  const double timeout = a.timeout >= 0 ? a.timeout : 300;
  if (timeout <= 0) throw Failure{"vm exec: --timeout must be more than 0", 2};
  json r = call(a, {{"cmd", "vm-exec"},
                    {"name", a.name},
                    {"command", a.cmd},
                    {"input_b64", ctl::base64_encode(input)},
                    {"timeout_ms", static_cast<int64_t>(timeout * 1000)}});
  const int64_t id = r.value("id", int64_t{0});
  // kvnetd gives up at the deadline; the margin covers its last status ask.
  const auto until = Clock::now() + std::chrono::duration<double>(timeout + 15);
  auto pause = std::chrono::milliseconds(20);
  json s;
  for (;;) {
    s = call(a, {{"cmd", "vm-exec-status"}, {"name", a.name}, {"id", id}});
    const std::string st = str(s, "state");
    if (st == "exited" || st == "failed") break;
    if (Clock::now() > until) throw Failure{"vm '" + a.name + "': no result from kvnetd in time", 1};
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(200));
  }
  if (str(s, "state") == "failed") {
    std::string why = str(s, "error");
    if (why.find("did not answer") != std::string::npos)
      why += "; a guest without an agent: kvnetctl vm console " + a.name + " --exec 'CMD'";
    throw Failure{"vm '" + a.name + "': " + why, 1};
  }
  auto out = ctl::base64_decode(str(s, "stdout_b64"));
  auto err = ctl::base64_decode(str(s, "stderr_b64"));
  if (!out || !err) throw Failure{"vm '" + a.name + "': kvnetd sent output that is not base64", 1};
  int code = 0;
  if (s.contains("exitcode") && s["exitcode"].is_number_integer()) code = s["exitcode"].get<int>();
  else if (s.contains("signal") && s["signal"].is_number_integer()) code = 128 + s["signal"].get<int>();
  if (a.format == "json") {
    std::cout << json{{"exitcode", s["exitcode"]},
                      {"signal", s["signal"]},
                      {"stdout", valid_utf8(*out)},
                      {"stderr", valid_utf8(*err)},
                      {"stdout_truncated", s.value("stdout_truncated", false)},
                      {"stderr_truncated", s.value("stderr_truncated", false)}}
                     .dump(2)
              << "\n";
  } else {
    std::cout << *out << std::flush;
    std::cerr << *err << std::flush;
    if (s.value("stdout_truncated", false) || s.value("stderr_truncated", false))
      std::cerr << "kvnetctl: the guest agent kept only the first 16 MiB of the output\n";
  }
  if (code != 0) throw Failure{"", code > 0 && code < 256 ? code : 1};
}

// vm migrate: asks the source's kvnetd; with --wait follows `vm show` on it
// until the migration has ended (done: exit 0; failed/cancelled: 1).
void vm_migrate(const Args& a) {
  json req{{"cmd", "vm-migrate"}, {"name", a.name}, {"cancel", a.cancel}};
  if (!a.cancel) {
    if (a.migrate_to.empty()) throw Failure{"vm migrate: give --to HOST (or --cancel)", 2};
    req["to"] = a.migrate_to;
    if (a.max_downtime_ms) req["max_downtime_ms"] = a.max_downtime_ms;
    if (a.bandwidth_mbps) req["bandwidth_mbps"] = a.bandwidth_mbps;
  }
  json r = call(a, req);
  if (a.cancel || !a.wait) {
    if (a.format == "json") std::cout << r.dump(2) << "\n";
    else if (a.cancel) std::cout << fmt::format("vm {}: migration cancelled (it runs here still)\n", a.name);
    else std::cout << fmt::format("vm {}: migrating to {} (vm show {} follows it)\n", a.name, a.migrate_to, a.name);
    return;
  }
  const bool tty = a.format == "human" && ::isatty(2);
  const double timeout = a.timeout >= 0 ? a.timeout : 600;
  const auto deadline = Clock::now() + std::chrono::duration<double>(timeout);
  json m;
  std::string last;
  for (;;) {
    m = call(a, {{"cmd", "vm-migration"}, {"name", a.name}});
    if (m.value("ended", false)) break;
    if (a.format == "human") {
      const uint64_t total = m.value("ram_total", uint64_t{0}), sent = m.value("ram_transferred", uint64_t{0});
      const double pct = total ? std::min(100.0, 100.0 * static_cast<double>(sent) / static_cast<double>(total)) : 0;
      const std::string line = migration_line(m);
      if (tty) {
        const int width = 20, filled = static_cast<int>(pct / 100 * width);
        std::cerr << fmt::format("\r\033[K[{}{}] {}", std::string(static_cast<size_t>(filled), '#'),
                                 std::string(static_cast<size_t>(width - filled), '.'), line.substr(0, 110))
                  << std::flush;
      } else if (m.value("phase", std::string()) != last) {
        std::cerr << "migrating " << a.name << ": " << line << "\n";
      }
      last = m.value("phase", std::string());
    }
    if (Clock::now() > deadline) throw Failure{fmt::format("vm '{}': the migration did not end within {:.0f} s", a.name, timeout), 1};
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  if (tty) std::cerr << "\n";
  if (a.format == "json") std::cout << m.dump(2) << "\n";
  else std::cout << "vm " << a.name << ": migration " << migration_line(m) << "\n";
  if (m.value("state", std::string()) != "done") throw Failure{"", 1};
}

void name_arg(CLI::App& c, Args& a) { c.add_option("name", a.name, "VM name")->required(); }

const Verb kVmVerbs[] = {
    {"vm", "add",
     "vm add NAME [--mem 256M] [--vcpus 1] [--kernel K --initrd I --cmdline C | --disk FILE | --image NAME "
     "[--disk-size 8G]] [--ssh-key FILE] [--user-data FILE] --nic bridge=BR[,port=P]"
     "[,mac=M][,ip=CIDR][,gw=IP][,vlan_mode=..,pvid=..][,qbr=yes] | --nic network=NET[,ip=A/LEN] ...: define a VM",
     [](CLI::App& c, Args& a) {
       name_arg(c, a);
       c.add_option("--mem", a.mem, "memory: 256M, 1G ... (default 256M; 64M-1T)");
       c.add_option("--vcpus", a.vcpus, "virtual CPUs (default 1)")->check(CLI::Range(1, 255));
       c.add_option("--accel", a.accel, "auto (KVM where the host has it, else TCG), kvm or tcg")
           ->check(CLI::IsMember({"auto", "kvm", "tcg"}));
       c.add_option("--machine", a.machine, "q35 (default) or pc")->check(CLI::IsMember({"q35", "pc"}));
       c.add_option("--kernel", a.kernel, "kernel to boot (default: kvnet's guest image)");
       c.add_option("--initrd", a.initrd, "initramfs for --kernel");
       c.add_option("--cmdline", a.cmdline, "extra kernel command line words");
       c.add_option("--disk", a.disk, "boot from this disk image instead (raw or qcow2)");
       c.add_option("--image", a.image,
                    "boot from a copy-on-write overlay of this image of kvnetd's store (kvnetctl image list)");
       c.add_option("--disk-size", a.disk_size, "with --image: the overlay's size, 8G ... (default: the image's)");
       one_per_use(c.add_option("--ssh-key", a.ssh_key_files,
                                "a public key file (authorized_keys lines) for the guest's default user, by cloud-init"),
                   false);
       c.add_option("--user-data", a.user_data_file, "cloud-init user-data passed to the guest as is (#cloud-config ...)");
       one_per_use(c.add_option("--nic", a.nics,
                    "a NIC (repeat for more): bridge=BR[,port=NAME][,mac=MAC][,ip=CIDR|dhcp][,gw=IP][,qbr=yes][,sg=SG]... and "
                    "the port's VLAN keys (vlan_mode=access,pvid=101 ...); or network=NET[,ip=A/LEN] (a cluster "
                    "network: on br-int, its address claimed cluster-wide; the first free one without ip=)"),
                   false);
       c.add_flag("--autostart", a.autostart, "start it when defined and whenever kvnetd starts");
       c.add_flag("--start", a.start, "start it now");
       c.add_flag("--wait", a.wait, "with --start: wait until it has booted");
       c.add_option("--timeout", a.timeout, "seconds --wait waits (default 180)");
     },
     nullptr, nullptr, nullptr, vm_add},
    {"vm", "start", "vm start NAME [--wait]: start a VM",
     [](CLI::App& c, Args& a) {
       name_arg(c, a);
       c.add_flag("--wait", a.wait, "wait until it has booted (kvnet's guest image: its ready marker)");
       c.add_option("--timeout", a.timeout, "seconds to wait (default 180)");
     },
     nullptr, nullptr, nullptr, vm_start},
    {"vm", "stop", "vm stop NAME: ACPI power-off; killed if still running after --timeout",
     [](CLI::App& c, Args& a) {
       name_arg(c, a);
       c.add_option("--timeout", a.timeout, "seconds before QEMU is killed (default 30)");
       c.add_flag("--no-wait", a.no_wait, "return at once");
     },
     nullptr, nullptr, nullptr, [](const Args& a) { stop_like(a, "vm-stop"); }},
    {"vm", "kill", "vm kill NAME: kill QEMU at once (like pulling the plug)",
     [](CLI::App& c, Args& a) {
       name_arg(c, a);
       c.add_flag("--no-wait", a.no_wait, "return at once");
     },
     nullptr, nullptr, nullptr, [](const Args& a) { stop_like(a, "vm-kill"); }},
    {"vm", "restart", "vm restart NAME: stop (as vm stop), then start again",
     [](CLI::App& c, Args& a) {
       name_arg(c, a);
       c.add_option("--timeout", a.timeout, "seconds before QEMU is killed (default 30)");
       c.add_flag("--wait", a.wait, "wait until it has booted again");
       c.add_flag("--no-wait", a.no_wait, "return at once");
     },
     nullptr, nullptr, nullptr, [](const Args& a) { stop_like(a, "vm-restart"); }},
    {"vm", "del", "vm del NAME [--keep-disk]: delete a VM and its ports (and its qbr bridges, and its image's overlay)",
     [](CLI::App& c, Args& a) {
       name_arg(c, a);
       c.add_flag("--force", a.force, "kill it first if it runs");
       c.add_flag("--keep-disk", a.keep_disk, "keep the overlay of a VM made from an image");
     },
     [](const Args& a) -> json {
       return {{"cmd", "vm-del"}, {"name", a.name}, {"force", a.force}, {"keep_disk", a.keep_disk}};
     },
     nullptr},
    {"vm", "list", "list VMs: state, accelerator, uptime, memory, QEMU's RSS, NICs", [](CLI::App&, Args&) {},
     [](const Args&) -> json { return {{"cmd", "vm-list"}}; }, print_vm_list},
    {"vm", "show", "vm show NAME: everything about one VM, with its QEMU command line",
     [](CLI::App& c, Args& a) { name_arg(c, a); }, [](const Args& a) -> json { return {{"cmd", "vm-show"}, {"name", a.name}}; },
     print_vm_show},
    {"vm", "migrate",
     "vm migrate NAME --to HOST [--wait] [--max-downtime MS] [--bandwidth MBPS] | --cancel: move a running VM to "
     "another host of the cluster, live (its NICs' networks follow it)",
     [](CLI::App& c, Args& a) {
       name_arg(c, a);
       c.add_option("--to", a.migrate_to, "the host to move it to");
       c.add_flag("--wait", a.wait, "follow it with a progress bar until it has ended");
       c.add_option("--max-downtime", a.max_downtime_ms, "the longest pause of the guest to aim for, ms (default 300)")
           ->check(CLI::Range(1, 60000));
       c.add_option("--bandwidth", a.bandwidth_mbps, "cap on the migration stream, Mbit/s (default: 1 GiB/s)")
           ->check(CLI::Range(1, 1000000));
       c.add_flag("--cancel", a.cancel, "stop the migration in flight (the VM keeps running here)");
       c.add_option("--timeout", a.timeout, "seconds --wait waits (default 600)");
     },
     nullptr, nullptr, nullptr, vm_migrate},
    {"vm", "exec", "vm exec NAME [-i] [--timeout S] -- CMD [ARG...]: run a command in the guest through its agent "
                   "(qemu-guest-agent); its output, and its exit status as kvnetctl's",
     [](CLI::App& c, Args& a) {
       name_arg(c, a);
       c.add_flag("-i,--stdin", a.exec_stdin, "pass standard input to the command (at most 2 MiB)");
       c.add_option("--timeout", a.timeout, "seconds the command may run (default 300)");
       c.add_option("cmd", a.cmd, "the program (looked up in the guest's PATH) and its arguments, after --")->required();
     },
     nullptr, nullptr, nullptr, vm_exec},
    {"vm", "console", "vm console NAME [--log | --exec CMD]: the serial console (Ctrl-] detaches)",
     [](CLI::App& c, Args& a) {
       name_arg(c, a);
       c.add_flag("--log", a.log, "print the boot log instead");
       c.add_option("--exec", a.exec, "run CMD on the guest's shell, print its output, exit with its status");
       c.add_option("--timeout", a.timeout, "seconds --exec waits (default 60)");
     },
     nullptr, nullptr, nullptr, vm_console},
};

}  // namespace

std::span<const Verb> vm_verbs() { return kVmVerbs; }

}  // namespace kvnet::cli
