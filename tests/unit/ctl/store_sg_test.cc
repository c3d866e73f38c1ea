// The store keeps security groups (one row each, the flow map sg_to_yaml
// writes) and the ports' security keys (in the port's row), and gives them
// back validated, in order.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>

#include "ctl/store.h"
#include "ctl/topology.h"

namespace kvnet::ctl {
namespace {

namespace fs = std::filesystem;

const char* kTopo = R"(bridges:
  - name: br0
    ports:
      - {name: p1, type: system, security_groups: [web, ssh], port_security: true, allowed_addresses: ["52:54:00:00:00:01:10.0.0.5", "52:54:00:00:00:01:fd00::/64", "52:54:00:00:00:01:::1"]}
      - {name: p2, type: internal, security_groups: ssh}
      - {name: p3, type: system}
  - name: hub0
    type: hub
    ports:
      - {name: h1, type: system, port_security: true}
security_groups:
  - name: zz-web
    description: "HTTP in: \"all\", anything out"
    rules:
      - {direction: ingress, protocol: tcp, port: 80}
      - {id: 7, direction: ingress, protocol: udp, port: "8000-8010", remote_ip: 10.0.0.0/24}
      - {direction: ingress, protocol: icmp, icmp_type: 8, icmp_code: 0, remote_group: ssh}
      - {direction: egress, ethertype: ipv6, protocol: ipv6-icmp, remote_ip: "fd00::1"}
      - {direction: egress, protocol: 47}
  - name: ssh
    rules:
      - {direction: ingress, protocol: tcp, port: 22, remote_group: zz-web}
  - name: empty
    rules: []
  - name: web
)";

class StoreSg : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("kvnet-store-sg-" + std::to_string(getpid()) + "-" +
                                              ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string db() const { return (dir_ / "kvnet.db").string(); }

  Topology topo() const {
    auto t = parse_topology(kTopo, "", "/");
    EXPECT_TRUE(t.ok()) << t.error().message;
    return t.ok() ? *t : Topology{};
  }
  void save(const Topology& t) {
    auto st = Store::open(db());
    ASSERT_TRUE(st.ok()) << st.error().message;
    auto s = (*st)->save(t);
    ASSERT_TRUE(s.ok()) << s.error().message;
  }
  Result<Topology> load() {
    auto st = Store::open(db());  // a fresh connection: nothing cached
    if (!st.ok()) return st.error();
    return (*st)->load();
  }
  void exec(const std::string& sql) {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(db().c_str(), &raw), SQLITE_OK);
    EXPECT_EQ(sqlite3_exec(raw, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sql;
    sqlite3_close(raw);
  }

  fs::path dir_;
};

TEST_F(StoreSg, SaveAndLoadGiveTheSameGroupsAndPortSecurity) {
  const Topology t = topo();
  ASSERT_EQ(t.security_groups.size(), 4u);
  save(t);
  auto back = load();
  ASSERT_TRUE(back.ok()) << back.error().message;
  ASSERT_EQ(back->security_groups.size(), 4u);
  EXPECT_EQ(back->security_groups[0].name, "zz-web");  // the configuration's order, not the names'
  EXPECT_EQ(back->security_groups[1].name, "ssh");
  EXPECT_EQ(back->security_groups[2].name, "empty");
  EXPECT_EQ(back->security_groups[3].name, "web");
  EXPECT_EQ(back->security_groups, t.security_groups);
  EXPECT_EQ(back->security_groups[0].description, "HTTP in: \"all\", anything out");
  ASSERT_EQ(back->security_groups[0].rules.size(), 5u);
  EXPECT_EQ(back->security_groups[0].rules[1].id, 7u);
  EXPECT_EQ(back->security_groups[0].rules[2].id, 8u);
  EXPECT_EQ(back->security_groups[0].rules[3].remote_ip, "fd00::1/128");
  for (const char* name : {"p1", "p2", "p3", "h1"}) {
    ASSERT_NE(back->find_port(name), nullptr) << name;
    EXPECT_EQ(back->find_port(name)->security, t.find_port(name)->security) << name;
  }
  EXPECT_EQ(back->find_port("p1")->security.allowed.size(), 3u);
  EXPECT_TRUE(back->find_port("h1")->security.port_security);
  EXPECT_EQ(to_yaml(*back), to_yaml(t));
}

TEST_F(StoreSg, SavingReplacesTheGroups) {
  Topology t = topo();
  save(t);
  // 'empty' and 'web' go, a rule of 'ssh' changes, a port leaves its groups.
  t.security_groups.resize(2);
  t.security_groups[1].rules[0].port_min = t.security_groups[1].rules[0].port_max = 2222;
  t.bridges[0].ports[0].security.groups = {"ssh"};
  t.bridges[0].ports[1].security.groups.clear();
  save(t);
  auto back = load();
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->security_groups, t.security_groups);
  EXPECT_EQ(back->security_groups[1].rules[0].port_min, 2222);
  EXPECT_EQ(back->find_port("p1")->security.groups, (std::vector<std::string>{"ssh"}));
  EXPECT_TRUE(back->find_port("p2")->security.empty());

  // None at all (the ports first: they name them).
  for (auto& b : t.bridges)
    for (auto& p : b.ports) p.security = {};
  t.security_groups.clear();
  save(t);
  back = load();
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_TRUE(back->security_groups.empty());
  for (const char* name : {"p1", "p2", "p3", "h1"}) EXPECT_TRUE(back->find_port(name)->security.empty()) << name;
}

TEST_F(StoreSg, AGroupRowThatBreaksTheRulesFailsTheLoad) {
  save(topo());
  // Edited by hand: a rule that does not parse.
  exec("UPDATE security_groups SET spec = '{name: web, rules: [{direction: sideways}]}' WHERE name = 'web'");
  auto back = load();
  ASSERT_FALSE(back.ok());
  EXPECT_NE(back.error().message.find("stored configuration is invalid"), std::string::npos) << back.error().message;
  EXPECT_NE(back.error().message.find("security group 'web': rule 1: direction 'sideways' is not ingress or egress"),
            std::string::npos)
      << back.error().message;
}

TEST_F(StoreSg, AGroupStillNamedMustBeStored) {
  save(topo());
  // Edited by hand: the group p1 uses is gone.
  exec("DELETE FROM security_groups WHERE name = 'web'");
  auto back = load();
  ASSERT_FALSE(back.ok());
  EXPECT_NE(back.error().message.find("stored configuration is invalid"), std::string::npos) << back.error().message;
  EXPECT_NE(back.error().message.find("bridge 'br0': port 'p1': security group 'web' does not exist"), std::string::npos)
      << back.error().message;
  // ... and the group a rule names as its remote_group.
  save(topo());
  exec("DELETE FROM security_groups WHERE name = 'ssh'");
  back = load();
  ASSERT_FALSE(back.ok());
  EXPECT_NE(back.error().message.find("security group 'zz-web': rule 8: remote_group 'ssh' does not exist"),
            std::string::npos)
      << back.error().message;
}

TEST_F(StoreSg, ThePortRowHoldsItsSecurity) {
  save(topo());
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(db().c_str(), &raw), SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(raw, "SELECT spec FROM ports WHERE name = 'p1'", -1, &s, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(s), SQLITE_ROW);
  const std::string spec = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
  sqlite3_finalize(s);
  sqlite3_close(raw);
  EXPECT_NE(spec.find("security_groups: [web, ssh]"), std::string::npos) << spec;
  EXPECT_NE(spec.find("port_security: true"), std::string::npos) << spec;
  EXPECT_NE(spec.find("allowed_addresses:"), std::string::npos) << spec;
}

}  // namespace
}  // namespace kvnet::ctl
