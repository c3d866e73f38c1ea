#include "ovsdb/db.h"

#include <gtest/gtest.h>

namespace kvnet::ovsdb {
namespace {

class OvsdbDb : public ::testing::Test {
 protected:
  OvsdbDb() : db_(vswitch_schema()) {
    // The one Open_vSwitch row, as ovsdb-server's database starts with it.
    auto out = txn(R"([{"op":"insert","table":"Open_vSwitch","row":{}}])");
    EXPECT_TRUE(out.committed) << out.reply;
  }

  TxnOutcome txn(const char* ops, const Validator& v = nullptr) {
    return db_.transact(json::parse(ops), ctx_, v);
  }

  // A bridge with one port and its interface, as ovs-vsctl add-br writes it.
  TxnOutcome add_br(const std::string& name) {
    const std::string ops = R"([
      {"op":"insert","table":"Interface","row":{"name":")" + name + R"(","type":"internal"},"uuid-name":"i"},
      {"op":"insert","table":"Port","row":{"name":")" + name + R"(","interfaces":["named-uuid","i"]},"uuid-name":"p"},
      {"op":"insert","table":"Bridge","row":{"name":")" + name + R"(","ports":["named-uuid","p"]},"uuid-name":"b"},
      {"op":"mutate","table":"Open_vSwitch","where":[],"mutations":[["bridges","insert",["set",[["named-uuid","b"]]]],["next_cfg","+=",1]]},
      {"op":"comment","comment":"ovs-vsctl: add-br"}
    ])";
    return db_.transact(json::parse(ops), ctx_, nullptr);
  }

  size_t count(const char* table) const { return db_.rows(table).size(); }

  Database db_;
  TxnContext ctx_;
};

TEST_F(OvsdbDb, InsertWithNamedUuidsAndSelect) {
  std::vector<std::string> comments;
  ctx_.comment = [&](const std::string& c) { comments.push_back(c); };
  auto out = add_br("br0");
  ASSERT_TRUE(out.committed) << out.reply;
  ASSERT_EQ(out.reply.size(), 5u);
  EXPECT_TRUE(out.reply[0].contains("uuid"));
  EXPECT_EQ(out.reply[3], json::parse(R"({"count":1})"));
  EXPECT_EQ(comments, std::vector<std::string>{"ovs-vsctl: add-br"});
  EXPECT_EQ(count("Bridge"), 1u);
  EXPECT_EQ(count("Port"), 1u);
  EXPECT_EQ(count("Interface"), 1u);
  // The changes: four rows inserted or modified.
  size_t n = 0;
  for (const auto& [t, rows] : out.changes) n += rows.size();
  EXPECT_EQ(n, 4u);

  auto sel = txn(R"([{"op":"select","table":"Bridge","where":[["name","==","br0"]],"columns":["name","ports"]}])");
  ASSERT_TRUE(sel.committed);
  ASSERT_EQ(sel.reply[0]["rows"].size(), 1u);
  EXPECT_EQ(sel.reply[0]["rows"][0]["name"], "br0");
  EXPECT_EQ(sel.reply[0]["rows"][0]["ports"][0], "uuid");  // one port: written as the atom
  auto cfg = txn(R"([{"op":"select","table":"Open_vSwitch","where":[],"columns":["next_cfg"]}])");
  EXPECT_EQ(cfg.reply[0]["rows"][0]["next_cfg"], 1);
  EXPECT_FALSE(cfg.changed);
}

TEST_F(OvsdbDb, UnreferencedRowsAreCollected) {
  // A port nobody refers to is gone at commit (Port is not a root table).
  auto out = txn(R"([{"op":"insert","table":"Interface","row":{"name":"x"},"uuid-name":"i"},
                     {"op":"insert","table":"Port","row":{"name":"x","interfaces":["named-uuid","i"]}}])");
  EXPECT_TRUE(out.committed) << out.reply;
  EXPECT_EQ(count("Port"), 0u);
  EXPECT_EQ(count("Interface"), 0u);
  // Removing the bridge from Open_vSwitch takes its port and interface along.
  ASSERT_TRUE(add_br("br0").committed);
  auto del = txn(R"([{"op":"update","table":"Open_vSwitch","where":[],"row":{"bridges":["set",[]]}}])");
  ASSERT_TRUE(del.committed) << del.reply;
  EXPECT_EQ(count("Bridge"), 0u);
  EXPECT_EQ(count("Port"), 0u);
  EXPECT_EQ(count("Interface"), 0u);
}

