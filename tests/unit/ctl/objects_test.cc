// The table of object types (ctl/objects.h): one entry a type, in document
// order, and every type's part of a document, a check, a plan and the store
// working together: a topology with one object of each type survives export,
// re-reading and the store unchanged.
#include "ctl/objects.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <set>
#include <utility>

#include "ctl/plan.h"
#include "ctl/store.h"
#include "ctl/topology.h"

namespace kvnet::ctl {
namespace {

namespace fs = std::filesystem;

const char* kAll = R"(bridges:
  - name: br0
    mac_aging: 60
    fdb: [{vlan: 10, mac: "52:54:00:00:00:09", port: a1}]
    ports:
      - {name: a1, type: internal, vlan_mode: access, pvid: 10, security_groups: [web]}
      - {name: ct-web, type: system, vlan_mode: access, pvid: 10}
      - {name: vnet0, type: system, vlan_mode: access, pvid: 10}
      - {name: ids0, type: internal}
    mirrors: [{name: ids, select_src_ports: [a1], output_port: ids0}]
containers:
  - {name: web, bridge: br0, port: ct-web, ip: 10.0.0.2/24, gw: 10.0.0.1, mac: "52:54:00:00:00:02"}
security_groups:
  - name: web
    rules: [{direction: ingress, protocol: tcp, port: 80}]
vms:
  - {name: vm1, nics: [{bridge: br0, port: vnet0}]}
gateways:
  - {name: gw0, bridge: br0, vlan: 10, ip: 10.0.0.1/24}
)";

Topology all() {
  auto t = parse_topology(kAll, "", "/");
  EXPECT_TRUE(t.ok()) << t.error().message;
  return t.ok() ? *t : Topology{};
}

TEST(ObjectTypes, OneEntryATypeInDocumentOrder) {
  std::vector<std::string> names, sections;
  for (const ObjectType* t : object_types()) {
    names.emplace_back(t->name());
    if (!t->section().empty()) sections.emplace_back(t->section());
    EXPECT_EQ(find_object_type(t->name()), t);
  }
  // The types of this tree, in this order (a new one may come after them).
  ASSERT_GE(names.size(), 6u);
  EXPECT_EQ(std::vector<std::string>(names.begin(), names.begin() + 6),
            (std::vector<std::string>{"bridge", "mirror", "container", "sg", "vm", "gw"}));
  ASSERT_GE(sections.size(), 5u);
  EXPECT_EQ(std::vector<std::string>(sections.begin(), sections.begin() + 5),
            (std::vector<std::string>{"bridges", "containers", "security_groups", "vms", "gateways"}));
  EXPECT_EQ(std::set<std::string>(names.begin(), names.end()).size(), names.size()) << "names are unique";
  EXPECT_EQ(std::set<std::string>(sections.begin(), sections.end()).size(), sections.size());
  EXPECT_EQ(find_object_type("nothing"), nullptr);
}

TEST(ObjectTypes, TheTopologyNamesTheSectionsOfTheTable) {
  std::string known;
  for (const ObjectType* t : object_types())
    if (!t->section().empty()) known += (known.empty() ? "" : ", ") + std::string(t->section());
  EXPECT_EQ(known.rfind("bridges, containers, security_groups, vms, gateways", 0), 0u) << known;
  auto t = parse_document("bridges: []\nnothing: []\n", "t.yaml", "/");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().message, "t.yaml:2:1: unknown key 'nothing' in the topology (known: " + known + ")");
}

TEST(ObjectTypes, ExportReadsBackTheSame) {
  const Topology t = all();
  const std::string yaml = to_yaml(t);
  auto back = parse_topology(yaml, "", "/");
  ASSERT_TRUE(back.ok()) << back.error().message << "\n" << yaml;
  EXPECT_EQ(to_yaml(*back), yaml);
  EXPECT_TRUE(plan(t, *back).empty());
}

TEST(ObjectTypes, EveryTypePlansItsObjectsInTableOrder) {
  const Plan p = plan(Topology{}, all());
  std::vector<std::string> whats;
  for (const auto& l : p.lines) {
    EXPECT_EQ(l.op, '+') << l.str();
    if (whats.empty() || whats.back() != l.what) whats.push_back(l.what);
  }
  EXPECT_EQ(whats, (std::vector<std::string>{"bridge", "port", "fdb", "mirror", "container", "sg", "vm", "gw"}));
  const Plan back = plan(all(), Topology{});
  for (const auto& l : back.lines) EXPECT_EQ(l.op, '-') << l.str();
  EXPECT_EQ(back.containers_removed.size(), 1u);
  EXPECT_EQ(back.groups_removed, std::vector<std::string>{"web"});
  EXPECT_EQ(back.vms_removed, std::vector<std::string>{"vm1"});
  EXPECT_EQ(back.gateways_removed, std::vector<std::string>{"gw0"});
}

