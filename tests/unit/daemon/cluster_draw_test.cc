// draw --cluster (daemon/cluster_draw.h): hosts with their ports in their
// networks' colours, tunnels where two hosts share a network, a host that
// is down dashed; Graphviz renders it.
#include <gtest/gtest.h>

#include "ctl/render.h"
#include "daemon/cluster_draw.h"

namespace kvnet::daemon {
namespace {

cluster::ClusterState state() {
  auto host = [](const std::string& n, const std::string& ip) {
    return cluster::HostRecord{.name = n, .underlay_ip = ip}.to_json().dump();
  };
  auto bind = [](const std::string& net, const std::string& h, const std::string& port, const std::string& mac) {
    return cluster::BindingRecord{net, h, port, mac, {"10.0.0.9/24"}, "container " + port, 1}.to_json().dump();
  };
  cluster::RangeResult all;
  all.revision = 9;
  all.kvs = {{"/kvnet/hosts/h1", host("h1", "10.96.0.1"), 1, 1, 1, 0},
             {"/kvnet/hosts/h2", host("h2", "10.96.0.2"), 2, 2, 1, 0},
             {"/kvnet/members/h3", host("h3", "10.96.0.3"), 3, 3, 1, 0},
             {"/kvnet/networks/blue", cluster::NetworkRecord{"blue", 100, "10.0.0.0/24"}.to_json().dump(), 4, 4, 1, 0},
             {"/kvnet/networks/red", cluster::NetworkRecord{"red", 200, ""}.to_json().dump(), 5, 5, 1, 0},
             {"/kvnet/bindings/blue/h1/a", bind("blue", "h1", "a", "02:00:00:00:00:0a"), 6, 6, 1, 0},
             {"/kvnet/bindings/blue/h2/b", bind("blue", "h2", "b", "02:00:00:00:00:0b"), 7, 7, 1, 0},
             {"/kvnet/bindings/red/h2/c", bind("red", "h2", "c", "02:00:00:00:00:0c"), 8, 8, 1, 0},
             {"/kvnet/bindings/blue/h3/d", bind("blue", "h3", "d", "02:00:00:00:00:0d"), 9, 9, 1, 0}};
  cluster::ClusterState st;
  EXPECT_TRUE(st.reset(all).rejected.empty());
  return st;
}

TEST(ClusterDraw, HostsPortsTunnelsAndTheLegend) {
  const std::string dot = cluster_dot(state(), "h1");
  for (const char* id : {"host:h1", "host:h2", "host:h3", "brint:h1", "vtep:h2", "port:h1/a", "port:h2/c", "legend"})
    EXPECT_NE(dot.find(std::string("id=\"") + id + "\""), std::string::npos) << id << "\n" << dot;
  EXPECT_NE(dot.find("h1 (this host)"), std::string::npos);
  EXPECT_NE(dot.find("id=\"tunnel:h1--h2\""), std::string::npos) << "h1 and h2 share blue";
  EXPECT_NE(dot.find("label=\"blue (VNI 100)\""), std::string::npos) << dot;
  EXPECT_EQ(dot.find("tunnel:h1--h3"), std::string::npos) << "h3 is down: no tunnel to it";
  EXPECT_NE(dot.find("10.96.0.3, down"), std::string::npos);
  EXPECT_NE(dot.find("kvnet cluster: 2 host(s) up, 1 down; 2 network(s), 4 port(s)"), std::string::npos);
  auto svg = ctl::render(dot, ctl::ImageFormat::kSvg);
  ASSERT_TRUE(svg) << svg.error().message;
  EXPECT_NE(svg->find("<svg"), std::string::npos);
  EXPECT_NE(svg->find("tunnel:h1&#45;&#45;h2"), std::string::npos);
}

}  // namespace
}  // namespace kvnet::daemon
