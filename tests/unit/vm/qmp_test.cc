// QMP framing and parsing: bytes in, messages out; requests as bytes.
#include "vm/qmp.h"

#include <gtest/gtest.h>

#include "testing.h"

namespace kvnet::vm {
namespace {

using kvnet::testing::error_of;
using Kind = QmpMessage::Kind;

const char* kGreeting =
    R"({"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": ""}, "capabilities": ["oob"]}})";
const char* kShutdown =
    R"({"timestamp": {"seconds": 1700000000, "microseconds": 5}, "event": "SHUTDOWN", "data": {"guest": true, "reason": "guest-shutdown"}})";

TEST(QmpParse, Greeting) {
  auto m = parse_qmp_line(kGreeting);
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->kind, Kind::kGreeting);
  EXPECT_EQ(m->data["version"]["qemu"]["major"], 7);
  EXPECT_EQ(m->data["capabilities"], json::array({"oob"}));
  EXPECT_EQ(m->id, 0u);
}

TEST(QmpParse, ReturnWithItsId) {
  auto m = parse_qmp_line(R"({"return": {"status": "running", "running": true}, "id": 2})");
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->kind, Kind::kReturn);
  EXPECT_EQ(m->id, 2u);
  EXPECT_EQ(m->data["status"], "running");
  m = parse_qmp_line(R"({"return": {}})");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->kind, Kind::kReturn);
  EXPECT_EQ(m->id, 0u);  // none
  EXPECT_EQ(m->data, json::object());
  // An id that is not an unsigned number (QMP echoes whatever was sent) is no id.
  m = parse_qmp_line(R"({"return": {}, "id": "abc"})");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->id, 0u);
  m = parse_qmp_line(R"({"return": {}, "id": 18446744073709551615})");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->id, 18446744073709551615ull);
}

TEST(QmpParse, Error) {
  auto m = parse_qmp_line(R"({"error": {"class": "GenericError", "desc": "Invalid parameter 'x'"}, "id": 5})");
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->kind, Kind::kError);
  EXPECT_EQ(m->id, 5u);
  EXPECT_EQ(m->error, "GenericError: Invalid parameter 'x'");
  m = parse_qmp_line(R"({"error": "weird", "id": 6})");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->error, "?: ?");
  m = parse_qmp_line(R"({"error": {"class": 7}})");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->error, "?: ?");
}

TEST(QmpParse, Event) {
  auto m = parse_qmp_line(kShutdown);
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->kind, Kind::kEvent);
  EXPECT_EQ(m->event, "SHUTDOWN");
  EXPECT_EQ(m->data["reason"], "guest-shutdown");
  EXPECT_EQ(m->id, 0u);
  m = parse_qmp_line(R"({"event": "STOP", "timestamp": {"seconds": 1, "microseconds": 2}})");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->event, "STOP");
  EXPECT_TRUE(m->data.is_null());  // no data
}

TEST(QmpParse, WhatIsNotAMessage) {
  for (const char* bad : {"[1, 2]", "42", "\"text\"", "null", "{", "{\"return\": }", "not json"}) {
    auto m = parse_qmp_line(bad);
    ASSERT_FALSE(m.ok()) << bad;
    EXPECT_EQ(m.error().message.rfind("QMP: not a JSON object: ", 0), 0u) << m.error().message;
  }
  auto m = parse_qmp_line(R"({"hello": 1})");
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().message, R"(QMP: unknown message: {"hello": 1})");
  m = parse_qmp_line(R"({"event": 5})");  // an event needs its name
  ASSERT_FALSE(m.ok());
  // Quoted text is cut: one long line does not make one long message.
  m = parse_qmp_line("[" + std::string(1000, ' ') + "]");
  ASSERT_FALSE(m.ok());
  EXPECT_LE(m.error().message.size(), 40u + 80u);
}

