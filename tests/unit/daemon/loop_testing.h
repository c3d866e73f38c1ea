// Unit tests' way to drive the control loop (daemon/event_loop.h).
#pragma once

#include <chrono>
#include <functional>

#include "daemon/event_loop.h"

namespace kvnet::daemon::testing {

// Runs the loop in rounds of `step` until `done` says so (true) or `limit`
// passes (false).
inline bool run_loop_until(EventLoop& loop, const std::function<bool()>& done,
                           std::chrono::milliseconds limit = std::chrono::milliseconds(5000),
                           std::chrono::milliseconds step = std::chrono::milliseconds(10)) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > end) return false;
    loop.run_once(step);
  }
  return true;
}

}  // namespace kvnet::daemon::testing
