#include "ctl/topology.h"

#include <arpa/inet.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "ctl/firewall_build.h"
#include "net/bytes.h"

namespace kvnet::ctl {
namespace {

namespace fs = std::filesystem;

// Thrown inside this file only, turned into an Error at the API boundary.
struct TopoError {
  std::string msg;
};

constexpr const char* kVlanKeys[] = {"vlan_mode", "pvid",         "allowed",      "tagged",
                                     "untagged",  "cvlans",       "qinq_ethtype", "priority_tags"};
constexpr const char* kGenericPortKeys[] = {"name", "type", "mtu", "security_groups", "port_security",
                                           "allowed_addresses"};

std::string where(const std::string& file, Loc loc) {
  if (file.empty()) return "";
  if (loc.line <= 0) return file + ": ";
  return file + ":" + std::to_string(loc.line) + ":" + std::to_string(loc.col) + ": ";
}

Loc loc_of(const YAML::Node& n) {
  if (!n.IsDefined() || n.Mark().line < 0) return {};
  return {n.Mark().line + 1, n.Mark().column + 1};
}

// ------------------------------------------------------------ parsing

class Parser {
 public:
  Parser(std::string file, std::string base) : file_(std::move(file)), base_(std::move(base)) {}

  Topology document(const YAML::Node& root);
  // The topology of `host` in a file with a `hosts:` section, else root.
  YAML::Node host_section(const YAML::Node& root, const std::string& host) const;
  PortSpec port(const YAML::Node& n, const std::string& bridge, dp::BridgeType bt);
  void bridge_settings(const YAML::Node& n, BridgeSpec& b);
  void set_context(std::string ctx) { ctx_ = std::move(ctx); }

  [[noreturn]] void fail(const YAML::Node& n, const std::string& what) const {
    throw TopoError{where(file_, loc_of(n)) + ctx_ + what};
  }
  std::string scalar(const YAML::Node& n, std::string_view key) const {
    if (!n.IsScalar()) fail(n, "'" + std::string(key) + "' must be a scalar");
    return n.Scalar();
  }
  int64_t integer(const YAML::Node& n, std::string_view key, int64_t lo, int64_t hi) const;
  bool boolean(const YAML::Node& n, std::string_view key) const;
  std::string path(const std::string& p) const {
    if (p.empty() || fs::path(p).is_absolute()) return p;
    return (fs::path(base_) / p).lexically_normal().string();
  }

 private:
  void check_keys(const YAML::Node& map, const std::vector<std::string>& allowed, const char* what) const;
  // The head of a named object of a top-level list ("bridge", "vm", ...): a
  // mapping with a valid 'name' and no keys but `allowed`. Sets the context
  // of later messages to "WHAT 'NAME': " and returns the name.
  std::string named_object(const YAML::Node& n, const std::string& what, const std::vector<std::string>& allowed);
  void check_port_keys(const YAML::Node& n, const PortKind& kind) const;
  dp::VlanSet vlan_list(const YAML::Node& n, const char* key) const;
  void vlan_config(const YAML::Node& n, PortSpec& p, dp::BridgeType bt) const;
  BridgeSpec bridge(const YAML::Node& n);
  FdbSpec fdb_entry(const YAML::Node& n, dp::BridgeType bt) const;
  ContainerSpec container(const YAML::Node& n);
 public:
  MirrorSpec mirror(const YAML::Node& n, const std::string& bridge, dp::BridgeType bt);
  VmSpec vm(const YAML::Node& n);
  SecurityGroupSpec security_group(const YAML::Node& n);
  GatewaySpec gateway(const YAML::Node& n);

 private:
  std::vector<std::string> words(const YAML::Node& n, std::string_view key) const;
  void port_security(const YAML::Node& n, PortSpec& p) const;
  NicSpec nic(const YAML::Node& n, const std::string& vm, size_t index) const;

