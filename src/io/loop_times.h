// How long the datapath thread's rounds take: a histogram with fixed bucket
// bounds, in the shape Prometheus wants (cumulative counts per upper bound,
// a count and a sum), exported as kvnet_datapath_loop_seconds.
//
// A round is one pass of io::Runtime's loop that received from at least one
// port: from epoll_wait's return to the end of the last batch (the commands
// the control thread posted are not included). Measuring costs one steady
// clock read per round (the round's start time is read anyway) and a few
// compares, never anything per frame.
//
// Thread-safety: written by the datapath thread only; read through a
// datapath command (a copy), so plain integers.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace kvnet::io {

struct LoopTimes {
  // Upper bounds in nanoseconds: 1 us to 50 ms; above goes to +Inf.
  static constexpr std::array<uint64_t, 14> kBoundsNs = {
      1'000,     2'500,     5'000,      10'000,     25'000,     50'000,     100'000,
      250'000, 500'000, 1'000'000, 2'500'000, 5'000'000, 10'000'000, 50'000'000};
  // buckets[i]: rounds of at most kBoundsNs[i] and more than the bound
  // before; buckets.back(): the rest. Not cumulative (cheaper to record).
  std::array<uint64_t, kBoundsNs.size() + 1> buckets{};
  uint64_t count = 0;
  uint64_t sum_ns = 0;

  void record(uint64_t ns) {
    size_t i = 0;
    while (i < kBoundsNs.size() && ns > kBoundsNs[i]) ++i;
    ++buckets[i];
    ++count;
    sum_ns += ns;
  }
  // Rounds of at most kBoundsNs[i] (Prometheus's cumulative `le` count).
  uint64_t cumulative(size_t i) const {
    uint64_t n = 0;
    for (size_t j = 0; j <= i && j < buckets.size(); ++j) n += buckets[j];
    return n;
  }
};

}  // namespace kvnet::io
