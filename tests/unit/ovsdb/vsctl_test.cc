// ovs-vsctl's command language (ovsdb/vsctl.h) on a database of its own:
// values in OVSDB's text syntax, the bridge and port commands, the database
// commands, one transaction per command line, errors in ovs-vsctl's words.
#include "ovsdb/vsctl.h"

#include <gtest/gtest.h>

#include "ovsdb/schema.h"

namespace kvnet::ovsdb {
namespace {

Type type_of(const char* table, const char* column) { return vswitch_schema().table(table)->column(column)->type; }

TEST(VsctlText, ValuesBothWays) {
  const Type trunks = type_of("Port", "trunks"), tag = type_of("Port", "tag"), ids = type_of("Interface", "external_ids");
  EXPECT_EQ(datum_to_text(trunks, *datum_from_text(trunks, "[101,102]")), "[101, 102]");
  EXPECT_EQ(datum_to_text(trunks, *datum_from_text(trunks, "101, 102")), "[101, 102]");
  EXPECT_EQ(datum_to_text(trunks, *datum_from_text(trunks, "[]")), "[]");
  EXPECT_EQ(datum_to_text(tag, *datum_from_text(tag, "10")), "10");
  EXPECT_EQ(datum_to_text(tag, Datum{}), "[]");
  const auto m = datum_from_text(ids, R"({iface-id=abc, attached-mac="52:54:00:00:00:01", "a,b"="x=y"})");
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(datum_to_text(ids, *m), R"({"a,b"="x=y", attached-mac="52:54:00:00:00:01", iface-id=abc})");
  // Strings bare only when they are plain words (not true/false, not empty).
  EXPECT_EQ(atom_to_text(Atom{std::string("vnet0")}), "vnet0");
  EXPECT_EQ(atom_to_text(Atom{std::string("")}), "\"\"");
  EXPECT_EQ(atom_to_text(Atom{std::string("true")}), "\"true\"");
  EXPECT_EQ(atom_to_text(Atom{std::string("1abc")}), "\"1abc\"");
  // What is not a value of the type says so.
  EXPECT_NE(datum_from_text(tag, "ten").error().message.find("not an integer"), std::string::npos);
  EXPECT_NE(datum_from_text(tag, "5000").error().message.find("5000"), std::string::npos);  // over 4095
  EXPECT_NE(datum_from_text(tag, "[1,2]").error().message.find("[1,2]"), std::string::npos);
  EXPECT_FALSE(datum_from_text(ids, "{a}"));
  EXPECT_FALSE(datum_from_text(ids, "{\"a=b}"));
  EXPECT_FALSE(datum_from_text(trunks, "{1=2}"));
  // Bytes that are not UTF-8 never reach the database (its JSON could not carry them).
  EXPECT_NE(datum_from_text(ids, "{a=\xa6}").error().message.find("not valid UTF-8"), std::string::npos);
}

class VsctlTest : public ::testing::Test {
 protected:
  VsctlTest() : db_(vswitch_schema()) {
    TxnContext ctx;
    db_.transact(json::parse(R"([{"op":"insert","table":"Open_vSwitch","row":{}}])"), ctx, {});
  }
  // Runs a command line; the writes go to db_ as one transaction.
  Result<VsctlResult> run(std::vector<std::string> args) {
    return run_vsctl(db_, args, [&](const json& ops) -> Status {
      ++commits_;
      TxnContext ctx;
      const TxnOutcome o = db_.transact(ops, ctx, [&](const Database&, const Changes&) -> Status {
        if (refuse_) return Error{"kvnet says no"};
        return Ok{};
      });
      if (!o.committed) {
        for (const auto& r : o.reply)
          if (r.is_object() && r.contains("error")) return Error{r.value("details", r["error"].get<std::string>())};
        return Error{"not committed"};
      }
      return Ok{};
    });
  }
  std::string out(std::vector<std::string> args) {
    auto r = run(std::move(args));
    EXPECT_TRUE(r) << r.error().message;
    return r ? r->output : "";
  }
  std::string error(std::vector<std::string> args) {
    auto r = run(std::move(args));
    EXPECT_FALSE(r);
    return r ? "" : r.error().message;
  }

