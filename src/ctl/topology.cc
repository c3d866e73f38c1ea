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

#include "base/text.h"
#include "ctl/document.h"

namespace kvnet::ctl {

namespace fs = std::filesystem;

// ------------------------------------------------------------ reading

std::string where(const std::string& file, Loc loc) {
  if (file.empty()) return "";
  if (loc.line <= 0) return file + ": ";
  return file + ":" + std::to_string(loc.line) + ":" + std::to_string(loc.col) + ": ";
}

Loc loc_of(const YAML::Node& n) {
  if (!n.IsDefined() || n.Mark().line < 0) return {};
  return {n.Mark().line + 1, n.Mark().column + 1};
}

std::string trimmed(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

void DocReader::fail(const YAML::Node& n, const std::string& what) const {
  throw DocError{where(file_, loc_of(n)) + ctx_ + what};
}

std::string DocReader::scalar(const YAML::Node& n, std::string_view key) const {
  if (!n.IsScalar()) fail(n, "'" + std::string(key) + "' must be a scalar");
  return n.Scalar();
}

std::string DocReader::path(const std::string& p) const {
  if (p.empty() || fs::path(p).is_absolute()) return p;
  return (fs::path(base_) / p).lexically_normal().string();
}

void DocReader::list(const YAML::Node& n, std::string_view section) const {
  if (!n.IsSequence()) fail(n, "'" + std::string(section) + "' must be a list");
}

std::string DocReader::named_object(const YAML::Node& n, const std::string& what, const std::vector<std::string>& allowed) {
  ctx_.clear();
  if (!n.IsMap()) fail(n, "a " + what + " must be a mapping");
  if (!n["name"]) fail(n, "a " + what + " needs a 'name'");
  std::string name = scalar(n["name"], "name");
  ctx_ = what + " '" + name + "': ";
  if (auto s = check_name(name); !s) fail(n["name"], s.error().message);
  check_keys(n, allowed, ("a " + what).c_str());
  return name;
}

void DocReader::check_keys(const YAML::Node& map, const std::vector<std::string>& allowed, const char* what) const {
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

int64_t DocReader::integer(const YAML::Node& n, std::string_view key, int64_t lo, int64_t hi) const {
  const std::string s = scalar(n, key);
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || p != s.data() + s.size() || (ec != std::errc() && ec != std::errc::result_out_of_range))
    fail(n, std::string(key) + " '" + s + "' is not an integer");
  if (ec == std::errc::result_out_of_range || v < lo || v > hi)
    fail(n, std::string(key) + " " + s + " is out of range " + std::to_string(lo) + "-" + std::to_string(hi));
  return v;
}

bool DocReader::boolean(const YAML::Node& n, std::string_view key) const {
  const std::string v = scalar(n, key);
  if (v == "true" || v == "yes") return true;
  if (v == "false" || v == "no") return false;
  fail(n, std::string(key) + " '" + v + "' must be true or false");
}

dp::VlanSet DocReader::vlan_list(const YAML::Node& n, const char* key) const {
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

std::vector<std::string> DocReader::words(const YAML::Node& n, std::string_view key) const {
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

void DocChecker::fail(Loc loc, const std::string& ctx, const std::string& what) const {
  throw DocError{where(t_.file, loc) + ctx + what};
}

// ------------------------------------------------------------ writing

void emit_value(YAML::Emitter& e, const Field& f) {
  if (f.map && !f.pairs.empty()) {
    e << YAML::Flow << YAML::BeginMap;
    for (const auto& [k, v] : f.pairs) e << YAML::Key << k << YAML::Value << v;
    e << YAML::EndMap;
    return;
  }
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

YAML::Node settings_node(const Fields& base, const Settings& changes) {
  YAML::Node n(YAML::NodeType::Map);
  for (const auto& f : base) n[f.key] = f.value;
  for (const auto& [k, v] : changes) {
    if (v.empty()) n.remove(k);
    else n[k] = v;
  }
  return n;
}

// ------------------------------------------------------------ the document

namespace {

YAML::Node host_section(const DocReader& r, const YAML::Node& root, const std::string& host) {
  const bool multi = root.IsMap() && root["hosts"];
  if (!multi) {
    if (!host.empty()) r.fail(root, "there is no 'hosts:' section to pick host '" + host + "' from");
    return root;
  }
  const YAML::Node hosts = root["hosts"];
  r.check_keys(root, {"hosts"}, "a file of several hosts");
  if (!hosts.IsMap() || hosts.size() == 0) r.fail(hosts, "'hosts' must map host names to topologies");
  std::string names;
  for (const auto& kv : hosts) names += (names.empty() ? "" : ", ") + r.scalar(kv.first, "host name");
  if (host.empty()) r.fail(hosts, "this file describes several hosts (" + names + "): pick one with --host NAME");
  if (!hosts[host]) r.fail(hosts, "host '" + host + "' is not in this file (" + names + ")");
  return hosts[host];
}

// The sections in the order of the table of object types; `bridges:` must be there.
Topology document(DocReader& r, const YAML::Node& root) {
  Topology t;
  if (!root.IsDefined() || root.IsNull()) r.fail(root, "the file is empty (expected 'bridges:')");
  std::vector<std::string> sections;
  for (const ObjectType* type : object_types())
    if (!type->section().empty()) sections.emplace_back(type->section());
  r.check_keys(root, sections, "the topology");
  if (!root["bridges"] || !root["bridges"].IsSequence()) r.fail(root, "'bridges' must be a list of bridges");
  for (const ObjectType* type : object_types()) {
    if (type->section().empty()) continue;
    if (const YAML::Node n = root[std::string(type->section())]) type->read(r, n, t);
    r.set_context("");
  }
  return t;
}

}  // namespace

// ------------------------------------------------------------ public

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
    DocReader r(file, base_dir);
    const YAML::Node root = YAML::Load(yaml);
    Topology t = document(r, host_section(r, root, host));
    t.warnings = std::move(r.warnings);
    t.file = file;
    t.base_dir = base_dir;
    return t;
  });
}

// Every object type's rules (those involving the scope's objects), in the
// order of the table of types.
Status validate(const Topology& t, const ParseOptions& opts, const Scope& scope) {
  return guarded(t.file, [&] {
    const DocChecker c(t, opts, scope);
    for (const ObjectType* type : object_types()) type->check(c);
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

Status check_ip(const std::string& ip) {
  unsigned char buf[16];
  // inet_pton stops at a NUL: "10.0.0.1\0junk" is not an address.
  if (!has_control(ip) && (inet_pton(AF_INET, ip.c_str(), buf) == 1 || inet_pton(AF_INET6, ip.c_str(), buf) == 1))
    return Ok{};
  return Error{"'" + printable(ip) + "' is not an IPv4 or IPv6 address"};
}

Status check_cidr(const std::string& cidr) {
  if (has_control(cidr)) return Error{"ip '" + printable(cidr) + "' holds a control character or NUL"};
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

std::string to_yaml(const Topology& t) {
  YAML::Emitter e;
  e << YAML::BeginMap;
  for (const ObjectType* type : object_types()) type->write(e, t);
  e << YAML::EndMap;
  return std::string(e.c_str()) + "\n";
}

}  // namespace kvnet::ctl
