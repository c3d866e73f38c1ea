#include "io/capture.h"

#include <time.h>

#include <algorithm>
#include <bit>
#include <cstring>

#include "dp/bridge.h"
#include "dp/port.h"
#include "net/bytes.h"
#include "net/headers.h"

namespace kvnet::io {

// --- the ring ---

ByteRing::ByteRing(size_t bytes) : buf_(std::bit_ceil(std::max<size_t>(bytes, 4096))), mask_(buf_.size() - 1) {}

void ByteRing::copy_in(uint64_t at, const void* src, size_t n) {
  const size_t off = at & mask_, first = std::min(n, buf_.size() - off);
  std::memcpy(buf_.data() + off, src, first);
  std::memcpy(buf_.data(), static_cast<const uint8_t*>(src) + first, n - first);
}

void ByteRing::copy_out(uint64_t at, void* dst, size_t n) const {
  const size_t off = at & mask_, first = std::min(n, buf_.size() - off);
  std::memcpy(dst, buf_.data() + off, first);
  std::memcpy(static_cast<uint8_t*>(dst) + first, buf_.data(), n - first);
}

bool ByteRing::push(const Header& h, const uint8_t* data) {
  const uint64_t head = head_.load(std::memory_order_relaxed);
  const uint64_t tail = tail_.load(std::memory_order_acquire);  // what the reader has freed
  const size_t need = sizeof h + ((h.caplen + 7u) & ~7u);          // records stay 8-byte aligned
  if (buf_.size() - (head - tail) < need) return false;
  copy_in(head, &h, sizeof h);
  copy_in(head + sizeof h, data, h.caplen);
  head_.store(head + need, std::memory_order_release);  // publishes the record
  return true;
}

bool ByteRing::pop(Header& h, std::vector<uint8_t>& data) {
  const uint64_t tail = tail_.load(std::memory_order_relaxed);
  if (head_.load(std::memory_order_acquire) == tail) return false;
  copy_out(tail, &h, sizeof h);
  data.resize(h.caplen);
  copy_out(tail + sizeof h, data.data(), h.caplen);
  tail_.store(tail + sizeof h + ((h.caplen + 7u) & ~7u), std::memory_order_release);  // frees it
  return true;
}

// --- the tap ---

Result<std::shared_ptr<Capture>> Capture::create(const CaptureOptions& o) {
  auto f = compile_filter_here(o.filter, o.snaplen);
  if (!f) return f.error();
  return create(o, std::move(*f));
}

std::shared_ptr<Capture> Capture::create(const CaptureOptions& o, FilterProgram filter) {
  std::shared_ptr<Capture> c(new Capture(o));
  c->filter_ = std::move(filter);
  return c;
}

uint16_t capture_vlan(const dp::Port& port, dp::Direction dir, const net::Frame& f) {
  const uint8_t* p = f.data();
  const bool sw = port.bridge && port.bridge->type() == dp::BridgeType::kSwitch;
  const bool tunnel = sw && port.vlan.config().mode == dp::VlanMode::kDot1qTunnel;
  if (!tunnel && f.len() >= net::kEthHeaderLen + net::kVlanTagLen) {
    const uint16_t tpid = net::load_be16(p + 12);
    if (tpid == net::kEthTypeVlan || tpid == net::kEthTypeQinQ) return net::load_be16(p + 14) & 0x0fff;
  }
  if (!sw) return 0;
  if (dir == dp::Direction::kIn) return port.vlan.config().pvid;
  return f.meta.vlan;
}

bool Capture::matches(const dp::Port& port, dp::Direction dir, const net::Frame& f) const {
  if (opts_.vlan && capture_vlan(port, dir, f) != opts_.vlan) return false;
  if (filter_.insns.empty()) return true;
  const auto len = static_cast<u_int>(f.len());
  return bpf_filter(filter_.insns.data(), f.data(), len, len) != 0;
}

void Capture::offer(const dp::Port& port, dp::Direction dir, const net::FrameBatch& batch) {
  if (!(dir == dp::Direction::kIn ? opts_.in : opts_.out)) return;
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);  // vDSO: no system call
  ByteRing::Header h{};
  h.ts_ns = static_cast<uint64_t>(ts.tv_sec) * 1000000000ULL + static_cast<uint64_t>(ts.tv_nsec);
  h.dir = static_cast<uint8_t>(dir);
  uint64_t captured = captured_.load(std::memory_order_relaxed);
  uint64_t dropped = dropped_.load(std::memory_order_relaxed);
  for (uint32_t i = 0; i < batch.count; ++i) {
    if (opts_.count && captured >= opts_.count) break;
    const net::Frame& f = *batch[i];
    if (!matches(port, dir, f)) continue;
    h.orig_len = static_cast<uint32_t>(f.len());
    h.caplen = std::min(h.orig_len, opts_.snaplen);
    if (ring_.push(h, f.data())) ++captured;
    else ++dropped;
  }
  captured_.store(captured, std::memory_order_relaxed);
  dropped_.store(dropped, std::memory_order_relaxed);
}

}  // namespace kvnet::io
