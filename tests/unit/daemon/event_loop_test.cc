// The control loop: fds, timers, child processes, signals, cross-thread
// posts, and callbacks that throw or remove themselves.
#include "daemon/event_loop.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

namespace kvnet::daemon {
namespace {

using namespace std::chrono_literals;

std::unique_ptr<EventLoop> make_loop() {
  auto l = EventLoop::create();
  EXPECT_TRUE(l.ok()) << l.error().message;
  return std::move(*l);
}

// Runs rounds until `done` or `limit` passes.
template <typename Pred>
bool run_until(EventLoop& loop, Pred done, std::chrono::milliseconds limit = 5000ms) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!done() && std::chrono::steady_clock::now() < end) loop.run_once(20ms);
  return done();
}

TEST(EventLoopTest, FdCallbackSeesReadableData) {
  auto loop = make_loop();
  int p[2];
  ASSERT_EQ(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
  std::string got;
  ASSERT_TRUE(loop->add_fd(p[0], EPOLLIN, [&](uint32_t ev) {
    EXPECT_TRUE(ev & EPOLLIN);
    char buf[16];
    const ssize_t n = read(p[0], buf, sizeof buf);
    if (n > 0) got.append(buf, static_cast<size_t>(n));
  }).ok());
  EXPECT_FALSE(loop->add_fd(p[0], EPOLLIN, [](uint32_t) {}).ok());  // once only
  ASSERT_EQ(write(p[1], "hi", 2), 2);
  EXPECT_TRUE(run_until(*loop, [&] { return got == "hi"; }));
  loop->remove_fd(p[0]);
  EXPECT_FALSE(loop->watching(p[0]));
  close(p[0]);
  close(p[1]);
}

TEST(EventLoopTest, ACallbackMayRemoveItselfAndOthers) {
  auto loop = make_loop();
  int a[2], b[2];
  ASSERT_EQ(pipe2(a, O_CLOEXEC), 0);
  ASSERT_EQ(pipe2(b, O_CLOEXEC), 0);
  int calls = 0;
  auto both = [&](uint32_t) {
    ++calls;
    loop->remove_fd(a[0]);
    loop->remove_fd(b[0]);
  };
  ASSERT_TRUE(loop->add_fd(a[0], EPOLLIN, both).ok());
  ASSERT_TRUE(loop->add_fd(b[0], EPOLLIN, both).ok());
  ASSERT_EQ(write(a[1], "x", 1), 1);
  ASSERT_EQ(write(b[1], "x", 1), 1);
  loop->run_once(100ms);
  loop->run_once(20ms);
  EXPECT_EQ(calls, 1);  // the other was removed before its turn
  for (int fd : {a[0], a[1], b[0], b[1]}) close(fd);
}

TEST(EventLoopTest, TimersFireInOrderAndCanBeCancelled) {
  auto loop = make_loop();
  std::vector<int> fired;
  loop->add_timer(60ms, [&] { fired.push_back(3); });
  loop->add_timer(20ms, [&] { fired.push_back(1); });
  const auto cancelled = loop->add_timer(40ms, [&] { fired.push_back(2); });
  loop->cancel_timer(cancelled);
  loop->cancel_timer(12345);  // unknown: ignored
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(run_until(*loop, [&] { return fired.size() == 2; }));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 60ms);  // never early
  EXPECT_EQ(fired, (std::vector<int>{1, 3}));
}

TEST(EventLoopTest, PeriodicTimerRepeatsUntilCancelled) {
  auto loop = make_loop();
  int ticks = 0;
  EventLoop::TimerId id = 0;
  id = loop->add_periodic(10ms, [&] {
    if (++ticks == 3) loop->cancel_timer(id);
  });
  EXPECT_TRUE(run_until(*loop, [&] { return ticks >= 3; }));
  loop->run_once(50ms);
  EXPECT_EQ(ticks, 3);
}

TEST(EventLoopTest, ChildExitIsDelivered) {
  auto loop = make_loop();
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) _exit(7);
  int status = -1;
  ASSERT_TRUE(loop->watch_child(pid, [&](int s) { status = s; }).ok());
  EXPECT_TRUE(run_until(*loop, [&] { return status != -1; }));
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 7);
  EXPECT_EQ(waitpid(pid, nullptr, WNOHANG), -1);  // reaped by the loop
}

TEST(EventLoopTest, SignalsArriveAsCallbacks) {
  auto loop = make_loop();
  int got = 0;
  ASSERT_TRUE(loop->on_signals({SIGUSR2}, [&](int s) { got = s; }).ok());
  pthread_kill(pthread_self(), SIGUSR2);  // blocked now: queued for the signalfd
  EXPECT_TRUE(run_until(*loop, [&] { return got != 0; }));
  EXPECT_EQ(got, SIGUSR2);
}

TEST(EventLoopTest, PostAndStopFromAnotherThread) {
  auto loop = make_loop();
  std::thread::id ran_on;
  std::thread other([&] {
    loop->post([&] { ran_on = std::this_thread::get_id(); });
    std::this_thread::sleep_for(20ms);
    loop->stop();
  });
  loop->run();  // returns after stop()
  other.join();
  EXPECT_EQ(ran_on, std::this_thread::get_id());
  EXPECT_TRUE(loop->stopping());
}

TEST(EventLoopTest, AThrowingCallbackIsReportedAndTheLoopGoesOn) {
  auto loop = make_loop();
  std::vector<std::string> errors;
  loop->set_error_sink([&](const std::string& e) { errors.push_back(e); });
  bool after = false;
  loop->add_timer(0ms, [] { throw std::runtime_error("boom"); });
  loop->add_timer(5ms, [&] { after = true; });
  EXPECT_TRUE(run_until(*loop, [&] { return after; }));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("boom"), std::string::npos);
}

}  // namespace
}  // namespace kvnet::daemon
