// Port mirrors as configuration: the YAML `mirrors:` of a bridge, every
// validation rule (with the message naming the mirror and the rule),
// export and store round trips, older databases, plan lines and
// forget_mirrored_port.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "ctl/plan.h"
#include "ctl/store.h"
#include "ctl/topology.h"

namespace kvnet::ctl {
namespace {

namespace fs = std::filesystem;

const std::string kPorts = R"(bridges:
  - name: br0
    ports:
      - {name: a1, type: system, vlan_mode: access, pvid: 10}
      - {name: b1, type: system, vlan_mode: access, pvid: 10}
      - {name: c1, type: system, vlan_mode: access, pvid: 20}
      - {name: t1, type: system, vlan_mode: trunk, allowed: [10, 20, 99]}
      - {name: ids0, type: system, vlan_mode: access, pvid: 10}
  - name: hub0
    type: hub
    ports:
      - {name: h1, type: system}
      - {name: h2, type: system}
)";

// The topology with `mirrors` (YAML list items, indented for br0) under br0.
std::string with_mirrors(const std::string& mirrors, const std::string& extra = "") {
  std::string y = kPorts;
  const std::string at = "  - name: hub0\n";
  y.insert(y.find(at), "    mirrors:\n" + mirrors);
  return y + extra;
}

Result<Topology> load(const std::string& yaml) { return parse_topology(yaml, "t.yaml", "/"); }

std::string error_of(const std::string& yaml) {
  auto t = load(yaml);
  return t ? "" : t.error().message;
}

TEST(MirrorYaml, ParsesEveryKey) {
  auto t = load(with_mirrors(
      "      - {name: ids, select_src_ports: [a1], select_dst_ports: [b1, t1], select_vlans: [10, 20-22], "
      "output_port: ids0}\n"
      "      - {name: rspan, select_all: true, output_vlan: 99}\n"));
  ASSERT_TRUE(t) << t.error().message;
  const auto& m = t->bridges[0].mirrors;
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].name, "ids");
  EXPECT_EQ(m[0].src_ports, std::vector<std::string>{"a1"});
  EXPECT_EQ(m[0].dst_ports, (std::vector<std::string>{"b1", "t1"}));
  EXPECT_EQ(dp::vlan_set_str(m[0].vlans), "10,20-22");
  EXPECT_EQ(m[0].output_port, "ids0");
  EXPECT_EQ(m[0].output(), "port ids0");
  EXPECT_TRUE(m[1].select_all);
  EXPECT_EQ(m[1].output_vlan, 99);
  EXPECT_EQ(m[1].output(), "vlan 99");
  const BridgeSpec* b = nullptr;
  ASSERT_TRUE(t->find_mirror("rspan", &b));
  EXPECT_EQ(b->name, "br0");
}

struct Bad {
  std::string mirrors;
  std::string message;  // a part of the error
};

class MirrorYamlErrors : public ::testing::TestWithParam<Bad> {};

TEST_P(MirrorYamlErrors, NameTheMirrorAndTheRule) {
  const std::string e = error_of(with_mirrors(GetParam().mirrors));
  EXPECT_NE(e.find(GetParam().message), std::string::npos) << e;
  EXPECT_EQ(e.rfind("t.yaml:", 0), 0u) << e;  // with the place in the file
}

