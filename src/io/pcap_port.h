// The `pcap` port backend: what the port sends is appended to a capture file.
//
// Each frame is written with its own timestamp (meta.ts_ns: in replay, the
// capture time of the input frame it descends from). The receive side of a
// pcap port is driven by the replay loop, which merges every port's input
// file by timestamp (ctl/replay.h).
//
// Thread-safety: one datapath thread.
#pragma once

#include <memory>
#include <string>

#include "base/result.h"
#include "dp/port.h"
#include "net/pcap.h"

namespace kvnet::io {

class PcapTxBackend final : public dp::PortBackend {
 public:
  static Result<std::unique_ptr<PcapTxBackend>> open(const std::string& path, bool nanosecond);
  uint32_t send(net::FrameBatch& batch, net::FramePool& pool) override;
  Status close();
  uint64_t written() const { return written_; }

 private:
  net::PcapWriter writer_;
  uint64_t written_ = 0;
};

}  // namespace kvnet::io
