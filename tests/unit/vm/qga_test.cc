// The guest agent's stream (sync, framing, replies) and its requests and
// replies, on text shaped as qemu-ga 7.2 writes it.
#include "vm/qga.h"

#include <gtest/gtest.h>

#include "testing.h"

namespace kvnet::vm {
namespace {

using json = nlohmann::json;
using State = QgaStream::State;

std::vector<QgaReply> drain(QgaStream& s) {
  std::vector<QgaReply> out;
  while (auto r = s.next()) out.push_back(std::move(*r));
  return out;
}

// ---- The stream -----------------------------------------------------------

TEST(QgaStream, SyncRequestStartsWithTheDelimiter) {
  EXPECT_EQ(QgaStream::sync_request(42), "\xff{\"arguments\":{\"id\":42},\"execute\":\"guest-sync-delimited\"}\n");
}

TEST(QgaStream, NothingBeforeASync) {
  QgaStream s;
  EXPECT_EQ(s.state(), State::kUnsynced);
  const std::string text = "{\"return\": {}}\n\xff{\"return\": 1}\n";
  ASSERT_TRUE(s.feed(text));
  EXPECT_FALSE(s.next());
  EXPECT_EQ(s.counters().discarded_bytes, text.size());
}

TEST(QgaStream, JunkBeforeTheDelimiterIsDiscarded) {
  QgaStream s;
  s.begin_sync(7);
  EXPECT_EQ(s.state(), State::kSyncing);
  // An earlier client's half request answered with a parse error, a reply
  // with the right id but before the 0xFF, then the real one.
  const std::string junk =
      "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error\"}}\n{\"return\": 7}\n";
  ASSERT_TRUE(s.feed(junk + "\xff{\"return\": 7}\n{\"return\": {}}\n"));
  EXPECT_EQ(s.state(), State::kSynced);
  auto r = drain(s);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_TRUE(r[0].ok);
  EXPECT_EQ(r[0].value, json::object());
  EXPECT_EQ(s.counters().discarded_bytes, junk.size());
  EXPECT_EQ(s.counters().stale_lines, 0u);
}

TEST(QgaStream, StaleRepliesOfAnEarlierSyncAreDiscarded) {
  QgaStream s;
  s.begin_sync(1);
  s.begin_sync(2);  // the first timed out; its answer comes late
  ASSERT_TRUE(s.feed("\xff{\"return\": 1}\n{\"return\": [\"late\"]}\n\xff{\"return\": \"2\"}\n"));
  EXPECT_EQ(s.state(), State::kSyncing);
  EXPECT_FALSE(s.next());
  ASSERT_TRUE(s.feed("\xff{\"return\": 2}\n{\"return\": \"x\"}\n"));
  EXPECT_EQ(s.state(), State::kSynced);
  auto r = drain(s);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].value, "x");
  EXPECT_EQ(s.counters().stale_lines, 3u);
}

TEST(QgaStream, SplitAcrossFeeds) {
  const std::string text =
      "noise\xff{\"return\": 9}\r\n{\"return\": {\"pid\": 1234}}\r\n{\"return\": {\"exited\": false}}\n";
  for (size_t step : {1, 2, 3, 7, 16}) {
    QgaStream s;
    s.begin_sync(9);
    std::vector<QgaReply> got;
    for (size_t i = 0; i < text.size(); i += step) {
      ASSERT_TRUE(s.feed(std::string_view(text).substr(i, step)));
      for (auto& r : drain(s)) got.push_back(std::move(r));
    }
    ASSERT_EQ(got.size(), 2u) << step;
    EXPECT_EQ(got[0].value["pid"], 1234) << step;
    EXPECT_EQ(got[1].value["exited"], false) << step;
  }
}

TEST(QgaStream, SeveralRepliesInOneFeed) {
  QgaStream s;
  s.begin_sync(3);
  ASSERT_TRUE(s.feed("\xff{\"return\": 3}\n{\"return\": 1}\n\n  \r\n{\"return\": 2}\n{\"return\": 3}\n{\"retu"));
  auto r = drain(s);
  ASSERT_EQ(r.size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(r[i].value, i + 1);
  ASSERT_TRUE(s.feed("rn\": 4}\n"));
  r = drain(s);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].value, 4);
}

