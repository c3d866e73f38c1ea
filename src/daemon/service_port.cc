// kvnetd's port verbs (ovs-vsctl's add-port, del-port, set port, get) and
// the port kinds they take.
#include "ctl/kinds/kind.h"
#include "ctl/mirror_spec.h"
#include "ctl/gateway_spec.h"
#include "daemon/service_args.h"
#include "daemon/verbs.h"

namespace kvnet::daemon {

using namespace kvnet::ctl;

namespace {

class PortVerbs : VerbContext {
 public:
  using VerbContext::VerbContext;
  Result<json> add_port(const Args& a);
  Result<json> del_port(const Args& a);
  Result<json> set_port(const Args& a);
  Result<json> get(const Args& a);
  Result<json> kinds(const Args& a);
};

Result<json> PortVerbs::add_port(const Args& a) {
  TRY(br, a.str("bridge"));
  TRY(port, a.str("port"));
  TRY(may_exist, a.flag("may_exist"));
  TRY(settings, a.settings());
  const BridgeSpec* b = cur_.find_bridge(br);
  if (!b) return Error{"bridge '" + br + "' does not exist"};
  if (const BridgeSpec* ob = nullptr; cur_.find_port(port, &ob)) {
    if (may_exist && ob->name == br) return json{{"changed", false}, {"changes", json::array()}};
    return Error{"port '" + port + "' already exists on bridge '" + ob->name + "'"};
  }
  TRY(p, make_port(*b, port, settings, &warnings_));
  Topology& next = edit(Scope::of_port(br, port));
  next.find_bridge(br)->ports.push_back(std::move(p));
  return commit_json(next);
}

Result<json> PortVerbs::del_port(const Args& a) {
  TRY(port, a.str("port"));
  TRY(br, a.str("bridge", false));
  TRY(if_exists, a.flag("if_exists"));
  const BridgeSpec* ob = nullptr;
  if (!cur_.find_port(port, &ob) || (!br.empty() && ob->name != br)) {
    if (if_exists) return json{{"changed", false}, {"changes", json::array()}};
    return Error{"port '" + port + "' does not exist" + (br.empty() ? "" : " on bridge '" + br + "'")};
  }
  for (const auto& c : cur_.containers)
    if (c.port == port) return Error{"port '" + port + "' belongs to container '" + c.name + "': use 'ct del " + c.name + "'"};
  if (auto owner = vm_owning_port(port); !owner.empty())
    return Error{"port '" + port + "' belongs to vm '" + owner + "' (its NIC or qbr patch pair): use 'vm del " + owner + "'"};
  if (gateway_of_port(cur_, port)) return Error{"port '" + port + "' is gateway '" + port + "''s port: use 'gw del " + port + "'"};
  Topology& next = edit(Scope::of_port(ob->name, port).with_bridge(ob->name));  // its FDB entries and mirrors too
  BridgeSpec* nb = next.find_bridge(ob->name);
  if (auto s = forget_mirrored_port(*nb, port); !s) return s.error();
  std::erase_if(nb->ports, [&](const PortSpec& p) { return p.name == port; });
  std::erase_if(nb->fdb, [&](const FdbSpec& f) { return f.port == port; });
  return commit_json(next);
}

Result<json> PortVerbs::set_port(const Args& a) {
  TRY(port, a.str("port"));
  TRY(settings, a.settings());
  const BridgeSpec* ob = nullptr;
  const PortSpec* op = cur_.find_port(port, &ob);
  if (!op) return Error{"port '" + port + "' does not exist"};
  for (const auto& [k, v] : settings)
    if (k == "type") return Error{"port '" + port + "': the type cannot be changed; delete the port and add it again"};
  TRY(p, update_port(*ob, *op, settings, &warnings_));
  Topology& next = edit(Scope::of_port(ob->name, port));
  BridgeSpec* nb = next.find_bridge(ob->name);
  for (auto& q : nb->ports)
    if (q.name == port) q = std::move(p);
  return commit_json(next);
}

// ovs-vsctl's `get`: one key of a port or a bridge, as `show`/`export` name
// it; a key the object could have but does not is "" (or its default).
Result<json> PortVerbs::get(const Args& a) {
  TRY(table, a.str("table"));
  TRY(name, a.str("name"));
  TRY(key, a.str("key"));
  std::vector<std::pair<std::string, std::string>> values;  // in the order `show` gives them
  auto put = [&](const std::string& k, const std::string& v) {
    for (auto& kv : values)
      if (kv.first == k) return void(kv.second = v);
    values.push_back({k, v});
  };
  if (table == "port") {
    const BridgeSpec* b = nullptr;
    const PortSpec* p = cur_.find_port(name, &b);
    if (!p) return Error{"port '" + name + "' does not exist"};
    for (const char* k : {"name", "type", "bridge", "mtu", "security_groups", "port_security", "allowed_addresses"})
      put(k, "");
    for (const auto& kh : p->kind->keys()) put(std::string(kh.key), "");
    if (b->type == dp::BridgeType::kSwitch)
      for (const char* k : {"vlan_mode", "pvid", "allowed", "tagged", "untagged"}) put(k, "");
    put("bridge", b->name);
    put("mtu", std::to_string(p->mtu));
    put("port_security", "false");
    for (const auto& f : port_fields(*p, b->type)) put(f.key, f.value);
  } else if (table == "bridge") {
    const BridgeSpec* b = cur_.find_bridge(name);
    if (!b) return Error{"bridge '" + name + "' does not exist"};
    put("name", b->name);
    put("type", std::string(dp::to_string(b->type)));
    if (b->type != dp::BridgeType::kHub) {
      put("mac_aging", std::to_string(b->settings.mac_aging_sec));
      put("mac_table_size", std::to_string(b->settings.mac_table_size));
    }
    put("conntrack_max", std::to_string(b->settings.conntrack_max));
    std::string t;
    for (const auto& [n, sec] : conntrack_timeout_values(b->settings.conntrack_timeouts))
      t += (t.empty() ? "" : ",") + std::string(n) + ":" + std::to_string(sec);
    put("conntrack_timeouts", t);
    std::string ports;
    for (const auto& p : b->ports) ports += (ports.empty() ? "" : ",") + p.name;
    put("ports", ports);
  } else {
    return Error{"'" + table + "' is not a table (port, bridge)"};
  }
  for (const auto& [k, v] : values)
    if (k == key) return json{{"table", table}, {"name", name}, {"key", key}, {"value", v}};
  std::string keys;
  for (const auto& kv : values) keys += (keys.empty() ? "" : ", ") + kv.first;
  return Error{table + " '" + name + "' has no key '" + key + "' (" + keys + ")"};
}

Result<json> PortVerbs::kinds(const Args&) {
  json out = json::array();
  for (const PortKind* k : port_kinds()) {
    json keys = json::array();
    for (const auto& kh : k->keys()) keys.push_back({{"key", kh.key}, {"help", kh.help}});
    out.push_back({{"name", k->name()}, {"summary", k->summary()}, {"keys", keys}});
  }
  return out;
}

}  // namespace

std::span<const Verb> port_verbs() {
  static const Verb kVerbs[] = {
      {"add-port", true, false, &verb<PortVerbs, &PortVerbs::add_port>},
      {"del-port", true, false, &verb<PortVerbs, &PortVerbs::del_port>},
      {"set-port", true, false, &verb<PortVerbs, &PortVerbs::set_port>},
      {"get", false, false, &verb<PortVerbs, &PortVerbs::get>},
      {"kinds", false, false, &verb<PortVerbs, &PortVerbs::kinds>},
  };
  return kVerbs;
}

}  // namespace kvnet::daemon
