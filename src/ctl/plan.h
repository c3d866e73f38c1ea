// Plans: what it takes to turn one configuration into another.
//
// `plan(current, next)` is pure: it compares two validated topologies and
// lists every change, both for people (one line each, what `kvnetctl apply`
// prints) and for whoever carries it out (kvnetd's apply, which opens kernel
// resources, writes the store and changes the datapath; restore is the plan
// from an empty configuration).
//
//   + bridge B            - bridge B            ~ bridge B mac_aging 300->60
//   + port B/P            - port B/P            ~ port B/P pvid 10->20 allowed 10->10,20
//   + fdb B 10 52:54:00:00:00:01 P              - fdb B 10 52:54:00:00:00:01 P
//   + container C         - container C         ~ container C ip 10.0.0.2/24->10.0.0.3/24
//   + vm V                - vm V                ~ vm V memory 256M->512M
//   + sg G                - sg G                ~ sg G rules 1: egress ipv4 any->1: ...; 2: ...
//   + gw G                - gw G                ~ gw G dhcp (none)->10.0.0.100-10.0.0.199
//   + mirror B/M          - mirror B/M          ~ mirror B/M select_src_ports a1->a1,a2
//
// A port whose settings changed is reconfigured in place when its kind says
// the backend is the same (VLAN, MTU), and re-created otherwise (listed in
// `recreate`). Removing a bridge removes its ports (and mirrors); a bridge
// whose type changed is re-created with its ports. Mirrors have lines only:
// whoever applies a plan installs every bridge's mirrors as `next` has them.
//
// Thread-safety: pure functions on plain data.
#pragma once

#include <string>
#include <vector>

#include "ctl/scope.h"
#include "ctl/topology.h"

namespace kvnet::ctl {

struct KeyChange {
  std::string key;
  std::string before;  // "" = not set
  std::string after;
};

struct PlanLine {
  char op;             // '+', '-', '~'
  std::string what;    // bridge, port, fdb, container, vm, sg
  std::string object;  // "B", "B/P", "B 10 52:54:00:00:00:01 P", "C"
  std::vector<KeyChange> keys;  // for '~'
  std::string str() const;
};

struct Plan {
  std::vector<PlanLine> lines;  // '-' lines, then '~', then '+'
  // What was compared (ctl/scope.h): whoever carries the plan out looks at
  // no more than that either.
  Scope scope;

  // For carrying it out, in this order: remove, then add.
  std::vector<std::string> bridges_removed;  // with all their ports
  std::vector<PortRef> ports_removed;        // of bridges that stay (incl. re-created ports)
  std::vector<std::string> bridges_added;    // new or re-created bridges (empty of ports)
  std::vector<std::string> bridges_changed;  // settings only
  std::vector<PortRef> ports_added;          // incl. re-created ports and ports of added bridges
  std::vector<PortRef> ports_reconfigured;   // VLAN/MTU in place
  std::vector<std::pair<std::string, FdbSpec>> fdb_removed;  // bridge, entry (of bridges that stay)
  std::vector<std::pair<std::string, FdbSpec>> fdb_added;    // bridge, entry (incl. added bridges)
  std::vector<ContainerSpec> containers_removed;  // incl. the old form of changed ones
  std::vector<ContainerSpec> containers_added;    // incl. the new form of changed ones
  // VMs are definitions: the plan changes no running guest. A removed one
  // that runs is killed by kvnetd; a changed one takes effect at its next start.
  // Security groups: their rules reach the datapath with the ports that use them.
  std::vector<std::string> groups_removed;
  std::vector<std::string> groups_added;
  std::vector<std::string> groups_changed;
  std::vector<std::string> vms_removed;
  std::vector<std::string> vms_added;
  std::vector<std::string> vms_changed;
  // Gateways: their ports are ports of the plan like any other; the kernel
  // side (address, nftables, dnsmasq) follows the whole set of gateways.
  std::vector<std::string> gateways_removed;
  std::vector<std::string> gateways_added;
  std::vector<std::string> gateways_changed;
  bool gateways_touched() const {
    return !gateways_removed.empty() || !gateways_added.empty() || !gateways_changed.empty();
  }

  bool empty() const { return lines.empty(); }
  std::vector<std::string> text() const;  // one string per line
};

// Asks every object type (ctl/objects.h) for its part, in the registry's
// order. With a scope (ctl/scope.h), only the objects it names are compared:
// `next` must equal `current` outside it.
Plan plan(const Topology& current, const Topology& next, const Scope& scope = Scope::all());

// --- for object types' plan()
// The lines a type adds, by operation: a plan lists every type's '-' lines,
// then the '~' lines, then the '+' lines.
struct PlanLines {
  std::vector<PlanLine> minus, tilde, plus;
};
// Changed keys between two settings lists (in the order of `after`, then
// keys only `before` has).
std::vector<KeyChange> diff(const Fields& before, const Fields& after);
// The lines of a list of named objects: '-' for those `next` lacks, '+' for
// new ones, '~' with keys(old, new) for changed ones (operator==); their
// names go to removed/added/changed when given.
template <typename T, typename Keys>
void plan_named(const std::vector<T>& cur, const std::vector<T>& next, const char* what, Keys keys, PlanLines& lines,
                std::vector<std::string>* removed = nullptr, std::vector<std::string>* added = nullptr,
                std::vector<std::string>* changed = nullptr) {
  auto find = [](const std::vector<T>& v, const std::string& name) -> const T* {
    for (const auto& x : v)
      if (x.name == name) return &x;
    return nullptr;
  };
  for (const auto& o : cur)
    if (!find(next, o.name)) {
      if (removed) removed->push_back(o.name);
      lines.minus.push_back({'-', what, o.name, {}});
    }
  for (const auto& n : next) {
    const T* o = find(cur, n.name);
    if (!o) {
      if (added) added->push_back(n.name);
      lines.plus.push_back({'+', what, n.name, {}});
    } else if (!(*o == n)) {
      if (changed) changed->push_back(n.name);
      lines.tilde.push_back({'~', what, n.name, keys(*o, n)});
    }
  }
}

}  // namespace kvnet::ctl
