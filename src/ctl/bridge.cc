#include "ctl/bridge.h"

#include <algorithm>
#include <set>
#include <sstream>
#include <string_view>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "ctl/document.h"
#include "ctl/kinds/patch.h"
#include "ctl/objects.h"
#include "ctl/plan.h"
#include "ctl/topology.h"
#include "net/bytes.h"

namespace kvnet::ctl {
namespace {

constexpr const char* kVlanKeys[] = {"vlan_mode", "pvid",         "allowed",      "tagged",
                                     "untagged",  "cvlans",       "qinq_ethtype", "priority_tags"};
constexpr const char* kGenericPortKeys[] = {"name", "type", "mtu", "security_groups", "port_security", "external_ids",
                                           "allowed_addresses"};

// ------------------------------------------------------------ reading

// A kind reads its options through this view of the port's YAML map.
class YamlOptions final : public OptionReader {
 public:
  YamlOptions(const DocReader& p, const YAML::Node& n) : p_(p), n_(n) {}
  bool has(std::string_view key) const override { return static_cast<bool>(n_[std::string(key)]); }
  std::string str(std::string_view key) const override {
    const std::string v = p_.scalar(n_[std::string(key)], key);
    if (v.empty()) fail(key, "'" + std::string(key) + "' is empty");
    return v;
  }
  bool boolean(std::string_view key) const override { return p_.boolean(n_[std::string(key)], key); }
  int64_t integer(std::string_view key, int64_t lo, int64_t hi) const override {
    return p_.integer(n_[std::string(key)], key, lo, hi);
  }
  std::string path(std::string_view key) const override { return p_.path(str(key)); }
  std::vector<std::string> items(std::string_view key) const override {
    const YAML::Node n = n_[std::string(key)];
    std::vector<std::string> out;
    if (n.IsSequence()) {
      for (const auto& i : n) out.push_back(trimmed(p_.scalar(i, key)));
    } else {
      std::stringstream ss(p_.scalar(n, key));
      std::string part;
      while (std::getline(ss, part, ',')) out.push_back(trimmed(part));
    }
    if (out.empty()) fail(key, "'" + std::string(key) + "' is empty");
    for (const auto& i : out)
      if (i.empty()) fail(key, "'" + std::string(key) + "' has an empty item");
    return out;
  }
  std::vector<std::pair<std::string, std::string>> pairs(std::string_view key) const override {
    const YAML::Node n = n_[std::string(key)];
    std::vector<std::pair<std::string, std::string>> out;
    if (n.IsMap()) {
      for (const auto& kv : n) out.emplace_back(trimmed(p_.scalar(kv.first, key)), trimmed(p_.scalar(kv.second, key)));
    } else {
      for (const auto& item : items(key)) {
        const auto colon = item.find(':');
        if (colon == std::string::npos)
          fail(key, "'" + std::string(key) + "': '" + item + "' is not KEY:VALUE");
        out.emplace_back(trimmed(item.substr(0, colon)), trimmed(item.substr(colon + 1)));
      }
    }
    if (out.empty()) fail(key, "'" + std::string(key) + "' is empty");
    for (const auto& [k, v] : out)
      if (k.empty() || v.empty()) fail(key, "'" + std::string(key) + "' has an empty key or value");
    return out;
  }
  [[noreturn]] void fail(std::string_view key, const std::string& what) const override {
    p_.fail(key.empty() ? n_ : n_[std::string(key)], what);
  }

