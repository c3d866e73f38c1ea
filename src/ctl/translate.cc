#include "ctl/translate.h"

#include <map>
#include <set>
#include <tuple>

#include "ctl/firewall_build.h"
#include "ctl/kinds/patch.h"

namespace kvnet::ctl {
namespace {

// The ports of one translation: added ones by index, live ones by id.
struct Refs {
  std::map<std::string, uint32_t> added;  // port -> index in Change::add_ports
  std::set<std::string> removed;          // ports removed, incl. re-created ones and those of removed bridges
  const LivePortId& live;

  io::PortRef ref(const std::string& port) const {
    if (auto it = added.find(port); it != added.end()) return {true, it->second};
    return {false, live(port).value_or(0)};
  }
  // In the datapath once the change is applied.
  bool there(const std::string& port) const {
    return added.count(port) || (!removed.count(port) && live(port).has_value());
  }
};

void add_firewalls(const Topology& cur, const Topology& next, const Plan& plan, const Refs& refs, io::Change& c) {
  // Ports whose policy changed (rules, membership, addresses), and every
  // added port that has one (a re-created port starts bare).
  std::set<std::string> ports = affected_ports(cur, next, plan.scope);
  for (const auto& r : plan.ports_added)
    if (build_firewall(next, r.port)) ports.insert(r.port);
  for (const auto& name : ports)
    if (refs.there(name)) c.firewalls.push_back({refs.ref(name), build_firewall(next, name)});
}

// Static entries: the plan's, and those of re-created ports (removing a port
// forgets its entries).
void add_static_fdb(const Topology& next, const Plan& plan, const Refs& refs, io::Change& c) {
  for (const auto& [bridge, f] : plan.fdb_removed) c.fdb_remove.push_back({bridge, f.vlan, f.mac, {}, {}});
  std::set<std::tuple<std::string, uint16_t, uint64_t>> seen;
  auto add = [&](const std::string& bridge, const FdbSpec& f) {
    if (seen.insert({bridge, f.vlan, f.mac}).second) c.fdb_add.push_back({bridge, f.vlan, f.mac, refs.ref(f.port), f.remote_ip});
  };
  for (const auto& [bridge, f] : plan.fdb_added) add(bridge, f);
  std::set<std::pair<std::string, std::string>> added;
  for (const auto& r : plan.ports_added) added.insert({r.bridge, r.port});
  for (const auto& b : next.bridges)
    if (plan.scope.touches_bridge(b.name))
      for (const auto& f : b.fdb)
        if (added.count({b.name, f.port})) add(b.name, f);
}

// Mirrors: each bridge's whole list, with every change (a port they name may
// have been re-created under a new id); the datapath keeps counters by name.
void add_mirrors(const Topology& cur, const Topology& next, const Plan& plan, const Refs& refs, io::Change& c) {
  for (const auto& b : next.bridges) {
    if (!plan.scope.touches_bridge(b.name)) continue;  // a scoped edit's bridges (ctl/scope.h)
    const BridgeSpec* ob = cur.find_bridge(b.name);
    if (b.mirrors.empty() && (!ob || ob->mirrors.empty())) continue;
    std::vector<io::Change::Mirror> list;
    for (const auto& m : b.mirrors) {
      io::Change::Mirror x{m.name, m.select_all, {}, {}, {}, {}, m.output_vlan};
      for (const auto& p : m.src_ports) x.src.push_back(refs.ref(p));
      for (const auto& p : m.dst_ports) x.dst.push_back(refs.ref(p));
      if (m.vlans.any()) x.vlans = m.vlans;
      if (!m.output_port.empty()) x.out_port = refs.ref(m.output_port);
      list.push_back(std::move(x));
    }
    c.mirrors.emplace_back(b.name, std::move(list));
  }
}

}  // namespace

Status check_static_fdb(const Topology& t) {
  for (const auto& b : t.bridges)
    if (b.type != dp::BridgeType::kHub && b.fdb.size() > b.settings.mac_table_size)
      return Error{"bridge '" + b.name + "': static FDB entries (" + std::to_string(b.fdb.size()) +
                   ") exceed mac_table_size " + std::to_string(b.settings.mac_table_size)};
  return Ok{};
}

Result<io::Change> translate(const Topology& cur, const Topology& next, const Plan& plan, const LivePortId& live) {
  if (auto s = check_static_fdb(next); !s) return s.error();
  Refs refs{{}, {}, live};
  for (const auto& r : plan.ports_removed) refs.removed.insert(r.port);
  for (const auto& name : plan.bridges_removed)
    if (const BridgeSpec* b = cur.find_bridge(name))
      for (const auto& p : b->ports) refs.removed.insert(p.name);
  io::Change c;
  for (const auto& r : plan.ports_removed)
    if (auto id = live(r.port)) c.remove_ports.push_back(*id);
  c.remove_bridges = plan.bridges_removed;
  for (const auto& name : plan.bridges_added) {
    const BridgeSpec& b = *next.find_bridge(name);
    c.add_bridges.push_back({b.name, b.type, b.settings});
  }
  for (const auto& name : plan.bridges_changed) c.bridge_settings.push_back({name, next.find_bridge(name)->settings});
  for (const auto& r : plan.ports_added) {
    const PortSpec& p = *next.find_bridge(r.bridge)->find_port(r.port);
    refs.added[p.name] = static_cast<uint32_t>(c.add_ports.size());
    c.add_ports.push_back({r.bridge, p.name, p.kind->tag(), p.mtu, p.vlan, nullptr});
  }
  for (const auto& r : plan.ports_reconfigured) {
    const PortSpec& p = *next.find_bridge(r.bridge)->find_port(r.port);
    if (auto id = live(r.port)) c.reconfigure.push_back({*id, p.vlan, p.mtu});
  }
  for (const auto& r : plan.ports_added) {
    const auto* o = next.find_bridge(r.bridge)->find_port(r.port)->as<PatchOptions>();
    if (!o) continue;
    const BridgeSpec* pb = next.find_bridge(o->peer_bridge);
    if (pb && pb->find_port(o->peer_port) && refs.there(o->peer_port))  // may dangle
      c.patches.push_back({refs.ref(r.port), refs.ref(o->peer_port)});
  }
  add_firewalls(cur, next, plan, refs, c);
  add_static_fdb(next, plan, refs, c);
  add_mirrors(cur, next, plan, refs, c);
  return c;
}

}  // namespace kvnet::ctl
