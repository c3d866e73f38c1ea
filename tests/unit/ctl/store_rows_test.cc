// The store writes only what changed: a one-port edit is one row, an append
// or a removal moves no other row, and a kill between edits leaves the old or
// the new configuration, never a mix.
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <map>

#include "ctl/plan.h"
#include "ctl/store.h"
#include "ctl/topology.h"

namespace kvnet::ctl {
namespace {

namespace fs = std::filesystem;

constexpr int kPorts = 20;

std::string topo_yaml() {
  std::string y = "bridges:\n  - name: br0\n    type: switch\n    ports:\n";
  for (int i = 0; i < kPorts; ++i) y += "      - {name: p" + std::to_string(i) + ", type: system, pvid: 10}\n";
  y += "    fdb:\n      - {vlan: 10, mac: '02:00:00:00:00:01', port: p1}\n";
  y += "  - name: br1\n    ports:\n      - {name: q0, type: system}\n";
  y += "security_groups:\n  - name: web\n";
  return y;
}

// `t` with port `name`'s pvid set.
Topology with_pvid(Topology t, const std::string& name, int pvid) {
  BridgeSpec& b = *t.find_bridge("br0");
  for (auto& p : b.ports)
    if (p.name == name) {
      auto q = update_port(b, p, {{"pvid", std::to_string(pvid)}}, nullptr);
      EXPECT_TRUE(q.ok()) << q.error().message;
      p = std::move(*q);
    }
  return t;
}

class StoreRows : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("kvnet-store-rows-" + std::to_string(getpid()) + "-" +
                                              ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    auto t = parse_topology(topo_yaml(), "", "/");
    ASSERT_TRUE(t.ok()) << t.error().message;
    base_ = std::move(*t);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string db() const { return (dir_ / "kvnet.db").string(); }

  // The ports table as another connection reads it: name -> (rowid, position, spec).
  std::map<std::string, std::tuple<int64_t, int64_t, std::string>> port_rows() {
    std::map<std::string, std::tuple<int64_t, int64_t, std::string>> out;
    sqlite3* raw = nullptr;
    EXPECT_EQ(sqlite3_open(db().c_str(), &raw), SQLITE_OK);
    sqlite3_stmt* s = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(raw, "SELECT name, rowid, position, spec FROM ports", -1, &s, nullptr), SQLITE_OK);
    while (sqlite3_step(s) == SQLITE_ROW)
      out[reinterpret_cast<const char*>(sqlite3_column_text(s, 0))] = {
          sqlite3_column_int64(s, 1), sqlite3_column_int64(s, 2), reinterpret_cast<const char*>(sqlite3_column_text(s, 3))};
    sqlite3_finalize(s);
    sqlite3_close(raw);
    return out;
  }

