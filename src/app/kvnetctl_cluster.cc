// kvnetctl's `cluster` group: the etcd store this host belongs to and the
// hosts it knows (kvnetd's daemon/service_cluster.cc).
#include <fmt/format.h>

#include <iostream>

#include "app/kvnetctl.h"

namespace kvnet::cli {
namespace {

std::string ago(const json& h) {
  if (str(h, "state") == "up") return "now";
  const long s = h.value("last_seen_ago_s", -1L);
  if (s < 0) return "never (down since before this host watched)";
  if (s < 120) return fmt::format("{} s ago", s);
  if (s < 7200) return fmt::format("{} min ago", s / 60);
  return fmt::format("{} h ago", s / 3600);
}

std::string names(const json& list) {
  std::string s;
  for (const auto& n : list) s += (s.empty() ? "" : ",") + n.get<std::string>();
  return s.empty() ? "-" : s;
}

void print_hosts(const json& hosts) {
  std::cout << fmt::format("{:<15} {:<5} {:<39} {:>5} {:<20} {:<20} {}\n", "HOST", "STATE", "UNDERLAY", "PORTS", "VMS",
                           "CONTAINERS", "LAST SEEN");
  for (const auto& h : hosts)
    std::cout << fmt::format("{:<15} {:<5} {:<39} {:>5} {:<20} {:<20} {}\n",
                             str(h, "name") + (h.value("this_host", false) ? "*" : ""), str(h, "state"),
                             str(h, "underlay_ip"), h.value("ports", 0L), names(h["vms"]), names(h["containers"]),
                             ago(h));
}

void print_status(const json& r, const Args&) {
  if (str(r, "mode") == "standalone") {
    std::cout << "standalone: this kvnetd is not in a cluster (start it with --cluster URL to join one)\n";
    return;
  }
  std::string eps;
  for (const auto& e : r["endpoints"]) eps += (eps.empty() ? "" : ", ") + e.get<std::string>();
  std::cout << "store:     etcd at " << eps << " (prefix " << str(r, "prefix") << ")\n";
  if (r.value("reachable", false)) {
    const json& m = r["member"];
    std::cout << fmt::format("member:    {} answering (id {}, etcd {}, leader {}{})\n", str(m, "endpoint"),
                             str(m, "id"), str(m, "version"), str(m, "leader"),
                             str(m, "leader") == str(m, "id") ? ", itself" : "");
    std::cout << fmt::format("revision:  {} (applied here: {})\n", r.value("revision", 0L),
                             r.value("applied_revision", 0L));
  } else {
    std::cout << "member:    none answering: " << str(r, "error") << "\n";
    std::cout << fmt::format("revision:  applied here: {} (forwarding goes on with this state)\n",
                             r.value("applied_revision", 0L));
  }
  const json& h = r["host"];
  if (h.value("joined", false))
    std::cout << fmt::format("this host: {}, underlay {}, lease {} (TTL {} s, {} s left)\n", str(h, "name"),
                             str(h, "underlay_ip"), str(h, "lease"), h.value("ttl", 0L), h.value("ttl_left", 0L));
  else
    std::cout << fmt::format("this host: {}, underlay {}: not joined{}\n", str(h, "name"), str(h, "underlay_ip"),
                             h.contains("error") ? " (" + str(h, "error") + ")" : "");
  std::cout << fmt::format("hosts:     {} up, {} down\n", r.value("hosts_up", 0), r.value("hosts_down", 0));
  print_hosts(r["hosts"]);
}

void print_changes(const json& r, const Args&) {
  if (!r.contains("changes") || r["changes"].empty()) std::cout << "no change\n";
  else
    for (const auto& c : r["changes"]) std::cout << c.get<std::string>() << "\n";
}

void print_networks(const json& r, const Args&) {
  std::cout << fmt::format("{:<15} {:>8} {:<18} {}\n", "NETWORK", "VNI", "SUBNET", "MTU");
  for (const auto& n : r)
    std::cout << fmt::format("{:<15} {:>8} {:<18} {}\n", str(n, "name"), n.value("vni", 0), str(n, "subnet").empty() ? "-" : str(n, "subnet"),
                             n.value("mtu", 0));
}

void print_network(const json& n, const Args&) {
  std::cout << "network " << str(n, "name") << "\n  vni:     " << n.value("vni", 0) << "\n  subnet:  "
            << (str(n, "subnet").empty() ? "- (no address allocation)" : str(n, "subnet")) << "\n  mtu:     " << n.value("mtu", 0)
            << "\n";
  if (n.value("stale", false)) std::cout << "  (the store is unreachable: as this host last saw it)\n";
}

json network_add_request(const Args& a) {
  json req{{"cmd", "network-add"}, {"name", a.name}, {"vni", a.vni}};
  if (!a.subnet.empty()) req["subnet"] = a.subnet;
  if (a.mtu) req["mtu"] = a.mtu;
  return req;
}

const Verb kClusterVerbs[] = {
    {"cluster", "status", "the store (endpoints, the member answering, its revision), this host's lease, the hosts",
     [](CLI::App&, Args&) {}, [](const Args&) -> json { return {{"cmd", "cluster-status"}}; }, print_status},
    {"cluster", "hosts", "the cluster's hosts: up or down, underlay address, ports, VMs, containers, last seen",
     [](CLI::App&, Args&) {}, [](const Args&) -> json { return {{"cmd", "cluster-hosts"}}; },
     [](const json& r, const Args&) { print_hosts(r); }},
};

const Verb kNetworkVerbs[] = {
    {"network", "add", "network add NAME --vni N [--subnet CIDR] [--mtu N]: a network of the whole cluster "
                       "(name and VNI unique cluster-wide)",
     [](CLI::App& c, Args& a) {
       c.add_option("name", a.name)->required();
       c.add_option("--vni", a.vni, "its VXLAN network identifier, 1-16777215")->required()->check(CLI::Range(1, 16777215));
       c.add_option("--subnet", a.subnet, "IPv4 CIDR its ports' addresses are allocated from (10.0.0.0/24)");
       c.add_option("--mtu", a.mtu, "what its endpoints get (default 1450: the underlay's 1500 less VXLAN's 50)")
           ->check(CLI::Range(576, 9000));
     },
     network_add_request, print_changes},
    {"network", "del", "network del NAME [--if-exists]: remove a network no port is bound to",
     [](CLI::App& c, Args& a) {
       c.add_option("name", a.name)->required();
       c.add_flag("--if-exists", a.if_exists, "no error if it does not exist");
     },
     [](const Args& a) -> json { return {{"cmd", "network-del"}, {"name", a.name}, {"if_exists", a.if_exists}}; },
     print_changes},
    {"network", "list", "the cluster's networks: name, VNI, subnet, MTU", [](CLI::App&, Args&) {},
     [](const Args&) -> json { return {{"cmd", "network-list"}}; }, print_networks},
    {"network", "show", "network show NAME: one network",
     [](CLI::App& c, Args& a) { c.add_option("name", a.name)->required(); },
     [](const Args& a) -> json { return {{"cmd", "network-show"}, {"name", a.name}}; }, print_network},
};

}  // namespace

std::span<const Verb> cluster_verbs() { return kClusterVerbs; }
std::span<const Verb> network_verbs() { return kNetworkVerbs; }

}  // namespace kvnet::cli
