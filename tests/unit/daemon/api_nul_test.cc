// The API refuses a NUL byte in any string of a request, with the argument's
// name: a name, an address or a file that ends early for the kernel is not
// the one that was checked.
#include <gtest/gtest.h>

#include "daemon/api.h"

namespace kvnet::daemon {
namespace {

TEST(ApiNul, RefusesNulInAnyStringOrKey) {
  EXPECT_TRUE(parse_request(R"({"cmd":"add-br","bridge":"b0"})").ok());
  auto r = parse_request(R"({"cmd":"add-br","bridge":"b0\u0000x"})");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message.rfind("argument 'bridge' holds a NUL byte", 0), 0u) << r.error().message;
  r = parse_request(R"({"cmd":"set","options":{"ip":"10.0.0.1\u0000/24"}})");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("'options.ip'"), std::string::npos) << r.error().message;
  r = parse_request(R"({"cmd":"x","names":["a","b\u0000"]})");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("'names[1]'"), std::string::npos) << r.error().message;
  r = parse_request(R"({"cmd":"x","a\u0000b":1})");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("'a\\x00b'"), std::string::npos) << r.error().message;
  // Other escapes stay allowed where they are data (a trace's payload text).
  EXPECT_TRUE(parse_request(R"({"cmd":"x","text":"a\tb\u0001"})").ok());
}

TEST(ApiNul, AnswerNamesTheArgument) {
  int called = 0;
  const auto a = answer_request(R"({"cmd":"ping","x":"\u0000"})", [&](const nlohmann::json&) {
    ++called;
    return nlohmann::json{{"ok", true}};
  });
  EXPECT_EQ(called, 0);
  EXPECT_FALSE(a.value("ok", true));
}

}  // namespace
}  // namespace kvnet::daemon