  std::string file_, base_;
  std::string ctx_;  // "bridge 'x': port 'y': "
 public:
  // What is accepted but probably not meant (a VLAN listed twice).
  mutable std::vector<std::string> warnings;
};

std::string trimmed(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

// A kind reads its options through this view of the port's YAML map.
class YamlOptions final : public OptionReader {
 public:
  YamlOptions(const Parser& p, const YAML::Node& n) : p_(p), n_(n) {}
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
  const Parser& p_;
  const YAML::Node& n_;
};

std::string Parser::named_object(const YAML::Node& n, const std::string& what, const std::vector<std::string>& allowed) {
  ctx_.clear();
  if (!n.IsMap()) fail(n, "a " + what + " must be a mapping");
  if (!n["name"]) fail(n, "a " + what + " needs a 'name'");
  std::string name = scalar(n["name"], "name");
  ctx_ = what + " '" + name + "': ";
  if (auto s = check_name(name); !s) fail(n["name"], s.error().message);
  check_keys(n, allowed, ("a " + what).c_str());
  return name;
}

void Parser::check_keys(const YAML::Node& map, const std::vector<std::string>& allowed, const char* what) const {
  if (!map.IsMap()) fail(map, std::string(what) + " must be a mapping");
  std::set<std::string> seen;
  for (const auto& kv : map) {
    const std::string k = scalar(kv.first, "key");
    if (!seen.insert(k).second) fail(kv.first, "duplicate key '" + k + "' in " + what);
    bool ok = false;
    std::string list;
    for (const auto& a : allowed) {
      ok = ok || k == a;
      list += (list.empty() ? "" : ", ") + a;
    }
    if (!ok) fail(kv.first, "unknown key '" + k + "' in " + what + " (known: " + list + ")");
  }
}

// Like check_keys, but a key another kind knows gets "applies to K ports only".
void Parser::check_port_keys(const YAML::Node& n, const PortKind& kind) const {
  std::vector<std::string> allowed(std::begin(kGenericPortKeys), std::end(kGenericPortKeys));
  for (const char* k : kVlanKeys) allowed.emplace_back(k);
  for (const auto& k : kind.keys()) allowed.emplace_back(k.key);
  for (const auto& kv : n) {
    const std::string k = scalar(kv.first, "key");
    if (std::find(allowed.begin(), allowed.end(), k) != allowed.end()) continue;
    std::string owners;
    for (const PortKind* other : port_kinds())
      for (const auto& ok : other->keys())
        if (ok.key == k) owners += (owners.empty() ? "" : ", ") + std::string(other->name());
    if (!owners.empty()) fail(kv.first, "'" + k + "' applies to " + owners + " ports only");
  }
  check_keys(n, allowed, "a port");
}

int64_t Parser::integer(const YAML::Node& n, std::string_view key, int64_t lo, int64_t hi) const {
  const std::string s = scalar(n, key);
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || p != s.data() + s.size() || (ec != std::errc() && ec != std::errc::result_out_of_range))
    fail(n, std::string(key) + " '" + s + "' is not an integer");
  if (ec == std::errc::result_out_of_range || v < lo || v > hi)
    fail(n, std::string(key) + " " + s + " is out of range " + std::to_string(lo) + "-" + std::to_string(hi));
  return v;
}

bool Parser::boolean(const YAML::Node& n, std::string_view key) const {
  const std::string v = scalar(n, key);
  if (v == "true" || v == "yes") return true;
  if (v == "false" || v == "no") return false;
  fail(n, std::string(key) + " '" + v + "' must be true or false");
}

dp::VlanSet Parser::vlan_list(const YAML::Node& n, const char* key) const {
  dp::VlanSet set;
  dp::VlanSet twice;
  auto add = [&](const YAML::Node& item, const std::string& text) {
    dp::VlanSet one;
    if (auto s = dp::add_vlan_item(one, text); !s) fail(item, std::string(key) + ": " + s.error().message);
    twice |= set & one;
    set |= one;
  };
  if (n.IsSequence()) {
    for (const auto& item : n) add(item, scalar(item, key));
  } else if (n.IsScalar()) {
    std::stringstream ss(n.Scalar());
    std::string part;
    while (std::getline(ss, part, ',')) add(n, part);
  } else {
    fail(n, std::string(key) + " must be a list of VLAN IDs or ranges");
  }
  if (twice.any())
    warnings.push_back(where(file_, loc_of(n)) + ctx_ + "'" + key + "' lists VLAN " + dp::vlan_set_str(twice) +
                       " more than once");
  return set;
}

void Parser::vlan_config(const YAML::Node& n, PortSpec& p, dp::BridgeType bt) const {
  for (const char* k : kVlanKeys) {
    if (!n[k]) continue;
    if (bt != dp::BridgeType::kSwitch)
      fail(n[k], std::string("'") + k + "' applies to ports of switch bridges, not " +
                     std::string(dp::to_string(bt)) + " bridges");
    p.has_vlan_config = true;
  }
  auto& v = p.vlan;
  if (n["vlan_mode"]) {
    const std::string m = scalar(n["vlan_mode"], "vlan_mode");
    auto mode = dp::parse_vlan_mode(m);
    if (!mode)
      fail(n["vlan_mode"], "vlan_mode '" + m +
                               "' is unknown (access, trunk, hybrid, native-tagged, native-untagged, dot1q-tunnel)");
    v.mode = *mode;
  }
  if (n["pvid"]) v.pvid = static_cast<uint16_t>(integer(n["pvid"], "pvid", dp::kMinVid, dp::kMaxVid));
  if (n["allowed"]) v.allowed = vlan_list(n["allowed"], "allowed");
  if (n["tagged"]) v.tagged = vlan_list(n["tagged"], "tagged");
  if (n["untagged"]) v.untagged = vlan_list(n["untagged"], "untagged");
  if (n["cvlans"]) v.cvlans = vlan_list(n["cvlans"], "cvlans");
  if (n["qinq_ethtype"]) {
    const std::string q = scalar(n["qinq_ethtype"], "qinq_ethtype");
    if (q == "802.1ad") v.qinq_tpid = 0x88a8;
    else if (q == "802.1q") v.qinq_tpid = 0x8100;
    else fail(n["qinq_ethtype"], "qinq_ethtype '" + q + "' is unknown (802.1ad, 802.1q)");
    if (v.mode != dp::VlanMode::kDot1qTunnel)
      fail(n["qinq_ethtype"], "'qinq_ethtype' applies to dot1q-tunnel ports only");
  }
  if (n["priority_tags"]) {
    const std::string s = scalar(n["priority_tags"], "priority_tags");
    auto pt = dp::parse_priority_tags(s);
    if (!pt) fail(n["priority_tags"], "priority_tags '" + s + "' is unknown (never, if-nonzero, always)");
    v.priority_tags = *pt;
  }
  if (auto s = dp::validate(v); !s) fail(n, s.error().message);
}

PortSpec Parser::port(const YAML::Node& n, const std::string& bridge, dp::BridgeType bt) {
  PortSpec p;
  p.loc = loc_of(n);
  ctx_ = "bridge '" + bridge + "': ";
  if (!n.IsMap()) fail(n, "a port must be a mapping");
  if (!n["name"]) fail(n, "a port needs a 'name'");
  p.name = scalar(n["name"], "name");
  ctx_ += "port '" + p.name + "': ";
  if (auto s = check_name(p.name); !s) fail(n["name"], s.error().message);
  if (!n["type"]) fail(n, "'type' is required (" + port_kind_names() + ")");
  const std::string type = scalar(n["type"], "type");
  p.kind = find_port_kind(type);
  if (!p.kind) fail(n["type"], "type '" + type + "' is unknown (" + port_kind_names() + ")");
  check_port_keys(n, *p.kind);
  if (n["mtu"]) {
    p.mtu = static_cast<uint32_t>(integer(n["mtu"], "mtu", dp::kMinMtu, dp::kMaxMtu));
    p.mtu_given = true;
  }
  p.options = p.kind->parse(YamlOptions(*this, n));
  vlan_config(n, p, bt);
  port_security(n, p);
  if (auto v = p.kind->implied_vlan(*p.options); v && bt == dp::BridgeType::kSwitch && !n["vlan_mode"] && !n["allowed"]) {
    // Keys given beside the implied ones are kept (the kind's validate checks them).
    if (n["pvid"]) v->pvid = p.vlan.pvid;
    v->priority_tags = p.vlan.priority_tags;
    p.vlan = *v;
    p.has_vlan_config = true;
  }
  return p;
}

FdbSpec Parser::fdb_entry(const YAML::Node& n, dp::BridgeType bt) const {
  FdbSpec f;
  f.loc = loc_of(n);
  check_keys(n, {"vlan", "mac", "port", "remote_ip"}, "a static FDB entry");
  if (!n["mac"] || !n["port"]) fail(n, "a static FDB entry needs 'mac' and 'port'");
  const std::string m = scalar(n["mac"], "mac");
  auto mac = net::Mac::parse(m);
  if (!mac) fail(n["mac"], "mac '" + m + "' is not a MAC address (aa:bb:cc:dd:ee:ff)");
  f.mac = mac->u64();
  f.port = scalar(n["port"], "port");
  if (n["remote_ip"]) f.remote_ip = scalar(n["remote_ip"], "remote_ip");
  if (bt == dp::BridgeType::kSwitch) {
    if (!n["vlan"]) fail(n, "a static FDB entry of a switch needs 'vlan'");
    f.vlan = static_cast<uint16_t>(integer(n["vlan"], "vlan", dp::kMinVid, dp::kMaxVid));
  } else if (n["vlan"]) {
    fail(n["vlan"], "'vlan' applies to static FDB entries of switch bridges only");
  }
  return f;
}

void Parser::bridge_settings(const YAML::Node& n, BridgeSpec& b) {
  if (n["type"]) {
    const std::string t = scalar(n["type"], "type");
    auto bt = dp::parse_bridge_type(t);
    if (!bt) fail(n["type"], "type '" + t + "' is unknown (switch, learning, hub)");
    b.type = *bt;
  }
  const bool hub = b.type == dp::BridgeType::kHub;
  if (n["mac_aging"]) {
    if (hub) fail(n["mac_aging"], "'mac_aging' applies to learning and switch bridges, not hubs");
    b.settings.mac_aging_sec = static_cast<uint32_t>(integer(n["mac_aging"], "mac_aging", 1, 1000000));
  }
  if (n["mac_table_size"]) {
    if (hub) fail(n["mac_table_size"], "'mac_table_size' applies to learning and switch bridges, not hubs");
    b.settings.mac_table_size = static_cast<uint32_t>(integer(n["mac_table_size"], "mac_table_size", 1, 1 << 20));
  }
  if (n["conntrack_max"])
    b.settings.conntrack_max = static_cast<uint32_t>(integer(n["conntrack_max"], "conntrack_max", 1, 1 << 24));
  if (const YAML::Node t = n["conntrack_timeouts"]) {
    // A mapping {udp: 5} in files; the text "udp:5,icmp:10" from `set bridge`.
    if (t.IsMap()) {
      for (const auto& kv : t) {
        const std::string name = scalar(kv.first, "conntrack_timeouts key");
        const int64_t v = integer(kv.second, "conntrack_timeouts " + name, 1, kMaxConntrackTimeoutSec);
        if (auto st = set_conntrack_timeout(b.settings.conntrack_timeouts, name, v); !st)
          fail(kv.first, st.error().message);
      }
    } else {
      auto parsed = parse_conntrack_timeouts(scalar(t, "conntrack_timeouts"));
      if (!parsed) fail(t, parsed.error().message);
      b.settings.conntrack_timeouts = *parsed;
    }
  }
}

BridgeSpec Parser::bridge(const YAML::Node& n) {
  BridgeSpec b;
  b.loc = loc_of(n);
  b.name = named_object(
      n, "bridge",
      {"name", "type", "mac_aging", "mac_table_size", "conntrack_max", "conntrack_timeouts", "ports", "fdb", "mirrors"});
  bridge_settings(n, b);
  if (n["ports"]) {
    if (!n["ports"].IsSequence()) fail(n["ports"], "'ports' must be a list");
    for (const auto& pn : n["ports"]) b.ports.push_back(port(pn, b.name, b.type));
    ctx_ = "bridge '" + b.name + "': ";
  }
  if (n["fdb"]) {
    if (!n["fdb"].IsSequence()) fail(n["fdb"], "'fdb' must be a list");
    for (const auto& fn : n["fdb"]) b.fdb.push_back(fdb_entry(fn, b.type));
  }
  if (n["mirrors"]) {
    if (!n["mirrors"].IsSequence()) fail(n["mirrors"], "'mirrors' must be a list");
    for (const auto& mn : n["mirrors"]) b.mirrors.push_back(mirror(mn, b.name, b.type));
    ctx_ = "bridge '" + b.name + "': ";
  }
  return b;
}

MirrorSpec Parser::mirror(const YAML::Node& n, const std::string& bridge, dp::BridgeType bt) {
  MirrorSpec m;
  const Loc loc = loc_of(n);
  m.line = loc.line;
  m.col = loc.col;
  ctx_ = "bridge '" + bridge + "': ";
  if (!n.IsMap()) fail(n, "a mirror must be a mapping");
  if (!n["name"]) fail(n, "a mirror needs a 'name'");
  m.name = scalar(n["name"], "name");
  ctx_ += "mirror '" + m.name + "': ";
  if (auto s = check_name(m.name); !s) fail(n["name"], s.error().message);
  check_keys(n,
             {"name", "select_all", "select_src_ports", "select_dst_ports", "select_vlans", "output_port",
              "output_vlan"},
             "a mirror");
  if (n["select_all"]) m.select_all = boolean(n["select_all"], "select_all");
  if (n["select_src_ports"]) m.src_ports = words(n["select_src_ports"], "select_src_ports");
  if (n["select_dst_ports"]) m.dst_ports = words(n["select_dst_ports"], "select_dst_ports");
  const bool sw = bt == dp::BridgeType::kSwitch;
  if (n["select_vlans"]) {
    if (!sw) fail(n["select_vlans"], "'select_vlans' applies to mirrors of switch bridges, not " +
                                         std::string(dp::to_string(bt)) + " bridges");
    m.vlans = vlan_list(n["select_vlans"], "select_vlans");
  }
  if (n["output_port"]) {
    m.output_port = scalar(n["output_port"], "output_port");
    if (m.output_port.empty()) fail(n["output_port"], "'output_port' is empty");
  }
  if (n["output_vlan"]) {
    if (!sw) fail(n["output_vlan"], "'output_vlan' applies to mirrors of switch bridges, not " +
                                        std::string(dp::to_string(bt)) + " bridges (use output_port)");
    m.output_vlan = static_cast<uint16_t>(integer(n["output_vlan"], "output_vlan", dp::kMinVid, dp::kMaxVid));
  }
  if (auto s = check_mirror(m); !s) {
    const std::string& msg = s.error().message;
    const std::string own = "mirror '" + m.name + "': ";
    fail(n, msg.rfind(own, 0) == 0 ? msg.substr(own.size()) : msg);
  }
  return m;
}

ContainerSpec Parser::container(const YAML::Node& n) {
  ContainerSpec c;
  c.loc = loc_of(n);
  c.name = named_object(n, "container", {"name", "bridge", "port", "ip", "gw", "mac"});
  if (!n["bridge"] || !n["port"]) fail(n, "a container needs 'bridge' and 'port'");
  c.bridge = scalar(n["bridge"], "bridge");
  c.port = scalar(n["port"], "port");
  if (n["ip"]) {
    c.ip = scalar(n["ip"], "ip");
    if (auto s = check_cidr(c.ip); !s) fail(n["ip"], s.error().message);
  }
  if (n["gw"]) {
    c.gw = scalar(n["gw"], "gw");
    if (auto s = check_ip(c.gw); !s) fail(n["gw"], s.error().message);
  }
  if (n["mac"]) {
    c.mac = scalar(n["mac"], "mac");
    auto m = net::Mac::parse(c.mac);
    if (!m) fail(n["mac"], "mac '" + c.mac + "' is not a MAC address (aa:bb:cc:dd:ee:ff)");
    if (m->is_multicast() || m->is_zero()) fail(n["mac"], "mac '" + c.mac + "' must be a unicast MAC");
  }
  return c;
}

// A list as a YAML sequence or a comma-separated scalar (as on a command line).
std::vector<std::string> Parser::words(const YAML::Node& n, std::string_view key) const {
  std::vector<std::string> out;
  auto add = [&](const std::string& w) {
    const std::string t = trimmed(w);
    if (t.empty()) fail(n, "'" + std::string(key) + "' has an empty item");
    out.push_back(t);
  };
  if (n.IsSequence()) {
    for (const auto& i : n) add(scalar(i, key));
  } else {
    const std::string v = scalar(n, key);
    if (trimmed(v).empty()) return out;  // empty: none
    std::stringstream ss(v);
    std::string part;
    while (std::getline(ss, part, ',')) add(part);
  }
  return out;
}

void Parser::port_security(const YAML::Node& n, PortSpec& p) const {
  if (n["security_groups"]) {
    p.security.groups = words(n["security_groups"], "security_groups");
    for (size_t i = 0; i < p.security.groups.size(); ++i)
      for (size_t j = 0; j < i; ++j)
        if (p.security.groups[i] == p.security.groups[j])
          fail(n["security_groups"], "security group '" + p.security.groups[i] + "' is listed twice");
  }
  if (n["port_security"]) p.security.port_security = boolean(n["port_security"], "port_security");
  if (n["allowed_addresses"]) {
    for (const auto& w : words(n["allowed_addresses"], "allowed_addresses")) {
      auto a = parse_allowed_address(w);
      if (!a) fail(n["allowed_addresses"], a.error().message);
      p.security.allowed.push_back(*a);
    }
  }
}

SecurityGroupSpec Parser::security_group(const YAML::Node& n) {
  SecurityGroupSpec g;
  g.name = named_object(n, "security group", {"name", "description", "rules"});
  const Loc loc = loc_of(n);
  g.line = loc.line;
  g.col = loc.col;
  if (n["description"]) g.description = scalar(n["description"], "description");
  if (n["rules"]) {
    if (!n["rules"].IsSequence()) fail(n["rules"], "'rules' must be a list");
    for (const auto& rn : n["rules"]) {
      if (!rn.IsMap()) fail(rn, "a rule must be a mapping");
      Settings st;
      for (const auto& kv : rn) st.emplace_back(scalar(kv.first, "key"), scalar(kv.second, scalar(kv.first, "key")));
      auto r = parse_sg_rule(st);
      if (!r) fail(rn, "rule " + std::to_string(g.rules.size() + 1) + ": " + r.error().message);
      for (const auto& o : g.rules)
        if (r->id != 0 && o.id == r->id) fail(rn, "rule id " + std::to_string(r->id) + " is used twice");
      g.rules.push_back(*r);
    }
    // A rule without an id takes the next after the rules before it, skipping
    // the ids the file gives (later rules' too), within 1-kMaxSgRuleId.
    auto used = [&](uint32_t id) {
      return std::any_of(g.rules.begin(), g.rules.end(), [&](const SgRule& o) { return o.id == id; });
    };
    for (size_t i = 0; i < g.rules.size(); ++i) {
      if (g.rules[i].id != 0) continue;
      uint32_t id = 0;
      for (size_t j = 0; j < i; ++j) id = std::max(id, g.rules[j].id);
      do {
        ++id;
      } while (used(id));
      if (id > kMaxSgRuleId) {
        id = 1;
        while (used(id)) ++id;
      }
      g.rules[i].id = id;
    }
  }
  return g;
}

NicSpec Parser::nic(const YAML::Node& n, const std::string& vm, size_t index) const {
  if (!n.IsMap()) fail(n, "nic " + std::to_string(index) + " must be a mapping");
  check_keys(n, {"bridge", "port", "mac", "ip", "gw", "qbr"}, "a NIC");
  if (!n["bridge"] || !n["port"]) fail(n, "nic " + std::to_string(index) + " needs 'bridge' and 'port'");
  NicSpec c;
  c.bridge = scalar(n["bridge"], "bridge");
  c.port = scalar(n["port"], "port");
  c.mac = default_mac(vm, index);
  if (n["mac"]) {
    const std::string mac = scalar(n["mac"], "mac");
    auto m = net::Mac::parse(mac);
    if (!m) fail(n["mac"], "mac '" + mac + "' is not a MAC address (aa:bb:cc:dd:ee:ff)");
    c.mac = m->str();
  }
  if (n["ip"]) c.ip = scalar(n["ip"], "ip");
  if (n["gw"]) c.gw = scalar(n["gw"], "gw");
  if (n["qbr"]) c.qbr = boolean(n["qbr"], "qbr");
  return c;
}

VmSpec Parser::vm(const YAML::Node& n) {
  VmSpec v;
  v.name = named_object(
      n, "vm", {"name", "memory", "vcpus", "accel", "machine", "kernel", "initrd", "cmdline", "disk", "autostart", "nics"});
  const Loc loc = loc_of(n);
  v.line = loc.line;
  v.col = loc.col;
  if (n["memory"]) {
    auto m = parse_memory(scalar(n["memory"], "memory"));
    if (!m) fail(n["memory"], m.error().message);
    v.memory_mb = *m;
  }
  if (n["vcpus"]) v.vcpus = static_cast<uint32_t>(integer(n["vcpus"], "vcpus", 1, kMaxVcpus));
  if (n["accel"]) {
    auto a = parse_accel(scalar(n["accel"], "accel"));
    if (!a) fail(n["accel"], a.error().message);
    v.accel = *a;
  }
  if (n["machine"]) v.machine = scalar(n["machine"], "machine");
  // A VM's files are absolute paths (check_vm), also when the file itself
  // was given by a relative path (`kvnet validate dir/t.yaml`: base "dir").
  auto abs_path = [&](const std::string& p) {
    const std::string r = path(p);
    std::error_code ec;
    const fs::path a = r.empty() ? fs::path() : fs::absolute(r, ec);
    return r.empty() || ec ? r : a.lexically_normal().string();
  };
  if (n["kernel"]) v.kernel = abs_path(scalar(n["kernel"], "kernel"));
  if (n["initrd"]) v.initrd = abs_path(scalar(n["initrd"], "initrd"));
  if (n["cmdline"]) v.cmdline = scalar(n["cmdline"], "cmdline");
  if (n["disk"]) v.disk = abs_path(scalar(n["disk"], "disk"));
  if (n["autostart"]) v.autostart = boolean(n["autostart"], "autostart");
  if (n["nics"]) {
    if (!n["nics"].IsSequence()) fail(n["nics"], "'nics' must be a list");
    for (const auto& nn : n["nics"]) v.nics.push_back(nic(nn, v.name, v.nics.size()));
  }
  if (auto s = check_vm(v); !s) fail(n, s.error().message.substr(ctx_.size()));
  return v;
}

GatewaySpec Parser::gateway(const YAML::Node& n) {
  GatewaySpec g;
  g.name = named_object(n, "gateway", {"name", "bridge", "vlan", "ip", "masquerade", "dhcp", "forwards"});
  const Loc loc = loc_of(n);
  g.line = loc.line;
  g.col = loc.col;
  if (!n["bridge"] || !n["ip"]) fail(n, "a gateway needs 'bridge' and 'ip'");
  g.bridge = scalar(n["bridge"], "bridge");
  if (n["vlan"]) g.vlan = static_cast<uint16_t>(integer(n["vlan"], "vlan", dp::kMinVid, dp::kMaxVid));
  g.ip = scalar(n["ip"], "ip");
  if (n["masquerade"]) g.masquerade = boolean(n["masquerade"], "masquerade");
  if (n["dhcp"]) {
    auto r = parse_dhcp_range(scalar(n["dhcp"], "dhcp"));
    if (!r) fail(n["dhcp"], r.error().message);
    g.dhcp_start = r->first;
    g.dhcp_end = r->second;
  }
  if (n["forwards"])
    for (const auto& w : words(n["forwards"], "forwards")) {
      auto f = parse_forward(w);
      if (!f) fail(n["forwards"], f.error().message);
      g.forwards.push_back(*f);
    }
  if (auto s = check_gateway(g); !s) fail(n, s.error().message.substr(ctx_.size()));
  return g;
}

YAML::Node Parser::host_section(const YAML::Node& root, const std::string& host) const {
  const bool multi = root.IsMap() && root["hosts"];
  if (!multi) {
    if (!host.empty()) fail(root, "there is no 'hosts:' section to pick host '" + host + "' from");
    return root;
  }
  const YAML::Node hosts = root["hosts"];
  check_keys(root, {"hosts"}, "a file of several hosts");
  if (!hosts.IsMap() || hosts.size() == 0) fail(hosts, "'hosts' must map host names to topologies");
  std::string names;
  for (const auto& kv : hosts) names += (names.empty() ? "" : ", ") + scalar(kv.first, "host name");
  if (host.empty()) fail(hosts, "this file describes several hosts (" + names + "): pick one with --host NAME");
  if (!hosts[host]) fail(hosts, "host '" + host + "' is not in this file (" + names + ")");
  return hosts[host];
}

Topology Parser::document(const YAML::Node& root) {
  Topology t;
  if (!root.IsDefined() || root.IsNull()) fail(root, "the file is empty (expected 'bridges:')");
  check_keys(root, {"bridges", "containers", "vms", "security_groups", "gateways"}, "the topology");
  if (!root["bridges"] || !root["bridges"].IsSequence()) fail(root, "'bridges' must be a list of bridges");
  for (const auto& bn : root["bridges"]) t.bridges.push_back(bridge(bn));
  ctx_.clear();
  if (root["containers"]) {
    t.has_containers = true;
    if (!root["containers"].IsSequence()) fail(root["containers"], "'containers' must be a list");
    for (const auto& cn : root["containers"]) t.containers.push_back(container(cn));
    ctx_.clear();
  }
  if (root["security_groups"]) {
    t.has_security_groups = true;
    if (!root["security_groups"].IsSequence()) fail(root["security_groups"], "'security_groups' must be a list");
    for (const auto& gn : root["security_groups"]) t.security_groups.push_back(security_group(gn));
    ctx_.clear();
  }
  if (root["vms"]) {
    t.has_vms = true;
    if (!root["vms"].IsSequence()) fail(root["vms"], "'vms' must be a list");
    for (const auto& vn : root["vms"]) t.vms.push_back(vm(vn));
    ctx_.clear();
  }
  if (root["gateways"]) {
    t.has_gateways = true;
    if (!root["gateways"].IsSequence()) fail(root["gateways"], "'gateways' must be a list");
    for (const auto& gn : root["gateways"]) t.gateways.push_back(gateway(gn));
    ctx_.clear();
    add_gateway_ports(t);  // a file does not list them
  }
  return t;
}

// Runs a parse step, turning its exceptions into an Error.
template <typename F>
auto guarded(const std::string& file, F&& f) -> Result<decltype(f())> {
  try {
    return f();
  } catch (const TopoError& e) {
    return Error{e.msg};
  } catch (const YAML::Exception& e) {
    if (file.empty()) return Error{"invalid YAML: " + e.msg};
    return Error{file + ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1) +
                 ": invalid YAML: " + e.msg};
  }
}

// ------------------------------------------------------------ validation

class Validator {
 public:
  Validator(const Topology& t, const ParseOptions& o) : t_(t), opts_(o) {}
  void run();

