// How a host carries cluster networks (daemon/cluster_wiring.h): br-int, a
// local VLAN per network, vx-cluster's map; and what the change path makes
// of it (the configuration validates, and a container's network survives
// YAML and the store).
#include "daemon/cluster_wiring.h"

#include <gtest/gtest.h>

#include "ctl/bridge.h"
#include "ctl/container.h"
#include "ctl/kinds/tunnel.h"
#include "ctl/topology.h"

namespace kvnet::daemon {
namespace {

using namespace kvnet::ctl;

// A container `name` on `net`, as ct add --network makes it.
void add_container(Topology& t, const cluster::NetworkRecord& net, const std::string& name) {
  auto vlan = wire_network(t, net, "10.96.0.1");
  ASSERT_TRUE(vlan) << vlan.error().message;
  auto p = make_port(*t.find_bridge(kIntegrationBridge), "ct-" + name,
                     {{"vlan_mode", "access"}, {"pvid", std::to_string(*vlan)}});
  ASSERT_TRUE(p) << p.error().message;
  t.find_bridge(kIntegrationBridge)->ports.push_back(std::move(*p));
  t.containers.push_back(ContainerSpec{name, kIntegrationBridge, "ct-" + name, "10.0.0.1/24", "", "", net.name, {}});
}

std::map<uint16_t, uint32_t> tunnel_map(const Topology& t) {
  const PortSpec* p = t.find_port(kClusterTunnel);
  if (!p) return {};
  return p->as<TunnelOptions>()->cfg.vni_map;
}

TEST(ClusterWiring, ALocalVlanPerNetworkAndOneTunnelMappingThem) {
  Topology t;
  const cluster::NetworkRecord blue{.name = "blue", .vni = 100}, red{.name = "red", .vni = 200};
  add_container(t, blue, "a");
  add_container(t, red, "b");
  add_container(t, blue, "c");
  EXPECT_EQ(local_vlans(t), (std::map<std::string, uint16_t>{{"blue", 1}, {"red", 2}}));
  EXPECT_EQ(tunnel_map(t), (std::map<uint16_t, uint32_t>{{1, 100}, {2, 200}}));
  const auto& cfg = t.find_port(kClusterTunnel)->as<TunnelOptions>()->cfg;
  EXPECT_TRUE(cfg.remote_flow);
  EXPECT_FALSE(cfg.learning);
  EXPECT_EQ(cfg.local.str(), "10.96.0.1");
  auto v = validate(t);
  EXPECT_TRUE(v) << v.error().message;
  // red's last container goes: its VLAN leaves the map.
  std::erase_if(t.containers, [](const ContainerSpec& c) { return c.name == "b"; });
  std::erase_if(t.find_bridge(kIntegrationBridge)->ports, [](const PortSpec& p) { return p.name == "ct-b"; });
  ASSERT_TRUE(unwire_unused(t, "10.96.0.1"));
  EXPECT_EQ(tunnel_map(t), (std::map<uint16_t, uint32_t>{{1, 100}}));
  // A network new here takes the lowest free VLAN again.
  add_container(t, red, "d");
  EXPECT_EQ(local_vlans(t).at("red"), 2);
  // The last network goes: so does the tunnel.
  t.containers.clear();
  t.find_bridge(kIntegrationBridge)->ports.erase(
      std::remove_if(t.find_bridge(kIntegrationBridge)->ports.begin(), t.find_bridge(kIntegrationBridge)->ports.end(),
                     [](const PortSpec& p) { return p.name != kClusterTunnel; }),
      t.find_bridge(kIntegrationBridge)->ports.end());
  ASSERT_TRUE(unwire_unused(t, "10.96.0.1"));
  EXPECT_EQ(t.find_port(kClusterTunnel), nullptr);
}

// A host's record as the store holds it.
std::string host(const std::string& n, const std::string& ip) {
  return cluster::HostRecord{.name = n, .underlay_ip = ip}.to_json().dump();
}

TEST(ClusterWiring, RemoteStationsComeFromBindingsOfHostsThatAreUp) {
  Topology t;
  add_container(t, {.name = "blue", .vni = 100}, "a");
  cluster::ClusterState st;
  cluster::RangeResult all;
  all.revision = 9;
  auto bind = [](const std::string& net, const std::string& h, const std::string& port, const std::string& mac) {
    return cluster::BindingRecord{net, h, port, mac, {"10.0.0.9/24"}, "container x", 1}.to_json().dump();
  };
  all.kvs = {{"/kvnet/hosts/h1", host("h1", "10.96.0.1"), 1, 1, 1, 0},
             {"/kvnet/hosts/h2", host("h2", "10.96.0.2"), 2, 2, 1, 0},
             {"/kvnet/bindings/blue/h1/ct-a", bind("blue", "h1", "ct-a", "02:00:00:00:00:0a"), 3, 3, 1, 0},
             {"/kvnet/bindings/blue/h2/ct-b", bind("blue", "h2", "ct-b", "02:00:00:00:00:0b"), 4, 4, 1, 0},
             {"/kvnet/bindings/blue/h3/ct-c", bind("blue", "h3", "ct-c", "02:00:00:00:00:0c"), 5, 5, 1, 0},
             {"/kvnet/bindings/red/h2/ct-d", bind("red", "h2", "ct-d", "02:00:00:00:00:0d"), 6, 6, 1, 0}};
  ASSERT_TRUE(st.reset(all).rejected.empty());
  RemoteEntries r = remote_entries(t, st, "h1");
  ASSERT_EQ(r.size(), 1u) << "only h2's station of blue: h1 is this host, h3 is down, red is not carried here";
  EXPECT_EQ(r.begin()->first, std::make_pair(uint16_t{1}, uint64_t{0x02000000000bULL}));
  EXPECT_EQ(r.begin()->second, "10.96.0.2");
  // ARP suppression answers for every address of blue known up: h1's own and h2's.
  auto n = neighbor_entries(t, st, "h1");
  ASSERT_EQ(n.size(), 2u);
  EXPECT_EQ(n[0], (NeighborEntry{1, "10.0.0.9", "02:00:00:00:00:0a", "network blue, host h1"}));
  EXPECT_EQ(n[1], (NeighborEntry{1, "10.0.0.9", "02:00:00:00:00:0b", "network blue, host h2"}));
  // h2 goes down: its station goes.
  cluster::WatchMessage down;
  down.events.push_back({true, cluster::KeyValue{"/kvnet/hosts/h2", "", 0, 10, 0, 0}});
  st.apply(down);
  EXPECT_TRUE(remote_entries(t, st, "h1").empty());
}

TEST(ClusterWiring, AMovedMacIsWhereItsHighestSequenceIs) {
  Topology t;
  add_container(t, {.name = "blue", .vni = 100}, "a");
  cluster::ClusterState st;
  cluster::RangeResult all;
  all.revision = 9;
  auto bind = [](const std::string& h, int64_t seq) {
    return cluster::BindingRecord{"blue", h, "vm-x", "02:00:00:00:00:77", {"10.0.0.7/24"}, "vm x nic 0", seq}
        .to_json()
        .dump();
  };
  all.kvs = {{"/kvnet/hosts/h1", host("h1", "10.96.0.1"), 1, 1, 1, 0},
             {"/kvnet/hosts/h2", host("h2", "10.96.0.2"), 2, 2, 1, 0},
             {"/kvnet/hosts/h3", host("h3", "10.96.0.3"), 3, 3, 1, 0},
             {"/kvnet/bindings/blue/h2/vm-x", bind("h2", 1), 4, 4, 1, 0},
             {"/kvnet/bindings/blue/h3/vm-x", bind("h3", 2), 5, 5, 1, 0}};
  ASSERT_TRUE(st.reset(all).rejected.empty());
  EXPECT_EQ(next_seq(st, "blue", "02:00:00:00:00:77"), 3);
  EXPECT_EQ(next_seq(st, "blue", "02:00:00:00:00:78"), 1);
  EXPECT_EQ(next_seq(st, "red", "02:00:00:00:00:77"), 1);
  auto r = remote_entries(t, st, "h1");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r.begin()->second, "10.96.0.3") << "seq 2 on h3 beats seq 1 on h2";
  auto n = neighbor_entries(t, st, "h1");
  ASSERT_EQ(n.size(), 1u);
  EXPECT_EQ(n[0].label, "network blue, host h3");
  // h3 goes down: the MAC is where it was before.
  cluster::WatchMessage down;
  down.events.push_back({true, cluster::KeyValue{"/kvnet/hosts/h3", "", 0, 10, 0, 0}});
  st.apply(down);
  r = remote_entries(t, st, "h1");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r.begin()->second, "10.96.0.2");
  // A winner on this host: no remote entry for the MAC.
  EXPECT_TRUE(remote_entries(t, st, "h2").empty());
}

TEST(ClusterWiring, AContainersNetworkSurvivesYaml) {
  Topology t;
  add_container(t, {.name = "blue", .vni = 100}, "a");
  const std::string yaml = to_yaml(t);
  EXPECT_NE(yaml.find("network: blue"), std::string::npos) << yaml;
  auto back = parse_topology(yaml, "t.yaml", "/");
  ASSERT_TRUE(back) << back.error().message;
  ASSERT_EQ(back->containers.size(), 1u);
  EXPECT_EQ(back->containers[0].network, "blue");
  EXPECT_EQ(back->containers[0], t.containers[0]);
}

}  // namespace
}  // namespace kvnet::daemon
