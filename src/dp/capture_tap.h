// Capture taps: a look at what a port receives and sends, for `kvnetctl
// capture`.
//
// A tap is offered every batch a port receives (Datapath::deliver: from its
// backend, its tunnel socket or a patch peer) and every batch it sends
// (Datapath::flush before the backend, Datapath::hand_over before the patch
// peer), after the rx/tx counters and before anything else happens to the
// frames. It must not keep, change or free them: it copies what it wants.
// Dry-run traces are never offered.
//
// A port without taps has a null `Port::taps`: the datapath's cost is one
// pointer test per batch. The implementation (filters, the copy into a ring
// the control thread reads) is io/capture.h; dp only knows the interface.
//
// Thread-safety: offer() and port_removed() run on the datapath thread;
// taps are added and removed there too (Datapath::add_tap/remove_tap).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "net/frame.h"

namespace kvnet::dp {

struct Port;

enum class Direction : uint8_t { kIn, kOut };

class CaptureTap {
 public:
  virtual ~CaptureTap() = default;
  // `batch` entered (kIn) or is leaving (kOut) through `port`. No allocation,
  // no system call but a clock read, no logging: this runs per batch.
  virtual void offer(const Port& port, Direction dir, const net::FrameBatch& batch) = 0;
  // The port is being removed; no more offers will come.
  virtual void port_removed() {}
};

// The taps of one port (several captures of the same port at once).
struct CaptureTaps {
  std::vector<std::shared_ptr<CaptureTap>> taps;

  void offer(const Port& port, Direction dir, const net::FrameBatch& batch) const {
    for (const auto& t : taps) t->offer(port, dir, batch);
  }
};

}  // namespace kvnet::dp