 private:
  [[noreturn]] void fail(Loc loc, const std::string& ctx, const std::string& what) const {
    throw TopoError{where(t_.file, loc) + ctx + what};
  }
  void bridge(const BridgeSpec& b);
  void mirrors(const BridgeSpec& b, std::map<std::string, std::string>& names);
  void container(const ContainerSpec& c, std::set<std::string>& names);
  void vm(const VmSpec& v, std::set<std::string>& names, std::map<std::string, std::string>& nic_ports);
  void security(std::set<std::string>& names);
  void gateways();

  const Topology& t_;
  ParseOptions opts_;
};

void Validator::bridge(const BridgeSpec& b) {
  const std::string ctx = "bridge '" + b.name + "': ";
  if (auto s = check_name(b.name); !s) fail(b.loc, ctx, s.error().message);
  const bool hub = b.type == dp::BridgeType::kHub;
  if (hub && b.settings.mac_aging_sec != dp::kDefaultMacAgingSec)
    fail(b.loc, ctx, "'mac_aging' applies to learning and switch bridges, not hubs");
  if (hub && b.settings.mac_table_size != dp::kDefaultMacTableSize)
    fail(b.loc, ctx, "'mac_table_size' applies to learning and switch bridges, not hubs");
  for (const auto& p : b.ports) {
    const std::string pctx = ctx + "port '" + p.name + "': ";
    if (auto s = check_name(p.name); !s) fail(p.loc, pctx, s.error().message);
    if (!p.kind || !p.options) fail(p.loc, pctx, "has no kind");
    if (p.has_vlan_config && b.type != dp::BridgeType::kSwitch)
      fail(p.loc, pctx, "VLAN settings apply to ports of switch bridges, not " +
                            std::string(dp::to_string(b.type)) + " bridges");
    if (auto s = dp::validate(p.vlan); !s) fail(p.loc, pctx, s.error().message);
    if (auto s = p.kind->validate(p, b, t_, opts_.allow_dangling_patches); !s) fail(p.loc, pctx, s.error().message);
  }
  if (hub && !b.fdb.empty()) fail(b.fdb[0].loc, ctx, "a hub has no FDB: static entries apply to learning and switch bridges");
  std::set<std::pair<uint16_t, uint64_t>> keys;
  for (const auto& f : b.fdb) {
    const std::string m = net::Mac::from_u64(f.mac).str();
    if (net::Mac::from_u64(f.mac).is_multicast() || f.mac == 0)
      fail(f.loc, ctx, "static FDB entry " + m + " must be a unicast MAC");
    if (b.type == dp::BridgeType::kSwitch && (f.vlan < dp::kMinVid || f.vlan > dp::kMaxVid))
      fail(f.loc, ctx, "static FDB entry " + m + ": a switch needs a 'vlan' of 1-4094");
    if (b.type != dp::BridgeType::kSwitch && f.vlan != 0)
      fail(f.loc, ctx, "static FDB entry " + m + ": VLAN " + std::to_string(f.vlan) + " given, but a " +
                           std::string(dp::to_string(b.type)) +
                           " bridge has no VLANs: give VLAN 0 (VLANs apply to switch bridges only)");
    const PortSpec* port = b.find_port(f.port);
    if (!port) fail(f.loc, ctx, "static FDB entry " + m + ": port '" + f.port + "' is not a port of this bridge");
    if (b.type == dp::BridgeType::kSwitch && !dp::VlanPort(port->vlan).member(f.vlan))
      fail(f.loc, ctx, "static FDB entry " + m + ": port '" + f.port + "' does not carry VLAN " +
                           std::to_string(f.vlan));
    if (!f.remote_ip.empty())
      if (auto s = port->kind->check_remote(*port, f.remote_ip); !s)
        fail(f.loc, ctx, "static FDB entry " + m + ": " + s.error().message);
    if (!keys.insert({f.vlan, f.mac}).second)
      fail(f.loc, ctx, "static FDB entry " + m + " is listed twice for VLAN " + std::to_string(f.vlan));
  }
  if (b.type != dp::BridgeType::kHub && b.fdb.size() > b.settings.mac_table_size)
    fail(b.loc, ctx, "static FDB entries (" + std::to_string(b.fdb.size()) + ") exceed mac_table_size " +
                         std::to_string(b.settings.mac_table_size));
}

// A bridge's mirrors: ports of this bridge, an output that is nothing else.
void Validator::mirrors(const BridgeSpec& b, std::map<std::string, std::string>& names) {
  const bool sw = b.type == dp::BridgeType::kSwitch;
  if (b.mirrors.size() > dp::kMaxMirrors)
    fail(b.loc, "bridge '" + b.name + "': ",
         std::to_string(b.mirrors.size()) + " mirrors: a bridge has at most " + std::to_string(dp::kMaxMirrors));
  std::map<std::string, std::string> outputs;  // output port -> its mirror
  for (const auto& m : b.mirrors) {
    const Loc loc{m.line, m.col};
    const std::string ctx = "bridge '" + b.name + "': mirror '" + m.name + "': ";
    if (auto s = check_mirror(m); !s) fail(loc, "bridge '" + b.name + "': ", s.error().message);
    auto [it, fresh] = names.emplace(m.name, b.name);
    if (!fresh)
      fail(loc, "bridge '" + b.name + "': ",
           "duplicate mirror name '" + m.name + "' (also on bridge '" + it->second + "'; mirror names are unique)");
    if (!sw && m.vlans.any())
      fail(loc, ctx, "select_vlans applies to switch bridges; bridge '" + b.name + "' is a " +
                         std::string(dp::to_string(b.type)));
    if (!sw && m.output_vlan)
      fail(loc, ctx, "output_vlan applies to switch bridges; bridge '" + b.name + "' is a " +
                         std::string(dp::to_string(b.type)) + " (use output_port)");
    auto own_port = [&](const std::string& key, const std::string& p) {
      if (b.find_port(p)) return;
      const BridgeSpec* other = nullptr;
      if (t_.find_port(p, &other) && other)
        fail(loc, ctx, key + ": port '" + p + "' is a port of bridge '" + other->name + "', not of '" + b.name + "'");
      fail(loc, ctx, key + ": port '" + p + "' is not a port of bridge '" + b.name + "'");
    };
    for (const auto& p : m.src_ports) own_port("select_src_ports", p);
    for (const auto& p : m.dst_ports) own_port("select_dst_ports", p);
    if (m.output_port.empty()) continue;
    own_port("output_port", m.output_port);
    for (const auto* list : {&m.src_ports, &m.dst_ports})
      if (std::find(list->begin(), list->end(), m.output_port) != list->end())
        fail(loc, ctx, "output_port '" + m.output_port + "' is also selected (" +
                           (list == &m.src_ports ? "select_src_ports" : "select_dst_ports") +
                           "): a mirror's output port is reserved for its copies");
    outputs.emplace(m.output_port, m.name);
    for (const auto& f : b.fdb)
      if (f.port == m.output_port)
        fail(loc, ctx, "output_port '" + m.output_port + "' has static FDB entry " + net::Mac::from_u64(f.mac).str() +
                           ": nothing is switched to a mirror's output port");
  }
  for (const auto& m : b.mirrors)
    for (const auto* list : {&m.src_ports, &m.dst_ports})
      for (const auto& p : *list)
        if (auto it = outputs.find(p); it != outputs.end())
          fail(Loc{m.line, m.col}, "bridge '" + b.name + "': mirror '" + m.name + "': ",
               "port '" + p + "' is the output of mirror '" + it->second + "': it cannot be selected");
}

void Validator::container(const ContainerSpec& c, std::set<std::string>& names) {
  const std::string ctx = "container '" + c.name + "': ";
  if (auto s = check_name(c.name); !s) fail(c.loc, ctx, s.error().message);
  if (!names.insert(c.name).second) fail(c.loc, "", "duplicate container name '" + c.name + "'");
  const BridgeSpec* b = t_.find_bridge(c.bridge);
  if (!b) fail(c.loc, ctx, "bridge '" + c.bridge + "' does not exist");
  const PortSpec* p = b->find_port(c.port);
  if (!p) fail(c.loc, ctx, "port '" + c.port + "' is not a port of bridge '" + c.bridge + "'");
  if (!p->kind->container_port())
    fail(c.loc, ctx, "port '" + c.port + "' must be a system port (the container's veth), not " +
                         std::string(p->kind->name()));
  if (!c.ip.empty())
    if (auto s = check_cidr(c.ip); !s) fail(c.loc, ctx, s.error().message);
  if (!c.gw.empty())
    if (auto s = check_ip(c.gw); !s) fail(c.loc, ctx, s.error().message);
  for (const auto& o : t_.containers) {
    if (&o == &c) break;
    if (o.port == c.port) fail(c.loc, ctx, "port '" + c.port + "' belongs to container '" + o.name + "' too");
  }
}

void Validator::vm(const VmSpec& v, std::set<std::string>& names, std::map<std::string, std::string>& owners) {
  const std::string ctx = "vm '" + v.name + "': ";
  const Loc loc{v.line, v.col};
  if (auto s = check_vm(v); !s) fail(loc, "", s.error().message);
  if (!names.insert(v.name).second) fail(loc, "", "duplicate vm name '" + v.name + "'");
  for (size_t i = 0; i < v.nics.size(); ++i) {
    const NicSpec& n = v.nics[i];
    const std::string nctx = ctx + "nic " + std::to_string(i) + ": ";
    const BridgeSpec* b = t_.find_bridge(n.bridge);
    if (!b) fail(loc, nctx, "bridge '" + n.bridge + "' does not exist");
    const PortSpec* p = b->find_port(n.port);
    if (!p) fail(loc, nctx, "port '" + n.port + "' is not a port of bridge '" + n.bridge + "'");
    if (!p->kind->container_port())
      fail(loc, nctx, "port '" + n.port + "' must be a system port (the VM's TAP), not " + std::string(p->kind->name()));
    auto [it, fresh] = owners.emplace(n.port, "vm '" + v.name + "'");
    if (!fresh) fail(loc, nctx, "port '" + n.port + "' belongs to " + it->second + " too");
    auto [mit, mfresh] = owners.emplace("mac " + n.mac, "vm '" + v.name + "'");
    if (!mfresh) fail(loc, nctx, "mac " + n.mac + " is used by " + mit->second + " too");
    if (n.qbr) {
      if (b->type != dp::BridgeType::kHub)
        fail(loc, nctx, "qbr: bridge '" + n.bridge + "' must be a hub (the NIC's own qbr bridge)");
      size_t patches = 0;
      for (const auto& bp : b->ports) {
        if (bp.kind->is_patch()) ++patches;
        else if (bp.name != n.port)
          fail(loc, nctx, "qbr: bridge '" + n.bridge + "' has port '" + bp.name + "' besides the NIC's and its patch");
      }
      if (patches != 1) fail(loc, nctx, "qbr: bridge '" + n.bridge + "' needs exactly one patch port (qvb)");
      auto [bit, bfresh] = owners.emplace("bridge " + n.bridge, "vm '" + v.name + "'");
      if (!bfresh) fail(loc, nctx, "qbr: bridge '" + n.bridge + "' belongs to " + bit->second + " too");
    }
  }
}

void Validator::security(std::set<std::string>& names) {
  for (const auto& g : t_.security_groups) {
    const Loc loc{g.line, g.col};
    if (!names.insert(g.name).second) fail(loc, "", "duplicate security group name '" + g.name + "'");
    for (const auto& r : g.rules)
      if (!r.remote_group.empty() && !t_.find_group(r.remote_group))
        fail(loc, "security group '" + g.name + "': ",
             "rule " + std::to_string(r.id) + ": remote_group '" + r.remote_group + "' does not exist");
  }
  for (const auto& b : t_.bridges)
    for (const auto& p : b.ports) {
      const std::string ctx = "bridge '" + b.name + "': port '" + p.name + "': ";
      for (const auto& g : p.security.groups)
        if (!t_.find_group(g)) fail(p.loc, ctx, "security group '" + g + "' does not exist");
      if (!p.security.port_security || !endpoint_mac(t_, p.name).empty()) continue;
      // Port security compares sources with the endpoint's MAC: it must be known.
      // (A port without an endpoint, an interface kvnet did not create, has
      // only the MACs its allowed addresses name.)
      bool needs_own = false;
      for (const auto& c : t_.containers) needs_own = needs_own || (c.port == p.name && !c.ip.empty());
      // A MAC-less allowed address goes with the MACs the others name; with none
      // named, it would allow nothing.
      const bool named = std::any_of(p.security.allowed.begin(), p.security.allowed.end(),
                                     [](const AllowedAddress& a) { return !a.mac.empty(); });
      if (!named && !p.security.allowed.empty())
        fail(p.loc, ctx,
             "allowed address '" + allowed_address_str(p.security.allowed[0]) +
                 "' has no MAC and the port has no endpoint whose MAC kvnet knows: write it as MAC:" +
                 allowed_address_str(p.security.allowed[0]));
      if (needs_own)
        fail(p.loc, ctx,
             "port_security needs the endpoint's MAC: give its container a 'mac', or list allowed_addresses as MAC:IP");
    }
}

void Validator::gateways() {
  std::set<std::string> names;
  std::map<std::string, std::string> host_ports;  // "tcp/8080" -> gateway
  for (const auto& g : t_.gateways) {
    const Loc loc{g.line, g.col};
    const std::string ctx = "gateway '" + g.name + "': ";
    if (auto s = check_gateway(g); !s) fail(loc, "", s.error().message);
    if (!names.insert(g.name).second) fail(loc, "", "duplicate gateway name '" + g.name + "'");
    const BridgeSpec* b = t_.find_bridge(g.bridge);
    if (!b) fail(loc, ctx, "bridge '" + g.bridge + "' does not exist");
    if (g.vlan && b->type != dp::BridgeType::kSwitch)
      fail(loc, ctx, "vlan applies to switch bridges; bridge '" + g.bridge + "' is a " +
                         std::string(dp::to_string(b->type)));
    const BridgeSpec* pb = nullptr;
    const PortSpec* p = t_.find_port(g.name, &pb);
    if (!p || pb != b) fail(loc, ctx, "its port '" + g.name + "' is not a port of bridge '" + g.bridge + "'");
    if (p->kind->name() != "internal")
      fail(loc, ctx, "its port '" + g.name + "' must be an internal port, not " + std::string(p->kind->name()));
    if (g.vlan && (p->vlan.mode != dp::VlanMode::kAccess || p->vlan.pvid != g.vlan))
      fail(loc, ctx, "its port '" + g.name + "' must be an access port of VLAN " + std::to_string(g.vlan));
    const Ipv4Net net = *parse_ipv4_cidr(g.ip);
    for (const auto& o : t_.gateways) {
      if (&o == &g) break;
      const Ipv4Net on = *parse_ipv4_cidr(o.ip);
      if (net.contains(on.network) || on.contains(net.network))
        fail(loc, ctx, "subnet " + net.cidr() + " overlaps gateway '" + o.name + "''s " + on.cidr());
    }
    for (const auto& f : g.forwards) {
      const std::string key = f.proto + "/" + std::to_string(f.host_port);
      auto [it, fresh] = host_ports.emplace(key, g.name);
      if (!fresh) fail(loc, ctx, "host port " + key + " is forwarded by gateway '" + it->second + "' too");
    }
  }
}

void Validator::run() {
  std::set<std::string> groups;
  security(groups);
  std::set<std::string> bridges, ports;
  for (const auto& b : t_.bridges) {
    if (!bridges.insert(b.name).second) fail(b.loc, "", "duplicate bridge name '" + b.name + "'");
    for (const auto& p : b.ports)
      if (!ports.insert(p.name).second)
        fail(p.loc, "bridge '" + b.name + "': ",
             "duplicate port name '" + p.name + "' (port names are unique across bridges)");
  }
  for (const auto& b : t_.bridges) bridge(b);
  std::map<std::string, std::string> mirror_names;  // mirror -> its bridge
  for (const auto& b : t_.bridges) mirrors(b, mirror_names);
  std::set<std::string> names;
  for (const auto& c : t_.containers) container(c, names);
  std::set<std::string> vm_names;
  std::map<std::string, std::string> owners;  // port / "mac M" / "bridge B" -> its owner
  for (const auto& c : t_.containers) owners.emplace(c.port, "container '" + c.name + "'");
  for (const auto& v : t_.vms) vm(v, vm_names, owners);
  gateways();
}

// ------------------------------------------------------------ writing

void emit_value(YAML::Emitter& e, const Field& f) {
  if (f.map) {
    e << YAML::Flow << YAML::BeginMap;
    std::stringstream ss(f.value);
    std::string item;
    while (std::getline(ss, item, ',')) {
      const auto colon = item.find(':');
      e << YAML::Key << item.substr(0, colon) << YAML::Value << item.substr(colon + 1);
    }
    e << YAML::EndMap;
    return;
  }
  if (!f.list) {
    e << f.value;
    return;
  }
  e << YAML::Flow << YAML::BeginSeq;
  std::stringstream ss(f.value);
  std::string item;
  while (std::getline(ss, item, ',')) e << item;
  e << YAML::EndSeq;
}

void emit_port(YAML::Emitter& e, const PortSpec& p, dp::BridgeType bt) {
  e << YAML::Flow << YAML::BeginMap;
  for (const auto& f : port_fields(p, bt)) {
    e << YAML::Key << f.key << YAML::Value;
    emit_value(e, f);
  }
  e << YAML::EndMap;
}

// Settings as a YAML map a parser step reads (values stay scalars: lists are
// comma-separated, as on a command line).
YAML::Node settings_node(const Fields& base, const Settings& changes) {
  YAML::Node n(YAML::NodeType::Map);
  for (const auto& f : base) n[f.key] = f.value;
  for (const auto& [k, v] : changes) {
    if (v.empty()) n.remove(k);
    else n[k] = v;
  }
  return n;
}

}  // namespace

