#include "ovsdb/server.h"

#include <gtest/gtest.h>

#include <thread>

namespace kvnet::ovsdb {
namespace {

class OvsdbServer : public ::testing::Test {
 protected:
  OvsdbServer()
      : server_(Server::Hooks{
            [this](const Database& next, const Changes& ch) -> Status {
              ++validated_;
              (void)ch;
              for (const auto& [u, r] : next.rows("Bridge"))
                if (next.get(next.schema().table_index("Bridge"), r, "name") == Datum::scalar(std::string("bad")))
                  return Error{"bridge 'bad': refused by kvnet"};
              return Ok{};
            },
            [this](const Changes&) { ++committed_; },
            [this](uint64_t, const std::string& c) { comments_.push_back(c); }}) {
    a_ = open();
    b_ = open();
    call(a_, "transact", json::parse(R"(["Open_vSwitch", {"op":"insert","table":"Open_vSwitch","row":{}}])"));
  }

  uint64_t open() {
    const uint64_t s = server_.open([this, n = sent_.size()](const json& m) { sent_[n].push_back(m); });
    sent_.emplace_back();
    return s;
  }
  std::vector<json>& out(uint64_t s) { return sent_[s - 1]; }

  // Sends a request and returns its reply (the last message with its id).
  json call(uint64_t s, const std::string& method, json params) {
    const int id = next_id_++;
    server_.receive(s, make_request(method, std::move(params), id));
    for (auto it = out(s).rbegin(); it != out(s).rend(); ++it)
      if ((*it).contains("id") && (*it)["id"] == id) return *it;
    return nullptr;
  }
  json add_br(uint64_t s, const std::string& name) {
    return call(s, "transact", json::parse(R"(["Open_vSwitch",
      {"op":"insert","table":"Interface","row":{"name":")" + name + R"("},"uuid-name":"i"},
      {"op":"insert","table":"Port","row":{"name":")" + name + R"(","interfaces":["named-uuid","i"]},"uuid-name":"p"},
      {"op":"insert","table":"Bridge","row":{"name":")" + name + R"(","ports":["named-uuid","p"]},"uuid-name":"b"},
      {"op":"mutate","table":"Open_vSwitch","where":[],"mutations":[["bridges","insert",["named-uuid","b"]]]},
      {"op":"comment","comment":"add-br )" + name + R"("}])"));
  }
  // The notifications `s` received with this method.
  std::vector<json> notes(uint64_t s, const std::string& method) {
    std::vector<json> v;
    for (const json& m : out(s))
      if (m.value("method", "") == method) v.push_back(m);
    return v;
  }

