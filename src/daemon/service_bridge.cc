// kvnetd's bridge verbs (ovs-vsctl's add-br, del-br, list-br and set bridge).
#include "daemon/service_args.h"
#include "daemon/verbs.h"

namespace kvnet::daemon {

using namespace kvnet::ctl;

namespace {

class BridgeVerbs : VerbContext {
 public:
  using VerbContext::VerbContext;
  Result<json> add_br(const Args& a);
  Result<json> del_br(const Args& a);
  Result<json> list_br(const Args& a);
  Result<json> set_bridge(const Args& a);
};

Result<json> BridgeVerbs::add_br(const Args& a) {
  TRY(name, a.str("bridge"));
  TRY(may_exist, a.flag("may_exist"));
  if (cur_.find_bridge(name)) {
    if (may_exist) return json{{"changed", false}, {"changes", json::array()}};
    return Error{"bridge '" + name + "' already exists"};
  }
  TRY(type, a.str("type", false));
  TRY(settings, a.settings());
  TRY(b, make_bridge(name, type, settings));
  Topology next = cur_;
  next.bridges.push_back(std::move(b));
  return commit_json(next);
}

Result<json> BridgeVerbs::del_br(const Args& a) {
  TRY(name, a.str("bridge"));
  TRY(if_exists, a.flag("if_exists"));
  if (!cur_.find_bridge(name)) {
    if (if_exists) return json{{"changed", false}, {"changes", json::array()}};
    return Error{"bridge '" + name + "' does not exist"};
  }
  for (const auto& g : cur_.gateways)
    if (g.bridge == name) return Error{"bridge '" + name + "' has gateway '" + g.name + "': 'gw del " + g.name + "' first"};
  for (const auto& p : cur_.find_bridge(name)->ports)
    if (auto owner = vm_owning_port(p.name); !owner.empty())
      return Error{"bridge '" + name + "' has port '" + p.name + "' of vm '" + owner + "': 'vm del " + owner + "' first"};
  TRY(with_containers, a.flag("with_containers"));
  std::string cts;
  for (const auto& c : cur_.containers)
    if (c.bridge == name) cts += (cts.empty() ? "'" : ", '") + c.name + "'";
  if (!cts.empty() && !with_containers)
    return Error{"bridge '" + name + "' has containers " + cts + ": 'del-br " + name +
                 " --with-containers' deletes them too (or 'ct del' them first)"};
  Topology next = cur_;
  std::erase_if(next.bridges, [&](const BridgeSpec& b) { return b.name == name; });
  std::erase_if(next.containers, [&](const ContainerSpec& c) { return c.bridge == name; });
  // Patch ports elsewhere that pointed into this bridge now dangle: allowed.
  return commit_json(next);
}

Result<json> BridgeVerbs::list_br(const Args&) {
  json out = json::array();
  for (const auto& b : cur_.bridges) out.push_back(b.name);
  return out;
}

Result<json> BridgeVerbs::set_bridge(const Args& a) {
  TRY(br, a.str("bridge"));
  TRY(settings, a.settings());
  const BridgeSpec* b = cur_.find_bridge(br);
  if (!b) return Error{"bridge '" + br + "' does not exist"};
  for (const auto& [k, v] : settings)
    if (k == "type")
      return Error{"bridge '" + br +
                   "': 'type' cannot be changed (mac_aging, mac_table_size, conntrack_max, conntrack_timeouts, fast_path)"};
  TRY(nb, update_bridge(*b, settings));
  Topology& next = edit(Scope::of_bridge(br));  // its settings: its ports stay as they are
  next.find_bridge(br)->settings = nb.settings;
  return commit_json(next);
}

}  // namespace

std::span<const Verb> bridge_verbs() {
  static const Verb kVerbs[] = {
      {"add-br", true, false, &verb<BridgeVerbs, &BridgeVerbs::add_br>},
      {"del-br", true, false, &verb<BridgeVerbs, &BridgeVerbs::del_br>},
      {"list-br", false, false, &verb<BridgeVerbs, &BridgeVerbs::list_br>},
      {"set-bridge", true, false, &verb<BridgeVerbs, &BridgeVerbs::set_bridge>},
  };
  return kVerbs;
}

}  // namespace kvnet::daemon
