// kvnetd's static FDB verbs and the learned table's (ovs-appctl fdb/show,
// fdb/flush).
#include "base/clock.h"
#include "net/bytes.h"
#include "daemon/service_args.h"
#include "daemon/cluster_host.h"
#include "daemon/cluster_wiring.h"
#include "daemon/verbs.h"

namespace kvnet::daemon {

using namespace kvnet::ctl;

namespace {

// The (bridge, VLAN, MAC) a static FDB verb names, checked.
struct FdbKey {
  std::string bridge, mac_text;
  uint16_t vlan;
  uint64_t mac;
};

Result<FdbKey> fdb_key(const Args& a, const Topology& t) {
  TRY(br, a.str("bridge"));
  TRY(mac, a.str("mac"));
  TRY(vlan, a.integer("vlan", 0, dp::kMaxVid));
  if (!t.find_bridge(br)) return Error{"bridge '" + br + "' does not exist"};
  auto m = net::Mac::parse(mac);
  if (!m) return Error{"mac '" + mac + "' is not a MAC address (aa:bb:cc:dd:ee:ff)"};
  return FdbKey{br, mac, static_cast<uint16_t>(vlan), m->u64()};
}

// Removes the entry of `k` from `t`; returns whether there was one.
bool erase_fdb(Topology& t, const FdbKey& k) {
  auto& fdb = t.find_bridge(k.bridge)->fdb;
  return std::erase_if(fdb, [&](const FdbSpec& f) { return f.vlan == k.vlan && f.mac == k.mac; }) > 0;
}


class FdbVerbs : VerbContext {
 public:
  using VerbContext::VerbContext;
  Result<json> fdb_add(const Args& a);
  Result<json> fdb_del(const Args& a);
  Result<json> fdb_show(const Args& a);
  Result<json> fdb_flush(const Args& a);
};

Result<json> FdbVerbs::fdb_add(const Args& a) {
  TRY(k, fdb_key(a, cur_));
  TRY(port, a.str("port"));
  TRY(remote, a.str("remote_ip", false));
  Topology& next = edit(Scope::of_bridge(k.bridge));
  erase_fdb(next, k);
  next.find_bridge(k.bridge)->fdb.push_back({k.vlan, k.mac, port, {}, remote});
  return commit_json(next);
}

Result<json> FdbVerbs::fdb_del(const Args& a) {
  TRY(k, fdb_key(a, cur_));
  Topology& next = edit(Scope::of_bridge(k.bridge));
  if (!erase_fdb(next, k))
    return Error{"bridge '" + k.bridge + "': no static entry for " + k.mac_text + " in VLAN " + std::to_string(k.vlan)};
  return commit_json(next);
}

Result<json> FdbVerbs::fdb_show(const Args& a) {
  TRY(br, a.str("bridge"));
  const BridgeSpec* b = cur_.find_bridge(br);
  if (!b) return Error{"bridge '" + br + "' does not exist"};
  if (b->type == dp::BridgeType::kHub) return Error{"bridge '" + br + "' is a hub: it has no FDB"};
  const auto entries = dp_.fdb_dump(br);
  std::map<uint32_t, std::string> names;
  for (const auto& [name, l] : live_) names[l.id] = name;
  const uint64_t now = monotonic_ns();
  // In a cluster, br-int's local VLANs are networks and remotes are hosts.
  std::map<uint16_t, std::string> networks;
  std::map<std::string, std::string> hosts;  // underlay address -> host
  if (cluster_ && br == kIntegrationBridge) {
    for (const auto& [n, v] : local_vlans(cur_)) networks[v] = n;
    for (const auto& [n, h] : cluster_->state().up()) hosts[h.underlay_ip] = n;
  }
  json out = json::array();
  for (const auto& [e, remote] : entries) {
    json j{{"vlan", e.vlan}, {"mac", net::Mac::from_u64(e.mac).str()}, {"port", names[e.port]}, {"static", e.is_static}};
    if (!e.is_static) j["age"] = now > e.last_seen_ns ? (now - e.last_seen_ns) / 1000000000ULL : 0;
    if (!remote.empty()) j["remote"] = remote;
    if (auto it = networks.find(e.vlan); it != networks.end()) j["network"] = it->second;
    if (auto it = hosts.find(remote); it != hosts.end()) j["host"] = it->second;
    out.push_back(j);
  }
  return out;
}

Result<json> FdbVerbs::fdb_flush(const Args& a) {
  TRY(br, a.str("bridge"));
  const BridgeSpec* b = cur_.find_bridge(br);
  if (!b) return Error{"bridge '" + br + "' does not exist"};
  if (b->type == dp::BridgeType::kHub) return Error{"bridge '" + br + "' is a hub: it has no FDB"};
  return json{{"flushed", dp_.fdb_flush(br)}};
}

}  // namespace

std::span<const Verb> fdb_verbs() {
  static const Verb kVerbs[] = {
      {"fdb-add", true, false, &verb<FdbVerbs, &FdbVerbs::fdb_add>},
      {"fdb-del", true, false, &verb<FdbVerbs, &FdbVerbs::fdb_del>},
      {"fdb-show", false, false, &verb<FdbVerbs, &FdbVerbs::fdb_show>},
      {"fdb-flush", false, true, &verb<FdbVerbs, &FdbVerbs::fdb_flush>},
  };
  return kVerbs;
}

}  // namespace kvnet::daemon
