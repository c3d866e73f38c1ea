// kvnetctl's `stats`: per-port counters once, as rates (--watch, like
// `watch`), or cleared (--clear).
//
// --watch asks kvnetd for the counters every --interval seconds and shows
// what changed per second: packets and bits, received and sent, and drops.
// The first figures come one interval after the start (rates need two
// readings). A port whose counters went down (cleared meanwhile) counts from
// zero. On a terminal each reading replaces the last; otherwise readings
// follow one another, and with --format json each is one JSON object on a
// line of its own.
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <iostream>
#include <map>
#include <thread>

#include "app/kvnetctl.h"

namespace kvnet::cli {
namespace {

void print_stats(const json& r) {
  size_t wb = 6, wp = 4;
  for (const auto& p : r) {
    wb = std::max(wb, str(p, "bridge").size());
    wp = std::max(wp, str(p, "port").size());
  }
  std::cout << fmt::format("{:<{}}  {:<{}}  {:<8} {:>10} {:>13} {:>10} {:>13} {:>8}\n", "BRIDGE", wb, "PORT", wp, "TYPE",
                           "RX_PKTS", "RX_BYTES", "TX_PKTS", "TX_BYTES", "DROPS");
  std::string reasons;
  for (const auto& p : r) {
    std::cout << fmt::format("{:<{}}  {:<{}}  {:<8} {:>10} {:>13} {:>10} {:>13} {:>8}\n", str(p, "bridge"), wb,
                             str(p, "port"), wp, str(p, "type"), p["rx_packets"].get<uint64_t>(),
                             p["rx_bytes"].get<uint64_t>(), p["tx_packets"].get<uint64_t>(),
                             p["tx_bytes"].get<uint64_t>(), p["drops_total"].get<uint64_t>());
    for (auto it = p["drops"].begin(); it != p["drops"].end(); ++it)
      reasons += fmt::format("  {}/{}: {} {}\n", str(p, "bridge"), str(p, "port"), it.key(), it->get<uint64_t>());
  }
  if (!reasons.empty()) std::cout << "\ndrops by reason:\n" << reasons;
}

// "12.3 Mbit/s"
std::string bit_rate(double bps) {
  const char* units[] = {"bit/s", "kbit/s", "Mbit/s", "Gbit/s", "Tbit/s"};
  size_t u = 0;
  while (bps >= 1000 && u + 1 < std::size(units)) bps /= 1000, ++u;
  return u == 0 ? fmt::format("{:.0f} {}", bps, units[u]) : fmt::format("{:.1f} {}", bps, units[u]);
}

// Per second from two readings of one counter; a counter that went down was
// cleared: it counts from zero.
double per_second(uint64_t before, uint64_t after, double seconds) {
  const uint64_t d = after >= before ? after - before : after;
  return seconds > 0 ? static_cast<double>(d) / seconds : 0;
}

// The rates between two `stats` answers, per port of the second.
json rates(const json& before, const json& after, double seconds) {
  std::map<std::string, const json*> old;
  for (const auto& p : before) old[str(p, "bridge") + "/" + str(p, "port")] = &p;
  json out = json::array();
  for (const auto& p : after) {
    auto it = old.find(str(p, "bridge") + "/" + str(p, "port"));
    if (it == old.end()) continue;  // new since the last reading: next time
    const json& o = *it->second;
    auto rate = [&](const char* k) { return per_second(o[k].get<uint64_t>(), p[k].get<uint64_t>(), seconds); };
    out.push_back({{"bridge", p["bridge"]},
                   {"port", p["port"]},
                   {"type", p["type"]},
                   {"rx_pps", rate("rx_packets")},
                   {"rx_bps", 8 * rate("rx_bytes")},
                   {"tx_pps", rate("tx_packets")},
                   {"tx_bps", 8 * rate("tx_bytes")},
                   {"drops_ps", rate("drops_total")}});
  }
  return out;
}

void print_rates(const json& r, const Args& a, double interval, bool tty) {
  const std::time_t now = std::time(nullptr);
  char when[64];
  strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", std::localtime(&now));
  std::string out;
  if (tty) out += "\033[H\033[2J";  // as watch: the new reading replaces the last
  out += fmt::format("Every {:g}s: kvnetctl stats{}{}    {}\n\n", interval, a.port.empty() ? "" : " ", a.port, when);
  size_t wb = 6, wp = 4;
  for (const auto& p : r) {
    wb = std::max(wb, str(p, "bridge").size());
    wp = std::max(wp, str(p, "port").size());
  }
  out += fmt::format("{:<{}}  {:<{}}  {:<8} {:>10} {:>14} {:>10} {:>14} {:>8}\n", "BRIDGE", wb, "PORT", wp, "TYPE",
                     "RX_PPS", "RX_RATE", "TX_PPS", "TX_RATE", "DROPS/S");
  for (const auto& p : r)
    out += fmt::format("{:<{}}  {:<{}}  {:<8} {:>10.1f} {:>14} {:>10.1f} {:>14} {:>8.1f}\n", str(p, "bridge"), wb,
                       str(p, "port"), wp, str(p, "type"), p["rx_pps"].get<double>(),
                       bit_rate(p["rx_bps"].get<double>()), p["tx_pps"].get<double>(),
                       bit_rate(p["tx_bps"].get<double>()), p["drops_ps"].get<double>());
  if (!tty) out += "\n";
  std::cout << out << std::flush;
}

void watch(const Args& a) {
  const json req{{"cmd", "stats"}, {"port", a.port}};
  using Clock = std::chrono::steady_clock;
  const auto step = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(a.interval));
  const bool tty = a.format == "human" && isatty(STDOUT_FILENO);
  json before = call(a, req);
  auto t_before = Clock::now();
  auto next = t_before;
  for (int n = 0; a.count == 0 || n < a.count; ++n) {
    next += step;
    std::this_thread::sleep_until(next);
    json after = call(a, req);
    const auto t_after = Clock::now();
    const double seconds = std::chrono::duration<double>(t_after - t_before).count();
    const json r = rates(before, after, seconds);
    if (a.format == "json") {
      std::cout << json{{"time", static_cast<double>(std::time(nullptr))}, {"interval", seconds}, {"ports", r}}.dump()
                << "\n"
                << std::flush;
    } else {
      print_rates(r, a, a.interval, tty);
    }
    before = std::move(after);
    t_before = t_after;
  }
}

}  // namespace

