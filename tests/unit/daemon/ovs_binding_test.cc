#include "daemon/ovs_binding.h"

#include <gtest/gtest.h>

#include "ctl/bridge.h"

namespace kvnet::daemon {
namespace {

using json = nlohmann::json;

// The VLAN columns of a configuration read back as the same configuration.
TEST(OvsVlan, ColumnsRoundTrip) {
  ctl::BridgeSpec br;
  br.name = "br0";
  const std::vector<ctl::Settings> cases = {
      {{"vlan_mode", "access"}, {"pvid", "10"}},
      {{"vlan_mode", "trunk"}, {"allowed", "101,102"}},
      {{"vlan_mode", "native-untagged"}, {"pvid", "1"}},
      {{"vlan_mode", "native-untagged"}, {"pvid", "5"}, {"allowed", "5,7"}},
      {{"vlan_mode", "native-tagged"}, {"pvid", "3"}},
      {{"vlan_mode", "dot1q-tunnel"}, {"pvid", "100"}, {"cvlans", "10-20"}, {"qinq_ethtype", "802.1q"}},
  };
  for (const auto& s : cases) {
    ctl::Settings all{{"type", "system"}};
    all.insert(all.end(), s.begin(), s.end());
    auto p = ctl::make_port(br, "p", all);
    ASSERT_TRUE(p) << p.error().message;
    const OvsVlanColumns c = vlan_columns(p->vlan);
    auto back = vlan_settings(c);
    ASSERT_TRUE(back) << back.error().message;
    ctl::Settings again{{"type", "system"}};
    again.insert(again.end(), back->begin(), back->end());
    auto q = ctl::make_port(br, "p", again);
    ASSERT_TRUE(q) << q.error().message;
    EXPECT_EQ(ctl::port_fields(*p, br.type), ctl::port_fields(*q, br.type)) << s[0].second;
  }
  // OVS's port without VLAN columns carries every VLAN, untagged in VLAN 1 here.
  auto plain = vlan_settings({});
  ASSERT_TRUE(plain);
  EXPECT_EQ(*plain, (ctl::Settings{{"vlan_mode", "native-untagged"}, {"pvid", "1"}}));
  EXPECT_EQ(vlan_columns(dp::VlanConfig{.mode = dp::VlanMode::kNativeUntagged}), OvsVlanColumns{});
  // What kvnet cannot take says so.
  OvsVlanColumns bad;
  bad.vlan_mode = "trunk";
  bad.tag = 5;
  EXPECT_NE(vlan_settings(bad).error().message.find("vlan_mode trunk takes no tag"), std::string::npos);
  OvsVlanColumns qinq;
  qinq.vlan_mode = "dot1q-tunnel";
  EXPECT_NE(vlan_settings(qinq).error().message.find("needs a tag"), std::string::npos);
}

// A binding over a configuration kept here (validated as kvnetd would).
class OvsBindingTest : public ::testing::Test {
 protected:
  OvsBindingTest() {
    auto t = ctl::parse_topology(R"(
bridges:
  - name: br0
    ports:
      - {name: p1, type: system, pvid: 10, external_ids: {iface-id: "a,b:c"}}
)",
                                 "", "/");
    EXPECT_TRUE(t) << t.error().message;
    cfg_ = *t;
    binding_ = std::make_unique<OvsBinding>(OvsBinding::Source{
        .config = [this]() -> const ctl::Topology& { return cfg_; },
        .change = [this](const ctl::Topology& next) -> Result<ctl::Plan> {
          ++changes_;
          if (refuse_) return Error{"refused by the test"};
          if (auto s = ctl::validate(next, {.allow_dangling_patches = true}); !s) return s.error();
          ctl::Plan p = ctl::plan(cfg_, next);
          cfg_ = next;
          return p;
        },
        .counters = {},
        .detached = {},
        .version = "test"});
    session_ = binding_->server().open([this](const json& m) { sent_.push_back(m); });
  }

