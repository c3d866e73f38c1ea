// Bridges: the three ways kvnet switches frames between its ports.
//
//   hub       every frame that enters one port leaves through every other
//             port, unchanged (the seed's Linux bridge "in this figure").
//   learning  VLAN-unaware learning bridge (a Linux bridge's default): learns
//             source MACs, sends known unicast to one port, floods the rest.
//   switch    VLAN-aware learning switch (Open vSwitch NORMAL): every port
//             classifies frames into a VLAN on receive and applies its send
//             rule per VLAN (dp/vlan.h); the FDB is keyed by (VLAN, MAC).
//
// Every bridge runs one skeleton on each batch (dp/pipeline.h):
//
//   admit -> ingress stages -> forward -> egress stages -> output
//
// The types differ only in their forward step and in the built-in stages they
// put around it:
//   hub       forward: repeat
//   learning  ingress: l2-check;  forward: learn + lookup
//   switch    ingress: l2-check, vlan-in;  forward: learn + lookup (VLAN)
//             egress: vlan-out
// A bridge sees the datapath only through a PipelineContext.
//
// Thread-safety: runs on the datapath thread only.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dp/conntrack.h"
#include "dp/fdb.h"
#include "dp/flow_table.h"
#include "dp/mirror.h"
#include "dp/neighbors.h"
#include "dp/pipeline.h"
#include "dp/port.h"
#include "net/frame.h"

namespace kvnet::dp {

enum class BridgeType : uint8_t { kHub, kLearning, kSwitch };
std::string_view to_string(BridgeType t);
// What the type's forward step does, in one line (kvnetctl pipeline).
std::string_view forward_summary(BridgeType t);
std::optional<BridgeType> parse_bridge_type(std::string_view s);

inline constexpr uint32_t kDefaultMacAgingSec = 300;
inline constexpr uint32_t kDefaultMacTableSize = 8192;
// Connections a bridge's firewalls track (netfilter's default nf_conntrack_max
// is larger; this is per bridge, allocated with the first firewall).
inline constexpr uint32_t kConntrackSize = 16384;

struct BridgeSettings {
  uint32_t mac_aging_sec = kDefaultMacAgingSec;
  uint32_t mac_table_size = kDefaultMacTableSize;
  // The connection table of the bridge's firewalls (netfilter's
  // nf_conntrack_max and nf_conntrack_*_timeout, per bridge).
  uint32_t conntrack_max = kConntrackSize;
  ConntrackTimeouts conntrack_timeouts;
  // Whether the kernel fast path may cache this bridge's decisions
  // (dp/fast_path.h); off: every frame crossing it takes the slow path.
  bool fast_path = true;
  friend bool operator==(const BridgeSettings&, const BridgeSettings&) = default;
};

class Bridge {
 public:
  Bridge(PipelineContext& ctx, std::string name, BridgeType type, const BridgeSettings& s);
  virtual ~Bridge() = default;
  Bridge(const Bridge&) = delete;
  Bridge& operator=(const Bridge&) = delete;

  // Runs a batch of frames that entered on `in` (a port of this bridge)
  // through the skeleton. Takes the frames.
  void process(Port& in, net::FrameBatch& batch);