 private:
  const DocReader& p_;
  const YAML::Node& n_;
};

// Like check_keys, but a key another kind knows gets "applies to K ports only".
void check_port_keys(const DocReader& r, const YAML::Node& n, const PortKind& kind) {
  std::vector<std::string> allowed(std::begin(kGenericPortKeys), std::end(kGenericPortKeys));
  for (const char* k : kVlanKeys) allowed.emplace_back(k);
  for (const auto& k : kind.keys()) allowed.emplace_back(k.key);
  for (const auto& kv : n) {
    const std::string k = r.scalar(kv.first, "key");
    if (std::find(allowed.begin(), allowed.end(), k) != allowed.end()) continue;
    std::string owners;
    for (const PortKind* other : port_kinds())
      for (const auto& ok : other->keys())
        if (ok.key == k) owners += (owners.empty() ? "" : ", ") + std::string(other->name());
    if (!owners.empty()) r.fail(kv.first, "'" + k + "' applies to " + owners + " ports only");
  }
  r.check_keys(n, allowed, "a port");
}

void vlan_config(const DocReader& r, const YAML::Node& n, PortSpec& p, dp::BridgeType bt) {
  for (const char* k : kVlanKeys) {
    if (!n[k]) continue;
    if (bt != dp::BridgeType::kSwitch)
      r.fail(n[k], std::string("'") + k + "' applies to ports of switch bridges, not " +
                       std::string(dp::to_string(bt)) + " bridges");
    p.has_vlan_config = true;
  }
  auto& v = p.vlan;
  if (n["vlan_mode"]) {
    const std::string m = r.scalar(n["vlan_mode"], "vlan_mode");
    auto mode = dp::parse_vlan_mode(m);
    if (!mode)
      r.fail(n["vlan_mode"],
             "vlan_mode '" + m + "' is unknown (access, trunk, hybrid, native-tagged, native-untagged, dot1q-tunnel)");
    v.mode = *mode;
  }
  if (n["pvid"]) v.pvid = static_cast<uint16_t>(r.integer(n["pvid"], "pvid", dp::kMinVid, dp::kMaxVid));
  if (n["allowed"]) v.allowed = r.vlan_list(n["allowed"], "allowed");
  if (n["tagged"]) v.tagged = r.vlan_list(n["tagged"], "tagged");
  if (n["untagged"]) v.untagged = r.vlan_list(n["untagged"], "untagged");
  if (n["cvlans"]) v.cvlans = r.vlan_list(n["cvlans"], "cvlans");
  if (n["qinq_ethtype"]) {
    const std::string q = r.scalar(n["qinq_ethtype"], "qinq_ethtype");
    if (q == "802.1ad") v.qinq_tpid = 0x88a8;
    else if (q == "802.1q") v.qinq_tpid = 0x8100;
    else r.fail(n["qinq_ethtype"], "qinq_ethtype '" + q + "' is unknown (802.1ad, 802.1q)");
    if (v.mode != dp::VlanMode::kDot1qTunnel)
      r.fail(n["qinq_ethtype"], "'qinq_ethtype' applies to dot1q-tunnel ports only");
  }
  if (n["priority_tags"]) {
    const std::string s = r.scalar(n["priority_tags"], "priority_tags");
    auto pt = dp::parse_priority_tags(s);
    if (!pt) r.fail(n["priority_tags"], "priority_tags '" + s + "' is unknown (never, if-nonzero, always)");
    v.priority_tags = *pt;
  }
  if (auto s = dp::validate(v); !s) r.fail(n, s.error().message);
}

void port_security(const DocReader& r, const YAML::Node& n, PortSpec& p) {
  if (n["security_groups"]) {
    p.security.groups = r.words(n["security_groups"], "security_groups");
    for (size_t i = 0; i < p.security.groups.size(); ++i)
      for (size_t j = 0; j < i; ++j)
        if (p.security.groups[i] == p.security.groups[j])
          r.fail(n["security_groups"], "security group '" + p.security.groups[i] + "' is listed twice");
  }
  if (n["port_security"]) p.security.port_security = r.boolean(n["port_security"], "port_security");
  if (n["allowed_addresses"]) {
    for (const auto& w : r.words(n["allowed_addresses"], "allowed_addresses")) {
      auto a = parse_allowed_address(w);
      if (!a) r.fail(n["allowed_addresses"], a.error().message);
      p.security.allowed.push_back(*a);
    }
  }
}

PortSpec read_port(DocReader& r, const YAML::Node& n, const std::string& bridge, dp::BridgeType bt) {
  PortSpec p;
  p.loc = loc_of(n);
  r.set_context("bridge '" + bridge + "': ");
  if (!n.IsMap()) r.fail(n, "a port must be a mapping");
  if (!n["name"]) r.fail(n, "a port needs a 'name'");
  p.name = r.scalar(n["name"], "name");
  r.set_context(r.context() + "port '" + p.name + "': ");
  if (auto s = check_name(p.name); !s) r.fail(n["name"], s.error().message);
  if (!n["type"]) r.fail(n, "'type' is required (" + port_kind_names() + ")");
  const std::string type = r.scalar(n["type"], "type");
  p.kind = find_port_kind(type);
  if (!p.kind) r.fail(n["type"], "type '" + type + "' is unknown (" + port_kind_names() + ")");
  check_port_keys(r, n, *p.kind);
  if (n["mtu"]) {
    p.mtu = static_cast<uint32_t>(r.integer(n["mtu"], "mtu", dp::kMinMtu, dp::kMaxMtu));
    p.mtu_given = true;
  }
  p.options = p.kind->parse(YamlOptions(r, n));
  vlan_config(r, n, p, bt);
  port_security(r, n, p);
  if (const YAML::Node x = n["external_ids"]) {
    if (!x.IsMap()) r.fail(x, "'external_ids' must be a map of strings");
    for (const auto& kv : x) p.external_ids[r.scalar(kv.first, "external_ids")] = r.scalar(kv.second, "external_ids");
  }
  if (auto v = p.kind->implied_vlan(*p.options); v && bt == dp::BridgeType::kSwitch && !n["vlan_mode"] && !n["allowed"]) {
    // Keys given beside the implied ones are kept (the kind's validate checks them).
    if (n["pvid"]) v->pvid = p.vlan.pvid;
    v->priority_tags = p.vlan.priority_tags;
    p.vlan = *v;
    p.has_vlan_config = true;
  }
  return p;
}

FdbSpec read_fdb_entry(const DocReader& r, const YAML::Node& n, dp::BridgeType bt) {
  FdbSpec f;
  f.loc = loc_of(n);
  r.check_keys(n, {"vlan", "mac", "port", "remote_ip"}, "a static FDB entry");
  if (!n["mac"] || !n["port"]) r.fail(n, "a static FDB entry needs 'mac' and 'port'");
  const std::string m = r.scalar(n["mac"], "mac");
  auto mac = net::Mac::parse(m);
  if (!mac) r.fail(n["mac"], "mac '" + m + "' is not a MAC address (aa:bb:cc:dd:ee:ff)");
  f.mac = mac->u64();
  f.port = r.scalar(n["port"], "port");
  if (n["remote_ip"]) f.remote_ip = r.scalar(n["remote_ip"], "remote_ip");
  if (bt == dp::BridgeType::kSwitch) {
    if (!n["vlan"]) r.fail(n, "a static FDB entry of a switch needs 'vlan'");
    f.vlan = static_cast<uint16_t>(r.integer(n["vlan"], "vlan", dp::kMinVid, dp::kMaxVid));
  } else if (n["vlan"]) {
    r.fail(n["vlan"], "'vlan' applies to static FDB entries of switch bridges only");
  }
  return f;
}

void bridge_settings(const DocReader& r, const YAML::Node& n, BridgeSpec& b) {
  if (n["type"]) {
    const std::string t = r.scalar(n["type"], "type");
    auto bt = dp::parse_bridge_type(t);
    if (!bt) r.fail(n["type"], "type '" + t + "' is unknown (switch, learning, hub)");
    b.type = *bt;
  }
  const bool hub = b.type == dp::BridgeType::kHub;
  if (n["mac_aging"]) {
    if (hub) r.fail(n["mac_aging"], "'mac_aging' applies to learning and switch bridges, not hubs");
    b.settings.mac_aging_sec = static_cast<uint32_t>(r.integer(n["mac_aging"], "mac_aging", 1, 1000000));
  }
  if (n["mac_table_size"]) {
    if (hub) r.fail(n["mac_table_size"], "'mac_table_size' applies to learning and switch bridges, not hubs");
    b.settings.mac_table_size = static_cast<uint32_t>(r.integer(n["mac_table_size"], "mac_table_size", 1, 1 << 20));
  }
  if (n["conntrack_max"])
    b.settings.conntrack_max = static_cast<uint32_t>(r.integer(n["conntrack_max"], "conntrack_max", 1, 1 << 24));
  if (n["fast_path"]) b.settings.fast_path = r.boolean(n["fast_path"], "fast_path");
  if (const YAML::Node t = n["conntrack_timeouts"]) {
    // A mapping {udp: 5} in files; the text "udp:5,icmp:10" from `set bridge`.
    if (t.IsMap()) {
      for (const auto& kv : t) {
        const std::string name = r.scalar(kv.first, "conntrack_timeouts key");
        const int64_t v = r.integer(kv.second, "conntrack_timeouts " + name, 1, kMaxConntrackTimeoutSec);
        if (auto st = set_conntrack_timeout(b.settings.conntrack_timeouts, name, v); !st)
          r.fail(kv.first, st.error().message);
      }
    } else {
      auto parsed = parse_conntrack_timeouts(r.scalar(t, "conntrack_timeouts"));
      if (!parsed) r.fail(t, parsed.error().message);
      b.settings.conntrack_timeouts = *parsed;
    }
  }
}

BridgeSpec read_bridge(DocReader& r, const YAML::Node& n) {
  BridgeSpec b;
  b.loc = loc_of(n);
  b.name = r.named_object(n, "bridge",
                          {"name", "type", "mac_aging", "mac_table_size", "conntrack_max", "conntrack_timeouts",
                           "fast_path", "ports", "fdb", "mirrors"});
  bridge_settings(r, n, b);
  if (n["ports"]) {
    if (!n["ports"].IsSequence()) r.fail(n["ports"], "'ports' must be a list");
    for (const auto& pn : n["ports"]) b.ports.push_back(read_port(r, pn, b.name, b.type));
    r.set_context("bridge '" + b.name + "': ");
  }
  if (n["fdb"]) {
    if (!n["fdb"].IsSequence()) r.fail(n["fdb"], "'fdb' must be a list");
    for (const auto& fn : n["fdb"]) b.fdb.push_back(read_fdb_entry(r, fn, b.type));
  }
  if (n["mirrors"]) {
    if (!n["mirrors"].IsSequence()) r.fail(n["mirrors"], "'mirrors' must be a list");
    for (const auto& mn : n["mirrors"]) b.mirrors.push_back(read_mirror(r, mn, b.name, b.type));
    r.set_context("bridge '" + b.name + "': ");
  }
  return b;
}

void check_port(const DocChecker& c, const Topology& t, const BridgeSpec& b, const PortSpec& p) {
  const auto pctx = [&] { return "bridge '" + b.name + "': port '" + p.name + "': "; };
  if (auto s = check_name(p.name); !s) c.fail(p.loc, pctx(), s.error().message);
  if (!p.kind || !p.options) c.fail(p.loc, pctx(), "has no kind");
  if (p.has_vlan_config && b.type != dp::BridgeType::kSwitch)
    c.fail(p.loc, pctx(),
           "VLAN settings apply to ports of switch bridges, not " + std::string(dp::to_string(b.type)) + " bridges");
  if (auto s = dp::validate(p.vlan); !s) c.fail(p.loc, pctx(), s.error().message);
  if (auto s = p.kind->validate(p, b, t, c.options().allow_dangling_patches); !s) c.fail(p.loc, pctx(), s.error().message);
}

// The bridge's static FDB entries (those naming `port` only, when given).
void check_fdb(const DocChecker& c, const BridgeSpec& b, const std::string* port = nullptr) {
  const std::string ctx = "bridge '" + b.name + "': ";
  if (b.type == dp::BridgeType::kHub && !b.fdb.empty())
    c.fail(b.fdb[0].loc, ctx, "a hub has no FDB: static entries apply to learning and switch bridges");
  std::set<std::pair<uint16_t, uint64_t>> keys;
  for (const auto& f : b.fdb) {
    if (port && f.port != *port) continue;
    const std::string m = net::Mac::from_u64(f.mac).str();
    if (net::Mac::from_u64(f.mac).is_multicast() || f.mac == 0)
      c.fail(f.loc, ctx, "static FDB entry " + m + " must be a unicast MAC");
    if (b.type == dp::BridgeType::kSwitch && (f.vlan < dp::kMinVid || f.vlan > dp::kMaxVid))
      c.fail(f.loc, ctx, "static FDB entry " + m + ": a switch needs a 'vlan' of 1-4094");
    if (b.type != dp::BridgeType::kSwitch && f.vlan != 0)
      c.fail(f.loc, ctx,
             "static FDB entry " + m + ": VLAN " + std::to_string(f.vlan) + " given, but a " +
                 std::string(dp::to_string(b.type)) +
                 " bridge has no VLANs: give VLAN 0 (VLANs apply to switch bridges only)");
    const PortSpec* p = b.find_port(f.port);
    if (!p) c.fail(f.loc, ctx, "static FDB entry " + m + ": port '" + f.port + "' is not a port of this bridge");
    if (b.type == dp::BridgeType::kSwitch && !dp::VlanPort(p->vlan).member(f.vlan))
      c.fail(f.loc, ctx,
             "static FDB entry " + m + ": port '" + f.port + "' does not carry VLAN " + std::to_string(f.vlan));
    if (!f.remote_ip.empty())
      if (auto s = p->kind->check_remote(*p, f.remote_ip); !s)
        c.fail(f.loc, ctx, "static FDB entry " + m + ": " + s.error().message);
    if (!keys.insert({f.vlan, f.mac}).second)
      c.fail(f.loc, ctx, "static FDB entry " + m + " is listed twice for VLAN " + std::to_string(f.vlan));
  }
  if (b.type != dp::BridgeType::kHub && b.fdb.size() > b.settings.mac_table_size)
    c.fail(b.loc, ctx,
           "static FDB entries (" + std::to_string(b.fdb.size()) + ") exceed mac_table_size " +
               std::to_string(b.settings.mac_table_size));
}

// The bridge's own rules: its name and settings, its static FDB entries.
void check_bridge_own(const DocChecker& c, const BridgeSpec& b) {
  const std::string ctx = "bridge '" + b.name + "': ";
  if (auto s = check_name(b.name); !s) c.fail(b.loc, ctx, s.error().message);
  const bool hub = b.type == dp::BridgeType::kHub;
  if (hub && b.settings.mac_aging_sec != dp::kDefaultMacAgingSec)
    c.fail(b.loc, ctx, "'mac_aging' applies to learning and switch bridges, not hubs");
  if (hub && b.settings.mac_table_size != dp::kDefaultMacTableSize)
    c.fail(b.loc, ctx, "'mac_table_size' applies to learning and switch bridges, not hubs");
  check_fdb(c, b);
}

// A scoped edit's rules (ctl/scope.h): those of the bridges and ports it
// names, and of what refers to a named port (its static FDB entries, the
// patch ports naming it as their peer). A port name is looked for on every
// bridge once (unique across bridges).
void check_scope(const DocChecker& c, const Topology& t) {
  const Scope& scope = c.scope();
  for (const auto& name : scope.bridges())
    if (const BridgeSpec* b = t.find_bridge(name)) check_bridge_own(c, *b);
  for (const auto& r : scope.ports()) {
    const BridgeSpec* b = t.find_bridge(r.bridge);
    if (!b) continue;
    // One pass over every port: the port's namesakes and its patch peers.
    size_t named = 0;
    std::vector<std::pair<const BridgeSpec*, const PortSpec*>> peers;
    for (const auto& o : t.bridges)
      for (const auto& q : o.ports) {
        if (q.name == r.port) ++named;
        else if (q.kind && q.kind->is_patch())
          if (const auto* po = q.as<PatchOptions>(); po && po->peer_port == r.port && po->peer_bridge == r.bridge)
            peers.push_back({&o, &q});
      }
    if (const PortSpec* p = b->find_port(r.port)) {
      if (named > 1)
        c.fail(p->loc, "bridge '" + b->name + "': ",
               "duplicate port name '" + p->name + "' (port names are unique across bridges)");
      check_port(c, t, *b, *p);
    }
    check_fdb(c, *b, &r.port);
    for (const auto& [o, q] : peers) check_port(c, t, *o, *q);
  }
}

// ------------------------------------------------------------ writing

void emit_port(YAML::Emitter& e, const PortSpec& p, dp::BridgeType bt) {
  e << YAML::Flow << YAML::BeginMap;
  for (const auto& f : port_fields(p, bt)) {
    e << YAML::Key << f.key << YAML::Value;
    emit_value(e, f);
  }
  e << YAML::EndMap;
}

const FdbSpec* find_fdb(const BridgeSpec& b, const FdbSpec& f) {
  for (const auto& e : b.fdb)
    if (e.vlan == f.vlan && e.mac == f.mac) return &e;
  return nullptr;
}

std::string fdb_object(const std::string& bridge, const FdbSpec& f) {
  return bridge + " " + std::to_string(f.vlan) + " " + net::Mac::from_u64(f.mac).str() + " " + f.port +
         (f.remote_ip.empty() ? "" : " remote_ip=" + f.remote_ip);
}

class BridgeObjects final : public ObjectType {
 public:
  std::string_view name() const override { return "bridge"; }
  std::string_view section() const override { return "bridges"; }

