// Scoped edits (ctl/scope.h) against whole ones: for each edit a verb makes
// with a scope, the scoped checks refuse what the whole ones refuse, the
// scoped plan, policy diff and store rows equal the whole ones, and
// copy_scope() brings a twin up to date.
#include "ctl/scope.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>

#include "ctl/firewall_build.h"
#include "ctl/plan.h"
#include "ctl/store.h"
#include "ctl/topology.h"

namespace kvnet::ctl {
namespace {

namespace fs = std::filesystem;

constexpr const char* kTopo = R"(
security_groups:
  - name: web
    rules:
      - {direction: ingress, protocol: tcp, port: 80, remote_group: db}
  - name: db
bridges:
  - name: br0
    type: switch
    fdb:
      - {vlan: 10, mac: "02:00:00:00:00:01", port: a1}
    mirrors:
      - {name: m1, select_src_ports: [a1, a3], output_port: ids0}
    ports:
      - {name: a1, type: system, vlan_mode: access, pvid: 10, security_groups: [web]}
      - {name: a2, type: system, vlan_mode: access, pvid: 10, security_groups: [db], allowed_addresses: ["02:00:00:00:00:02:10.0.0.2"]}
      - {name: a3, type: system, vlan_mode: access, pvid: 20}
      - {name: ids0, type: system, vlan_mode: access, pvid: 10}
      - {name: up, type: patch, peer: br1/down, vlan_mode: trunk, allowed: [10, 20]}
  - name: br1
    type: switch
    ports:
      - {name: down, type: patch, peer: br0/up, vlan_mode: trunk, allowed: [10, 20]}
      - {name: b1, type: system, vlan_mode: access, pvid: 20}
  - name: hub0
    type: hub
    ports:
      - {name: h1, type: system}
)";

const ParseOptions kDaemon{.allow_dangling_patches = true};

Topology base() {
  auto t = parse_topology(kTopo, "", "/");
  EXPECT_TRUE(t.ok()) << t.error().message;
  t->file.clear();
  return *t;
}

// An edit as a verb makes it: its scope, and the change to a copy.
struct Edit {
  const char* what;
  Scope scope;
  std::function<void(Topology&)> change;
};

void set(Topology& t, const std::string& bridge, const std::string& port, const Settings& s) {
  BridgeSpec& b = *t.find_bridge(bridge);
  for (auto& p : b.ports)
    if (p.name == port) {
      auto q = update_port(b, p, s);
      ASSERT_TRUE(q.ok()) << q.error().message;
      p = std::move(*q);
    }
}

void add(Topology& t, const std::string& bridge, const std::string& port, const Settings& s) {
  BridgeSpec& b = *t.find_bridge(bridge);
  auto p = make_port(b, port, s);
  ASSERT_TRUE(p.ok()) << p.error().message;
  b.ports.push_back(std::move(*p));
}

void del(Topology& t, const std::string& bridge, const std::string& port) {
  BridgeSpec& b = *t.find_bridge(bridge);
  ASSERT_TRUE(forget_mirrored_port(b, port).ok());
  std::erase_if(b.ports, [&](const PortSpec& p) { return p.name == port; });
  std::erase_if(b.fdb, [&](const FdbSpec& f) { return f.port == port; });
}

// Edits the checks accept.
std::vector<Edit> valid_edits() {
  return {
      {"pvid", Scope::of_port("br0", "a3"), [](Topology& t) { set(t, "br0", "a3", {{"pvid", "30"}}); }},
      {"mtu", Scope::of_port("br1", "b1"), [](Topology& t) { set(t, "br1", "b1", {{"mtu", "1400"}}); }},
      {"trunk", Scope::of_port("br0", "a3"),
       [](Topology& t) { set(t, "br0", "a3", {{"vlan_mode", "trunk"}, {"allowed", "10,20,30"}}); }},
      {"add", Scope::of_port("br1", "b2"),
       [](Topology& t) { add(t, "br1", "b2", {{"type", "system"}, {"pvid", "20"}}); }},
      {"add to a hub", Scope::of_port("hub0", "h2"), [](Topology& t) { add(t, "hub0", "h2", {{"type", "system"}}); }},
      {"del with fdb and mirror", Scope::of_port("br0", "a1").with_bridge("br0"),
       [](Topology& t) { del(t, "br0", "a1"); }},
      {"del middle", Scope::of_port("br0", "a2").with_bridge("br0"), [](Topology& t) { del(t, "br0", "a2"); }},
      {"join a group named by a rule", Scope::of_port("br0", "a3"),
       [](Topology& t) { set(t, "br0", "a3", {{"security_groups", "db"}, {"allowed_addresses", "02:00:00:00:00:03:10.0.0.3"}}); }},
      {"member's address", Scope::of_port("br0", "a2"),
       [](Topology& t) { set(t, "br0", "a2", {{"allowed_addresses", "02:00:00:00:00:02:10.0.0.9"}}); }},
      {"leave a group", Scope::of_port("br0", "a1"), [](Topology& t) { set(t, "br0", "a1", {{"security_groups", ""}}); }},
      {"no change", Scope::of_port("br0", "a3"), [](Topology& t) { set(t, "br0", "a3", {{"pvid", "20"}}); }},
      {"del patch end", Scope::of_port("br1", "down").with_bridge("br1"), [](Topology& t) { del(t, "br1", "down"); }},
      {"fdb-add", Scope::of_bridge("br0"),
       [](Topology& t) { t.find_bridge("br0")->fdb.push_back({10, 0x020000000005, "a2", {}, ""}); }},
      {"fdb-del", Scope::of_bridge("br0"), [](Topology& t) { t.find_bridge("br0")->fdb.clear(); }},
      {"set bridge", Scope::of_bridge("br1"), [](Topology& t) { t.find_bridge("br1")->settings.mac_aging_sec = 60; }},
  };
}

// Edits the checks refuse, each for a rule involving the edited port.
std::vector<Edit> invalid_edits() {
  return {
      {"fdb port leaves its VLAN", Scope::of_port("br0", "a1"), [](Topology& t) { set(t, "br0", "a1", {{"pvid", "30"}}); }},
      {"duplicate name on another bridge", Scope::of_port("br1", "a3"),
       [](Topology& t) { add(t, "br1", "a3", {{"type", "system"}}); }},
      {"unknown group", Scope::of_port("br0", "a3"), [](Topology& t) {
         set(t, "br0", "a3", {{"security_groups", "web"}});
         t.find_bridge("br0")->ports[2].security.groups = {"nosuch"};
       }},
      {"VLAN keys on a hub", Scope::of_port("hub0", "h1"), [](Topology& t) {
         t.find_bridge("hub0")->ports[0].has_vlan_config = true;
       }},
      {"peer no longer names its end", Scope::of_port("br1", "down"), [](Topology& t) {
         auto& ports = t.find_bridge("br1")->ports;
         ports.erase(ports.begin());
         add(t, "br1", "down", {{"type", "patch"}, {"peer", "br0/a3"}});
       }},
      {"fdb entry on a port without its VLAN", Scope::of_bridge("br0"),
       [](Topology& t) { t.find_bridge("br0")->fdb.push_back({20, 0x020000000005, "a1", {}, ""}); }},
      {"more entries than the table holds", Scope::of_bridge("br0"), [](Topology& t) {
         t.find_bridge("br0")->fdb.push_back({10, 0x020000000005, "a2", {}, ""});
         t.find_bridge("br0")->settings.mac_table_size = 1;
       }},
      {"fdb entry left on a deleted port", Scope::of_port("br0", "a1"), [](Topology& t) {
         auto& ports = t.find_bridge("br0")->ports;
         ports.erase(ports.begin());
       }},
  };
}

std::string text(const Plan& p) {
  std::string out;
  for (const auto& l : p.text()) out += l + "\n";
  return out;
}

TEST(Scope, ChecksRefuseWhatWholeChecksRefuse) {
  for (const auto& e : invalid_edits()) {
    SCOPED_TRACE(e.what);
    Topology next = base();
    e.change(next);
    auto whole = validate(next, kDaemon);
    auto scoped = validate(next, kDaemon, e.scope);
    EXPECT_FALSE(whole.ok());
    ASSERT_FALSE(scoped.ok());
  }
  for (const auto& e : valid_edits()) {
    SCOPED_TRACE(e.what);
    Topology next = base();
    e.change(next);
    auto whole = validate(next, kDaemon);
    ASSERT_TRUE(whole.ok()) << whole.error().message;
    auto scoped = validate(next, kDaemon, e.scope);
    EXPECT_TRUE(scoped.ok()) << scoped.error().message;
  }
}

TEST(Scope, PlansEqualWholePlans) {
  for (const auto& e : valid_edits()) {
    SCOPED_TRACE(e.what);
    const Topology cur = base();
    Topology next = cur;
    e.change(next);
    const Plan whole = plan(cur, next);
    const Plan scoped = plan(cur, next, e.scope);
    EXPECT_EQ(text(scoped), text(whole));
    EXPECT_EQ(scoped.ports_added, whole.ports_added);
    EXPECT_EQ(scoped.ports_removed, whole.ports_removed);
    EXPECT_EQ(scoped.ports_reconfigured, whole.ports_reconfigured);
    EXPECT_EQ(scoped.fdb_added.size(), whole.fdb_added.size());
    EXPECT_EQ(scoped.fdb_removed.size(), whole.fdb_removed.size());
    EXPECT_EQ(scoped.bridges_changed, whole.bridges_changed);
    EXPECT_EQ(affected_ports(cur, next, e.scope), affected_ports(cur, next));
  }
}

TEST(Scope, RemoteGroupMembersAreAffected) {
  // a2 is in `db`, which web's rule names: a1 (in web) gets a2's new address
  // (a2's own policy, without port security, does not hold its address).
  const Topology cur = base();
  Topology next = cur;
  set(next, "br0", "a2", {{"allowed_addresses", "02:00:00:00:00:02:10.0.0.9"}});
  EXPECT_EQ(affected_ports(cur, next, Scope::of_port("br0", "a2")), (std::set<std::string>{"a1"}));
}

TEST(Scope, CopyScopeBringsATwinUpToDate) {
  for (const auto& e : valid_edits()) {
    SCOPED_TRACE(e.what);
    const Topology cur = base();
    Topology next = cur;
    e.change(next);
    Topology twin = cur;
    copy_scope(next, twin, e.scope);
    EXPECT_EQ(to_yaml(twin), to_yaml(next));
    // and back: an edit that failed is put back the same way
    copy_scope(cur, twin, e.scope);
    EXPECT_EQ(to_yaml(twin), to_yaml(cur));
  }
}

TEST(Scope, StoreWritesTheScopeAndReadsBackTheWhole) {
  const fs::path dir = fs::path(::testing::TempDir()) / ("kvnet-scope-" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  for (const auto& e : valid_edits()) {
    SCOPED_TRACE(e.what);
    fs::remove(dir / "s.db");
    auto st = Store::open((dir / "s.db").string());
    ASSERT_TRUE(st.ok()) << st.error().message;
    Topology t = base();
    ASSERT_TRUE((*st)->save(t).ok());
    Topology next = t;
    e.change(next);
    // Twice: the second save finds the first's rows (an upsert, a delete of nothing).
    for (int round = 0; round < 2; ++round) {
      const int64_t before = (*st)->total_changes();
      auto s = (*st)->save(next, e.scope);
      ASSERT_TRUE(s.ok()) << s.error().message;
      EXPECT_LE((*st)->total_changes() - before, 8);  // the scope's rows, not the configuration's
      auto back = (*st)->load();
      ASSERT_TRUE(back.ok()) << back.error().message;
      back->file.clear();
      EXPECT_EQ(to_yaml(*back), to_yaml(next));
    }
  }
  // Ports added after a deleted one keep their order across a restart.
  fs::remove(dir / "s.db");
  auto st = Store::open((dir / "s.db").string());
  ASSERT_TRUE(st.ok());
  Topology t = base();
  ASSERT_TRUE((*st)->save(t).ok());
  for (const auto& [name, gone] : std::vector<std::pair<std::string, std::string>>{{"x1", "a3"}, {"x2", ""}, {"x3", "x1"}}) {
    Topology next = t;
    Scope scope = Scope::of_port("br0", name);
    add(next, "br0", name, {{"type", "system"}, {"pvid", "10"}});
    ASSERT_TRUE((*st)->save(next, scope).ok());
    t = next;
    if (gone.empty()) continue;
    next = t;
    del(next, "br0", gone);
    ASSERT_TRUE((*st)->save(next, Scope::of_port("br0", gone).with_bridge("br0")).ok());
    t = next;
  }
  auto back = (*st)->load();
  ASSERT_TRUE(back.ok()) << back.error().message;
  back->file.clear();
  EXPECT_EQ(to_yaml(*back), to_yaml(t));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace kvnet::ctl
