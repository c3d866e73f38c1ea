#include "io/pcap_port.h"

namespace kvnet::io {

Result<std::unique_ptr<PcapTxBackend>> PcapTxBackend::open(const std::string& path, bool nanosecond) {
  auto b = std::unique_ptr<PcapTxBackend>(new PcapTxBackend());
  if (!b->writer_.open(path, nanosecond)) return Error{b->writer_.error()};
  return b;
}

uint32_t PcapTxBackend::send(net::FrameBatch& batch, net::FramePool& pool) {
  uint32_t ok = 0;
  for (uint32_t i = 0; i < batch.count; ++i) {
    const net::Frame* f = batch[i];
    if (writer_.write(f->meta.ts_ns, f->data(), static_cast<uint32_t>(f->len()))) ++ok;
  }
  written_ += ok;
  pool.put(batch);
  return ok;
}

Status PcapTxBackend::close() {
  if (!writer_.close()) return Error{writer_.error()};
  return Ok{};
}

}  // namespace kvnet::io
