#include "ovsdb/jsonrpc.h"

#include <gtest/gtest.h>

namespace kvnet::ovsdb {
namespace {

std::vector<json> drain(JsonSplitter& s) {
  std::vector<json> out;
  while (auto m = s.next()) {
    EXPECT_TRUE(*m) << m->error().message;
    if (!*m) break;
    out.push_back(**m);
  }
  return out;
}

TEST(OvsdbJsonSplitter, MessagesInPiecesAndTogether) {
  const std::string two = R"({"method":"echo","params":["a}b{\"c"],"id":1} {"id":2,"result":[{"x":[1,2]}],"error":null})";
  // Byte by byte.
  JsonSplitter s;
  std::vector<json> got;
  for (char c : two) {
    s.feed(std::string_view(&c, 1));
    for (json& j : drain(s)) got.push_back(std::move(j));
  }
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0]["params"][0], "a}b{\"c");
  EXPECT_EQ(got[1]["id"], 2);
  // All at once, twice over.
  JsonSplitter all;
  all.feed(two + "\n" + two);
  EXPECT_EQ(drain(all).size(), 4u);
  EXPECT_EQ(all.pending(), 0u);
  // A partial one stays pending.
  JsonSplitter part;
  part.feed(R"({"method":"echo","params":[)");
  EXPECT_FALSE(part.next());
  EXPECT_GT(part.pending(), 0u);
}

TEST(OvsdbJsonSplitter, NotJsonRpcFailsForGood) {
  JsonSplitter s;
  s.feed("GET / HTTP/1.1\r\n");
  auto m = s.next();
  ASSERT_TRUE(m);
  ASSERT_FALSE(*m);
  EXPECT_NE(m->error().message.find("not JSON-RPC"), std::string::npos);
  s.feed(R"({"id":1})");
  auto again = s.next();
  ASSERT_TRUE(again);
  EXPECT_FALSE(*again);
  EXPECT_TRUE(s.failed());

  JsonSplitter bad;
  bad.feed(R"({"a": tru})");
  auto b = bad.next();
  ASSERT_TRUE(b);
  EXPECT_FALSE(*b);

  JsonSplitter big(64);
  big.feed(R"({"method":"echo","params":[")" + std::string(100, 'x'));
  auto l = big.next();
  ASSERT_TRUE(l);
  ASSERT_FALSE(*l);
  EXPECT_NE(l->error().message.find("longer than 64 bytes"), std::string::npos);
}

TEST(OvsdbMessage, ParsesRequestsNotificationsReplies) {
  auto r = Message::parse(json::parse(R"({"method":"list_dbs","params":[],"id":"x"})"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->kind, Message::Kind::kRequest);
  EXPECT_EQ(r->method, "list_dbs");
  auto n = Message::parse(json::parse(R"({"method":"update","params":[null,{}],"id":null})"));
  ASSERT_TRUE(n);
  EXPECT_EQ(n->kind, Message::Kind::kNotification);
  auto rep = Message::parse(json::parse(R"({"result":{},"error":null,"id":7})"));
  ASSERT_TRUE(rep);
  EXPECT_EQ(rep->kind, Message::Kind::kReply);
  EXPECT_FALSE(Message::parse(json::parse(R"({"method":"echo","params":{},"id":1})")));
  EXPECT_FALSE(Message::parse(json::parse(R"({"method":"echo","params":[]})")));
  EXPECT_FALSE(Message::parse(json::parse(R"({"x":1})")));
  EXPECT_FALSE(Message::parse(json::parse(R"([1])")));
}

TEST(OvsdbMessage, WireFormatSurvivesInvalidUtf8) {
  json j = make_reply(1, json::array({std::string("a\xff" "b")}));
  const std::string w = to_wire(j);
  EXPECT_NE(w.find("a\xef\xbf\xbd" "b"), std::string::npos);
  EXPECT_EQ(to_wire(make_notification("update", json::array())), R"({"id":null,"method":"update","params":[]})");
}

}  // namespace
}  // namespace kvnet::ovsdb
