// kvnetd's verbs on the configuration as a whole: ping, show, apply (a
// topology file), export.
#include "base/text.h"
#include "ctl/kinds/patch.h"
#include "ctl/mtu.h"
#include "ctl/warnings.h"
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
};

Result<json> ConfigVerbs::ping(const Args&) { return json{{"version", "0.1.0"}}; }

Result<json> ConfigVerbs::show(const Args&) {
  json bridges = json::array();
  const auto mtus = ctl::bridge_mtus(cur_);  // what each bridge carries (ctl/mtu.h: tunnels measured)
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
      }
      if (const auto* o = p.as<PatchOptions>()) {
        const BridgeSpec* pb = cur_.find_bridge(o->peer_bridge);
        const PortSpec* peer = pb ? pb->find_port(o->peer_port) : nullptr;
        if (!peer || !peer->as<PatchOptions>()) j["dangling"] = true;
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
                   {"mtu", m ? m : dp::kDefaultMtu}});
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
  if (auto s = validate(next); !s) return s.error();
  next.file.clear();
  if (dry_run) {
    const ctl::Plan p = plan(cur_, next);
    if (auto s = check_vms(next, p); !s) return s.error();
    warnings_ = new_warnings(cur_, next);
    json j = change_result(p);
    j["dry_run"] = true;
    return j;
  }
  return commit_json(next);
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
