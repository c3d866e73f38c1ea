// The metrics endpoint over real HTTP (cpp-httplib's client), loop_call,
// sd_notify's datagram, and the request log's lines.
#include "daemon/metrics_server.h"

#include <gtest/gtest.h>

#include "free_port.h"
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>

#include "daemon/event_loop.h"
#include "daemon/loop_call.h"
#include "daemon/metrics.h"
#include "daemon/request_log.h"
#include "daemon/sd_notify.h"

namespace kvnet::daemon {
namespace {

using testing::free_port;

TEST(MetricsServer, ServesMetricsAnd404ElsewhereAnd405ForOtherMethods) {
  const ListenAddress addr{"127.0.0.1", free_port()};
  std::atomic<int> scrapes{0};
  MetricsServer s(addr, [&]() -> Result<std::string> {
    ++scrapes;
    return std::string("# HELP x_total X.\n# TYPE x_total counter\nx_total 1\n");
  });
  ASSERT_TRUE(s.start().ok());
  httplib::Client c(addr.host, addr.port);
  auto r = c.Get("/metrics");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), kMetricsContentType);
  EXPECT_EQ(r->body, "# HELP x_total X.\n# TYPE x_total counter\nx_total 1\n");
  auto nf = c.Get("/");
  ASSERT_TRUE(nf);
  EXPECT_EQ(nf->status, 404);
  EXPECT_EQ(nf->body, "404 not found: / (kvnetd serves /metrics)\n");
  auto post = c.Post("/metrics", "x", "text/plain");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 405);
  EXPECT_EQ(post->get_header_value("Allow"), "GET, HEAD");
  auto big = c.Post("/metrics", std::string(10000, 'x'), "text/plain");
  ASSERT_TRUE(big);
  EXPECT_EQ(big->status, 413);
  auto head = c.Head("/metrics");
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(scrapes.load(), 2);  // GET and HEAD
  s.stop();
  EXPECT_FALSE(httplib::Client(addr.host, addr.port).Get("/metrics"));  // closed
}

TEST(MetricsServer, AForeignHostIsRefused) {
  const ListenAddress addr{"127.0.0.1", free_port()};
  int scrapes = 0;
  MetricsServer s(addr, [&]() -> Result<std::string> { return std::to_string(++scrapes) + "\n"; });
  ASSERT_TRUE(s.start().ok());
  httplib::Client c(addr.host, addr.port);
  const std::string port = std::to_string(addr.port);
  auto evil = c.Get("/metrics", {{"Host", "evil.example:" + port}});
  ASSERT_TRUE(evil);
  EXPECT_EQ(evil->status, 403);
  EXPECT_EQ(evil->body, "403 Host 'evil.example:" + port + "' is not this server's address (127.0.0.1:" + port +
                            "): use its IP address, localhost or this machine's name\n");
  auto other_port = c.Get("/metrics", {{"Host", "127.0.0.1:1"}});
  ASSERT_TRUE(other_port);
  EXPECT_EQ(other_port->status, 403);
  auto local = c.Get("/metrics", {{"Host", "localhost:" + port}});
  ASSERT_TRUE(local);
  EXPECT_EQ(local->status, 200);
  EXPECT_EQ(scrapes, 1);  // the refused ones never asked for metrics
}

TEST(MetricsServer, ACollectFailureIsA503WithTheReason) {
  const ListenAddress addr{"127.0.0.1", free_port()};
  MetricsServer s(addr, []() -> Result<std::string> { return Error{"kvnetd's control loop did not answer"}; });
  ASSERT_TRUE(s.start().ok());
  auto r = httplib::Client(addr.host, addr.port).Get("/metrics");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->body, "kvnetd's control loop did not answer\n");
}