INSTANTIATE_TEST_SUITE_P(
    Rules, MirrorYamlErrors,
    ::testing::Values(
        Bad{"      - {name: m, select_src_ports: [zz], output_port: ids0}\n",
            "bridge 'br0': mirror 'm': select_src_ports: port 'zz' is not a port of bridge 'br0'"},
        Bad{"      - {name: m, select_dst_ports: [h1], output_port: ids0}\n",
            "mirror 'm': select_dst_ports: port 'h1' is a port of bridge 'hub0', not of 'br0'"},
        Bad{"      - {name: m, select_src_ports: [a1], output_port: h2}\n",
            "mirror 'm': output_port: port 'h2' is a port of bridge 'hub0', not of 'br0'"},
        Bad{"      - {name: m, select_src_ports: [a1, ids0], output_port: ids0}\n",
            "mirror 'm': output_port 'ids0' is also selected (select_src_ports)"},
        Bad{"      - {name: m, select_src_ports: [a1], output_port: ids0, output_vlan: 99}\n",
            "mirror 'm': output_port and output_vlan exclude each other"},
        Bad{"      - {name: m, select_src_ports: [a1]}\n", "mirror 'm': needs an output"},
        Bad{"      - {name: m, output_port: ids0}\n", "mirror 'm': selects nothing"},
        Bad{"      - {name: m, select_all: true, select_src_ports: [a1], output_port: ids0}\n",
            "mirror 'm': select_all selects every port already"},
        Bad{"      - {name: m, select_src_ports: [a1, a1], output_port: ids0}\n",
            "mirror 'm': select_src_ports lists port 'a1' twice"},
        Bad{"      - {name: m, select_all: true, select_vlans: [4095], output_port: ids0}\n",
            "mirror 'm': select_vlans: VLAN '4095' is out of range 1-4094"},
        Bad{"      - {name: m, select_all: true, output_vlan: 0}\n", "mirror 'm': output_vlan 0 is out of range 1-4094"},
        Bad{"      - {name: m, select_all: true, output_vlan: 5000}\n",
            "mirror 'm': output_vlan 5000 is out of range 1-4094"},
        Bad{"      - {name: m, select_all: true, output_port: ids0, colour: red}\n",
            "mirror 'm': unknown key 'colour' in a mirror"},
        Bad{"      - {name: m, select_all: true, output_port: ids0}\n      - {name: m, select_all: true, output_port: "
            "ids0}\n",
            "duplicate mirror name 'm'"},
        Bad{"      - {name: m, select_src_ports: [a1], output_port: ids0}\n      - {name: n, select_src_ports: [ids0], "
            "output_port: t1}\n",
            "mirror 'n': port 'ids0' is the output of mirror 'm': it cannot be selected"},
        Bad{"      - {select_all: true, output_port: ids0}\n", "a mirror needs a 'name'"},
        Bad{"      - {name: \"bad name\", select_all: true, output_port: ids0}\n", "may only hold"}));

TEST(MirrorYaml, VlanKeysNeedASwitch) {
  const std::string hub_mirror = R"(    mirrors:
      - {name: hm, select_src_ports: [h1], output_vlan: 10}
)";
  std::string y = kPorts + hub_mirror;
  EXPECT_NE(error_of(y).find("bridge 'hub0': mirror 'hm': 'output_vlan' applies to mirrors of switch bridges, not "
                             "hub bridges"),
            std::string::npos)
      << error_of(y);
  y = kPorts + "    mirrors:\n      - {name: hm, select_src_ports: [h1], select_vlans: [10], output_port: h2}\n";
  EXPECT_NE(error_of(y).find("'select_vlans' applies to mirrors of switch bridges"), std::string::npos) << error_of(y);
  y = kPorts + "    mirrors:\n      - {name: hm, select_src_ports: [h1], output_port: h2}\n";
  EXPECT_EQ(error_of(y), "");
}

TEST(MirrorYaml, NamesAreUniqueAcrossBridges) {
  const std::string y = with_mirrors("      - {name: m, select_all: true, output_port: ids0}\n",
                                     "    mirrors:\n      - {name: m, select_src_ports: [h1], output_port: h2}\n");
  EXPECT_NE(error_of(y).find("bridge 'hub0': duplicate mirror name 'm' (also on bridge 'br0'"), std::string::npos)
      << error_of(y);
}

TEST(MirrorYaml, TheOutputPortTakesNoStaticFdbEntries) {
  std::string y = with_mirrors("      - {name: m, select_all: true, output_port: ids0}\n");
  y.insert(y.find("    mirrors:"), "    fdb: [{vlan: 10, mac: \"52:54:00:00:00:09\", port: ids0}]\n");
  EXPECT_NE(error_of(y).find("mirror 'm': output_port 'ids0' has static FDB entry 52:54:00:00:00:09"),
            std::string::npos)
      << error_of(y);
}

