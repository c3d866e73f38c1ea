// kvnetd's gateway verbs through Service::handle, with a fake GatewayHost
// that records what the Service asks of the kernel side (and can refuse):
// gateways and their ports go through the one configuration path, every
// refusal changes nothing, a kernel-side failure is rolled back, and a
// restarted kvnetd hands the stored gateways to its host again.
#include <gtest/gtest.h>

#include "daemon/gateway_host.h"
#include "daemon/service.h"
#include "daemon/service_fixture.h"

namespace kvnet::daemon {
using namespace kvnet::ctl;
namespace {

class FakeGatewayHost final : public GatewayHost {
 public:
  Status apply(const std::vector<GatewaySpec>& gws, bool restoring) override {
    std::vector<std::string> names;
    for (const auto& g : gws) names.push_back(g.name);
    calls.push_back({names, restoring});
    if (!fail_with.empty() && gws.size() > applied.size()) return Error{fail_with};
    applied = gws;
    return Ok{};
  }
  GatewayStatus status(const std::string& name) const override {
    GatewayStatus s;
    s.dnsmasq = "running";
    s.pid = 4242;
    s.leases = {{1700000000, "52:54:00:00:00:01", "10.0.0.150", "vm01"}};
    s.error = name == "broken" ? "it broke" : "";
    return s;
  }
  std::string nft_table() const override { return "ip kvnet"; }

  struct Call {
    std::vector<std::string> gateways;
    bool restoring;
  };
  std::vector<Call> calls;
  std::vector<GatewaySpec> applied;
  std::string fail_with;  // refuse any apply that adds a gateway
};

class ServiceGwTest : public ServiceFixture {
 protected:
  void SetUp() override {
    before_restore_ = [this](Service& s) { s.set_gateway_host(&host_); };
    ServiceFixture::SetUp();
    ok({{"cmd", "add-br"}, {"bridge", "br0"}});
    ok({{"cmd", "add-br"}, {"bridge", "hub0"}, {"type", "hub"}});
  }
  json add(json extra = json::object()) {
    json req{{"cmd", "gw-add"}, {"name", "gw0"}, {"bridge", "br0"}, {"ip", "10.0.0.1/24"}};
    for (auto it = extra.begin(); it != extra.end(); ++it) req[it.key()] = *it;
    return req;
  }
  // A refused request: its error, and nothing changed (export, kernel side).
  std::string refused(const json& req) {
    const std::string before = exported();
    const size_t calls = host_.calls.size();
    const std::string e = err(req);
    EXPECT_EQ(exported(), before) << req.dump();
    EXPECT_EQ(host_.calls.size(), calls) << req.dump();
    return e;
  }
  FakeGatewayHost host_;
};

TEST_F(ServiceGwTest, AddCreatesTheGatewayAndItsPort) {
  json r = ok(add({{"vlan", 10},
                   {"masquerade", true},
                   {"dhcp", "10.0.0.100-10.0.0.199"},
                   {"forwards", {"tcp:8080:10.0.0.5:80"}}}));
  EXPECT_EQ(r["changes"], json({"+ port br0/gw0", "+ gw gw0"}));
  EXPECT_EQ(r["gateway"]["dhcp"], "10.0.0.100-10.0.0.199");
  EXPECT_EQ(r["gateway"]["subnet"], "10.0.0.0/24");
  EXPECT_EQ(r["gateway"]["dnsmasq"]["pid"], 4242);
  const PortSpec* p = config().find_port("gw0");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->kind->name(), "internal");
  EXPECT_EQ(p->vlan.pvid, 10);
  EXPECT_TRUE(opened_.count("gw0"));
  ASSERT_EQ(host_.applied.size(), 1u);
  EXPECT_EQ(host_.applied[0].forwards.size(), 1u);
  EXPECT_FALSE(host_.calls.back().restoring);
  // Listed and shown, with the leases.
  json l = ok({{"cmd", "gw-list"}});
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0]["forwards"], json({"tcp:8080:10.0.0.5:80"}));
  json s = ok({{"cmd", "gw-show"}, {"name", "gw0"}});
  ASSERT_EQ(s["leases"].size(), 1u);
  EXPECT_EQ(s["leases"][0]["hostname"], "vm01");
  EXPECT_EQ(s["nft_table"], "ip kvnet");
  // Export: the gateway, not its port.
  const std::string y = exported();
  EXPECT_NE(y.find("gateways:"), std::string::npos) << y;
  EXPECT_EQ(y.find("type: internal"), std::string::npos) << y;
}

