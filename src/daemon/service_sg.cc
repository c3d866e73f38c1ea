// kvnetd's security group verbs (Neutron's `security group` and `security
// group rule` commands). Groups are configuration like bridges: every change
// goes through the one path (validate, plan, apply, store). A port uses
// groups through its own keys (`set port P security_groups=web,ssh`).
#include "daemon/service.h"
#include "daemon/service_args.h"
#include "daemon/verbs.h"

namespace kvnet::daemon {

using namespace kvnet::ctl;

namespace {

SecurityGroupSpec* find_group(Topology& t, const std::string& name) {
  for (auto& g : t.security_groups)
    if (g.name == name) return &g;
  return nullptr;
}

json rule_json(const SgRule& r) {
  json j{{"id", r.id}};
  for (const auto& f : sg_rule_fields(r)) {
    if (f.key == "icmp_type" || f.key == "icmp_code") j[f.key] = std::stoi(f.value);
    else if (f.key == "port" && f.value.find('-') == std::string::npos) j[f.key] = std::stoi(f.value);
    else j[f.key] = f.value;
  }
  if (!j.contains("protocol")) j["protocol"] = "any";
  return j;
}


class SgVerbs : VerbContext {
 public:
  using VerbContext::VerbContext;
  json sg_json(const SecurityGroupSpec& g) const;
  Result<json> sg_add(const Args& a);
  Result<json> sg_del(const Args& a);
  Result<json> sg_rule_add(const Args& a);
  Result<json> sg_rule_del(const Args& a);
  Result<json> sg_list(const Args&);
  Result<json> sg_show(const Args& a);
  Result<json> conntrack_list(const Args& a);
  Result<json> conntrack_flush(const Args& a);
};

}  // namespace

json SgVerbs::sg_json(const SecurityGroupSpec& g) const {
  json rules = json::array();
  for (const auto& r : g.rules) rules.push_back(rule_json(r));
  json ports = json::array();
  for (const auto& b : cur_.bridges)
    for (const auto& p : b.ports)
      for (const auto& name : p.security.groups)
        if (name == g.name) ports.push_back(p.name);
  return json{{"name", g.name}, {"description", g.description}, {"rules", rules}, {"ports", ports}};
}

Result<json> SgVerbs::sg_add(const Args& a) {
  TRY(name, a.str("name"));
  TRY(description, a.str("description", false));
  if (auto s = check_name(name); !s) return Error{"security group '" + name + "': " + s.error().message};
  if (cur_.find_group(name)) return Error{"security group '" + name + "' already exists"};
  Topology next = cur_;
  next.security_groups.push_back({name, description, default_sg_rules(), 0, 0});
  TRY(j, commit_json(next));
  j["group"] = sg_json(*cur_.find_group(name));
  return j;
}

Result<json> SgVerbs::sg_del(const Args& a) {
  TRY(name, a.str("name"));
  if (!cur_.find_group(name)) return Error{"security group '" + name + "' does not exist"};
  for (const auto& b : cur_.bridges)
    for (const auto& p : b.ports)
      for (const auto& g : p.security.groups)
        if (g == name)
          return Error{"security group '" + name + "' is used by port '" + p.name + "' (set port " + p.name +
                       " security_groups=... first)"};
  for (const auto& g : cur_.security_groups)
    for (const auto& r : g.rules)
      if (r.remote_group == name && g.name != name)
        return Error{"security group '" + name + "' is the remote_group of rule " + std::to_string(r.id) + " of '" +
                     g.name + "'"};
  Topology next = cur_;
  std::erase_if(next.security_groups, [&](const SecurityGroupSpec& g) { return g.name == name; });
  return commit_json(next);
}

Result<json> SgVerbs::sg_rule_add(const Args& a) {
  TRY(name, a.str("name"));
  TRY(settings, a.settings());
  Topology next = cur_;
  SecurityGroupSpec* g = find_group(next, name);
  if (!g) return Error{"security group '" + name + "' does not exist"};
  auto r = parse_sg_rule(settings);
  if (!r) return Error{"security group '" + name + "': " + r.error().message};
  if (r->id && std::any_of(g->rules.begin(), g->rules.end(), [&](const SgRule& o) { return o.id == r->id; }))
    return Error{"security group '" + name + "': rule id " + std::to_string(r->id) + " exists"};
  const uint32_t id = r->id ? r->id : g->next_rule_id();
  r->id = 0;
  for (const auto& o : g->rules) {
    SgRule same = o;
    same.id = 0;
    if (same == *r) return Error{"security group '" + name + "': the same rule exists as rule " + std::to_string(o.id)};
  }
  r->id = id;
  g->rules.push_back(*r);
  TRY(j, commit_json(next));
  j["rule"] = rule_json(*r);
  return j;
}

Result<json> SgVerbs::sg_rule_del(const Args& a) {
  TRY(name, a.str("name"));
  TRY(id, a.integer("rule", 1, 1000000));
  Topology next = cur_;
  SecurityGroupSpec* g = find_group(next, name);
  if (!g) return Error{"security group '" + name + "' does not exist"};
  const size_t before = g->rules.size();
  std::erase_if(g->rules, [&](const SgRule& r) { return r.id == static_cast<uint32_t>(id); });
  if (g->rules.size() == before)
    return Error{"security group '" + name + "' has no rule " + std::to_string(id)};
  return commit_json(next);
}

Result<json> SgVerbs::sg_list(const Args&) {
  json out = json::array();
  for (const auto& g : cur_.security_groups) out.push_back(sg_json(g));
  return out;
}

Result<json> SgVerbs::sg_show(const Args& a) {
  TRY(name, a.str("name"));
  const SecurityGroupSpec* g = cur_.find_group(name);
  if (!g) return Error{"security group '" + name + "' does not exist"};
  return sg_json(*g);
}

Result<json> SgVerbs::conntrack_list(const Args& a) {
  TRY(bridge, a.str("bridge", false));
  TRY(port, a.str("port", false));
  if (!bridge.empty() && !cur_.find_bridge(bridge)) return Error{"bridge '" + bridge + "' does not exist"};
  if (!port.empty() && !cur_.find_port(port)) return Error{"port '" + port + "' does not exist"};
  json out = json::array();
  for (const auto& r : dp_.conntrack_dump(bridge, port)) {
    const auto& e = r.entry;
    out.push_back({{"bridge", r.bridge},
                   {"port", r.port},
                   {"zone", e.zone()},
                   {"family", e.family() == 6 ? "ipv6" : "ipv4"},
                   {"protocol", protocol_name(e.proto())},
                   {"state", std::string(dp::to_string(e.state))},
                   {"seconds_left", r.seconds_left},
                   {"mark", e.mark},
                   {"packets", {e.packets[0], e.packets[1]}},
                   {"bytes", {e.bytes[0], e.bytes[1]}},
                   {"line", r.line}});
  }
  return out;
}

Result<json> SgVerbs::conntrack_flush(const Args& a) {
  TRY(bridge, a.str("bridge", false));
  TRY(port, a.str("port", false));
  if (!bridge.empty() && !cur_.find_bridge(bridge)) return Error{"bridge '" + bridge + "' does not exist"};
  if (!port.empty() && !cur_.find_port(port)) return Error{"port '" + port + "' does not exist"};
  return json{{"flushed", dp_.conntrack_flush(bridge, port)}};
}

std::span<const Verb> sg_verbs() {
  static const Verb kVerbs[] = {
      {"sg-add", true, false, &verb<SgVerbs, &SgVerbs::sg_add>},
      {"sg-del", true, false, &verb<SgVerbs, &SgVerbs::sg_del>},
      {"sg-rule-add", true, false, &verb<SgVerbs, &SgVerbs::sg_rule_add>},
      {"sg-rule-del", true, false, &verb<SgVerbs, &SgVerbs::sg_rule_del>},
      {"sg-list", false, false, &verb<SgVerbs, &SgVerbs::sg_list>},
      {"sg-show", false, false, &verb<SgVerbs, &SgVerbs::sg_show>},
      {"conntrack-list", false, false, &verb<SgVerbs, &SgVerbs::conntrack_list>},
      {"conntrack-flush", false, true, &verb<SgVerbs, &SgVerbs::conntrack_flush>},
  };
  return kVerbs;
}

}  // namespace kvnet::daemon
