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

void print_ct_list(const json& r, const Args&) {
  std::cout << fmt::format("{:<15} {:<15} {:<15} {:<18} {}\n", "NAME", "BRIDGE", "PORT", "IP", "NETNS");
  for (const auto& c : r)
    std::cout << fmt::format("{:<15} {:<15} {:<15} {:<18} {}\n", str(c, "name"), str(c, "bridge"), str(c, "port"),
                             str(c, "ip"), c["netns"].get<bool>() ? "yes" : "MISSING");
}

json ct_add_request(const Args& a) {
  json req{{"cmd", "ct-add"}, {"name", a.name}, {"bridge", a.bridge}, {"options", options(a.kvs, "ct add")}};
  if (!a.sgs.empty()) {
    if (req["options"].contains("security_groups"))
      throw Failure{"ct add: give the groups with --sg or security_groups=, not both", 2};
    std::string groups;
    for (const auto& g : a.sgs) groups += (groups.empty() ? "" : ",") + g;
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
    {"ct", "add", "ct add NAME --bridge BR [--port PORT] [--ip CIDR] [--gw IP] [--mac MAC] [--sg SG]... [KEY=VALUE port options]",
     [](CLI::App& c, Args& a) {
       c.add_option("name", a.name)->required();
       c.add_option("--bridge", a.bridge, "bridge to plug into")->required();
       c.add_option("--port", a.port, "the veth's host end (default ct-NAME)");
       c.add_option("--ip", a.ip, "address of eth0, CIDR");
       c.add_option("--gw", a.gw, "default gateway");
       c.add_option("--mac", a.mac, "MAC of eth0");
       c.add_option("--sg", a.sgs, "a security group of its port (repeat for more)");
       c.add_option("options", a.kvs, "port options: vlan_mode=.. pvid=.. ...");
     },
     ct_add_request, nullptr},
    {"ct", "del", "ct del NAME: remove the container, its namespace and port",
     [](CLI::App& c, Args& a) { c.add_option("name", a.name)->required(); },
     [](const Args& a) -> json { return {{"cmd", "ct-del"}, {"name", a.name}}; }, nullptr},
    {"ct", "list", "list containers", [](CLI::App&, Args&) {}, [](const Args&) -> json { return {{"cmd", "ct-list"}}; },
     print_ct_list},
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
