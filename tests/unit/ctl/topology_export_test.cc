// ctl::to_yaml round trips, for documents found by fuzzing (fuzz/topology.cc;
// each input is also in fuzz/corpus/topology/).
#include <gtest/gtest.h>

#include "ctl/topology.h"

namespace kvnet::ctl {
namespace {

// parse -> export -> parse -> export gives the same text twice.
void expect_round_trip(const std::string& yaml) {
  auto t = parse_topology(yaml, "t.yaml", "/base");
  ASSERT_TRUE(t.ok()) << t.error().message;
  const std::string y1 = to_yaml(*t);
  auto t2 = parse_topology(y1, "export.yaml", "/base");
  ASSERT_TRUE(t2.ok()) << t2.error().message << "\n" << y1;
  EXPECT_EQ(to_yaml(*t2), y1);
}

TEST(TopologyExport, NamesThatReadAsNullAreQuoted) {
  // "null", "Null" and "NULL" are valid names; written plain they would read
  // back as null nodes ("'name' must be a scalar").
  expect_round_trip(R"(bridges:
  - name: "null"
    fdb: [{vlan: 1, mac: "02:00:00:00:00:01", port: "NULL"}]
    ports:
      - {name: "NULL", type: system}
      - {name: "Null", type: system}
containers:
  - {name: "null", bridge: "null", port: "Null"}
)");
  auto t = parse_topology("bridges:\n  - {name: \"null\"}\n", "t.yaml", "/base");
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(to_yaml(*t), "bridges:\n  - name: \"null\"\n    type: switch\n    ports: []\n");
}

}  // namespace
}  // namespace kvnet::ctl
