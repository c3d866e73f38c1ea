// GuestAgent on the real control loop against a fake agent: a thread that
// serves the Unix socket as QEMU does (one client at a time) and answers as
// qemu-guest-agent 7.2 does, or misbehaves: stale replies before the sync,
// silence, a closed channel, an endless line. What is checked: replies reach
// the right request, in order; a silent agent fails the request within its
// timeout and the next request reconnects and resyncs; the NICs' view; a
// command followed to its exit; the deadline of a command that never ends.
#include "daemon/guest_agent.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "ctl/render.h"
#include "daemon/loop_testing.h"

namespace kvnet::daemon {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;

// What the fake agent does with a request (after the sync): the line to
// send back ("" nothing), or close the connection.
struct Answer {
  std::string line;
  bool close = false;
};

class FakeAgent {
 public:
  using Script = std::function<Answer(const json& request)>;
  FakeAgent(std::string path, Script script) : path_(std::move(path)), script_(std::move(script)) {
    fs::remove(path_);
    listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path, path_.c_str(), path_.size());
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(listen_fd_, 4) != 0)
      ADD_FAILURE() << "fake agent: " << std::strerror(errno);
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeAgent() {
    stop_ = true;
    thread_.join();
    ::close(listen_fd_);
    fs::remove(path_);
  }
  int connections() const { return connections_; }
  std::vector<std::string> requests() {
    std::lock_guard l(mu_);
    return requests_;
  }
  // Bytes sent before the sync's 0xFF (as a reply left from an earlier client).
  std::string stale = "{\"return\": {\"pid\": 999}}\n";

 private:
  bool wait_readable(int fd) {
    while (!stop_) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 20) > 0) return true;
    }
    return false;
  }
  void serve() {
    while (wait_readable(listen_fd_)) {
      const int c = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      ++connections_;
      talk(c);
      ::close(c);
    }
  }
  void send_all(int c, const std::string& s) { (void)!::send(c, s.data(), s.size(), MSG_NOSIGNAL); }
  void talk(int c) {
    std::string buf;
    char tmp[4096];
    while (wait_readable(c)) {
      const ssize_t n = ::recv(c, tmp, sizeof tmp, 0);
      if (n <= 0) return;
      buf.append(tmp, static_cast<size_t>(n));
      size_t nl;
      while ((nl = buf.find('\n')) != std::string::npos) {
        std::string line = buf.substr(0, nl);
        buf.erase(0, nl + 1);
        if (!line.empty() && line[0] == '\xff') line.erase(0, 1);
        const json req = json::parse(line, nullptr, false);
        if (req.is_discarded()) continue;
        {
          std::lock_guard l(mu_);
          requests_.push_back(req.value("execute", ""));
        }
        if (req.value("execute", "") == "guest-sync-delimited") {
          Answer a = script_(req);
          if (a.close) return;
          if (a.line == "-") continue;  // silent
          send_all(c, stale + "\xff" + json{{"return", req["arguments"]["id"]}}.dump() + "\n");
          continue;
        }
        Answer a = script_(req);
        if (a.close) return;
        if (!a.line.empty()) send_all(c, a.line);
      }
    }
  }

  std::string path_;
  Script script_;
  int listen_fd_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::mutex mu_;
  std::vector<std::string> requests_;
  std::thread thread_;
};

// qemu-guest-agent 7.2's answers, as a Debian 12 guest gave them.
Answer debian_agent(const json& req) {
  const std::string e = req.value("execute", "");
  if (e == "guest-sync-delimited") return {};
  if (e == "guest-network-get-interfaces")
    return {R"({"return": [{"name": "lo", "ip-addresses": [{"ip-address-type": "ipv4", "ip-address": "127.0.0.1", "prefix": 8}], "statistics": {}, "hardware-address": "00:00:00:00:00:00"}, {"name": "eth0", "ip-addresses": [{"ip-address-type": "ipv4", "ip-address": "10.9.0.5", "prefix": 24}, {"ip-address-type": "ipv6", "ip-address": "fe80::5054:ff:fe00:11", "prefix": 64}], "hardware-address": "52:54:00:00:00:11"}]})"
            "\n"};
  return {R"({"error": {"class": "CommandNotFound", "desc": "The command )" + e + R"( has not been found"}})" "\n"};
}

class GuestAgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("kvnet-qga-" + std::to_string(getpid()));
    fs::create_directories(dir_);
    auto l = EventLoop::create();
    ASSERT_TRUE(l.ok());
    loop_ = std::move(*l);
  }
  void TearDown() override {
    loop_.reset();
    fs::remove_all(dir_);
  }
  std::string sock() const { return (dir_ / "qga.sock").string(); }
  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds limit = 5000ms) {
    return testing::run_loop_until(*loop_, done, limit, 10ms);
  }
  // One request's outcome.
  Result<vm::QgaReply> ask(GuestAgent& g, const std::string& line, std::chrono::milliseconds timeout = 2000ms) {
    std::optional<Result<vm::QgaReply>> got;
    g.call(line, timeout, [&](Result<vm::QgaReply> r) { got = std::move(r); });
    EXPECT_TRUE(run_until([&] { return got.has_value(); }, timeout + 3000ms));
    if (!got) return Error{"no callback"};
    return *got;
  }
  GuestAgent::Options fast() const {
    GuestAgent::Options o;
    o.poll_every = 50ms;
    o.poll_idle_every = 50ms;
    o.poll_timeout = 200ms;
    o.exec_status_every = 10ms;
    return o;
  }

  fs::path dir_;
  std::unique_ptr<EventLoop> loop_;
};

TEST_F(GuestAgentTest, SyncsPastStaleBytesThenAnswersInOrder) {
  FakeAgent fake(sock(), debian_agent);
  GuestAgent g(*loop_, sock());
  std::vector<std::string> order;
  g.call(vm::guest_network_get_interfaces_request(), 2000ms, [&](Result<vm::QgaReply> r) {
    ASSERT_TRUE(r.ok()) << r.error().message;
    order.push_back(r->ok ? "interfaces" : r->error);
  });
  g.call("{\"execute\":\"guest-info\"}\n", 2000ms, [&](Result<vm::QgaReply> r) {
    ASSERT_TRUE(r.ok()) << r.error().message;
    order.push_back(r->ok ? "info" : r->error);
  });
  ASSERT_TRUE(run_until([&] { return order.size() == 2; }));
  EXPECT_EQ(order[0], "interfaces");  // not the stale {"pid": 999}
  EXPECT_EQ(order[1], "CommandNotFound: The command guest-info has not been found");
  EXPECT_EQ(fake.connections(), 1);
  // One sync per connection.
  EXPECT_EQ(fake.requests(),
            (std::vector<std::string>{"guest-sync-delimited", "guest-network-get-interfaces", "guest-info"}));
}

TEST_F(GuestAgentTest, PollsTheGuestsNics) {
  FakeAgent fake(sock(), debian_agent);
  GuestAgent g(*loop_, sock(), fast());
  EXPECT_FALSE(g.view().answered);
  bool runs = false;  // a paused guest is not asked, and nothing is sent to it
  g.set_guest_runs([&] { return runs; });
  g.start_polling();
  auto r = ask(g, vm::guest_network_get_interfaces_request());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "the guest is not running (paused, or arriving by migration): its agent cannot answer");
  run_until([] { return false; }, 200ms);
  EXPECT_TRUE(fake.requests().empty());
  EXPECT_EQ(fake.connections(), 0);
  runs = true;
  ASSERT_TRUE(run_until([&] { return g.view().answered; }));
  const auto& ifs = g.view().interfaces;
  ASSERT_EQ(ifs.size(), 2u);
  EXPECT_EQ(ifs[1].name, "eth0");
  EXPECT_EQ(ifs[1].mac, "52:54:00:00:00:11");
  EXPECT_EQ(ifs[1].addresses, std::vector<std::string>{"10.9.0.5/24"});
  EXPECT_EQ(ifs[1].link_local, std::vector<std::string>{"fe80::5054:ff:fe00:11/64"});
  // It goes on asking.
  ASSERT_TRUE(run_until([&] {
    int n = 0;
    for (const auto& r : fake.requests()) n += r == "guest-network-get-interfaces";
    return n >= 3;
  }));
}

