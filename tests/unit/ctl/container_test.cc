// Containers' home (ctl/container.h): one copy of a container's own checks
// for files, the store and `ct add`; the section read, written, planned and
// stored.
#include "ctl/container.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "ctl/plan.h"
#include "ctl/store.h"
#include "ctl/topology.h"

namespace kvnet::ctl {
namespace {

namespace fs = std::filesystem;

TEST(ContainerCheck, NamesTheContainerTheRuleAndTheKey) {
  struct Case {
    ContainerSpec c;
    const char* key;
    const char* msg;
  };
  const Case cases[] = {
      {{"-web", "br0", "p", "", "", "", {}}, "name", "container '-web': name '-web' must start with a letter or a digit"},
      {{"web", "br0", "p", "10.0.0.2", "", "", {}}, "ip",
       "container 'web': ip '10.0.0.2' must be ADDRESS/PREFIX (e.g. 10.0.0.1/24)"},
      {{"web", "br0", "p", "10.0.0.2/33", "", "", {}}, "ip", "container 'web': ip '10.0.0.2/33': prefix length must be 0-32"},
      {{"web", "br0", "p", "", "10.0.0", "", {}}, "gw", "container 'web': '10.0.0' is not an IPv4 or IPv6 address"},
      {{"web", "br0", "p", "", "", "52:54:00", {}}, "mac",
       "container 'web': mac '52:54:00' is not a MAC address (aa:bb:cc:dd:ee:ff)"},
      {{"web", "br0", "p", "", "", "01:00:5e:00:00:01", {}}, "mac",
       "container 'web': mac '01:00:5e:00:00:01' must be a unicast MAC"},
  };
  for (const auto& c : cases) {
    std::string key;
    auto s = check_container(c.c, &key);
    ASSERT_FALSE(s.ok()) << c.msg;
    EXPECT_EQ(s.error().message, c.msg);
    EXPECT_EQ(key, c.key) << c.msg;
  }
  EXPECT_TRUE(check_container({"web", "br0", "p", "fd00::2/64", "fd00::1", "52:54:00:00:00:02", {}}).ok());
  EXPECT_TRUE(check_container({"web", "br0", "p", "", "", "", {}}).ok());
}

const char* kBridge = "bridges:\n  - name: br0\n    ports: [{name: ct-web, type: system}, {name: ct-db, type: system}]\n";

TEST(ContainerYaml, AFileErrorPointsAtTheKey) {
  auto t = parse_document(std::string(kBridge) + "containers:\n  - {name: web, bridge: br0, port: ct-web, gw: 10.0.0}\n",
                          "t.yaml", "/");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().message, "t.yaml:5:48: container 'web': '10.0.0' is not an IPv4 or IPv6 address");
  auto m = parse_document(std::string(kBridge) + "containers:\n  - {name: web, bridge: br0, port: ct-web, mac: x}\n",
                          "t.yaml", "/");
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().message, "t.yaml:5:49: container 'web': mac 'x' is not a MAC address (aa:bb:cc:dd:ee:ff)");
}

TEST(ContainerYaml, RulesBetweenObjectsAreChecked) {
  auto bad = [](const std::string& cts) {
    auto t = parse_topology(std::string(kBridge) + "containers:\n" + cts, "", "/");
    return t.ok() ? std::string() : t.error().message;
  };
  EXPECT_EQ(bad("  - {name: web, bridge: br1, port: ct-web}\n"), "container 'web': bridge 'br1' does not exist");
  EXPECT_EQ(bad("  - {name: web, bridge: br0, port: x}\n"), "container 'web': port 'x' is not a port of bridge 'br0'");
  EXPECT_EQ(bad("  - {name: web, bridge: br0, port: ct-web}\n  - {name: web, bridge: br0, port: ct-db}\n"),
            "duplicate container name 'web'");
  EXPECT_EQ(bad("  - {name: web, bridge: br0, port: ct-web}\n  - {name: db, bridge: br0, port: ct-web}\n"),
            "container 'db': port 'ct-web' belongs to container 'web' too");
  // An object made by hand (a verb) gets its own checks too.
  auto t = parse_topology(kBridge, "", "/");
  ASSERT_TRUE(t.ok());
  t->containers.push_back({"web", "br0", "ct-web", "10.0.0.2", "", "", {}});
  auto s = validate(*t);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message, "container 'web': ip '10.0.0.2' must be ADDRESS/PREFIX (e.g. 10.0.0.1/24)");
}

TEST(ContainerYaml, ExportReadsBackTheSame) {
  const std::string doc = std::string(kBridge) +
                          "containers:\n"
                          "  - {name: web, bridge: br0, port: ct-web, ip: 10.0.0.2/24, gw: \"10.0.0.1\", mac: "
                          "\"52:54:00:00:00:02\"}\n"
                          "  - {name: db, bridge: br0, port: ct-db}\n";
  auto t = parse_topology(doc, "", "/");
  ASSERT_TRUE(t.ok()) << t.error().message;
  auto back = parse_topology(to_yaml(*t), "", "/");
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->containers, t->containers);
  EXPECT_EQ(back->containers[0].mac, "52:54:00:00:00:02");
  EXPECT_NE(to_yaml(*t).find("- {name: db, bridge: br0, port: ct-db}"), std::string::npos) << to_yaml(*t);
}

TEST(ContainerPlan, AChangedContainerIsReCreatedWithItsPort) {
  auto cur = parse_topology(std::string(kBridge) + "containers: [{name: web, bridge: br0, port: ct-web, ip: 10.0.0.2/24}]\n",
                            "", "/");
  ASSERT_TRUE(cur.ok());
  Topology next = *cur;
  next.containers[0].ip = "10.0.0.3/24";
  const Plan p = plan(*cur, next);
  EXPECT_EQ(p.text(), std::vector<std::string>{"~ container web ip 10.0.0.2/24->10.0.0.3/24"});
  ASSERT_EQ(p.containers_removed.size(), 1u);
  ASSERT_EQ(p.containers_added.size(), 1u);
  EXPECT_EQ(p.containers_added[0].ip, "10.0.0.3/24");
  EXPECT_EQ(p.ports_removed, (std::vector<PortRef>{{"br0", "ct-web"}}));
  EXPECT_EQ(p.ports_added, (std::vector<PortRef>{{"br0", "ct-web"}}));
}

TEST(ContainerStore, SaveAndLoadGiveTheSameContainersInOrder) {
  const fs::path dir = fs::path(::testing::TempDir()) / ("kvnet-container-" + std::to_string(getpid()));
  fs::remove_all(dir);
  auto t = parse_topology(std::string(kBridge) +
                              "containers:\n"
                              "  - {name: zz, bridge: br0, port: ct-web, ip: 10.0.0.2/24, gw: 10.0.0.1, mac: "
                              "\"52:54:00:00:00:02\"}\n"
                              "  - {name: aa, bridge: br0, port: ct-db}\n",
                          "", "/");
  ASSERT_TRUE(t.ok()) << t.error().message;
  {
    auto st = Store::open((dir / "kvnet.db").string());
    ASSERT_TRUE(st.ok()) << st.error().message;
    { auto sv = (*st)->save(*t); ASSERT_TRUE(sv.ok()) << sv.error().message; }
  }
  auto st = Store::open((dir / "kvnet.db").string());
  ASSERT_TRUE(st.ok()) << st.error().message;
  auto back = (*st)->load();
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->containers, t->containers);
  EXPECT_EQ(back->containers[0].name, "zz");
  fs::remove_all(dir);
}

}  // namespace
}  // namespace kvnet::ctl