  void read(DocReader& r, const YAML::Node& list, Topology& t) const override {
    for (const auto& bn : list) t.bridges.push_back(read_bridge(r, bn));
  }

  // Always written: `bridges:` is the one section a topology must have.
  void write(YAML::Emitter& e, const Topology& t) const override {
    e << YAML::Key << "bridges" << YAML::Value;
    if (t.bridges.empty()) e << YAML::Flow;
    e << YAML::BeginSeq;
    for (const auto& b : t.bridges) {
      e << YAML::BeginMap;
      e << YAML::Key << "name" << YAML::Value << b.name;
      e << YAML::Key << "type" << YAML::Value << std::string(dp::to_string(b.type));
      if (b.type != dp::BridgeType::kHub) {
        if (b.settings.mac_aging_sec != dp::kDefaultMacAgingSec)
          e << YAML::Key << "mac_aging" << YAML::Value << b.settings.mac_aging_sec;
        if (b.settings.mac_table_size != dp::kDefaultMacTableSize)
          e << YAML::Key << "mac_table_size" << YAML::Value << b.settings.mac_table_size;
      }
      if (b.settings.conntrack_max != dp::kConntrackSize)
        e << YAML::Key << "conntrack_max" << YAML::Value << b.settings.conntrack_max;
      if (!b.settings.fast_path) e << YAML::Key << "fast_path" << YAML::Value << false;
      if (b.settings.conntrack_timeouts != dp::ConntrackTimeouts{}) {
        e << YAML::Key << "conntrack_timeouts" << YAML::Value << YAML::Flow << YAML::BeginMap;
        for (const auto& [name, sec] : conntrack_timeout_values(b.settings.conntrack_timeouts, true))
          e << YAML::Key << std::string(name) << YAML::Value << sec;
        e << YAML::EndMap;
      }
      if (!b.fdb.empty()) {
        e << YAML::Key << "fdb" << YAML::Value << YAML::BeginSeq;
        for (const auto& f : b.fdb) {
          e << YAML::Flow << YAML::BeginMap;
          if (b.type == dp::BridgeType::kSwitch) e << YAML::Key << "vlan" << YAML::Value << f.vlan;
          e << YAML::Key << "mac" << YAML::Value << YAML::DoubleQuoted << net::Mac::from_u64(f.mac).str();
          e << YAML::Key << "port" << YAML::Value << f.port;
          if (!f.remote_ip.empty()) e << YAML::Key << "remote_ip" << YAML::Value << f.remote_ip;
          e << YAML::EndMap;
        }
        e << YAML::EndSeq;
      }
      e << YAML::Key << "ports" << YAML::Value;
      const bool listed = std::any_of(b.ports.begin(), b.ports.end(),
                                      [&](const PortSpec& p) { return !gateway_of_port(t, p.name); });
      if (!listed) e << YAML::Flow;
      e << YAML::BeginSeq;
      for (const auto& p : b.ports)
        if (!gateway_of_port(t, p.name)) emit_port(e, p, b.type);  // a gateway's port is implied
      e << YAML::EndSeq;
      if (!b.mirrors.empty()) {
        e << YAML::Key << "mirrors" << YAML::Value << YAML::BeginSeq;
        for (const auto& m : b.mirrors) emit_mirror(e, m);
        e << YAML::EndSeq;
      }
      e << YAML::EndMap;
    }
    e << YAML::EndSeq;
  }

