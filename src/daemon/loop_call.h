// Running something on kvnetd's control loop from another thread, and
// waiting for its result with a timeout.
//
// kvnetd's state (Service, VmHost, ...) belongs to the control loop's thread
// (daemon/event_loop.h). A thread of its own, such as an HTTP server's
// worker, must not touch it; it asks the loop instead:
//
//   auto snap = loop_call(loop, [&svc] { return svc.metrics_snapshot(); }, 5s);
//   if (!snap) -> 503 with snap.error().message
//
// The function runs on the loop thread between two callbacks, so it sees a
// consistent state and may call anything a loop callback may. If the loop
// does not run it within `timeout` (busy with a long change, or stopping),
// the caller gets an error and the function may still run later: it must
// capture by value, or refer only to objects that outlive the loop's last
// round (kvnetd stops its servers before it destroys its Service). An
// exception it throws becomes the error.
//
// Thread-safety: any thread except the loop's own (it would wait for
// itself: that is reported as an error, not a deadlock).
#pragma once

#include <chrono>
#include <exception>
#include <future>
#include <memory>
#include <string>
#include <type_traits>

#include "base/result.h"
#include "daemon/event_loop.h"

namespace kvnet::daemon {

template <typename F>
auto loop_call(EventLoop& loop, F fn, std::chrono::milliseconds timeout) -> Result<std::invoke_result_t<F&>> {
  using R = std::invoke_result_t<F&>;
  static_assert(!std::is_void_v<R>, "loop_call: return a value (e.g. Ok{})");
  if (loop.on_loop_thread()) return Error{"loop_call from the control loop's own thread"};
  if (loop.stopping()) return Error{"kvnetd is stopping"};
  auto done = std::make_shared<std::promise<R>>();
  std::future<R> result = done->get_future();
  loop.post([done, fn = std::move(fn)]() mutable {
    try {
      done->set_value(fn());
    } catch (...) {
      done->set_exception(std::current_exception());
    }
  });
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  // In slices, so that a loop that stops meanwhile is noticed at once.
  constexpr auto kSlice = std::chrono::milliseconds(50);
  while (result.wait_for(kSlice) != std::future_status::ready) {
    if (loop.stopping()) return Error{"kvnetd is stopping"};
    if (std::chrono::steady_clock::now() >= deadline)
      return Error{"kvnetd's control loop did not answer within " + std::to_string(timeout.count()) + " ms"};
  }
  try {
    return result.get();
  } catch (const std::exception& e) {
    return Error{std::string("internal error: ") + e.what()};
  } catch (...) {
    return Error{"internal error"};
  }
}

}  // namespace kvnet::daemon