TEST_F(GuestAgentTest, ASilentAgentTimesOutAndTheNextRequestReconnects) {
  std::atomic<bool> silent{true};
  FakeAgent fake(sock(), [&](const json& req) -> Answer {
    if (silent) return {"-"};
    return debian_agent(req);
  });
  GuestAgent g(*loop_, sock());
  const auto t0 = std::chrono::steady_clock::now();
  auto r = ask(g, vm::guest_network_get_interfaces_request(), 300ms);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message,
            "the guest agent did not answer within 300 ms (is qemu-guest-agent running in the guest?)");
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 300ms);
  silent = false;  // the agent came up
  r = ask(g, vm::guest_network_get_interfaces_request());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->ok);
  EXPECT_EQ(fake.connections(), 2);
}

TEST_F(GuestAgentTest, AClosedChannelFailsTheRequestAndTheNextOneReconnects) {
  std::atomic<int> calls{0};
  FakeAgent fake(sock(), [&](const json& req) -> Answer {
    if (req.value("execute", "") == "guest-network-get-interfaces" && calls++ == 0) return {"", true};
    return debian_agent(req);
  });
  GuestAgent g(*loop_, sock());
  auto r = ask(g, vm::guest_network_get_interfaces_request());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "the guest agent's channel closed (QEMU is ending?)");
  r = ask(g, vm::guest_network_get_interfaces_request());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->ok);
}

TEST_F(GuestAgentTest, NoChannelIsAnErrorNamingTheSocket) {
  GuestAgent g(*loop_, sock());
  auto r = ask(g, vm::guest_network_get_interfaces_request());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message.rfind("cannot connect to the guest agent's channel " + sock() + ": ", 0), 0u)
      << r.error().message;
}

TEST_F(GuestAgentTest, AnEndlessLineFailsTheRequestNotTheDaemon) {
  std::atomic<int> calls{0};
  FakeAgent fake(sock(), [&](const json& req) -> Answer {
    if (req.value("execute", "") == "guest-network-get-interfaces" && calls++ == 0)
      return {std::string(vm::QgaStream::kMaxLine + 10, 'x')};
    return debian_agent(req);
  });
  GuestAgent g(*loop_, sock());
  auto r = ask(g, vm::guest_network_get_interfaces_request());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("a reply longer than"), std::string::npos) << r.error().message;
  r = ask(g, vm::guest_network_get_interfaces_request());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->ok);
}

TEST_F(GuestAgentTest, ACommandIsFollowedToItsExitAndReportedOnce) {
  std::atomic<int> status_asks{0};
  json exec_args;
  std::mutex mu;
  FakeAgent fake(sock(), [&](const json& req) -> Answer {
    const std::string e = req.value("execute", "");
    if (e == "guest-exec") {
      std::lock_guard l(mu);
      exec_args = req["arguments"];
      return {R"({"return": {"pid": 4242}})" "\n"};
    }
    if (e == "guest-exec-status") {
      if (req["arguments"]["pid"] != 4242) return {R"({"error": {"class": "GenericError", "desc": "Invalid parameter 'pid'"}})" "\n"};
      if (status_asks++ < 2) return {R"({"return": {"exited": false}})" "\n"};
      return {json{{"return",
                    {{"exited", true}, {"exitcode", 3}, {"out-data", ctl::base64_encode("web-1\n")},
                     {"err-data", ctl::base64_encode("warn\n")}}}}
                  .dump() +
              "\n"};
    }
    return debian_agent(req);
  });
  GuestAgent g(*loop_, sock(), fast());
  auto id = g.exec("hostname", {"-f"}, "in", 10s);
  ASSERT_TRUE(id.ok()) << id.error().message;
  std::optional<GuestExec> e;
  ASSERT_TRUE(run_until([&] {
    e = g.exec_status(*id);
    return e && e->state == GuestExec::State::kExited;
  }));
  EXPECT_EQ(e->pid, 4242);
  EXPECT_EQ(e->result.exitcode, 3);
  EXPECT_EQ(e->result.out, "web-1\n");
  EXPECT_EQ(e->result.err, "warn\n");
  EXPECT_EQ(status_asks, 3);
  {
    std::lock_guard l(mu);
    EXPECT_EQ(exec_args["path"], "hostname");
    EXPECT_EQ(exec_args["arg"], json::array({"-f"}));
    EXPECT_EQ(exec_args["input-data"], ctl::base64_encode("in"));
    EXPECT_EQ(exec_args["capture-output"], true);
  }
  EXPECT_FALSE(g.exec_status(*id).has_value());  // reported: forgotten
}