  void check(const DocChecker& c) const override {
    const Topology& t = c.topology();
    if (!c.scope().whole()) return check_scope(c, t);
    std::set<std::string> bridges, ports;
    for (const auto& b : t.bridges) {
      if (!bridges.insert(b.name).second) c.fail(b.loc, "", "duplicate bridge name '" + b.name + "'");
      for (const auto& p : b.ports)
        if (!ports.insert(p.name).second)
          c.fail(p.loc, "bridge '" + b.name + "': ",
                 "duplicate port name '" + p.name + "' (port names are unique across bridges)");
    }
    for (const auto& b : t.bridges) {
      check_bridge_own(c, b);
      for (const auto& p : b.ports) check_port(c, t, b, p);
    }
  }

  // Bridges, their ports and static FDB entries (and the mirror lines of
  // bridges that come or go whole).
  void plan(const Topology& cur, const Topology& next, PlanLines& lines, Plan& p) const override {
    if (!p.scope.whole()) return plan_scope(cur, next, lines, p);
    // Bridges.
    for (const auto& b : cur.bridges) {
      const BridgeSpec* nb = next.find_bridge(b.name);
      if (nb && nb->type == b.type) continue;
      p.bridges_removed.push_back(b.name);
      if (!nb) {
        for (const auto& f : b.fdb) lines.minus.push_back({'-', "fdb", fdb_object(b.name, f), {}});
        for (const auto& m : b.mirrors) lines.minus.push_back({'-', "mirror", b.name + "/" + m.name, {}});
        for (const auto& port : b.ports) lines.minus.push_back({'-', "port", b.name + "/" + port.name, {}});
        lines.minus.push_back({'-', "bridge", b.name, {}});
      }
    }
    for (const auto& nb : next.bridges) {
      const BridgeSpec* ob = cur.find_bridge(nb.name);
      const bool fresh = !ob || ob->type != nb.type;
      if (fresh) {
        p.bridges_added.push_back(nb.name);
        if (ob) lines.tilde.push_back({'~', "bridge", nb.name, diff(bridge_fields(*ob), bridge_fields(nb))});
        else lines.plus.push_back({'+', "bridge", nb.name, {}});
        for (const auto& port : nb.ports) {
          p.ports_added.push_back({nb.name, port.name});
          lines.plus.push_back({'+', "port", nb.name + "/" + port.name, {}});
        }
        for (const auto& f : nb.fdb) {
          p.fdb_added.push_back({nb.name, f});
          lines.plus.push_back({'+', "fdb", fdb_object(nb.name, f), {}});
        }
        for (const auto& m : nb.mirrors) lines.plus.push_back({'+', "mirror", nb.name + "/" + m.name, {}});
        continue;
      }
      if (auto keys = diff(bridge_fields(*ob), bridge_fields(nb)); !keys.empty()) {
        p.bridges_changed.push_back(nb.name);
        lines.tilde.push_back({'~', "bridge", nb.name, std::move(keys)});
      }
      // Ports of a bridge that stays (each found once by name, not by a scan).
      std::unordered_map<std::string_view, const PortSpec*> old_ports, new_ports;
      for (const auto& op : ob->ports) old_ports.emplace(op.name, &op);
      for (const auto& np : nb.ports) new_ports.emplace(np.name, &np);
      for (const auto& op : ob->ports)
        if (!new_ports.count(op.name)) plan_port(*ob, &op, nb, nullptr, lines, p);
      for (const auto& np : nb.ports) {
        const auto found = old_ports.find(np.name);
        plan_port(*ob, found == old_ports.end() ? nullptr : found->second, nb, &np, lines, p);
      }
      plan_fdb(*ob, nb, lines, p);
    }

    // A port that moved to another bridge is removed from the old one: it was
    // listed as added to the new bridge above.
    for (const auto& name : p.bridges_removed)
      std::erase_if(p.ports_removed, [&](const PortRef& r) { return r.bridge == name; });
  }

