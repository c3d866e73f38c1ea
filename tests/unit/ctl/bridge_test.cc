// The bridge type's home (ctl/bridge.h): bridges, their ports and static FDB
// entries through export and the store, each bridge's rows in their order.
#include "ctl/bridge.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "ctl/plan.h"
#include "ctl/store.h"
#include "ctl/topology.h"

namespace kvnet::ctl {
namespace {

namespace fs = std::filesystem;

const char* kTwo = R"(bridges:
  - name: zz
    mac_aging: 60
    conntrack_timeouts: {udp: 5}
    fdb:
      - {vlan: 20, mac: "52:54:00:00:00:02", port: z2}
      - {vlan: 10, mac: "52:54:00:00:00:01", port: z1}
    ports:
      - {name: z2, type: internal, vlan_mode: trunk, allowed: [10, 20]}
      - {name: z1, type: internal, vlan_mode: access, pvid: 10}
      - {name: to-aa, type: patch, peer: aa/to-zz, mtu: 9000}
  - name: aa
    type: learning
    fdb: [{mac: "52:54:00:00:00:03", port: a1}]
    ports:
      - {name: to-zz, type: patch, peer: zz/to-aa}
      - {name: a1, type: internal}
  - name: hh
    type: hub
)";

std::vector<std::string> port_names(const BridgeSpec& b) {
  std::vector<std::string> out;
  for (const auto& p : b.ports) out.push_back(p.name);
  return out;
}

TEST(BridgeYaml, ExportReadsBackTheSame) {
  auto t = parse_topology(kTwo, "", "/");
  ASSERT_TRUE(t.ok()) << t.error().message;
  auto back = parse_topology(to_yaml(*t), "", "/");
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(to_yaml(*back), to_yaml(*t));
  EXPECT_TRUE(plan(*t, *back).empty());
  EXPECT_EQ(bridge_fields(back->bridges[0]), bridge_fields(t->bridges[0]));
}

TEST(BridgeYaml, APortAsAFlowMapAndBack) {
  auto t = parse_topology(kTwo, "", "/");
  ASSERT_TRUE(t.ok()) << t.error().message;
  for (const auto& b : t->bridges)
    for (const auto& p : b.ports) {
      auto back = parse_port(b, port_to_yaml(p, b.type));
      ASSERT_TRUE(back.ok()) << back.error().message;
      EXPECT_EQ(port_fields(*back, b.type), port_fields(p, b.type)) << port_to_yaml(p, b.type);
    }
}

TEST(BridgeStore, EachBridgesPortsAndEntriesComeBackInTheirOrder) {
  const fs::path dir = fs::path(::testing::TempDir()) / ("kvnet-bridge-" + std::to_string(getpid()));
  fs::remove_all(dir);
  auto t = parse_topology(kTwo, "", "/");
  ASSERT_TRUE(t.ok()) << t.error().message;
  {
    auto st = Store::open((dir / "kvnet.db").string());
    ASSERT_TRUE(st.ok()) << st.error().message;
    ASSERT_TRUE((*st)->save(*t).ok());
  }
  auto st = Store::open((dir / "kvnet.db").string());
  ASSERT_TRUE(st.ok()) << st.error().message;
  auto back = (*st)->load();
  ASSERT_TRUE(back.ok()) << back.error().message;
  ASSERT_EQ(back->bridges.size(), 3u);
  EXPECT_EQ(back->bridges[0].name, "zz");  // the configuration's order, not the names'
  EXPECT_EQ(port_names(back->bridges[0]), (std::vector<std::string>{"z2", "z1", "to-aa"}));
  EXPECT_EQ(port_names(back->bridges[1]), (std::vector<std::string>{"to-zz", "a1"}));
  ASSERT_EQ(back->bridges[0].fdb.size(), 2u);
  EXPECT_EQ(back->bridges[0].fdb[0].port, "z2");
  EXPECT_EQ(back->bridges[1].fdb[0].port, "a1");
  EXPECT_EQ(to_yaml(*back), to_yaml(*t));
  fs::remove_all(dir);
}

TEST(BridgePlan, APortThatMovesIsRemovedFromItsOldBridgeOnlyOnce) {
  auto cur = parse_topology(kTwo, "", "/");
  ASSERT_TRUE(cur.ok());
  Topology next = *cur;
  next.bridges[0].type = dp::BridgeType::kLearning;  // re-created with its ports
  for (auto& p : next.bridges[0].ports) {
    p.vlan = {};
    p.has_vlan_config = false;
  }
  next.bridges[0].fdb.clear();
  const Plan p = plan(*cur, next);
  EXPECT_EQ(p.bridges_removed, std::vector<std::string>{"zz"});
  EXPECT_EQ(p.bridges_added, std::vector<std::string>{"zz"});
  for (const auto& r : p.ports_removed) EXPECT_NE(r.bridge, "zz") << r.path();
  EXPECT_EQ(p.ports_added.size(), 3u);
}

}  // namespace
}  // namespace kvnet::ctl
