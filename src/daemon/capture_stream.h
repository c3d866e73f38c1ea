// The `capture` API stream: what a port's capture tap (io/capture.h) took,
// sent to the client after the answer line (docs/api.md, "capture").
//
// Wire format: a sequence of messages, each `type (1 byte) | length (4
// bytes, big-endian) | payload (length bytes)`:
//   'p'  a frame: time (8 bytes, ns since the Unix epoch, big-endian) |
//        original length (4, big-endian) | direction (1: 0 in, 1 out) |
//        the captured bytes (at most snaplen)
//   's'  counters, JSON {"captured": N, "dropped": M}: sent when they
//        changed, at most twice a second
//   'e'  the end, JSON {"reason": TEXT, "captured": N, "dropped": M,
//        "port_removed": BOOL}: the last message; kvnetd then closes
// `captured` counts the frames the capture took, `dropped` those that
// matched but did not fit its buffer (a slow reader).
//
// The stream ends when the client closes its sending side (kvnetctl does
// on Ctrl-C or when its own reader goes away), when --count frames were
// taken, when the port is deleted or when kvnetd stops; the tap is removed
// before the last frames are drained, so the end's counters are final. A
// client that goes away without that loses the end message; its tap is
// removed all the same (the stream is destroyed with the connection).
//
// Thread-safety: the control thread only.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "daemon/api.h"
#include "daemon/capture_wire.h"
#include "io/capture.h"
#include "io/dp_commands.h"

namespace kvnet::daemon {


class CaptureStream final : public ApiStream {
 public:
  // `cap` is installed on port `port_id` already; `live` counts kvnetd's
  // captures (decremented when this goes).
  CaptureStream(io::DatapathCommands& dp, uint32_t port_id, std::string port, std::shared_ptr<io::Capture> cap,
                std::shared_ptr<size_t> live);
  ~CaptureStream() override;  // removes the tap if still installed

  std::chrono::milliseconds period() const override { return std::chrono::milliseconds(20); }
  bool pull(std::string& out, size_t max) override;
  void end(const std::string& why) override;

 private:
  void detach();
  nlohmann::json counters() const;

  io::DatapathCommands& dp_;
  uint32_t port_id_;
  std::string port_;
  std::shared_ptr<io::Capture> cap_;
  std::shared_ptr<size_t> live_;
  bool attached_ = true;
  bool ending_ = false;
  std::string why_;
  uint64_t sent_captured_ = 0, sent_dropped_ = 0;
  std::chrono::steady_clock::time_point last_stats_{};
  io::ByteRing::Header h_{};
  std::vector<uint8_t> data_;
};

}  // namespace kvnet::daemon
