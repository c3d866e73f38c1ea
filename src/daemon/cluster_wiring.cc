#include "daemon/cluster_wiring.h"

#include <algorithm>
#include <set>

#include "ctl/bridge.h"
#include "ctl/container.h"
#include "ctl/kinds/tunnel.h"
#include "dp/vlan.h"
#include "net/bytes.h"

namespace kvnet::daemon {

using namespace kvnet::ctl;

std::map<std::string, uint16_t> local_vlans(const Topology& t) {
  std::map<std::string, uint16_t> out;
  const BridgeSpec* br = t.find_bridge(kIntegrationBridge);
  if (!br) return out;
  for (const auto& c : t.containers) {
    if (c.network.empty() || c.bridge != kIntegrationBridge) continue;
    if (const PortSpec* p = br->find_port(c.port)) out.emplace(c.network, p->vlan.pvid);
  }
  return out;
}

namespace {

// vx-cluster with a map of exactly `map` (VLAN -> VNI); none when empty.
Status set_tunnel(BridgeSpec& br, const std::map<uint16_t, uint32_t>& map, const std::string& underlay_ip) {
  std::erase_if(br.ports, [](const PortSpec& p) { return p.name == kClusterTunnel; });
  if (map.empty()) return Ok{};
  std::string m;
  for (const auto& [vlan, vni] : map) m += (m.empty() ? "" : ",") + std::to_string(vlan) + ":" + std::to_string(vni);
  auto p = make_port(br, kClusterTunnel,
                     {{"type", "vxlan"}, {"remote_ip", "flow"}, {"local_ip", underlay_ip}, {"learning", "false"},
                      {"vni_map", m}});
  if (!p) return Error{"the cluster's tunnel port: " + p.error().message};
  br.ports.push_back(std::move(*p));
  return Ok{};
}

// vx-cluster's map, of the VLANs that networks here still use.
std::map<uint16_t, uint32_t> carried(const BridgeSpec& br, const std::map<std::string, uint16_t>& vlans) {
  std::map<uint16_t, uint32_t> out;
  const PortSpec* p = br.find_port(kClusterTunnel);
  const auto* o = p ? p->as<TunnelOptions>() : nullptr;
  if (!o) return out;
  for (const auto& [n, v] : vlans)
    if (auto it = o->cfg.vni_map.find(v); it != o->cfg.vni_map.end()) out[v] = it->second;
  return out;
}

}  // namespace

Result<uint16_t> wire_network(Topology& t, const cluster::NetworkRecord& net, const std::string& underlay_ip) {
  if (!t.find_bridge(kIntegrationBridge)) {
    auto b = make_bridge(kIntegrationBridge, "switch", {});
    if (!b) return Error{b.error().message};
    t.bridges.push_back(std::move(*b));
  }
  BridgeSpec& br = *t.find_bridge(kIntegrationBridge);
  auto vlans = local_vlans(t);
  uint16_t vlan = 0;
  if (auto it = vlans.find(net.name); it != vlans.end()) vlan = it->second;
  std::set<uint16_t> used;
  for (const auto& [n, v] : vlans) used.insert(v);
  for (const auto& p : br.ports)  // ports of br-int that are not the cluster's keep their VLANs too
    if (p.name != kClusterTunnel) used.insert(p.vlan.pvid);
  if (!vlan)
    for (uint16_t v = 1; v <= dp::kMaxVid && !vlan; ++v)
      if (!used.count(v)) vlan = v;
  if (!vlan) return Error{"network '" + net.name + "': no local VLAN is free on " + std::string(kIntegrationBridge)};
  std::map<uint16_t, uint32_t> map = carried(br, vlans);
  map[vlan] = net.vni;
  if (auto s = set_tunnel(br, map, underlay_ip); !s) return s.error();
  return vlan;
}

bool program_remotes(Topology& t, const cluster::ClusterState& st, const std::string& this_host) {
  BridgeSpec* br = t.find_bridge(kIntegrationBridge);
  if (!br || !br->find_port(kClusterTunnel)) return false;
  const auto vlans = local_vlans(t);
  std::vector<FdbSpec> want;
  std::set<std::pair<uint16_t, uint64_t>> seen;
  for (const auto& [key, b] : st.bindings()) {
    if (b.host == this_host || !st.is_up(b.host)) continue;
    auto v = vlans.find(b.network);
    if (v == vlans.end()) continue;
    auto mac = net::Mac::parse(b.mac);
    if (!mac) continue;
    if (!seen.insert({v->second, mac->u64()}).second) continue;  // one VTEP per MAC (the highest seq: later)
    FdbSpec f;
    f.vlan = v->second;
    f.mac = mac->u64();
    f.port = kClusterTunnel;
    f.remote_ip = st.up().at(b.host).underlay_ip;
    want.push_back(f);
  }
  auto key = [](const FdbSpec& f) { return std::make_tuple(f.vlan, f.mac, f.port, f.remote_ip); };
  std::vector<FdbSpec> have;
  for (const auto& f : br->fdb)
    if (f.port == kClusterTunnel) have.push_back(f);
  auto sorted = [&](std::vector<FdbSpec> v) {
    std::sort(v.begin(), v.end(), [&](const FdbSpec& a, const FdbSpec& b) { return key(a) < key(b); });
    std::vector<std::tuple<uint16_t, uint64_t, std::string, std::string>> out;
    for (const auto& f : v) out.push_back(key(f));
    return out;
  };
  if (sorted(want) == sorted(have)) return false;
  std::erase_if(br->fdb, [](const FdbSpec& f) { return f.port == kClusterTunnel; });
  br->fdb.insert(br->fdb.end(), want.begin(), want.end());
  return true;
}

Status unwire_unused(Topology& t, const std::string& underlay_ip) {
  BridgeSpec* br = t.find_bridge(kIntegrationBridge);
  if (!br || !br->find_port(kClusterTunnel)) return Ok{};
  const std::map<uint16_t, uint32_t> map = carried(*br, local_vlans(t));
  // Static entries of VLANs that leave go with them.
  std::erase_if(br->fdb, [&](const FdbSpec& f) { return f.port == kClusterTunnel && !map.count(f.vlan); });
  return set_tunnel(*br, map, underlay_ip);
}

}  // namespace kvnet::daemon