// ------------------------------------------------------------ public

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

const MirrorSpec* Topology::find_mirror(const std::string& name, const BridgeSpec** bridge) const {
  for (const auto& b : bridges)
    if (const MirrorSpec* m = b.find_mirror(name)) {
      if (bridge) *bridge = &b;
      return m;
    }
  return nullptr;
}

const SecurityGroupSpec* Topology::find_group(const std::string& name) const {
  for (const auto& g : security_groups)
    if (g.name == name) return &g;
  return nullptr;
}

const GatewaySpec* Topology::find_gateway(const std::string& name) const {
  for (const auto& g : gateways)
    if (g.name == name) return &g;
  return nullptr;
}

BridgeSpec* Topology::find_bridge(const std::string& name) {
  for (auto& b : bridges)
    if (b.name == name) return &b;
  return nullptr;
}

const BridgeSpec* Topology::find_bridge(const std::string& name) const {
  for (const auto& b : bridges)
    if (b.name == name) return &b;
  return nullptr;
}

const PortSpec* Topology::find_port(const std::string& ref, const BridgeSpec** bridge) const {
  const auto slash = ref.find('/');
  for (const auto& b : bridges) {
    if (slash != std::string::npos && b.name != ref.substr(0, slash)) continue;
    const std::string pname = slash == std::string::npos ? ref : ref.substr(slash + 1);
    if (const PortSpec* p = b.find_port(pname)) {
      if (bridge) *bridge = &b;
      return p;
    }
  }
  return nullptr;
}

