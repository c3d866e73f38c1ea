// Fuzz target flow_spec: arbitrary bytes as an OVS-style flow description for
// ctl::build_frame_from_flow (what `kvnet trace` and the daemon's trace take).
//
// Invariants: bad text is an error with a message, never an exception or a
// crash; a frame built is at least the 60-byte Ethernet minimum and parses as
// a frame.
#include <cstdint>
#include <string>

#include "ctl/flow_spec.h"
#include "fuzz_check.h"
#include "net/flow_key.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kvnet;
  const std::string spec(reinterpret_cast<const char*>(data), size);
  auto frame = ctl::build_frame_from_flow(spec);
  if (!frame) {
    FUZZ_CHECK(!frame.error().message.empty(), "an error without a message");
    return 0;
  }
  FUZZ_CHECK(frame->size() >= 60, "a %zu-byte frame", frame->size());
  net::FlowKey k;
  FUZZ_CHECK(net::parse_flow(frame->data(), frame->size(), k) == net::ParseStatus::kOk, "the frame does not parse");
  return 0;
}
