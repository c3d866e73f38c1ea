#include "ctl/topology.h"

#include <arpa/inet.h>
#include <yaml-cpp/yaml.h>

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "net/bytes.h"

namespace kvnet::ctl {
namespace {

namespace fs = std::filesystem;

// Thrown inside this file only, turned into an Error at the API boundary.
struct TopoError {
  std::string msg;
};

class Loader {
 public:
  Loader(std::string file, std::string base, ParseOptions opts)
      : file_(std::move(file)), base_(std::move(base)), opts_(opts) {}

  Topology load(const YAML::Node& root);

 private:
  [[noreturn]] void fail(const YAML::Node& n, const std::string& what) const {
    if (file_.empty()) throw TopoError{ctx_ + what};
    std::string where = file_;
    if (n.IsDefined() && n.Mark().line >= 0)
      where += ":" + std::to_string(n.Mark().line + 1) + ":" + std::to_string(n.Mark().column + 1);
    throw TopoError{where + ": " + ctx_ + what};
  }
  void check_keys(const YAML::Node& map, std::initializer_list<const char*> allowed, const char* what);
  std::string scalar(const YAML::Node& n, const char* key);
  int64_t integer(const YAML::Node& n, const char* key, int64_t lo, int64_t hi);
  dp::VlanSet vlan_list(const YAML::Node& n, const char* key);
  std::string path(const std::string& p) const {
    if (p.empty() || fs::path(p).is_absolute()) return p;
    return (fs::path(base_) / p).lexically_normal().string();
  }
  BridgeSpec bridge(const YAML::Node& n);
  PortSpec port(const YAML::Node& n, const BridgeSpec& br);
  FdbSpec fdb_entry(const YAML::Node& n, const BridgeSpec& br);
  void check_patches(const Topology& t, const YAML::Node& root);

  std::string at(int line) const { return file_.empty() ? "" : file_ + ":" + std::to_string(line) + ": "; }
  ContainerSpec container(const YAML::Node& n, const Topology& t);

