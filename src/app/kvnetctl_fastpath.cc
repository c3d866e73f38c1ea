// kvnetctl's `fastpath` group: the kernel fast path (kvnetd's
// io/fastpath.h): its state and counters, its entries (as ovs-appctl
// dpctl/dump-flows shows a datapath's), and flushing it.
#include <fmt/format.h>

#include <iostream>

#include "app/kvnetctl.h"

namespace kvnet::cli {
namespace {

uint64_t u(const json& j, const char* k) { return j.value(k, uint64_t{0}); }

void print_show(const json& r, const Args&) {
  if (!r.value("enabled", false)) {
    std::cout << "fast path: off (" << str(r, "reason") << "): every frame takes the slow path\n";
    return;
  }
  const uint64_t hits = u(r, "hits"), slow = u(r, "misses") + u(r, "stale") + u(r, "punted") + u(r, "too_big");
  std::cout << fmt::format("fast path: on ({} on {} port(s)), generation {}\n", str(r, "hook"), u(r, "ports"),
                           u(r, "generation"));
  std::cout << fmt::format("  entries: {} of {}\n", u(r, "entries"), u(r, "max_entries"));
  std::cout << fmt::format("  frames:  {} forwarded in the kernel, {} to the slow path ({} misses, {} stale, {} "
                           "never cached, {} over the MTU){}\n",
                           hits, slow, u(r, "misses"), u(r, "stale"), u(r, "punted"), u(r, "too_big"),
                           hits + slow ? fmt::format(": {:.1f}% in the kernel", 100.0 * static_cast<double>(hits) /
                                                                                  static_cast<double>(hits + slow))
                                       : "");
  std::cout << fmt::format("  entries: {} installed, {} failed, {} evicted (map full), {} idle, {} outdated\n",
                           u(r, "installs"), u(r, "install_failures"), u(r, "evictions"), u(r, "idle_removals"),
                           u(r, "stale_removals"));
  if (u(r, "errors")) std::cout << fmt::format("  errors:  {} frames dropped (a VLAN push or pop failed)\n", u(r, "errors"));
  for (const auto& b : r.value("bridges", json::array())) {
    if (!b.value("fast_path", true)) {
      std::cout << fmt::format("  bridge {}: fast_path=false (its frames stay on the slow path)\n", str(b, "name"));
      continue;
    }
    std::cout << fmt::format("  bridge {}: {} entries, {} packets, {} bytes\n", str(b, "name"), u(b, "entries"),
                             u(b, "packets"), u(b, "bytes"));
  }
}

const Verb kFastPathVerbs[] = {
    {"fastpath", "show", "fastpath show [--bridge B]: whether the kernel fast path is on, its entries and counters",
     [](CLI::App& c, Args& a) { c.add_option("--bridge", a.bridge, "only this bridge's entries"); },
     [](const Args& a) -> json {
       json r{{"cmd", "fastpath-show"}};
       if (!a.bridge.empty()) r["bridge"] = a.bridge;
       return r;
     },
     &print_show},
    {"fastpath", "dump",
     "fastpath dump [--bridge B]: every entry: its match, actions, packets, bytes and idle time "
     "(as ovs-appctl dpctl/dump-flows)",
     [](CLI::App& c, Args& a) { c.add_option("--bridge", a.bridge, "only entries that cross this bridge"); },
     [](const Args& a) -> json {
       json r{{"cmd", "fastpath-dump"}};
       if (!a.bridge.empty()) r["bridge"] = a.bridge;
       return r;
     },
     [](const json& r, const Args&) {
       for (const auto& e : r.value("entries", json::array())) std::cout << str(e, "line") << "\n";
     }},
    {"fastpath", "flush", "fastpath flush: remove every entry (their statistics are counted first)",
     [](CLI::App&, Args&) {}, [](const Args&) -> json { return {{"cmd", "fastpath-flush"}}; },
     [](const json& r, const Args&) { std::cout << "flushed " << r.value("flushed", 0) << " entries\n"; }},
};

}  // namespace

std::span<const Verb> fastpath_verbs() { return kFastPathVerbs; }

}  // namespace kvnet::cli
