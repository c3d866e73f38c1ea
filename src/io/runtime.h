// The datapath thread: polls every port's receive fd and runs what arrives
// through the pipeline, one batch per ready port per round (so one flooding
// port cannot starve the others); runs control-thread commands between
// batches.
//
// The Datapath is owned by this thread while it runs. The control thread
// touches it only through `call()`, which runs a function on the datapath
// thread between batches and waits for its result: configuration changes
// reach the datapath without stopping it, and ports not involved keep
// forwarding.
//
// Thread-safety: call() from any thread but the datapath thread.
#pragma once

#include <atomic>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "dp/datapath.h"

namespace kvnet::io {

class Runtime {
 public:
  explicit Runtime(dp::Datapath& dp);
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  void start();
  void stop();

  // Runs fn(datapath) on the datapath thread and returns its result.
  template <typename F>
  auto call(F&& fn) -> decltype(fn(std::declval<dp::Datapath&>())) {
    using R = decltype(fn(std::declval<dp::Datapath&>()));
    if (!running_) return fn(dp_);  // not started: the caller owns the datapath
    auto task = std::make_shared<std::packaged_task<R()>>([&] { return fn(dp_); });
    auto fut = task->get_future();
    post([task] { (*task)(); });
    return fut.get();
  }

  // Datapath thread only (inside call()): start/stop polling a port's fd.
  void watch(dp::Port& p);
  void unwatch(dp::Port& p);

  // Names of ports whose device failed (deleted interface) since the last
  // call; the datapath thread has stopped polling them.
  std::vector<std::string> take_failed();

 private:
  void post(std::function<void()> fn);
  void loop();
  void run_commands();

  dp::Datapath& dp_;
  int epfd_ = -1;
  int wakefd_ = -1;
  std::thread thread_;
  std::atomic<bool> running_{false};
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::deque<std::function<void()>> cmds_;
  std::vector<std::string> failed_;  // guarded by mu_
};

uint64_t now_ns();  // CLOCK_MONOTONIC

}  // namespace kvnet::io
