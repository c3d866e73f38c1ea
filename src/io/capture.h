// Live capture of a port (`kvnetctl capture`): the tap the datapath offers
// the port's batches to (dp/capture_tap.h), and the ring the control thread
// reads them from.
//
// On the datapath thread, per offered batch: one CLOCK_REALTIME read, then
// per frame the direction and VLAN test, the filter (a tcpdump expression,
// compiled once by libpcap's pcap_compile and run by its bpf_filter
// interpreter) and a copy of at most `snaplen` bytes into a single-producer
// single-consumer byte ring. Nothing is allocated and nothing waits: a frame
// that does not fit the ring (the reader is slow) is counted as a drop, as
// tcpdump counts what its kernel buffer could not hold. With a `count`, the
// tap takes no more frames once that many are in the ring.
//
// The VLAN a frame is matched against (`vlan`): the VID of its outer tag
// (0x8100 or 0x88a8) if it carries one; else, on a switch bridge's port, the
// VLAN it belongs to there: the port's pvid for what it receives, the VLAN
// the bridge switched it in for what it sends. A dot1q-tunnel port's frames
// all belong to its pvid (the tags they carry are the customer's). Untagged
// frames of ports of other bridges have no VLAN and never match.
//
// Thread-safety: offer() and port_removed() on the datapath thread only;
// pop() and the ring's reading side on one control thread; the counters and
// flags may be read from any thread.
#pragma once

#include <pcap/pcap.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "dp/capture_tap.h"
#include "io/capture_filter.h"

namespace kvnet::io {

inline constexpr uint32_t kDefaultSnaplen = 262144;        // tcpdump's default
inline constexpr size_t kDefaultCaptureRing = 4u << 20;    // 4 MiB per capture

// A single-producer single-consumer ring of variable-size records. The
// producer never blocks: push() fails when the record does not fit.
class ByteRing {
 public:
  explicit ByteRing(size_t bytes);  // rounded up to a power of two
  ByteRing(const ByteRing&) = delete;
  ByteRing& operator=(const ByteRing&) = delete;

  struct Header {
    uint64_t ts_ns;     // wall clock (CLOCK_REALTIME)
    uint32_t caplen;    // bytes that follow
    uint32_t orig_len;  // the frame's length
    uint8_t dir;        // dp::Direction
    uint8_t pad[7];
  };
  static_assert(sizeof(Header) == 24);

  // Producer: false (nothing written) if header and data do not fit.
  bool push(const Header& h, const uint8_t* data);
  // Consumer: the next record into `h` and `data` (resized); false if empty.
  bool pop(Header& h, std::vector<uint8_t>& data);
  bool empty() const { return head_.load(std::memory_order_acquire) == tail_.load(std::memory_order_relaxed); }
  size_t capacity() const { return buf_.size(); }

 private:
  void copy_in(uint64_t at, const void* src, size_t n);
  void copy_out(uint64_t at, void* dst, size_t n) const;

  std::vector<uint8_t> buf_;
  size_t mask_;
  alignas(64) std::atomic<uint64_t> head_{0};  // written by the producer
  alignas(64) std::atomic<uint64_t> tail_{0};  // written by the consumer
};

struct CaptureOptions {
  bool in = true, out = true;  // directions
  uint16_t vlan = 0;           // 0: any
  std::string filter;          // tcpdump expression; "" = everything
  uint64_t count = 0;          // stop taking frames after this many; 0 = no limit
  uint32_t snaplen = kDefaultSnaplen;
  size_t ring_bytes = kDefaultCaptureRing;
};

class Capture final : public dp::CaptureTap {
 public:
  // Compiles the filter here (compile_filter_here); a bad one is an error
  // naming the expression and libpcap's message.
  static Result<std::shared_ptr<Capture>> create(const CaptureOptions& o);
  // With the filter compiled already (io/capture_filter.h: kvnetd compiles
  // off its control thread); an empty program takes every frame.
  static std::shared_ptr<Capture> create(const CaptureOptions& o, FilterProgram filter);
  ~Capture() override = default;
  Capture(const Capture&) = delete;
  Capture& operator=(const Capture&) = delete;

  // --- datapath thread ---
  void offer(const dp::Port& port, dp::Direction dir, const net::FrameBatch& batch) override;
  void port_removed() override { port_removed_.store(true, std::memory_order_release); }

  // --- control thread ---
  bool pop(ByteRing::Header& h, std::vector<uint8_t>& data) { return ring_.pop(h, data); }
  bool ring_empty() const { return ring_.empty(); }
  uint64_t captured() const { return captured_.load(std::memory_order_relaxed); }
  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
  bool count_reached() const { return opts_.count && captured() >= opts_.count; }
  bool port_was_removed() const { return port_removed_.load(std::memory_order_acquire); }
  const CaptureOptions& options() const { return opts_; }

 private:
  explicit Capture(const CaptureOptions& o) : opts_(o), ring_(o.ring_bytes) {}
  bool matches(const dp::Port& port, dp::Direction dir, const net::Frame& f) const;

  CaptureOptions opts_;
  FilterProgram filter_;
  ByteRing ring_;
  // Written by the datapath thread only (plain stores), read anywhere.
  std::atomic<uint64_t> captured_{0};
  std::atomic<uint64_t> dropped_{0};
  std::atomic<bool> port_removed_{false};
};

// The VLAN `f` belongs to on `port` in direction `dir` for --vlan (0: none).
uint16_t capture_vlan(const dp::Port& port, dp::Direction dir, const net::Frame& f);

}  // namespace kvnet::io
