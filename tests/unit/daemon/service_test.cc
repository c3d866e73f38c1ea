// The daemon's control logic without kernel resources: pcap/patch ports and
// a fake opener, a real SQLite store in a temp dir, the datapath inline.
#include "daemon/service.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <set>

namespace kvnet::daemon {
using namespace kvnet::ctl;
namespace {

namespace fs = std::filesystem;

class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("kvnet-svc-" + std::to_string(getpid()) + "-" +
                                              ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    svc_ = make();
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<Service> make() {
    dp_ = std::make_unique<dp::Datapath>(512);
    rt_ = std::make_unique<io::Runtime>(*dp_);  // not started: calls run inline
    auto store = Store::open((dir_ / "kvnet.db").string());
    EXPECT_TRUE(store.ok());
    auto opener = [this](const PortSpec& p) -> Result<std::unique_ptr<dp::PortBackend>> {
      ++opened_;
      if (p.name.rfind("missing", 0) == 0 || gone_.count(p.name)) return Error{"interface '" + p.name + "' does not exist"};
      return std::unique_ptr<dp::PortBackend>(std::make_unique<dp::DiscardBackend>());
    };
    auto s = std::make_unique<Service>(std::move(*store), *rt_, opener, ServiceOptions{.manage_containers = false});
    EXPECT_TRUE(s->restore().ok());
    return s;
  }
  json ok(const json& req) {
    json r = svc_->handle(req);
    EXPECT_TRUE(r["ok"].get<bool>()) << req.dump() << " -> " << r.dump();
    return r["result"];
  }
  std::string err(const json& req) {
    json r = svc_->handle(req);
    EXPECT_FALSE(r["ok"].get<bool>()) << req.dump();
    return r.value("error", "");
  }
  std::string exported() { return ok({{"cmd", "export"}})["yaml"]; }

  fs::path dir_;
  std::unique_ptr<dp::Datapath> dp_;
  std::unique_ptr<io::Runtime> rt_;
  std::unique_ptr<Service> svc_;
  int opened_ = 0;
  std::set<std::string> gone_;  // interfaces the fake opener pretends are missing
};

TEST_F(ServiceTest, BuildsBridgesAndPortsIntoTheDatapath) {
  ok({{"cmd", "add-br"}, {"bridge", "br0"}});
  ok({{"cmd", "add-port"}, {"bridge", "br0"}, {"port", "p1"}, {"options", {{"type", "internal"}, {"pvid", "10"}}}});
  ok({{"cmd", "add-port"}, {"bridge", "br0"}, {"port", "p2"}, {"options", {{"vlan_mode", "trunk"}, {"allowed", "10,20-30"}}}});
  ASSERT_NE(dp_->find_port("br0/p1"), nullptr);
  EXPECT_EQ(dp_->find_port("p1")->vlan.config().pvid, 10);
  EXPECT_TRUE(dp_->find_port("p2")->vlan.member(25));
  EXPECT_EQ(dp_->find_port("p2")->kind, "system");  // ovs-vsctl's default
  json list = ok({{"cmd", "list-br"}});
  EXPECT_EQ(list, json::array({"br0"}));
}

TEST_F(ServiceTest, ErrorsChangeNothing) {
  ok({{"cmd", "add-br"}, {"bridge", "br0"}});
  ok({{"cmd", "add-port"}, {"bridge", "br0"}, {"port", "p1"}});
  const std::string before = exported();
  const int opened = opened_;
  EXPECT_EQ(err({{"cmd", "add-port"}, {"bridge", "br0"}, {"port", "p2"}, {"options", {{"pvid", "4095"}}}}),
            "bridge 'br0': port 'p2': pvid 4095 is out of range 1-4094");
  EXPECT_EQ(err({{"cmd", "add-port"}, {"bridge", "br0"}, {"port", "missing0"}}), "interface 'missing0' does not exist");
  EXPECT_EQ(err({{"cmd", "set-port"}, {"port", "p1"}, {"options", {{"vlan_mode", "hybrid"}, {"tagged", "5"}, {"untagged", "5"}}}}),
            "bridge 'br0': port 'p1': VLAN(s) 5 are in both 'tagged' and 'untagged'");
  EXPECT_EQ(err({{"cmd", "add-br"}, {"bridge", "br0"}}), "bridge 'br0' already exists");
  EXPECT_EQ(err({{"cmd", "nope"}}), "unknown command 'nope'");
  EXPECT_EQ(err(json::array()), "request must be a JSON object with a string 'cmd'");
  EXPECT_EQ(err({{"cmd", "add-port"}, {"bridge", "br0"}}), "missing argument 'port'");
  EXPECT_EQ(exported(), before);
  EXPECT_EQ(opened_, opened + 1);  // only the missing interface was tried
  EXPECT_EQ(dp_->find_port("p2"), nullptr);
}

TEST_F(ServiceTest, SetPortReconfiguresInPlace) {
  ok({{"cmd", "add-br"}, {"bridge", "br0"}});
  ok({{"cmd", "add-port"}, {"bridge", "br0"}, {"port", "p1"}, {"options", {{"vlan_mode", "trunk"}, {"allowed", "10"}}}});
  dp::Port* before = dp_->find_port("p1");
  const int opened = opened_;
  ok({{"cmd", "set-port"}, {"port", "p1"}, {"options", {{"vlan_mode", "access"}, {"pvid", "20"}}}});
  EXPECT_EQ(dp_->find_port("p1"), before);  // same port, same backend
  EXPECT_EQ(opened_, opened);
  EXPECT_EQ(before->vlan.config().mode, dp::VlanMode::kAccess);
  EXPECT_EQ(before->vlan.config().pvid, 20);
  EXPECT_EQ(exported().find("allowed"), std::string::npos);  // dropped with the mode change
}

TEST_F(ServiceTest, ApplyIsIdempotentAndAppliesOnlyTheDifference) {
  const std::string yaml = R"(bridges:
  - name: a
    ports:
      - {name: a1, type: internal, vlan_mode: access, pvid: 10}
      - {name: ap, type: patch, peer: b/bp, vlan_mode: trunk, allowed: [10]}
  - name: b
    type: learning
    fdb: [{mac: "02:00:00:00:00:01", port: b1}]
    ports:
      - {name: bp, type: patch, peer: a/ap}
      - {name: b1, type: internal}
)";
  json r = ok({{"cmd", "apply"}, {"yaml", yaml}, {"file", "t.yaml"}});
  EXPECT_TRUE(r["changed"].get<bool>());
  EXPECT_EQ(r["ports_added"].size(), 4u);
  dp::Port* a1 = dp_->find_port("a1");
  EXPECT_EQ(dp_->find_port("ap")->peer, dp_->find_port("bp"));
  EXPECT_EQ(dp_->find_bridge("b")->fdb()->lookup(0, 0x020000000001, 0), dp_->find_port("b1")->id);
  EXPECT_FALSE(ok({{"cmd", "apply"}, {"yaml", yaml}})["changed"].get<bool>());
  // Change one port: the others stay the same objects.
  std::string y2 = yaml;
  y2.replace(y2.find("pvid: 10"), 8, "pvid: 11");
  ok({{"cmd", "apply"}, {"yaml", y2}});
  EXPECT_EQ(dp_->find_port("a1"), a1);
  EXPECT_EQ(a1->vlan.config().pvid, 11);
  EXPECT_NE(err({{"cmd", "apply"}, {"yaml", "bridges:\n  - {name: a, bogus: 1}\n"}, {"file", "x.yaml"}}).find("x.yaml:2:"),
            std::string::npos);
}

TEST_F(ServiceTest, RestoresFromTheStoreAndReportsVanishedPorts) {
  ok({{"cmd", "add-br"}, {"bridge", "br0"}, {"options", {{"mac_aging", "60"}}}});
  ok({{"cmd", "add-port"}, {"bridge", "br0"}, {"port", "p1"}, {"options", {{"pvid", "7"}}}});
  ok({{"cmd", "add-port"}, {"bridge", "br0"}, {"port", "vnet0"}, {"options", {{"type", "tap"}, {"pvid", "7"}}}});
  ok({{"cmd", "fdb-add"}, {"bridge", "br0"}, {"vlan", 7}, {"mac", "02:00:00:00:00:07"}, {"port", "p1"}});
  const std::string before = exported();
  svc_.reset();
  svc_ = make();
  EXPECT_EQ(exported(), before);
  EXPECT_EQ(dp_->find_bridge("br0")->settings().mac_aging_sec, 60u);
  EXPECT_EQ(dp_->find_bridge("br0")->fdb()->lookup(7, 0x020000000007, 0), dp_->find_port("p1")->id);
  EXPECT_TRUE(svc_->vanished().empty());
  // The interface of vnet0 is gone at the next start: kept, reported, retried.
  svc_.reset();
  gone_.insert("vnet0");
  svc_ = make();
  EXPECT_EQ(exported(), before);
  ASSERT_EQ(svc_->vanished().count("vnet0"), 1u);
  json show = ok({{"cmd", "show"}});
  EXPECT_EQ(show["bridges"][0]["ports"][1]["error"], "interface 'vnet0' does not exist") << show.dump();
  EXPECT_EQ(svc_->retry_vanished(), 0);
  gone_.clear();
  EXPECT_EQ(svc_->retry_vanished(), 1);
  EXPECT_TRUE(svc_->vanished().empty());
}

TEST_F(ServiceTest, DeletesCascade) {
  ok({{"cmd", "add-br"}, {"bridge", "a"}});
  ok({{"cmd", "add-br"}, {"bridge", "b"}});
  ok({{"cmd", "add-port"}, {"bridge", "a"}, {"port", "ap"}, {"options", {{"type", "patch"}, {"peer", "b/bp"}}}});
  ok({{"cmd", "add-port"}, {"bridge", "b"}, {"port", "bp"}, {"options", {{"type", "patch"}, {"peer", "a/ap"}}}});
  EXPECT_EQ(dp_->find_port("ap")->peer, dp_->find_port("bp"));
  ok({{"cmd", "del-br"}, {"bridge", "b"}});
  EXPECT_EQ(dp_->find_bridge("b"), nullptr);
  EXPECT_EQ(dp_->find_port("ap")->peer, nullptr);  // dangles, as in OVS
  EXPECT_EQ(err({{"cmd", "del-port"}, {"port", "bp"}}), "port 'bp' does not exist");
  EXPECT_FALSE(ok({{"cmd", "del-port"}, {"port", "bp"}, {"if_exists", true}})["changed"].get<bool>());
  ok({{"cmd", "del-port"}, {"port", "ap"}});
  EXPECT_EQ(dp_->find_port("ap"), nullptr);
}

}  // namespace
}  // namespace kvnet::daemon
