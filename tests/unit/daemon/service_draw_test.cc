// The API's `draw`: the live configuration as DOT, SVG or PNG (base64), a
// patch whose peer was deleted marked dangling, a vanished port marked
// down, and a trace drawn in the same request.
#include <gtest/gtest.h>

#include "ctl/render.h"
#include "service_fixture.h"

namespace kvnet::daemon {
namespace {

class ServiceDrawTest : public ServiceFixture {
 protected:
  void two_bridges() {
    ok({{"cmd", "add-br"}, {"bridge", "br0"}});
    ok({{"cmd", "add-br"}, {"bridge", "br1"}});
    ok({{"cmd", "add-port"}, {"bridge", "br0"}, {"port", "p1"}, {"options", {{"vlan_mode", "access"}, {"pvid", "10"}}}});
    ok({{"cmd", "add-port"}, {"bridge", "br0"}, {"port", "pa"}, {"options", {{"type", "patch"}, {"peer", "br1/pb"}}}});
    ok({{"cmd", "add-port"}, {"bridge", "br1"}, {"port", "pb"}, {"options", {{"type", "patch"}, {"peer", "br0/pa"}}}});
    ok({{"cmd", "add-port"}, {"bridge", "br1"}, {"port", "p2"}});
  }
};

TEST_F(ServiceDrawTest, DrawsTheLiveTopologyInEachFormat) {
  two_bridges();
  json d = ok({{"cmd", "draw"}, {"format", "dot"}});
  EXPECT_EQ(d["format"], "dot");
  const std::string dot = d["data"];
  for (const char* id : {"\"br0/p1\"", "\"br1/p2\"", "\"cluster:br0\"", "\"patch:br0/pa--br1/pb\""})
    EXPECT_NE(dot.find(std::string("id=") + id), std::string::npos) << id;
  EXPECT_EQ(dot.find("dangling"), std::string::npos);

  json svg = ok({{"cmd", "draw"}});  // svg by default
  EXPECT_EQ(svg["format"], "svg");
  EXPECT_NE(svg["data"].get<std::string>().find("<svg"), std::string::npos);
  EXPECT_NE(svg["data"].get<std::string>().find("id=\"br0/p1\""), std::string::npos);

  json png = ok({{"cmd", "draw"}, {"format", "png"}});
  auto bytes = ctl::base64_decode(png["data"].get<std::string>());
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(bytes->substr(0, 4), "\x89PNG");

  EXPECT_EQ(err({{"cmd", "draw"}, {"format", "gif"}}), "format 'gif' is not one of svg, png, dot");
  EXPECT_EQ(err({{"cmd", "draw"}, {"format", 3}}), "argument 'format' must be a string");
  EXPECT_EQ(err({{"cmd", "draw"}, {"trace", "x"}}), "argument 'trace' must be an object");
}

TEST_F(ServiceDrawTest, DeletedPatchPeerIsDrawnDangling) {
  two_bridges();
  ok({{"cmd", "del-port"}, {"port", "pb"}});
  const std::string dot = ok({{"cmd", "draw"}, {"format", "dot"}})["data"];
  const auto at = dot.find("id=\"br0/pa\"");
  ASSERT_NE(at, std::string::npos);
  const std::string line = dot.substr(at, dot.find('\n', at) - at);
  EXPECT_NE(line.find("dangling"), std::string::npos) << line;
  EXPECT_NE(line.find("peer br1/pb is gone"), std::string::npos) << line;
  EXPECT_NE(dot.find("id=\"dangling:br0/pa\""), std::string::npos);
}

TEST_F(ServiceDrawTest, DrawsATraceAndAnswersWithIt) {
  two_bridges();
  json d = ok({{"cmd", "draw"},
               {"format", "dot"},
               {"trace", {{"bridge", "br0"}, {"in_port", "p1"}, {"flow", "dl_dst=ff:ff:ff:ff:ff:ff,arp"}}}});
  const std::string dot = d["data"];
  EXPECT_NE(dot.find("trace-in"), std::string::npos);
  EXPECT_NE(d["trace"]["text"].get<std::string>().find("Devices crossed"), std::string::npos);
  EXPECT_EQ(d["trace"]["in_port"], "br0/p1");
  EXPECT_EQ(err({{"cmd", "draw"}, {"trace", {{"bridge", "br0"}, {"in_port", "nope"}}}}),
            "trace: in_port 'nope' is not a port of bridge 'br0'");
}

}  // namespace
}  // namespace kvnet::daemon
