#include "daemon/cluster_wiring.h"

#include <algorithm>
#include <set>

#include "ctl/bridge.h"
#include "ctl/container.h"
#include "ctl/kinds/patch.h"
#include "ctl/kinds/tunnel.h"
#include "ctl/vm_spec.h"
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
  for (const auto& v : t.vms)
    for (const auto& n : v.nics) {
      if (n.network.empty()) continue;
      const PortSpec* p = n.bridge == kIntegrationBridge ? br->find_port(n.port) : nullptr;
      if (!p)  // a qbr NIC: its qvo end on br-int
        for (const auto& bp : br->ports)
          if (const auto* o = bp.as<PatchOptions>(); o && o->peer_bridge == n.bridge) p = &bp;
      if (p) out.emplace(n.network, p->vlan.pvid);
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
    // Room for every station of the cluster's networks as a static entry.
    auto b = make_bridge(kIntegrationBridge, "switch", {{"mac_table_size", std::to_string(kIntegrationMacTable)}});
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

Result<uint16_t> wire_port(Topology& t, const cluster::NetworkRecord& net, const std::string& underlay_ip,
                           const std::string& port, Settings settings, std::vector<std::string>* warnings) {
  auto wired = wire_network(t, net, underlay_ip);
  if (!wired) return wired.error();
  const uint16_t vlan = *wired;
  BridgeSpec& br = *t.find_bridge(kIntegrationBridge);
  if (br.find_port(port)) return vlan;
  settings.push_back({"vlan_mode", "access"});
  settings.push_back({"pvid", std::to_string(vlan)});
  auto p = make_port(br, port, settings, warnings);
  if (!p) return Error{p.error().message};
  br.ports.push_back(std::move(*p));
  return vlan;
}

std::map<std::pair<std::string, uint64_t>, const cluster::BindingRecord*> binding_winners(
    const cluster::ClusterState& st, const std::string& this_host) {
  std::map<std::pair<std::string, uint64_t>, const cluster::BindingRecord*> out;
  for (const auto& [key, b] : st.bindings()) {  // in key order: the first of equals stays
    if (b.host != this_host && !st.is_up(b.host)) continue;
    auto mac = net::Mac::parse(b.mac);
    if (!mac) continue;
    auto [it, fresh] = out.try_emplace({b.network, mac->u64()}, &b);
    if (!fresh && b.seq > it->second->seq) it->second = &b;
  }
  return out;
}

int64_t next_seq(const cluster::ClusterState& st, const std::string& network, const std::string& mac) {
  int64_t seq = 0;
  auto m = net::Mac::parse(mac);
  for (const auto& [key, b] : st.bindings())
    if (b.network == network && m && net::Mac::parse(b.mac) == m) seq = std::max(seq, b.seq);
  return seq + 1;
}

std::vector<NeighborEntry> neighbor_entries(const Topology& t, const cluster::ClusterState& st,
                                            const std::string& this_host) {
  std::vector<NeighborEntry> out;
  const auto vlans = local_vlans(t);
  if (vlans.empty()) return out;
  for (const auto& [nm, b] : binding_winners(st, this_host)) {
    auto v = vlans.find(b->network);
    if (v == vlans.end()) continue;
    const std::string label = "network " + b->network + ", host " + b->host;
    for (const auto& a : b->ips) out.push_back({v->second, a.substr(0, a.find('/')), b->mac, label});
  }
  return out;
}

RemoteEntries remote_entries(const Topology& t, const cluster::ClusterState& st, const std::string& this_host) {
  RemoteEntries out;
  const BridgeSpec* br = t.find_bridge(kIntegrationBridge);
  if (!br || !br->find_port(kClusterTunnel)) return out;
  const auto vlans = local_vlans(t);
  // One VTEP per MAC: the winning binding's (MAC mobility); a MAC whose
  // winner is here is this host's own (learned on its port).
  for (const auto& [nm, b] : binding_winners(st, this_host)) {
    if (b->host == this_host) continue;
    auto v = vlans.find(b->network);
    if (v == vlans.end()) continue;
    out[{v->second, nm.second}] = st.up().at(b->host).underlay_ip;
  }
  return out;
}

Status unwire_unused(Topology& t, const std::string& underlay_ip) {
  BridgeSpec* br = t.find_bridge(kIntegrationBridge);
  if (!br || !br->find_port(kClusterTunnel)) return Ok{};
  return set_tunnel(*br, carried(*br, local_vlans(t)), underlay_ip);
}

}  // namespace kvnet::daemon