  json call(const std::string& method, json params) {
    const int id = next_id_++;
    binding_->server().receive(session_, ovsdb::make_request(method, std::move(params), id));
    for (auto it = sent_.rbegin(); it != sent_.rend(); ++it)
      if (it->contains("id") && (*it)["id"] == id) return *it;
    return nullptr;
  }
  json select(const std::string& table, const std::string& name) {
    const json r = call("transact", json::array({"Open_vSwitch", {{"op", "select"}, {"table", table},
                                                                   {"where", json::array({json::array({"name", "==", name})})}}}));
    const json& rows = r["result"][0]["rows"];
    return rows.empty() ? json(nullptr) : rows[0];
  }
  // ovs-vsctl's add-port: a Port and its Interface, added to the bridge.
  json add_port(const std::string& name, json iface_row, json port_row = json::object()) {
    iface_row["name"] = name;
    port_row["name"] = name;
    port_row["interfaces"] = json::array({"named-uuid", "i"});
    return call("transact", json::array({"Open_vSwitch",
                                         {{"op", "insert"}, {"table", "Interface"}, {"uuid-name", "i"}, {"row", iface_row}},
                                         {{"op", "insert"}, {"table", "Port"}, {"uuid-name", "p"}, {"row", port_row}},
                                         {{"op", "mutate"},
                                          {"table", "Bridge"},
                                          {"where", json::array({json::array({"name", "==", "br0"})})},
                                          {"mutations", json::array({json::array(
                                                            {"ports", "insert", json::array({"set", json::array({json::array({"named-uuid", "p"})})})})})}}}));
  }

