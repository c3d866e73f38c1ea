// The `capture` command through the Service: arguments checked with clear
// messages, the tap installed on the named port (stats shows it), frames
// and the end message on the wire as kvnetctl decodes them, and the tap gone
// when the stream ends, is destroyed, or the port is deleted.
#include <chrono>
#include <deque>
#include <thread>

#include "daemon/capture_stream.h"
#include "service_fixture.h"

namespace kvnet::daemon {
namespace {

namespace wire = capture_wire;

class ServiceCaptureTest : public ServiceFixture {
 protected:
  void SetUp() override {
    ServiceFixture::SetUp();
    ok({{"cmd", "add-br"}, {"bridge", "br0"}, {"type", "hub"}});
    ok({{"cmd", "add-port"}, {"bridge", "br0"}, {"port", "p1"}, {"options", {{"type", "tap"}}}});
    ok({{"cmd", "add-port"}, {"bridge", "br0"}, {"port", "p2"}, {"options", {{"type", "tap"}}}});
  }
  uint64_t captures(const std::string& port) { return ok({{"cmd", "stats"}, {"port", port}})[0]["captures"]; }
  // One frame into `port` (the datapath runs inline).
  void send(const std::string& port, size_t len = 60) {
    dp::Datapath& d = *main_.dp;
    net::Frame* f = d.pool().get();
    std::vector<uint8_t> b(len, 0xab);
    for (int i = 0; i < 6; ++i) b[i] = 0xff;
    b[12] = 0x08;
    b[13] = 0x06;  // ARP
    f->assign(b.data(), b.size());
    net::FrameBatch batch;
    batch.add(f);
    d.receive(*d.find_port(port), batch);
  }
  std::vector<wire::Message> decode(const std::string& bytes) {
    wire::Decoder dec;
    dec.feed(bytes.data(), bytes.size());
    std::vector<wire::Message> out;
    for (;;) {
      auto m = dec.next();
      EXPECT_TRUE(m) << m.error().message;
      if (!m || !*m) break;
      wire::Message copy = **m;
      keep_.emplace_back(copy.data);
      copy.data = keep_.back();
      out.push_back(copy);
    }
    return out;
  }
  std::string capture_error(json req) {
    req["cmd"] = "capture";
    auto r = main_.svc->capture(req);
    EXPECT_FALSE(r);
    return r ? "" : r.error().message;
  }
  // The answer line a capture with a filter writes once its compile ends.
  json first_answer(ApiStream& s) {
    std::string out;
    for (int i = 0; i < 2000 && out.find('\n') == std::string::npos; ++i) {
      s.pull(out, 1 << 20);
      if (out.find('\n') == std::string::npos) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return json::parse(out.substr(0, out.find('\n')));
  }
  std::deque<std::string> keep_;
};

TEST_F(ServiceCaptureTest, RefusesBadRequestsNamingWhatIsWrong) {
  EXPECT_EQ(capture_error({{"port", "nope"}}), "port 'nope' does not exist");
  EXPECT_EQ(capture_error({}), "missing argument 'port'");
  EXPECT_EQ(capture_error({{"port", "p1"}, {"direction", "up"}}), "argument 'direction' must be in, out or both, not 'up'");
  EXPECT_EQ(capture_error({{"port", "p1"}, {"vlan", 4095}}), "argument 'vlan' 4095 is out of range 1-4094");
  EXPECT_EQ(capture_error({{"port", "p1"}, {"count", 0}}).find("argument 'count' 0 is out of range"), 0u);
  auto r = main_.svc->capture({{"cmd", "capture"}, {"port", "p1"}, {"filter", "tcp prot 80"}});
  ASSERT_TRUE(r);
  ASSERT_TRUE(r->answer_in_stream);  // compiled off the loop: the answer comes later
  const json bad = first_answer(*r->stream);
  EXPECT_FALSE(bad["ok"].get<bool>());
  EXPECT_EQ(bad["error"].get<std::string>().find("filter 'tcp prot 80' is not a valid capture filter: "), 0u) << bad;
  std::string more;
  EXPECT_FALSE(r->stream->pull(more, 1 << 20));
  EXPECT_EQ(captures("p1"), 0u);
}

TEST_F(ServiceCaptureTest, FiltersAboveTheLimitsAreRefusedAtOnce) {
  std::string terms;
  for (int i = 0; i < 2000; ++i) terms += (i ? " or port " : "port ") + std::to_string(i + 1);
  const auto t0 = std::chrono::steady_clock::now();
  std::string e = capture_error({{"port", "p1"}, {"filter", terms}});
  EXPECT_NE(e.find("is longer than the limit of 4096 bytes"), std::string::npos) << e;
  terms.clear();
  for (int i = 0; i < 200; ++i) terms += i ? " or arp" : "arp";
  e = capture_error({{"port", "p1"}, {"filter", terms}});
  EXPECT_NE(e.find("has 200 terms, more than the limit of 128"), std::string::npos) << e;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1));
  EXPECT_EQ(capture_error({{"port", "nope"}, {"filter", "arp"}}), "port 'nope' does not exist");
}

TEST_F(ServiceCaptureTest, AFilteredCaptureStartsWhenItsFilterHasCompiled) {
  auto r = main_.svc->capture({{"cmd", "capture"}, {"port", "p1"}, {"filter", "ether proto 0x0800"}});
  ASSERT_TRUE(r);
  const json a = first_answer(*r->stream);
  ASSERT_TRUE(a["ok"].get<bool>()) << a;
  EXPECT_EQ(a["result"]["filter"], "ether proto 0x0800");
  EXPECT_EQ(captures("p1"), 1u);
  r->stream->end("the client ended it");
  std::string out;
  while (r->stream->pull(out, 1 << 20)) {
  }
  EXPECT_EQ(captures("p1"), 0u);
}

TEST_F(ServiceCaptureTest, StreamsFramesAndEndsWithFinalCounters) {
  auto r = main_.svc->capture({{"cmd", "capture"}, {"port", "p1"}, {"direction", "in"}});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->result["bridge"], "br0");
  EXPECT_EQ(r->result["direction"], "in");
  EXPECT_EQ(captures("p1"), 1u);
  send("p1", 100);
  send("p2");  // p1 sends it: not captured (direction in)
  std::string out;
  EXPECT_TRUE(r->stream->pull(out, 1 << 20));
  r->stream->end("the client ended it");
  EXPECT_EQ(captures("p1"), 0u);  // the tap is off before the last frames are drained
  EXPECT_FALSE(r->stream->pull(out, 1 << 20));
  const auto msgs = decode(out);
  ASSERT_GE(msgs.size(), 2u);
  EXPECT_EQ(msgs[0].type, wire::kPacket);
  EXPECT_EQ(msgs[0].orig_len, 100u);
  EXPECT_EQ(msgs[0].data.size(), 100u);
  EXPECT_EQ(msgs[0].dir, 0);
  EXPECT_GT(msgs[0].ts_ns, uint64_t{1600000000} * 1000000000);  // wall clock
  const wire::Message& end = msgs.back();
  ASSERT_EQ(end.type, wire::kEnd);
  EXPECT_EQ(end.info["captured"], 1);
  EXPECT_EQ(end.info["dropped"], 0);
  EXPECT_EQ(end.info["reason"], "the client ended it");
  EXPECT_EQ(end.info["port_removed"], false);
}

