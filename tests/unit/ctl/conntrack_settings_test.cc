// A bridge's connection-table settings (conntrack_max, conntrack_timeouts):
// the text and YAML forms, `set bridge`, export, the store (and a database
// from before they existed), and the plan.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>

#include "ctl/plan.h"
#include "ctl/security.h"
#include "ctl/store.h"
#include "ctl/topology.h"

namespace kvnet::ctl {
namespace {

namespace fs = std::filesystem;
constexpr uint64_t kSec = dp::kSecondNs;

TEST(ConntrackTimeouts, TextFormSetsTheNamedValuesOnly) {
  auto t = parse_conntrack_timeouts("udp:2,icmp:3,tcp_established:3600,generic:9,udp_stream:4");
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->udp_unreplied_ns, 2 * kSec);
  EXPECT_EQ(t->udp_replied_ns, 4 * kSec);
  EXPECT_EQ(t->icmp_ns, 3 * kSec);
  EXPECT_EQ(t->tcp_established_ns, 3600 * kSec);
  EXPECT_EQ(t->other_ns, 9 * kSec);
  EXPECT_EQ(t->tcp_syn_sent_ns, dp::ConntrackTimeouts{}.tcp_syn_sent_ns);
  EXPECT_EQ(conntrack_timeouts_str(*t), "tcp_established:3600,udp:2,udp_stream:4,icmp:3,generic:9");
  EXPECT_EQ(conntrack_timeouts_str(dp::ConntrackTimeouts{}), "");
  auto empty = parse_conntrack_timeouts("");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*empty, dp::ConntrackTimeouts{});
}

TEST(ConntrackTimeouts, EveryNameRoundTrips) {
  dp::ConntrackTimeouts t;
  uint64_t v = 1;
  for (const auto& [name, sec] : conntrack_timeout_values(t)) {
    ASSERT_TRUE(set_conntrack_timeout(t, name, static_cast<int64_t>(v)).ok()) << name;
    ++v;
  }
  EXPECT_EQ(conntrack_timeout_values(t).size(), 12u);
  auto back = parse_conntrack_timeouts(conntrack_timeouts_str(t));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(*back, t);
}

TEST(ConntrackTimeouts, ErrorsNameTheProblem) {
  auto unknown = parse_conntrack_timeouts("udp:2,tcp:5");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message.find("'tcp' is unknown (tcp_syn_sent"), std::string::npos)
      << unknown.error().message;
  auto nocolon = parse_conntrack_timeouts("udp");
  ASSERT_FALSE(nocolon.ok());
  EXPECT_NE(nocolon.error().message.find("must be NAME:SECONDS"), std::string::npos);
  auto nan = parse_conntrack_timeouts("udp:5s");
  ASSERT_FALSE(nan.ok());
  EXPECT_NE(nan.error().message.find("'5s' is not a number"), std::string::npos);
  for (const char* bad : {"udp:0", "udp:-1", "udp:864001", "udp:"}) EXPECT_FALSE(parse_conntrack_timeouts(bad).ok()) << bad;
  EXPECT_TRUE(parse_conntrack_timeouts("udp:864000").ok());
}

const char* kTopo = R"(bridges:
  - name: br0
    conntrack_max: 100
    conntrack_timeouts: {udp: 2, tcp_established: 60}
    ports:
      - {name: p1, type: system}
  - name: hub0
    type: hub
    conntrack_timeouts: {icmp: 5}
  - name: br1
)";

TEST(ConntrackSettings, YamlSetsThemPerBridgeAndExportWritesWhatDiffers) {
  auto t = parse_topology(kTopo, "", "/");
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->bridges[0].settings.conntrack_max, 100u);
  EXPECT_EQ(t->bridges[0].settings.conntrack_timeouts.udp_unreplied_ns, 2 * kSec);
  EXPECT_EQ(t->bridges[0].settings.conntrack_timeouts.tcp_established_ns, 60 * kSec);
  EXPECT_EQ(t->bridges[1].settings.conntrack_timeouts.icmp_ns, 5 * kSec);
  EXPECT_EQ(t->bridges[2].settings, dp::BridgeSettings{});
  const std::string y = to_yaml(*t);
  EXPECT_NE(y.find("conntrack_max: 100\n"), std::string::npos) << y;
  EXPECT_NE(y.find("conntrack_timeouts: {tcp_established: 60, udp: 2}"), std::string::npos) << y;
  EXPECT_EQ(y.find("conntrack_max: 16384"), std::string::npos) << y;
  auto back = parse_topology(y, "", "/");
  ASSERT_TRUE(back.ok()) << back.error().message << "\n" << y;
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(back->bridges[i].settings, t->bridges[i].settings) << i;
}