TEST(MetricsServer, ABusyPortOrAForeignAddressIsAnErrorNamingIt) {
  const ListenAddress addr{"127.0.0.1", free_port()};
  auto collect = []() -> Result<std::string> { return std::string(); };
  MetricsServer first(addr, collect);
  ASSERT_TRUE(first.start().ok());
  MetricsServer second(addr, collect);
  auto s = second.start();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message, "metrics address " + addr.str() + ": Address already in use");
  MetricsServer foreign({"192.0.2.1", addr.port}, collect);  // TEST-NET-1: not ours
  auto f = foreign.start();
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.error().message, "metrics address 192.0.2.1:" + std::to_string(addr.port) + ": Cannot assign requested address");
}

TEST(MetricsServer, ManyClientsAtOnceAreAllAnswered) {
  const ListenAddress addr{"127.0.0.1", free_port()};
  MetricsServer s(addr, []() -> Result<std::string> { return std::string("x 1\n"); }, {.limits = HttpLimits{.workers = 2, .max_connections = 4}});
  ASSERT_TRUE(s.start().ok());
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < 12; ++i)
    clients.emplace_back([&] {
      httplib::Client c(addr.host, addr.port);
      c.set_keep_alive(false);
      if (auto r = c.Get("/metrics"); r && r->status == 200) ++ok;
    });
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok.load(), 12);
}

TEST(LoopCall, RunsOnTheLoopThreadAndTimesOutWhenTheLoopDoesNotRun) {
  auto loop = EventLoop::create();
  ASSERT_TRUE(loop.ok());
  EventLoop& l = **loop;
  std::atomic<bool> quit{false};
  l.run_once(std::chrono::milliseconds(0));  // this thread is the loop's
  auto mine = loop_call(l, [] { return 1; }, std::chrono::milliseconds(100));
  ASSERT_FALSE(mine.ok());
  EXPECT_EQ(mine.error().message, "loop_call from the control loop's own thread");

  std::thread::id ran_on;
  std::thread caller([&] {
    auto r = loop_call(l, [&] { ran_on = std::this_thread::get_id(); return 42; }, std::chrono::milliseconds(5000));
    EXPECT_TRUE(r.ok());
    if (r) {
      EXPECT_EQ(*r, 42);
    }
    auto thrown = loop_call(l, []() -> int { throw std::runtime_error("boom"); }, std::chrono::milliseconds(5000));
    EXPECT_FALSE(thrown.ok());
    if (!thrown) {
      EXPECT_EQ(thrown.error().message, "internal error: boom");
    }
    quit = true;
  });
  while (!quit) l.run_once(std::chrono::milliseconds(10));
  caller.join();
  EXPECT_EQ(ran_on, std::this_thread::get_id());

  // Nobody runs the loop: the caller gives up after its timeout.
  std::thread late([&] {
    auto r = loop_call(l, [] { return 1; }, std::chrono::milliseconds(150));
    EXPECT_FALSE(r.ok());
    if (!r) {
      EXPECT_EQ(r.error().message, "kvnetd's control loop did not answer within 150 ms");
    }
  });
  late.join();
  l.run_once(std::chrono::milliseconds(0));  // the late function runs now, harmlessly
  l.stop();
  std::thread stopped([&] {
    auto r = loop_call(l, [] { return 1; }, std::chrono::milliseconds(5000));
    EXPECT_FALSE(r.ok());
    if (!r) {
      EXPECT_EQ(r.error().message, "kvnetd is stopping");
    }
  });
  stopped.join();
}

TEST(SdNotify, SendsOneDatagramToNotifySocketAndNothingWithoutIt) {
  const auto path = std::filesystem::path(::testing::TempDir()) / ("kvnet-notify-" + std::to_string(getpid()));
  std::filesystem::remove(path);
  const int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  const char* saved = std::getenv("NOTIFY_SOCKET");
  const std::string before = saved ? saved : "";
  unsetenv("NOTIFY_SOCKET");
  EXPECT_TRUE(sd_notify("READY=1").ok());  // not under systemd: nothing
  setenv("NOTIFY_SOCKET", path.c_str(), 1);
  EXPECT_TRUE(sd_notify("READY=1\nSTATUS=up").ok());
  char buf[64] = {};
  EXPECT_EQ(recv(fd, buf, sizeof buf, MSG_DONTWAIT), 17);
  EXPECT_STREQ(buf, "READY=1\nSTATUS=up");
  setenv("NOTIFY_SOCKET", "relative", 1);
  EXPECT_FALSE(sd_notify("READY=1").ok());
  if (saved) setenv("NOTIFY_SOCKET", before.c_str(), 1);
  else unsetenv("NOTIFY_SOCKET");
  close(fd);
  std::filesystem::remove(path);
}