Result<Topology> parse_document(const std::string& yaml, const std::string& file, const std::string& base_dir,
                                const std::string& host) {
  return guarded(file, [&] {
    Parser p(file, base_dir);
    const YAML::Node root = YAML::Load(yaml);
    Topology t = p.document(p.host_section(root, host));
    t.warnings = std::move(p.warnings);
    t.file = file;
    t.base_dir = base_dir;
    return t;
  });
}

Status validate(const Topology& t, const ParseOptions& opts) {
  return guarded(t.file, [&] {
    Validator(t, opts).run();
    return Ok{};
  });
}

Result<Topology> parse_topology(const std::string& yaml, const std::string& file, const std::string& base_dir,
                                const ParseOptions& opts) {
  auto t = parse_document(yaml, file, base_dir);
  if (!t) return t;
  if (auto s = validate(*t, opts); !s) return s.error();
  return t;
}

Result<Topology> load_topology(const std::string& path, const std::string& host) {
  std::ifstream in(path);
  if (!in) return Error{path + ": cannot open topology file: " + std::strerror(errno)};
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return Error{path + ": cannot read topology file"};
  std::string base = fs::path(path).parent_path().string();
  if (base.empty()) base = ".";
  auto t = parse_document(ss.str(), path, base, host);
  if (!t) return t;
  if (auto s = validate(*t); !s) return s.error();
  return t;
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
    Parser parser("", "/");
    YAML::Node n = settings_node(base, s);
    PortSpec out = parser.port(n, bridge.name, bt);
    out.loc = {};
    if (warnings) warnings->insert(warnings->end(), parser.warnings.begin(), parser.warnings.end());
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
    if (k != "mac_aging" && k != "mac_table_size" && k != "conntrack_max" && k != "conntrack_timeouts" && k != "type")
      return Error{"bridge '" + b.name + "': '" + k +
                   "' cannot be set (mac_aging, mac_table_size, conntrack_max, conntrack_timeouts)"};
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
  return guarded("", [&] {
    Parser parser("", "/");
    parser.set_context("bridge '" + b.name + "': ");
    BridgeSpec out = b;
    out.settings = {};
    parser.bridge_settings(settings_node(base, s), out);
    return out;
  });
}

