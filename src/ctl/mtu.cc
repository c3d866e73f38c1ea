#include "ctl/mtu.h"

#include <algorithm>
#include <vector>

#include "ctl/kinds/patch.h"

namespace kvnet::ctl {
namespace {

// The bridges joined by patch ports to `start` (itself included).
std::vector<const BridgeSpec*> domain(const Topology& t, const BridgeSpec& start) {
  std::vector<const BridgeSpec*> seen{&start};
  for (size_t i = 0; i < seen.size(); ++i)
    for (const auto& p : seen[i]->ports)
      if (const auto* o = p.as<PatchOptions>())
        if (const BridgeSpec* peer = t.find_bridge(o->peer_bridge);
            peer && std::find(seen.begin(), seen.end(), peer) == seen.end())
          seen.push_back(peer);
  return seen;
}

// The smallest carried MTU of the bridges' ports, capped at the default.
std::optional<uint32_t> smallest(const std::vector<const BridgeSpec*>& bridges) {
  std::optional<uint32_t> m;
  for (const BridgeSpec* b : bridges)
    for (const auto& p : b->ports)
      if (auto c = p.kind->carried_mtu(p, *b)) {
        uint32_t v = std::min(*c, dp::kDefaultMtu);
        if (p.mtu_given) v = std::min(v, p.mtu);  // a tunnel port's own mtu lowers it further
        m = m ? std::min(*m, v) : v;
      }
  return m;
}

}  // namespace

std::optional<uint32_t> bridge_mtu(const Topology& t, const std::string& bridge) {
  const BridgeSpec* b = t.find_bridge(bridge);
  if (!b) return std::nullopt;
  return smallest(domain(t, *b));
}

std::map<std::string, uint32_t> bridge_mtus(const Topology& t) {
  std::map<std::string, uint32_t> out;
  for (const auto& b : t.bridges) {
    if (out.count(b.name)) continue;
    const auto d = domain(t, b);
    if (const auto m = smallest(d))
      for (const BridgeSpec* x : d) out[x->name] = *m;  // one domain, one MTU: measured once
  }
  return out;
}

uint32_t endpoint_mtu(const Topology& t, const std::string& port, const std::map<std::string, uint32_t>& mtus) {
  for (const auto& b : t.bridges)
    if (const PortSpec* p = b.find_port(port)) {
      if (p->mtu_given) return p->mtu;
      const auto it = mtus.find(b.name);
      return it != mtus.end() && it->second < dp::kDefaultMtu ? it->second : 0;
    }
  return 0;
}

bool endpoint_mtus_may_change(const Topology& before, const Topology& after, const Scope& scope) {
  if (scope.whole()) return true;
  for (const auto& r : scope.ports())
    for (const Topology* t : {&before, &after})
      if (const BridgeSpec* b = t->find_bridge(r.bridge))
        if (const PortSpec* p = b->find_port(r.port); p && (p->mtu_given || p->kind->is_patch() || p->kind->carried_mtu(*p, *b)))
          return true;
  return false;
}

uint32_t endpoint_mtu(const Topology& t, const std::string& port) {
  for (const auto& b : t.bridges)
    if (const PortSpec* p = b.find_port(port)) {
      if (p->mtu_given) return p->mtu;
      const auto m = bridge_mtu(t, b.name);
      return m && *m < dp::kDefaultMtu ? *m : 0;
    }
  return 0;
}

}  // namespace kvnet::ctl
