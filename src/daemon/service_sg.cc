// kvnetd's security group verbs (Neutron's `security group` and `security
// group rule` commands). Groups are configuration like bridges: every change
// goes through the one path (validate, plan, apply, store). A port uses
// groups through its own keys (`set port P security_groups=web,ssh`).
//
// In a cluster the groups are cluster-wide (daemon/cluster_groups.h): a verb
// reads the group from the store, changes it, writes it back if nobody
// changed it meanwhile (else it reads again) and then commits this host's
// copy; the other hosts take it from the watch.
#include <functional>
#include <optional>

#include "base/log.h"
#include "daemon/cluster_groups.h"
#include "daemon/cluster_host.h"
#include "daemon/service.h"
#include "daemon/service_args.h"
#include "daemon/verbs.h"

namespace kvnet::daemon {

using namespace kvnet::ctl;

namespace {

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


// One group's edit: what the group becomes (nullopt: it goes) given what it
// is now (null: there is none), or why not.
using GroupEdit = std::function<Result<std::optional<SecurityGroupSpec>>(const SecurityGroupSpec* now)>;

class SgVerbs : VerbContext {
 public:
  using VerbContext::VerbContext;
  json sg_json(const SecurityGroupSpec& g) const;
  // Applies `edit` to group `name`: here (standalone), or in the store and
  // then here (a cluster).
  Result<json> change_group(const std::string& name, const GroupEdit& edit);
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
  json j{{"name", g.name}, {"description", g.description}, {"rules", rules}, {"ports", ports}};
  if (cluster_) {  // its members on the other hosts (remote_group rules include them)
    json remote = json::array();
    const std::string& self = cluster_->options().host;
    for (const auto& [key, b] : cluster_->state().bindings())
      if (b.host != self && std::find(b.groups.begin(), b.groups.end(), g.name) != b.groups.end())
        remote.push_back({{"host", b.host}, {"port", b.port}, {"network", b.network}, {"ips", b.ips}});
    j["remote_ports"] = remote;
  }
  return j;
}

Result<json> SgVerbs::change_group(const std::string& name, const GroupEdit& edit) {
  if (!cluster_) {
    TRY(after, edit(cur_.find_group(name)));
    Topology next = cur_;
    replace_group(next, name, after);
    return commit_json(next);
  }
  for (int attempt = 0; attempt < 8; ++attempt) {
    TRY(stored, fetch_group(*cluster_, name));
    TRY(after, edit(stored ? &stored->group : nullptr));
    Topology next = cur_;
    replace_group(next, name, after);
    // Checked here before the store is written: nothing half-applied.
    if (auto s = validate(next, ParseOptions{.allow_dangling_patches = true}); !s) return s.error();
    const int64_t expect = stored ? stored->mod_revision : 0;
    TRY(written, after ? put_group(*cluster_, *after, expect) : delete_group(*cluster_, name, expect));
    if (!written) continue;  // another host changed it meanwhile: read it again
    auto r = commit_json(next);
    if (!r) {  // the store gets back what it had
      auto back = stored ? put_group(*cluster_, stored->group, -1) : delete_group(*cluster_, name, -1);
      if (!back) log_warn("cluster: could not put security group '" + name + "' back: " + back.error().message);
    }
    return r;
  }
  return Error{"security group '" + name + "' kept changing in the cluster store: try again"};
}

Result<json> SgVerbs::sg_add(const Args& a) {
  TRY(name, a.str("name"));
  TRY(description, a.str("description", false));
  if (auto s = check_name(name); !s) return Error{"security group '" + name + "': " + s.error().message};
  TRY(j, change_group(name, [&](const SecurityGroupSpec* now) -> Result<std::optional<SecurityGroupSpec>> {
    if (now) return Error{"security group '" + name + "' already exists"};
    return std::optional<SecurityGroupSpec>{SecurityGroupSpec{name, description, default_sg_rules(), 0, 0}};
  }));
  j["group"] = sg_json(*cur_.find_group(name));
  return j;
}

Result<json> SgVerbs::sg_del(const Args& a) {
  TRY(name, a.str("name"));
  return change_group(name, [&](const SecurityGroupSpec* now) -> Result<std::optional<SecurityGroupSpec>> {
    if (!now) return Error{"security group '" + name + "' does not exist"};
    for (const auto& b : cur_.bridges)
      for (const auto& p : b.ports)
        for (const auto& g : p.security.groups)
          if (g == name)
            return Error{"security group '" + name + "' is used by port '" + p.name + "' (set port " + p.name +
                         " security_groups=... first)"};
    if (cluster_)
      if (auto where = group_used_elsewhere(cluster_->state(), cluster_->options().host, name); !where.empty())
        return Error{"security group '" + name + "' is used by " + where};
    for (const auto& g : cur_.security_groups)
      for (const auto& r : g.rules)
        if (r.remote_group == name && g.name != name)
          return Error{"security group '" + name + "' is the remote_group of rule " + std::to_string(r.id) + " of '" +
                       g.name + "'"};
    return std::optional<SecurityGroupSpec>{};
  });
}

Result<json> SgVerbs::sg_rule_add(const Args& a) {
  TRY(name, a.str("name"));
  TRY(settings, a.settings());
  auto parsed = parse_sg_rule(settings);
  if (!parsed) return Error{"security group '" + name + "': " + parsed.error().message};
  SgRule added;
  TRY(j, change_group(name, [&](const SecurityGroupSpec* now) -> Result<std::optional<SecurityGroupSpec>> {
    if (!now) return Error{"security group '" + name + "' does not exist"};
    SecurityGroupSpec g = *now;
    SgRule r = *parsed;
    if (r.id && std::any_of(g.rules.begin(), g.rules.end(), [&](const SgRule& o) { return o.id == r.id; }))
      return Error{"security group '" + name + "': rule id " + std::to_string(r.id) + " exists"};
    const uint32_t id = r.id ? r.id : g.next_rule_id();
    r.id = 0;
    for (const auto& o : g.rules) {
      SgRule same = o;
      same.id = 0;
      if (same == r) return Error{"security group '" + name + "': the same rule exists as rule " + std::to_string(o.id)};
    }
    r.id = id;
    g.rules.push_back(r);
    added = r;
    return std::optional<SecurityGroupSpec>{std::move(g)};
  }));
  j["rule"] = rule_json(added);
  return j;
}

Result<json> SgVerbs::sg_rule_del(const Args& a) {
  TRY(name, a.str("name"));
  TRY(id, a.integer("rule", 1, 1000000));
  return change_group(name, [&](const SecurityGroupSpec* now) -> Result<std::optional<SecurityGroupSpec>> {
    if (!now) return Error{"security group '" + name + "' does not exist"};
    SecurityGroupSpec g = *now;
    const size_t before = g.rules.size();
    std::erase_if(g.rules, [&](const SgRule& r) { return r.id == static_cast<uint32_t>(id); });
    if (g.rules.size() == before) return Error{"security group '" + name + "' has no rule " + std::to_string(id)};
    return std::optional<SecurityGroupSpec>{std::move(g)};
  });
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
