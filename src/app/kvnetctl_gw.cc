// kvnetctl's `gw` group: NAT gateway networks (libvirt's `virsh net-*` for
// its default network, Neutron's router): an internal port of a bridge with
// the gateway's address, masquerade and port forwards in nftables, DHCP and
// DNS from dnsmasq.
#include <fmt/format.h>

#include <ctime>
#include <iostream>

#include "app/kvnetctl.h"

namespace kvnet::cli {
namespace {

std::string forwards_text(const json& g) {
  std::string s;
  for (const auto& f : g["forwards"]) s += (s.empty() ? "" : ",") + f.get<std::string>();
  return s.empty() ? "-" : s;
}

std::string dnsmasq_text(const json& g) {
  const json& d = g["dnsmasq"];
  std::string s = str(d, "state");
  if (d.value("pid", 0)) s += fmt::format(" (pid {})", d["pid"].get<int>());
  return s;
}

std::string expiry_text(const json& l) {
  const int64_t left = l["expires_in"].get<int64_t>();
  if (left < 0) return "never";
  std::time_t t = static_cast<std::time_t>(l["expires"].get<int64_t>());
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", std::localtime(&t));
  return fmt::format("{} (in {}m{:02}s)", buf, left / 60, left % 60);
}

void print_list(const json& r, const Args&) {
  std::cout << fmt::format("{:<15} {:<15} {:>4} {:<18} {:<4} {:<31} {:<22} {}\n", "NAME", "BRIDGE", "VLAN", "IP", "NAT",
                           "DHCP", "DNSMASQ", "FORWARDS");
  for (const auto& g : r)
    std::cout << fmt::format("{:<15} {:<15} {:>4} {:<18} {:<4} {:<31} {:<22} {}\n", str(g, "name"), str(g, "bridge"),
                             g["vlan"].get<int>() ? std::to_string(g["vlan"].get<int>()) : "-", str(g, "ip"),
                             g["masquerade"].get<bool>() ? "yes" : "no", str(g, "dhcp").empty() ? "-" : str(g, "dhcp"),
                             dnsmasq_text(g), forwards_text(g));
}

void print_show(const json& g, const Args&) {
  std::cout << fmt::format("gateway {}\n", str(g, "name"));
  std::cout << fmt::format("  port:       {} on bridge {}{}{}\n", str(g, "port"), str(g, "bridge"),
                           g["vlan"].get<int>() ? fmt::format(", access VLAN {}", g["vlan"].get<int>()) : "",
                           g["attached"].get<bool>() ? "" : "  [not attached]");
  std::cout << fmt::format("  address:    {} (subnet {})\n", str(g, "ip"), str(g, "subnet"));
  std::cout << fmt::format("  masquerade: {}{}\n", g["masquerade"].get<bool>() ? "yes" : "no (routed)",
                           g.contains("nft_table") ? ", nftables table " + str(g, "nft_table") : "");
  std::cout << "  forwards:   " << (g["forwards"].empty() ? "(none)" : "") << "\n";
  for (const auto& f : g["forwards"]) std::cout << "    " << f.get<std::string>() << "\n";
  std::cout << "  dhcp:       " << (str(g, "dhcp").empty() ? "(none)" : str(g, "dhcp")) << "\n";
  const json& d = g["dnsmasq"];
  std::cout << "  dnsmasq:    " << dnsmasq_text(g);
  if (d.value("restarts", 0)) std::cout << fmt::format(", restarted {} time(s)", d["restarts"].get<int>());
  std::cout << "\n";
  if (!d.value("last_exit", std::string()).empty()) std::cout << "    last exit: " << str(d, "last_exit") << "\n";
  if (!d.value("conf", std::string()).empty()) std::cout << "    conf " << str(d, "conf") << ", leases " << str(d, "leases_file") << "\n";
  if (g.contains("error")) std::cout << "  error:      " << str(g, "error") << "\n";
  if (g.contains("leases") && !str(g, "dhcp").empty()) {
    std::cout << fmt::format("  leases:     {}\n", g["leases"].size());
    if (!g["leases"].empty())
      std::cout << fmt::format("    {:<17}  {:<15}  {:<20}  {}\n", "MAC", "IP", "HOSTNAME", "EXPIRES");
    for (const auto& l : g["leases"])
      std::cout << fmt::format("    {:<17}  {:<15}  {:<20}  {}\n", str(l, "mac"), str(l, "ip"),
                               str(l, "hostname").empty() ? "-" : str(l, "hostname"), expiry_text(l));
  }
}

json add_request(const Args& a) {
  json req{{"cmd", "gw-add"}, {"name", a.name}, {"bridge", a.bridge}, {"ip", a.ip}, {"masquerade", a.masquerade},
           {"forwards", a.forwards}};
  if (a.gw_vlan >= 0) req["vlan"] = a.gw_vlan;
  if (!a.dhcp.empty()) req["dhcp"] = a.dhcp;
  return req;
}

void print_added(const json& r, const Args&) {
  const json& g = r["gateway"];
  std::cout << fmt::format("gateway {}: {} on port {} of bridge {}{}{}{}; dnsmasq {}\n", str(g, "name"), str(g, "ip"),
                           str(g, "port"), str(g, "bridge"), g["masquerade"].get<bool>() ? ", masquerade" : "",
                           str(g, "dhcp").empty() ? "" : ", dhcp " + str(g, "dhcp"),
                           g["forwards"].empty() ? "" : ", forwards " + forwards_text(g), dnsmasq_text(g));
}

const Verb kGwVerbs[] = {
    {"gw", "add",
     "gw add NAME --bridge BR [--vlan N] --ip CIDR [--masquerade] [--dhcp START-END] [--forward tcp|udp:HOSTPORT:IP:PORT]...: "
     "a NAT gateway network (its internal port NAME carries the address)",
     [](CLI::App& c, Args& a) {
       c.add_option("name", a.name, "gateway name, also its internal port's")->required();
       c.add_option("--bridge", a.bridge, "the bridge its internal port joins")->required();
       c.add_option("--vlan", a.gw_vlan, "switch bridges: the port is an access port of this VLAN (1-4094)");
       c.add_option("--ip", a.ip, "the gateway's address and subnet, IPv4 CIDR (e.g. 10.0.0.1/24)")->required();
       c.add_flag("--masquerade", a.masquerade, "NAT the subnet out of the host's route (else: routed)");
       c.add_option("--dhcp", a.dhcp, "DHCP range START-END in the subnet (dnsmasq; also DNS)");
       one_per_use(c.add_option("--forward", a.forwards,
                                "forward the host's port to a guest: tcp|udp:HOSTPORT:IP:PORT (repeat, or comma list)"),
                   true);
     },
     add_request, print_added},
    {"gw", "del", "gw del NAME: delete a gateway, its port, rules and dnsmasq",
     [](CLI::App& c, Args& a) { c.add_option("name", a.name, "gateway name")->required(); },
     [](const Args& a) -> json { return {{"cmd", "gw-del"}, {"name", a.name}}; }, nullptr},
    {"gw", "list", "the gateways: bridge, VLAN, address, NAT, DHCP range, dnsmasq, forwards", [](CLI::App&, Args&) {},
     [](const Args&) -> json { return {{"cmd", "gw-list"}}; }, print_list},
    {"gw", "show", "gw show NAME: one gateway with its forwards, dnsmasq's state and the DHCP leases",
     [](CLI::App& c, Args& a) { c.add_option("name", a.name, "gateway name")->required(); },
     [](const Args& a) -> json { return {{"cmd", "gw-show"}, {"name", a.name}}; }, print_show},
};

}  // namespace

std::span<const Verb> gw_verbs() { return kGwVerbs; }

}  // namespace kvnet::cli