  Server server_;
  std::vector<std::vector<json>> sent_;
  uint64_t a_ = 0, b_ = 0;
  int next_id_ = 1;
  int validated_ = 0, committed_ = 0;
  std::vector<std::string> comments_;
};

TEST_F(OvsdbServer, BasicMethods) {
  EXPECT_EQ(call(a_, "list_dbs", json::array())["result"], json::parse(R"(["Open_vSwitch", "_Server"])"));
  const json schema = call(a_, "get_schema", json::array({"Open_vSwitch"}));
  EXPECT_EQ(schema["result"]["name"], "Open_vSwitch");
  EXPECT_TRUE(schema["result"]["tables"].contains("Interface"));
  EXPECT_EQ(call(a_, "get_schema", json::array({"nope"}))["error"]["error"], "unknown database");
  EXPECT_EQ(call(a_, "echo", json::array({"x", 1}))["result"], json::parse(R"(["x", 1])"));
  EXPECT_EQ(call(a_, "frob", json::array())["error"]["error"], "unknown method");
  EXPECT_EQ(call(a_, "set_db_change_aware", json::array({true}))["result"], json::object());
  // A malformed request with an id gets an error; without one, nothing.
  server_.receive(a_, json::parse(R"({"method":"echo","params":{},"id":99})"));
  EXPECT_EQ(out(a_).back()["id"], 99);
  EXPECT_TRUE(out(a_).back()["result"].is_null());
  const size_t n = out(a_).size();
  server_.receive(a_, json::parse(R"({"junk":1})"));
  EXPECT_EQ(out(a_).size(), n);
}

TEST_F(OvsdbServer, TransactGoesThroughTheValidator) {
  const json ok = add_br(a_, "br0");
  EXPECT_TRUE(ok["error"].is_null());
  EXPECT_EQ(ok["result"].size(), 5u);
  EXPECT_EQ(comments_, std::vector<std::string>{"add-br br0"});
  EXPECT_EQ(committed_, 2);  // the Open_vSwitch row, then the bridge
  const json bad = add_br(a_, "bad");
  EXPECT_EQ(bad["result"].back(), json::parse(R"({"error":"kvnet error","details":"bridge 'bad': refused by kvnet"})"));
  EXPECT_EQ(committed_, 2);
  EXPECT_EQ(call(a_, "transact", json::array({"nope"}))["error"]["error"], "unknown database");
}

TEST_F(OvsdbServer, MonitorSendsInitialRowsThenUpdates) {
  ASSERT_TRUE(add_br(a_, "br0")["error"].is_null());
  const json r = call(b_, "monitor", json::parse(R"(["Open_vSwitch", "m1", {"Bridge": {"columns": ["name", "stp_enable"]}}])"));
  ASSERT_TRUE(r["error"].is_null()) << r;
  ASSERT_EQ(r["result"]["Bridge"].size(), 1u);
  const json row = r["result"]["Bridge"].begin().value()["new"];
  EXPECT_EQ(row, json::parse(R"({"name":"br0","stp_enable":false})"));
  // A change by another session: "old" holds the changed columns only.
  call(a_, "transact", json::parse(R"(["Open_vSwitch", {"op":"update","table":"Bridge","where":[],"row":{"stp_enable":true}}])"));
  auto ups = notes(b_, "update");
  ASSERT_EQ(ups.size(), 1u);
  EXPECT_EQ(ups[0]["params"][0], "m1");
  const json u = ups[0]["params"][1]["Bridge"].begin().value();
  EXPECT_EQ(u["old"], json::parse(R"({"stp_enable":false})"));
  EXPECT_EQ(u["new"], json::parse(R"({"name":"br0","stp_enable":true})"));
  // A change to a column not monitored: no update.
  call(a_, "transact", json::parse(R"(["Open_vSwitch", {"op":"update","table":"Bridge","where":[],"row":{"external_ids":["map",[["a","b"]]]}}])"));
  EXPECT_EQ(notes(b_, "update").size(), 1u);
  // Same id twice, cancel, unknown id.
  EXPECT_EQ(call(b_, "monitor", json::parse(R"(["Open_vSwitch", "m1", {}])"))["error"]["error"], "duplicate monitor ID");
  EXPECT_EQ(call(b_, "monitor_cancel", json::array({"m1"}))["result"], json::object());
  EXPECT_EQ(call(b_, "monitor_cancel", json::array({"m1"}))["error"]["error"], "unknown monitor");
  EXPECT_EQ(call(b_, "monitor", json::parse(R"(["Open_vSwitch", "m2", {"Nope": {}}])"))["error"]["error"], "syntax error");
}

TEST_F(OvsdbServer, MonitorCondSendsDiffsAndFollowsConditions) {
  ASSERT_TRUE(add_br(a_, "br0")["error"].is_null());
  ASSERT_TRUE(add_br(a_, "br1")["error"].is_null());
  const json r = call(b_, "monitor_cond", json::parse(R"(["Open_vSwitch", "c",
      {"Port": [{"columns": ["name", "trunks", "external_ids", "tag"], "where": [["name", "==", "br1"]]}]}])"));
  ASSERT_EQ(r["result"]["Port"].size(), 1u) << r;
  EXPECT_EQ(r["result"]["Port"].begin().value()["initial"]["name"], "br1");
  call(a_, "transact", json::parse(R"(["Open_vSwitch",
      {"op":"update","table":"Port","where":[],"row":{"trunks":["set",[10,20]],"external_ids":["map",[["k","v"]]],"tag":5}}])"));
  call(a_, "transact", json::parse(R"(["Open_vSwitch",
      {"op":"update","table":"Port","where":[],"row":{"trunks":["set",[20,30]],"external_ids":["map",[["k","w"],["n","1"]]]}}])"));
  auto ups = notes(b_, "update2");
  ASSERT_EQ(ups.size(), 2u);  // br0's changes are not monitored
  const json m = ups[1]["params"][1]["Port"].begin().value()["modify"];
  EXPECT_EQ(m["trunks"], json::parse(R"(["set",[10,30]])"));                  // toggled
  EXPECT_EQ(m["external_ids"], json::parse(R"(["map",[["k","w"],["n","1"]]])"));  // replaced and added
  EXPECT_FALSE(m.contains("tag"));
  // A column of at most one value is sent whole, as ovsdb-server does (the
  // IDL replaces it; a diff [5, 6] would be read as two values).
  call(a_, "transact", json::parse(R"(["Open_vSwitch", {"op":"update","table":"Port","where":[],"row":{"tag":6}}])"));
  ups = notes(b_, "update2");
  ASSERT_EQ(ups.size(), 3u);
  EXPECT_EQ(ups[2]["params"][1]["Port"].begin().value()["modify"]["tag"], 6);
  // New conditions: br1 leaves, br0 enters.
  const json ch = call(b_, "monitor_cond_change", json::parse(R"(["c", "c2", {"Port": [{"where": [["name", "==", "br0"]]}]}])"));
  EXPECT_EQ(ch["result"], json::object()) << ch;
  ups = notes(b_, "update2");
  ASSERT_EQ(ups.size(), 4u);
  EXPECT_EQ(ups[3]["params"][0], "c2");
  size_t inserts = 0, deletes = 0;
  for (const auto& [u, v] : ups[3]["params"][1]["Port"].items()) {
    inserts += v.contains("insert");
    deletes += v.contains("delete");
  }
  EXPECT_EQ(inserts, 1u);
  EXPECT_EQ(deletes, 1u);
  // A literal false matches nothing.
  EXPECT_TRUE(call(b_, "monitor_cond", json::parse(R"(["Open_vSwitch", "f", {"Port": [{"where": [false]}]}])"))["result"].empty());
}

TEST_F(OvsdbServer, MonitorCondSinceAndTheServerDatabase) {
  const json r = call(b_, "monitor_cond_since", json::parse(R"(["Open_vSwitch", "s", {"Bridge": [{}]},
      "00000000-0000-0000-0000-000000000000"])"));
  ASSERT_TRUE(r["result"].is_array()) << r;
  EXPECT_EQ(r["result"][0], false);  // no history: the whole contents
  EXPECT_TRUE(Uuid::parse(r["result"][1].get<std::string>()));
  ASSERT_TRUE(add_br(a_, "br0")["error"].is_null());
  auto ups = notes(b_, "update3");
  ASSERT_EQ(ups.size(), 1u);
  EXPECT_NE(ups[0]["params"][1], r["result"][1]);  // a new transaction id
  EXPECT_TRUE(ups[0]["params"][2]["Bridge"].begin().value().contains("insert"));

  const json db = call(b_, "monitor_cond", json::parse(R"(["_Server", "db", {"Database": [{"where": [["name", "==", "Open_vSwitch"]],
      "columns": ["name", "model", "connected", "leader", "schema"]}]}])"));
  ASSERT_EQ(db["result"]["Database"].size(), 1u) << db;
  const json row = db["result"]["Database"].begin().value()["initial"];
  EXPECT_EQ(row["model"], "standalone");
  EXPECT_EQ(row["connected"], true);
  EXPECT_EQ(json::parse(row["schema"].get<std::string>())["name"], "Open_vSwitch");
  const json w = call(a_, "transact", json::parse(R"(["_Server", {"op":"delete","table":"Database","where":[]}])"));
  EXPECT_NE(w["result"].back()["details"].get<std::string>().find("read-only"), std::string::npos) << w;
}

