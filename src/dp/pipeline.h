// The pipeline's pieces: the narrow view of the datapath that bridges and
// stages get (PipelineContext), and the stage interface.
//
// A frame's way through a bridge is one skeleton (dp/bridge.h):
//
//   admit -> ingress stages -> forward -> egress stages -> output
//
// admit (runts, the flow key, the ingress MTU) and output (the datapath's
// queues and patch hand-over) are the same for every bridge. Forward is the
// bridge type's own (hub: repeat; learning: learn + lookup; switch: VLAN-aware
// NORMAL switching). Stages sit around it: the bridge type's built-in ones
// (L2 source checks; the switch's VLAN classification and tagging), then a
// port's own, which is where a firewall goes: Port::ingress runs after the
// bridge's ingress stages, Port::egress before the bridge's egress stages,
// without the bridge types knowing.
//
// A stage works on a batch (up to 32 frames, all entering or all leaving
// through one port): it keeps the frames that go on and drops the others
// (counted with a reason on the port, freed). It has named counters, read by
// `kvnetctl pipeline`, `kvnet trace` and tests. Side effects go through the
// context, so that a dry run (a trace of the live switch) changes nothing.
//
// Thread-safety: the datapath thread only.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "dp/counters.h"
#include "dp/fast_path.h"
#include "dp/port.h"
#include "dp/trace.h"
#include "net/frame.h"

namespace kvnet::dp {

// What a bridge or stage may do to the datapath.
class PipelineContext {
 public:
  net::FramePool& pool() { return *pool_; }
  Port& port(uint32_t id) { return *(*ports_)[id]; }
  // The frames of `b` leave through `out` (queued for its backend, or for
  // the patch peer); takes them and leaves `b` empty. One call per batch.
  virtual void output(Port& out, net::FrameBatch& b) = 0;

  // A dry run (tracing the live switch) changes nothing: no counters, no
  // learning, nothing sent.
  bool dry_run() const { return dry_run_; }
  void count_drop(Port& p, Drop why) {
    if (!dry_run_) p.counters.drop(why);
  }
  // Drops `f` for `why` on `p`: counted, traced, freed.
  void drop(Port& p, net::Frame* f, Drop why);

  // The kernel fast path (dp/fast_path.h), null if there is none, and the
  // datapath's epoch: incremented by every change that could alter a
  // decision the fast path cached.
  FastPathSink* fast_path() const { return fast_; }
  uint64_t epoch() const { return epoch_; }
  uint64_t* epoch_counter() { return &epoch_; }
  void changed() { ++epoch_; }

  // Null unless tracing. Steps get the current patch depth.
  Trace* trace() const { return trace_; }
  void trace_step(TraceStep s) {
    s.depth = depth_;
    trace_->steps.push_back(std::move(s));
  }

 protected:
  PipelineContext() = default;
  ~PipelineContext() = default;
  net::FramePool* pool_ = nullptr;
  const std::vector<std::unique_ptr<Port>>* ports_ = nullptr;
  Trace* trace_ = nullptr;
  FastPathSink* fast_ = nullptr;
  uint64_t epoch_ = 0;
  bool dry_run_ = false;
  int depth_ = 0;  // patch crossings of the frame being traced
};

struct StageCounter {
  std::string_view name;
  uint64_t value = 0;
};

// A stage's counters, added per batch (and not at all in a dry run).
template <size_t N>
struct Counters {
  std::array<StageCounter, N> c;
  void add(PipelineContext& ctx, const std::array<uint64_t, N>& d) {
    if (ctx.dry_run()) return;
    for (size_t i = 0; i < N; ++i) c[i].value += d[i];
  }
};

class Stage {
 public:
  virtual ~Stage() = default;
  virtual std::string_view name() const = 0;
  // Frames of `batch` enter (ingress stage) or leave (egress stage) through
  // `port`. Keeps those that go on, in order; drops the rest.
  virtual void process(PipelineContext& ctx, Port& port, net::FrameBatch& batch) = 0;
  virtual std::span<const StageCounter> counters() const { return {}; }
};

// The per-frame lambda of a stage's keep_if(): inlined into the loop (it is
// the stage's whole per-frame work; a call per frame costs ~5% here).
#define KVNET_HOT_LAMBDA __attribute__((always_inline))

// Keeps the frames of `b` for which keep(frame) is true, in order; `keep`
// owns (drops or passes on) the frames it rejects.
template <typename F>
void keep_if(net::FrameBatch& b, F&& keep) {
  uint32_t n = 0;
  for (uint32_t i = 0; i < b.count; ++i)
    if (keep(b.frames[i])) b.frames[n++] = b.frames[i];
  b.count = n;
}

}  // namespace kvnet::dp