TEST_F(OvsdbDb, StrongReferencesMustExist) {
  ASSERT_TRUE(add_br("br0").committed);
  // Deleting the interface while its port still refers to it.
  auto out = txn(R"([{"op":"delete","table":"Interface","where":[["name","==","br0"]]}])");
  EXPECT_FALSE(out.committed);
  ASSERT_EQ(out.reply.size(), 2u);  // the operation's result, then the commit's error
  EXPECT_EQ(out.reply[0], json::parse(R"({"count":1})"));
  EXPECT_EQ(out.reply[1]["error"], "referential integrity violation") << out.reply;
  EXPECT_EQ(count("Interface"), 1u);  // nothing changed
}

TEST_F(OvsdbDb, WeakReferencesAreDropped) {
  ASSERT_TRUE(add_br("br0").committed);
  auto m = txn(R"([{"op":"insert","table":"Mirror","row":{"name":"m","select_all":true},"uuid-name":"m"},
                   {"op":"select","table":"Port","where":[["name","==","br0"]],"columns":["_uuid"]},
                   {"op":"mutate","table":"Bridge","where":[["name","==","br0"]],"mutations":[["mirrors","insert",["set",[["named-uuid","m"]]]]]}])");
  ASSERT_TRUE(m.committed) << m.reply;
  const json port = m.reply[1]["rows"][0]["_uuid"];
  auto set_out = db_.transact(json::array({json{{"op", "update"}, {"table", "Mirror"}, {"where", json::array()},
                                                {"row", json{{"output_port", port}}}}}),
                              ctx_, nullptr);
  ASSERT_TRUE(set_out.committed) << set_out.reply;
  // The port goes (with the bridge's ports emptied): the mirror's weak
  // reference to it goes too, without an error.
  auto out = txn(R"([{"op":"update","table":"Bridge","where":[],"row":{"ports":["set",[]]}}])");
  ASSERT_TRUE(out.committed) << out.reply;
  EXPECT_EQ(count("Port"), 0u);
  const Row& mirror = db_.rows("Mirror").begin()->second;
  EXPECT_EQ(db_.get(vswitch_schema().table_index("Mirror"), mirror, "output_port").size(), 0u);
}

TEST_F(OvsdbDb, UniqueIndexAndMaxRows) {
  ASSERT_TRUE(add_br("br0").committed);
  auto dup = add_br("br0");
  EXPECT_FALSE(dup.committed);
  EXPECT_EQ(dup.reply.back()["error"], "constraint violation");
  EXPECT_NE(dup.reply.back()["details"].get<std::string>().find("identical values (\"br0\")"), std::string::npos)
      << dup.reply;
  auto second = txn(R"([{"op":"insert","table":"Open_vSwitch","row":{}}])");
  EXPECT_FALSE(second.committed);
  EXPECT_NE(second.reply.back()["details"].get<std::string>().find("more than its maximum of 1"), std::string::npos);
}

