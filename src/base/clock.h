// kvnet's one monotonic clock: CLOCK_MONOTONIC in nanoseconds.
//
// Live frames are stamped with it (the runtime reads it once per round),
// the FDB and conntrack age by it, and the control path measures durations
// with it. std::chrono::steady_clock is the same clock on Linux; code that
// wants durations and deadlines as chrono types may use that directly.
//
// Thread-safety: any thread (clock_gettime goes through the vDSO, no system
// call).
#pragma once

#include <cstdint>
#include <time.h>

namespace kvnet {

inline uint64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ULL + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace kvnet