TEST_F(ServiceGwTest, BadInputIsRefusedBeforeAnythingIsCreated) {
  EXPECT_EQ(refused(add({{"bridge", "nope"}})), "gateway 'gw0': bridge 'nope' does not exist");
  EXPECT_EQ(refused(add({{"vlan", 5000}})), "gateway 'gw0': vlan: argument 'vlan' 5000 is out of range 1-4094");
  EXPECT_EQ(refused(add({{"bridge", "hub0"}, {"vlan", 5}})),
            "gateway 'gw0': vlan applies to switch bridges; bridge 'hub0' is a hub");
  EXPECT_EQ(refused(add({{"ip", "10.0.0.1/33"}})), "gateway 'gw0': ip '10.0.0.1/33': prefix length must be 0-32");
  EXPECT_EQ(refused(add({{"ip", "nonsense"}})),
            "gateway 'gw0': ip 'nonsense' must be an IPv4 ADDRESS/PREFIX (e.g. 10.0.0.1/24)");
  EXPECT_EQ(refused(add({{"dhcp", "10.0.1.2-10.0.1.9"}})),
            "gateway 'gw0': dhcp range start 10.0.1.2 is outside the subnet 10.0.0.0/24");
  EXPECT_EQ(refused(add({{"dhcp", "10.0.0.1-10.0.0.9"}})),
            "gateway 'gw0': dhcp range 10.0.0.1-10.0.0.9 contains the gateway's own address 10.0.0.1");
  EXPECT_EQ(refused(add({{"forwards", {"tcp:80:10.0.0.5"}}})),
            "gateway 'gw0': forward 'tcp:80:10.0.0.5' must be tcp|udp:HOSTPORT:IP:PORT (e.g. tcp:8080:10.0.0.5:80)");
  ok({{"cmd", "add-port"}, {"bridge", "br0"}, {"port", "taken"}});
  EXPECT_EQ(refused(add({{"name", "taken"}})),
            "gateway 'taken': port 'taken' already exists on bridge 'br0' (a gateway's internal port takes the gateway's name)");
  ok(add());
  EXPECT_EQ(refused(add()), "gateway 'gw0' already exists");
  EXPECT_EQ(refused(add({{"name", "gw1"}, {"ip", "10.0.0.2/16"}})),
            "gateway 'gw1': subnet 10.0.0.0/16 overlaps gateway 'gw0''s 10.0.0.0/24");
  // Its port and bridge cannot be taken from under it.
  EXPECT_EQ(refused({{"cmd", "del-port"}, {"port", "gw0"}}), "port 'gw0' is gateway 'gw0''s port: use 'gw del gw0'");
  EXPECT_EQ(refused({{"cmd", "del-br"}, {"bridge", "br0"}}), "bridge 'br0' has gateway 'gw0': 'gw del gw0' first");
  EXPECT_EQ(refused({{"cmd", "gw-del"}, {"name", "nope"}}), "gateway 'nope' does not exist");
  EXPECT_EQ(err({{"cmd", "gw-show"}, {"name", "nope"}}), "gateway 'nope' does not exist");
}