TEST(RequestLog, ChangesAreInfoWithWhoAndThePlanRefusalsWarnReadsDebug) {
  const ApiPeer peer{true, getpid(), 0, 0};
  EXPECT_EQ(request_kind({{"cmd", "add-br"}}), RequestKind::kChange);
  EXPECT_EQ(request_kind({{"cmd", "vm-start"}}), RequestKind::kChange);
  EXPECT_EQ(request_kind({{"cmd", "stats-clear"}}), RequestKind::kChange);
  EXPECT_EQ(request_kind({{"cmd", "show"}}), RequestKind::kRead);
  EXPECT_EQ(request_kind({{"cmd", "apply"}, {"dry_run", true}}), RequestKind::kRead);
  EXPECT_EQ(request_kind({{"cmd", "nope"}}), RequestKind::kRead);
  EXPECT_EQ(request_kind(nlohmann::json::array()), RequestKind::kRead);

  const std::string who = peer_text(peer);
  EXPECT_TRUE(who.starts_with("uid 0 pid " + std::to_string(getpid()) + " (")) << who;
  EXPECT_EQ(peer_text(ApiPeer{}), "an unknown client");

  const nlohmann::json add{{"cmd", "add-port"}, {"bridge", "br0"}, {"port", "p1"}};
  auto l = request_log_line(add, peer,
                            {{"ok", true}, {"result", {{"changed", true}, {"changes", {"+ port br0/p1", "+ fdb x"}}}}});
  EXPECT_EQ(l.level, LogLevel::kInfo);
  EXPECT_EQ(l.text, "change by " + who + R"(: {"bridge":"br0","cmd":"add-port","port":"p1"} => + port br0/p1; + fdb x)");
  l = request_log_line(add, peer, {{"ok", false}, {"error", "bridge 'br0' does not exist"}});
  EXPECT_EQ(l.level, LogLevel::kWarn);
  EXPECT_EQ(l.text, "refused change by " + who +
                        R"(: {"bridge":"br0","cmd":"add-port","port":"p1"}: bridge 'br0' does not exist)");
  l = request_log_line({{"cmd", "add-br"}, {"bridge", "b"}}, peer, {{"ok", true}, {"result", {{"changes", nlohmann::json::array()}}}});
  EXPECT_TRUE(l.text.ends_with("=> no change")) << l.text;
  l = request_log_line({{"cmd", "fdb-flush"}, {"bridge", "b"}}, peer, {{"ok", true}, {"result", {{"flushed", 3}}}});
  EXPECT_TRUE(l.text.ends_with(R"(=> {"flushed":3})")) << l.text;
  l = request_log_line({{"cmd", "show"}}, peer, {{"ok", true}, {"result", nlohmann::json::object()}});
  EXPECT_EQ(l.level, LogLevel::kDebug);
  EXPECT_EQ(l.text, "request by " + who + R"(: {"cmd":"show"} => ok)");
}

TEST(RequestLog, LongStringsAreCutAndSayHowLongTheyWere) {
  const nlohmann::json req{{"cmd", "apply"}, {"yaml", std::string(1000, 'y')}, {"list", {std::string(300, 'z')}}};
  const std::string t = request_text(req, 10);
  EXPECT_EQ(t, R"x({"cmd":"apply","list":["zzzzzzzzzz...(300 bytes)"],"yaml":"yyyyyyyyyy...(1000 bytes)"})x");
}

}  // namespace
}  // namespace kvnet::daemon
