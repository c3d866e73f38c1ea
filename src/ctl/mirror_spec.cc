#include "ctl/mirror_spec.h"

#include <algorithm>
#include <map>
#include <set>

#include "ctl/document.h"
#include "ctl/objects.h"
#include "ctl/plan.h"
#include "ctl/topology.h"
#include "net/bytes.h"

namespace kvnet::ctl {
namespace {

// A bridge's mirrors: ports of this bridge, an output that is nothing else.
void check_mirrors(const DocChecker& c, const Topology& t, const BridgeSpec& b, std::map<std::string, std::string>& names) {
  const bool sw = b.type == dp::BridgeType::kSwitch;
  if (b.mirrors.size() > dp::kMaxMirrors)
    c.fail(b.loc, "bridge '" + b.name + "': ",
           std::to_string(b.mirrors.size()) + " mirrors: a bridge has at most " + std::to_string(dp::kMaxMirrors));
  std::map<std::string, std::string> outputs;  // output port -> its mirror
  for (const auto& m : b.mirrors) {
    const Loc loc{m.line, m.col};
    const std::string ctx = "bridge '" + b.name + "': mirror '" + m.name + "': ";
    if (auto s = check_mirror(m); !s) c.fail(loc, "bridge '" + b.name + "': ", s.error().message);
    auto [it, fresh] = names.emplace(m.name, b.name);
    if (!fresh)
      c.fail(loc, "bridge '" + b.name + "': ",
             "duplicate mirror name '" + m.name + "' (also on bridge '" + it->second + "'; mirror names are unique)");
    if (!sw && m.vlans.any())
      c.fail(
          loc, ctx,
          "select_vlans applies to switch bridges; bridge '" + b.name + "' is a " + std::string(dp::to_string(b.type)));
    if (!sw && m.output_vlan)
      c.fail(loc, ctx,
             "output_vlan applies to switch bridges; bridge '" + b.name + "' is a " +
                 std::string(dp::to_string(b.type)) + " (use output_port)");
    auto own_port = [&](const std::string& key, const std::string& p) {
      if (b.find_port(p)) return;
      const BridgeSpec* other = nullptr;
      if (t.find_port(p, &other) && other)
        c.fail(loc, ctx, key + ": port '" + p + "' is a port of bridge '" + other->name + "', not of '" + b.name + "'");
      c.fail(loc, ctx, key + ": port '" + p + "' is not a port of bridge '" + b.name + "'");
    };
    for (const auto& p : m.src_ports) own_port("select_src_ports", p);
    for (const auto& p : m.dst_ports) own_port("select_dst_ports", p);
    if (m.output_port.empty()) continue;
    own_port("output_port", m.output_port);
    for (const auto* list : {&m.src_ports, &m.dst_ports})
      if (std::find(list->begin(), list->end(), m.output_port) != list->end())
        c.fail(loc, ctx,
               "output_port '" + m.output_port + "' is also selected (" +
                   (list == &m.src_ports ? "select_src_ports" : "select_dst_ports") +
                   "): a mirror's output port is reserved for its copies");
    outputs.emplace(m.output_port, m.name);
    for (const auto& f : b.fdb)
      if (f.port == m.output_port)
        c.fail(loc, ctx,
               "output_port '" + m.output_port + "' has static FDB entry " + net::Mac::from_u64(f.mac).str() +
                   ": nothing is switched to a mirror's output port");
  }
  for (const auto& m : b.mirrors)
    for (const auto* list : {&m.src_ports, &m.dst_ports})
      for (const auto& p : *list)
        if (auto it = outputs.find(p); it != outputs.end())
          c.fail(Loc{m.line, m.col}, "bridge '" + b.name + "': mirror '" + m.name + "': ",
                 "port '" + p + "' is the output of mirror '" + it->second + "': it cannot be selected");
}

class MirrorObjects final : public ObjectType {
 public:
  std::string_view name() const override { return "mirror"; }

  void check(const DocChecker& c) const override {
    std::map<std::string, std::string> names;  // mirror -> its bridge
    for (const auto& b : c.topology().bridges)
      if (c.scope().touches_bridge(b.name)) check_mirrors(c, c.topology(), b, names);
  }

