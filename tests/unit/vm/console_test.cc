// Console scanners: the guest's ready marker in the boot log, and the output
// of one command typed on the guest's serial shell.
#include "vm/console.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace kvnet::vm {
namespace {

// --- MarkerScanner ---

TEST(MarkerScanner, FindsTheMarkerSplitAtEveryPosition) {
  const std::string marker(kReadyMarker);
  const std::string before = "[    1.234] random: crng init done\r\n";
  const std::string after = "\r\n/ # ";
  for (size_t cut = 0; cut <= marker.size(); ++cut) {
    MarkerScanner s(marker);
    const bool first = s.feed(before + marker.substr(0, cut));
    EXPECT_EQ(first, cut == marker.size()) << cut;
    EXPECT_TRUE(s.feed(marker.substr(cut) + after)) << cut;
    EXPECT_TRUE(s.found()) << cut;
  }
}

TEST(MarkerScanner, FindsTheMarkerSplitOverManyChunks) {
  const std::string text = "boot noise kvnet-guest: rea kvnet-guest: ready\n";
  for (size_t step = 1; step <= 5; ++step) {
    MarkerScanner s{std::string(kReadyMarker)};
    bool seen = false;
    size_t at = 0;
    for (; at < text.size() && !seen; at += step) seen = s.feed(std::string_view(text).substr(at, step));
    EXPECT_TRUE(seen) << step;
    // Seen no earlier than the chunk that completes it.
    EXPECT_GE(at, text.find("ready\n") + 5) << step;
  }
}

TEST(MarkerScanner, NotFoundStaysFalse) {
  MarkerScanner s{std::string(kReadyMarker)};
  EXPECT_FALSE(s.found());
  EXPECT_FALSE(s.feed(""));
  EXPECT_FALSE(s.feed("kvnet-guest: read"));
  EXPECT_FALSE(s.feed("\r\n"));
  EXPECT_FALSE(s.feed("y"));  // "read" + "\r\n" + "y" is not the marker
  EXPECT_FALSE(s.feed("kvnet-guest:  ready"));
  EXPECT_FALSE(s.feed("KVNET-GUEST: READY"));
  EXPECT_FALSE(s.found());
  // Lots of noise keeps only a short tail: still works afterwards.
  for (int i = 0; i < 1000; ++i) EXPECT_FALSE(s.feed(std::string(100, 'k')));
  EXPECT_TRUE(s.feed("vnet-guest: ready"));  // the 'k' of the noise starts it
}

TEST(MarkerScanner, FoundStaysTrue) {
  MarkerScanner s{std::string(kReadyMarker)};
  EXPECT_TRUE(s.feed("x kvnet-guest: ready y"));
  EXPECT_TRUE(s.found());
  EXPECT_TRUE(s.feed("anything else"));
  EXPECT_TRUE(s.feed(""));
  EXPECT_TRUE(s.found());
}

// --- ExecScanner ---

const char* kNonce = "1234567890";

// What a terminal echoes for typed text: each "\n" as "\r\n".
std::string echo(const std::string& typed) {
  std::string out;
  for (char c : typed) {
    if (c == '\n') out += "\r\n";
    else out += c;
  }
  return out;
}

// The typed text's two lines (each with its "\n").
std::pair<std::string, std::string> lines_of(const std::string& typed) {
  const auto nl = typed.find('\n');
  return {typed.substr(0, nl + 1), typed.substr(nl + 1)};
}

const std::string kBegin = std::string("KVNET-BEGIN-") + kNonce + "\r\n";
std::string end_line(int status) { return "KVNET-END-" + std::string(kNonce) + ":" + std::to_string(status) + "\r\n"; }

// A busybox shell with line editing on the serial console: it echoes each
// line as it reads it, after its prompt.
std::string line_editing_session(const std::string& command, const std::string& output, int status) {
  ExecScanner s(kNonce);
  const auto [l1, l2] = lines_of(s.command_line(command));
  return "/ # " + echo(l1) + kBegin + output + "/ # " + echo(l2) + end_line(status) + "/ # ";
}

// A shell reading in canonical mode: the terminal echoes both typed lines at
// once, before the shell runs the first; the prompt before the second line
// stands alone.
std::string canonical_session(const std::string& command, const std::string& output, int status) {
  ExecScanner s(kNonce);
  const auto [l1, l2] = lines_of(s.command_line(command));
  return "/ # " + echo(l1) + echo(l2) + kBegin + output + "/ # " + end_line(status) + "/ # ";
}

TEST(ExecScanner, CommandLineIsTwoLinesThatDoNotEchoAsMarkers) {
  ExecScanner s(kNonce);
  const std::string typed = s.command_line("ip -br addr");
  ASSERT_FALSE(typed.empty());
  EXPECT_EQ(typed.back(), '\n');
  EXPECT_EQ(std::count(typed.begin(), typed.end(), '\n'), 2);
  EXPECT_NE(typed.find("ip -br addr"), std::string::npos);
  EXPECT_NE(typed.find(kNonce), std::string::npos);
  // The echo of the typed text must never read as a marker.
  EXPECT_EQ(typed.find(std::string("KVNET-BEGIN-") + kNonce), std::string::npos) << typed;
  EXPECT_EQ(typed.find(std::string("KVNET-END-") + kNonce), std::string::npos) << typed;
  ExecScanner e(kNonce);
  e.feed(echo(typed));
  EXPECT_FALSE(e.done());
}

TEST(ExecScanner, LineEditingShell) {
  const std::string session = line_editing_session("ip -br link", "lo UNKNOWN\r\neth0 UP\r\n", 3);
  ExecScanner s(kNonce);
  s.feed(session);
  ASSERT_TRUE(s.done());
  EXPECT_EQ(s.output(), "lo UNKNOWN\neth0 UP\n");
  EXPECT_EQ(s.status(), 3);
}

TEST(ExecScanner, ByteByByte) {
  const std::string session = line_editing_session("ip -br link", "lo UNKNOWN\r\neth0 UP\r\n", 3);
  ExecScanner s(kNonce);
  const auto end = session.find(end_line(3)) + end_line(3).size();
  for (size_t i = 0; i < session.size(); ++i) {
    s.feed(session.substr(i, 1));
    // Done exactly when the status line is complete (its "\r" is dropped, its "\n" ends it).
    EXPECT_EQ(s.done(), i + 1 >= end) << i;
  }
  ASSERT_TRUE(s.done());
  EXPECT_EQ(s.output(), "lo UNKNOWN\neth0 UP\n");
  EXPECT_EQ(s.status(), 3);
}

TEST(ExecScanner, SplitInTwoAtEveryPosition) {
  for (auto session_of : {line_editing_session, canonical_session}) {
    const std::string session = session_of("cat /proc/loadavg", "0.00 0.01 0.05 1/23 45\r\n", 0);
    for (size_t cut = 0; cut <= session.size(); ++cut) {
      ExecScanner s(kNonce);
      s.feed(session.substr(0, cut));
      s.feed(session.substr(cut));
      ASSERT_TRUE(s.done()) << cut;
      EXPECT_EQ(s.output(), "0.00 0.01 0.05 1/23 45\n") << cut;
      EXPECT_EQ(s.status(), 0) << cut;
    }
  }
}

TEST(ExecScanner, CanonicalEchoBeforeTheBeginMarker) {
  const std::string session = canonical_session("ip -br link", "lo UNKNOWN\r\neth0 UP\r\n", 3);
  ExecScanner s(kNonce);
  s.feed(session);
  ASSERT_TRUE(s.done());
  EXPECT_EQ(s.output(), "lo UNKNOWN\neth0 UP\n");
  EXPECT_EQ(s.status(), 3);
  ExecScanner b(kNonce);
  for (char c : session) b.feed(std::string_view(&c, 1));
  ASSERT_TRUE(b.done());
  EXPECT_EQ(b.output(), "lo UNKNOWN\neth0 UP\n");
  EXPECT_EQ(b.status(), 3);
}

TEST(ExecScanner, NoOutputAndLargeStatus) {
  for (auto session_of : {line_editing_session, canonical_session}) {
    ExecScanner s(kNonce);
    s.feed(session_of("false", "", 127));
    ASSERT_TRUE(s.done());
    EXPECT_EQ(s.output(), "");
    EXPECT_EQ(s.status(), 127);
  }
}

TEST(ExecScanner, WaitsForTheWholeStatusLine) {
  const std::string session = line_editing_session("sleep 1", "", 42);
  const auto end = session.find(end_line(42));
  ExecScanner s(kNonce);
  s.feed(session.substr(0, end + end_line(42).size() - 3));  // "...:4"
  EXPECT_FALSE(s.done());
  EXPECT_EQ(s.status(), -1);
  s.feed(session.substr(end + end_line(42).size() - 3));
  ASSERT_TRUE(s.done());
  EXPECT_EQ(s.status(), 42);
}

TEST(ExecScanner, OtherNoncesAndLaterTextAreIgnored) {
  ExecScanner s(kNonce);
  // Markers of an earlier --exec (another nonce) in the output: not ours.
  const std::string out = "KVNET-BEGIN-999\r\nKVNET-END-999:1\r\nreal\r\n";
  const std::string session = line_editing_session("cat old.log", out, 0);
  s.feed("KVNET-END-" + std::string(kNonce) + ":5\r\n");  // before our begin marker: not the end
  EXPECT_FALSE(s.done());
  s.feed(session);
  ASSERT_TRUE(s.done());
  EXPECT_EQ(s.output(), "KVNET-BEGIN-999\nKVNET-END-999:1\nreal\n");
  EXPECT_EQ(s.status(), 0);
  s.feed("KVNET-END-" + std::string(kNonce) + ":9\r\nmore\r\n");  // after done: nothing changes
  EXPECT_EQ(s.output(), "KVNET-BEGIN-999\nKVNET-END-999:1\nreal\n");
  EXPECT_EQ(s.status(), 0);
}

}  // namespace
}  // namespace kvnet::vm
