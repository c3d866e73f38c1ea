#include "ovsdb/datum.h"

#include <gtest/gtest.h>

#include <set>

namespace kvnet::ovsdb {
namespace {

Type scalar(AtomicType t) { return Type{BaseType{t}, std::nullopt, 1, 1}; }
Type set_of(AtomicType t, uint64_t min = 0, uint64_t max = kUnlimited) {
  return Type{BaseType{t}, std::nullopt, min, max};
}
Type map_of(AtomicType k, AtomicType v) { return Type{BaseType{k}, BaseType{v}, 0, kUnlimited}; }

TEST(OvsdbUuid, RoundTripsAndRejectsMalformed) {
  const Uuid u = Uuid::random();
  EXPECT_EQ(Uuid::parse(u.str()), u);
  EXPECT_EQ(u.str().size(), 36u);
  EXPECT_EQ(u.str()[14], '4');  // version 4
  auto p = Uuid::parse("0123ABCD-4567-89ab-cdef-0123456789AB");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->str(), "0123abcd-4567-89ab-cdef-0123456789ab");
  EXPECT_FALSE(Uuid::parse("0123abcd-4567-89ab-cdef-0123456789a"));
  EXPECT_FALSE(Uuid::parse("0123abcd+4567-89ab-cdef-0123456789ab"));
  EXPECT_FALSE(Uuid::parse("g123abcd-4567-89ab-cdef-0123456789ab"));
  std::set<Uuid> many;
  for (int i = 0; i < 1000; ++i) many.insert(Uuid::random());
  EXPECT_EQ(many.size(), 1000u);
}

TEST(OvsdbDatum, ScalarsSetsAndMapsFromJson) {
  auto i = datum_from_json(scalar(AtomicType::kInteger), json(42), nullptr);
  ASSERT_TRUE(i);
  EXPECT_EQ(i->keys, std::vector<Atom>{int64_t{42}});
  // A real column takes an integer JSON number.
  auto r = datum_from_json(scalar(AtomicType::kReal), json(3), nullptr);
  ASSERT_TRUE(r);
  EXPECT_EQ(std::get<double>(r->keys[0]), 3.0);
  // A set of one may be written as the atom; sets come out sorted.
  auto s1 = datum_from_json(set_of(AtomicType::kString), json("x"), nullptr);
  ASSERT_TRUE(s1);
  EXPECT_EQ(s1->size(), 1u);
  auto s = datum_from_json(set_of(AtomicType::kInteger), json::parse(R"(["set", [30, 10, 20]])"), nullptr);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->keys, (std::vector<Atom>{int64_t{10}, int64_t{20}, int64_t{30}}));
  EXPECT_EQ(s->to_json(set_of(AtomicType::kInteger)), json::parse(R"(["set", [10, 20, 30]])"));
  auto m = datum_from_json(map_of(AtomicType::kString, AtomicType::kString),
                           json::parse(R"(["map", [["b", "2"], ["a", "1"]]])"), nullptr);
  ASSERT_TRUE(m);
  ASSERT_NE(m->find(Atom{std::string("a")}), nullptr);
  EXPECT_EQ(std::get<std::string>(*m->find(Atom{std::string("a")})), "1");
  EXPECT_EQ(m->to_json(map_of(AtomicType::kString, AtomicType::kString)),
            json::parse(R"(["map", [["a", "1"], ["b", "2"]]])"));
  // Empty set and map.
  EXPECT_EQ(Datum{}.to_json(set_of(AtomicType::kString)), json::parse(R"(["set", []])"));
  EXPECT_EQ(Datum{}.to_json(map_of(AtomicType::kString, AtomicType::kString)), json::parse(R"(["map", []])"));
}

TEST(OvsdbDatum, UuidsAndNamedUuids) {
  const Uuid u = Uuid::random();
  auto d = datum_from_json(scalar(AtomicType::kUuid), json::array({"uuid", u.str()}), nullptr);
  ASSERT_TRUE(d);
  EXPECT_EQ(std::get<Uuid>(d->keys[0]), u);
  EXPECT_EQ(d->to_json(scalar(AtomicType::kUuid)), json::array({"uuid", u.str()}));
  NamedUuids names{{"row1", u}};
  auto n = datum_from_json(scalar(AtomicType::kUuid), json::array({"named-uuid", "row1"}), &names);
  ASSERT_TRUE(n);
  EXPECT_EQ(std::get<Uuid>(n->keys[0]), u);
  auto outside = datum_from_json(scalar(AtomicType::kUuid), json::array({"named-uuid", "row1"}), nullptr);
  ASSERT_FALSE(outside);
  EXPECT_NE(outside.error().message.find("only valid inside a transaction"), std::string::npos);
  auto unknown = datum_from_json(scalar(AtomicType::kUuid), json::array({"named-uuid", "nope"}), &names);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(error_json(unknown.error())["error"], "syntax error");
}