  std::string file_, base_;
  ParseOptions opts_;
  std::string ctx_;  // "bridge 'x': port 'y': "
};

void Loader::check_keys(const YAML::Node& map, std::initializer_list<const char*> allowed, const char* what) {
  if (!map.IsMap()) fail(map, std::string(what) + " must be a mapping");
  std::set<std::string> seen;
  for (const auto& kv : map) {
    const std::string k = kv.first.as<std::string>();
    if (!seen.insert(k).second) fail(kv.first, "duplicate key '" + k + "' in " + what);
    bool ok = false;
    std::string list;
    for (const char* a : allowed) {
      ok = ok || k == a;
      list += list.empty() ? a : std::string(", ") + a;
    }
    if (!ok) fail(kv.first, "unknown key '" + k + "' in " + what + " (known: " + list + ")");
  }
}

std::string Loader::scalar(const YAML::Node& n, const char* key) {
  if (!n.IsScalar()) fail(n, std::string("'") + key + "' must be a scalar");
  return n.Scalar();
}

int64_t Loader::integer(const YAML::Node& n, const char* key, int64_t lo, int64_t hi) {
  const std::string s = scalar(n, key);
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty())
    fail(n, std::string(key) + " '" + s + "' is not an integer");
  if (v < lo || v > hi)
    fail(n, std::string(key) + " " + s + " is out of range " + std::to_string(lo) + "-" + std::to_string(hi));
  return v;
}

dp::VlanSet Loader::vlan_list(const YAML::Node& n, const char* key) {
  dp::VlanSet set;
  auto add = [&](const YAML::Node& item, const std::string& text) {
    if (auto e = dp::add_vlan_item(set, text)) fail(item, std::string(key) + ": " + *e);
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
  return set;
}

PortSpec Loader::port(const YAML::Node& n, const BridgeSpec& br) {
  PortSpec p;
  p.line = n.Mark().line + 1;
  if (!n.IsMap()) fail(n, "a port must be a mapping");
  if (!n["name"]) fail(n, "a port needs a 'name'");
  p.name = scalar(n["name"], "name");
  ctx_ = "bridge '" + br.name + "': port '" + p.name + "': ";
  if (auto e = check_name(p.name)) fail(n["name"], *e);
  check_keys(n, {"name", "type", "rx", "tx", "peer", "mtu", "persistent", "vlan_mode", "pvid", "allowed", "tagged", "untagged",
                 "cvlans", "qinq_ethtype", "priority_tags"},
             "a port");
  if (!n["type"]) fail(n, "'type' is required (pcap, patch, tap, system, internal)");
  const std::string type = scalar(n["type"], "type");
  auto t = dp::parse_port_type(type);
  if (!t) fail(n["type"], "type '" + type + "' is unknown (pcap, patch, tap, system, internal)");
  p.type = *t;
  if (n["mtu"]) p.mtu = static_cast<uint32_t>(integer(n["mtu"], "mtu", dp::kMinMtu, dp::kMaxMtu));

  const bool pcap = p.type == dp::PortType::kPcap, patch = p.type == dp::PortType::kPatch;
  if (n["persistent"]) {
    if (p.type != dp::PortType::kTap) fail(n["persistent"], "'persistent' applies to tap ports only");
    const std::string v = scalar(n["persistent"], "persistent");
    if (v == "true" || v == "yes") p.persistent = true;
    else if (v == "false" || v == "no") p.persistent = false;
    else fail(n["persistent"], "persistent '" + v + "' must be true or false");
  }
  if (n["rx"] && !pcap) fail(n["rx"], "'rx' applies to pcap ports only");
  if (n["tx"] && !pcap) fail(n["tx"], "'tx' applies to pcap ports only");
  if (n["peer"] && !patch) fail(n["peer"], "'peer' applies to patch ports only");
  if (n["rx"]) {
    p.rx = path(scalar(n["rx"], "rx"));
    if (p.rx.empty()) fail(n["rx"], "'rx' is empty");
  }
  if (n["tx"]) {
    p.tx = path(scalar(n["tx"], "tx"));
    if (p.tx.empty()) fail(n["tx"], "'tx' is empty");
  }
  if (patch) {
    if (!n["peer"]) fail(n, "a patch port needs 'peer: BRIDGE/PORT'");
    const std::string peer = scalar(n["peer"], "peer");
    const auto slash = peer.find('/');
    if (slash == std::string::npos || slash == 0 || slash + 1 == peer.size())
      fail(n["peer"], "peer '" + peer + "' must be BRIDGE/PORT");
    p.peer_bridge = peer.substr(0, slash);
    p.peer_port = peer.substr(slash + 1);
  }

  // VLAN configuration.
  static const char* kVlanKeys[] = {"vlan_mode", "pvid", "allowed", "tagged", "untagged", "cvlans",
                                    "qinq_ethtype", "priority_tags"};
  for (const char* k : kVlanKeys) {
    if (!n[k]) continue;
    if (br.type != dp::BridgeType::kSwitch)
      fail(n[k], std::string("'") + k + "' applies to ports of switch bridges, not " +
                     std::string(dp::to_string(br.type)) + " bridges");
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
    if (v.mode != dp::VlanMode::kDot1qTunnel) fail(n["qinq_ethtype"], "'qinq_ethtype' applies to dot1q-tunnel ports only");
  }
  if (n["priority_tags"]) {
    const std::string s = scalar(n["priority_tags"], "priority_tags");
    auto pt = dp::parse_priority_tags(s);
    if (!pt) fail(n["priority_tags"], "priority_tags '" + s + "' is unknown (never, if-nonzero, always)");
    v.priority_tags = *pt;
  }
  if (auto e = dp::validate(v)) fail(n, *e);
  return p;
}

FdbSpec Loader::fdb_entry(const YAML::Node& n, const BridgeSpec& br) {
  FdbSpec f;
  f.line = n.Mark().line + 1;
  check_keys(n, {"vlan", "mac", "port"}, "a static FDB entry");
  if (!n["mac"] || !n["port"]) fail(n, "a static FDB entry needs 'mac' and 'port'");
  const std::string m = scalar(n["mac"], "mac");
  auto mac = net::Mac::parse(m);
  if (!mac) fail(n["mac"], "mac '" + m + "' is not a MAC address (aa:bb:cc:dd:ee:ff)");
  if (mac->is_multicast() || mac->is_zero()) fail(n["mac"], "static FDB entry " + m + " must be a unicast MAC");
  f.mac = mac->u64();
  f.port = scalar(n["port"], "port");
  if (br.type == dp::BridgeType::kSwitch) {
    if (!n["vlan"]) fail(n, "a static FDB entry of a switch needs 'vlan'");
    f.vlan = static_cast<uint16_t>(integer(n["vlan"], "vlan", dp::kMinVid, dp::kMaxVid));
  } else if (n["vlan"]) {
    fail(n["vlan"], "'vlan' applies to static FDB entries of switch bridges only");
  }
  const PortSpec* port = nullptr;
  for (const auto& p : br.ports)
    if (p.name == f.port) port = &p;
  if (!port) fail(n["port"], "static FDB entry " + m + ": port '" + f.port + "' is not a port of this bridge");
  if (br.type == dp::BridgeType::kSwitch && !dp::VlanPort(port->vlan).member(f.vlan))
    fail(n["vlan"], "static FDB entry " + m + ": port '" + f.port + "' does not carry VLAN " + std::to_string(f.vlan));
  return f;
}

BridgeSpec Loader::bridge(const YAML::Node& n) {
  BridgeSpec b;
  b.line = n.Mark().line + 1;
  ctx_.clear();
  if (!n.IsMap()) fail(n, "a bridge must be a mapping");
  if (!n["name"]) fail(n, "a bridge needs a 'name'");
  b.name = scalar(n["name"], "name");
  ctx_ = "bridge '" + b.name + "': ";
  if (auto e = check_name(b.name)) fail(n["name"], *e);
  check_keys(n, {"name", "type", "mac_aging", "mac_table_size", "ports", "fdb"}, "a bridge");
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
    b.settings.mac_table_size =
        static_cast<uint32_t>(integer(n["mac_table_size"], "mac_table_size", 1, 1 << 20));
  }
  if (n["ports"]) {
    if (!n["ports"].IsSequence()) fail(n["ports"], "'ports' must be a list");
    for (const auto& pn : n["ports"]) {
      b.ports.push_back(port(pn, b));
      ctx_ = "bridge '" + b.name + "': ";
    }
  }
  if (n["fdb"]) {
    if (hub) fail(n["fdb"], "'fdb' applies to learning and switch bridges, not hubs");
    if (!n["fdb"].IsSequence()) fail(n["fdb"], "'fdb' must be a list");
    for (const auto& fn : n["fdb"]) b.fdb.push_back(fdb_entry(fn, b));
  }
  return b;
}

void Loader::check_patches(const Topology& t, const YAML::Node& root) {
  for (const auto& b : t.bridges)
    for (const auto& p : b.ports) {
      if (p.type != dp::PortType::kPatch) continue;
      ctx_ = "bridge '" + b.name + "': port '" + p.name + "': ";
      auto where = [&](const std::string& m) { throw TopoError{at(p.line) + ctx_ + m}; };
      (void)root;
      const BridgeSpec* pb = t.find_bridge(p.peer_bridge);
      if (!pb && opts_.allow_dangling_patches) continue;
      if (!pb) where("peer bridge '" + p.peer_bridge + "' does not exist");
      const PortSpec* pp = nullptr;
      for (const auto& q : pb->ports)
        if (q.name == p.peer_port) pp = &q;
      if (!pp && opts_.allow_dangling_patches) continue;
      if (!pp) where("peer port '" + p.peer_bridge + "/" + p.peer_port + "' does not exist");
      if (pp == &p) where("a patch port cannot be its own peer");
      if (pp->type != dp::PortType::kPatch)
        where("peer '" + p.peer_bridge + "/" + p.peer_port + "' is a " + std::string(dp::to_string(pp->type)) +
              " port, not a patch port");
      if (pp->peer_bridge != b.name || pp->peer_port != p.name)
        where("peer '" + p.peer_bridge + "/" + p.peer_port + "' names '" + pp->peer_bridge + "/" + pp->peer_port +
              "' as its peer, not this port");
    }
}

Topology Loader::load(const YAML::Node& root) {
  Topology t;
  if (!root.IsDefined() || root.IsNull()) fail(root, "the file is empty (expected 'bridges:')");
  check_keys(root, {"bridges", "containers"}, "the topology");
  if (!root["bridges"] || !root["bridges"].IsSequence()) fail(root, "'bridges' must be a list of bridges");
  std::set<std::string> bridge_names, port_names;
  for (const auto& bn : root["bridges"]) {
    BridgeSpec b = bridge(bn);
    if (!bridge_names.insert(b.name).second) fail(bn["name"], "duplicate bridge name '" + b.name + "'");
    size_t i = 0;
    for (const auto& p : b.ports) {
      if (!port_names.insert(p.name).second) {
        ctx_ = "bridge '" + b.name + "': ";
        fail(bn["ports"][i]["name"], "duplicate port name '" + p.name + "' (port names are unique across bridges)");
      }
      ++i;
    }
    t.bridges.push_back(std::move(b));
  }
  ctx_.clear();
  std::set<std::string> tx_files;
  for (const auto& b : t.bridges)
    for (const auto& p : b.ports) {
      if (p.tx.empty()) continue;
      if (!tx_files.insert(p.tx).second)
        throw TopoError{at(p.line) + "bridge '" + b.name + "': port '" + p.name + "': tx file '" + p.tx +
                        "' is written by another port too"};
    }
  for (const auto& b : t.bridges)
    for (const auto& p : b.ports)
      if (!p.rx.empty() && tx_files.count(p.rx))
        throw TopoError{at(p.line) + "bridge '" + b.name + "': port '" + p.name + "': rx file '" + p.rx +
                        "' is also a tx file"};
  check_patches(t, root);
  if (root["containers"]) {
    if (!root["containers"].IsSequence()) fail(root["containers"], "'containers' must be a list");
    std::set<std::string> names;
    for (const auto& cn : root["containers"]) {
      ContainerSpec c = container(cn, t);
      if (!names.insert(c.name).second) fail(cn["name"], "duplicate container name '" + c.name + "'");
      for (const auto& o : t.containers)
        if (o.port == c.port) fail(cn, "container '" + c.name + "': port '" + c.port + "' belongs to container '" + o.name + "' too");
      t.containers.push_back(std::move(c));
    }
    ctx_.clear();
  }
  return t;
}

ContainerSpec Loader::container(const YAML::Node& n, const Topology& t) {
  ContainerSpec c;
  ctx_.clear();
  if (!n.IsMap()) fail(n, "a container must be a mapping");
  c.line = n.Mark().line + 1;
  if (!n["name"]) fail(n, "a container needs a 'name'");
  c.name = scalar(n["name"], "name");
  ctx_ = "container '" + c.name + "': ";
  if (auto e = check_name(c.name)) fail(n["name"], *e);
  check_keys(n, {"name", "bridge", "port", "ip", "gw", "mac"}, "a container");
  if (!n["bridge"] || !n["port"]) fail(n, "a container needs 'bridge' and 'port'");
  c.bridge = scalar(n["bridge"], "bridge");
  c.port = scalar(n["port"], "port");
  const BridgeSpec* b = t.find_bridge(c.bridge);
  if (!b) fail(n["bridge"], "bridge '" + c.bridge + "' does not exist");
  const PortSpec* p = nullptr;
  for (const auto& q : b->ports)
    if (q.name == c.port) p = &q;
  if (!p) fail(n["port"], "port '" + c.port + "' is not a port of bridge '" + c.bridge + "'");
  if (p->type != dp::PortType::kSystem)
    fail(n["port"], "port '" + c.port + "' must be a system port (the container's veth), not " +
                        std::string(dp::to_string(p->type)));
  if (n["ip"]) {
    c.ip = scalar(n["ip"], "ip");
    if (auto e = check_cidr(c.ip)) fail(n["ip"], *e);
  }
  if (n["gw"]) {
    c.gw = scalar(n["gw"], "gw");
    if (auto e = check_ip(c.gw)) fail(n["gw"], *e);
  }
  if (n["mac"]) {
    c.mac = scalar(n["mac"], "mac");
    auto m = net::Mac::parse(c.mac);
    if (!m) fail(n["mac"], "mac '" + c.mac + "' is not a MAC address (aa:bb:cc:dd:ee:ff)");
    if (m->is_multicast() || m->is_zero()) fail(n["mac"], "mac '" + c.mac + "' must be a unicast MAC");
  }
  return c;
}

}  // namespace

