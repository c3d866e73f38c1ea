// The datapath thread: polls every port's receive fd and runs what arrives
// through the pipeline, one batch per ready port per round (so one flooding
// port cannot starve the others); runs control-thread commands between
// batches.
//
// The Datapath is owned by this thread while it runs (it is the datapath's
// owner: mutators assert it). The control thread reaches it through the typed
// commands of io/dp_commands.h, built on `call()`, which runs a function on
// the datapath thread between batches and waits for its result:
// configuration changes reach the datapath without stopping it, and ports
// not involved keep forwarding. Nothing but DatapathCommands (and tests)
// should use call() directly.
//
// Ports whose backends share one receive source (the tunnel ports of one
// socket, dp::RxSource) are polled through it: once per round for all of
// them, each frame then run through the port the source demultiplexed it to.
//
// Creation is fallible (create()); so are start() and watch(): a port whose
// fd cannot be polled is reported through take_failures() like a port whose
// device died, and the control thread retries it.
//
// Thread-safety: call() from any thread but the datapath thread.
#pragma once

#include <atomic>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "base/result.h"
#include "dp/datapath.h"
#include "io/loop_times.h"

namespace kvnet::io {

class Runtime {
 public:
  // Sets up the epoll set and wake-up eventfd; fails naming the call.
  static Result<std::unique_ptr<Runtime>> create(dp::Datapath& dp);
  // Prefer create(). A Runtime constructed directly reports a failed set-up
  // from start() and watch() (tests construct one and never start it: call()
  // then runs inline).
  explicit Runtime(dp::Datapath& dp);
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // Starts the datapath thread.
  Status start();
  // Stops it after the current round; runs commands posted meanwhile.
  void stop();
  bool running() const { return running_; }
  // True on the datapath thread while it runs (for asserting where
  // datapath mutations happen).
  bool on_datapath_thread() const { return running_ && std::this_thread::get_id() == thread_id_; }

  // Runs fn(datapath) on the datapath thread and returns its result.
  template <typename F>
  auto call(F&& fn) -> decltype(fn(std::declval<dp::Datapath&>())) {
    using R = decltype(fn(std::declval<dp::Datapath&>()));
    // A change is reported done only once the kernel fast path knows it
    // (dp/fast_path.h): the epoch is published before the result returns.
    struct Publish {
      dp::Datapath& dp;
      ~Publish() { publish_fast(dp); }
    };
    if (!running_) {  // not started: the caller owns the datapath
      Publish p{dp_};
      return fn(dp_);
    }
    auto task = std::make_shared<std::packaged_task<R()>>([&] {
      Publish p{dp_};
      return fn(dp_);
    });
    auto fut = task->get_future();
    post([task] { (*task)(); });
    return fut.get();
  }

  // Datapath thread only (inside call()): start/stop polling a port's fd.
  // watch() returns false when epoll refuses the fd; the port is then
  // reported by take_failures() (and take_failed()).
  bool watch(dp::Port& p);
  void unwatch(dp::Port& p);

  struct Failure {
    std::string port;
    std::string why;
  };
  // How long the rounds with work took (io/loop_times.h). Datapath thread
  // only (inside call()), or any thread while the runtime is not started.
  const LoopTimes& loop_times() const { return loop_times_; }

  // Ports whose device failed (deleted interface) or could not be watched
  // since the last call; the datapath thread does not poll them.
  std::vector<Failure> take_failures();
  // The same, names only.
  std::vector<std::string> take_failed();

 private:
  static void publish_fast(dp::Datapath& dp) {
    if (dp::FastPathSink* f = dp.fast_path()) f->publish(dp.epoch());
  }
  void post(std::function<void()> fn);
  void loop();
  void run_commands();
  void report(const std::string& port, std::string why);
  // One batch from a shared source, each frame run through its own port.
  void receive_shared(dp::RxSource& src, net::FrameBatch& batch, uint64_t now);
  void receive_shared_once(dp::RxSource& src, net::FrameBatch& batch, uint64_t now);

  dp::Datapath& dp_;
  int epfd_ = -1;
  int wakefd_ = -1;
  std::string init_error_;  // why the constructor's set-up failed, if it did
  std::thread thread_;
  std::atomic<std::thread::id> thread_id_{};
  std::atomic<bool> running_{false};
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::deque<std::function<void()>> cmds_;
  std::vector<Failure> failed_;  // guarded by mu_
  // Shared receive sources (tunnel sockets) and how many watched ports use
  // each; polled once, whatever the number of ports. Datapath thread.
  std::unordered_map<dp::RxSource*, uint32_t> sources_;
  LoopTimes loop_times_;  // datapath thread
};

}  // namespace kvnet::io
