// kvnetd's mirror verbs: port mirrors of a bridge (OVS's Mirror table;
// ctl/mirror_spec.h, dp/mirror.h).
#include "daemon/service.h"
#include "daemon/service_args.h"
#include "daemon/verbs.h"

namespace kvnet::daemon {

using namespace kvnet::ctl;

namespace {

// "select_vlans": VLAN IDs as integers or "N"/"N-M" strings.
Result<dp::VlanSet> vlan_arg(const json& req) {
  dp::VlanSet set;
  if (!req.contains("select_vlans") || req["select_vlans"].is_null()) return set;
  const json& v = req["select_vlans"];
  if (!v.is_array()) return Error{"argument 'select_vlans' must be a list of VLAN IDs"};
  for (const auto& item : v) {
    std::string text;
    if (item.is_number_integer()) text = item.dump();
    else if (item.is_string()) text = item.get<std::string>();
    else return Error{"argument 'select_vlans' must be a list of VLAN IDs"};
    if (auto s = dp::add_vlan_item(set, text); !s) return Error{"select_vlans: " + s.error().message};
  }
  return set;
}


class MirrorVerbs : VerbContext {
 public:
  using VerbContext::VerbContext;
  Result<json> mirror_add(const Args& a);
  Result<json> mirror_del(const Args& a);
  Result<json> mirror_list(const Args& a);
};

}  // namespace

json mirror_json(const BridgeSpec& b, const MirrorSpec& m) {
  json j{{"name", m.name},
         {"bridge", b.name},
         {"select_all", m.select_all},
         {"select_src_ports", m.src_ports},
         {"select_dst_ports", m.dst_ports},
         {"select_vlans", dp::vlan_set_str(m.vlans)},
         {"output", m.output()}};
  if (!m.output_port.empty()) j["output_port"] = m.output_port;
  if (m.output_vlan) j["output_vlan"] = m.output_vlan;
  return j;
}

Result<json> MirrorVerbs::mirror_add(const Args& a) {
  MirrorSpec m;
  TRY(name, a.str("name"));
  TRY(br, a.str("bridge"));
  TRY(all, a.flag("select_all"));
  TRY(src, a.strings("select_src_ports"));
  TRY(dst, a.strings("select_dst_ports"));
  TRY(out_port, a.str("output_port", false));
  m.name = name;
  m.select_all = all;
  m.src_ports = src;
  m.dst_ports = dst;
  m.output_port = out_port;
  if (a.has("output_vlan")) {
    TRY(v, a.integer("output_vlan", dp::kMinVid, dp::kMaxVid));
    m.output_vlan = static_cast<uint16_t>(v);
  }
  auto vlans = vlan_arg(a.raw());
  if (!vlans) return Error{"mirror '" + name + "': " + vlans.error().message};
  m.vlans = *vlans;
  const BridgeSpec* b = cur_.find_bridge(br);
  if (!b) return Error{"mirror '" + name + "': bridge '" + br + "' does not exist"};
  if (const BridgeSpec* ob = nullptr; cur_.find_mirror(name, &ob))
    return Error{"mirror '" + name + "' already exists on bridge '" + ob->name + "'"};
  if (auto s = check_mirror(m); !s) return s.error();
  Topology next = cur_;
  next.find_bridge(br)->mirrors.push_back(m);
  TRY(p, commit(next));
  json j = change_result(p);
  j["mirror"] = mirror_json(*b, m);
  return j;
}

Result<json> MirrorVerbs::mirror_del(const Args& a) {
  TRY(name, a.str("name"));
  TRY(br, a.str("bridge", false));
  TRY(if_exists, a.flag("if_exists"));
  const BridgeSpec* ob = nullptr;
  if (!cur_.find_mirror(name, &ob) || (!br.empty() && ob->name != br)) {
    if (if_exists) return json{{"changed", false}, {"changes", json::array()}};
    return Error{"mirror '" + name + "' does not exist" + (br.empty() ? "" : " on bridge '" + br + "'")};
  }
  Topology next = cur_;
  std::erase_if(next.find_bridge(ob->name)->mirrors, [&](const MirrorSpec& m) { return m.name == name; });
  return commit_json(next);
}

Result<json> MirrorVerbs::mirror_list(const Args& a) {
  TRY(br, a.str("bridge", false));
  if (!br.empty() && !cur_.find_bridge(br)) return Error{"bridge '" + br + "' does not exist"};
  std::map<std::pair<std::string, std::string>, io::MirrorRow> rows;
  for (auto& r : dp_.mirrors()) rows.emplace(std::make_pair(r.bridge, r.name), r);
  json out = json::array();
  for (const auto& b : cur_.bridges) {
    if (!br.empty() && b.name != br) continue;
    for (const auto& m : b.mirrors) {
      json j = mirror_json(b, m);
      const auto it = rows.find({b.name, m.name});
      j["tx_packets"] = it == rows.end() ? 0 : it->second.counters.tx_packets;
      j["tx_bytes"] = it == rows.end() ? 0 : it->second.counters.tx_bytes;
      j["active"] = it != rows.end() && it->second.active;
      out.push_back(std::move(j));
    }
  }
  return out;
}

std::span<const Verb> mirror_verbs() {
  static const Verb kVerbs[] = {
      {"mirror-add", true, false, &verb<MirrorVerbs, &MirrorVerbs::mirror_add>},
      {"mirror-del", true, false, &verb<MirrorVerbs, &MirrorVerbs::mirror_del>},
      {"mirror-list", false, false, &verb<MirrorVerbs, &MirrorVerbs::mirror_list>},
  };
  return kVerbs;
}

}  // namespace kvnet::daemon
