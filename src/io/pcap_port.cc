#include "io/pcap_port.h"

#include <time.h>

namespace kvnet::io {

uint64_t wall_clock_ns() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ULL + uint64_t(ts.tv_nsec);
}

Result<std::unique_ptr<PcapTxBackend>> PcapTxBackend::open(const std::string& path, bool nanosecond, PcapClock clock) {
  auto b = std::unique_ptr<PcapTxBackend>(new PcapTxBackend(clock));
  if (auto s = b->writer_.open(path, nanosecond); !s) return s.error();
  // A live capture shows its header at once (an empty, valid pcap file).
  if (clock == PcapClock::kWall) {
    if (auto s = b->writer_.flush(); !s) return s.error();
  }
  return b;
}

uint32_t PcapTxBackend::send(net::FrameBatch& batch, net::FramePool& pool) {
  const bool live = clock_ == PcapClock::kWall;
  const uint64_t now = live ? wall_clock_ns() : 0;  // one clock read per batch
  uint32_t ok = 0;
  for (uint32_t i = 0; i < batch.count; ++i) {
    const net::Frame* f = batch[i];
    if (writer_.write(live ? now : f->meta.ts_ns, f->data(), static_cast<uint32_t>(f->len()))) ++ok;
  }
  if (live && ok > 0 && !writer_.flush().ok()) ok = 0;  // counted as tx errors by the caller
  written_ += ok;
  pool.put(batch);
  return ok;
}

Status PcapTxBackend::close() { return writer_.close(); }

}  // namespace kvnet::io
