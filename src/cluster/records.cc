#include "cluster/records.h"

#include <algorithm>

#include "base/text.h"
#include "ctl/gateway_spec.h"
#include "ctl/network.h"
#include "ctl/topology.h"
#include "io/ip_addr.h"
#include "net/bytes.h"

namespace kvnet::cluster {

using json = nlohmann::json;

namespace {

constexpr size_t kMaxList = 4096;  // VMs or containers of one host
constexpr size_t kMaxText = 256;

std::string text(const json& j, const char* key, bool required, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (required) throw std::invalid_argument(where + ": '" + key + "' is missing");
    return "";
  }
  if (!it->is_string()) throw std::invalid_argument(where + ": '" + key + "' is not a string");
  const std::string& s = it->get_ref<const std::string&>();
  if (s.size() > kMaxText) throw std::invalid_argument(where + ": '" + key + "' is longer than 256 bytes");
  if (has_control(s) || valid_utf8(s) != s) throw std::invalid_argument(where + ": '" + key + "' is not printable text");
  return s;
}

int64_t number(const json& j, const char* key, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return 0;
  if (!it->is_number_integer() || it->get<int64_t>() < 0)
    throw std::invalid_argument(where + ": '" + key + "' is not a number of 0 or more");
  return it->get<int64_t>();
}

std::vector<std::string> names(const json& j, const char* key, const std::string& where) {
  std::vector<std::string> out;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return out;
  if (!it->is_array()) throw std::invalid_argument(where + ": '" + key + "' is not a list");
  if (it->size() > kMaxList) throw std::invalid_argument(where + ": '" + key + "' has more than 4096 entries");
  for (const auto& v : *it) {
    if (!v.is_string()) throw std::invalid_argument(where + ": '" + key + "' has an entry that is not a string");
    const std::string& s = v.get_ref<const std::string&>();
    if (auto ok = ctl::check_name(s); !ok) throw std::invalid_argument(where + ": '" + key + "': " + ok.error().message);
    out.push_back(s);
  }
  return out;
}

// The frame of every record's parse: its size, JSON, an object; `read`
// takes it from there (a malformed field throws std::invalid_argument
// naming it). Errors name the key.
template <class T, class Read>
Result<T> parse_record(const std::string& key, const std::string& value, Read&& read) {
  const std::string where = "cluster key '" + valid_utf8(key) + "'";
  if (value.size() > kMaxRecord) return Error{where + ": a record of " + std::to_string(value.size()) + " bytes (at most 65536)"};
  try {
    const json j = json::parse(value);
    if (!j.is_object()) return Error{where + ": not a JSON object"};
    return read(j, where);
  } catch (const json::exception& e) {
    return Error{where + ": not JSON (" + std::string(e.what()) + ")"};
  } catch (const std::invalid_argument& e) {
    return Error{e.what()};
  }
}

}  // namespace

json HostRecord::to_json() const {
  json j{{"name", name}, {"underlay_ip", underlay_ip}, {"encaps", encaps}, {"version", version}, {"started", started}};
  if (last_seen) j["last_seen"] = last_seen;
  if (!vms.empty()) j["vms"] = vms;
  if (!containers.empty()) j["containers"] = containers;
  if (ports) j["ports"] = ports;
  if (!groups.empty()) j["groups"] = groups;
  return j;
}

Result<HostRecord> parse_host(const std::string& key, const std::string& value) {
  return parse_record<HostRecord>(key, value, [&](const json& j, const std::string& where) -> Result<HostRecord> {
    HostRecord h;
    h.name = text(j, "name", true, where);
    if (auto ok = ctl::check_name(h.name); !ok) return Error{where + ": host name: " + ok.error().message};
    if (split_key(key).name != h.name) return Error{where + ": names host '" + h.name + "', not the key's"};
    h.underlay_ip = text(j, "underlay_ip", true, where);
    if (!io::IpAddr::parse(h.underlay_ip)) return Error{where + ": underlay_ip '" + h.underlay_ip + "' is not an IP address"};
    if (auto e = j.find("encaps"); e != j.end()) {
      if (!e->is_array() || e->size() > 8) return Error{where + ": 'encaps' is not a list of encapsulations"};
      for (const auto& x : *e) {
        if (!x.is_string()) return Error{where + ": 'encaps' has an entry that is not a string"};
        const std::string s = x.get<std::string>();
        if (s != "vxlan" && s != "gre" && s != "geneve") return Error{where + ": unknown encapsulation '" + valid_utf8(s) + "'"};
        h.encaps.push_back(s);
      }
    }
    h.version = text(j, "version", false, where);
    h.started = number(j, "started", where);
    h.last_seen = number(j, "last_seen", where);
    h.ports = number(j, "ports", where);
    h.vms = names(j, "vms", where);
    h.containers = names(j, "containers", where);
    h.groups = names(j, "groups", where);
    return h;
  });
}

KeyName split_key(const std::string& key, const std::string& prefix) {
  if (key.compare(0, prefix.size(), prefix) != 0) return {};
  const std::string rest = key.substr(prefix.size());
  const size_t slash = rest.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == rest.size()) return {};
  return {rest.substr(0, slash), rest.substr(slash + 1)};
}