TEST_F(OvsdbDb, FailedOperationLeavesNullsAndChangesNothing) {
  auto out = txn(R"([{"op":"insert","table":"Bridge","row":{"name":"b"},"uuid-name":"b"},
                     {"op":"mutate","table":"Open_vSwitch","where":[],"mutations":[["bridges","insert",["named-uuid","b"]]]},
                     {"op":"update","table":"Bridge","where":[],"row":{"name":"renamed"}},
                     {"op":"select","table":"Bridge","where":[]}])");
  EXPECT_FALSE(out.committed);
  ASSERT_EQ(out.reply.size(), 4u);
  EXPECT_EQ(out.reply[2]["error"], "constraint violation");  // name is immutable
  EXPECT_TRUE(out.reply[3].is_null());
  EXPECT_EQ(count("Bridge"), 0u);

  auto unknown = txn(R"([{"op":"frobnicate","table":"Bridge"}])");
  EXPECT_EQ(unknown.reply[0]["error"], "syntax error");
  auto column = txn(R"([{"op":"select","table":"Bridge","where":[["nope","==",1]]}])");
  EXPECT_EQ(column.reply[0]["error"], "syntax error");
  auto table = txn(R"([{"op":"select","table":"Nope","where":[]}])");
  EXPECT_EQ(table.reply[0]["error"], "syntax error");
  auto aborted = txn(R"([{"op":"insert","table":"Open_vSwitch","row":{}},{"op":"abort"}])");
  EXPECT_FALSE(aborted.committed);
  EXPECT_EQ(aborted.reply[1]["error"], "aborted");
  auto dup_name = txn(R"([{"op":"insert","table":"Bridge","row":{"name":"a"},"uuid-name":"x"},
                          {"op":"insert","table":"Bridge","row":{"name":"b"},"uuid-name":"x"}])");
  EXPECT_EQ(dup_name.reply[1]["error"], "duplicate uuid-name");
}

TEST_F(OvsdbDb, MutationsOnSetsMapsAndNumbers) {
  ASSERT_TRUE(add_br("br0").committed);
  auto out = txn(R"([{"op":"mutate","table":"Port","where":[["name","==","br0"]],"mutations":[
      ["trunks","insert",["set",[10,20,30]]], ["trunks","delete",20],
      ["external_ids","insert",["map",[["a","1"],["b","2"]]]], ["external_ids","delete",["set",["a"]]],
      ["bond_updelay","+=",5], ["bond_updelay","*=",3]]}])");
  ASSERT_TRUE(out.committed) << out.reply;
  auto sel = txn(R"([{"op":"select","table":"Port","where":[["name","==","br0"]],"columns":["trunks","external_ids","bond_updelay"]}])");
  const json row = sel.reply[0]["rows"][0];
  EXPECT_EQ(row["trunks"], json::parse(R"(["set",[10,30]])"));
  EXPECT_EQ(row["external_ids"], json::parse(R"(["map",[["b","2"]]])"));
  EXPECT_EQ(row["bond_updelay"], 15);
  // A map's insert keeps an existing key's value; delete by pair needs the value.
  ASSERT_TRUE(txn(R"([{"op":"mutate","table":"Port","where":[],"mutations":[["external_ids","insert",["map",[["b","9"]]]],["external_ids","delete",["map",[["b","9"]]]]]}])").committed);
  sel = txn(R"([{"op":"select","table":"Port","where":[],"columns":["external_ids"]}])");
  EXPECT_EQ(sel.reply[0]["rows"][0]["external_ids"], json::parse(R"(["map",[["b","2"]]])"));
  // Out of the column's range, and division by zero.
  auto range = txn(R"([{"op":"mutate","table":"Port","where":[],"mutations":[["trunks","insert",5000]]}])");
  EXPECT_EQ(range.reply[0]["error"], "constraint violation") << range.reply;
  auto div = txn(R"([{"op":"mutate","table":"Port","where":[],"mutations":[["bond_updelay","/=",0]]}])");
  EXPECT_EQ(div.reply[0]["error"], "domain error");
  auto big = txn(R"([{"op":"mutate","table":"Port","where":[],"mutations":[["bond_updelay","*=",9223372036854775807]]}])");
  EXPECT_EQ(big.reply[0]["error"], "range error");
}

