// The Supervisor (daemon/supervisor.h) and io/process.h's helpers under it:
// real processes (sleep, sh) on the real control loop.
#include "daemon/supervisor.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "daemon/loop_testing.h"

namespace kvnet::daemon {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class SupervisorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto l = EventLoop::create();
    ASSERT_TRUE(l.ok());
    loop_ = std::move(*l);
    dir_ = fs::path(::testing::TempDir()) / ("kvnet-sup-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    for (pid_t p : started_) io::send_signal(p, SIGKILL);
    loop_.reset();
    fs::remove_all(dir_);
  }
  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds limit = 5000ms) {
    return testing::run_loop_until(*loop_, done, limit, 10ms);
  }
  static bool alive(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string p, comm, state;
    return in >> p >> comm >> state && state != "Z";
  }
  io::SpawnOptions opts() const { return {.log = (dir_ / "out.log").string()}; }

  std::unique_ptr<EventLoop> loop_;
  fs::path dir_;
  std::vector<pid_t> started_;
};

TEST_F(SupervisorTest, ReportsAnExitOnceWithItsStatus) {
  Supervisor sup(*loop_);
  int status = -2, calls = 0;
  auto pid = sup.spawn("a", {"sh", "-c", "exit 3"}, opts(), [&](int st) {
    status = st;
    ++calls;
  });
  ASSERT_TRUE(pid.ok()) << pid.error().message;
  ASSERT_TRUE(run_until([&] { return calls > 0; }));
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 3);
  EXPECT_EQ(sup.pid("a"), 0);
  run_until([] { return false; }, 100ms);
  EXPECT_EQ(calls, 1);
}

TEST_F(SupervisorTest, TerminateEndsItBeforeReturningAndReportsNothing) {
  Supervisor sup(*loop_);
  bool reported = false;
  auto pid = sup.spawn("a", {"sleep", "30"}, opts(), [&](int) { reported = true; });
  ASSERT_TRUE(pid.ok());
  started_.push_back(*pid);
  EXPECT_EQ(sup.pid("a"), *pid);
  EXPECT_TRUE(sup.terminate("a", 2000ms));
  EXPECT_FALSE(alive(*pid));
  EXPECT_EQ(sup.pid("a"), 0);
  // The same key at once: the old process's exit (reaped now) is not the new one's.
  int new_calls = 0;
  auto next = sup.spawn("a", {"sleep", "30"}, opts(), [&](int) { ++new_calls; });
  ASSERT_TRUE(next.ok());
  started_.push_back(*next);
  run_until([] { return false; }, 200ms);
  EXPECT_FALSE(reported);
  EXPECT_EQ(new_calls, 0);
  EXPECT_EQ(sup.pid("a"), *next);
  EXPECT_FALSE(sup.spawn("a", {"true"}, opts(), nullptr).ok());  // one process per key
}

TEST_F(SupervisorTest, TerminateUsesSigkillAfterTheGrace) {
  Supervisor sup(*loop_);
  auto pid = sup.spawn("a", {"sh", "-c", "trap '' TERM; echo up; while :; do sleep 0.05; done"}, opts(), nullptr);
  ASSERT_TRUE(pid.ok());
  started_.push_back(*pid);
  ASSERT_TRUE(run_until([&] {
    std::ifstream in(dir_ / "out.log");
    std::string s;
    return std::getline(in, s) && s == "up";
  }));
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(sup.terminate("a", 300ms));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 300ms);
  EXPECT_FALSE(alive(*pid));
}

TEST_F(SupervisorTest, AdoptsOnlyAProcessThatIsWhatThePidfileClaims) {
  Supervisor first(*loop_);
  const std::string marker = "kvnet-sup-test-" + std::to_string(getpid());
  // exec: the process is sleep itself, its argv[0] a marker.
  auto pid = first.spawn("a", {"bash", "-c", "exec -a " + marker + " sleep 30"}, opts(), nullptr);
  ASSERT_TRUE(pid.ok());
  started_.push_back(*pid);
  ASSERT_TRUE(run_until([&] {
    auto argv = io::proc_cmdline(*pid);
    return !argv.empty() && argv[0] == marker;
  }));
  const std::string pidfile = (dir_ / "a.pid").string();
  std::ofstream(pidfile) << *pid << "\n";
  auto is_ours = [&](const std::vector<std::string>& argv) { return !argv.empty() && argv[0] == marker; };

  Supervisor second(*loop_);  // as a restarted kvnetd
  EXPECT_EQ(second.adopt("a", pidfile, {"sleep", is_ours}, nullptr), *pid);
  EXPECT_EQ(second.pid("a"), *pid);
  Supervisor third(*loop_);
  EXPECT_EQ(third.adopt("a", pidfile, {"bash", is_ours}, nullptr), 0) << "another executable";
  EXPECT_EQ(third.adopt("a", pidfile, {"sleep", [](const auto&) { return false; }}, nullptr), 0) << "another cmdline";
  std::ofstream(pidfile) << getpid() << "\n";
  EXPECT_EQ(third.adopt("a", pidfile, {"", is_ours}, nullptr), 0) << "a pidfile naming someone else";
  std::ofstream(pidfile) << "garbage\n";
  EXPECT_EQ(third.adopt("a", pidfile, {"", nullptr}, nullptr), 0);
  EXPECT_EQ(third.adopt("a", (dir_ / "none.pid").string(), {"", nullptr}, nullptr), 0);

  // An adopted process is not kvnetd's child: its exit comes with status -1.
  int status = 0;
  Supervisor fourth(*loop_);
  std::ofstream(pidfile) << *pid << "\n";
  ASSERT_EQ(fourth.adopt("b", pidfile, {"sleep", is_ours}, [&](int st) { status = st; }), *pid);
  first.forget("a");
  second.forget("a");
  ASSERT_TRUE(io::send_signal(*pid, SIGKILL));
  ASSERT_TRUE(run_until([&] { return status != 0; }));
  // The loop reaped it for `first` (its child) or it was reaped: either way -1 or a status.
  EXPECT_EQ(fourth.pid("b"), 0);
}

TEST_F(SupervisorTest, RestartsWithBackoff) {
  Supervisor sup(*loop_, Backoff{.first = 50ms, .max = 200ms, .stable = 10s});
  std::vector<std::chrono::steady_clock::time_point> starts;
  std::function<void()> start = [&] {
    starts.push_back(std::chrono::steady_clock::now());
    auto pid = sup.spawn("a", {"true"}, opts(), [&](int) { sup.restart_later("a", start); });
    ASSERT_TRUE(pid.ok());
  };
  start();
  ASSERT_TRUE(run_until([&] { return starts.size() >= 5; }, 5000ms));
  EXPECT_TRUE(sup.restart_scheduled("a") || sup.pid("a"));
  // 50, 100, 200, 200 ms apart (at least).
  const std::chrono::milliseconds want[] = {50ms, 100ms, 200ms, 200ms};
  for (size_t i = 0; i < 4; ++i) EXPECT_GE(starts[i + 1] - starts[i], want[i]) << i;
  sup.terminate("a", 100ms);
  EXPECT_FALSE(sup.restart_scheduled("a"));
}

}  // namespace
}  // namespace kvnet::daemon