void declare_stats(CLI::App& c, Args& a) {
  c.add_option("port", a.port, "only this port");
  auto* w = c.add_flag("--watch", a.watch, "show rates per second, refreshed every --interval (until interrupted)");
  c.add_option("--interval", a.interval, "seconds between readings with --watch")
      ->check(CLI::Range(0.1, 3600.0))
      ->capture_default_str()
      ->needs(w);
  c.add_option("--count", a.count, "with --watch: stop after this many readings (default: never)")
      ->check(CLI::NonNegativeNumber)
      ->needs(w);
  c.add_flag("--clear", a.clear, "reset the counters (of PORT, or of every port) to zero")->excludes(w);
  c.footer(
      "Rates (--watch): RX/TX packets per second and bit rates per port, drops per second; with --format json, one "
      "object per reading and line:\n"
      "  {\"time\": UNIX, \"interval\": S, \"ports\": [{\"bridge\", \"port\", \"type\", \"rx_pps\", \"rx_bps\", "
      "\"tx_pps\", \"tx_bps\", \"drops_ps\"}]}\n"
      "--clear also resets what the metrics endpoint (kvnetd --metrics) reports; Prometheus takes it as a counter "
      "reset.");
}

void run_stats(const Args& a) {
  if (a.watch) return watch(a);
  if (a.clear) {
    const json r = call(a, {{"cmd", "stats-clear"}, {"port", a.port}});
    if (a.format == "json") std::cout << r.dump(2) << "\n";
    else std::cout << "cleared the counters of " << r["cleared"].get<uint64_t>() << " port(s)\n";
    return;
  }
  const json r = call(a, {{"cmd", "stats"}, {"port", a.port}});
  if (a.format == "json") std::cout << r.dump(2) << "\n";
  else print_stats(r);
}

}  // namespace kvnet::cli
