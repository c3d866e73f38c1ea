// kvnetctl's `ct` group: containers (network namespaces with a veth into a
// bridge; ctl/container.h, kvnetd's daemon/service_ct.cc).
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>

#include "app/kvnetctl.h"

namespace kvnet::cli {
namespace {

// A container's address: its own, or with ip=dhcp the lease's ("dhcp
// 10.0.0.150/24"), or what its DHCP client is doing.
std::string ct_address(const json& c) {
  if (str(c, "ip") != "dhcp" || !c.contains("dhcp")) return str(c, "ip");
  const json& d = c["dhcp"];
  if (d.contains("lease")) return "dhcp " + str(d["lease"], "ip");
  return "dhcp (" + std::string(str(d, "client") == "running" ? "no lease yet" : "client " + str(d, "client")) + ")";
}

void print_ct_list(const json& r, const Args&) {
  size_t wi = 18;
  for (const auto& c : r) wi = std::max(wi, ct_address(c).size());
  std::cout << fmt::format("{:<15} {:<15} {:<15} {:<{}} {:<5} {}\n", "NAME", "BRIDGE", "PORT", "IP", wi, "MTU",
                           "NETNS");
  for (const auto& c : r)
    std::cout << fmt::format("{:<15} {:<15} {:<15} {:<{}} {:<5} {}\n", str(c, "name"), str(c, "bridge"), str(c, "port"),
                             ct_address(c), wi, c.value("mtu", 1500), c["netns"].get<bool>() ? "yes" : "MISSING");
}

// ct show: one container of ct-list, every field.
void ct_show(const Args& a) {
  for (const auto& c : call(a, {{"cmd", "ct-list"}})) {
    if (c["name"] != a.name) continue;
    if (a.format == "json") {
      std::cout << c.dump(2) << "\n";
      return;
    }
    std::cout << "container " << str(c, "name") << "\n  bridge:  " << str(c, "bridge") << "\n  port:    "
              << str(c, "port") << "\n  ip:      " << ct_address(c) << "\n";
    if (!str(c, "gw").empty()) std::cout << "  gw:      " << str(c, "gw") << "\n";
    std::cout << "  mtu:     " << c.value("mtu", 1500) << "\n";
    if (!c.value("network", std::string()).empty()) std::cout << "  network: " << str(c, "network") << "\n";
    std::cout << "  mac:     " << str(c, "mac") << "\n  netns:   " << (c["netns"].get<bool>() ? "yes" : "MISSING")
              << "\n";
    if (!c.contains("dhcp")) return;
    const json& d = c["dhcp"];
    std::cout << "  dhcp:    client " << str(d, "client");
    if (d["pid"].get<int>()) std::cout << ", pid " << d["pid"].get<int>();
    if (d["restarts"].get<int>()) std::cout << ", restarted " << d["restarts"].get<int>() << " time(s)";
    std::cout << "\n";
    if (d.contains("lease")) {
      const json& l = d["lease"];
      std::cout << "    lease " << str(l, "ip") << " from " << str(l, "server") << ", router "
                << (str(l, "router").empty() ? "-" : str(l, "router")) << ", " << l["lease_s"].get<long>()
                << " s, DNS " << (str(l, "dns").empty() ? "-" : str(l, "dns")) << "\n";
    }
    if (d.contains("last_exit")) std::cout << "    last exit: " << str(d, "last_exit") << "\n";
    if (d.contains("error")) std::cout << "    error: " << str(d, "error") << "\n";
    return;
  }
  throw Failure{"container '" + a.name + "' does not exist", 1};
}

// ct add on a cluster network: where it landed.
void print_ct_add(const json& r, const Args& a) {
  if (!r.contains("network")) return;
  std::cout << "container " << a.name << ": " << str(r, "ip") << " on network " << str(r, "network") << " (port "
            << str(r, "port") << ", local VLAN " << r.value("local_vlan", 0) << " on br-int)\n";
}

json ct_add_request(const Args& a) {
  if (a.bridge.empty() == a.network.empty())
    throw Failure{"ct add: give the bridge (--bridge BR) or the cluster network (--network NET)", 2};
  json req{{"cmd", "ct-add"}, {"name", a.name}, {"options", options(a.kvs, "ct add")}};
  if (!a.bridge.empty()) req["bridge"] = a.bridge;
  if (!a.network.empty()) req["network"] = a.network;
  if (!a.sgs.empty()) {
    if (req["options"].contains("security_groups"))
      throw Failure{"ct add: give the groups with --sg or security_groups=, not both", 2};
    std::string groups;
    for (const auto& g : a.sgs) {
      if (g.empty() || g.find('=') != std::string::npos)
        throw Failure{"ct add: --sg takes a security group's name, not '" + g + "' (port options are KEY=VALUE words)", 2};
      groups += (groups.empty() ? "" : ",") + g;
    }
    req["options"]["security_groups"] = groups;
  }
  if (!a.port.empty()) req["port"] = a.port;
  if (!a.ip.empty()) req["ip"] = a.ip;
  if (!a.gw.empty()) req["gw"] = a.gw;
  if (!a.mac.empty()) req["mac"] = a.mac;
  return req;
}

void ct_exec(const Args& a) {
  bool found = false;
  for (const auto& c : call(a, {{"cmd", "ct-list"}})) found = found || c["name"] == a.name;
  if (!found) throw Failure{"container '" + a.name + "' does not exist", 1};
  std::vector<std::string> words = {"ip", "netns", "exec", a.name};
  words.insert(words.end(), a.cmd.begin(), a.cmd.end());
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  execvp("ip", argv.data());
  throw Failure{std::string("cannot run ip netns exec: ") + std::strerror(errno), 1};
}

const Verb kCtVerbs[] = {
    {"ct", "add", "ct add NAME (--bridge BR | --network NET) [--port PORT] [--ip CIDR|dhcp] [--gw IP] [--mac MAC] [--sg SG]... [KEY=VALUE port options]",
     [](CLI::App& c, Args& a) {
       c.add_option("name", a.name)->required();
       c.add_option("--bridge", a.bridge, "bridge to plug into");
       c.add_option("--network", a.network,
                    "a cluster network instead (kvnetd --cluster): br-int in the network's local VLAN, the address "
                    "allocated cluster-wide unless --ip names one");
       c.add_option("--port", a.port, "the veth's host end (default ct-NAME)");
       c.add_option("--ip", a.ip, "address of eth0, CIDR, or dhcp (kvnetd runs a DHCP client in it)");
       c.add_option("--gw", a.gw, "default gateway (not with --ip dhcp: the lease gives it)");
       c.add_option("--mac", a.mac, "MAC of eth0 (default: derived from NAME, 02:...)");
       one_per_use(c.add_option("--sg", a.sgs, "a security group of its port (repeat, or SG1,SG2, for more)"), true);
       c.add_option("options", a.kvs, "port options: vlan_mode=.. pvid=.. ...");
     },
     ct_add_request, print_ct_add},
    {"ct", "del", "ct del NAME: remove the container, its namespace and port",
     [](CLI::App& c, Args& a) { c.add_option("name", a.name)->required(); },
     [](const Args& a) -> json { return {{"cmd", "ct-del"}, {"name", a.name}}; }, nullptr},
    {"ct", "list", "list containers", [](CLI::App&, Args&) {}, [](const Args&) -> json { return {{"cmd", "ct-list"}}; },
     print_ct_list},
    {"ct", "show", "ct show NAME: one container: addresses, MAC, its DHCP client and lease",
     [](CLI::App& c, Args& a) { c.add_option("name", a.name)->required(); }, nullptr, nullptr, nullptr, ct_show},
    {"ct", "exec", "ct exec NAME -- CMD...: run a command inside the container",
     [](CLI::App& c, Args& a) {
       c.add_option("name", a.name)->required();
       c.add_option("cmd", a.cmd, "command and arguments (after --)")->required();
     },
     nullptr, nullptr, nullptr, ct_exec},
};

}  // namespace

std::span<const Verb> ct_verbs() { return kCtVerbs; }

}  // namespace kvnet::cli