TEST(QgaStream, Errors) {
  QgaStream s;
  s.begin_sync(1);
  ASSERT_TRUE(
      s.feed("\xff{\"return\": 1}\n"
             "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Invalid parameter 'pid'\"}}\n"
             "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command guest-nope has not been found\"}}\n"
             "{\"error\": \"odd\"}\n"));
  auto r = drain(s);
  ASSERT_EQ(r.size(), 3u);
  EXPECT_FALSE(r[0].ok);
  EXPECT_EQ(r[0].error, "GenericError: Invalid parameter 'pid'");
  EXPECT_TRUE(r[0].value.is_null());
  EXPECT_EQ(r[1].error, "CommandNotFound: The command guest-nope has not been found");
  EXPECT_EQ(r[2].error, "?: ?");
}

TEST(QgaStream, JunkLinesAreSkippedAndCounted) {
  QgaStream s;
  s.begin_sync(1);
  ASSERT_TRUE(s.feed("\xff{\"return\": 1}\nnot json\n[1, 2]\n{\"event\": \"X\"}\n\"str\"\n{\"return\": \"ok\"}\n"));
  auto r = drain(s);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].value, "ok");
  EXPECT_EQ(s.counters().junk_lines, 4u);
  // A 0xFF once synced cuts the line it interrupts.
  ASSERT_TRUE(s.feed("{\"return\": \xff{\"return\": 5}\n"));
  r = drain(s);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].value, 5);
  EXPECT_EQ(s.counters().junk_lines, 5u);
}

TEST(QgaStream, AnOversizeLineForcesAResync) {
  QgaStream s(64);
  s.begin_sync(1);
  ASSERT_TRUE(s.feed("\xff{\"return\": 1}\n{\"return\": 1}\n{\"return\": \""));
  // However it is chunked.
  Status st = Ok{};
  for (int i = 0; i < 10 && st; ++i) st = s.feed("xxxxxxxxxx");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().message, "guest agent: a reply longer than 64 bytes: the channel needs a resync");
  EXPECT_EQ(s.state(), State::kUnsynced);
  EXPECT_EQ(s.counters().oversize, 1u);
  auto r = drain(s);  // what came before the long line still counts
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].value, 1);
  ASSERT_TRUE(s.feed("\"}\n{\"return\": 2}\n"));  // the rest of it, then one more: discarded
  EXPECT_FALSE(s.next());

  s.begin_sync(2);
  ASSERT_TRUE(s.feed("\xff{\"return\": 2}\n{\"return\": 3}\n"));
  r = drain(s);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].value, 3);

  // While syncing, after the 0xFF, too.
  s.begin_sync(4);
  EXPECT_FALSE(s.feed("\xff" + std::string(65, ' ')));
  EXPECT_EQ(s.state(), State::kUnsynced);
  // Before the 0xFF nothing is kept, so nothing is too long.
  s.begin_sync(5);
  EXPECT_TRUE(s.feed(std::string(1000, 'x') + "\xff{\"return\": 5}\n"));
  EXPECT_EQ(s.state(), State::kSynced);
}

TEST(QgaStream, BeginSyncDropsWhatWasNotTaken) {
  QgaStream s;
  s.begin_sync(1);
  ASSERT_TRUE(s.feed("\xff{\"return\": 1}\n{\"return\": \"a\"}\n{\"return\": \"partial"));
  s.begin_sync(2);
  EXPECT_FALSE(s.next());
  ASSERT_TRUE(s.feed("\xff{\"return\": 2}\n{\"return\": \"b\"}\n"));
  auto r = drain(s);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].value, "b");
}

// ---- guest-network-get-interfaces -------------------------------------------

