#include "ctl/plan.h"

#include <algorithm>

#include "net/bytes.h"

namespace kvnet::ctl {
namespace {

std::string fdb_object(const std::string& bridge, const FdbSpec& f) {
  return bridge + " " + std::to_string(f.vlan) + " " + net::Mac::from_u64(f.mac).str() + " " + f.port +
         (f.remote_ip.empty() ? "" : " remote_ip=" + f.remote_ip);
}

// Changed keys between two settings lists (in the order of `after`, then
// keys only `before` has).
std::vector<KeyChange> diff(const Fields& before, const Fields& after) {
  std::vector<KeyChange> out;
  auto value = [](const Fields& fs, const std::string& k) -> const Field* {
    for (const auto& f : fs)
      if (f.key == k) return &f;
    return nullptr;
  };
  for (const auto& a : after) {
    const Field* b = value(before, a.key);
    if (!b || b->value != a.value) out.push_back({a.key, b ? b->value : "", a.value});
  }
  for (const auto& b : before)
    if (!value(after, b.key)) out.push_back({b.key, b.value, ""});
  return out;
}

Fields bridge_fields(const BridgeSpec& b) {
  Fields f{{"type", std::string(dp::to_string(b.type))}};
  if (b.type != dp::BridgeType::kHub) {
    f.push_back({"mac_aging", std::to_string(b.settings.mac_aging_sec)});
    f.push_back({"mac_table_size", std::to_string(b.settings.mac_table_size)});
  }
  f.push_back({"conntrack_max", std::to_string(b.settings.conntrack_max)});
  if (auto t = conntrack_timeouts_str(b.settings.conntrack_timeouts); !t.empty()) f.push_back({"conntrack_timeouts", t});
  return f;
}

Fields container_fields(const ContainerSpec& c) {
  Fields f{{"bridge", c.bridge}, {"port", c.port}};
  if (!c.ip.empty()) f.push_back({"ip", c.ip});
  if (!c.gw.empty()) f.push_back({"gw", c.gw});
  if (!c.mac.empty()) f.push_back({"mac", c.mac});
  return f;
}

const ContainerSpec* find_container(const Topology& t, const std::string& name) {
  for (const auto& c : t.containers)
    if (c.name == name) return &c;
  return nullptr;
}

const FdbSpec* find_fdb(const BridgeSpec& b, const FdbSpec& f) {
  for (const auto& e : b.fdb)
    if (e.vlan == f.vlan && e.mac == f.mac) return &e;
  return nullptr;
}

}  // namespace

std::string PlanLine::str() const {
  std::string s = std::string(1, op) + " " + what + " " + object;
  for (const auto& k : keys)
    s += " " + k.key + " " + (k.before.empty() ? "(none)" : k.before) + "->" + (k.after.empty() ? "(none)" : k.after);
  return s;
}

std::vector<std::string> Plan::text() const {
  std::vector<std::string> out;
  for (const auto& l : lines) out.push_back(l.str());
  return out;
}

Plan plan(const Topology& cur, const Topology& next) {
  Plan p;
  std::vector<PlanLine> minus, tilde, plus;

  // Bridges.
  for (const auto& b : cur.bridges) {
    const BridgeSpec* nb = next.find_bridge(b.name);
    if (nb && nb->type == b.type) continue;
    p.bridges_removed.push_back(b.name);
    if (!nb) {
      for (const auto& f : b.fdb) minus.push_back({'-', "fdb", fdb_object(b.name, f), {}});
      for (const auto& m : b.mirrors) minus.push_back({'-', "mirror", b.name + "/" + m.name, {}});
      for (const auto& port : b.ports) minus.push_back({'-', "port", b.name + "/" + port.name, {}});
      minus.push_back({'-', "bridge", b.name, {}});
    }
  }
  for (const auto& nb : next.bridges) {
    const BridgeSpec* ob = cur.find_bridge(nb.name);
    const bool fresh = !ob || ob->type != nb.type;
    if (fresh) {
      p.bridges_added.push_back(nb.name);
      if (ob) tilde.push_back({'~', "bridge", nb.name, diff(bridge_fields(*ob), bridge_fields(nb))});
      else plus.push_back({'+', "bridge", nb.name, {}});
      for (const auto& port : nb.ports) {
        p.ports_added.push_back({nb.name, port.name});
        plus.push_back({'+', "port", nb.name + "/" + port.name, {}});
      }
      for (const auto& f : nb.fdb) {
        p.fdb_added.push_back({nb.name, f});
        plus.push_back({'+', "fdb", fdb_object(nb.name, f), {}});
      }
      for (const auto& m : nb.mirrors) plus.push_back({'+', "mirror", nb.name + "/" + m.name, {}});
      continue;
    }
    if (auto keys = diff(bridge_fields(*ob), bridge_fields(nb)); !keys.empty()) {
      p.bridges_changed.push_back(nb.name);
      tilde.push_back({'~', "bridge", nb.name, std::move(keys)});
    }
    // Ports of a bridge that stays.
    for (const auto& op : ob->ports)
      if (!nb.find_port(op.name)) {
        p.ports_removed.push_back({nb.name, op.name});
        minus.push_back({'-', "port", nb.name + "/" + op.name, {}});
      }
    for (const auto& np : nb.ports) {
      const PortSpec* op = ob->find_port(np.name);
      if (!op) {
        p.ports_added.push_back({nb.name, np.name});
        plus.push_back({'+', "port", nb.name + "/" + np.name, {}});
        continue;
      }
      auto keys = diff(port_fields(*op, ob->type), port_fields(np, nb.type));
      if (keys.empty()) continue;
      if (op->kind == np.kind && np.kind->same_backend(*op->options, *np.options)) {
        p.ports_reconfigured.push_back({nb.name, np.name});
      } else {
        p.ports_removed.push_back({nb.name, np.name});
        p.ports_added.push_back({nb.name, np.name});
      }
      tilde.push_back({'~', "port", nb.name + "/" + np.name, std::move(keys)});
    }
    // Static FDB entries, keyed by (VLAN, MAC).
    for (const auto& f : ob->fdb) {
      const FdbSpec* nf = find_fdb(nb, f);
      if (nf && nf->port == f.port && nf->remote_ip == f.remote_ip) continue;
      p.fdb_removed.push_back({nb.name, f});
      if (!nf) minus.push_back({'-', "fdb", fdb_object(nb.name, f), {}});
    }
    for (const auto& f : nb.fdb) {
      const FdbSpec* of = find_fdb(*ob, f);
      if (of && of->port == f.port && of->remote_ip == f.remote_ip) continue;
      p.fdb_added.push_back({nb.name, f});
      if (of) {
        std::vector<KeyChange> keys;
        if (of->port != f.port) keys.push_back({"port", of->port, f.port});
        if (of->remote_ip != f.remote_ip) keys.push_back({"remote_ip", of->remote_ip, f.remote_ip});
        tilde.push_back({'~', "fdb",
                         nb.name + " " + std::to_string(f.vlan) + " " + net::Mac::from_u64(f.mac).str(),
                         std::move(keys)});
      } else {
        plus.push_back({'+', "fdb", fdb_object(nb.name, f), {}});
      }
    }
  }
  // Mirrors, of bridges that stay (the datapath gets every bridge's mirrors
  // with each change: ports they name may have been re-created).
  for (const auto& nb : next.bridges) {
    const BridgeSpec* ob = cur.find_bridge(nb.name);
    if (!ob || ob->type != nb.type) continue;
    for (const auto& m : ob->mirrors)
      if (!nb.find_mirror(m.name)) minus.push_back({'-', "mirror", nb.name + "/" + m.name, {}});
    for (const auto& m : nb.mirrors) {
      const MirrorSpec* om = ob->find_mirror(m.name);
      if (!om) plus.push_back({'+', "mirror", nb.name + "/" + m.name, {}});
      else if (!(*om == m)) tilde.push_back({'~', "mirror", nb.name + "/" + m.name, diff(mirror_fields(*om), mirror_fields(m))});
    }
  }
  // A port that moved to another bridge is removed from the old one: it was
  // listed as added to the new bridge above.
  for (const auto& name : p.bridges_removed)
    std::erase_if(p.ports_removed, [&](const PortRef& r) { return r.bridge == name; });

  // Containers.
  for (const auto& c : cur.containers) {
    const ContainerSpec* nc = find_container(next, c.name);
    if (nc && *nc == c) continue;
    p.containers_removed.push_back(c);
    if (!nc) minus.push_back({'-', "container", c.name, {}});
  }
  for (const auto& c : next.containers) {
    const ContainerSpec* oc = find_container(cur, c.name);
    if (oc && *oc == c) continue;
    p.containers_added.push_back(c);
    if (oc) tilde.push_back({'~', "container", c.name, diff(container_fields(*oc), container_fields(c))});
    else plus.push_back({'+', "container", c.name, {}});
  }
  // A container re-created with other settings gets a new veth: its port is
  // re-opened even though the port itself did not change.
  for (const auto& c : p.containers_added) {
    const PortRef r{c.bridge, c.port};
    const bool in_cur = cur.find_bridge(c.bridge) && cur.find_bridge(c.bridge)->find_port(c.port);
    if (in_cur && std::find(p.ports_added.begin(), p.ports_added.end(), r) == p.ports_added.end()) {
      p.ports_removed.push_back(r);
      p.ports_added.push_back(r);
      std::erase(p.ports_reconfigured, r);
    }
  }

  // Security groups: a changed group lists its rules as they were and are.
  auto rules_text = [](const SecurityGroupSpec& g) {
    std::string out;
    for (const auto& r : g.rules) out += (out.empty() ? "" : "; ") + std::to_string(r.id) + ": " + sg_rule_str(r);
    return out;
  };
  for (const auto& g : cur.security_groups)
    if (!next.find_group(g.name)) {
      p.groups_removed.push_back(g.name);
      minus.push_back({'-', "sg", g.name, {}});
    }
  for (const auto& g : next.security_groups) {
    const SecurityGroupSpec* og = cur.find_group(g.name);
    if (!og) {
      p.groups_added.push_back(g.name);
      plus.push_back({'+', "sg", g.name, {}});
    } else if (!(*og == g)) {
      p.groups_changed.push_back(g.name);
      std::vector<KeyChange> keys;
      if (og->description != g.description) keys.push_back({"description", og->description, g.description});
      if (og->rules != g.rules) keys.push_back({"rules", rules_text(*og), rules_text(g)});
      tilde.push_back({'~', "sg", g.name, std::move(keys)});
    }
  }

  // VMs: definitions only. A removed VM that runs is killed by whoever
  // applies the plan; a changed one takes its new form at its next start.
  auto find_vm = [](const Topology& t, const std::string& name) -> const VmSpec* {
    for (const auto& v : t.vms)
      if (v.name == name) return &v;
    return nullptr;
  };
  for (const auto& v : cur.vms)
    if (!find_vm(next, v.name)) {
      p.vms_removed.push_back(v.name);
      minus.push_back({'-', "vm", v.name, {}});
    }
  for (const auto& v : next.vms) {
    const VmSpec* ov = find_vm(cur, v.name);
    if (!ov) {
      p.vms_added.push_back(v.name);
      plus.push_back({'+', "vm", v.name, {}});
    } else if (!(*ov == v)) {
      p.vms_changed.push_back(v.name);
      tilde.push_back({'~', "vm", v.name, diff(vm_fields(*ov), vm_fields(v))});
    }
  }

  // Gateways.
  for (const auto& g : cur.gateways)
    if (!next.find_gateway(g.name)) {
      p.gateways_removed.push_back(g.name);
      minus.push_back({'-', "gw", g.name, {}});
    }
  for (const auto& g : next.gateways) {
    const GatewaySpec* og = cur.find_gateway(g.name);
    if (!og) {
      p.gateways_added.push_back(g.name);
      plus.push_back({'+', "gw", g.name, {}});
    } else if (!(*og == g)) {
      p.gateways_changed.push_back(g.name);
      tilde.push_back({'~', "gw", g.name, diff(gateway_fields(*og), gateway_fields(g))});
    }
  }

  for (auto* v : {&minus, &tilde, &plus})
    for (auto& l : *v) p.lines.push_back(std::move(l));
  return p;
}

}  // namespace kvnet::ctl