std::optional<std::string> check_ip(const std::string& ip) {
  unsigned char buf[16];
  if (inet_pton(AF_INET, ip.c_str(), buf) == 1 || inet_pton(AF_INET6, ip.c_str(), buf) == 1) return std::nullopt;
  return "'" + ip + "' is not an IPv4 or IPv6 address";
}

std::optional<std::string> check_cidr(const std::string& cidr) {
  const auto slash = cidr.find('/');
  if (slash == std::string::npos) return "ip '" + cidr + "' must be ADDRESS/PREFIX (e.g. 10.0.0.1/24)";
  const std::string addr = cidr.substr(0, slash), len = cidr.substr(slash + 1);
  if (check_ip(addr)) return "ip '" + cidr + "': '" + addr + "' is not an IP address";
  const int max = addr.find(':') == std::string::npos ? 32 : 128;
  int v = -1;
  auto [p, ec] = std::from_chars(len.data(), len.data() + len.size(), v);
  if (ec != std::errc() || p != len.data() + len.size() || v < 0 || v > max)
    return "ip '" + cidr + "': prefix length must be 0-" + std::to_string(max);
  return std::nullopt;
}

std::optional<std::string> check_name(const std::string& name) {
  if (name.empty() || name.size() > 15) return "name '" + name + "' must be 1-15 characters long";
  if (!std::isalnum(static_cast<unsigned char>(name[0])))
    return "name '" + name + "' must start with a letter or a digit";
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '_' || c == '.';
    if (!ok) return "name '" + name + "' may only hold letters, digits, '-', '_' and '.'";
  }
  return std::nullopt;
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
    for (const auto& p : b.ports)
      if (p.name == pname) {
        if (bridge) *bridge = &b;
        return &p;
      }
  }
  return nullptr;
}