// qemu-ga 7.2 on a Debian 12 guest (statistics shortened; the agent writes
// it on one line).
constexpr const char* kInterfaces = R"({"return": [
  {"name": "lo", "ip-addresses": [
     {"ip-address-type": "ipv4", "ip-address": "127.0.0.1", "prefix": 8},
     {"ip-address-type": "ipv6", "ip-address": "::1", "prefix": 128}],
   "statistics": {"tx-packets": 0, "tx-errs": 0, "rx-bytes": 0, "rx-dropped": 0, "rx-packets": 0, "rx-errs": 0,
                  "tx-bytes": 0, "tx-dropped": 0},
   "hardware-address": "00:00:00:00:00:00"},
  {"name": "eth0", "ip-addresses": [
     {"ip-address-type": "ipv4", "ip-address": "10.0.0.11", "prefix": 24},
     {"ip-address-type": "ipv6", "ip-address": "2001:db8::11", "prefix": 64},
     {"ip-address-type": "ipv6", "ip-address": "fe80::5054:ff:fe12:3456", "prefix": 64}],
   "statistics": {"tx-packets": 25, "tx-errs": 0, "rx-bytes": 9046, "rx-dropped": 0, "rx-packets": 102, "rx-errs": 0,
                  "tx-bytes": 2414, "tx-dropped": 0},
   "hardware-address": "52:54:00:12:34:56"},
  {"name": "eth1", "hardware-address": "52:54:00:AB:CD:EF",
   "ip-addresses": [{"ip-address-type": "ipv4", "ip-address": "169.254.7.9", "prefix": 16},
                    {"ip-address-type": "ipv6", "ip-address": "fe80::1%eth1", "prefix": 64}]},
  {"name": "eth2", "hardware-address": "52:54:00:00:00:03"}]})";

TEST(QgaInterfaces, RequestLine) {
  EXPECT_EQ(guest_network_get_interfaces_request(), "{\"execute\":\"guest-network-get-interfaces\"}\n");
}

TEST(QgaInterfaces, ParsesWhatTheAgentWrites) {
  QgaStream s;
  s.begin_sync(11);
  ASSERT_TRUE(s.feed("\xff{\"return\": 11}\n" + json::parse(kInterfaces).dump() + "\n"));
  auto r = s.next();
  ASSERT_TRUE(r && r->ok);
  auto ifs = parse_guest_interfaces(r->value);
  ASSERT_TRUE(ifs) << ifs.error().message;
  ASSERT_EQ(ifs->size(), 4u);
  const auto& v = *ifs;
  EXPECT_EQ(v[0].name, "lo");
  EXPECT_EQ(v[0].mac, "00:00:00:00:00:00");
  EXPECT_EQ(v[0].addresses, (std::vector<std::string>{"127.0.0.1/8", "::1/128"}));
  EXPECT_TRUE(v[0].link_local.empty());
  EXPECT_EQ(v[1].name, "eth0");
  EXPECT_EQ(v[1].mac, "52:54:00:12:34:56");
  EXPECT_EQ(v[1].addresses, (std::vector<std::string>{"10.0.0.11/24", "2001:db8::11/64"}));
  EXPECT_EQ(v[1].link_local, std::vector<std::string>{"fe80::5054:ff:fe12:3456/64"});
  EXPECT_EQ(v[2].mac, "52:54:00:ab:cd:ef");
  EXPECT_TRUE(v[2].addresses.empty());
  EXPECT_EQ(v[2].link_local, (std::vector<std::string>{"169.254.7.9/16", "fe80::1/64"}));
  EXPECT_EQ(v[3].name, "eth2");
  EXPECT_TRUE(v[3].addresses.empty() && v[3].link_local.empty());
  // No hardware address (a tunnel device) and a name with odd bytes.
  auto odd = parse_guest_interfaces(json::parse(R"([{"name": "tun\u0001x"}])"));
  ASSERT_TRUE(odd) << odd.error().message;
  EXPECT_EQ((*odd)[0].name, "tun\\x01x");
  EXPECT_EQ((*odd)[0].mac, "");
}

