// The `pcap` port backend: what the port sends is appended to a capture file.
//
// Two uses, chosen at open:
//   - replay (`kvnet replay`, PcapClock::kFrame): each frame is written with
//     its own timestamp (meta.ts_ns: the capture time of the input frame it
//     descends from), and the file is flushed when closed;
//   - live (kvnetd, PcapClock::kWall): frames are stamped with the wall
//     clock (CLOCK_REALTIME) when sent, since a live frame's meta.ts_ns is
//     the monotonic clock (1970 dates in a capture), and every batch is
//     flushed, so tcpdump -r / tshark see a running port's traffic without
//     waiting for the port to be deleted.
// The receive side of a pcap port is driven by the replay loop, which merges
// every port's input file by timestamp (ctl/replay.h).
//
// Thread-safety: one datapath thread.
#pragma once

#include <memory>
#include <string>

#include "base/result.h"
#include "dp/port.h"
#include "net/pcap.h"

namespace kvnet::io {

enum class PcapClock {
  kFrame,  // meta.ts_ns as given (replay); flushed at close
  kWall,   // CLOCK_REALTIME at send (live); flushed after every batch
};

class PcapTxBackend final : public dp::PortBackend {
 public:
  static Result<std::unique_ptr<PcapTxBackend>> open(const std::string& path, bool nanosecond,
                                                     PcapClock clock = PcapClock::kFrame);
  uint32_t send(net::FrameBatch& batch, net::FramePool& pool) override;
  Status close();
  uint64_t written() const { return written_; }

 private:
  explicit PcapTxBackend(PcapClock clock) : clock_(clock) {}
  net::PcapWriter writer_;
  PcapClock clock_;
  uint64_t written_ = 0;
};

uint64_t wall_clock_ns();  // CLOCK_REALTIME

}  // namespace kvnet::io