TEST_F(OvsdbServer, WaitIsDeferredUntilTheConditionHolds) {
  // ovs-vsctl --wait style: wait until a bridge exists.
  server_.receive(b_, json::parse(R"({"method":"transact","id":"w","params":["Open_vSwitch",
      {"op":"wait","timeout":10000,"table":"Bridge","where":[],"columns":["name"],"until":"==","rows":[{"name":"br0"}]},
      {"op":"select","table":"Bridge","where":[],"columns":["name"]}]})"));
  EXPECT_TRUE(out(b_).empty());
  EXPECT_TRUE(server_.next_deadline());
  ASSERT_TRUE(add_br(a_, "br0")["error"].is_null());
  ASSERT_EQ(out(b_).size(), 1u);
  EXPECT_EQ(out(b_)[0]["id"], "w");
  EXPECT_EQ(out(b_)[0]["result"][1]["rows"][0]["name"], "br0");
  EXPECT_FALSE(server_.next_deadline());
  // One that never holds times out at its deadline.
  server_.receive(b_, json::parse(R"({"method":"transact","id":"x","params":["Open_vSwitch",
      {"op":"wait","timeout":1,"table":"Bridge","where":[],"columns":["name"],"until":"==","rows":[]}]})"));
  ASSERT_TRUE(server_.next_deadline());
  server_.expire(*server_.next_deadline());
  EXPECT_EQ(out(b_).back()["id"], "x");
  EXPECT_EQ(out(b_).back()["result"][0]["error"], "timed out");
  // And one canceled by the client.
  server_.receive(b_, json::parse(R"({"method":"transact","id":"y","params":["Open_vSwitch",
      {"op":"wait","timeout":10000,"table":"Bridge","where":[],"columns":["name"],"until":"==","rows":[]}]})"));
  server_.receive(b_, make_notification("cancel", json::array({"y"})));
  EXPECT_EQ(out(b_).back()["id"], "y");
  EXPECT_EQ(out(b_).back()["error"]["error"], "canceled");
  EXPECT_FALSE(server_.next_deadline());
}

