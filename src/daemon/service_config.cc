// kvnetd's verbs on the configuration as a whole: ping, show, apply (a
// topology file), export.
#include <algorithm>
#include <set>

#include "base/text.h"
#include "ctl/kinds/patch.h"
#include "ctl/mtu.h"
#include "ctl/warnings.h"
#include "ctl/container.h"
#include "ctl/network.h"
#include "base/log.h"
#include "daemon/cluster_groups.h"
#include "daemon/cluster_host.h"
#include "daemon/cluster_ports.h"
#include "daemon/cluster_wiring.h"
#include "daemon/service_args.h"
#include "daemon/verbs.h"

namespace kvnet::daemon {

using namespace kvnet::ctl;

namespace {

class ConfigVerbs : VerbContext {
 public:
  using VerbContext::VerbContext;
  Result<json> ping(const Args& a);
  Result<json> show(const Args& a);
  Result<json> apply_file(const Args& a);
  Result<json> export_yaml(const Args& a);

 private:
  // The cluster's part of an apply (docs/cluster.md): the file's networks
  // created in the store; its containers on networks wired on br-int, their
  // addresses claimed (new ones) or kept (those `cur_` has); what is to be
  // bound after the commit and unbound before it. Claims made are released
  // by the caller if the apply does not go through.
  struct ClusterApply {
    std::vector<NetworkPort> bind, unbind;  // `bind`: their addresses claimed already
    std::vector<std::string> lines;  // "+ network blue vni 100 ..." (the store's changes)
    // Security groups written to the store: what it had (none: no record)
    // and the name, to put back if the apply does not go through.
    std::vector<std::pair<std::string, std::optional<StoredGroup>>> groups;
  };
  Status cluster_apply(Topology& next, bool dry_run, ClusterApply& ca);
  void release(const ClusterApply& ca);
  // The file's security groups (a `security_groups:` section) written to
  // the store, after validation and before the commit; groups it leaves
  // out are deleted there unless another host uses them.
  Status publish_groups(const Topology& next, ClusterApply& ca);
};

Status ConfigVerbs::cluster_apply(Topology& next, bool dry_run, ClusterApply& ca) {
  const std::vector<NetworkSpec> declared = declared_networks(next);
  bool on_networks = false;
  for (const auto& c : next.containers) on_networks |= !c.network.empty();
  for (const auto& v : next.vms)
    for (const auto& n : v.nics) on_networks |= !n.network.empty();
  if (!cluster_) {
    if (!declared.empty())
      return Error{"network '" + declared[0].name +
                   "': networks are cluster-wide: this kvnetd is standalone (start it with --cluster URL)"};
    for (const auto& c : next.containers)
      if (!c.network.empty() && !find_container(cur_, c.name))
        return Error{"container '" + c.name + "': network '" + c.network +
                     "': networks are cluster-wide: this kvnetd is standalone (start it with --cluster URL)"};
    for (const auto& v : next.vms)
      for (const auto& n : v.nics)
        if (!n.network.empty())
          return Error{"vm '" + v.name + "': network '" + n.network +
                       "': networks are cluster-wide: this kvnetd is standalone (start it with --cluster URL)"};
    return Ok{};
  }
  // The networks: created where the store lacks them; one it has must match.
  std::map<std::string, cluster::NetworkRecord> nets;
  for (const auto& d : declared) {
    cluster::NetworkRecord n{d.name, d.vni, d.subnet, d.mtu};
    nets[n.name] = n;
    if (dry_run) continue;
    auto made = create_network(*cluster_, n);
    if (made) {
      ca.lines.push_back("+ network " + n.name + " vni " + std::to_string(n.vni) +
                         (n.subnet.empty() ? "" : " subnet " + n.subnet) + " mtu " + std::to_string(n.mtu));
      continue;
    }
    auto have = fetch_network(*cluster_, n.name);
    if (!have) return made.error();  // a VNI taken by another network, or the store unreachable
    if (!(*have == n)) {
      auto show = [](const cluster::NetworkRecord& x) {
        return "VNI " + std::to_string(x.vni) + ", subnet " + (x.subnet.empty() ? "none" : x.subnet) + ", mtu " +
               std::to_string(x.mtu);
      };
      return Error{"network '" + n.name + "' exists in the cluster with " + show(*have) + "; the file says " +
                   show(n) + " (network del it first, or write it as it is)"};
    }
  }
  if (!on_networks && !cur_.find_bridge(kIntegrationBridge)) return Ok{};  // nothing of the cluster's here
  // br-int is the cluster's: a file that does not list it keeps it, less the
  // ports of the containers and VM NICs the file removes (a qbr NIC's: the
  // qvo patch to its qbr bridge, which goes with the file's bridges).
  if (!next.find_bridge(kIntegrationBridge))
    if (const BridgeSpec* b = cur_.find_bridge(kIntegrationBridge)) {
      std::set<std::string> kept;
      for (const auto& c : next.containers) kept.insert(c.port);
      for (const auto& v : next.vms)
        for (const auto& n : v.nics) kept.insert(n.port);
      BridgeSpec br = *b;
      std::erase_if(br.ports, [&](const PortSpec& p) {
        for (const auto& c : cur_.containers)
          if (c.port == p.name) return !kept.count(p.name);
        for (const auto& v : cur_.vms)
          for (const auto& n : v.nics) {
            if (n.port == p.name) return !kept.count(p.name);
            const auto* patch = p.as<PatchOptions>();
            if (n.qbr && patch && patch->peer_bridge == n.bridge) return !next.find_bridge(n.bridge);
          }
        return false;
      });
      next.bridges.push_back(std::move(br));
    }
  const std::string& underlay = cluster_->options().underlay_ip;
  auto same_place = [](const ContainerSpec& a, const ContainerSpec& b) {
    return a.network == b.network && a.bridge == b.bridge && a.port == b.port && a.mac == b.mac;
  };
  // The network's record: the file's (a dry run creates none) or the store's.
  auto network_of = [&](const std::string& name) -> Result<cluster::NetworkRecord> {
    if (auto it = nets.find(name); it != nets.end() && dry_run) return it->second;
    return fetch_network(*cluster_, name);
  };
  for (auto& c : next.containers) {
    if (c.network.empty()) continue;
    const ContainerSpec* old = find_container(cur_, c.name);
    if (old && same_place(*old, c) && (c.ip.empty() || c.ip == old->ip)) {
      c.ip = old->ip;  // as it is: its address and binding stay
      continue;
    }
    const std::string ctx = "container '" + c.name + "': ";
    if (c.ip == "dhcp") return Error{ctx + "a network's addresses are allocated cluster-wide: leave out ip=dhcp"};
    auto net = network_of(c.network);
    if (!net) return Error{ctx + net.error().message};
    if (auto vlan = wire_port(next, *net, underlay, c.port, {}, &warnings_); !vlan)
      return Error{ctx + vlan.error().message};
    if (dry_run) continue;
    auto addr = claim_port_address(*cluster_, *net, c.ip, c.port);
    if (!addr) return Error{ctx + addr.error().message};
    c.ip = *addr;
    ca.bind.push_back({c.network, c.port, container_mac(c), c.ip, "container " + c.name});
  }
  // VMs' NICs on networks, as `vm add --nic network=` makes them: a TAP
  // port on br-int in the network's local VLAN, the address claimed.
  auto same_nic = [](const NicSpec& a, const NicSpec& b) {
    return a.network == b.network && a.bridge == b.bridge && a.port == b.port && a.mac == b.mac && a.qbr == b.qbr &&
           a.ip == b.ip;
  };
  for (auto& v : next.vms) {
    const VmSpec* old = nullptr;
    for (const auto& o : cur_.vms)
      if (o.name == v.name) old = &o;
    for (size_t i = 0; i < v.nics.size(); ++i) {
      NicSpec& n = v.nics[i];
      if (n.network.empty()) continue;
      const NicSpec* was = old && i < old->nics.size() ? &old->nics[i] : nullptr;
      NicSpec as_written = n;  // without an ip: the one it has
      if (was && as_written.ip.empty()) as_written.ip = was->ip;
      if (was && same_nic(as_written, *was)) {
        n.ip = was->ip;  // as it is: its address and binding stay
        continue;
      }
      const std::string ctx = "vm '" + v.name + "': nic " + std::to_string(i) + ": ";
      if (n.qbr) return Error{ctx + "a qbr NIC on a network is made by vm add --nic network=NET,qbr=yes, not by a file"};
      if (n.bridge != kIntegrationBridge)
        return Error{ctx + "a NIC on a network meets " + kIntegrationBridge + ": leave out the bridge"};
      auto net = network_of(n.network);
      if (!net) return Error{ctx + net.error().message};
      if (auto vlan = wire_port(next, *net, underlay, n.port, {}, &warnings_); !vlan)
        return Error{ctx + vlan.error().message};
      if (dry_run) continue;
      auto addr = claim_port_address(*cluster_, *net, n.ip, n.port);
      if (!addr) return Error{ctx + addr.error().message};
      n.ip = *addr;
      ca.bind.push_back({n.network, n.port, n.mac, n.ip, "vm " + v.name + " nic " + std::to_string(i)});
    }
  }
  // Containers on networks that go (or move): unbound before the commit.
  for (const auto& o : cur_.containers) {
    if (o.network.empty()) continue;
    const ContainerSpec* n = find_container(next, o.name);
    if (n && same_place(o, *n) && n->ip == o.ip) continue;
    ca.unbind.push_back({o.network, o.port, container_mac(o), o.ip, "container " + o.name});
  }
  // So are the NICs on networks of VMs that go (or whose NICs change).
  for (const auto& v : cur_.vms) {
    auto it = std::find_if(next.vms.begin(), next.vms.end(), [&](const VmSpec& x) { return x.name == v.name; });
    const VmSpec* nv = it == next.vms.end() ? nullptr : &*it;
    for (size_t i = 0; i < v.nics.size(); ++i) {
      const NicSpec& n = v.nics[i];
      if (n.network.empty() || (nv && i < nv->nics.size() && same_nic(nv->nics[i], n))) continue;
      ca.unbind.push_back({n.network, n.port, n.mac, n.ip, "vm " + v.name + " nic " + std::to_string(i)});
    }
  }
  return unwire_unused(next, underlay);
}

void ConfigVerbs::release(const ClusterApply& ca) {
  for (const auto& p : ca.bind) release_port_address(*cluster_, p.network, p.ip, p.port);
  for (const auto& [name, had] : ca.groups) {
    auto back = had ? put_group(*cluster_, had->group, -1) : delete_group(*cluster_, name, -1);
    if (!back) log_warn("cluster: could not put security group '" + name + "' back: " + back.error().message);
  }
}

Status ConfigVerbs::publish_groups(const Topology& next, ClusterApply& ca) {
  if (!next.has_security_groups) return Ok{};
  std::vector<std::pair<std::string, const SecurityGroupSpec*>> writes;  // null: delete
  for (const auto& g : next.security_groups) writes.push_back({g.name, &g});
  for (const auto& g : cur_.security_groups)
    if (!next.find_group(g.name)) {
      if (auto where = group_used_elsewhere(cluster_->state(), cluster_->options().host, g.name); !where.empty())
        return Error{"security group '" + g.name + "' is used by " + where + ": the file cannot remove it"};
      writes.push_back({g.name, nullptr});
    }
  for (const auto& [name, g] : writes) {
    TRY(stored, fetch_group(*cluster_, name));
    if (g ? stored && stored->group == *g : !stored) continue;
    const int64_t expect = stored ? stored->mod_revision : 0;
    TRY(written, g ? put_group(*cluster_, *g, expect) : delete_group(*cluster_, name, expect));
    if (!written) return Error{"security group '" + name + "' changed in the cluster meanwhile: apply again"};
    ca.groups.push_back({name, stored});
  }
  return Ok{};
}

Result<json> ConfigVerbs::ping(const Args&) { return json{{"version", "0.1.0"}}; }

Result<json> ConfigVerbs::show(const Args&) {
  json bridges = json::array();
  const auto mtus = ctl::bridge_mtus(cur_);  // what each bridge carries (ctl/mtu.h: tunnels measured)
  // In a cluster, br-int's local VLANs are networks: named beside them.
  std::map<uint16_t, std::string> networks;
  if (cluster_)
    for (const auto& [n, v] : local_vlans(cur_)) networks[v] = n;
  for (const auto& b : cur_.bridges) {
    json ports = json::array();
    for (const auto& p : b.ports) {
      json j{{"name", p.name}, {"type", std::string(p.kind->name())}, {"mtu", p.mtu}};
      Fields own;  // the kind's own settings (peer, tx, persistent ...)
      p.kind->emit(*p.options, own);
      for (const auto& f : own) j[f.key] = f.value;
      if (b.type == dp::BridgeType::kSwitch) {
        j["vlan_mode"] = std::string(dp::to_string(p.vlan.mode));
        j["pvid"] = p.vlan.pvid;
        if (p.vlan.allowed) j["allowed"] = dp::vlan_set_str(*p.vlan.allowed);
        if (p.vlan.tagged.any()) j["tagged"] = dp::vlan_set_str(p.vlan.tagged);
        if (p.vlan.untagged.any()) j["untagged"] = dp::vlan_set_str(p.vlan.untagged);
        // kvnet's default (documented): an access port of VLAN 1, as a
        // physical switch's port and a Linux bridge port (OVS: a trunk of all).
        j["vlan_default"] = p.vlan.mode == dp::VlanMode::kAccess && p.vlan.pvid == 1;
        if (b.name == kIntegrationBridge && p.vlan.mode == dp::VlanMode::kAccess)
          if (auto it = networks.find(p.vlan.pvid); it != networks.end()) j["network"] = it->second;
      }
      if (const auto* o = p.as<PatchOptions>()) {
        const BridgeSpec* pb = cur_.find_bridge(o->peer_bridge);
        const PortSpec* peer = pb ? pb->find_port(o->peer_port) : nullptr;
        if (!peer || !peer->as<PatchOptions>()) j["dangling"] = true;
      }
      if (!p.external_ids.empty()) {
        json ids = json::object();
        for (const auto& [k, v] : p.external_ids) ids[valid_utf8(k)] = valid_utf8(v);
        j["external_ids"] = std::move(ids);
      }
      if (auto it = live_.find(p.name); it != live_.end() && it->second.backend)
        j["backend"] = valid_utf8(it->second.backend->describe());  // syscalls: here, not on the datapath
      if (vanished_.count(p.name)) j["error"] = valid_utf8(vanished_.at(p.name));
      ports.push_back(j);
    }
    json bj{{"name", b.name}, {"type", std::string(dp::to_string(b.type))}, {"ports", ports}};
    if (auto it = mtus.find(b.name); it != mtus.end()) bj["carried_mtu"] = it->second;
    if (b.type != dp::BridgeType::kHub) {
      bj["mac_aging"] = b.settings.mac_aging_sec;
      bj["mac_table_size"] = b.settings.mac_table_size;
    }
    bj["conntrack_max"] = b.settings.conntrack_max;
    bj["fast_path"] = b.settings.fast_path;
    json timeouts = json::object();
    for (const auto& [name, sec] : conntrack_timeout_values(b.settings.conntrack_timeouts)) timeouts[name] = sec;
    bj["conntrack_timeouts"] = timeouts;
    if (auto t = conntrack_timeouts_str(b.settings.conntrack_timeouts); !t.empty()) bj["conntrack_timeouts_changed"] = t;
    json mirrors = json::array();
    for (const auto& m : b.mirrors) mirrors.push_back(mirror_json(b, m));
    bj["mirrors"] = mirrors;
    bridges.push_back(bj);
  }
  json cts = json::array();
  for (const auto& c : cur_.containers) {
    const uint32_t m = ctl::endpoint_mtu(cur_, c.port, mtus);
    cts.push_back({{"name", c.name}, {"bridge", c.bridge}, {"port", c.port}, {"ip", c.ip}, {"gw", c.gw},
                   {"network", c.network}, {"mtu", m ? m : dp::kDefaultMtu}});
  }
  return json{{"db", store_path()}, {"bridges", bridges}, {"containers", cts}};
}

Result<json> ConfigVerbs::apply_file(const Args& a) {
  TRY(yaml, a.str("yaml"));
  TRY(file, a.str("file", false));
  TRY(base, a.str("base_dir", false));
  TRY(dry_run, a.flag("dry_run"));
  TRY(host, a.str("host", false));
  TRY(next, parse_document(yaml, file.empty() ? "<apply>" : file, base.empty() ? "/" : base, host));
  // A section the file leaves out is not managed by it.
  ctl::keep_unlisted_sections(cur_, next);
  ClusterApply ca;
  if (auto s = cluster_apply(next, dry_run, ca); !s) {
    if (cluster_) release(ca);
    return s.error();
  }
  auto with_store_lines = [&](json j) {
    if (!ca.lines.empty()) {
      json all = ca.lines;
      for (const auto& l : j["changes"]) all.push_back(l);
      j["changes"] = all;
      j["changed"] = true;
    }
    return j;
  };
  if (auto s = validate(next); !s) {
    if (cluster_) release(ca);
    return s.error();
  }
  next.file.clear();
  if (dry_run) {
    fill_vm_disks(next);
    const ctl::Plan p = plan(cur_, next);
    if (auto s = check_vms(next, p); !s) return s.error();
    warnings_ = new_warnings(cur_, next);
    json j = change_result(p);
    j["dry_run"] = true;
    return j;
  }
  if (!cluster_) return commit_json(next);
  if (auto s = publish_groups(next, ca); !s) {
    release(ca);
    return s.error();
  }
  // Bindings that go leave the store first; those that come, after the
  // commit. Each step is undone if a later one fails.
  std::vector<NetworkPort> unbound;
  auto put_back = [&] {
    for (const auto& u : unbound) rebind_port(*cluster_, u, cur_);
  };
  for (const auto& u : ca.unbind) {
    if (auto s = unbind_port(*cluster_, u); !s) {
      put_back();
      release(ca);
      return Error{u.owner + ": " + s.error().message};
    }
    unbound.push_back(u);
  }
  const Topology before = cur_;
  auto r = commit_json(next);
  if (!r) {
    put_back();
    release(ca);
    return r;
  }
  for (size_t i = 0; i < ca.bind.size(); ++i)
    if (auto s = bind_port(*cluster_, ca.bind[i], cur_); !s) {
      for (size_t j = 0; j < i; ++j) (void)unbind_port(*cluster_, ca.bind[j]);
      (void)commit(before);
      put_back();
      release(ca);
      return Error{ca.bind[i].owner + ": " + s.error().message};
    }
  return with_store_lines(*r);
}

Result<json> ConfigVerbs::export_yaml(const Args&) { return json{{"yaml", to_yaml(cur_)}}; }

}  // namespace

std::span<const Verb> config_verbs() {
  static const Verb kVerbs[] = {
      {"ping", false, false, &verb<ConfigVerbs, &ConfigVerbs::ping>},
      {"show", false, false, &verb<ConfigVerbs, &ConfigVerbs::show>},
      {"apply", true, false, &verb<ConfigVerbs, &ConfigVerbs::apply_file>},
      {"export", false, false, &verb<ConfigVerbs, &ConfigVerbs::export_yaml>},
  };
  return kVerbs;
}

}  // namespace kvnet::daemon
