// kvnetctl's `sg` group: security groups and their rules (Neutron's
// `openstack security group [rule] create|delete|list|show`).
#include <fmt/format.h>

#include <iostream>

#include "app/kvnetctl.h"

namespace kvnet::cli {
namespace {

std::string rule_text(const json& r) {
  std::string s = str(r, "direction") + " " + str(r, "ethertype") + " " + str(r, "protocol");
  for (const char* k : {"port", "icmp_type", "icmp_code", "remote_ip", "remote_group"})
    if (r.contains(k)) s += std::string(" ") + k + " " + (r[k].is_string() ? r[k].get<std::string>() : r[k].dump());
  return s;
}

void print_group(const json& g) {
  std::cout << fmt::format("security group {}{}\n", str(g, "name"),
                           str(g, "description").empty() ? "" : " (" + str(g, "description") + ")");
  std::cout << fmt::format("  {:>4}  {}\n", "ID", "RULE");
  for (const auto& r : g["rules"]) std::cout << fmt::format("  {:>4}  {}\n", r["id"].get<int>(), rule_text(r));
  std::string ports;
  for (const auto& p : g["ports"]) ports += (ports.empty() ? "" : ", ") + p.get<std::string>();
  std::cout << "  ports: " << (ports.empty() ? "(none)" : ports) << "\n";
  if (g.contains("remote_ports") && !g["remote_ports"].empty()) {  // in a cluster: members on other hosts
    std::string remote;
    for (const auto& p : g["remote_ports"]) {
      remote += (remote.empty() ? "" : ", ") + p["port"].get<std::string>() + " on " + p["host"].get<std::string>();
      std::string ips;
      for (const auto& ip : p["ips"]) ips += (ips.empty() ? "" : " ") + ip.get<std::string>();
      if (!ips.empty()) remote += " (" + ips + ")";
    }
    std::cout << "  on other hosts: " << remote << "\n";
  }
}

const Verb kSgVerbs[] = {
    {"sg", "add", "sg add NAME [--description TEXT]: a new group, with Neutron's two egress rules (any IPv4, any IPv6)",
     [](CLI::App& c, Args& a) {
       c.add_option("name", a.name, "group name")->required();
       c.add_option("--description", a.description, "what it is for");
     },
     [](const Args& a) -> json { return {{"cmd", "sg-add"}, {"name", a.name}, {"description", a.description}}; },
     [](const json& r, const Args&) { print_group(r["group"]); }},
    {"sg", "del", "sg del NAME: delete a group no port uses",
     [](CLI::App& c, Args& a) { c.add_option("name", a.name, "group name")->required(); },
     [](const Args& a) -> json { return {{"cmd", "sg-del"}, {"name", a.name}}; }, nullptr},
    {"sg", "rule-add",
     "sg rule-add NAME ingress|egress [ethertype=ipv4|ipv6] [protocol=tcp|udp|icmp|icmpv6|any|N] [port=N|N-M] "
     "[icmp_type=N] [icmp_code=N] [remote_ip=CIDR] [remote_group=SG]: prints the new rule's id",
     [](CLI::App& c, Args& a) {
       c.add_option("name", a.name, "group name")->required();
       c.add_option("direction", a.bridge, "ingress (to the port's endpoint) or egress (from it)")
           ->required()
           ->check(CLI::IsMember({"ingress", "egress"}));
       c.add_option("options", a.kvs, "KEY=VALUE rule keys");
     },
     [](const Args& a) -> json {
       json o = options(a.kvs, "sg rule-add");
       o["direction"] = a.bridge;
       return {{"cmd", "sg-rule-add"}, {"name", a.name}, {"options", o}};
     },
     [](const json& r, const Args&) {
       std::cout << fmt::format("rule {}: {}\n", r["rule"]["id"].get<int>(), rule_text(r["rule"]));
     }},
    {"sg", "rule-del", "sg rule-del NAME RULE_ID: delete a rule (connections it allowed are cut)",
     [](CLI::App& c, Args& a) {
       c.add_option("name", a.name, "group name")->required();
       c.add_option("rule", a.vlan, "the rule's id (sg show)")->required()->check(CLI::Range(1, 1000000));
     },
     [](const Args& a) -> json { return {{"cmd", "sg-rule-del"}, {"name", a.name}, {"rule", a.vlan}}; }, nullptr},
    {"sg", "list", "the security groups, their rules and the ports that use them", [](CLI::App&, Args&) {},
     [](const Args&) -> json { return {{"cmd", "sg-list"}}; },
     [](const json& r, const Args&) {
       for (const auto& g : r) print_group(g);
     }},
    {"sg", "show", "sg show NAME: one group's rules with their ids",
     [](CLI::App& c, Args& a) { c.add_option("name", a.name, "group name")->required(); },
     [](const Args& a) -> json { return {{"cmd", "sg-show"}, {"name", a.name}}; },
     [](const json& r, const Args&) { print_group(r); }},
    {"conntrack", "list", "conntrack list [--bridge B] [--port P]: the firewalls' connections (as conntrack -L)",
     [](CLI::App& c, Args& a) {
       c.add_option("--bridge", a.bridge, "only this bridge's");
       c.add_option("--port", a.port, "only this port's (its zone)");
     },
     [](const Args& a) -> json { return {{"cmd", "conntrack-list"}, {"bridge", a.bridge}, {"port", a.port}}; },
     [](const json& r, const Args&) {
       for (const auto& e : r)
         std::cout << fmt::format("{}/{}: {}\n", str(e, "bridge"), str(e, "port").empty() ? "?" : str(e, "port"),
                                  str(e, "line"));
       if (r.empty()) std::cout << "no connections\n";
     }},
    {"conntrack", "flush", "conntrack flush [--bridge B] [--port P]: forget the firewalls' connections",
     [](CLI::App& c, Args& a) {
       c.add_option("--bridge", a.bridge, "only this bridge's");
       c.add_option("--port", a.port, "only this port's");
     },
     [](const Args& a) -> json { return {{"cmd", "conntrack-flush"}, {"bridge", a.bridge}, {"port", a.port}}; },
     [](const json& r, const Args&) { std::cout << r["flushed"].get<size_t>() << " connection(s) flushed\n"; }},
};

}  // namespace

std::span<const Verb> sg_verbs() { return kSgVerbs; }

}  // namespace kvnet::cli