json NetworkRecord::to_json() const {
  json j{{"name", name}, {"vni", vni}, {"mtu", mtu}};
  if (!subnet.empty()) j["subnet"] = subnet;
  return j;
}

Status check_network(const NetworkRecord& n) {
  return ctl::check_network_spec({.name = n.name, .vni = n.vni, .subnet = n.subnet, .mtu = n.mtu});
}

Result<NetworkRecord> parse_network(const std::string& key, const std::string& value) {
  return parse_record<NetworkRecord>(key, value, [&](const json& j, const std::string& where) -> Result<NetworkRecord> {
    NetworkRecord n;
    n.name = text(j, "name", true, where);
    if (split_key(key).name != n.name) return Error{where + ": names network '" + n.name + "', not the key's"};
    const int64_t vni = number(j, "vni", where);
    if (vni > kMaxVni) return Error{where + ": VNI " + std::to_string(vni) + " is out of range 1-16777215"};
    n.vni = static_cast<uint32_t>(vni);
    n.subnet = text(j, "subnet", false, where);
    if (j.contains("mtu")) {
      const int64_t mtu = number(j, "mtu", where);
      n.mtu = mtu > 65535 ? 65536 : static_cast<uint32_t>(mtu);
    }
    if (auto s = check_network(n); !s) return Error{where + ": " + s.error().message};
    return n;
  });
}

json BindingRecord::to_json() const {
  json j{{"network", network}, {"host", host}, {"port", port}, {"mac", mac},
         {"ips", ips},         {"owner", owner}, {"seq", seq}};
  if (!groups.empty()) j["groups"] = groups;
  return j;
}

Result<BindingRecord> parse_binding(const std::string& key, const std::string& value, const std::string& prefix) {
  return parse_record<BindingRecord>(key, value, [&](const json& j, const std::string& where) -> Result<BindingRecord> {
    BindingRecord b;
    b.network = text(j, "network", true, where);
    b.host = text(j, "host", true, where);
    b.port = text(j, "port", true, where);
    if (key != binding_key(b.network, b.host, b.port, prefix))
      return Error{where + ": names " + b.network + "/" + b.host + "/" + b.port + ", not the key's"};
    for (const auto& [what, name] : {std::pair{"network", b.network}, {"host", b.host}, {"port", b.port}})
      if (auto s = ctl::check_name(name); !s) return Error{where + ": " + what + ": " + s.error().message};
    b.mac = text(j, "mac", true, where);
    auto m = net::Mac::parse(b.mac);
    if (!m || m->is_multicast() || m->is_zero()) return Error{where + ": mac '" + b.mac + "' is not a unicast MAC"};
    b.mac = m->str();
    if (auto it = j.find("ips"); it != j.end()) {
      if (!it->is_array() || it->size() > 16) return Error{where + ": 'ips' is not a list of at most 16 addresses"};
      for (const auto& a : *it) {
        if (!a.is_string()) return Error{where + ": 'ips' has an entry that is not a string"};
        const std::string ip = a.get<std::string>();
        if (auto s = ctl::check_cidr(ip); !s) return Error{where + ": ips: " + s.error().message};
        b.ips.push_back(ip);
      }
    }
    b.owner = text(j, "owner", false, where);
    b.seq = number(j, "seq", where);
    b.groups = names(j, "groups", where);
    return b;
  });
}

json MigrationRecord::to_json() const {
  json j{{"vm", vm}, {"from", from}, {"to", to}, {"state", state}, {"spec", spec}, {"accel", accel},
         {"machine", machine}, {"qemu", qemu}, {"groups", groups}, {"started_ms", started_ms}};
  if (!uri.empty()) j["uri"] = uri;
  if (nbd_port) j["nbd_port"] = nbd_port;
  if (!error.empty()) j["error"] = error;
  if (resumed_us) j["resumed_us"] = resumed_us;
  return j;
}