  fs::path dir_;
  Topology base_;
};

TEST_F(StoreRows, AOnePortEditWritesThatRowOnly) {
  auto st = Store::open(db());
  ASSERT_TRUE(st.ok()) << st.error().message;
  ASSERT_TRUE((*st)->save(base_).ok());
  const auto before = port_rows();
  const Topology next = with_pvid(base_, "p7", 20);
  const Plan p = plan(base_, next);
  ASSERT_EQ(p.text(), std::vector<std::string>{"~ port br0/p7 pvid 10->20"});
  const int64_t n0 = (*st)->total_changes();
  auto s = (*st)->save(next);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ((*st)->total_changes() - n0, 1);
  const auto after = port_rows();
  ASSERT_EQ(after.size(), before.size());
  for (const auto& [name, row] : before) {
    if (name == "p7") continue;
    EXPECT_EQ(after.at(name), row) << name;  // same rowid, position and text: untouched
  }
  EXPECT_NE(std::get<2>(after.at("p7")), std::get<2>(before.at("p7")));
  auto back = (*st)->load();
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(to_yaml(*back), to_yaml(next));
}

TEST_F(StoreRows, AnAppendOrARemovalAtTheEndWritesOneRow) {
  auto st = Store::open(db());
  ASSERT_TRUE(st.ok());
  ASSERT_TRUE((*st)->save(base_).ok());
  // Remove the last port and the static entry: two rows. (A port removed
  // from the middle also renumbers the positions of the ports after it.)
  Topology next = base_;
  const std::string last = next.find_bridge("br0")->ports.back().name;
  std::erase_if(next.find_bridge("br0")->ports, [&](const PortSpec& p) { return p.name == last; });
  next.find_bridge("br0")->fdb.clear();
  int64_t n0 = (*st)->total_changes();
  ASSERT_TRUE((*st)->save(next).ok());
  EXPECT_EQ((*st)->total_changes() - n0, 2);
  // Append one: one row.
  Topology more = next;
  auto p = make_port(*more.find_bridge("br0"), "p99", {}, nullptr);
  ASSERT_TRUE(p.ok());
  more.find_bridge("br0")->ports.push_back(std::move(*p));
  n0 = (*st)->total_changes();
  ASSERT_TRUE((*st)->save(more).ok());
  EXPECT_EQ((*st)->total_changes() - n0, 1);
  auto back = (*st)->load();
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(to_yaml(*back), to_yaml(more));  // in order
  // Saving the same configuration whole writes nothing.
  n0 = (*st)->total_changes();
  ASSERT_TRUE((*st)->save(more).ok());
  EXPECT_EQ((*st)->total_changes() - n0, 0);
}

TEST_F(StoreRows, AReorderedConfigurationComesBackInItsOrder) {
  auto st = Store::open(db());
  ASSERT_TRUE(st.ok());
  ASSERT_TRUE((*st)->save(base_).ok());
  Topology next = with_pvid(base_, "p3", 30);
  auto& ports = next.find_bridge("br0")->ports;
  std::rotate(ports.begin(), ports.begin() + 5, ports.end());  // p5 ... p19, p0 ... p4
  std::swap(next.bridges[0], next.bridges[1]);
  ASSERT_TRUE((*st)->save(next).ok());
  auto back = (*st)->load();
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(to_yaml(*back), to_yaml(next));
}

TEST_F(StoreRows, AKillBetweenEditsLeavesTheOldOrTheNewConfiguration) {
  {
    auto st = Store::open(db());
    ASSERT_TRUE(st.ok());
    ASSERT_TRUE((*st)->save(base_).ok());
  }
  // Version i: version i-1 with one port's pvid changed (one row).
  constexpr int kVersions = 400;
  std::vector<Topology> v{base_};
  for (int i = 1; i <= kVersions; ++i) v.push_back(with_pvid(v.back(), "p" + std::to_string(2 + i % (kPorts - 2)), i % 4000 + 1));  // p1 keeps VLAN 10: its static entry
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {  // edits as kvnetd makes them, reporting each commit
    close(fds[0]);
    auto st = Store::open(db());
    if (!st) _exit(2);
    for (int i = 1; i <= kVersions; ++i) {
      if (!(*st)->save(v[i])) _exit(3);
      if (write(fds[1], &i, sizeof i) != sizeof i) _exit(4);
    }
    _exit(0);
  }
  close(fds[1]);
  int last = 0, i = 0;
  while (last < 50 && read(fds[0], &i, sizeof i) == sizeof i) last = i;  // well into the edits
  kill(child, SIGKILL);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  while (read(fds[0], &i, sizeof i) == sizeof i) last = i;  // what it reported before it died
  close(fds[0]);
  auto st = Store::open(db());
  ASSERT_TRUE(st.ok()) << st.error().message;
  auto back = (*st)->load();
  ASSERT_TRUE(back.ok()) << back.error().message;
  const std::string got = to_yaml(*back);
  const bool old_or_new = got == to_yaml(v[last]) || (last < kVersions && got == to_yaml(v[last + 1]));
  EXPECT_TRUE(old_or_new) << "reported commit " << last << "; loaded:\n" << got;
}

}  // namespace
}  // namespace kvnet::ctl
