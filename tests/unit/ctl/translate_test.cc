// The one translator from a plan to datapath commands, as the offline tools
// use it (build_datapath) and as kvnetd does (daemon/applier).
#include "ctl/translate.h"

#include <gtest/gtest.h>

#include "ctl/build.h"
#include "ctl/plan.h"
#include "testing.h"

namespace kvnet::ctl {
namespace {

const char* kTopo = R"(bridges:
  - name: br0
    type: switch
    mac_table_size: 2
    ports:
      - {name: p1, type: system, pvid: 10}
      - {name: p2, type: system, pvid: 10}
      - {name: x1, type: patch, peer: br1/x2}
    fdb:
      - {vlan: 10, mac: '02:00:00:00:00:01', port: p1}
  - name: br1
    ports:
      - {name: x2, type: patch, peer: br0/x1}
)";

Topology topo() {
  auto t = parse_topology(kTopo, "", "/");
  EXPECT_TRUE(t.ok()) << t.error().message;
  return std::move(*t);
}

// Static entries past mac_table_size, as no validated file has them.
Topology overflowing() {
  Topology t = topo();
  auto& fdb = t.find_bridge("br0")->fdb;
  fdb.push_back({10, 0x020000000002ULL, "p2", {}, {}});
  fdb.push_back({10, 0x020000000003ULL, "p2", {}, {}});
  return t;
}

std::optional<uint32_t> none(const std::string&) { return std::nullopt; }

TEST(Translate, ThePlanFromNothingAddsEverything) {
  const Topology t = topo();
  auto c = translate(Topology{}, t, plan(Topology{}, t), none);
  ASSERT_TRUE(c.ok()) << c.error().message;
  ASSERT_EQ(c->add_bridges.size(), 2u);
  ASSERT_EQ(c->add_ports.size(), 4u);
  EXPECT_EQ(c->add_ports[2].name, "x1");
  ASSERT_EQ(c->patches.size(), 2u);  // each side of the pair
  EXPECT_TRUE(c->patches[0].first.added && c->patches[0].first.v == 2 && c->patches[0].second.v == 3);
  ASSERT_EQ(c->fdb_add.size(), 1u);
  EXPECT_EQ(c->fdb_add[0].port.v, 0u);
  for (const auto& a : c->add_ports) EXPECT_EQ(a.backend, nullptr);  // the caller opens them
}

TEST(Translate, AChangeNamesLivePortsByTheirIds) {
  const Topology cur = topo();
  Topology next = cur;
  next.find_bridge("br0")->fdb.push_back({10, 0x020000000002ULL, "p2", {}, {}});
  auto live = [](const std::string& p) -> std::optional<uint32_t> { return p == "p2" ? 7 : 1; };
  auto c = translate(cur, next, plan(cur, next), live);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_TRUE(c->add_ports.empty());
  ASSERT_EQ(c->fdb_add.size(), 1u);
  EXPECT_FALSE(c->fdb_add[0].port.added);
  EXPECT_EQ(c->fdb_add[0].port.v, 7u);
}

TEST(Translate, StaticEntriesPastTheTableAreRefusedOfflineAndLiveAlike) {
  const Topology t = overflowing();
  const std::string want = "bridge 'br0': static FDB entries (3) exceed mac_table_size 2";
  auto c = translate(Topology{}, t, plan(Topology{}, t), none);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().message, want);
  int opened = 0;
  auto dp = build_datapath(t, [&](const BridgeSpec&, const PortSpec&) -> Result<std::unique_ptr<dp::PortBackend>> {
    ++opened;
    return std::unique_ptr<dp::PortBackend>(std::make_unique<dp::DiscardBackend>());
  });
  ASSERT_FALSE(dp.ok());
  EXPECT_EQ(dp.error().message, want);
  EXPECT_EQ(opened, 0);  // refused before any backend was opened
}

}  // namespace
}  // namespace kvnet::ctl