TEST_F(ServiceCaptureTest, CountEndsTheStreamByItself) {
  auto r = main_.svc->capture({{"cmd", "capture"}, {"port", "p1"}, {"count", 2}});
  ASSERT_TRUE(r);
  for (int i = 0; i < 5; ++i) send("p1");
  std::string out;
  EXPECT_FALSE(r->stream->pull(out, 1 << 20));
  const auto msgs = decode(out);
  ASSERT_EQ(msgs.size(), 3u);
  EXPECT_EQ(msgs[2].info["captured"], 2);
  EXPECT_EQ(captures("p1"), 0u);
}

TEST_F(ServiceCaptureTest, ADeletedPortEndsItsCaptures) {
  auto r = main_.svc->capture({{"cmd", "capture"}, {"port", "p1"}});
  ASSERT_TRUE(r);
  send("p1");
  ok({{"cmd", "del-port"}, {"port", "p1"}});
  std::string out;
  EXPECT_FALSE(r->stream->pull(out, 1 << 20));
  const auto msgs = decode(out);
  ASSERT_EQ(msgs.size(), 2u);
  EXPECT_EQ(msgs[1].info["reason"], "port 'p1' was deleted");
  EXPECT_EQ(msgs[1].info["port_removed"], true);
}

TEST_F(ServiceCaptureTest, ADestroyedStreamTakesItsTapAlong) {
  {
    auto r1 = main_.svc->capture({{"cmd", "capture"}, {"port", "p1"}});
    auto r2 = main_.svc->capture({{"cmd", "capture"}, {"port", "p1"}, {"filter", "arp"}});
    ASSERT_TRUE(r1 && r2);
    EXPECT_TRUE(first_answer(*r2->stream)["ok"].get<bool>());
    EXPECT_EQ(captures("p1"), 2u);
  }
  EXPECT_EQ(captures("p1"), 0u);
}

TEST_F(ServiceCaptureTest, AtMostSoManyCapturesAtOnce) {
  std::vector<std::unique_ptr<ApiStream>> held;
  for (size_t i = 0; i < Service::kMaxCaptures; ++i) {
    auto r = main_.svc->capture({{"cmd", "capture"}, {"port", "p1"}});
    ASSERT_TRUE(r);
    held.push_back(std::move(r->stream));
  }
  EXPECT_EQ(capture_error({{"port", "p2"}}), "too many captures at once (limit 32): end one first");
  held.pop_back();
  EXPECT_TRUE(main_.svc->capture({{"cmd", "capture"}, {"port", "p2"}}));
}

TEST(CaptureWire, DecoderWaitsForWholeMessagesAndRefusesGarbage) {
  std::string s;
  io::ByteRing::Header h{};
  h.ts_ns = 0x0102030405060708ULL;
  h.caplen = 3;
  h.orig_len = 1500;
  h.dir = 1;
  const uint8_t data[] = {1, 2, 3};
  wire::put_packet(s, h, data);
  wire::Decoder d;
  d.feed(s.data(), s.size() - 1);
  auto m = d.next();
  ASSERT_TRUE(m);
  EXPECT_FALSE(*m);
  d.feed(s.data() + s.size() - 1, 1);
  m = d.next();
  ASSERT_TRUE(m && *m);
  EXPECT_EQ((*m)->ts_ns, h.ts_ns);
  EXPECT_EQ((*m)->orig_len, 1500u);
  EXPECT_EQ((*m)->dir, 1);
  EXPECT_EQ((*m)->data, std::string_view("\x01\x02\x03", 3));
  wire::Decoder bad;
  bad.feed("z\0\0\0\0", 5);
  EXPECT_FALSE(bad.next());
}

}  // namespace
}  // namespace kvnet::daemon