TEST_F(OvsdbDb, ConditionsFunctions) {
  ASSERT_TRUE(add_br("br0").committed);
  ASSERT_TRUE(add_br("br1").committed);
  ASSERT_TRUE(txn(R"([{"op":"update","table":"Port","where":[["name","==","br1"]],"row":{"tag":7,"external_ids":["map",[["k","v"]]]}}])").committed);
  auto q = [&](const char* where) {
    const std::string ops = std::string(R"([{"op":"select","table":"Port","columns":["name"],"where":)") + where + "}]";
    auto out = db_.transact(json::parse(ops), ctx_, nullptr);
    EXPECT_TRUE(out.committed) << where << ": " << out.reply;
    return out.reply[0]["rows"].size();
  };
  EXPECT_EQ(q(R"([["tag","==",7]])"), 1u);
  EXPECT_EQ(q(R"([["tag","!=",7]])"), 1u);
  EXPECT_EQ(q(R"([["tag","<",8]])"), 1u);    // an empty optional matches no ordering
  EXPECT_EQ(q(R"([["tag",">=",8]])"), 0u);
  EXPECT_EQ(q(R"([["tag","==",["set",[]]]])"), 1u);
  EXPECT_EQ(q(R"([["external_ids","includes",["map",[["k","v"]]]]])"), 1u);
  EXPECT_EQ(q(R"([["external_ids","excludes",["map",[["k","v"]]]]])"), 1u);
  EXPECT_EQ(q(R"([["name","!=","br0"],["name","!=","br1"]])"), 0u);
  EXPECT_EQ(q(R"([])"), 2u);
}

TEST_F(OvsdbDb, WaitAndAssert) {
  ASSERT_TRUE(add_br("br0").committed);
  auto ok = txn(R"([{"op":"wait","timeout":0,"table":"Bridge","where":[],"columns":["name"],"until":"==","rows":[{"name":"br0"}]}])");
  EXPECT_TRUE(ok.committed) << ok.reply;
  auto no = txn(R"([{"op":"wait","timeout":0,"table":"Bridge","where":[],"columns":["name"],"until":"==","rows":[{"name":"br1"}]},
                    {"op":"insert","table":"Open_vSwitch","row":{}}])");
  EXPECT_FALSE(no.committed);
  EXPECT_EQ(no.reply[0]["error"], "timed out");
  EXPECT_FALSE(no.wait_ms);
  auto later = txn(R"([{"op":"wait","timeout":500,"table":"Bridge","where":[],"columns":["name"],"until":"!=","rows":[{"name":"br0"}]}])");
  EXPECT_FALSE(later.committed);
  EXPECT_EQ(later.wait_ms, 500);
  auto lock = txn(R"([{"op":"assert","lock":"ovs_vswitchd"}])");
  EXPECT_EQ(lock.reply[0]["error"], "not owner");
  ctx_.owns_lock = [](const std::string& l) { return l == "ovs_vswitchd"; };
  EXPECT_TRUE(txn(R"([{"op":"assert","lock":"ovs_vswitchd"}])").committed);
}

TEST_F(OvsdbDb, ValidatorRefusesAndSeesTheNextState) {
  size_t bridges_seen = 0;
  auto refuse = [&](const Database& next, const Changes&) -> Status {
    bridges_seen = next.rows("Bridge").size();
    return Error{"bridge 'br0': kvnet says no"};
  };
  const std::string ops = R"([{"op":"insert","table":"Bridge","row":{"name":"br0"},"uuid-name":"b"},
      {"op":"mutate","table":"Open_vSwitch","where":[],"mutations":[["bridges","insert",["named-uuid","b"]]]}])";
  auto out = db_.transact(json::parse(ops), ctx_, refuse);
  EXPECT_FALSE(out.committed);
  EXPECT_EQ(bridges_seen, 1u);
  EXPECT_EQ(out.reply.back(), json::parse(R"({"error":"kvnet error","details":"bridge 'br0': kvnet says no"})"));
  EXPECT_EQ(count("Bridge"), 0u);
}

TEST_F(OvsdbDb, VersionsChangeWithTheRow) {
  ASSERT_TRUE(add_br("br0").committed);
  const Row before = db_.rows("Bridge").begin()->second;
  ASSERT_TRUE(txn(R"([{"op":"update","table":"Bridge","where":[],"row":{"stp_enable":true}}])").committed);
  const Row& after = db_.rows("Bridge").begin()->second;
  EXPECT_EQ(after.uuid, before.uuid);
  EXPECT_NE(after.version, before.version);
  // An update that changes nothing changes no version.
  auto same = txn(R"([{"op":"update","table":"Bridge","where":[],"row":{"stp_enable":true}}])");
  EXPECT_TRUE(same.committed);
  EXPECT_FALSE(same.changed);
}

}  // namespace
}  // namespace kvnet::ovsdb