Result<PortSpec> parse_port(const BridgeSpec& bridge, const std::string& flow_map) {
  return guarded("", [&] {
    Parser parser("", "/");
    return parser.port(YAML::Load(flow_map), bridge.name, bridge.type);
  });
}

Status check_ip(const std::string& ip) {
  unsigned char buf[16];
  if (inet_pton(AF_INET, ip.c_str(), buf) == 1 || inet_pton(AF_INET6, ip.c_str(), buf) == 1) return Ok{};
  return Error{"'" + ip + "' is not an IPv4 or IPv6 address"};
}

Status check_cidr(const std::string& cidr) {
  const auto slash = cidr.find('/');
  if (slash == std::string::npos) return Error{"ip '" + cidr + "' must be ADDRESS/PREFIX (e.g. 10.0.0.1/24)"};
  const std::string addr = cidr.substr(0, slash), len = cidr.substr(slash + 1);
  if (!check_ip(addr)) return Error{"ip '" + cidr + "': '" + addr + "' is not an IP address"};
  const int max = addr.find(':') == std::string::npos ? 32 : 128;
  int v = -1;
  auto [p, ec] = std::from_chars(len.data(), len.data() + len.size(), v);
  if (ec != std::errc() || p != len.data() + len.size() || v < 0 || v > max)
    return Error{"ip '" + cidr + "': prefix length must be 0-" + std::to_string(max)};
  return Ok{};
}