TEST(MirrorYaml, AtMostThirtyTwoPerBridge) {
  std::string ms;
  for (int i = 0; i < 33; ++i) ms += "      - {name: m" + std::to_string(i) + ", select_all: true, output_port: ids0}\n";
  EXPECT_NE(error_of(with_mirrors(ms)).find("33 mirrors: a bridge has at most 32"), std::string::npos);
}

TEST(MirrorYaml, ExportRoundTrip) {
  auto t = load(with_mirrors(
      "      - {name: ids, select_src_ports: [a1], select_dst_ports: b1, select_vlans: \"10,20-22\", "
      "output_port: ids0}\n"
      "      - {name: rspan, select_all: yes, output_vlan: 99}\n"));
  ASSERT_TRUE(t) << t.error().message;
  const std::string y = to_yaml(*t);
  EXPECT_NE(y.find("mirrors:"), std::string::npos) << y;
  EXPECT_NE(y.find("{name: ids, select_src_ports: [a1], select_dst_ports: [b1], select_vlans: [10, 20-22], "
                   "output_port: ids0}"),
            std::string::npos)
      << y;
  auto back = parse_topology(y, "", "/");
  ASSERT_TRUE(back) << back.error().message << "\n" << y;
  EXPECT_EQ(back->bridges[0].mirrors, t->bridges[0].mirrors);
  EXPECT_EQ(to_yaml(*back), y);
}

TEST(MirrorYaml, OneMirrorAsAFlowMapAndBack) {
  auto t = load(with_mirrors("      - {name: ids, select_dst_ports: [t1], select_vlans: [20], output_port: ids0}\n"));
  ASSERT_TRUE(t) << t.error().message;
  const MirrorSpec& m = t->bridges[0].mirrors[0];
  auto back = parse_mirror(t->bridges[0], mirror_to_yaml(m));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, m);
}

class MirrorStore : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("kvnet-store-mirror-" + std::to_string(getpid()) + "-" +
                                              ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string db() const { return (dir_ / "kvnet.db").string(); }
  fs::path dir_;
};

TEST_F(MirrorStore, SaveAndLoadKeepTheMirrorsInOrder) {
  auto t = load(with_mirrors("      - {name: zz, select_all: true, output_vlan: 99}\n"
                             "      - {name: aa, select_src_ports: [a1], select_vlans: [10], output_port: ids0}\n",
                             "    mirrors:\n      - {name: hm, select_dst_ports: [h1], output_port: h2}\n"));
  ASSERT_TRUE(t) << t.error().message;
  {
    auto st = Store::open(db());
    ASSERT_TRUE(st) << st.error().message;
    ASSERT_TRUE((*st)->save(*t));
  }
  auto st = Store::open(db());
  ASSERT_TRUE(st);
  auto back = (*st)->load();
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->bridges[0].mirrors, t->bridges[0].mirrors);
  EXPECT_EQ(back->bridges[1].mirrors, t->bridges[1].mirrors);
  EXPECT_EQ(back->bridges[0].mirrors[0].name, "zz");
  // Removed with the rest of a configuration.
  t->bridges[0].mirrors.clear();
  ASSERT_TRUE((*st)->save(*t));
  back = (*st)->load();
  ASSERT_TRUE(back);
  EXPECT_TRUE(back->bridges[0].mirrors.empty());
  EXPECT_EQ(back->bridges[1].mirrors.size(), 1u);
}