std::vector<QmpMessage> feed_all(QmpStream& s, std::initializer_list<std::string_view> chunks) {
  std::vector<QmpMessage> out;
  for (auto c : chunks) EXPECT_EQ(error_of(s.feed(c, out)), "") << c;
  return out;
}

TEST(QmpStream, OneMessagePerLine) {
  QmpStream s;
  const std::string text = std::string(kGreeting) + "\r\n" + R"({"return": {}, "id": 1})" + "\r\n" + kShutdown + "\r\n";
  auto out = feed_all(s, {text});
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].kind, Kind::kGreeting);
  EXPECT_EQ(out[1].kind, Kind::kReturn);
  EXPECT_EQ(out[1].id, 1u);
  EXPECT_EQ(out[2].kind, Kind::kEvent);
  EXPECT_EQ(out[2].event, "SHUTDOWN");
}

TEST(QmpStream, MessagesSplitAcrossFeedsAtEveryPosition) {
  const std::string text = std::string(R"({"return": {"status": "running"}, "id": 9})") + "\r\n" + kShutdown + "\r\n";
  for (size_t cut = 0; cut <= text.size(); ++cut) {
    QmpStream s;
    std::vector<QmpMessage> out;
    ASSERT_EQ(error_of(s.feed(std::string_view(text).substr(0, cut), out)), "") << cut;
    ASSERT_EQ(error_of(s.feed(std::string_view(text).substr(cut), out)), "") << cut;
    ASSERT_EQ(out.size(), 2u) << cut;
    EXPECT_EQ(out[0].id, 9u) << cut;
    EXPECT_EQ(out[0].data["status"], "running") << cut;
    EXPECT_EQ(out[1].event, "SHUTDOWN") << cut;
  }
}

TEST(QmpStream, ByteByByteGivesEachMessageWhenItsLineEnds) {
  QmpStream s;
  const std::string line = std::string(R"({"return": {}, "id": 3})") + "\r\n";
  std::vector<QmpMessage> out;
  for (size_t i = 0; i < line.size(); ++i) {
    ASSERT_EQ(error_of(s.feed(line.substr(i, 1), out)), "");
    EXPECT_EQ(out.size(), i + 1 == line.size() ? 1u : 0u) << i;
  }
}

TEST(QmpStream, LineEndsAndBlankLines) {
  QmpStream s;
  // "\n" alone ends a line too; blank and whitespace-only lines are nothing.
  auto out = feed_all(s, {"\r\n\n  \r\n\t\n", R"({"return": 1, "id": 1})", "\n", "\r\n", R"({"return": 2, "id": 2})" "\r", "\n"});
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].data, 1);
  EXPECT_EQ(out[1].data, 2);
  EXPECT_EQ(out[1].id, 2u);
}

TEST(QmpStream, ABadLineBreaksTheStream) {
  QmpStream s;
  std::vector<QmpMessage> out;
  // The good message before the bad one is still delivered.
  const std::string text = std::string(R"({"return": {}, "id": 1})") + "\r\n[1,2]\r\n" + R"({"return": {}, "id": 2})" + "\r\n";
  auto st = s.feed(text, out);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message, "QMP: not a JSON object: [1,2]");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].id, 1u);
  // Afterwards nothing is parsed, even good lines.
  out.clear();
  st = s.feed(std::string(R"({"return": {}, "id": 3})") + "\r\n", out);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message, "QMP: the stream failed before");
  EXPECT_TRUE(out.empty());
}

TEST(QmpStream, AnUnknownMessageBreaksTheStream) {
  QmpStream s;
  std::vector<QmpMessage> out;
  EXPECT_FALSE(s.feed("{\"x\": 1}\n", out).ok());
  EXPECT_FALSE(s.feed("{\"return\": {}}\n", out).ok());
  EXPECT_TRUE(out.empty());
}

