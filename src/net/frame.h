// Frames, the pool they come from, and batches of frames.
//
// A `Frame` is a fixed buffer with `kHeadroom` bytes in front of the data so a
// stage can push headers (an 802.1Q tag, later a 50-byte VXLAN header) without
// moving the payload. Frames are never allocated on the fast path: a
// `FramePool` owns them all and hands them out from a free list. Whoever holds
// a Frame* owns it until it passes it on or returns it with `pool.put()`.
//
// Alongside the bytes a frame carries the metadata the pipeline needs: the
// capture/receive timestamp (the pipeline's clock for that frame), its ingress
// port, the VLAN it is switched in, and its parsed flow key.
//
// A `FrameBatch` is a plain struct of up to 32 frame pointers, the unit that
// crosses every stage boundary.
//
// Thread-safety: a pool belongs to one thread (the datapath); frames may be
// handed between threads only through an external queue.
#pragma once

#include <array>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "net/flow_key.h"
#include "net/offload.h"

namespace kvnet::net {

inline constexpr size_t kHeadroom = 128;
inline constexpr size_t kMaxFrameLen = 9216 + 18;  // jumbo payload + L2 header and one tag
inline constexpr size_t kMaxGsoFrameLen = 65536 + 64;  // a GSO super-frame with its headers
inline constexpr size_t kBatchSize = 32;

// What the kernel fast path (dp/fast_path.h) needs to know of a frame the
// slow path forwards: whether its decision may still be cached (`ok`: every
// step so far was one the fast path can replay), the VLAN tags it arrived
// with (the entry's key), the bridges it crossed (where it entered each
// and in which VLAN), so that the fast path's statistics reach their
// counters and FDBs, and the firewalls' connections that passed it (the
// port whose firewall it was, the connection and the frame's direction in
// it), so that its use keeps them alive.
inline constexpr size_t kFastHops = 4;
inline constexpr size_t kFastConns = 4;
struct FastMeta {
  bool ok = false;
  uint8_t tags = 0;
  uint8_t hops = 0;
  uint8_t conns = 0;
  uint32_t conn_port[kFastConns] = {};
  uint32_t conn[kFastConns] = {};
  uint8_t conn_dir[kFastConns] = {};
  uint16_t tpid[2] = {};
  uint16_t tci[2] = {};
  uint32_t hop_port[kFastHops] = {};
  uint16_t hop_vlan[kFastHops] = {};
};

// How a frame arrived through a tunnel whose VTEP is a kernel vxlan device
// (io/kernel_vxlan.h): the key of its fast-path entries holds these.
struct TunMeta {
  uint32_t vni = 0;
  uint8_t family = 0;  // 0: not through such a tunnel; else AF_INET or AF_INET6
  uint8_t pushed = 0;  // tags the tunnel port added (a vni_map's): not in the kernel's frame
  std::array<uint8_t, 16> remote{};  // the outer source, network order
};

// Pipeline metadata. Reset by `Frame::reset()` for every new frame.
struct FrameMeta {
  uint64_t ts_ns = 0;      // the frame's clock (capture or receive time)
  uint32_t in_port = 0;    // port id the frame entered the current bridge on
  uint16_t vlan = 0;       // VLAN the frame is switched in (0: VLAN-unaware bridge)
  uint8_t pcp = 0;         // priority; survives tag pops and pushes
  uint8_t depth = 0;       // patch crossings so far
  uint16_t s_tpid = 0x8100;  // TPID to use when the switching VLAN is pushed as a tag
  uint16_t origin = 0;     // index of the input frame this one descends from (work budget)
  // Set by a switch's forward step for the egress stages: the inner
  // (customer) VLAN of the frame (0: none) and whether it has an inner tag,
  // and whether the egress port was chosen as one that carries the frame
  // (a flood), so that the egress rule need not check it again.
  uint16_t inner_vid = 0;
  bool inner_tag = false;
  bool carried = false;
  // OpenFlow (dp/flow_table.h): the frame leaves as its actions made it,
  // without the egress port's VLAN rule (an output action, not NORMAL);
  // the tunnel id a set_field gave it, for the tables after.
  bool raw = false;
  uint64_t tun_id = 0;
  VnetHdr vnet;            // offload state: partial checksum, GSO (net/offload.h)
  FastMeta fast;
  TunMeta tun;
};

class Frame {
 public:
  explicit Frame(uint8_t* storage, size_t capacity) : buf_(storage), cap_(capacity) { reset(); }

  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  size_t len() const { return len_; }
  size_t headroom() const { return static_cast<size_t>(data_ - buf_); }
  size_t tailroom() const { return cap_ - headroom() - len_; }

  // Empties the frame and resets metadata; data starts after the headroom.
  void reset() {
    data_ = buf_ + kHeadroom;
    len_ = 0;
    meta = FrameMeta{};
  }
  // Replaces the contents with `n` bytes. Returns false if they do not fit.
  bool assign(const uint8_t* p, size_t n) {
    if (n > cap_ - kHeadroom) return false;
    data_ = buf_ + kHeadroom;
    if (n) std::memcpy(data_, p, n);
    len_ = n;
    return true;
  }
  // Grows the front by n bytes (for a header push). Returns nullptr without headroom.
  uint8_t* push_front(size_t n) {
    if (headroom() < n) return nullptr;
    data_ -= n;
    len_ += n;
    return data_;
  }
  // Drops n bytes from the front.
  void pull_front(size_t n) {
    assert(n <= len_);
    data_ += n;
    len_ -= n;
  }
  void set_len(size_t n) {
    assert(n <= cap_ - headroom());
    len_ = n;
  }
  // Copies bytes and metadata of `o` into this frame.
  void copy_from(const Frame& o) {
    data_ = buf_ + o.headroom();
    std::memcpy(data_, o.data_, o.len_);
    len_ = o.len_;
    meta = o.meta;
    meta.fast.ok = false;  // a copy (a flood's, a mirror's) is never the kernel fast path's to cache
    key = o.key;
  }

  FrameMeta meta;
  FlowKey key;

 private:
  uint8_t* buf_;
  uint8_t* data_ = nullptr;
  size_t cap_;
  size_t len_ = 0;
};

// A fixed-capacity batch of frame pointers. The holder owns the frames.
struct FrameBatch {
  Frame* frames[kBatchSize];
  uint32_t count = 0;

  bool full() const { return count == kBatchSize; }
  bool empty() const { return count == 0; }
  void add(Frame* f) {
    assert(count < kBatchSize && "FrameBatch overflow");
    frames[count++] = f;
  }
  void clear() { count = 0; }
  Frame* operator[](size_t i) const { return frames[i]; }
};

// Owns every frame buffer of one datapath thread.
class FramePool {
 public:
  explicit FramePool(size_t frames, size_t frame_capacity = kHeadroom + kMaxFrameLen);
  FramePool(const FramePool&) = delete;
  FramePool& operator=(const FramePool&) = delete;

  // A reset frame, or nullptr when the pool is exhausted.
  Frame* get() {
    if (free_.empty()) return nullptr;
    Frame* f = free_.back();
    free_.pop_back();
    f->reset();
    return f;
  }
  void put(Frame* f) { free_.push_back(f); }  // capacity reserved: never reallocates
  void put(FrameBatch& b) {
    for (uint32_t i = 0; i < b.count; ++i) put(b.frames[i]);
    b.clear();
  }
  size_t available() const { return free_.size(); }
  size_t size() const { return frames_.size(); }

 private:
  std::unique_ptr<uint8_t[]> storage_;
  std::vector<Frame> frames_;
  std::vector<Frame*> free_;
};

}  // namespace kvnet::net