TEST_F(ServiceGwTest, AKernelSideFailureIsRolledBack) {
  ok(add());
  host_.fail_with = "nftables refused the ruleset: no";
  const std::string before = exported();
  const int opens = opens_;
  EXPECT_EQ(err(add({{"name", "gw1"}, {"ip", "10.1.0.1/24"}})), "nftables refused the ruleset: no");
  EXPECT_EQ(exported(), before);
  EXPECT_EQ(opens_, opens + 1);  // its port was opened, then abandoned
  EXPECT_EQ(config().find_port("gw1"), nullptr);
  // The old set was applied again.
  ASSERT_GE(host_.calls.size(), 2u);
  EXPECT_EQ(host_.calls.back().gateways, std::vector<std::string>{"gw0"});
  ASSERT_EQ(host_.applied.size(), 1u);
  EXPECT_EQ(host_.applied[0].name, "gw0");
}

TEST_F(ServiceGwTest, DelRemovesTheGatewayAndItsPort) {
  ok(add({{"dhcp", "10.0.0.100-10.0.0.199"}}));
  json r = ok({{"cmd", "gw-del"}, {"name", "gw0"}});
  EXPECT_EQ(r["changes"], json({"- port br0/gw0", "- gw gw0"}));
  EXPECT_EQ(config().find_port("gw0"), nullptr);
  EXPECT_TRUE(config().gateways.empty());
  EXPECT_TRUE(host_.applied.empty());
  EXPECT_TRUE(ok({{"cmd", "gw-list"}}).empty());
}

TEST_F(ServiceGwTest, ApplyManagesTheSectionAndPlansItsLines) {
  const std::string yaml =
      "bridges:\n  - name: br0\n    ports: []\n  - {name: hub0, type: hub}\n"
      "gateways:\n  - {name: gw0, bridge: br0, vlan: 7, ip: 10.0.0.1/24, masquerade: true}\n";
  json r = ok({{"cmd", "apply"}, {"yaml", yaml}});
  EXPECT_EQ(r["changes"], json({"+ port br0/gw0", "+ gw gw0"}));
  EXPECT_EQ(config().find_port("gw0")->vlan.pvid, 7);
  // Applying the export changes nothing.
  EXPECT_EQ(ok({{"cmd", "apply"}, {"yaml", exported()}})["changed"], false);
  // A file without the section leaves the gateways (and their ports) alone.
  EXPECT_EQ(ok({{"cmd", "apply"}, {"yaml", "bridges:\n  - {name: br0}\n  - {name: hub0, type: hub}\n"}})["changed"],
            false);
  // A changed gateway: one line, its port follows.
  std::string changed = yaml;
  changed.replace(changed.find("vlan: 7"), 7, "vlan: 8");
  r = ok({{"cmd", "apply"}, {"yaml", changed}, {"dry_run", true}});
  EXPECT_EQ(r["changes"], json({"~ port br0/gw0 pvid 7->8", "~ gw gw0 vlan 7->8"}));
  ok({{"cmd", "apply"}, {"yaml", changed}});
  EXPECT_EQ(host_.applied[0].vlan, 8);
  // `gateways: []` removes them.
  r = ok({{"cmd", "apply"}, {"yaml", "bridges:\n  - {name: br0}\n  - {name: hub0, type: hub}\ngateways: []\n"}});
  EXPECT_EQ(r["changes"], json({"- port br0/gw0", "- gw gw0"}));
}

TEST_F(ServiceGwTest, ARestartedKvnetdHandsTheGatewaysToItsHost) {
  ok(add({{"dhcp", "10.0.0.100-10.0.0.199"}}));
  host_.calls.clear();
  restart();
  ASSERT_EQ(config().gateways.size(), 1u);
  ASSERT_EQ(host_.calls.size(), 1u);
  EXPECT_TRUE(host_.calls[0].restoring);
  EXPECT_EQ(host_.calls[0].gateways, std::vector<std::string>{"gw0"});
  EXPECT_TRUE(opened_.count("gw0"));
}

}  // namespace
}  // namespace kvnet::daemon