TEST(QmpStream, ALineLongerThanTheLimitIsAnError) {
  QmpStream s;
  std::vector<QmpMessage> out;
  const std::string big(QmpStream::kMaxLine, 'x');
  ASSERT_EQ(error_of(s.feed("{\"return\": \"", out)), "");
  // In pieces, as a socket delivers it: the limit trips before the line ends.
  Status st = Ok{};
  for (size_t at = 0; at < big.size() && st.ok(); at += 65536) st = s.feed(std::string_view(big).substr(at, 65536), out);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message, "QMP: a message longer than " + std::to_string(QmpStream::kMaxLine) + " bytes");
  EXPECT_FALSE(s.feed("\"}\r\n", out).ok());
  EXPECT_TRUE(out.empty());
}

TEST(QmpStream, ALongLineIsAnErrorHoweverItIsChunked) {
  // The same bytes, with their end, in one feed.
  const std::string line = "{\"return\": \"" + std::string(QmpStream::kMaxLine, 'x') + "\"}\r\n";
  QmpStream s;
  std::vector<QmpMessage> out;
  auto st = s.feed(line, out);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message, "QMP: a message longer than " + std::to_string(QmpStream::kMaxLine) + " bytes");
  EXPECT_TRUE(out.empty());
}

TEST(QmpStream, LongLinesBelowTheLimitAreFine) {
  const std::string payload(QmpStream::kMaxLine - 64, 'y');
  const std::string line = "{\"return\": \"" + payload + "\", \"id\": 4}\r\n";
  ASSERT_LE(line.size() - 2, QmpStream::kMaxLine);
  QmpStream s;
  std::vector<QmpMessage> out;
  for (size_t at = 0; at < line.size(); at += 4096) ASSERT_EQ(error_of(s.feed(std::string_view(line).substr(at, 4096), out)), "");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].data.get<std::string>().size(), payload.size());
  EXPECT_EQ(out[0].id, 4u);
}

TEST(QmpRequest, IdsIncreaseAndTheTextIsOneJsonLine) {
  QmpStream s;
  uint64_t id1 = 0, id2 = 0, id3 = 0;
  const std::string r1 = s.request("qmp_capabilities", nullptr, id1);
  const std::string r2 = s.request("query-status", nullptr, id2);
  const std::string r3 = s.request("system_powerdown", json::object(), id3);
  EXPECT_EQ(id1, 1u);
  EXPECT_EQ(id2, 2u);
  EXPECT_EQ(id3, 3u);
  for (const std::string& r : {r1, r2, r3}) {
    ASSERT_GE(r.size(), 2u);
    EXPECT_EQ(r.substr(r.size() - 2), "\r\n") << r;
    EXPECT_EQ(r.find('\n'), r.size() - 1) << "one line: " << r;
    EXPECT_TRUE(json::accept(r.substr(0, r.size() - 2))) << r;
  }
  const json j1 = json::parse(r1);
  EXPECT_EQ(j1, (json{{"execute", "qmp_capabilities"}, {"id", 1}}));
  EXPECT_FALSE(j1.contains("arguments"));
  const json j3 = json::parse(r3);
  EXPECT_EQ(j3["execute"], "system_powerdown");
  EXPECT_EQ(j3["id"], 3);
  EXPECT_EQ(j3["arguments"], json::object());  // given (empty), so sent
}

TEST(QmpRequest, ArgumentsAreSentWhenGiven) {
  QmpStream s;
  uint64_t id = 0;
  const json args = {{"device", "net0"}, {"quote", "a\"b\nc"}};
  const std::string r = s.request("human-monitor-command", args, id);
  EXPECT_EQ(r.find('\n'), r.size() - 1) << "newlines inside values are escaped: " << r;
  const json j = json::parse(r);
  EXPECT_EQ(j["arguments"], args);
  EXPECT_EQ(j["id"], id);
  // A request is not a message QEMU sends: fed back, it is refused.
  std::vector<QmpMessage> out;
  QmpStream echo;
  EXPECT_FALSE(echo.feed(r, out).ok());
}

}  // namespace
}  // namespace kvnet::vm
