// The daemon's control logic without kernel resources: pcap/patch ports and
// a fake opener, a real SQLite store in a temp dir, the datapath inline.
#include "daemon/service.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "testing.h"

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

// Port verbs edit kvnetd's working copy of the configuration (ctl/scope.h):
// one that fails late (its device cannot be opened, its check fails) must
// leave nothing in it for the next edit to carry along, here or in the store.
TEST_F(ServiceTest, ScopedEditsThatFailLeaveNoTrace) {
  ok({{"cmd", "add-br"}, {"bridge", "br0"}});
  ok({{"cmd", "add-port"}, {"bridge", "br0"}, {"port", "p1"}, {"options", {{"pvid", "10"}}}});
  ok({{"cmd", "add-port"}, {"bridge", "br0"}, {"port", "p2"}, {"options", {{"pvid", "10"}}}});
  ok({{"cmd", "fdb-add"}, {"bridge", "br0"}, {"vlan", 10}, {"mac", "02:00:00:00:00:01"}, {"port", "p2"}});
  err({{"cmd", "add-port"}, {"bridge", "br0"}, {"port", "missing0"}});  // fails opening its device
  err({{"cmd", "set-port"}, {"port", "p2"}, {"options", {{"pvid", "20"}}}});  // its static entry is on VLAN 10
  ok({{"cmd", "set-port"}, {"port", "p1"}, {"options", {{"pvid", "30"}}}});
  ok({{"cmd", "add-port"}, {"bridge", "br0"}, {"port", "p3"}});
  ok({{"cmd", "del-port"}, {"port", "p1"}});
  const std::string now = exported();
  EXPECT_EQ(now.find("missing0"), std::string::npos) << now;
  EXPECT_NE(now.find("{name: p2, type: system, vlan_mode: access, pvid: 10}"), std::string::npos) << now;
  EXPECT_EQ(now.find("p1"), std::string::npos) << now;
  EXPECT_EQ(dp_->find_port("p2")->vlan.config().pvid, 10);
  svc_.reset();
  svc_ = make();  // what the store kept
  EXPECT_EQ(exported(), now);
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

// --- plan/apply (issue 6 §4) ---

TEST_F(ServiceTest, ApplyPrintsThePlanAndDryRunChangesNothing) {
  const std::string yaml = "bridges:\n  - name: a\n    ports:\n      - {name: a1, type: internal, pvid: 10}\n";
  json dry = ok({{"cmd", "apply"}, {"yaml", yaml}, {"dry_run", true}});
  EXPECT_EQ(dry["changes"], json::array({"+ bridge a", "+ port a/a1"}));
  EXPECT_TRUE(dry["dry_run"].get<bool>());
  EXPECT_EQ(dp_->find_bridge("a"), nullptr);
  EXPECT_EQ(exported(), "bridges: []\n");
  EXPECT_EQ(ok({{"cmd", "apply"}, {"yaml", yaml}})["changes"], dry["changes"]);
  std::string y2 = yaml;
  y2.replace(y2.find("pvid: 10"), 8, "pvid: 20");
  EXPECT_EQ(ok({{"cmd", "apply"}, {"yaml", y2}, {"dry_run", true}})["changes"],
            json::array({"~ port a/a1 pvid 10->20"}));
  EXPECT_EQ(dp_->find_port("a1")->vlan.config().pvid, 10);
  json none = ok({{"cmd", "apply"}, {"yaml", yaml}});
  EXPECT_FALSE(none["changed"].get<bool>());
  EXPECT_EQ(none["changes"], json::array());
}

TEST_F(ServiceTest, VerbsAnswerWithTheirChanges) {
  EXPECT_EQ(ok({{"cmd", "add-br"}, {"bridge", "br0"}})["changes"], json::array({"+ bridge br0"}));
  EXPECT_EQ(ok({{"cmd", "add-port"}, {"bridge", "br0"}, {"port", "p1"}})["changes"], json::array({"+ port br0/p1"}));
  EXPECT_EQ(ok({{"cmd", "set-bridge"}, {"bridge", "br0"}, {"options", {{"mac_aging", 60}}}})["changes"],
            json::array({"~ bridge br0 mac_aging 300->60"}));
  // Nothing to change is no change (options: null included).
  json same = ok({{"cmd", "set-bridge"}, {"bridge", "br0"}, {"options", nullptr}});
  EXPECT_FALSE(same["changed"].get<bool>());
  EXPECT_FALSE(ok({{"cmd", "set-port"}, {"port", "p1"}, {"options", {{"pvid", "1"}}}})["changed"].get<bool>());
}

TEST_F(ServiceTest, FileWithoutContainersSectionLeavesContainersAlone) {
  // manage_containers is off here: containers are configuration only.
  ok({{"cmd", "add-br"}, {"bridge", "br0"}});
  ok({{"cmd", "ct-add"}, {"name", "c1"}, {"bridge", "br0"}});
  const std::string base = "bridges:\n  - name: br0\n    ports: [{name: ct-c1, type: system, vlan_mode: access, pvid: 1}]\n";
  json r = ok({{"cmd", "apply"}, {"yaml", base}});
  EXPECT_FALSE(r["changed"].get<bool>()) << r.dump();
  EXPECT_EQ(ok({{"cmd", "ct-list"}}).size(), 1u);
  // Removing the container's port without the section is refused, clearly.
  EXPECT_NE(err({{"cmd", "apply"}, {"yaml", "bridges:\n  - {name: br0}\n"}}).find("container 'c1': port 'ct-c1'"),
            std::string::npos);
  // An empty section removes them all.
  r = ok({{"cmd", "apply"}, {"yaml", "bridges:\n  - {name: br0}\ncontainers: []\n"}});
  EXPECT_EQ(r["changes"], json::array({"- port br0/ct-c1", "- container c1"}));
  EXPECT_EQ(ok({{"cmd", "ct-list"}}).size(), 0u);
}

TEST_F(ServiceTest, StaticFdbOverflowIsRejectedByChangesAndRestoreAlike) {
  ok({{"cmd", "add-br"}, {"bridge", "br0"}, {"options", {{"mac_table_size", "1"}}}});
  ok({{"cmd", "add-port"}, {"bridge", "br0"}, {"port", "p1"}});
  ok({{"cmd", "fdb-add"}, {"bridge", "br0"}, {"vlan", 1}, {"mac", "02:00:00:00:00:01"}, {"port", "p1"}});
  EXPECT_EQ(err({{"cmd", "fdb-add"}, {"bridge", "br0"}, {"vlan", 1}, {"mac", "02:00:00:00:00:02"}, {"port", "p1"}}),
            "bridge 'br0': static FDB entries (2) exceed mac_table_size 1");
  const std::string y = "bridges:\n  - name: br0\n    mac_table_size: 1\n    fdb: [{vlan: 1, mac: '02:00:00:00:00:01', "
                        "port: p1}, {vlan: 1, mac: '02:00:00:00:00:02', port: p1}]\n    ports: [{name: p1, type: system}]\n";
  EXPECT_NE(err({{"cmd", "apply"}, {"yaml", y}}).find("exceed mac_table_size 1"), std::string::npos);
}

TEST_F(ServiceTest, PortIdsAreReusedAndStaticEntriesFollowRecreatedPorts) {
  ok({{"cmd", "add-br"}, {"bridge", "br0"}});
  ok({{"cmd", "add-port"}, {"bridge", "br0"}, {"port", "p1"}, {"options", {{"type", "tap"}}}});
  ok({{"cmd", "add-port"}, {"bridge", "br0"}, {"port", "p2"}});
  ok({{"cmd", "fdb-add"}, {"bridge", "br0"}, {"vlan", 1}, {"mac", "02:00:00:00:00:01"}, {"port", "p1"}});
  const uint32_t id1 = dp_->find_port("p1")->id;
  const size_t slots = dp_->ports().size();
  for (int i = 0; i < 20; ++i) {
    ok({{"cmd", "del-port"}, {"port", "p2"}});
    ok({{"cmd", "add-port"}, {"bridge", "br0"}, {"port", "p2"}});
  }
  EXPECT_EQ(dp_->ports().size(), slots);  // no growth under churn
  // Re-creating p1 (new backend) keeps its static entry pointing at it.
  ok({{"cmd", "set-port"}, {"port", "p1"}, {"options", {{"persistent", "true"}}}});
  EXPECT_EQ(dp_->find_bridge("br0")->fdb()->lookup(1, 0x020000000001, 0), dp_->find_port("p1")->id);
  (void)id1;
}

// --- bad input found by fuzzing and probing (issue 6 §8) ---

TEST_F(ServiceTest, TraceAcceptsBridgeSlashPort) {
  ok({{"cmd", "add-br"}, {"bridge", "br0"}});
  ok({{"cmd", "add-port"}, {"bridge", "br0"}, {"port", "p1"}});
  json t = ok({{"cmd", "trace"}, {"bridge", "br0"}, {"in_port", "br0/p1"}, {"flow", "arp"}});
  EXPECT_EQ(t["in_port"], "br0/p1");
  EXPECT_EQ(err({{"cmd", "trace"}, {"bridge", "br0"}, {"in_port", "br0/br0/p1"}, {"flow", "arp"}}),
            "in_port 'br0/br0/p1' is not a port of bridge 'br0'");
  EXPECT_EQ(err({{"cmd", "trace"}, {"bridge", "br0"}, {"in_port", "other/p1"}, {"flow", "arp"}}),
            "in_port 'other/p1' is not a port of bridge 'br0'");
}

TEST_F(ServiceTest, PipelineShowsEveryStageWithItsCounters) {
  ok({{"cmd", "add-br"}, {"bridge", "br0"}});
  ok({{"cmd", "add-br"}, {"bridge", "hub0"}, {"options", {{"type", "hub"}}}});
  ok({{"cmd", "add-port"}, {"bridge", "br0"}, {"port", "p1"}, {"options", {{"pvid", "10"}}}});
  ok({{"cmd", "add-port"}, {"bridge", "br0"}, {"port", "p2"}, {"options", {{"pvid", "10"}}}});
  // One frame with a multicast source (dropped by l2-check), one good broadcast.
  net::FrameBatch b;
  for (const auto& bytes : {testing::eth(0xffffffffffff, 0x010000000001), testing::eth(0xffffffffffff, 0x020000000001)}) {
    net::Frame* f = dp_->pool().get();
    ASSERT_NE(f, nullptr);
    f->assign(bytes.data(), bytes.size());
    b.add(f);
  }
  dp_->receive(*dp_->find_port("br0/p1"), b);

  json all = ok({{"cmd", "pipeline"}});
  ASSERT_EQ(all.size(), 2u);
  json br = ok({{"cmd", "pipeline"}, {"bridge", "br0"}});
  ASSERT_EQ(br.size(), 1u);
  const json& sw = br[0];
  EXPECT_EQ(sw["type"], "switch");
  ASSERT_EQ(sw["ingress"].size(), 2u);
  EXPECT_EQ(sw["ingress"][0]["name"], "l2-check");
  EXPECT_EQ(sw["ingress"][0]["counters"]["bad_src_mac"], 1);
  EXPECT_EQ(sw["ingress"][0]["counters"]["passed"], 1);
  EXPECT_EQ(sw["ingress"][1]["name"], "vlan-in");
  EXPECT_EQ(sw["ingress"][1]["counters"]["accepted"], 1);
  ASSERT_EQ(sw["egress"].size(), 1u);
  EXPECT_EQ(sw["egress"][0]["name"], "vlan-out");
  EXPECT_EQ(sw["egress"][0]["counters"]["untagged"], 1);  // the broadcast left p2
  EXPECT_EQ(sw["ports"].size(), 2u);
  const json& hub = all[0]["bridge"] == "hub0" ? all[0] : all[1];
  EXPECT_TRUE(hub["ingress"].empty());
  EXPECT_EQ(err({{"cmd", "pipeline"}, {"bridge", "nope"}}), "bridge 'nope' does not exist");
}

TEST_F(ServiceTest, AnswersAreValidUtf8WhateverTheRequestHeld) {
  ok({{"cmd", "add-br"}, {"bridge", "B"}});
  // A name that is not valid UTF-8 (bytes 0xc3 alone) comes back replaced, and dump() does not throw.
  const std::string bad = std::string("fzabcdefghi\xc3\xa9\xc3");
  json r = svc_->handle({{"cmd", "ct-add"}, {"name", bad}, {"bridge", "B"}});
  EXPECT_FALSE(r["ok"].get<bool>());
  EXPECT_NO_THROW((void)r.dump());
  r = svc_->handle({{"cmd", std::string("\xff\xfe")}});
  EXPECT_NO_THROW((void)r.dump());
  EXPECT_EQ(r["error"], "unknown command '\xef\xbf\xbd\xef\xbf\xbd'");
}

TEST_F(ServiceTest, ArgumentsAreCheckedAtTheEdge) {
  ok({{"cmd", "add-br"}, {"bridge", "br0"}});
  ok({{"cmd", "add-port"}, {"bridge", "br0"}, {"port", "p1"}, {"options", {{"vlan_mode", "trunk"}, {"allowed", "10"}}}});
  EXPECT_EQ(err({{"cmd", "fdb-add"}, {"bridge", "br0"}, {"vlan", 65546}, {"mac", "02:00:00:00:00:01"}, {"port", "p1"}}),
            "argument 'vlan' 65546 is out of range 0-4094");
  EXPECT_EQ(err({{"cmd", "fdb-add"}, {"bridge", "br0"}, {"vlan", -1}, {"mac", "02:00:00:00:00:01"}, {"port", "p1"}}),
            "argument 'vlan' -1 is out of range 0-4094");
  EXPECT_EQ(err({{"cmd", "fdb-add"}, {"bridge", "br0"}, {"vlan", "10"}, {"mac", "02:00:00:00:00:01"}, {"port", "p1"}}),
            "argument 'vlan' must be an integer");
  EXPECT_EQ(err({{"cmd", "add-br"}, {"bridge", 7}}), "argument 'bridge' must be a string");
  EXPECT_EQ(err({{"cmd", "add-br"}, {"bridge", "x"}, {"may_exist", "yes"}}), "argument 'may_exist' must be true or false");
  EXPECT_EQ(err({{"cmd", "set-bridge"}, {"bridge", "br0"}, {"options", {{"mac_aging", {{"a", {{"b", 1}}}}}}}}),
            "option 'mac_aging' must be a string or a number");
  EXPECT_EQ(err({{"cmd", "add-br"}, {"bridge", "x"}, {"options", json::array({1, 2})}}),
            "argument 'options' must be an object of KEY: VALUE");
  EXPECT_EQ(err({{"cmd", "add-port"}, {"bridge", "br0"}, {"port", "p9"}, {"options", {{"pvid", 1.5}}}}),
            "option 'pvid' must be a string or a number");
}

TEST_F(ServiceTest, CommandsTableCoversEveryVerb) {
  std::set<std::string> names;
  for (const auto& c : Service::commands()) EXPECT_TRUE(names.insert(c.name).second) << c.name;
  for (const char* v : {"ping", "add-br", "del-br", "list-br", "add-port", "del-port", "set-port", "set-bridge", "fdb-add",
                        "fdb-del", "fdb-show", "fdb-flush", "show", "stats", "pipeline", "trace", "apply", "export", "ct-add",
                        "ct-del", "ct-list", "kinds"})
    EXPECT_EQ(names.count(v), 1u) << v;
  json kinds = ok({{"cmd", "kinds"}});
  EXPECT_EQ(kinds.size(), 8u);
}

TEST(KernelBackends, PcapOutputStaysInItsDirectory) {
  const auto dir = std::filesystem::path(::testing::TempDir()) / ("kvnet-pcapdir-" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  BridgeSpec b;
  b.name = "b";
  auto open = kernel_backends(dir.string());
  auto outside = make_port(b, "p", {{"type", "pcap"}, {"tx", "/etc/kvnet-should-not-exist"}});
  ASSERT_TRUE(outside.ok());
  auto r = open(*outside);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("is outside kvnetd's capture directory"), std::string::npos) << r.error().message;
  EXPECT_FALSE(std::filesystem::exists("/etc/kvnet-should-not-exist"));
  auto sneaky = make_port(b, "p", {{"type", "pcap"}, {"tx", (dir / ".." / "escape.pcap").string()}});
  EXPECT_FALSE(open(*sneaky).ok());
  std::filesystem::create_directories(dir);
  std::filesystem::create_symlink("/etc/passwd", dir / "link.pcap");
  auto link = make_port(b, "p", {{"type", "pcap"}, {"tx", (dir / "link.pcap").string()}});
  auto lr = open(*link);
  ASSERT_FALSE(lr.ok());
  EXPECT_NE(lr.error().message.find("is not a regular file"), std::string::npos);
  auto inside = make_port(b, "p", {{"type", "pcap"}, {"tx", (dir / "ok.pcap").string()}});
  EXPECT_TRUE(open(*inside).ok());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace kvnet::daemon