TEST(QgaInterfaces, Refusals) {
  const std::pair<const char*, const char*> bad[] = {
      {R"({"name": "eth0"})", "guest-network-get-interfaces: the answer is not a list"},
      {R"([{"hardware-address": "52:54:00:00:00:01"}])", "guest-network-get-interfaces: an interface without a name"},
      {R"([7])", "guest-network-get-interfaces: an interface is not an object"},
      {R"([{"name": "eth0", "hardware-address": "52:54:00:00:00"}])",
       "guest-network-get-interfaces: interface 'eth0': a hardware-address that is no MAC"},
      {R"([{"name": "eth0", "ip-addresses": {}}])",
       "guest-network-get-interfaces: interface 'eth0': ip-addresses is not a list"},
      {R"([{"name": "eth0", "ip-addresses": [{"ip-address-type": "ipv4", "ip-address": "10.0.0.300", "prefix": 24}]}])",
       "guest-network-get-interfaces: interface 'eth0': '10.0.0.300/24' is not an IPv4 address"},
      {R"([{"name": "eth0", "ip-addresses": [{"ip-address-type": "ipv4", "ip-address": "10.0.0.3", "prefix": 33}]}])",
       "guest-network-get-interfaces: interface 'eth0': '10.0.0.3/33' is not an IPv4 address"},
      {R"([{"name": "eth0", "ip-addresses": [{"ip-address-type": "ipv6", "ip-address": "10.0.0.3", "prefix": 64}]}])",
       "guest-network-get-interfaces: interface 'eth0': '10.0.0.3/64' is not an IPv6 address"},
      {R"([{"name": "eth0", "ip-addresses": [{"ip-address-type": "ipx", "ip-address": "1", "prefix": 1}]}])",
       "guest-network-get-interfaces: interface 'eth0': unknown ip-address-type 'ipx'"},
      {R"([{"name": "eth0", "ip-addresses": [{"ip-address": "10.0.0.3", "prefix": 24}]}])",
       "guest-network-get-interfaces: interface 'eth0': an address lacks ip-address-type, ip-address or prefix"},
      {R"([{"name": "eth0", "ip-addresses": [{"ip-address-type": "ipv4", "ip-address": "10.0.0.3", "prefix": -1}]}])",
       "guest-network-get-interfaces: interface 'eth0': an address lacks ip-address-type, ip-address or prefix"},
  };
  for (const auto& [text, msg] : bad) {
    auto r = parse_guest_interfaces(json::parse(text));
    ASSERT_FALSE(r) << text;
    EXPECT_EQ(r.error().message, msg);
  }
}

// ---- guest-exec, guest-exec-status ----------------------------------------

TEST(QgaExec, RequestLines) {
  auto r = guest_exec_request("/bin/sh", {"-c", "echo \"hi\""}, "");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r,
            "{\"arguments\":{\"arg\":[\"-c\",\"echo \\\"hi\\\"\"],\"capture-output\":true,\"path\":\"/bin/sh\"},"
            "\"execute\":\"guest-exec\"}\n");
  r = guest_exec_request("/bin/cat", {}, "hi\n");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r,
            "{\"arguments\":{\"arg\":[],\"capture-output\":true,\"input-data\":\"aGkK\",\"path\":\"/bin/cat\"},"
            "\"execute\":\"guest-exec\"}\n");
  EXPECT_EQ(guest_exec_status_request(1234), "{\"arguments\":{\"pid\":1234},\"execute\":\"guest-exec-status\"}\n");
}

TEST(QgaExec, RequestRefusals) {
  EXPECT_EQ(guest_exec_request("", {}, "").error().message, "guest-exec: no program to run");
  EXPECT_EQ(guest_exec_request("/bin/\xff", {}, "").error().message,
            "guest-exec: the program's path is not valid UTF-8");
  EXPECT_EQ(guest_exec_request("/bin/sh", {"-c", "a\xc3"}, "").error().message,
            "guest-exec: argument 2 is not valid UTF-8");
  EXPECT_EQ(guest_exec_request("/bin/cat", {}, std::string(kMaxExecOutput + 1, 'x')).error().message,
            "guest-exec: more than 16 MiB of input");
  // stdin is bytes (base64), not text.
  EXPECT_TRUE(guest_exec_request("/bin/cat", {}, "\xff\x00"));
}

TEST(QgaExec, Pid) {
  auto pid = parse_guest_exec(json::parse(R"({"pid": 1234})"));
  ASSERT_TRUE(pid) << pid.error().message;
  EXPECT_EQ(*pid, 1234);
  for (const char* bad : {"{}", R"({"pid": 0})", R"({"pid": -5})", R"({"pid": "7"})", "[1]", R"({"pid": 1.5})",
                          R"({"pid": 18446744073709551615})"}) {
    auto r = parse_guest_exec(json::parse(bad));
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().message, "guest-exec: the answer has no pid");
  }
}