Result<Topology> parse_topology(const std::string& yaml, const std::string& file, const std::string& base_dir,
                                const ParseOptions& opts) {
  try {
    YAML::Node root = YAML::Load(yaml);
    Loader l(file, base_dir, opts);
    Topology t = l.load(root);
    t.file = file;
    t.base_dir = base_dir;
    return t;
  } catch (const TopoError& e) {
    return Error{e.msg};
  } catch (const YAML::Exception& e) {
    if (file.empty()) return Error{"invalid YAML: " + e.msg};
    return Error{file + ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1) +
                 ": invalid YAML: " + e.msg};
  }
}

static void emit_vlans(YAML::Emitter& e, const char* key, const dp::VlanSet& set) {
  e << YAML::Key << key << YAML::Value << YAML::Flow << YAML::BeginSeq;
  std::stringstream ss(dp::vlan_set_str(set));
  std::string item;
  while (std::getline(ss, item, ',')) e << item;
  e << YAML::EndSeq;
}

std::string port_to_yaml(const PortSpec& p, dp::BridgeType bt) {
  YAML::Emitter e;
  e << YAML::Flow << YAML::BeginMap;
  e << YAML::Key << "name" << YAML::Value << p.name;
  e << YAML::Key << "type" << YAML::Value << std::string(dp::to_string(p.type));
  if (!p.rx.empty()) e << YAML::Key << "rx" << YAML::Value << p.rx;
  if (!p.tx.empty()) e << YAML::Key << "tx" << YAML::Value << p.tx;
  if (p.type == dp::PortType::kPatch) e << YAML::Key << "peer" << YAML::Value << p.peer_bridge + "/" + p.peer_port;
  if (p.mtu != dp::kDefaultMtu) e << YAML::Key << "mtu" << YAML::Value << p.mtu;
  if (p.persistent) e << YAML::Key << "persistent" << YAML::Value << "true";
  if (bt == dp::BridgeType::kSwitch) {
    const auto& v = p.vlan;
    e << YAML::Key << "vlan_mode" << YAML::Value << std::string(dp::to_string(v.mode));
    e << YAML::Key << "pvid" << YAML::Value << v.pvid;
    if (v.allowed) emit_vlans(e, "allowed", *v.allowed);
    if (v.tagged.any()) emit_vlans(e, "tagged", v.tagged);
    if (v.untagged.any()) emit_vlans(e, "untagged", v.untagged);
    if (v.cvlans) emit_vlans(e, "cvlans", *v.cvlans);
    if (v.mode == dp::VlanMode::kDot1qTunnel)
      e << YAML::Key << "qinq_ethtype" << YAML::Value << (v.qinq_tpid == 0x8100 ? "802.1q" : "802.1ad");
    if (v.priority_tags != dp::PriorityTags::kNever)
      e << YAML::Key << "priority_tags" << YAML::Value << std::string(dp::to_string(v.priority_tags));
  }
  e << YAML::EndMap;
  return e.c_str();
}