Result<MigrationRecord> parse_migration(const std::string& key, const std::string& value, const std::string& prefix) {
  return parse_record<MigrationRecord>(key, value, [&](const json& j, const std::string& where) -> Result<MigrationRecord> {
    MigrationRecord m;
    m.vm = text(j, "vm", true, where);
    if (key != migration_key(m.vm, prefix)) return Error{where + ": names vm '" + m.vm + "', not the key's"};
    m.from = text(j, "from", true, where);
    m.to = text(j, "to", true, where);
    for (const auto& [what, name] : {std::pair{"vm", m.vm}, {"from", m.from}, {"to", m.to}})
      if (auto ok = ctl::check_name(name); !ok) return Error{where + ": " + what + ": " + ok.error().message};
    if (m.from == m.to) return Error{where + ": from and to are the same host"};
    m.state = text(j, "state", true, where);
    static const char* kStates[] = {"requested", "ready", "switched", "done", "failed", "cancelled"};
    if (std::none_of(std::begin(kStates), std::end(kStates), [&](const char* x) { return m.state == x; }))
      return Error{where + ": state '" + m.state + "' is not one of requested, ready, switched, done, failed, cancelled"};
    auto sp = j.find("spec");
    if (sp == j.end() || !sp->is_string()) return Error{where + ": 'spec' is missing or not a string"};
    m.spec = sp->get<std::string>();
    if (valid_utf8(m.spec) != m.spec) return Error{where + ": 'spec' is not UTF-8 text"};
    m.accel = text(j, "accel", true, where);
    if (m.accel != "kvm" && m.accel != "tcg") return Error{where + ": accel '" + m.accel + "' is not kvm or tcg"};
    m.machine = text(j, "machine", false, where);
    m.qemu = text(j, "qemu", false, where);
    if (auto g = j.find("groups"); g != j.end() && !g->is_null()) {
      if (!g->is_array() || g->size() > 64) return Error{where + ": 'groups' is not a list of at most 64 entries"};
      for (const auto& x : *g) {
        if (!x.is_string() || x.get<std::string>().size() > 4096) return Error{where + ": 'groups' has an entry that is not a short string"};
        m.groups.push_back(x.get<std::string>());
      }
    }
    m.uri = text(j, "uri", false, where);
    if (!m.uri.empty() && m.uri.rfind("tcp:", 0) != 0) return Error{where + ": uri '" + m.uri + "' is not tcp:ADDR:PORT"};
    m.nbd_port = number(j, "nbd_port", where);
    if (m.nbd_port > 65535) return Error{where + ": nbd_port is not a port"};
    m.error = text(j, "error", false, where);
    m.started_ms = number(j, "started_ms", where);
    m.resumed_us = number(j, "resumed_us", where);
    return m;
  });
}

std::string migration_key(const std::string& vm, const std::string& prefix) { return prefix + "migrations/" + vm; }

json group_to_json(const ctl::SecurityGroupSpec& g) {
  json rules = json::array();
  for (const auto& r : g.rules) {
    json x{{"id", r.id}};
    for (const auto& f : ctl::sg_rule_fields(r)) x[f.key] = f.value;
    rules.push_back(std::move(x));
  }
  json j{{"name", g.name}, {"rules", std::move(rules)}};
  if (!g.description.empty()) j["description"] = g.description;
  return j;
}

Result<ctl::SecurityGroupSpec> parse_group(const std::string& key, const std::string& value, const std::string& prefix) {
  return parse_record<ctl::SecurityGroupSpec>(key, value, [&](const json& j, const std::string& where)
                                                  -> Result<ctl::SecurityGroupSpec> {
    ctl::SecurityGroupSpec g;
    g.name = text(j, "name", true, where);
    if (auto ok = ctl::check_name(g.name); !ok) return Error{where + ": group name: " + ok.error().message};
    if (key != group_key(g.name, prefix)) return Error{where + ": names security group '" + g.name + "', not the key's"};
    g.description = text(j, "description", false, where);
    auto rules = j.find("rules");
    if (rules == j.end() || rules->is_null()) return g;
    if (!rules->is_array()) return Error{where + ": 'rules' is not a list"};
    if (rules->size() > kMaxGroupRules) return Error{where + ": more than 1000 rules"};
    for (const auto& r : *rules) {
      const std::string which = where + ": rule " + std::to_string(g.rules.size() + 1);
      if (!r.is_object() || r.size() > 16) return Error{which + ": not a map of settings"};
      std::vector<std::pair<std::string, std::string>> settings;
      for (const auto& [k, v] : r.items()) {
        if (v.is_string()) settings.emplace_back(k, v.get<std::string>());
        else if (v.is_number_integer()) settings.emplace_back(k, std::to_string(v.get<int64_t>()));
        else return Error{which + ": '" + valid_utf8(k) + "' is not a string or a number"};
      }
      auto rule = ctl::parse_sg_rule(settings);
      if (!rule) return Error{which + ": " + valid_utf8(rule.error().message)};
      if (rule->id == 0) return Error{which + ": it has no id"};
      for (const auto& o : g.rules)
        if (o.id == rule->id) return Error{which + ": id " + std::to_string(rule->id) + " is used twice"};
      if (!rule->remote_group.empty())
        if (auto ok = ctl::check_name(rule->remote_group); !ok)
          return Error{which + ": remote_group: " + ok.error().message};
      g.rules.push_back(*rule);
    }
    return g;
  });
}

std::string group_key(const std::string& name, const std::string& prefix) { return prefix + "sgs/" + name; }

std::string binding_key(const std::string& network, const std::string& host, const std::string& port,
                        const std::string& prefix) {
  return prefix + "bindings/" + network + "/" + host + "/" + port;
}
std::string ipam_key(const std::string& network, const std::string& address, const std::string& prefix) {
  return prefix + "ipam/" + network + "/" + address;
}

std::string network_key(const std::string& name, const std::string& prefix) { return prefix + "networks/" + name; }
std::string vni_key(uint32_t vni, const std::string& prefix) { return prefix + "vnis/" + std::to_string(vni); }

std::string host_key(const std::string& name, const std::string& prefix) { return prefix + "hosts/" + name; }
std::string member_key(const std::string& name, const std::string& prefix) { return prefix + "members/" + name; }

}  // namespace kvnet::cluster
