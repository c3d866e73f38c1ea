// The MTU a bridge carries (its tunnels', through patch ports) and the MTU
// its endpoints get. The tunnels' path MTU is measured through this host's
// routes, so the expectations are relative to io::tunnel_inner_mtu.
#include "ctl/mtu.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "ctl/kinds/tunnel.h"

namespace kvnet::ctl {
namespace {

constexpr const char* kTopo = R"(
bridges:
  - name: ov
    ports:
      - {name: vx, type: vxlan, vni: 42, remote_ip: 192.0.2.1}
      - {name: p1, type: system}
      - {name: pa, type: patch, peer: far/pb}
  - name: far
    ports:
      - {name: pb, type: patch, peer: ov/pa}
      - {name: p2, type: system}
      - {name: p3, type: system, mtu: 1500}
  - name: alone
    ports:
      - {name: p4, type: system}
  - name: tr
    ports:
      - {name: vt, type: vxlan, vni: 43, remote_ip: 192.0.2.1, vlan_mode: trunk, allowed: [10, 20]}
      - {name: p5, type: system}
)";

Topology topo() {
  auto t = parse_topology(kTopo, "", "/");
  EXPECT_TRUE(t) << (t ? "" : t.error().message);
  return t ? *t : Topology{};
}

uint32_t inner(const Topology& t, const std::string& port) {
  return io::tunnel_inner_mtu(t.find_port(port)->as<TunnelOptions>()->cfg);
}

TEST(Mtu, TheBroadcastDomainCarriesItsSmallestTunnelsMtu) {
  const Topology t = topo();
  const uint32_t want = std::min(inner(t, "vx"), dp::kDefaultMtu);
  ASSERT_TRUE(bridge_mtu(t, "ov").has_value());
  EXPECT_EQ(*bridge_mtu(t, "ov"), want);
  EXPECT_EQ(bridge_mtu(t, "far"), want) << "reached through the patch pair";
  EXPECT_FALSE(bridge_mtu(t, "alone").has_value()) << "no tunnel: no limit kvnet knows";
  EXPECT_FALSE(bridge_mtu(t, "nosuch").has_value());
  const auto all = bridge_mtus(t);
  EXPECT_EQ(all.at("ov"), want);
  EXPECT_EQ(all.at("far"), want);
  EXPECT_EQ(all.count("alone"), 0u);
}

TEST(Mtu, ATaggingPortCarriesATagLess) {
  const Topology t = topo();
  EXPECT_EQ(bridge_mtu(t, "tr"), std::min(inner(t, "vt") - 4, dp::kDefaultMtu));
}

TEST(Mtu, EndpointsGetTheBridgesMtuUnlessTheUserGaveOne) {
  const Topology t = topo();
  const uint32_t m = *bridge_mtu(t, "ov");
  const uint32_t auto_mtu = m < dp::kDefaultMtu ? m : 0;
  EXPECT_EQ(endpoint_mtu(t, "p1"), auto_mtu);
  EXPECT_EQ(endpoint_mtu(t, "p2"), auto_mtu);
  EXPECT_EQ(endpoint_mtu(t, "p3"), 1500u) << "the user's mtu wins, even 1500";
  EXPECT_EQ(endpoint_mtu(t, "p4"), 0u);
  EXPECT_EQ(endpoint_mtu(t, "nosuch"), 0u);
  const auto all = bridge_mtus(t);
  for (const char* p : {"p1", "p2", "p3", "p4", "p5"}) EXPECT_EQ(endpoint_mtu(t, p, all), endpoint_mtu(t, p)) << p;
}

TEST(Mtu, AGivenMtuSurvivesExportEvenAtTheDefault) {
  const Topology t = topo();
  const PortSpec* p3 = t.find_port("p3");
  ASSERT_TRUE(p3->mtu_given);
  bool written = false;
  for (const auto& f : port_fields(*p3, dp::BridgeType::kSwitch)) written = written || (f.key == "mtu" && f.value == "1500");
  EXPECT_TRUE(written) << "mtu: 1500 given by the user is kept (store, export)";
  EXPECT_FALSE(t.find_port("p2")->mtu_given);
}

}  // namespace
}  // namespace kvnet::ctl