  // A scoped edit (ctl/scope.h): the settings and FDB entries of the bridges
  // it names and the ports it names, each found by name.
  // In the whole plan's order: a bridge's settings, its ports, its entries.
  static void plan_scope(const Topology& cur, const Topology& next, PlanLines& lines, Plan& p) {
    for (const auto& name : p.scope.bridges()) {
      const BridgeSpec* ob = cur.find_bridge(name);
      const BridgeSpec* nb = next.find_bridge(name);
      if (!ob || !nb) continue;  // bridges come and go in whole edits only
      if (auto keys = diff(bridge_fields(*ob), bridge_fields(*nb)); !keys.empty()) {
        p.bridges_changed.push_back(nb->name);
        lines.tilde.push_back({'~', "bridge", nb->name, std::move(keys)});
      }
    }
    for (const auto& r : p.scope.ports()) {
      const BridgeSpec* ob = cur.find_bridge(r.bridge);
      const BridgeSpec* nb = next.find_bridge(r.bridge);
      if (!ob || !nb) continue;
      plan_port(*ob, ob->find_port(r.port), *nb, nb->find_port(r.port), lines, p);
    }
    for (const auto& name : p.scope.bridges()) {
      const BridgeSpec* ob = cur.find_bridge(name);
      const BridgeSpec* nb = next.find_bridge(name);
      if (ob && nb) plan_fdb(*ob, *nb, lines, p);
    }
  }

  // One port of a bridge that stays: gone (np null), new (op null) or changed.
  static void plan_port(const BridgeSpec& ob, const PortSpec* op, const BridgeSpec& nb, const PortSpec* np,
                        PlanLines& lines, Plan& p) {
    if (!np) {
      if (!op) return;
      p.ports_removed.push_back({nb.name, op->name});
      lines.minus.push_back({'-', "port", nb.name + "/" + op->name, {}});
      return;
    }
    if (!op) {
      p.ports_added.push_back({nb.name, np->name});
      lines.plus.push_back({'+', "port", nb.name + "/" + np->name, {}});
      return;
    }
    auto keys = diff(port_fields(*op, ob.type), port_fields(*np, nb.type));
    if (keys.empty()) return;
    if (op->kind == np->kind && np->kind->same_backend(*op->options, *np->options)) {
      p.ports_reconfigured.push_back({nb.name, np->name});
    } else {
      p.ports_removed.push_back({nb.name, np->name});
      p.ports_added.push_back({nb.name, np->name});
    }
    lines.tilde.push_back({'~', "port", nb.name + "/" + np->name, std::move(keys)});
  }

  // Static FDB entries of a bridge that stays, keyed by (VLAN, MAC).
  static void plan_fdb(const BridgeSpec& ob, const BridgeSpec& nb, PlanLines& lines, Plan& p) {
    for (const auto& f : ob.fdb) {
      const FdbSpec* nf = find_fdb(nb, f);
      if (nf && nf->port == f.port && nf->remote_ip == f.remote_ip) continue;
      p.fdb_removed.push_back({nb.name, f});
      if (!nf) lines.minus.push_back({'-', "fdb", fdb_object(nb.name, f), {}});
    }
    for (const auto& f : nb.fdb) {
      const FdbSpec* of = find_fdb(ob, f);
      if (of && of->port == f.port && of->remote_ip == f.remote_ip) continue;
      p.fdb_added.push_back({nb.name, f});
      if (of) {
        std::vector<KeyChange> keys;
        if (of->port != f.port) keys.push_back({"port", of->port, f.port});
        if (of->remote_ip != f.remote_ip) keys.push_back({"remote_ip", of->remote_ip, f.remote_ip});
        lines.tilde.push_back({'~', "fdb", nb.name + " " + std::to_string(f.vlan) + " " + net::Mac::from_u64(f.mac).str(),
                               std::move(keys)});
      } else {
        lines.plus.push_back({'+', "fdb", fdb_object(nb.name, f), {}});
      }
    }
  }

