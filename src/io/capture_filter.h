// Capture filters (`kvnetctl capture --filter EXPR`, tcpdump's language)
// compiled by libpcap without holding up kvnetd's control loop.
//
// libpcap's pcap_compile is not bounded: its optimizer takes seconds for a
// few hundred terms and minutes for 2,000 (seen: the API, dashboard and
// metrics all stopped while one capture's filter compiled). So:
//   - check_filter_size() refuses an expression longer than kMaxFilterBytes
//     or with more than kMaxFilterTerms terms (primitives joined by and/or)
//     before anything is compiled;
//   - FilterCompile runs pcap_compile in a child process (fork) and hands
//     the program back through a pipe; the control loop polls it, and a
//     child still compiling at its deadline is killed: "filter took too
//     long to compile". The child also has a CPU-time limit and dies with
//     kvnetd.
// compile_filter_here() is the compile itself, in the calling process (the
// child, the tests, the fuzzer).
//
// Thread-safety: a FilterCompile belongs to one thread.
#pragma once

#include <pcap/pcap.h>  // bpf_insn (pcap/bpf.h alone lacks its types)
#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace kvnet::io {

inline constexpr size_t kMaxFilterBytes = 4096;
inline constexpr size_t kMaxFilterTerms = 128;
inline constexpr size_t kMaxFilterInsns = 1u << 16;
inline constexpr std::chrono::milliseconds kFilterCompileTimeout{5000};

// A compiled filter: classic BPF for an Ethernet link, checked by
// bpf_validate. Empty: no filter (everything matches).
struct FilterProgram {
  std::vector<bpf_insn> insns;
};

// The number of terms of `expr`: its and/or operators plus one ("" has 0).
size_t filter_terms(std::string_view expr);
// Refuses an expression above the limits, or one holding a NUL.
Status check_filter_size(std::string_view expr);
// check_filter_size(), then pcap_compile (optimized) in this process.
Result<FilterProgram> compile_filter_here(const std::string& expr, uint32_t snaplen);

class FilterCompile {
 public:
  // Forks the child that compiles `expr` (checked by check_filter_size first).
  static Result<std::unique_ptr<FilterCompile>> start(const std::string& expr, uint32_t snaplen,
                                                      std::chrono::milliseconds timeout = kFilterCompileTimeout);
  ~FilterCompile();  // kills and reaps a child still compiling
  FilterCompile(const FilterCompile&) = delete;
  FilterCompile& operator=(const FilterCompile&) = delete;

  // Never blocks: nullopt while the child compiles, then its program or
  // why there is none (the compile's error, the deadline).
  std::optional<Result<FilterProgram>> poll();
  // Blocks until poll() has a result (tests).
  Result<FilterProgram> wait();
  const std::string& expr() const { return expr_; }

 private:
  FilterCompile() = default;
  Result<FilterProgram> finish();
  std::string expr_;
  pid_t pid_ = -1;
  int fd_ = -1;
  std::string got_;
  std::chrono::steady_clock::time_point deadline_;
  std::chrono::milliseconds timeout_{};
  std::optional<Result<FilterProgram>> result_;
};

}  // namespace kvnet::io