TEST_F(MirrorStore, ADatabaseFromBeforeMirrorsOpensAndLoads) {
  {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(db().c_str(), &raw), SQLITE_OK);
    const char* old = R"sql(
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE bridges(name TEXT PRIMARY KEY, position INTEGER NOT NULL, type TEXT NOT NULL,
  mac_aging INTEGER NOT NULL, mac_table_size INTEGER NOT NULL,
  conntrack_max INTEGER NOT NULL DEFAULT 16384, conntrack_timeouts TEXT NOT NULL DEFAULT '');
CREATE TABLE ports(name TEXT PRIMARY KEY, bridge TEXT NOT NULL REFERENCES bridges(name),
  position INTEGER NOT NULL, type TEXT NOT NULL, spec TEXT NOT NULL);
INSERT INTO meta VALUES('schema', '1');
INSERT INTO bridges VALUES('br0', 0, 'switch', 300, 8192, 16384, '');
INSERT INTO ports VALUES('a1', 'br0', 0, 'system', '{name: a1, type: system}');
)sql";
    ASSERT_EQ(sqlite3_exec(raw, old, nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(raw);
  }
  auto st = Store::open(db());
  ASSERT_TRUE(st) << st.error().message;
  auto t = (*st)->load();
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_TRUE(t->bridges[0].mirrors.empty());
  t->bridges[0].ports.push_back(t->bridges[0].ports[0]);
  t->bridges[0].ports[1].name = "m1";
  t->bridges[0].mirrors.push_back(MirrorSpec{.name = "m", .src_ports = {"a1"}, .output_port = "m1"});
  ASSERT_TRUE(validate(*t)) << validate(*t).error().message;
  ASSERT_TRUE((*st)->save(*t));
  auto back = (*st)->load();
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->bridges[0].mirrors.size(), 1u);
}

TEST_F(MirrorStore, AHandEditedBadRowFailsTheLoad) {
  auto t = load(with_mirrors("      - {name: m, select_src_ports: [a1], output_port: ids0}\n"));
  ASSERT_TRUE(t);
  {
    auto st = Store::open(db());
    ASSERT_TRUE((*st)->save(*t));
  }
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(db().c_str(), &raw), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw, "UPDATE mirrors SET spec = '{name: m, select_src_ports: [a1], output_port: nope}'",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(raw);
  auto st = Store::open(db());
  auto back = (*st)->load();
  ASSERT_FALSE(back);
  EXPECT_NE(back.error().message.find("mirror 'm': output_port: port 'nope' is not a port of bridge 'br0'"),
            std::string::npos)
      << back.error().message;
}

TEST(MirrorPlan, Lines) {
  auto none = load(kPorts);
  auto one = load(with_mirrors("      - {name: m, select_src_ports: [a1], output_port: ids0}\n"));
  auto changed = load(with_mirrors("      - {name: m, select_src_ports: [a1, b1], output_port: ids0}\n"));
  ASSERT_TRUE(none && one && changed);
  EXPECT_EQ(plan(*none, *one).text(), std::vector<std::string>{"+ mirror br0/m"});
  EXPECT_EQ(plan(*one, *none).text(), std::vector<std::string>{"- mirror br0/m"});
  EXPECT_EQ(plan(*one, *changed).text(), std::vector<std::string>{"~ mirror br0/m select_src_ports a1->a1,b1"});
  EXPECT_TRUE(plan(*one, *one).empty());
  auto has = [](const std::vector<std::string>& v, const std::string& l) {
    return std::find(v.begin(), v.end(), l) != v.end();
  };
  EXPECT_TRUE(has(plan(Topology{}, *one).text(), "+ mirror br0/m"));
  const auto to_empty = plan(*one, Topology{}).text();
  EXPECT_EQ(to_empty.front(), "- mirror br0/m");  // before its bridge's ports
}

TEST(MirrorForget, APortLeavesTheSelectionsButNotAsOutputOrLastOne) {
  auto t = load(with_mirrors("      - {name: m, select_src_ports: [a1, b1], output_port: ids0}\n"
                             "      - {name: n, select_dst_ports: [c1], output_vlan: 99}\n"));
  ASSERT_TRUE(t);
  BridgeSpec b = t->bridges[0];
  EXPECT_TRUE(forget_mirrored_port(b, "a1"));
  EXPECT_EQ(b.mirrors[0].src_ports, std::vector<std::string>{"b1"});
  auto s = forget_mirrored_port(b, "ids0");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message, "port 'ids0' is the output of mirror 'm': 'mirror del m' first");
  s = forget_mirrored_port(b, "c1");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message, "port 'c1' is the last port mirror 'n' selects: 'mirror del n' first");
}

}  // namespace
}  // namespace kvnet::ctl
