#include "ctl/scope.h"

#include <algorithm>

#include "ctl/topology.h"

namespace kvnet::ctl {

bool Scope::has_port(std::string_view name) const {
  if (whole_) return true;
  for (const auto& r : ports_)
    if (r.port == name) return true;
  return false;
}

bool Scope::has_bridge(std::string_view name) const {
  if (whole_) return true;
  return std::find(bridges_.begin(), bridges_.end(), name) != bridges_.end();
}

bool Scope::touches_bridge(std::string_view name) const {
  if (has_bridge(name)) return true;
  for (const auto& r : ports_)
    if (r.bridge == name) return true;
  return false;
}

namespace {

std::ptrdiff_t index_of(const std::vector<PortSpec>& ports, const std::string& name) {
  for (size_t i = 0; i < ports.size(); ++i)
    if (ports[i].name == name) return static_cast<std::ptrdiff_t>(i);
  return -1;
}

// The scoped ports of one bridge: changed in place where they stand at the
// same place in both, else taken out and put back where `from` has them.
void copy_ports(const BridgeSpec& from, BridgeSpec& to, const std::vector<const PortRef*>& refs) {
  std::vector<std::pair<std::ptrdiff_t, const PortRef*>> moved;  // from's index, port
  for (const PortRef* r : refs) {
    const auto i = index_of(from.ports, r->port), j = index_of(to.ports, r->port);
    if (i >= 0 && i == j) {
      to.ports[static_cast<size_t>(j)] = from.ports[static_cast<size_t>(i)];
      continue;
    }
    if (j >= 0) to.ports.erase(to.ports.begin() + j);
    if (i >= 0) moved.push_back({i, r});
  }
  std::sort(moved.begin(), moved.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [i, r] : moved) {
    const auto at = std::min(static_cast<size_t>(i), to.ports.size());
    to.ports.insert(to.ports.begin() + static_cast<std::ptrdiff_t>(at), from.ports[static_cast<size_t>(i)]);
  }
}

}  // namespace

void copy_scope(const Topology& from, Topology& to, const Scope& s) {
  if (s.whole()) {
    to = from;
    return;
  }
  to.file = from.file;
  to.base_dir = from.base_dir;
  to.warnings = from.warnings;
  for (const auto& name : s.bridges()) {
    const BridgeSpec* f = from.find_bridge(name);
    BridgeSpec* t = to.find_bridge(name);
    if (!f || !t) continue;  // bridges come and go only in whole edits
    t->type = f->type;
    t->settings = f->settings;
    t->fdb = f->fdb;
    t->mirrors = f->mirrors;
    t->loc = f->loc;
  }
  std::vector<std::string> bridges;
  for (const auto& r : s.ports())
    if (std::find(bridges.begin(), bridges.end(), r.bridge) == bridges.end()) bridges.push_back(r.bridge);
  for (const auto& name : bridges) {
    const BridgeSpec* f = from.find_bridge(name);
    BridgeSpec* t = to.find_bridge(name);
    if (!f || !t) continue;
    std::vector<const PortRef*> refs;
    for (const auto& r : s.ports())
      if (r.bridge == name) refs.push_back(&r);
    copy_ports(*f, *t, refs);
  }
}

}  // namespace kvnet::ctl