TEST_F(OvsdbServer, LocksStealsAndHandOver) {
  EXPECT_EQ(call(a_, "lock", json::array({"L"}))["result"]["locked"], true);
  EXPECT_EQ(call(b_, "lock", json::array({"L"}))["result"]["locked"], false);
  EXPECT_EQ(call(b_, "lock", json::array({"L"}))["error"]["error"], "duplicate lock");
  // The owner may assert it; the waiter may not.
  EXPECT_TRUE(call(a_, "transact", json::parse(R"(["Open_vSwitch", {"op":"assert","lock":"L"}])"))["result"][0].empty());
  EXPECT_EQ(call(b_, "transact", json::parse(R"(["Open_vSwitch", {"op":"assert","lock":"L"}])"))["result"][0]["error"],
            "not owner");
  call(a_, "unlock", json::array({"L"}));
  ASSERT_EQ(notes(b_, "locked").size(), 1u);
  EXPECT_EQ(notes(b_, "locked")[0]["params"], json::array({"L"}));
  EXPECT_EQ(call(a_, "steal", json::array({"L"}))["result"]["locked"], true);
  ASSERT_EQ(notes(b_, "stolen").size(), 1u);
  EXPECT_EQ(call(b_, "unlock", json::array({"L"}))["error"]["error"], "unknown lock");
  // A closed session's lock goes to the next in line.
  EXPECT_EQ(call(b_, "lock", json::array({"L"}))["result"]["locked"], false);
  server_.close(a_);
  EXPECT_EQ(notes(b_, "locked").size(), 2u);
  EXPECT_EQ(server_.sessions(), 1u);
}

TEST_F(OvsdbServer, PublishedChangesReachMonitors) {
  const json r = call(b_, "monitor", json::parse(R"(["Open_vSwitch", "m", {"Open_vSwitch": {"columns": ["cur_cfg"]}}])"));
  ASSERT_EQ(r["result"]["Open_vSwitch"].size(), 1u);
  auto tables = server_.vswitch().snapshot();
  const int t = vswitch_schema().table_index("Open_vSwitch");
  Row& row = tables[static_cast<size_t>(t)].begin()->second;
  row.columns[static_cast<size_t>(vswitch_schema().tables[static_cast<size_t>(t)].column_index("cur_cfg"))] =
      Datum::scalar(int64_t{3});
  server_.publish(server_.vswitch().apply_direct(tables));
  auto ups = notes(b_, "update");
  ASSERT_EQ(ups.size(), 1u);
  EXPECT_EQ(ups[0]["params"][1]["Open_vSwitch"].begin().value()["new"]["cur_cfg"], 3);
}

}  // namespace
}  // namespace kvnet::ovsdb
