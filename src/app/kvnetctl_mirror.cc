// kvnetctl's `mirror` group: port mirrors (SPAN/RSPAN) as Open vSwitch's
// Mirror table has them: frames some ports receive or send, in some VLANs,
// copied to a reserved output port or into an output VLAN.
#include <fmt/format.h>

#include <iostream>

#include "app/kvnetctl.h"

namespace kvnet::cli {
namespace {

std::string joined(const json& list) {
  std::string s;
  for (const auto& x : list) s += (s.empty() ? "" : ",") + x.get<std::string>();
  return s;
}

// "src a1,a2 dst b1 vlans 10" or "all ports".
std::string selection(const json& m) {
  std::string s = m["select_all"].get<bool>() ? "all ports" : "";
  if (!m["select_src_ports"].empty()) s += "src " + joined(m["select_src_ports"]);
  if (!m["select_dst_ports"].empty()) s += (s.empty() ? "" : " ") + std::string("dst ") + joined(m["select_dst_ports"]);
  if (!str(m, "select_vlans").empty()) s += " vlans " + str(m, "select_vlans");
  return s;
}

void print_list(const json& r, const Args&) {
  size_t wn = 4, wb = 6, ws = 9, wo = 6;
  for (const auto& m : r) {
    wn = std::max(wn, str(m, "name").size());
    wb = std::max(wb, str(m, "bridge").size());
    ws = std::max(ws, selection(m).size());
    wo = std::max(wo, str(m, "output").size());
  }
  std::cout << fmt::format("{:<{}}  {:<{}}  {:<{}}  {:<{}}  {:>10} {:>13}\n", "NAME", wn, "BRIDGE", wb, "SELECTION",
                           ws, "OUTPUT", wo, "TX_PKTS", "TX_BYTES");
  for (const auto& m : r)
    std::cout << fmt::format("{:<{}}  {:<{}}  {:<{}}  {:<{}}  {:>10} {:>13}{}\n", str(m, "name"), wn, str(m, "bridge"),
                             wb, selection(m), ws, str(m, "output"), wo, m["tx_packets"].get<uint64_t>(),
                             m["tx_bytes"].get<uint64_t>(), m["active"].get<bool>() ? "" : "  (inactive)");
}

void print_added(const json& r, const Args&) {
  const json& m = r["mirror"];
  std::cout << fmt::format("mirror {} on bridge {}: {} -> {}\n", str(m, "name"), str(m, "bridge"), selection(m),
                           str(m, "output"));
}

json add_request(const Args& a) {
  if (a.output_port.empty() == (a.output_vlan == 0))
    throw Failure{"mirror add: give one output: --output-port PORT or --output-vlan N", 2};
  json req{{"cmd", "mirror-add"},          {"name", a.name},
           {"bridge", a.bridge},           {"select_all", a.select_all},
           {"select_src_ports", a.src_ports}, {"select_dst_ports", a.dst_ports},
           {"select_vlans", a.mirror_vlans}};
  if (!a.output_port.empty()) req["output_port"] = a.output_port;
  if (a.output_vlan) req["output_vlan"] = a.output_vlan;
  return req;
}

const Verb kMirrorVerbs[] = {
    {"mirror", "add",
     "mirror add NAME --bridge BR [--src-port P]... [--dst-port P]... [--vlan N]... [--all] "
     "(--output-port P | --output-vlan N): copy what ports receive (--src-port) or send (--dst-port), "
     "optionally only some VLANs, to a port reserved for it or into a VLAN",
     [](CLI::App& c, Args& a) {
       c.add_option("name", a.name, "mirror name (unique among all mirrors)")->required();
       c.add_option("--bridge", a.bridge, "the bridge whose ports it watches")->required();
       // One word per use (or a comma list): the words after stay arguments.
       one_per_use(c.add_option("--src-port", a.src_ports, "mirror what this port receives (repeat, or P1,P2)"), true);
       one_per_use(c.add_option("--dst-port", a.dst_ports, "mirror what this port sends (repeat, or P1,P2)"), true);
       one_per_use(c.add_option("--vlan", a.mirror_vlans, "switch bridges: only frames in these VLANs, N or N-M (repeat, "
                                                          "or a comma list)"),
                   true);
       c.add_flag("--all", a.select_all, "every port of the bridge, both ways (instead of --src-port/--dst-port)");
       c.add_option("--output-port", a.output_port,
                    "send the copies out of this port of the bridge; it is reserved for them: nothing else is "
                    "switched to it and what it sends is dropped");
       c.add_option("--output-vlan", a.output_vlan,
                    "switch bridges: send the copies in this VLAN out of every port that carries it (RSPAN)")
           ->check(CLI::Range(1, 4094));
     },
     add_request, print_added},
    {"mirror", "del", "mirror del NAME [--bridge BR] [--if-exists]: delete a mirror",
     [](CLI::App& c, Args& a) {
       c.add_option("name", a.name, "mirror name")->required();
       c.add_option("--bridge", a.bridge, "the bridge it must be on");
       c.add_flag("--if-exists", a.if_exists, "no error if there is no such mirror");
     },
     [](const Args& a) -> json {
       json req{{"cmd", "mirror-del"}, {"name", a.name}, {"if_exists", a.if_exists}};
       if (!a.bridge.empty()) req["bridge"] = a.bridge;
       return req;
     },
     nullptr},
    {"mirror", "list",
     "mirror list [--bridge BR]: the mirrors with their selection, output and counters (packets and bytes sent to "
     "the output)",
     [](CLI::App& c, Args& a) { c.add_option("--bridge", a.bridge, "only this bridge's mirrors"); },
     [](const Args& a) -> json {
       json req{{"cmd", "mirror-list"}};
       if (!a.bridge.empty()) req["bridge"] = a.bridge;
       return req;
     },
     print_list},
};

}  // namespace

std::span<const Verb> mirror_verbs() { return kMirrorVerbs; }

}  // namespace kvnet::cli