  std::string_view schema() const override {
    return R"sql(
CREATE TABLE IF NOT EXISTS bridges(
  name TEXT PRIMARY KEY, position INTEGER NOT NULL, type TEXT NOT NULL,
  mac_aging INTEGER NOT NULL, mac_table_size INTEGER NOT NULL,
  conntrack_max INTEGER NOT NULL DEFAULT 16384, conntrack_timeouts TEXT NOT NULL DEFAULT '',
  fast_path INTEGER NOT NULL DEFAULT 1);
CREATE TABLE IF NOT EXISTS ports(
  name TEXT PRIMARY KEY, bridge TEXT NOT NULL REFERENCES bridges(name),
  position INTEGER NOT NULL, type TEXT NOT NULL, spec TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS fdb(
  bridge TEXT NOT NULL REFERENCES bridges(name), vlan INTEGER NOT NULL, mac TEXT NOT NULL,
  port TEXT NOT NULL, remote TEXT NOT NULL DEFAULT '', PRIMARY KEY(bridge, vlan, mac));
CREATE INDEX IF NOT EXISTS ports_position ON ports(position);
)sql";
  }
  std::vector<const char*> tables() const override { return {"bridges", "ports", "fdb"}; }

  // A port's row holds its settings in the flow-map form `export` writes.
  Status save(RowWriter& w, const Topology& t) const override {
    int bpos = 0;
    for (const auto& br : t.bridges) {
      if (auto s = w.insert("INSERT INTO bridges(name, position, type, mac_aging, mac_table_size, conntrack_max, "
                            "conntrack_timeouts, fast_path) VALUES(?,?,?,?,?,?,?,?)",
                            {br.name, std::to_string(bpos++), std::string(dp::to_string(br.type)),
                             std::to_string(br.settings.mac_aging_sec), std::to_string(br.settings.mac_table_size),
                             std::to_string(br.settings.conntrack_max),
                             conntrack_timeouts_str(br.settings.conntrack_timeouts), br.settings.fast_path ? "1" : "0"},
                            "bridge '" + br.name + "'");
          !s)
        return s;
      int ppos = 0;
      for (const auto& port : br.ports)
        if (auto s = w.insert("INSERT INTO ports VALUES(?,?,?,?,?)",
                              {port.name, br.name, std::to_string(ppos++), std::string(port.kind->name()),
                               port_to_yaml(port, br.type)},
                              "port '" + port.name + "'");
            !s)
          return s;
      for (const auto& e : br.fdb)
        if (auto s = w.insert("INSERT INTO fdb(bridge, vlan, mac, port, remote) VALUES(?,?,?,?,?)",
                              {br.name, std::to_string(e.vlan), net::Mac::from_u64(e.mac).str(), e.port, e.remote_ip},
                              "static FDB entry");
            !s)
          return s;
    }
    return Ok{};
  }

  // A scoped edit: the named bridges' own row and static entries, the named
  // ports' rows (a new port goes after every stored one; one gone is deleted
  // and leaves a gap in the positions, which only order).
  Status save_scope(RowWriter& w, const Topology& t, const Scope& scope) const override {
    for (const auto& name : scope.bridges()) {
      const BridgeSpec* br = t.find_bridge(name);
      if (!br) continue;
      if (auto s = w.exec("UPDATE bridges SET type = ?, mac_aging = ?, mac_table_size = ?, conntrack_max = ?, "
                          "conntrack_timeouts = ?, fast_path = ? WHERE name = ?",
                          {std::string(dp::to_string(br->type)), std::to_string(br->settings.mac_aging_sec),
                           std::to_string(br->settings.mac_table_size), std::to_string(br->settings.conntrack_max),
                           conntrack_timeouts_str(br->settings.conntrack_timeouts), br->settings.fast_path ? "1" : "0",
                           br->name},
                          "bridge '" + br->name + "'");
          !s)
        return s;
      if (auto s = w.exec("DELETE FROM fdb WHERE bridge = ?", {br->name}, "static FDB entries"); !s) return s;
      for (const auto& e : br->fdb)
        if (auto s = w.exec("INSERT INTO fdb(bridge, vlan, mac, port, remote) VALUES(?,?,?,?,?)",
                            {br->name, std::to_string(e.vlan), net::Mac::from_u64(e.mac).str(), e.port, e.remote_ip},
                            "static FDB entry");
            !s)
          return s;
    }
    for (const auto& r : scope.ports()) {
      const BridgeSpec* br = t.find_bridge(r.bridge);
      const PortSpec* port = br ? br->find_port(r.port) : nullptr;
      auto s = port ? w.exec("INSERT INTO ports(name, bridge, position, type, spec) VALUES(?1, ?2, "
                             "(SELECT COALESCE(MAX(position), -1) + 1 FROM ports), ?3, ?4) ON CONFLICT(name) DO "
                             "UPDATE SET bridge = excluded.bridge, type = excluded.type, spec = excluded.spec",
                             {port->name, br->name, std::string(port->kind->name()), port_to_yaml(*port, br->type)},
                             "port '" + port->name + "'")
                    : w.exec("DELETE FROM ports WHERE name = ?", {r.port}, "port '" + r.port + "'");
      if (!s) return s;
    }
    return Ok{};
  }