TEST(OvsdbDatum, SyntaxErrorsNameTheValue) {
  auto bad = datum_from_json(scalar(AtomicType::kInteger), json("7"), nullptr);
  ASSERT_FALSE(bad);
  EXPECT_EQ(error_json(bad.error()), json::parse(R"({"error": "syntax error", "details": "\"7\" is not an integer"})"));
  EXPECT_FALSE(datum_from_json(scalar(AtomicType::kBoolean), json(1), nullptr));
  EXPECT_FALSE(datum_from_json(map_of(AtomicType::kString, AtomicType::kString), json("x"), nullptr));
  EXPECT_FALSE(datum_from_json(map_of(AtomicType::kString, AtomicType::kString),
                               json::parse(R"(["map", [["a", "1"], ["a", "2"]]])"), nullptr));
  EXPECT_FALSE(datum_from_json(set_of(AtomicType::kInteger), json::parse(R"(["set", [1, 1]])"), nullptr));
  EXPECT_FALSE(datum_from_json(set_of(AtomicType::kInteger), json::parse(R"(["set", 1])"), nullptr));
  EXPECT_FALSE(datum_from_json(scalar(AtomicType::kUuid), json::parse(R"(["uuid", "zz"])"), nullptr));
  EXPECT_FALSE(datum_from_json(scalar(AtomicType::kInteger), json(18446744073709551615ULL), nullptr));
}

TEST(OvsdbDatum, DuplicatesInLargeSetsAndMapsAreNamed) {
  // 20,000 elements (sorted once, not compared pairwise), the duplicate last.
  json set = json::array(), map = json::array();
  for (int i = 0; i < 20000; ++i) {
    set.push_back(i);
    map.push_back(json::array({std::to_string(i), "v"}));
  }
  auto ok = datum_from_json(set_of(AtomicType::kInteger), json::array({"set", set}), nullptr);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->size(), 20000u);
  set.push_back(12345);
  auto dup = datum_from_json(set_of(AtomicType::kInteger), json::array({"set", set}), nullptr);
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().message, "syntax error: set has duplicate value 12345");
  map.push_back(json::array({"777", "w"}));
  auto mdup = datum_from_json(map_of(AtomicType::kString, AtomicType::kString), json::array({"map", map}), nullptr);
  ASSERT_FALSE(mdup);
  EXPECT_EQ(mdup.error().message, "syntax error: map has duplicate key \"777\"");
}

TEST(OvsdbDatum, ConstraintsAreChecked) {
  Type tag = set_of(AtomicType::kInteger, 0, 1);
  tag.key.min_integer = 0;
  tag.key.max_integer = 4095;
  EXPECT_TRUE(datum_from_json(tag, json(4095), nullptr));
  auto over = datum_from_json(tag, json(4096), nullptr);
  ASSERT_FALSE(over);
  EXPECT_EQ(error_json(over.error())["error"], "constraint violation");
  EXPECT_NE(over.error().message.find("4096 is not in the valid range 0 to 4095"), std::string::npos);
  auto two = datum_from_json(tag, json::parse(R"(["set", [1, 2]])"), nullptr);
  ASSERT_FALSE(two);
  EXPECT_NE(two.error().message.find("2 values"), std::string::npos);
  Type mode = set_of(AtomicType::kString, 0, 1);
  mode.key.enums = {std::string("access"), std::string("trunk")};
  EXPECT_TRUE(datum_from_json(mode, json("trunk"), nullptr));
  auto bad = datum_from_json(mode, json("hybrid"), nullptr);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("\"hybrid\" is not one of the allowed values (\"access\", \"trunk\")"),
            std::string::npos);
  // Syntax only when asked.
  EXPECT_TRUE(datum_from_json(tag, json(5000), nullptr, false));
}

TEST(OvsdbDatum, DefaultsFollowTheType) {
  EXPECT_EQ(Datum::default_of(scalar(AtomicType::kInteger)), Datum::scalar(int64_t{0}));
  EXPECT_EQ(Datum::default_of(scalar(AtomicType::kString)), Datum::scalar(std::string()));
  EXPECT_EQ(Datum::default_of(set_of(AtomicType::kString, 0, 1)).size(), 0u);
  Type e = scalar(AtomicType::kString);
  e.key.enums = {std::string("b"), std::string("a")};
  std::sort(e.key.enums.begin(), e.key.enums.end());
  EXPECT_EQ(Datum::default_of(e), Datum::scalar(std::string("a")));
}

TEST(OvsdbType, JsonRoundTrip) {
  for (const char* text : {R"("integer")", R"({"key": {"type": "integer", "minInteger": 0, "maxInteger": 4095}})",
                           R"({"key": "string", "min": 0, "max": "unlimited", "value": "string"})",
                           R"({"key": {"type": "uuid", "refTable": "Port", "refType": "weak"}, "min": 0, "max": 1})",
                           R"({"key": {"type": "string", "enum": ["set", ["access", "trunk"]]}, "min": 0})"}) {
    auto t = Type::from_json(json::parse(text));
    ASSERT_TRUE(t) << text << ": " << t.error().message;
    auto back = Type::from_json(t->to_json());
    ASSERT_TRUE(back) << text;
    EXPECT_EQ(*back, *t) << text;
  }
  EXPECT_FALSE(Type::from_json(json::parse(R"({"key": "integer", "min": 2})")));
  EXPECT_FALSE(Type::from_json(json::parse(R"({"key": "nothing"})")));
  EXPECT_FALSE(Type::from_json(json::parse(R"({"key": "integer", "max": 0})")));
}

TEST(OvsdbErrors, TagsSplitFromDetails) {
  EXPECT_EQ(error_json(ovsdb_error("referential integrity violation", "x")),
            json::parse(R"({"error": "referential integrity violation", "details": "x"})"));
  EXPECT_EQ(error_json(Error{"port 'p': pvid 5000 is out of range"}),
            json::parse(R"({"error": "kvnet error", "details": "port 'p': pvid 5000 is out of range"})"));
}

}  // namespace
}  // namespace kvnet::ovsdb