class ObjectStore : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("kvnet-objects-" + std::to_string(getpid()) + "-" +
                                              ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string db() const { return (dir_ / "kvnet.db").string(); }
  fs::path dir_;
};

TEST_F(ObjectStore, EveryTypesTablesExist) {
  auto st = Store::open(db());
  ASSERT_TRUE(st.ok()) << st.error().message;
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(db().c_str(), &raw), SQLITE_OK);
  std::set<std::string> tables;
  sqlite3_exec(
      raw, "SELECT name FROM sqlite_master WHERE type = 'table'",
      [](void* out, int, char** v, char**) {
        static_cast<std::set<std::string>*>(out)->insert(v[0]);
        return 0;
      },
      &tables, nullptr);
  sqlite3_close(raw);
  for (const ObjectType* t : object_types())
    for (const char* table : t->tables()) EXPECT_TRUE(tables.count(table)) << t->name() << ": " << table;
}

TEST_F(ObjectStore, ATopologyOfEveryTypeComesBackTheSame) {
  const Topology t = all();
  {
    auto st = Store::open(db());
    ASSERT_TRUE(st.ok()) << st.error().message;
    auto s = (*st)->save(t);
    ASSERT_TRUE(s.ok()) << s.error().message;
  }
  auto st = Store::open(db());
  ASSERT_TRUE(st.ok()) << st.error().message;
  auto back = (*st)->load();
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(to_yaml(*back), to_yaml(t));
  EXPECT_TRUE(plan(t, *back).empty());
  // Saving again replaces every table's rows.
  ASSERT_TRUE((*st)->save(Topology{}).ok());
  auto empty = (*st)->load();
  ASSERT_TRUE(empty.ok()) << empty.error().message;
  EXPECT_EQ(to_yaml(*empty), "bridges: []\n");
}

// kvnetd's apply: a document without a section keeps the objects it had.
TEST(ObjectTypes, SectionsADocumentLeavesOutKeepTheirObjects) {
  const Topology cur = all();
  Topology doc = cur;
  doc.containers.clear();
  doc.has_containers = false;
  doc.vms.clear();
  doc.has_vms = false;
  doc.security_groups.clear();
  doc.has_security_groups = false;
  doc.gateways.clear();
  doc.has_gateways = false;
  for (auto& b : doc.bridges) std::erase_if(b.ports, [](const PortSpec& p) { return p.name == "gw0"; });
  keep_unlisted_sections(cur, doc);
  EXPECT_EQ(doc.containers, cur.containers);
  EXPECT_EQ(doc.vms, cur.vms);
  EXPECT_EQ(doc.security_groups, cur.security_groups);
  EXPECT_EQ(doc.gateways, cur.gateways);
  EXPECT_TRUE(doc.find_port("gw0")) << "a kept gateway brings its port back";
  EXPECT_TRUE(validate(doc).ok());

  Topology listed = cur;
  listed.containers.clear();  // `containers: []`: the section is there, and empty
  ASSERT_TRUE(listed.has_containers);
  keep_unlisted_sections(cur, listed);
  EXPECT_TRUE(listed.containers.empty());
}

struct Thing {
  std::string name;
  bool operator==(const Thing&) const = default;
};

TEST(ObjectLists, ACopyHasItsOwnLists) {
  Topology a;
  EXPECT_FALSE(a.lists.has<Thing>());
  EXPECT_TRUE(std::as_const(a.lists).list<Thing>().empty());
  EXPECT_FALSE(a.lists.has<Thing>()) << "reading does not make the list";
  a.lists.list<Thing>().push_back({"one"});
  EXPECT_TRUE(a.lists.has<Thing>());
  Topology b = a;
  b.lists.list<Thing>().push_back({"two"});
  EXPECT_EQ(a.lists.list<Thing>(), std::vector<Thing>{{"one"}});
  EXPECT_EQ(b.lists.list<Thing>(), (std::vector<Thing>{{"one"}, {"two"}}));
  a = b;
  EXPECT_EQ(a.lists.list<Thing>().size(), 2u);
}

}  // namespace
}  // namespace kvnet::ctl
