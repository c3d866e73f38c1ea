// A call from another thread into kvnetd's control loop: the HTTP threads of
// the dashboard (daemon/http_dashboard.h) never touch the Service; they post
// the work to the loop (EventLoop::post) and wait for its answer, for a
// bounded time.
//
// A call that the loop does not run within its timeout returns an error; if
// the loop runs it later, the answer is dropped. close() makes every waiting
// and every later call return at once (used at shutdown, when the loop no
// longer runs posted work), so no HTTP thread waits for a loop that stopped.
//
// Thread-safety: call() and close() from any thread; the function given to
// call() runs on the loop thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>

#include "base/result.h"
#include "daemon/event_loop.h"

namespace kvnet::daemon {

class LoopCaller {
 public:
  explicit LoopCaller(EventLoop& loop);
  LoopCaller(const LoopCaller&) = delete;
  LoopCaller& operator=(const LoopCaller&) = delete;

  // Runs `fn` on the loop thread and returns what it returned. Errors: the
  // loop did not run it within `timeout`, or close() was called; an
  // exception `fn` throws is an error too.
  Result<nlohmann::json> call(std::function<nlohmann::json()> fn, std::chrono::milliseconds timeout);
  void close();

 private:
  // Shared with the posted work, which may outlive a call that timed out.
  struct Shared {
    std::mutex mu;
    std::condition_variable cv;
    bool closed = false;
  };
  EventLoop& loop_;
  std::shared_ptr<Shared> shared_;
};

}  // namespace kvnet::daemon