  Database db_;
  int commits_ = 0;
  bool refuse_ = false;
};

TEST_F(VsctlTest, ChainsAreOneTransaction) {
  // libvirt's chain, in one transaction.
  out({"--may-exist", "add-br", "br-int"});
  EXPECT_EQ(commits_, 1);
  out({"--timeout=5", "--", "--if-exists", "del-port", "vnet0", "--", "add-port", "br-int", "vnet0", "tag=10", "--",
       "set", "Interface", "vnet0", "external-ids:attached-mac=\"52:54:00:aa:bb:01\"", "external-ids:iface-id=abc"});
  EXPECT_EQ(commits_, 2);
  EXPECT_EQ(out({"list-ports", "br-int"}), "vnet0\n");
  EXPECT_EQ(out({"get", "Port", "vnet0", "tag"}), "10\n");
  EXPECT_EQ(out({"get", "Interface", "vnet0", "external_ids:iface-id", "external-ids:attached-mac"}),
            "abc\n\"52:54:00:aa:bb:01\"\n");
  EXPECT_EQ(out({"port-to-br", "vnet0"}), "br-int\n");
  EXPECT_EQ(out({"iface-to-br", "vnet0"}), "br-int\n");
  EXPECT_EQ(out({"list-br"}), "br-int\n");
  EXPECT_EQ(commits_, 2);  // reads commit nothing
  // Reads see earlier commands of the same line.
  EXPECT_EQ(out({"add-port", "br-int", "vnet1", "--", "get", "Port", "vnet1", "name"}), "vnet1\n");
  // --may-exist, --if-exists, and ovs-vsctl's own refusals.
  out({"--may-exist", "add-port", "br-int", "vnet0"});
  out({"--if-exists", "del-port", "nothing"});
  out({"--if-exists", "del-br", "nothing"});
  EXPECT_EQ(error({"add-port", "br-int", "vnet0"}),
            "cannot create a port named vnet0 because a port named vnet0 already exists on bridge br-int");
  EXPECT_EQ(error({"add-br", "br-int"}), "cannot create a bridge named br-int because a bridge named br-int already exists");
  EXPECT_EQ(error({"del-port", "nothing"}), "no port named nothing");
  EXPECT_EQ(error({"add-port", "nobr", "x"}), "no bridge named nobr");
  EXPECT_EQ(error({"get", "Interface", "vnet0", "external_ids:nokey"}),
            "no key \"nokey\" in Interface record \"vnet0\" column external_ids");
  EXPECT_EQ(out({"--if-exists", "get", "Interface", "vnet0", "external_ids:nokey"}), "");
  EXPECT_EQ(error({"get", "Bogus", "x", "y"}), "unknown table \"Bogus\"");
  EXPECT_EQ(error({"get", "Port", "vnet0", "nocol"}), "Port does not contain a column whose name matches \"nocol\"");
  EXPECT_NE(error({"frob", "x"}).find("'frob' is not taken"), std::string::npos);
  EXPECT_NE(error({"--bogus", "list-br"}).find("'--bogus' is not taken"), std::string::npos);
  EXPECT_NE(error({"add-br", "b", "br-int", "10"}).find("fake bridge"), std::string::npos);
  // A refused transaction: the error, and nothing changed.
  refuse_ = true;
  EXPECT_EQ(error({"add-port", "br-int", "vnet2", "--", "set", "Port", "vnet2", "tag=5"}), "kvnet says no");
  refuse_ = false;
  EXPECT_EQ(out({"list-ports", "br-int"}), "vnet0\nvnet1\n");
  // del-port then del-br.
  out({"del-port", "br-int", "vnet1"});
  EXPECT_EQ(out({"list-ports", "br-int"}), "vnet0\n");
  EXPECT_EQ(out({"br-exists", "br-int"}), "");
  EXPECT_EQ(run({"br-exists", "nope"})->exit_code, 2);
  out({"del-br", "br-int"});
  EXPECT_EQ(out({"list-br"}), "");
  EXPECT_TRUE(db_.rows("Port").empty());  // collected with their bridge
}

TEST_F(VsctlTest, DatabaseCommands) {
  out({"add-br", "br0", "--", "add-port", "br0", "p1", "--", "add-port", "br0", "p2"});
  out({"set", "Port", "p1", "trunks=[101,102]", "vlan_mode=trunk", "other_config:k=v"});
  EXPECT_EQ(out({"get", "Port", "p1", "trunks", "vlan_mode", "other_config"}), "[101, 102]\ntrunk\n{k=v}\n");
  out({"clear", "Port", "p1", "trunks", "--", "add", "Port", "p1", "trunks", "7", "8", "--", "remove", "Port", "p1",
       "other_config", "k"});
  EXPECT_EQ(out({"get", "Port", "p1", "trunks", "other_config"}), "[7, 8]\n{}\n");
  EXPECT_EQ(error({"clear", "Port", "p1", "name"}),
            "\"clear\" operation cannot be applied to column name of table Port, which is not allowed to be empty");
  out({"set", "Interface", "p2", "external_ids:iface-id=x1"});
  EXPECT_EQ(out({"--bare", "--columns=name", "find", "Interface", "external_ids:iface-id=x1"}), "p2\n");
  EXPECT_EQ(out({"--bare", "--columns=name", "find", "Port", "tag=[]", "name!=br0"}), "p1\n\np2\n");  // as ovs-vsctl
  EXPECT_EQ(out({"--bare", "--columns=trunks,other_config", "list", "Port", "p1"}), "7 8\n\n");
  out({"set", "Port", "p1", "other_config:a=\"x y\""});
  EXPECT_EQ(out({"--bare", "--columns=other_config", "list", "Port", "p1"}), "a=x y\n");
  const std::string list = out({"--columns=name,tag", "list", "Port", "p1"});
  EXPECT_EQ(list, "name                : p1\ntag                 : []\n");
  // The Open_vSwitch record is ".".
  out({"set", "Open_vSwitch", ".", "external_ids:system-id=host1"});
  EXPECT_EQ(out({"get", "Open_vSwitch", ".", "external_ids:system-id"}), "host1\n");
}

}  // namespace
}  // namespace kvnet::ovsdb
