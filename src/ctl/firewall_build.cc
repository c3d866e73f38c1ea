#include "ctl/firewall_build.h"

#include <algorithm>
#include <string_view>
#include <unordered_map>

#include "net/bytes.h"

namespace kvnet::ctl {
namespace {

// The addresses a port's endpoint uses (as host prefixes) and its allowed
// addresses (as given).
std::vector<dp::IpPrefix> port_addresses(const Topology& t, const PortSpec& p) {
  std::vector<dp::IpPrefix> out;
  auto add_host = [&](const std::string& cidr) {
    dp::IpPrefix x;
    if (dp::IpPrefix::parse(cidr.substr(0, cidr.find('/')), x)) out.push_back(x);
  };
  for (const auto& c : t.containers)
    if (c.port == p.name && !c.ip.empty()) add_host(c.ip);
  for (const auto& v : t.vms)
    for (const auto& n : v.nics)
      if (n.port == p.name && !n.ip.empty()) add_host(n.ip);
  for (const auto& a : p.security.allowed) {
    dp::IpPrefix x;
    if (dp::IpPrefix::parse(a.cidr, x)) out.push_back(x);
  }
  return out;
}

std::vector<dp::IpPrefix> group_members(const Topology& t, const std::string& group, bool v6) {
  std::vector<dp::IpPrefix> out;
  for (const auto& b : t.bridges)
    for (const auto& p : b.ports)
      for (const auto& g : p.security.groups)
        if (g == group)
          for (const auto& a : port_addresses(t, p))
            if (a.v6 == v6) out.push_back(a);
  if (auto it = t.remote_members.find(group); it != t.remote_members.end())
    for (const auto& ip : it->second) {
      dp::IpPrefix x;
      if (dp::IpPrefix::parse(ip, x) && x.v6 == v6) out.push_back(x);
    }
  return out;
}

bool same_policy(const dp::FwPolicy* a, const dp::FwPolicy* b) { return a && b ? *a == *b : a == b; }

}  // namespace

std::string endpoint_mac(const Topology& t, const std::string& port) {
  for (const auto& v : t.vms)
    for (const auto& n : v.nics)
      if (n.port == port) return n.mac;
  for (const auto& c : t.containers)
    if (c.port == port) return container_mac(c);
  return "";
}

std::shared_ptr<const dp::FwPolicy> build_firewall(const Topology& t, const std::string& name) {
  const PortSpec* p = t.find_port(name);
  return p ? build_firewall(t, *p) : nullptr;
}

std::shared_ptr<const dp::FwPolicy> build_firewall(const Topology& t, const PortSpec& port) {
  const PortSpec* p = &port;
  const std::string& name = port.name;
  if (p->security.empty()) return nullptr;
  auto fw = std::make_shared<dp::FwPolicy>();
  fw->filtered = !p->security.groups.empty();
  for (const auto& gname : p->security.groups) {
    const SecurityGroupSpec* g = t.find_group(gname);
    if (!g) continue;  // validation guarantees it exists
    const auto gi = static_cast<uint16_t>(fw->groups.size());
    fw->groups.push_back(gname);
    for (const auto& r : g->rules) {
      dp::FwRule x;
      x.id = r.id;
      x.group = gi;
      x.ingress = r.direction == SgDirection::kIngress;
      x.v6 = r.ethertype == SgEtherType::kIpv6;
      x.proto = static_cast<int16_t>(r.protocol);
      x.port_min = r.port_min;
      x.port_max = r.port_max;
      x.icmp_type = static_cast<int16_t>(r.icmp_type);
      x.icmp_code = static_cast<int16_t>(r.icmp_code);
      x.text = sg_rule_str(r);
      if (!r.remote_ip.empty()) {
        dp::IpPrefix pre;
        if (dp::IpPrefix::parse(r.remote_ip, pre)) x.remotes.push_back(pre);
        x.any_remote = false;
      } else if (!r.remote_group.empty()) {
        x.remotes = group_members(t, r.remote_group, x.v6);
        x.any_remote = false;
      }
      fw->rules.push_back(std::move(x));
    }
  }
  fw->port_security = p->security.port_security;
  if (fw->port_security) {
    const auto own = net::Mac::parse(endpoint_mac(t, name));
    const uint64_t own_mac = own ? own->u64() : 0;
    auto add = [&](uint64_t mac, const dp::IpPrefix& pre) {
      if (mac) fw->sources.push_back({mac, pre});
    };
    for (const auto& c : t.containers)
      if (c.port == name && !c.ip.empty()) {
        dp::IpPrefix x;
        if (dp::IpPrefix::parse(c.ip.substr(0, c.ip.find('/')), x)) add(own_mac, x);
      }
    for (const auto& v : t.vms)
      for (const auto& n : v.nics)
        if (n.port == name && !n.ip.empty()) {
          dp::IpPrefix x;
          if (dp::IpPrefix::parse(n.ip.substr(0, n.ip.find('/')), x)) add(own_mac, x);
        }
    // An address without a MAC goes with the endpoint's MAC; a port without
    // an endpoint (an interface kvnet did not create) has only the MACs its
    // MAC:IP entries name, and such an address goes with each of them.
    std::vector<uint64_t> named;
    for (const auto& a : p->security.allowed)
      if (auto m = net::Mac::parse(a.mac)) named.push_back(m->u64());
    for (const auto& a : p->security.allowed) {
      dp::IpPrefix x;
      if (!dp::IpPrefix::parse(a.cidr, x)) continue;
      if (!a.mac.empty()) {
        const auto m = net::Mac::parse(a.mac);
        add(m ? m->u64() : 0, x);
      } else if (own_mac) {
        add(own_mac, x);
      } else {
        for (uint64_t m : named) add(m, x);
      }
    }
    // The MAC alone (frames without addresses, an endpoint without an IP yet).
    if (own_mac && fw->sources.empty()) {
      dp::IpPrefix none;  // 0.0.0.0/32: only a DHCP client's source fits
      none.len = 32;
      fw->sources.push_back({own_mac, none});
    }
    // Each MAC's own link-local address (EUI-64, what an IPv6 stack derives
    // from it; another fe80:: address must be listed in allowed_addresses).
    std::vector<uint64_t> macs;
    for (const auto& s : fw->sources)
      if (std::find(macs.begin(), macs.end(), s.mac) == macs.end()) macs.push_back(s.mac);
    for (uint64_t m : macs) fw->sources.push_back({m, dp::eui64_link_local(m)});
  }
  return fw;
}

namespace {

// A scoped edit's candidates: its ports, and the ports whose rules name a
// group one of them is or was in (their remotes are the members' addresses).
std::set<std::string> scope_affected(const Topology& before, const Topology& after, const Scope& scope) {
  std::set<std::string> groups, candidates;
  for (const auto& r : scope.ports()) {
    candidates.insert(r.port);
    for (const Topology* t : {&before, &after})
      if (const BridgeSpec* b = t->find_bridge(r.bridge))
        if (const PortSpec* p = b->find_port(r.port)) groups.insert(p->security.groups.begin(), p->security.groups.end());
  }
  if (!groups.empty()) {
    std::set<std::string> naming;  // groups whose rules name one of `groups`
    for (const auto& g : after.security_groups)
      for (const auto& rule : g.rules)
        if (groups.count(rule.remote_group)) naming.insert(g.name);
    if (!naming.empty())
      for (const auto& b : after.bridges)
        for (const auto& p : b.ports)
          for (const auto& g : p.security.groups)
            if (naming.count(g)) candidates.insert(p.name);
  }
  std::set<std::string> out;
  for (const auto& name : candidates) {
    const PortSpec* x = before.find_port(name);
    const PortSpec* y = after.find_port(name);
    auto px = x ? build_firewall(before, *x) : nullptr;
    auto py = y ? build_firewall(after, *y) : nullptr;
    if (y && !same_policy(px.get(), py.get())) out.insert(name);
  }
  return out;
}

}  // namespace

std::set<std::string> affected_ports(const Topology& before, const Topology& after, const Scope& scope) {
  if (!scope.whole()) return scope_affected(before, after, scope);
  // A port without security settings on both sides has no policy on both:
  // only ports with settings are built (each looked up once, not by a scan).
  std::unordered_map<std::string_view, const PortSpec*> had;
  for (const auto& b : before.bridges)
    for (const auto& p : b.ports)
      if (!p.security.empty()) had.emplace(p.name, &p);
  std::set<std::string> out;
  for (const auto& b : after.bridges)
    for (const auto& p : b.ports) {
      const auto it = had.find(p.name);
      if (p.security.empty() && it == had.end()) continue;
      auto x = it == had.end() ? nullptr : build_firewall(before, *it->second);
      auto y = build_firewall(after, p);
      if (!same_policy(x.get(), y.get())) out.insert(p.name);
    }
  return out;
}

}  // namespace kvnet::ctl