TEST(QgaExec, Status) {
  auto running = parse_guest_exec_status(json::parse(R"({"exited": false})"));
  ASSERT_TRUE(running) << running.error().message;
  EXPECT_FALSE(running->exited);
  EXPECT_FALSE(running->exitcode);

  auto done = parse_guest_exec_status(
      json::parse(R"({"exitcode": 0, "out-data": "aGVsbG8K", "err-data": "d2Fybgo=", "exited": true})"));
  ASSERT_TRUE(done) << done.error().message;
  EXPECT_TRUE(done->exited);
  EXPECT_EQ(done->exitcode, 0);
  EXPECT_FALSE(done->signal);
  EXPECT_EQ(done->out, "hello\n");
  EXPECT_EQ(done->err, "warn\n");
  EXPECT_FALSE(done->out_truncated || done->err_truncated);

  auto killed = parse_guest_exec_status(json::parse(R"({"exited": true, "signal": 9})"));
  ASSERT_TRUE(killed) << killed.error().message;
  EXPECT_FALSE(killed->exitcode);
  EXPECT_EQ(killed->signal, 9);
  EXPECT_EQ(killed->out, "");

  auto cut = parse_guest_exec_status(
      json::parse(R"({"exitcode": 141, "out-data": "eA==", "out-truncated": true, "exited": true})"));
  ASSERT_TRUE(cut) << cut.error().message;
  EXPECT_EQ(cut->exitcode, 141);
  EXPECT_TRUE(cut->out_truncated);
  EXPECT_FALSE(cut->err_truncated);
}

TEST(QgaExec, StatusRefusals) {
  const std::pair<const char*, const char*> bad[] = {
      {"[]", "guest-exec-status: the answer is not an object"},
      {"{}", "guest-exec-status: the answer does not say whether it exited"},
      {R"({"exited": 1})", "guest-exec-status: the answer does not say whether it exited"},
      {R"({"exited": true, "out-data": "aGVsbG8"})",
       "guest-exec-status: out-data is not base64 (base64: length is not a multiple of 4)"},
      {R"({"exited": true, "err-data": "a*=="})",
       "guest-exec-status: err-data is not base64 (base64: invalid character at offset 1)"},
      {R"({"exited": true, "err-data": 5})", "guest-exec-status: err-data is not a string"},
      {R"({"exited": true, "exitcode": "0"})", "guest-exec-status: exitcode is not an integer"},
      {R"({"exited": true, "exitcode": 4294967296})", "guest-exec-status: exitcode is not an integer"},
      {R"({"exited": true, "signal": 1.5})", "guest-exec-status: signal is not an integer"},
      {R"({"exited": true, "out-truncated": "yes"})", "guest-exec-status: out-truncated is not a boolean"},
  };
  for (const auto& [text, msg] : bad) {
    auto r = parse_guest_exec_status(json::parse(text));
    ASSERT_FALSE(r) << text;
    EXPECT_EQ(r.error().message, msg);
  }
  // More than the agent ever keeps.
  json big = {{"exited", true}, {"out-data", std::string((kMaxExecOutput / 3 + 2) * 4, 'A')}};
  auto r = parse_guest_exec_status(big);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "guest-exec-status: out-data holds more than 16 MiB");
  big["out-data"] = std::string((kMaxExecOutput + 2) / 3 * 4, 'A');  // 16 MiB + 2 bytes: still too much
  r = parse_guest_exec_status(big);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "guest-exec-status: out-data holds more than 16 MiB");
  big["out-data"] = std::string(kMaxExecOutput / 3 * 4, 'A') + "AA==";  // exactly 16 MiB
  r = parse_guest_exec_status(big);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->out.size(), kMaxExecOutput);
}

TEST(QgaExec, ALineLongEnoughForTheLargestStatus) {
  // Both streams at the agent's cap, base64, in one reply line.
  const std::string b64 = std::string(kMaxExecOutput / 3 * 4, 'A') + "AA==";
  const std::string line = json{{"return",
                                 {{"exited", true},
                                  {"exitcode", 0},
                                  {"out-data", b64},
                                  {"err-data", b64},
                                  {"out-truncated", true},
                                  {"err-truncated", true}}}}
                               .dump() +
                           "\n";
  QgaStream s(QgaStream::kMaxExecLine);
  s.begin_sync(1);
  ASSERT_TRUE(s.feed("\xff{\"return\": 1}\n"));
  ASSERT_TRUE(s.feed(line));
  auto r = s.next();
  ASSERT_TRUE(r && r->ok);
  auto st = parse_guest_exec_status(r->value);
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(st->out.size(), kMaxExecOutput);
  EXPECT_EQ(st->err.size(), kMaxExecOutput);
}

}  // namespace
}  // namespace kvnet::vm
