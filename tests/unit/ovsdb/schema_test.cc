#include "ovsdb/schema.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace kvnet::ovsdb {
namespace {

TEST(OvsdbSchema, CompactNotation) {
  auto s = parse_schema_text(R"(
database Test 1.0.0
table Parent root maxRows=2 index=name
  name string immutable
  kids uuid->Kid 0..*
  tag integer[0..4095] 0..1
  mode string{access|trunk} 0..1
  opts map<string,string>
  ratio real[0.5..]
table Kid
  owner uuid->Parent(weak) 0..1
  ids map<integer[0..254],uuid->Kid>
  note string 0..1 ephemeral
)");
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->name, "Test");
  EXPECT_EQ(s->version, "1.0.0");
  const TableSchema* p = s->table("Parent");
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(p->is_root);
  EXPECT_EQ(p->max_rows, 2u);
  EXPECT_EQ(p->indexes, (std::vector<std::vector<std::string>>{{"name"}}));
  EXPECT_FALSE(p->column("name")->mutable_);
  EXPECT_EQ(p->column("kids")->type.key.ref_table, "Kid");
  EXPECT_EQ(p->column("kids")->type.max, kUnlimited);
  EXPECT_EQ(p->column("tag")->type.key.max_integer, 4095);
  EXPECT_TRUE(p->column("tag")->type.is_optional());
  EXPECT_EQ(p->column("mode")->type.key.enums.size(), 2u);
  EXPECT_TRUE(p->column("opts")->type.is_map());
  EXPECT_EQ(p->column("ratio")->type.key.min_real, 0.5);
  const TableSchema* k = s->table("Kid");
  EXPECT_TRUE(k->column("owner")->type.key.weak);
  EXPECT_EQ(k->column("ids")->type.key.max_integer, 254);
  EXPECT_TRUE(k->column("note")->ephemeral);
  // Round trip through JSON.
  auto back = DatabaseSchema::from_json(s->to_json());
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->to_json(), s->to_json());
}

TEST(OvsdbSchema, BadSchemasNameTheLine) {
  auto bad = parse_schema_text("database D 1\ntable T\n  c nothing\n");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("schema line 3"), std::string::npos) << bad.error().message;
  auto ref = parse_schema_text("database D 1\ntable T\n  c uuid->Missing\n");
  ASSERT_FALSE(ref);
  EXPECT_NE(ref.error().message.find("\"Missing\" is not a table"), std::string::npos) << ref.error().message;
  EXPECT_FALSE(parse_schema_text("database D 1\n  c integer\n"));
  EXPECT_FALSE(parse_schema_text("database D 1\ntable T index=nope\n  c integer\n"));
  EXPECT_FALSE(parse_schema_text("database D 1\ntable T\n  c integer 2..3\n"));
  EXPECT_FALSE(parse_schema_text("table T\n  c integer\n"));
}

TEST(OvsdbSchema, BuiltInsParse) {
  EXPECT_EQ(vswitch_schema().name, "Open_vSwitch");
  EXPECT_EQ(vswitch_schema().tables.size(), 19u);
  EXPECT_EQ(server_schema().name, "_Server");
  ASSERT_NE(server_schema().table("Database"), nullptr);
  EXPECT_TRUE(vswitch_schema().table("Open_vSwitch")->is_root);
  EXPECT_FALSE(vswitch_schema().table("Bridge")->is_root);
}

// Every table and column of the schema Open vSwitch itself installs
// (openvswitch-common, which ./run installs for the tests) is in kvnet's,
// with the same type: the clients' IDL finds nothing missing or different.
TEST(OvsdbSchema, MatchesTheInstalledOpenVswitchSchema) {
  const std::filesystem::path file = "/usr/share/openvswitch/vswitch.ovsschema";
  ASSERT_TRUE(std::filesystem::exists(file)) << file << " is missing: ./run installs openvswitch-common";
  std::ifstream in(file);
  auto theirs = DatabaseSchema::from_json(json::parse(in));
  ASSERT_TRUE(theirs) << theirs.error().message;
  const DatabaseSchema& ours = vswitch_schema();
  EXPECT_EQ(ours.version, theirs->version);
  EXPECT_EQ(ours.tables.size(), theirs->tables.size());
  for (const TableSchema& t : theirs->tables) {
    const TableSchema* o = ours.table(t.name);
    ASSERT_NE(o, nullptr) << "table " << t.name;
    EXPECT_EQ(o->is_root, t.is_root) << t.name;
    EXPECT_EQ(o->max_rows, t.max_rows) << t.name;
    EXPECT_EQ(o->indexes, t.indexes) << t.name;
    EXPECT_EQ(o->columns.size(), t.columns.size()) << t.name;
    for (const ColumnSchema& c : t.columns) {
      const ColumnSchema* oc = o->column(c.name);
      ASSERT_NE(oc, nullptr) << t.name << "." << c.name;
      EXPECT_EQ(oc->type.to_json(), c.type.to_json()) << t.name << "." << c.name;
      EXPECT_EQ(oc->ephemeral, c.ephemeral) << t.name << "." << c.name;
      EXPECT_EQ(oc->mutable_, c.mutable_) << t.name << "." << c.name;
    }
  }
}

}  // namespace
}  // namespace kvnet::ovsdb