  Status load(RowReader& r, Topology& t) const override {
    auto s = r.select(
        "SELECT name, type, mac_aging, mac_table_size, conntrack_max, conntrack_timeouts, fast_path FROM bridges "
        "ORDER BY position",
        [&](const RowReader::Row& row) -> Status {
          Settings settings;
          if (row[1] != "hub") settings = {{"mac_aging", row[2]}, {"mac_table_size", row[3]}};
          settings.push_back({"conntrack_max", row[4]});
          if (!row[5].empty()) settings.push_back({"conntrack_timeouts", row[5]});
          if (row[6] == "0") settings.push_back({"fast_path", "false"});
          auto br = make_bridge(row[0], row[1], settings);
          if (!br) return br.error();
          t.bridges.push_back(std::move(*br));
          return Ok{};
        });
    if (!s) return s;
    // (each bridge's rows in their order; the foreign keys name existing bridges)
    s = r.select("SELECT bridge, spec FROM ports ORDER BY position", [&](const RowReader::Row& row) -> Status {
      BridgeSpec* br = t.find_bridge(row[0]);
      if (!br) return Error{"port of bridge '" + row[0] + "', which does not exist"};
      auto port = parse_port(*br, row[1]);
      if (!port) return port.error();
      br->ports.push_back(std::move(*port));
      return Ok{};
    });
    if (!s) return s;
    return r.select("SELECT bridge, vlan, mac, port, remote FROM fdb ORDER BY rowid",
                    [&](const RowReader::Row& row) -> Status {
                      BridgeSpec* br = t.find_bridge(row[0]);
                      if (!br) return Error{"static FDB entry of bridge '" + row[0] + "', which does not exist"};
                      auto mac = net::Mac::parse(row[2]);
                      if (!mac) return Error{"bridge '" + br->name + "': static FDB entry: bad MAC '" + row[2] + "'"};
                      br->fdb.push_back({static_cast<uint16_t>(std::stoi(row[1])), mac->u64(), row[3], {}, row[4]});
                      return Ok{};
                    });
  }
};

}  // namespace

const ObjectType& bridge_type() {
  static const BridgeObjects kType;
  return kType;
}

const PortSpec* BridgeSpec::find_port(const std::string& pname) const {
  for (const auto& p : ports)
    if (p.name == pname) return &p;
  return nullptr;
}

const MirrorSpec* BridgeSpec::find_mirror(const std::string& mname) const {
  for (const auto& m : mirrors)
    if (m.name == mname) return &m;
  return nullptr;
}

Fields bridge_fields(const BridgeSpec& b) {
  Fields f{{"type", std::string(dp::to_string(b.type))}};
  if (b.type != dp::BridgeType::kHub) {
    f.push_back({"mac_aging", std::to_string(b.settings.mac_aging_sec)});
    f.push_back({"mac_table_size", std::to_string(b.settings.mac_table_size)});
  }
  f.push_back({"conntrack_max", std::to_string(b.settings.conntrack_max)});
  if (auto t = conntrack_timeouts_str(b.settings.conntrack_timeouts); !t.empty()) f.push_back({"conntrack_timeouts", t});
  if (!b.settings.fast_path) f.push_back({"fast_path", "false"});
  return f;
}

Result<PortSpec> make_port(const BridgeSpec& bridge, const std::string& name, const Settings& s,
                           std::vector<std::string>* warnings) {
  PortSpec p;
  p.name = name;
  return update_port(bridge, p, s, warnings);
}
namespace {

Result<Settings> ovs_vlan_aliases(const std::string& port, const Settings& given) {
  auto has = [&](const char* key) {
    for (const auto& [k, v] : given)
      if (k == key) return true;
    return false;
  };
  const bool tag = has("tag"), trunks = has("trunks");
  if (!tag && !trunks) return given;
  const std::string ctx = "port '" + port + "': ";
  if (tag && has("pvid")) return Error{ctx + "'tag' is OVS's name for 'pvid': give one of them"};
  if (trunks && has("allowed")) return Error{ctx + "'trunks' is OVS's name for 'allowed': give one of them"};
  if (tag && trunks && !has("vlan_mode"))
    return Error{ctx + "'tag' with 'trunks' needs a vlan_mode (native-untagged or native-tagged; OVS would " +
                 "make it an access port and ignore 'trunks')"};
  Settings out;
  for (const auto& [k, v] : given) {
    if (k == "tag") {
      out.push_back({"pvid", v});
      if (!has("vlan_mode") && !v.empty()) out.push_back({"vlan_mode", "access"});
    } else if (k == "trunks") {
      out.push_back({"allowed", v});
      if (!has("vlan_mode") && !v.empty()) out.push_back({"vlan_mode", "trunk"});
    } else {
      out.push_back({k, v});
    }
  }
  return out;
}

}  // namespace

Result<PortSpec> update_port(const BridgeSpec& bridge, const PortSpec& p, const Settings& given,
                             std::vector<std::string>* warnings) {
  auto aliased = ovs_vlan_aliases(p.name, given);
  if (!aliased) return aliased.error();
  const Settings& s = *aliased;
  const dp::BridgeType bt = bridge.type;
  Fields base;
  if (p.kind) {
    base = port_fields(p, bt);
  } else {
    base.push_back({"name", p.name});
    base.push_back({"type", "system"});  // ovs-vsctl's default: an existing kernel interface
  }
  // A new vlan_mode drops list keys it does not use, unless they are given too.
  for (const auto& [k, v] : s)
    if (k == "vlan_mode") {
      const std::string mode = v;  // (clang 14 cannot capture a structured binding)
      const bool trunk_like = mode == "trunk" || mode == "native-tagged" || mode == "native-untagged";
      auto given = [&](const char* key) {
        for (const auto& c : s)
          if (c.first == key) return true;
        return false;
      };
      std::erase_if(base, [&](const Field& f) {
        if (given(f.key.c_str())) return false;
        if (f.key == "allowed") return !trunk_like;
        if (f.key == "tagged" || f.key == "untagged") return mode != "hybrid";
        if (f.key == "cvlans" || f.key == "qinq_ethtype") return mode != "dot1q-tunnel";
        return false;
      });
    }
  // A VLAN configuration the kind implied from the old options (a tunnel's
  // vni_map: a trunk of the mapped VLANs), or the default one, follows the
  // new options, unless VLAN keys are given.
  if (p.kind && bt == dp::BridgeType::kSwitch) {
    const dp::VlanConfig was = p.kind->implied_vlan(*p.options).value_or(dp::VlanConfig{});
    bool vlan_given = false;
    for (const auto& [k, v] : s)
      for (const char* vk : kVlanKeys) vlan_given = vlan_given || k == vk;
    if (!vlan_given && was.mode == p.vlan.mode && was.allowed == p.vlan.allowed)
      std::erase_if(base, [&](const Field& f) {
        return f.key == "vlan_mode" || f.key == "allowed" || (f.key == "pvid" && p.vlan.pvid == was.pvid);
      });
  }
  for (const auto& [k, v] : s)
    if (k == "name")
      return Error{"bridge '" + bridge.name + "': port '" + p.name + "': a port's name cannot be changed; delete and add it"};
  return guarded("", [&] {
    DocReader reader("", "/");
    // External ids are copied and changed here: their values may hold what
    // the text form of a setting cannot (',' and ':').
    std::erase_if(base, [](const Field& f) { return f.key == "external_ids"; });
    Settings rest;
    std::map<std::string, std::string> ids = p.external_ids;
    for (const auto& [k, v] : s) {
      if (k == "external_ids") {
        ids.clear();
        if (!v.empty())
          throw DocError{"port '" + p.name + "': external_ids are set one key at a time: external_ids:KEY=VALUE"};
      } else if (k.starts_with("external_ids:")) {
        const std::string key = k.substr(std::string_view("external_ids:").size());
        if (key.empty()) throw DocError{"port '" + p.name + "': 'external_ids:' needs a key"};
        if (v.empty()) ids.erase(key);
        else ids[key] = v;
      } else {
        rest.push_back({k, v});
      }
    }
    YAML::Node n = settings_node(base, rest);
    PortSpec out = read_port(reader, n, bridge.name, bt);
    out.external_ids = std::move(ids);
    out.loc = {};
    if (warnings) warnings->insert(warnings->end(), reader.warnings.begin(), reader.warnings.end());
    return out;
  });
}

Result<BridgeSpec> make_bridge(const std::string& name, const std::string& type, const Settings& s) {
  BridgeSpec b;
  b.name = name;
  if (auto s = check_name(name); !s) return Error{"bridge '" + name + "': " + s.error().message};
  Settings all = s;
  all.insert(all.begin(), {"type", type.empty() ? "switch" : type});
  return update_bridge(b, all);
}

Result<BridgeSpec> update_bridge(const BridgeSpec& b, const Settings& s) {
  for (const auto& [k, v] : s)
    if (k != "mac_aging" && k != "mac_table_size" && k != "conntrack_max" && k != "conntrack_timeouts" && k != "type" &&
        k != "fast_path")
      return Error{"bridge '" + b.name + "': '" + k +
                   "' cannot be set (mac_aging, mac_table_size, conntrack_max, conntrack_timeouts, fast_path)"};
  Fields base;
  base.push_back({"type", std::string(dp::to_string(b.type))});
  bool hub = b.type == dp::BridgeType::kHub;
  for (const auto& [k, v] : s)
    if (k == "type") hub = v == "hub";
  if (!hub) {
    base.push_back({"mac_aging", std::to_string(b.settings.mac_aging_sec)});
    base.push_back({"mac_table_size", std::to_string(b.settings.mac_table_size)});
  }
  base.push_back({"conntrack_max", std::to_string(b.settings.conntrack_max)});
  if (auto t = conntrack_timeouts_str(b.settings.conntrack_timeouts); !t.empty()) base.push_back({"conntrack_timeouts", t});
  if (!b.settings.fast_path) base.push_back({"fast_path", "false"});
  return guarded("", [&] {
    DocReader reader("", "/");
    reader.set_context("bridge '" + b.name + "': ");
    BridgeSpec out = b;
    out.settings = {};
    bridge_settings(reader, settings_node(base, s), out);
    return out;
  });
}

Result<PortSpec> parse_port(const BridgeSpec& bridge, const std::string& flow_map) {
  return guarded("", [&] {
    DocReader reader("", "/");
    return read_port(reader, YAML::Load(flow_map), bridge.name, bridge.type);
  });
}

Field external_ids_field(const std::map<std::string, std::string>& ids) {
  Field f{"external_ids", "", false, true, {ids.begin(), ids.end()}};
  // Shown (plan lines, show) as KEY=VALUE pairs, values quoted as JSON
  // strings when they hold a separator.
  for (const auto& [k, v] : ids) {
    const bool plain = v.find_first_of(", \"") == std::string::npos && !v.empty();
    f.value += (f.value.empty() ? "" : ",") + k + "=" + (plain ? v : nlohmann::json(v).dump());
  }
  return f;
}

Fields port_fields(const PortSpec& p, dp::BridgeType bt) {
  Fields out;
  out.push_back({"name", p.name});
  out.push_back({"type", std::string(p.kind->name())});
  p.kind->emit(*p.options, out);
  if (p.mtu != dp::kDefaultMtu || p.mtu_given) out.push_back({"mtu", std::to_string(p.mtu)});
  if (!p.security.groups.empty()) {
    std::string g;
    for (const auto& x : p.security.groups) g += (g.empty() ? "" : ",") + x;
    out.push_back({"security_groups", g, true});
  }
  if (p.security.port_security) out.push_back({"port_security", "true"});
  if (!p.security.allowed.empty()) {
    std::string a;
    for (const auto& x : p.security.allowed) a += (a.empty() ? "" : ",") + allowed_address_str(x);
    out.push_back({"allowed_addresses", a, true});
  }
  if (!p.external_ids.empty()) out.push_back(external_ids_field(p.external_ids));
  if (bt == dp::BridgeType::kSwitch) {
    const auto& v = p.vlan;
    out.push_back({"vlan_mode", std::string(dp::to_string(v.mode))});
    out.push_back({"pvid", std::to_string(v.pvid)});
    if (v.allowed) out.push_back({"allowed", dp::vlan_set_str(*v.allowed), true});
    if (v.tagged.any()) out.push_back({"tagged", dp::vlan_set_str(v.tagged), true});
    if (v.untagged.any()) out.push_back({"untagged", dp::vlan_set_str(v.untagged), true});
    if (v.cvlans) out.push_back({"cvlans", dp::vlan_set_str(*v.cvlans), true});
    if (v.mode == dp::VlanMode::kDot1qTunnel)
      out.push_back({"qinq_ethtype", v.qinq_tpid == 0x8100 ? "802.1q" : "802.1ad"});
    if (v.priority_tags != dp::PriorityTags::kNever)
      out.push_back({"priority_tags", std::string(dp::to_string(v.priority_tags))});
  }
  return out;
}

std::string port_to_yaml(const PortSpec& p, dp::BridgeType bt) {
  // The store writes every port's row at each save (and compares it with the
  // stored one): emitting is most of that cost, so the text is remembered
  // by the canonical fields it is made of (per thread, bounded).
  const Fields fields = port_fields(p, bt);
  std::string key;
  for (const auto& f : fields) {
    key += f.key;
    key += '\x1f';
    key += f.value;
    key += f.list ? '\x1e' : f.map ? '\x1d' : '\x1c';
  }
  thread_local std::unordered_map<std::string, std::string> memo;
  if (auto it = memo.find(key); it != memo.end()) return it->second;
  YAML::Emitter e;
  e << YAML::Flow << YAML::BeginMap;
  for (const auto& f : fields) {
    e << YAML::Key << f.key << YAML::Value;
    emit_value(e, f);
  }
  e << YAML::EndMap;
  if (memo.size() >= 65536) memo.clear();
  return memo.emplace(std::move(key), e.c_str()).first->second;
}

}  // namespace kvnet::ctl