  const std::string& name() const { return name_; }
  BridgeType type() const { return type_; }
  // The datapath's epoch (dp/fast_path.h), for a port backend whose own
  // table decides too (a tunnel's learned remotes).
  uint64_t* epoch_counter() { return ctx_.epoch_counter(); }
  const std::vector<Port*>& ports() const { return ports_; }
  void attach(Port& p);
  void detach(Port& p);  // also forgets what the FDB holds for it
  Fdb* fdb() { return fdb_.get(); }  // null for hubs
  // The bridge's connection table (its ports' firewalls; each filtered port
  // a zone of it), made when the first firewall is installed.
  Conntrack* conntrack() { return ct_.get(); }
  Conntrack& make_conntrack();
  // Its port mirrors (dp/mirror.h; Datapath::set_mirrors installs them).
  MirrorTable& mirrors() { return mirrors_; }
  const MirrorTable& mirrors() const { return mirrors_; }
  const BridgeSettings& settings() const { return settings_; }
  // The addresses a switch answers ARP requests and neighbour solicitations
  // for (dp/neighbors.h); null: none (the arp-suppress stage is there from
  // the first table on). Ignored by hubs and learning bridges. Returns the
  // table it replaces (for the caller to free off the datapath thread).
  const NeighborTable* neighbors() const { return neighbors_.get(); }
  std::shared_ptr<const NeighborTable> set_neighbors(std::shared_ptr<const NeighborTable> t);
  // New aging time applies at once; a new table size keeps the most recently
  // seen entries that fit (static entries first). Likewise for the connection
  // table: new timeouts apply at once to every connection, a new size keeps
  // the most recently seen connections that fit.
  void set_settings(const BridgeSettings& s);
  // The OpenFlow tables of a switch (dp/flow_table.h); null: the default
  // (priority=0 actions=NORMAL). Tables other than the default change the
  // skeleton: after l2-check the frame as received goes through the
  // tables, and only a NORMAL action classifies it into a VLAN and
  // switches it (vlan-in's rule, learning, lookup, vlan-out). Returns the
  // tables replaced (for the caller to free off the datapath thread).
  // Hubs and learning bridges have no tables (refused: returned as given).
  FlowTables* flows() { return flows_.get(); }
  const FlowTables* flows() const { return flows_.get(); }
  std::unique_ptr<FlowTables> set_flows(std::unique_ptr<FlowTables> t);
  bool openflow() const { return of_mode_; }
  // The built-in stages, in order (for `kvnetctl pipeline` and tests).
  const std::vector<std::unique_ptr<Stage>>& ingress_stages() const { return ingress_; }
  const std::vector<std::unique_ptr<Stage>>& egress_stages() const { return egress_; }

 protected:
  // The type's forward step: for every frame of `batch` (all from `in`),
  // queue it (or copies) with to() for the ports it goes to, or drop it.
  virtual void forward(Port& in, net::FrameBatch& batch) = 0;

  // Queues `f` to leave through `out` after the egress stages.
  void to(Port& out, net::Frame* f) {
    net::FrameBatch& b = out_[out.index];
    if (b.empty()) touched_[n_touched_++] = out.index;
    b.add(f);
  }
  // Sends f to every port in `targets` (copies for all but the last).
  void fan_out(Port* const* targets, size_t n, net::Frame* f);
  // Learns f's source in `vlan` on `in` (not in a dry run); traces it.
  // Also notes the bridge as a hop of a fast-path candidate (dp/fast_path.h).
  void learn(Port& in, net::Frame* f, uint16_t vlan);
  // Known unicast port id for f in `vlan`, or kNoPort to flood; traces it.
  uint32_t lookup(const net::Frame* f, uint16_t vlan);
  void trace(TraceStep s) {
    s.bridge = name_;
    ctx_.trace_step(std::move(s));
  }

  PipelineContext& ctx_;
  std::string name_;
  BridgeType type_;
  BridgeSettings settings_;
  std::vector<Port*> ports_;
  std::vector<Port*> scratch_;  // flood targets, sized to ports_
  std::unique_ptr<Fdb> fdb_;
  std::unique_ptr<Conntrack> ct_;
  MirrorTable mirrors_;
  std::shared_ptr<const NeighborTable> neighbors_;
  std::unique_ptr<FlowTables> flows_;
  bool of_mode_ = false;                          // flows_ other than the default
  std::vector<std::unique_ptr<Stage>> of_ingress_;  // the ingress stages with OpenFlow tables (l2-check)
  std::vector<std::unique_ptr<Stage>> ingress_;  // built-in, before the port's own
  std::vector<std::unique_ptr<Stage>> egress_;   // built-in, after the port's own

 private:
  void admit(Port& in, net::FrameBatch& batch);
  void run_egress();

  std::vector<net::FrameBatch> out_;  // per port index: frames leaving this round
  std::vector<uint32_t> touched_;     // port indexes with frames in out_, in first-use order
  uint32_t n_touched_ = 0;            // (sized to the ports: each is listed at most once)
  bool busy_ = false;                 // process() is never re-entered (the datapath defers patch hand-overs)
};

std::unique_ptr<Bridge> make_bridge(PipelineContext& ctx, std::string name, BridgeType type, const BridgeSettings& s);

}  // namespace kvnet::dp