  ctl::Topology cfg_;
  std::unique_ptr<OvsBinding> binding_;
  uint64_t session_ = 0;
  std::vector<json> sent_;
  int next_id_ = 1;
  int changes_ = 0;
  bool refuse_ = false;
};

TEST_F(OvsBindingTest, ConfigurationBecomesRows) {
  const json port = select("Port", "p1");
  ASSERT_FALSE(port.is_null());
  EXPECT_EQ(port["tag"], 10);
  const json iface = select("Interface", "p1");
  EXPECT_EQ(iface["type"], "");
  EXPECT_EQ(iface["external_ids"], json::parse(R"(["map", [["iface-id", "a,b:c"]]])"));
  const json br = select("Bridge", "br0");
  EXPECT_EQ(br["ports"], json::parse("[\"uuid\", \"" + port["_uuid"][1].get<std::string>() + "\"]"));
  // A change made elsewhere (kvnetctl) reaches the rows when synced.
  cfg_.bridges[0].ports[0].external_ids["vm-id"] = "v1";
  auto p = ctl::update_port(cfg_.bridges[0], cfg_.bridges[0].ports[0], {{"pvid", "20"}});
  ASSERT_TRUE(p);
  cfg_.bridges[0].ports[0] = *p;
  binding_->sync();
  EXPECT_EQ(select("Port", "p1")["tag"], 20);
  EXPECT_EQ(select("Interface", "p1")["external_ids"],
            json::parse(R"(["map", [["iface-id", "a,b:c"], ["vm-id", "v1"]]])"));
}

TEST_F(OvsBindingTest, TransactionBecomesOneChange) {
  const json r = add_port("p2", {{"type", "patch"}, {"options", json::parse(R"(["map", [["peer", "p3"]]])")},
                                 {"external_ids", json::parse(R"(["map", [["iface-id", "x"]]])")}},
                          {{"trunks", json::parse(R"(["set", [7, 8]])")}});
  ASSERT_FALSE(r["result"].back().contains("error")) << r;
  EXPECT_EQ(changes_, 1);
  const ctl::PortSpec* p2 = cfg_.find_port("p2");
  ASSERT_NE(p2, nullptr);
  EXPECT_EQ(p2->kind->name(), "patch");
  EXPECT_EQ(ctl::port_fields(*p2, dp::BridgeType::kSwitch)[2].value, "?/p3");  // its peer on no bridge yet
  EXPECT_EQ(p2->vlan.mode, dp::VlanMode::kTrunk);
  EXPECT_EQ(p2->external_ids.at("iface-id"), "x");
  // The columns the client wrote stay as written.
  EXPECT_EQ(select("Port", "p2")["trunks"], json::parse(R"(["set", [7, 8]])"));
  EXPECT_EQ(select("Port", "p2")["vlan_mode"], json::parse(R"(["set", []])"));
  // The other end, later: the first end learns its peer's bridge.
  ASSERT_FALSE(add_port("p3", {{"type", "patch"}, {"options", json::parse(R"(["map", [["peer", "p2"]]])")}})["result"]
                   .back()
                   .contains("error"));
  EXPECT_EQ(ctl::port_fields(*cfg_.find_port("p2"), dp::BridgeType::kSwitch)[2].value, "br0/p3");
  EXPECT_EQ(select("Interface", "p2")["options"], json::parse(R"(["map", [["peer", "p3"]]])"));
}

TEST_F(OvsBindingTest, RefusalIsTheTransactionsError) {
  refuse_ = true;
  const json r = add_port("p9", json::object());
  ASSERT_TRUE(r["result"].back().contains("error")) << r;
  EXPECT_EQ(r["result"].back()["error"], "kvnet error");
  EXPECT_EQ(r["result"].back()["details"], "refused by the test");
  EXPECT_TRUE(select("Port", "p9").is_null());
  refuse_ = false;
  // kvnet's own rules, through its messages.
  const json t = add_port("p8", {{"type", "dpdk"}});
  EXPECT_NE(t["result"].back()["details"].get<std::string>().find("type 'dpdk' is unknown"), std::string::npos) << t;
  const json two = call("transact", json::parse(R"(["Open_vSwitch",
      {"op":"insert","table":"Interface","uuid-name":"a","row":{"name":"q1"}},
      {"op":"insert","table":"Interface","uuid-name":"b","row":{"name":"q2"}},
      {"op":"insert","table":"Port","uuid-name":"p","row":{"name":"q1","interfaces":["set",[["named-uuid","a"],["named-uuid","b"]]]}},
      {"op":"mutate","table":"Bridge","where":[],"mutations":[["ports","insert",["set",[["named-uuid","p"]]]]]}])"));
  EXPECT_NE(two["result"].back()["details"].get<std::string>().find("bonds are not supported"), std::string::npos) << two;
  // Mirrors are read-only here.
  const json m = call("transact", json::parse(R"(["Open_vSwitch",
      {"op":"insert","table":"Mirror","uuid-name":"m","row":{"name":"m1","select_all":true}},
      {"op":"mutate","table":"Bridge","where":[],"mutations":[["mirrors","insert",["set",[["named-uuid","m"]]]]]}])"));
  EXPECT_NE(m["result"].back()["details"].get<std::string>().find("read-only"), std::string::npos) << m;
  // Open_vSwitch's own columns need no change: next_cfg, as ovs-vsctl bumps it,
  // and cur_cfg follows once committed.
  changes_ = 0;
  call("transact", json::parse(R"(["Open_vSwitch",
      {"op":"mutate","table":"Open_vSwitch","where":[],"mutations":[["next_cfg","+=",1]]}])"));
  EXPECT_EQ(changes_, 0);
  const json o = call("transact", json::parse(R"(["Open_vSwitch",
      {"op":"select","table":"Open_vSwitch","where":[],"columns":["next_cfg","cur_cfg"]}])"));
  EXPECT_EQ(o["result"][0]["rows"][0]["cur_cfg"], o["result"][0]["rows"][0]["next_cfg"]);
  EXPECT_EQ(o["result"][0]["rows"][0]["cur_cfg"], 1);
}

}  // namespace
}  // namespace kvnet::daemon