// A string as a YAML scalar, quoted where plain text would read as something
// else (a name "null" would read back as a null node).
static std::string yaml_str(const std::string& s) {
  YAML::Emitter e;
  e << s;
  return e.c_str();
}

std::string to_yaml(const Topology& t) {
  std::string out = "bridges:\n";
  if (t.bridges.empty()) out = "bridges: []\n";
  for (const auto& b : t.bridges) {
    out += "  - name: " + yaml_str(b.name) + "\n    type: " + std::string(dp::to_string(b.type)) + "\n";
    if (b.type != dp::BridgeType::kHub) {
      if (b.settings.mac_aging_sec != dp::kDefaultMacAgingSec)
        out += "    mac_aging: " + std::to_string(b.settings.mac_aging_sec) + "\n";
      if (b.settings.mac_table_size != dp::kDefaultMacTableSize)
        out += "    mac_table_size: " + std::to_string(b.settings.mac_table_size) + "\n";
    }
    if (!b.fdb.empty()) {
      out += "    fdb:\n";
      for (const auto& f : b.fdb) {
        out += "      - {";
        if (b.type == dp::BridgeType::kSwitch) out += "vlan: " + std::to_string(f.vlan) + ", ";
        out += "mac: \"" + net::Mac::from_u64(f.mac).str() + "\", port: " + yaml_str(f.port) + "}\n";
      }
    }
    out += b.ports.empty() ? "    ports: []\n" : "    ports:\n";
    for (const auto& p : b.ports) out += "      - " + port_to_yaml(p, b.type) + "\n";
  }
  if (!t.containers.empty()) {
    out += "containers:\n";
    for (const auto& c : t.containers) {
      out += "  - {name: " + yaml_str(c.name) + ", bridge: " + yaml_str(c.bridge) + ", port: " + yaml_str(c.port);
      if (!c.ip.empty()) out += ", ip: " + c.ip;
      if (!c.gw.empty()) out += ", gw: \"" + c.gw + "\"";
      if (!c.mac.empty()) out += ", mac: \"" + c.mac + "\"";
      out += "}\n";
    }
  }
  return out;
}

Result<Topology> load_topology(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Error{path + ": cannot open topology file: " + std::strerror(errno)};
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return Error{path + ": cannot read topology file"};
  std::string base = fs::path(path).parent_path().string();
  if (base.empty()) base = ".";
  return parse_topology(ss.str(), path, base);
}

}  // namespace kvnet::ctl