TEST_F(GuestAgentTest, ACommandPastItsDeadlineIsReportedFailed) {
  FakeAgent fake(sock(), [&](const json& req) -> Answer {
    const std::string e = req.value("execute", "");
    if (e == "guest-exec") return {R"({"return": {"pid": 7}})" "\n"};
    if (e == "guest-exec-status") return {R"({"return": {"exited": false}})" "\n"};
    return debian_agent(req);
  });
  GuestAgent g(*loop_, sock(), fast());
  auto id = g.exec("sleep", {"1000"}, "", 200ms);
  ASSERT_TRUE(id.ok());
  std::optional<GuestExec> e;
  ASSERT_TRUE(run_until([&] {
    e = g.exec_status(*id);
    return e && e->state == GuestExec::State::kFailed;
  }));
  EXPECT_EQ(e->error, "still running in the guest (pid 7) at the deadline");
}

TEST_F(GuestAgentTest, ACommandInAGuestWithoutAnAgentFails) {
  FakeAgent fake(sock(), [](const json&) -> Answer { return {"-"}; });
  GuestAgent::Options o = fast();
  GuestAgent g(*loop_, sock(), o);
  auto id = g.exec("true", {}, "", 60s);
  ASSERT_TRUE(id.ok());
  // guest-exec waits 10 s for the agent.
  std::optional<GuestExec> e;
  ASSERT_TRUE(run_until(
      [&] {
        e = g.exec_status(*id);
        return e && e->state == GuestExec::State::kFailed;
      },
      15s));
  EXPECT_NE(e->error.find("did not answer within 10 s"), std::string::npos) << e->error;
}

TEST_F(GuestAgentTest, BadCommandsAreRefusedBeforeAnythingIsSent) {
  GuestAgent g(*loop_, sock());
  EXPECT_FALSE(g.exec("", {}, "", 1s).ok());
  EXPECT_FALSE(g.exec("ls", {std::string("\xff\xfe")}, "", 1s).ok());
  GuestAgent::Options o;
  o.max_execs = 2;
  GuestAgent h(*loop_, sock(), o);
  ASSERT_TRUE(h.exec("a", {}, "", 1s).ok());
  ASSERT_TRUE(h.exec("b", {}, "", 1s).ok());
  auto third = h.exec("c", {}, "", 1s);
  ASSERT_FALSE(third.ok());
  EXPECT_EQ(third.error().message, "already 2 commands tracked in this guest (2 running): wait for them");
}

TEST_F(GuestAgentTest, DestroyedWithRequestsInFlight) {
  FakeAgent fake(sock(), [](const json&) -> Answer { return {"-"}; });
  bool called = false;
  {
    GuestAgent g(*loop_, sock());
    g.call(vm::guest_network_get_interfaces_request(), 5000ms, [&](Result<vm::QgaReply>) { called = true; });
    (void)g.exec("true", {}, "", 5s);
    run_until([] { return false; }, 100ms);
  }
  run_until([] { return false; }, 100ms);  // its timers fire into nothing
  EXPECT_FALSE(called);
}

}  // namespace
}  // namespace kvnet::daemon
