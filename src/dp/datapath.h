// The datapath: every bridge and port of one kvnet instance, the frame pool,
// and the loop that moves frames between them.
//
// `receive(port, batch)` runs a batch that entered on a port through that
// port's bridge and everything it leads to: frames sent to patch ports are
// handed to the peer bridge as batches, frames sent to other ports go to
// their backends. It returns when all that work is done.
//
// Loops of bridges cannot hang it: every input frame gets a work budget
// (`kFrameBudget` transmissions for it and all its copies) and may cross at
// most `kMaxPatchDepth` patch ports; what exceeds either is dropped and
// counted as `loop_cut` on the port where it was cut.
//
// `trace` (null unless tracing) receives a step for every stage.
//
// Thread-safety: one datapath thread calls receive(); building the topology
// (add_*) happens before it runs.
#pragma once

#include <cassert>
#include <cstdint>
#include <memory>
#include <thread>
#include <unordered_map>
#include <string>
#include <string_view>
#include <vector>

#include "dp/bridge.h"
#include "dp/firewall.h"
#include "dp/pipeline.h"
#include "dp/port.h"
#include "dp/trace.h"
#include "net/frame.h"

namespace kvnet::dp {

inline constexpr uint32_t kFrameBudget = 4096;
inline constexpr uint8_t kMaxPatchDepth = 64;

class Datapath final : public PipelineContext {
 public:
  explicit Datapath(size_t pool_frames = 16384, size_t frame_capacity = net::kHeadroom + net::kMaxFrameLen);

  // --- building (control path) ---
  Bridge& add_bridge(const std::string& name, BridgeType type, const BridgeSettings& s = {});
  // `backend` may be null for patch ports (and means "discard" otherwise).
  Port& add_port(Bridge& br, const std::string& name, KindTag kind, uint32_t mtu,
                 const VlanConfig& vlan, std::unique_ptr<PortBackend> backend);
  void connect_patch(Port& a, Port& b);
  // Removes a port: its FDB entries go, a patch peer is left unconnected
  // (it drops what it sends, counted as tx_error). Its id is reused by a
  // later add_port. Returns the backend, so the caller can close it
  // elsewhere (closing a TAP is slow: never on the datapath thread).
  std::unique_ptr<PortBackend> remove_port(Port& p);
  // Removes a bridge and all its ports; returns their backends.
  std::vector<std::unique_ptr<PortBackend>> remove_bridge(Bridge& b);
  // Replaces a port's backend; returns the old one.
  std::unique_ptr<PortBackend> swap_backend(Port& p, std::unique_ptr<PortBackend> b);
  // Changes a port's VLAN configuration and MTU in place. Learned entries of
  // the port are flushed (VLAN membership may have changed).
  void reconfigure_port(Port& p, const VlanConfig& vlan, uint32_t mtu);
  // Installs, replaces (null: removes) a port's firewall stages. A replaced
  // policy cuts the connections whose allowing rule it no longer has (as
  // Neutron flushes conntrack when a rule goes); removing it forgets the
  // port's zone.
  void set_firewall(Port& p, std::shared_ptr<const FwPolicy> policy);
  // Replaces a bridge's port mirrors (dp/mirror.h; empty: none). The ports a
  // mirror names are ports of `b`; at most kMaxMirrors. Learned entries of a
  // new output port are forgotten (it is reserved: nothing is switched to it).
  void set_mirrors(Bridge& b, std::vector<MirrorConfig> mirrors);

  // Starts / stops offering the port's frames to a capture tap
  // (dp/capture_tap.h). remove_tap returns false if the tap is not the port's.
  void add_tap(Port& p, std::shared_ptr<CaptureTap> tap);
  bool remove_tap(Port& p, const CaptureTap* tap);

  Bridge* find_bridge(std::string_view name);
  Port* find_port(std::string_view name);  // "port" or "bridge/port"; a hash lookup
  using PipelineContext::port;
  const std::vector<std::unique_ptr<Bridge>>& bridges() const { return bridges_; }
  // Indexed by port id; removed ports leave a null slot.
  const std::vector<std::unique_ptr<Port>>& ports() const { return port_table_; }

