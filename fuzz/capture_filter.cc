// Fuzz target capture_filter: bytes as a `kvnetctl capture --filter`
// expression, through what kvnetd does with one (io/capture_filter.h): the
// size and term check, and, for an expression small enough to compile fast
// (at most 256 bytes, 8 terms), libpcap's compile in this process -- the
// child kvnetd forks runs the same function -- and the program on a few
// frames, as the capture tap runs it.
//
// Invariants: no crash; an accepted expression is within the limits; a
// compiled program is non-empty, within kMaxFilterInsns and passes
// bpf_validate (the datapath interprets it).
#include <pcap/pcap.h>

#include <cstdint>
#include <string>

#include "fuzz_check.h"
#include "io/capture_filter.h"

namespace {

// An ARP request, a TCP/IPv4 SYN, a tagged UDP/IPv6 frame (60-78 bytes).
const uint8_t kArp[60] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1};
const uint8_t kTcp[74] = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00, 0x45, 0, 0, 60, 0, 0, 0x40, 0, 64, 6, 0, 0,
                          10, 0, 0, 1, 10, 0, 0, 2, 0x30, 0x39, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0xa0, 0x02};
const uint8_t kUdp6[78] = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x81, 0x00, 0, 10, 0x86, 0xdd, 0x60, 0, 0, 0, 0, 8, 17, 64};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kvnet;
  const std::string expr(reinterpret_cast<const char*>(data), size);
  const size_t terms = io::filter_terms(expr);
  const auto ok = io::check_filter_size(expr);
  if (!ok) {
    FUZZ_CHECK(!ok.error().message.empty(), "an error without a message");
    return 0;
  }
  FUZZ_CHECK(expr.size() <= io::kMaxFilterBytes && terms <= io::kMaxFilterTerms, "accepted above the limits");
  if (expr.size() > 256 || terms > 8) return 0;
  auto prog = io::compile_filter_here(expr, 65535);
  if (!prog) return 0;
  if (expr.find_first_not_of(" \t\r\n") == std::string::npos) return 0;
  FUZZ_CHECK(!prog->insns.empty() && prog->insns.size() <= io::kMaxFilterInsns, "program of %zu instructions",
             prog->insns.size());
  FUZZ_CHECK(bpf_validate(prog->insns.data(), static_cast<int>(prog->insns.size())), "an invalid program");
  for (const auto& [frame, len] : {std::pair{kArp, sizeof kArp}, {kTcp, sizeof kTcp}, {kUdp6, sizeof kUdp6}})
    (void)bpf_filter(prog->insns.data(), frame, static_cast<u_int>(len), static_cast<u_int>(len));
  return 0;
}