Status check_name(const std::string& name) {
  if (name.empty() || name.size() > 15) return Error{"name '" + name + "' must be 1-15 characters long"};
  if (!std::isalnum(static_cast<unsigned char>(name[0])))
    return Error{"name '" + name + "' must start with a letter or a digit"};
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '_' || c == '.';
    if (!ok) return Error{"name '" + name + "' may only hold letters, digits, '-', '_' and '.'"};
  }
  return Ok{};
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
  YAML::Emitter e;
  emit_port(e, p, bt);
  return e.c_str();
}

namespace {

void emit_vm(YAML::Emitter& e, const VmSpec& v) {
  e << YAML::BeginMap;
  e << YAML::Key << "name" << YAML::Value << v.name;
  e << YAML::Key << "memory" << YAML::Value << format_memory(v.memory_mb);
  e << YAML::Key << "vcpus" << YAML::Value << v.vcpus;
  if (v.accel != Accel::kAuto) e << YAML::Key << "accel" << YAML::Value << to_string(v.accel);
  if (v.machine != "q35") e << YAML::Key << "machine" << YAML::Value << v.machine;
  if (!v.kernel.empty()) e << YAML::Key << "kernel" << YAML::Value << v.kernel;
  if (!v.initrd.empty()) e << YAML::Key << "initrd" << YAML::Value << v.initrd;
  if (!v.cmdline.empty()) e << YAML::Key << "cmdline" << YAML::Value << YAML::DoubleQuoted << v.cmdline;
  if (!v.disk.empty()) e << YAML::Key << "disk" << YAML::Value << v.disk;
  if (v.autostart) e << YAML::Key << "autostart" << YAML::Value << true;
  e << YAML::Key << "nics" << YAML::Value;
  if (v.nics.empty()) e << YAML::Flow;
  e << YAML::BeginSeq;
  for (const auto& n : v.nics) {
    e << YAML::Flow << YAML::BeginMap;
    e << YAML::Key << "bridge" << YAML::Value << n.bridge;
    e << YAML::Key << "port" << YAML::Value << n.port;
    e << YAML::Key << "mac" << YAML::Value << YAML::DoubleQuoted << n.mac;
    if (!n.ip.empty()) e << YAML::Key << "ip" << YAML::Value << n.ip;
    if (!n.gw.empty()) e << YAML::Key << "gw" << YAML::Value << YAML::DoubleQuoted << n.gw;
    if (n.qbr) e << YAML::Key << "qbr" << YAML::Value << true;
    e << YAML::EndMap;
  }
  e << YAML::EndSeq << YAML::EndMap;
}

}  // namespace