  // Attaches the kernel fast path (dp/fast_path.h; null: detaches it): it
  // is offered every port, existing ones now and later ones as they come.
  void set_fast_path(FastPathSink* sink);

  // The thread allowed to change and run the datapath (io::Runtime sets its
  // own while it runs); mutators assert it. Default: any thread.
  void set_owner(std::thread::id t) { owner_ = t; }
  void assert_owner() const {
    assert((owner_ == std::thread::id() || owner_ == std::this_thread::get_id()) &&
           "datapath changed outside its thread");
  }

  // --- running (datapath thread) ---
  using PipelineContext::pool;
  // Runs `batch` (frames that entered on `in`) to completion. Takes the frames.
  void receive(Port& in, net::FrameBatch& batch);
  // Called by bridges (PipelineContext): queue `f` to leave through `out`.
  void output(Port& out, net::FrameBatch& b) override;

  // With a trace set, every stage logs a step. `dry_run` (for tracing a live
  // datapath) also keeps the frame from changing anything: the FDB learns
  // nothing and frames that would leave a non-patch port are only recorded.
  void set_trace(Trace* t, bool dry_run = false) {
    trace_ = t;
    dry_run_ = t && dry_run;
  }

 private:
  void deliver(Port& in, net::FrameBatch& batch);
  // Whether frames entering through `p` may be cached / leaving through it.
  // A port's own stages (its firewall) decide for themselves: they end a
  // frame's candidacy unless its connection is established (firewall_stage.cc).
  bool fast_in(const Port& p) const {
    return !p.taps && !p.mirror_rx && !p.mirror_out && p.bridge->settings().fast_path;
  }
  static bool fast_out(const Port& p) { return !p.taps && !p.mirror_tx; }
  void offer_fast(Port& out, net::Frame* f);
  void fast_attach(Port& p);
  void fast_detach(Port& p);
  void output_one(Port& out, net::Frame* f);
  void flush(Port& out);
  void hand_over(Port& patch, net::FrameBatch& batch);  // a patch port's frames to its peer
  void send_finalized(Port& out, net::FrameBatch& batch);
  void defer_bounced(Port& out);  // the backend's ICMP replies, run from drain()
  void drain();
  // Port mirrors (dp/mirror.cc): what `in` received, what `out` is given.
  void mirror_received(Port& in, net::FrameBatch& batch);
  void mirror_sent(Port& out, const net::FrameBatch& batch);
  void mirror_frame(Port& at, const net::Frame& f, uint32_t candidates, bool received);
  void output_copy(Port& out, net::Frame* f);  // output_one, not inlined: for mirror copies
  uint32_t mirror_copies(Port& at, const net::Frame& f, const MirrorTable::Mirror& m, bool strip, uint16_t vlan,
                         uint16_t tpid, uint8_t pcp, uint64_t& bytes);

  net::FramePool frames_;
  std::vector<std::unique_ptr<Bridge>> bridges_;
  std::vector<std::unique_ptr<Port>> port_table_;
  std::vector<uint32_t> free_ids_;                     // slots of removed ports
  std::unordered_map<std::string, uint32_t> by_name_;  // "port" and "bridge/port" -> id
  std::thread::id owner_;
  std::vector<Port*> queue_;  // ring of ports with pending frames
  size_t q_head_ = 0, q_len_ = 0;
  // Full batches of patch ports, handed over by drain() rather than at once:
  // a bridge's process() is never re-entered while it runs.
  struct Deferred {
    Port* port;
    net::FrameBatch batch;
    bool bounced = false;  // ICMP replies received on `port` (Port::bounced), not a patch hand-over
  };
  static constexpr size_t kMaxDeferred = 256;
  std::vector<Deferred> deferred_;
  size_t d_head_ = 0, d_len_ = 0;
  uint32_t budget_[net::kBatchSize] = {};
  uint64_t round_ = 0;  // receive() calls: tells the input frames of one from the next (mirrors)
};

}  // namespace kvnet::dp
