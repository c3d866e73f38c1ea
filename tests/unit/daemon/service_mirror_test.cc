// kvnetd's mirror verbs through Service::handle: the datapath gets each
// bridge's mirrors with every change (also when a port they name is
// re-created), counters come back in mirror-list, a restart restores them,
// ports referenced by mirrors are handled by del-port, and every refusal
// changes nothing.
#include <gtest/gtest.h>

#include "daemon/service.h"
#include "daemon/service_fixture.h"
#include "net/bytes.h"

namespace kvnet::daemon {
namespace {

class ServiceMirrorTest : public ServiceFixture {
 protected:
  void SetUp() override {
    ServiceFixture::SetUp();
    ok({{"cmd", "add-br"}, {"bridge", "br0"}});
    ok({{"cmd", "add-br"}, {"bridge", "hub0"}, {"type", "hub"}});
    for (const char* p : {"a1", "b1", "ids0"})
      ok({{"cmd", "add-port"},
          {"bridge", "br0"},
          {"port", p},
          {"options", {{"type", std::string(p) == "b1" ? "tap" : "system"}, {"vlan_mode", "access"}, {"pvid", "10"}}}});
    ok({{"cmd", "add-port"}, {"bridge", "hub0"}, {"port", "h1"}});
  }
  json add(json extra = json::object()) {
    json req{{"cmd", "mirror-add"}, {"name", "m"}, {"bridge", "br0"}, {"select_src_ports", {"a1"}},
             {"output_port", "ids0"}};
    for (auto it = extra.begin(); it != extra.end(); ++it) req[it.key()] = *it;
    return req;
  }
  std::string refused(const json& req) {
    const std::string before = exported();
    const std::string e = err(req);
    EXPECT_EQ(exported(), before) << req.dump();
    return e;
  }
  // One broadcast frame into `port`, through the datapath.
  void send(const std::string& port) {
    net::Frame* f = dp().pool().get();
    uint8_t b[60] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0, 0, 0, 1, 0x08, 0x00};
    f->assign(b, sizeof b);
    net::FrameBatch batch;
    batch.add(f);
    dp().receive(*dp().find_port(port), batch);
  }
  json listed(const std::string& name) {
    for (const auto& m : ok({{"cmd", "mirror-list"}}))
      if (m["name"] == name) return m;
    return json();
  }
};

TEST_F(ServiceMirrorTest, AddListCountDel) {
  const json r = ok(add());
  EXPECT_EQ(r["changes"], json::array({"+ mirror br0/m"}));
  EXPECT_EQ(r["mirror"]["output"], "port ids0");
  const dp::Bridge& br = *dp().find_bridge("br0");
  ASSERT_EQ(br.mirrors().mirrors().size(), 1u);
  EXPECT_TRUE(dp().find_port("ids0")->mirror_out);
  EXPECT_EQ(dp().find_port("a1")->mirror_rx, 1u);
  send("a1");
  send("b1");  // not selected
  json m = listed("m");
  EXPECT_EQ(m["tx_packets"], 1);
  EXPECT_EQ(m["tx_bytes"], 60);
  EXPECT_EQ(m["active"], true);
  EXPECT_EQ(m["select_src_ports"], json::array({"a1"}));
  // show lists it with its bridge.
  const json shown = ok({{"cmd", "show"}})["bridges"][0]["mirrors"];
  ASSERT_EQ(shown.size(), 1u);
  EXPECT_EQ(shown[0]["name"], "m");
  EXPECT_NE(exported().find("mirrors:"), std::string::npos);
  EXPECT_EQ(ok({{"cmd", "mirror-del"}, {"name", "m"}})["changes"], json::array({"- mirror br0/m"}));
  EXPECT_TRUE(br.mirrors().empty());
  EXPECT_FALSE(dp().find_port("ids0")->mirror_out);
  EXPECT_EQ(ok({{"cmd", "mirror-del"}, {"name", "m"}, {"if_exists", true}})["changed"], false);
}

TEST_F(ServiceMirrorTest, VlansAndOutputVlanFromTheApi) {
  ok(add({{"name", "v"}, {"select_vlans", {10, "20-22"}}}));
  EXPECT_EQ(listed("v")["select_vlans"], "10,20-22");
  ok({{"cmd", "mirror-add"}, {"name", "r"}, {"bridge", "br0"}, {"select_all", true}, {"output_vlan", 99}});
  EXPECT_EQ(listed("r")["output"], "vlan 99");
  EXPECT_EQ(listed("r")["output_vlan"], 99);
}

TEST_F(ServiceMirrorTest, ARecreatedPortIsSelectedAgain) {
  ok(add({{"select_dst_ports", {"b1"}}}));
  // persistent=true re-creates a tap port (another backend): it must be selected again.
  const int opens = opens_;
  ok({{"cmd", "set-port"}, {"port", "b1"}, {"options", {{"persistent", "true"}}}});
  EXPECT_EQ(opens_, opens + 1);  // re-created: opened again
  EXPECT_EQ(dp().find_port("b1")->mirror_tx, 1u);
  EXPECT_EQ(dp().find_port("a1")->mirror_rx, 1u);
}

TEST_F(ServiceMirrorTest, RestartRestoresMirrors) {
  ok(add({{"select_vlans", {10}}}));
  restart();
  const dp::Bridge& br = *dp().find_bridge("br0");
  ASSERT_EQ(br.mirrors().mirrors().size(), 1u);
  EXPECT_TRUE(dp().find_port("ids0")->mirror_out);
  send("a1");
  EXPECT_EQ(listed("m")["tx_packets"], 1);
}

TEST_F(ServiceMirrorTest, DelPortLeavesSelectionsButNotTheOutput) {
  ok(add({{"select_src_ports", {"a1", "b1"}}}));
  EXPECT_NE(refused({{"cmd", "del-port"}, {"port", "ids0"}}).find("port 'ids0' is the output of mirror 'm'"),
            std::string::npos);
  ok({{"cmd", "del-port"}, {"port", "b1"}});
  EXPECT_EQ(listed("m")["select_src_ports"], json::array({"a1"}));
  EXPECT_NE(refused({{"cmd", "del-port"}, {"port", "a1"}}).find("the last port mirror 'm' selects"), std::string::npos);
  // A bridge goes with its mirrors.
  ok({{"cmd", "del-br"}, {"bridge", "br0"}});
  EXPECT_TRUE(ok({{"cmd", "mirror-list"}}).empty());
}

TEST_F(ServiceMirrorTest, RefusalsChangeNothing) {
  ok(add());
  EXPECT_EQ(refused(add()), "mirror 'm' already exists on bridge 'br0'");
  EXPECT_NE(refused(add({{"name", "x"}, {"select_src_ports", {"zz"}}}))
                .find("mirror 'x': select_src_ports: port 'zz' is not a port of bridge 'br0'"),
            std::string::npos);
  EXPECT_NE(refused(add({{"name", "x"}, {"select_src_ports", {"h1"}}})).find("is a port of bridge 'hub0'"),
            std::string::npos);
  EXPECT_NE(refused(add({{"name", "x"}, {"output_vlan", 5}})).find("output_port and output_vlan exclude each other"),
            std::string::npos);
  EXPECT_NE(refused(add({{"name", "x"}, {"output_port", nullptr}})).find("needs an output"), std::string::npos);
  EXPECT_NE(refused(add({{"name", "x"}, {"select_vlans", {4095}}})).find("VLAN '4095' is out of range 1-4094"),
            std::string::npos);
  EXPECT_NE(refused(add({{"name", "x"}, {"select_vlans", "10"}})).find("must be a list"), std::string::npos);
  EXPECT_NE(refused(add({{"name", "x"}, {"output_port", nullptr}, {"output_vlan", 0}})).find("out of range 1-4094"),
            std::string::npos);
  EXPECT_NE(refused({{"cmd", "mirror-add"}, {"name", "x"}, {"bridge", "hub0"}, {"select_all", true}, {"output_vlan", 5}})
                .find("output_vlan applies to switch bridges; bridge 'hub0' is a hub"),
            std::string::npos);
  EXPECT_NE(refused(add({{"name", "x"}, {"bridge", "nope"}})).find("bridge 'nope' does not exist"), std::string::npos);
  EXPECT_NE(refused({{"cmd", "mirror-del"}, {"name", "m"}, {"bridge", "hub0"}}).find("does not exist on bridge 'hub0'"),
            std::string::npos);
  EXPECT_NE(refused({{"cmd", "mirror-list"}, {"bridge", "nope"}}).find("bridge 'nope' does not exist"),
            std::string::npos);
}

}  // namespace
}  // namespace kvnet::daemon
