#include "ctl/warnings.h"

#include <algorithm>
#include <map>

#include "ctl/kinds/patch.h"
#include "net/bytes.h"

namespace kvnet::ctl {

namespace {

// The broadcast domain a port is in: "bridge 'B'" or "VLAN N of bridge 'B'".
std::string domain(const Topology& t, const std::string& bridge, const std::string& port, int hops = 0) {
  const BridgeSpec* b = t.find_bridge(bridge);
  if (!b) return "bridge '" + bridge + "'";
  if (b->type == dp::BridgeType::kSwitch) {
    const PortSpec* p = b->find_port(port);
    if (p) return "VLAN " + std::to_string(p->vlan.pvid) + " of bridge '" + bridge + "'";
    return "bridge '" + bridge + "'";
  }
  // A hub or learning bridge with one patch port (qbr): the domain of the
  // patch's peer.
  const PortSpec* patch = nullptr;
  int patches = 0;
  for (const auto& q : b->ports)
    if (q.as<PatchOptions>()) patch = &q, ++patches;
  if (patches == 1 && hops < 4)
    if (const auto* o = patch->as<PatchOptions>())
      return domain(t, o->peer_bridge, o->peer_port, hops + 1);
  return "bridge '" + bridge + "'";
}

struct Endpoint {
  std::string who;  // "container 'a'", "vm 'v' NIC 0"
  std::string domain;
  std::string ip;   // address without prefix ("" none)
  std::string mac;  // canonical ("" kernel's choice)
};

std::string address_of(const std::string& cidr) {
  if (cidr.empty() || cidr == "dhcp") return "";
  return cidr.substr(0, cidr.find('/'));
}

std::string canonical_mac(const std::string& m) {
  if (m.empty()) return "";
  auto mac = net::Mac::parse(m);
  return mac ? mac->str() : m;
}

}  // namespace

std::vector<std::string> address_conflicts(const Topology& t) {
  std::vector<Endpoint> eps;
  for (const auto& c : t.containers)
    eps.push_back({"container '" + c.name + "'", domain(t, c.bridge, c.port), address_of(c.ip),
                   canonical_mac(container_mac(c))});  // eth0's: the given MAC or kvnet's
  for (const auto& v : t.vms)
    for (size_t i = 0; i < v.nics.size(); ++i) {
      const auto& n = v.nics[i];
      eps.push_back({"vm '" + v.name + "' NIC " + std::to_string(i), domain(t, n.bridge, n.port), address_of(n.ip),
                     canonical_mac(n.mac)});
    }
  std::vector<std::string> out;
  for (size_t i = 0; i < eps.size(); ++i)
    for (size_t j = i + 1; j < eps.size(); ++j) {
      const Endpoint &a = eps[i], &b = eps[j];
      if (a.domain != b.domain) continue;
      if (!a.ip.empty() && a.ip == b.ip)
        out.push_back(a.who + " and " + b.who + " both have IP address " + a.ip + " in " + a.domain);
      if (!a.mac.empty() && a.mac == b.mac)
        out.push_back(a.who + " and " + b.who + " both have MAC " + a.mac + " in " + a.domain);
    }
  return out;
}

std::vector<std::string> dhcp_port_security(const Topology& t) {
  std::vector<std::string> out;
  auto check = [&](const std::string& who, const std::string& port) {
    const PortSpec* p = t.find_port(port);
    if (!p || !p->security.port_security) return;
    for (const auto& a : p->security.allowed)
      if (!a.cidr.empty()) return;
    out.push_back(who + " takes its address by DHCP and its port '" + port +
                  "' has port_security without allowed_addresses: only its DHCP exchange passes (list the range the "
                  "lease comes from, e.g. allowed_addresses=10.0.0.0/24)");
  };
  for (const auto& c : t.containers)
    if (c.ip == "dhcp") check("container '" + c.name + "'", c.port);
  for (const auto& v : t.vms)
    for (size_t i = 0; i < v.nics.size(); ++i)
      if (v.nics[i].ip == "dhcp") check("vm '" + v.name + "' NIC " + std::to_string(i), v.nics[i].port);
  return out;
}

std::vector<std::string> new_warnings(const Topology& cur, const Topology& next) {
  auto before = address_conflicts(cur);
  for (auto& w : dhcp_port_security(cur)) before.push_back(std::move(w));
  std::vector<std::string> out = next.warnings;
  for (const auto& list : {address_conflicts(next), dhcp_port_security(next)})
    for (const auto& w : list)
      if (std::find(before.begin(), before.end(), w) == before.end()) out.push_back(w);
  return out;
}

}  // namespace kvnet::ctl
