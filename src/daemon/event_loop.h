// kvnetd's control loop: one thread, one epoll set, everything the control
// plane waits for is a callback in it.
//
// What it watches:
//   - file descriptors (the API's listening socket and its connections; later
//     QMP sockets and VM consoles): add_fd / modify_fd / remove_fd;
//   - timers (the 2 s retry of vanished interfaces, per-connection
//     deadlines): add_timer (one-shot) / add_periodic / cancel_timer;
//   - child processes (later QEMU): watch_child, through a pidfd, so the
//     callback gets the exit status without SIGCHLD handling;
//   - signals (SIGTERM/SIGINT): on_signals, through a signalfd.
//
// Callbacks run on the loop thread, one at a time, so control-plane state
// needs no locks. A callback may add or remove anything, including itself;
// an fd removed during a round gets no further callbacks in that round. No
// exception escapes run(): a throwing callback is reported to the error sink
// (set_error_sink) and the loop goes on. Callbacks must not block: slow peers
// are fds with state, not loops of their own.
//
// Thread-safety: every method from the loop thread only, except stop() and
// post(), which any thread may call.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "base/result.h"

namespace kvnet::daemon {

class EventLoop {
 public:
  using Clock = std::chrono::steady_clock;
  using FdCallback = std::function<void(uint32_t events)>;  // EPOLLIN, EPOLLOUT, EPOLLHUP, EPOLLERR
  using TimerCallback = std::function<void()>;
  using ChildCallback = std::function<void(int wait_status)>;  // as waitpid() reports it
  using SignalCallback = std::function<void(int signo)>;
  using TimerId = uint64_t;

  static Result<std::unique_ptr<EventLoop>> create();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // --- file descriptors (the caller keeps owning the fd; remove before close) ---
  Status add_fd(int fd, uint32_t events, FdCallback cb);
  Status modify_fd(int fd, uint32_t events);
  void remove_fd(int fd);
  bool watching(int fd) const { return fds_.count(fd) != 0; }

  // --- timers (steady clock; a timer never fires early, may fire late by
  // as long as the callbacks before it take) ---
  TimerId add_timer(std::chrono::milliseconds delay, TimerCallback cb);
  TimerId add_periodic(std::chrono::milliseconds period, TimerCallback cb);
  void cancel_timer(TimerId id);  // unknown or fired ids are ignored

  // --- child processes: `cb` runs once with the exit status; the loop reaps
  // the child. Needs pidfd_open (Linux 5.3). ---
  Status watch_child(pid_t pid, ChildCallback cb);

  // --- signals: blocks them for the calling thread (call before starting
  // other threads so they inherit the mask) and delivers them here ---
  Status on_signals(const std::vector<int>& signals, SignalCallback cb);

  // Runs until stop(). run_once() waits at most `timeout` for one round of
  // events and due timers (tests drive the loop with it).
  void run();
  void run_once(std::chrono::milliseconds timeout);
  void stop();  // any thread
  bool stopping() const { return stop_; }
  // Runs `fn` on the loop thread at its next round (any thread).
  void post(std::function<void()> fn);
  // Whether the caller is the thread that runs the loop (the last one that
  // called run() or run_once()). Any thread.
  bool on_loop_thread() const { return thread_.load(std::memory_order_relaxed) == std::this_thread::get_id(); }

  // Where failures inside callbacks are reported (default: stderr).
  void set_error_sink(std::function<void(const std::string&)> sink) { error_sink_ = std::move(sink); }

 private:
  EventLoop() = default;
  struct FdEntry {
    uint32_t generation;  // tells a reused fd number from the one an event was for
    std::shared_ptr<FdCallback> cb;  // shared: a callback may remove itself
  };
  struct Timer {
    Clock::time_point due;
    std::chrono::milliseconds period;  // zero: one-shot
    TimerCallback cb;
  };
  void guarded(const char* what, const std::function<void()>& fn);
  void report(const std::string& msg);  // to the error sink, or stderr
  void run_due_timers();
  void run_posted();
  int timeout_ms(std::chrono::milliseconds cap) const;

  int epfd_ = -1;
  int wakefd_ = -1;
  int sigfd_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<std::thread::id> thread_{};
  uint32_t generation_ = 0;
  std::map<int, FdEntry> fds_;
  TimerId next_timer_ = 1;
  std::map<TimerId, Timer> timers_;
  std::set<std::pair<Clock::time_point, TimerId>> queue_;  // due order
  std::map<int, int> children_;  // pidfd -> pid
  std::mutex mu_;
  std::vector<std::function<void()>> posted_;  // guarded by mu_
  std::function<void(const std::string&)> error_sink_;
};

}  // namespace kvnet::daemon