  // Mirrors of bridges that stay (a bridge that comes or goes lists its own).
  // Mirrors have lines only: the datapath gets every bridge's mirrors with
  // each change (ports they name may have been re-created).
  void plan(const Topology& cur, const Topology& next, PlanLines& lines, Plan& p) const override {
    for (const auto& nb : next.bridges) {
      if (!p.scope.has_bridge(nb.name)) continue;  // a scoped edit names the bridges whose mirrors it changes
      const BridgeSpec* ob = cur.find_bridge(nb.name);
      if (!ob || ob->type != nb.type) continue;
      for (const auto& m : ob->mirrors)
        if (!nb.find_mirror(m.name)) lines.minus.push_back({'-', "mirror", nb.name + "/" + m.name, {}});
      for (const auto& m : nb.mirrors) {
        const MirrorSpec* om = ob->find_mirror(m.name);
        if (!om) lines.plus.push_back({'+', "mirror", nb.name + "/" + m.name, {}});
        else if (!(*om == m))
          lines.tilde.push_back({'~', "mirror", nb.name + "/" + m.name, diff(mirror_fields(*om), mirror_fields(m))});
      }
    }
  }

  std::string_view schema() const override {
    return "CREATE TABLE IF NOT EXISTS mirrors(\n"
           "  name TEXT PRIMARY KEY, bridge TEXT NOT NULL REFERENCES bridges(name), position INTEGER NOT NULL, "
           "spec TEXT NOT NULL);\n";
  }
  std::vector<const char*> tables() const override { return {"mirrors"}; }
  Status save(RowWriter& w, const Topology& t) const override {
    for (const auto& br : t.bridges) {
      int pos = 0;
      for (const auto& m : br.mirrors)
        if (auto s = w.insert("INSERT INTO mirrors(name, bridge, position, spec) VALUES(?,?,?,?)",
                              {m.name, br.name, std::to_string(pos++), mirror_to_yaml(m)}, "mirror '" + m.name + "'");
            !s)
          return s;
    }
    return Ok{};
  }
  // A scoped edit: the mirrors of the bridges it names.
  Status save_scope(RowWriter& w, const Topology& t, const Scope& scope) const override {
    for (const auto& name : scope.bridges()) {
      const BridgeSpec* br = t.find_bridge(name);
      if (!br) continue;
      if (auto s = w.exec("DELETE FROM mirrors WHERE bridge = ?", {br->name}, "mirrors"); !s) return s;
      int pos = 0;
      for (const auto& m : br->mirrors)
        if (auto s = w.exec("INSERT INTO mirrors(name, bridge, position, spec) VALUES(?,?,?,?)",
                            {m.name, br->name, std::to_string(pos++), mirror_to_yaml(m)}, "mirror '" + m.name + "'");
            !s)
          return s;
    }
    return Ok{};
  }
  Status load(RowReader& r, Topology& t) const override {
    return r.select("SELECT bridge, spec FROM mirrors ORDER BY position", [&](const RowReader::Row& row) -> Status {
      BridgeSpec* br = t.find_bridge(row[0]);
      if (!br) return Error{"mirror of bridge '" + row[0] + "', which does not exist"};
      auto m = parse_mirror(*br, row[1]);
      if (!m) return m.error();
      br->mirrors.push_back(std::move(*m));
      return Ok{};
    });
  }
};

}  // namespace

const ObjectType& mirror_type() {
  static const MirrorObjects kType;
  return kType;
}

MirrorSpec read_mirror(DocReader& r, const YAML::Node& n, const std::string& bridge, dp::BridgeType bt) {
  MirrorSpec m;
  const Loc loc = loc_of(n);
  m.line = loc.line;
  m.col = loc.col;
  r.set_context("bridge '" + bridge + "': ");
  if (!n.IsMap()) r.fail(n, "a mirror must be a mapping");
  if (!n["name"]) r.fail(n, "a mirror needs a 'name'");
  m.name = r.scalar(n["name"], "name");
  r.set_context(r.context() + "mirror '" + m.name + "': ");
  if (auto s = check_name(m.name); !s) r.fail(n["name"], s.error().message);
  r.check_keys(
      n, {"name", "select_all", "select_src_ports", "select_dst_ports", "select_vlans", "output_port", "output_vlan"},
      "a mirror");
  if (n["select_all"]) m.select_all = r.boolean(n["select_all"], "select_all");
  if (n["select_src_ports"]) m.src_ports = r.words(n["select_src_ports"], "select_src_ports");
  if (n["select_dst_ports"]) m.dst_ports = r.words(n["select_dst_ports"], "select_dst_ports");
  const bool sw = bt == dp::BridgeType::kSwitch;
  if (n["select_vlans"]) {
    if (!sw)
      r.fail(n["select_vlans"],
             "'select_vlans' applies to mirrors of switch bridges, not " + std::string(dp::to_string(bt)) + " bridges");
    m.vlans = r.vlan_list(n["select_vlans"], "select_vlans");
  }
  if (n["output_port"]) {
    m.output_port = r.scalar(n["output_port"], "output_port");
    if (m.output_port.empty()) r.fail(n["output_port"], "'output_port' is empty");
  }
  if (n["output_vlan"]) {
    if (!sw)
      r.fail(n["output_vlan"], "'output_vlan' applies to mirrors of switch bridges, not " +
                                   std::string(dp::to_string(bt)) + " bridges (use output_port)");
    m.output_vlan = static_cast<uint16_t>(r.integer(n["output_vlan"], "output_vlan", dp::kMinVid, dp::kMaxVid));
  }
  if (auto s = check_mirror(m); !s) {
    const std::string& msg = s.error().message;
    const std::string own = "mirror '" + m.name + "': ";
    r.fail(n, msg.rfind(own, 0) == 0 ? msg.substr(own.size()) : msg);
  }
  return m;
}

void emit_mirror(YAML::Emitter& e, const MirrorSpec& m) {
  e << YAML::Flow << YAML::BeginMap;
  e << YAML::Key << "name" << YAML::Value << m.name;
  for (const auto& f : mirror_fields(m)) {
    e << YAML::Key << f.key << YAML::Value;
    emit_value(e, f);
  }
  e << YAML::EndMap;
}

std::string mirror_to_yaml(const MirrorSpec& m) {
  YAML::Emitter e;
  emit_mirror(e, m);
  return e.c_str();
}

Result<MirrorSpec> parse_mirror(const BridgeSpec& bridge, const std::string& yaml) {
  return guarded("", [&] {
    DocReader reader("", "/");
    MirrorSpec m = read_mirror(reader, YAML::Load(yaml), bridge.name, bridge.type);
    m.line = m.col = 0;
    return m;
  });
}

std::string MirrorSpec::output() const {
  return output_port.empty() ? "vlan " + std::to_string(output_vlan) : "port " + output_port;
}

Status check_mirror(const MirrorSpec& m) {
  const std::string ctx = "mirror '" + m.name + "': ";
  if (auto s = check_name(m.name); !s) return Error{ctx + s.error().message};
  if (m.output_port.empty() && m.output_vlan == 0)
    return Error{ctx + "needs an output: output_port (a port of its bridge) or output_vlan"};
  if (!m.output_port.empty() && m.output_vlan != 0)
    return Error{ctx + "output_port and output_vlan exclude each other: give one"};
  if (m.output_vlan != 0 && (m.output_vlan < dp::kMinVid || m.output_vlan > dp::kMaxVid))
    return Error{ctx + "output_vlan " + std::to_string(m.output_vlan) + " is out of range 1-4094"};
  if (m.vlans[0] || m.vlans[4095]) return Error{ctx + "select_vlans may only hold VIDs 1-4094"};
  if (m.select_all && (!m.src_ports.empty() || !m.dst_ports.empty()))
    return Error{ctx + "select_all selects every port already: drop select_src_ports/select_dst_ports"};
  if (!m.select_all && m.src_ports.empty() && m.dst_ports.empty())
    return Error{ctx + "selects nothing: set select_all, or list select_src_ports or select_dst_ports"};
  for (const auto* list : {&m.src_ports, &m.dst_ports}) {
    const char* key = list == &m.src_ports ? "select_src_ports" : "select_dst_ports";
    std::set<std::string> seen;
    for (const auto& p : *list)
      if (!seen.insert(p).second) return Error{ctx + key + " lists port '" + p + "' twice"};
  }
  return Ok{};
}

Fields mirror_fields(const MirrorSpec& m) {
  Fields f;
  auto join = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : ",") + x;
    return s;
  };
  if (m.select_all) f.push_back({"select_all", "true"});
  if (!m.src_ports.empty()) f.push_back({"select_src_ports", join(m.src_ports), true});
  if (!m.dst_ports.empty()) f.push_back({"select_dst_ports", join(m.dst_ports), true});
  if (m.vlans.any()) f.push_back({"select_vlans", dp::vlan_set_str(m.vlans), true});
  if (!m.output_port.empty()) f.push_back({"output_port", m.output_port});
  if (m.output_vlan) f.push_back({"output_vlan", std::to_string(m.output_vlan)});
  return f;
}

// A port that goes leaves the selections of the bridge's mirrors (as in
// OVS); the output of a mirror, or the last port a mirror selects, cannot go
// before the mirror.
Status forget_mirrored_port(BridgeSpec& b, const std::string& port) {
  for (auto& m : b.mirrors) {
    if (m.output_port == port)
      return Error{"port '" + port + "' is the output of mirror '" + m.name + "': 'mirror del " + m.name + "' first"};
    std::erase(m.src_ports, port);
    std::erase(m.dst_ports, port);
    if (!m.select_all && m.src_ports.empty() && m.dst_ports.empty())
      return Error{"port '" + port + "' is the last port mirror '" + m.name + "' selects: 'mirror del " + m.name +
                   "' first"};
  }
  return Ok{};
}

}  // namespace kvnet::ctl