TEST(ConntrackSettings, YamlErrorsNameTheKeyAndLine) {
  auto e = parse_topology("bridges:\n  - name: br0\n    conntrack_timeouts: {udp: 2, tcp: 5}\n", "t.yaml", "/");
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.error().message.find("t.yaml:3"), std::string::npos) << e.error().message;
  EXPECT_NE(e.error().message.find("'tcp' is unknown"), std::string::npos) << e.error().message;
  e = parse_topology("bridges:\n  - name: br0\n    conntrack_max: 0\n", "t.yaml", "/");
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.error().message.find("conntrack_max"), std::string::npos) << e.error().message;
  e = parse_topology("bridges:\n  - name: br0\n    conntrack_timeouts: {udp: 0}\n", "t.yaml", "/");
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.error().message.find("udp"), std::string::npos) << e.error().message;
}

TEST(ConntrackSettings, SetBridgeTakesTheTextFormAndKeepsTheRest) {
  auto b = make_bridge("br0", "switch", {{"mac_aging", "30"}});
  ASSERT_TRUE(b.ok()) << b.error().message;
  auto c = update_bridge(*b, {{"conntrack_max", "64"}, {"conntrack_timeouts", "udp:2,icmp:2"}});
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->settings.mac_aging_sec, 30u);
  EXPECT_EQ(c->settings.conntrack_max, 64u);
  EXPECT_EQ(c->settings.conntrack_timeouts.udp_unreplied_ns, 2 * kSec);
  // A later change of one key keeps the others.
  auto d = update_bridge(*c, {{"mac_aging", "40"}});
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(d->settings.conntrack_max, 64u);
  EXPECT_EQ(d->settings.conntrack_timeouts, c->settings.conntrack_timeouts);
  // An empty value goes back to the defaults.
  auto e = update_bridge(*d, {{"conntrack_timeouts", ""}, {"conntrack_max", ""}});
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ(e->settings.conntrack_timeouts, dp::ConntrackTimeouts{});
  EXPECT_EQ(e->settings.conntrack_max, dp::kConntrackSize);
  auto bad = update_bridge(*b, {{"conntrack_timeouts", "udp=2"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("bridge 'br0': "), std::string::npos) << bad.error().message;
  auto unknown = update_bridge(*b, {{"ct_max", "5"}});
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message.find("conntrack_max, conntrack_timeouts"), std::string::npos);
}

TEST(ConntrackSettings, PlanShowsTheChangedKeys) {
  auto a = parse_topology("bridges:\n  - name: br0\n", "", "/");
  auto b = parse_topology(kTopo, "", "/");
  ASSERT_TRUE(a.ok() && b.ok());
  b->bridges.resize(1);
  b->bridges[0].ports.clear();
  const Plan p = plan(*a, *b);
  ASSERT_EQ(p.bridges_changed, std::vector<std::string>{"br0"});
  const auto text = p.text();
  ASSERT_EQ(text.size(), 1u);
  EXPECT_NE(text[0].find("conntrack_max 16384->100"), std::string::npos) << text[0];
  EXPECT_NE(text[0].find("conntrack_timeouts (none)->tcp_established:60,udp:2"), std::string::npos) << text[0];
}

class ConntrackStore : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("kvnet-ct-store-" + std::to_string(getpid()) + "-" +
                                              ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string db() const { return (dir_ / "kvnet.db").string(); }
  fs::path dir_;
};

TEST_F(ConntrackStore, SettingsRoundTrip) {
  auto t = parse_topology(kTopo, "", "/");
  ASSERT_TRUE(t.ok()) << t.error().message;
  {
    auto st = Store::open(db());
    ASSERT_TRUE(st.ok()) << st.error().message;
    ASSERT_TRUE((*st)->save(*t).ok());
  }
  auto st = Store::open(db());
  ASSERT_TRUE(st.ok());
  auto back = (*st)->load();
  ASSERT_TRUE(back.ok()) << back.error().message;
  ASSERT_EQ(back->bridges.size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(back->bridges[i].settings, t->bridges[i].settings) << i;
}

TEST_F(ConntrackStore, ADatabaseFromBeforeGetsTheDefaults) {
  fs::create_directories(dir_);
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(db().c_str(), &raw), SQLITE_OK);
  const char* old = R"sql(
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE bridges(
  name TEXT PRIMARY KEY, position INTEGER NOT NULL, type TEXT NOT NULL,
  mac_aging INTEGER NOT NULL, mac_table_size INTEGER NOT NULL);
INSERT INTO bridges VALUES('br0', 0, 'switch', 300, 8192);
)sql";
  ASSERT_EQ(sqlite3_exec(raw, old, nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(raw);
  auto st = Store::open(db());
  ASSERT_TRUE(st.ok()) << st.error().message;
  auto t = (*st)->load();
  ASSERT_TRUE(t.ok()) << t.error().message;
  ASSERT_EQ(t->bridges.size(), 1u);
  EXPECT_EQ(t->bridges[0].settings.conntrack_max, dp::kConntrackSize);
  EXPECT_EQ(t->bridges[0].settings.conntrack_timeouts, dp::ConntrackTimeouts{});
  auto c = update_bridge(t->bridges[0], {{"conntrack_max", "10"}});
  ASSERT_TRUE(c.ok());
  t->bridges[0] = *c;
  ASSERT_TRUE((*st)->save(*t).ok());
  auto again = (*st)->load();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->bridges[0].settings.conntrack_max, 10u);
}

}  // namespace
}  // namespace kvnet::ctl