namespace {

void emit_sg(YAML::Emitter& e, const SecurityGroupSpec& g) {
  e << YAML::BeginMap << YAML::Key << "name" << YAML::Value << g.name;
  if (!g.description.empty()) e << YAML::Key << "description" << YAML::Value << YAML::DoubleQuoted << g.description;
  e << YAML::Key << "rules" << YAML::Value;
  if (g.rules.empty()) e << YAML::Flow;
  e << YAML::BeginSeq;
  for (const auto& r : g.rules) {
    e << YAML::Flow << YAML::BeginMap << YAML::Key << "id" << YAML::Value << r.id;
    for (const auto& f : sg_rule_fields(r)) {
      e << YAML::Key << f.key << YAML::Value;
      if (f.key == "port") e << YAML::DoubleQuoted;
      e << f.value;
    }
    e << YAML::EndMap;
  }
  e << YAML::EndSeq << YAML::EndMap;
}

}  // namespace

namespace {

void emit_mirror(YAML::Emitter& e, const MirrorSpec& m) {
  e << YAML::Flow << YAML::BeginMap;
  e << YAML::Key << "name" << YAML::Value << m.name;
  for (const auto& f : mirror_fields(m)) {
    e << YAML::Key << f.key << YAML::Value;
    emit_value(e, f);
  }
  e << YAML::EndMap;
}

void emit_gateway(YAML::Emitter& e, const GatewaySpec& g) {
  e << YAML::Flow << YAML::BeginMap;
  e << YAML::Key << "name" << YAML::Value << g.name;
  e << YAML::Key << "bridge" << YAML::Value << g.bridge;
  if (g.vlan) e << YAML::Key << "vlan" << YAML::Value << g.vlan;
  e << YAML::Key << "ip" << YAML::Value << g.ip;
  if (g.masquerade) e << YAML::Key << "masquerade" << YAML::Value << true;
  if (g.has_dhcp()) e << YAML::Key << "dhcp" << YAML::Value << YAML::DoubleQuoted << g.dhcp();
  if (!g.forwards.empty()) {
    e << YAML::Key << "forwards" << YAML::Value << YAML::Flow << YAML::BeginSeq;
    for (const auto& f : g.forwards) e << YAML::DoubleQuoted << f.str();
    e << YAML::EndSeq;
  }
  e << YAML::EndMap;
}

}  // namespace

std::string mirror_to_yaml(const MirrorSpec& m) {
  YAML::Emitter e;
  emit_mirror(e, m);
  return e.c_str();
}

Result<MirrorSpec> parse_mirror(const BridgeSpec& bridge, const std::string& yaml) {
  return guarded("", [&] {
    Parser parser("", "/");
    MirrorSpec m = parser.mirror(YAML::Load(yaml), bridge.name, bridge.type);
    m.line = m.col = 0;
    return m;
  });
}

std::string gateway_to_yaml(const GatewaySpec& g) {
  YAML::Emitter e;
  emit_gateway(e, g);
  return e.c_str();
}

Result<GatewaySpec> parse_gateway(const std::string& yaml) {
  return guarded("", [&] {
    Parser parser("", "/");
    GatewaySpec g = parser.gateway(YAML::Load(yaml));
    g.line = g.col = 0;
    return g;
  });
}

std::string sg_to_yaml(const SecurityGroupSpec& g) {
  YAML::Emitter e;
  e << YAML::Flow;
  emit_sg(e, g);
  return e.c_str();
}

Result<SecurityGroupSpec> parse_sg(const std::string& yaml) {
  return guarded("", [&] {
    Parser parser("", "/");
    SecurityGroupSpec g = parser.security_group(YAML::Load(yaml));
    g.line = g.col = 0;
    return g;
  });
}

std::string vm_to_yaml(const VmSpec& v) {
  YAML::Emitter e;
  e << YAML::Flow;
  emit_vm(e, v);
  return e.c_str();
}

Result<VmSpec> parse_vm(const std::string& yaml) {
  return guarded("", [&] {
    Parser parser("", "/");
    VmSpec v = parser.vm(YAML::Load(yaml));
    v.line = v.col = 0;
    return v;
  });
}

std::string to_yaml(const Topology& t) {
  YAML::Emitter e;
  e << YAML::BeginMap << YAML::Key << "bridges" << YAML::Value;
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
  if (!t.containers.empty()) {
    e << YAML::Key << "containers" << YAML::Value;
    if (t.containers.empty()) e << YAML::Flow;
    e << YAML::BeginSeq;
    for (const auto& c : t.containers) {
      e << YAML::Flow << YAML::BeginMap;
      e << YAML::Key << "name" << YAML::Value << c.name;
      e << YAML::Key << "bridge" << YAML::Value << c.bridge;
      e << YAML::Key << "port" << YAML::Value << c.port;
      if (!c.ip.empty()) e << YAML::Key << "ip" << YAML::Value << c.ip;
      if (!c.gw.empty()) e << YAML::Key << "gw" << YAML::Value << YAML::DoubleQuoted << c.gw;
      if (!c.mac.empty()) e << YAML::Key << "mac" << YAML::Value << YAML::DoubleQuoted << c.mac;
      e << YAML::EndMap;
    }
    e << YAML::EndSeq;
  }
  if (!t.security_groups.empty()) {
    e << YAML::Key << "security_groups" << YAML::Value << YAML::BeginSeq;
    for (const auto& g : t.security_groups) emit_sg(e, g);
    e << YAML::EndSeq;
  }
  if (!t.vms.empty()) {
    e << YAML::Key << "vms" << YAML::Value << YAML::BeginSeq;
    for (const auto& v : t.vms) emit_vm(e, v);
    e << YAML::EndSeq;
  }
  if (!t.gateways.empty()) {
    e << YAML::Key << "gateways" << YAML::Value << YAML::BeginSeq;
    for (const auto& g : t.gateways) emit_gateway(e, g);
    e << YAML::EndSeq;
  }
  e << YAML::EndMap;
  return std::string(e.c_str()) + "\n";
}

}  // namespace kvnet::ctl
