// The `networks:` section (ctl/network.h): read and checked, never planned,
// stored or exported (networks live in the cluster's store); containers on
// a network default to br-int and ct-NAME.
#include <gtest/gtest.h>

#include "ctl/network.h"
#include "ctl/plan.h"
#include "ctl/topology.h"

namespace kvnet::ctl {
namespace {

std::string error_of(const std::string& yaml) {
  auto r = parse_topology(yaml, "t.yaml", "/");
  return r ? "" : r.error().message;
}

TEST(Networks, ReadCanonicalAndWithDefaults) {
  auto t = parse_topology(
      "bridges: []\n"
      "networks:\n"
      "  - {name: blue, vni: 100, subnet: 10.0.0.0/24}\n"
      "  - {name: red, vni: 200, mtu: 1400}\n",
      "t.yaml", "/");
  ASSERT_TRUE(t) << t.error().message;
  const auto& n = declared_networks(*t);
  ASSERT_EQ(n.size(), 2u);
  EXPECT_EQ(n[0], (NetworkSpec{"blue", 100, "10.0.0.0/24", kDefaultNetworkMtu, {}}));
  EXPECT_EQ(n[1], (NetworkSpec{"red", 200, "", 1400, {}}));
  // Cluster-wide: no plan line, nothing exported.
  EXPECT_TRUE(plan(Topology{}, *t).empty());
  EXPECT_EQ(to_yaml(*t).find("networks"), std::string::npos);
}

TEST(Networks, MistakesNameTheNetworkAndTheLine) {
  EXPECT_EQ(error_of("bridges: []\nnetworks:\n  - {name: blue}\n"), "t.yaml:3:5: network 'blue': a network needs 'vni'");
  EXPECT_NE(error_of("bridges: []\nnetworks:\n  - {name: blue, vni: 0}\n").find("vni"), std::string::npos);
  EXPECT_NE(error_of("bridges: []\nnetworks:\n  - {name: blue, vni: 16777216}\n").find("vni"), std::string::npos);
  EXPECT_EQ(error_of("bridges: []\nnetworks:\n  - {name: blue, vni: 1, subnet: 10.0.0.5/24}\n"),
            "t.yaml:3:34: network 'blue': subnet 10.0.0.5/24 is not a network address (did you mean 10.0.0.0/24?)");
  EXPECT_NE(error_of("bridges: []\nnetworks:\n  - {name: blue, vni: 1, color: 2}\n").find("unknown key 'color'"),
            std::string::npos);
  EXPECT_EQ(error_of("bridges: []\nnetworks:\n  - {name: a, vni: 1}\n  - {name: a, vni: 2}\n"),
            "t.yaml:4:5: duplicate network name 'a'");
  EXPECT_EQ(error_of("bridges: []\nnetworks:\n  - {name: a, vni: 1}\n  - {name: b, vni: 1}\n"),
            "t.yaml:4:5: network 'b': VNI 1 is another network's too");
  EXPECT_NE(error_of("bridges: []\nnetworks: {name: a}\n").find("'networks' must be a list"), std::string::npos);
}

TEST(Networks, AContainerOnANetworkDefaultsToBrIntAndItsPort) {
  auto t = parse_topology("bridges: []\ncontainers:\n  - {name: web, network: blue}\n", "t.yaml", "/");
  ASSERT_TRUE(t) << t.error().message;
  ASSERT_EQ(t->containers.size(), 1u);
  EXPECT_EQ(t->containers[0].bridge, "br-int");
  EXPECT_EQ(t->containers[0].port, "ct-web");
  EXPECT_EQ(t->containers[0].network, "blue");
  // Without a network, bridge and port are still required.
  EXPECT_NE(error_of("bridges: []\ncontainers:\n  - {name: web}\n").find("needs 'bridge' and 'port'"), std::string::npos);
  // A bridge that is not br-int must exist, network or not.
  EXPECT_NE(error_of("bridges: []\ncontainers:\n  - {name: web, network: blue, bridge: br0, port: p}\n")
                .find("bridge 'br0' does not exist"),
            std::string::npos);
}

}  // namespace
}  // namespace kvnet::ctl
