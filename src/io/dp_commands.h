// The typed commands the control thread sends to the datapath thread.
//
// The datapath is owned by its thread (io/runtime.h). Everything the control
// thread asks of it is one of the commands below; each says what it costs on
// the datapath thread, which stops forwarding for that long. Names are
// resolved, files opened and devices closed on the control thread: a command
// carries port ids and ready backends, and hands back backends it removed so
// that the control thread closes them (closing a TAP takes milliseconds).
//
//   command        datapath-thread cost
//   apply(Change)  O(size of the change) + O(ports) to grow the port table
//   swap_backend   O(1)
//   fdb_dump       O(FDB entries) copy (+ a remote lookup for tunnel ports)
//   fdb_flush      O(FDB entries)
//   set_neighbors  O(1) (the table is built on the control thread; the old
//                  one is freed there too)
//   flow_mod       O(flows of the tables it touches) (OpenFlow's flow_mod)
//   dump_flows     O(flows) copy
//   expire_flows   O(flows) (kvnetd: once a second)
//   counters       O(ports) copy
//   metrics        O(ports + bridges) copy (+ O(learned remotes) per
//                  remote_ip=flow tunnel whose remotes changed since)
//   clear_counters O(ports)
//   mirrors        O(mirrors) copy
//   pipeline       O(bridges + ports + stages) copy
//   trace          one frame through the pipeline, with formatting
//   remove_all     O(ports + bridges)
//   failed_ports   O(failed since last call)
//   tap_add        O(captures of the port); from then on, per batch the port
//                  receives or sends: a clock read, the filter per frame and
//                  a copy of what matches (io/capture.h)
//   tap_remove     O(captures of the port)
//
// Thread-safety: call from the control thread only. While the runtime is not
// started the commands run inline on the caller (tests, restore).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "dp/datapath.h"
#include "dp/trace.h"
#include "io/runtime.h"

namespace kvnet::io {

// A port in a Change: an existing one by id, or one the change adds (its
// index in Change::add_ports).
struct PortRef {
  bool added = false;
  uint32_t v = 0;
};

struct Change {
  struct AddBridge {
    std::string name;
    dp::BridgeType type;
    dp::BridgeSettings settings;
  };
  struct AddPort {
    std::string bridge;
    std::string name;
    dp::KindTag kind;
    uint32_t mtu;
    dp::VlanConfig vlan;
    std::unique_ptr<dp::PortBackend> backend;  // null for patch ports
  };
  struct Reconfigure {
    uint32_t port;
    dp::VlanConfig vlan;
    uint32_t mtu;
  };
  struct Fdb {
    std::string bridge;
    uint16_t vlan;
    uint64_t mac;
    PortRef port;        // for additions
    std::string remote;  // for additions: the remote endpoint (tunnel ports)
  };

  // Carried out in this order.
  std::vector<Fdb> fdb_remove;
  std::vector<uint32_t> remove_ports;
  std::vector<std::string> remove_bridges;
  std::vector<AddBridge> add_bridges;
  std::vector<std::pair<std::string, dp::BridgeSettings>> bridge_settings;
  std::vector<AddPort> add_ports;
  std::vector<Reconfigure> reconfigure;
  std::vector<std::pair<PortRef, PortRef>> patches;
  std::vector<Fdb> fdb_add;
  // Ports whose firewall policy is new or changed (null: none any more).
  std::vector<std::pair<PortRef, std::shared_ptr<const dp::FwPolicy>>> firewalls;
  // Bridges' port mirrors, each bridge's whole list (dp/mirror.h), last:
  // every port they name exists by then.
  struct Mirror {
    std::string name;
    bool select_all = false;
    std::vector<PortRef> src, dst;
    std::optional<dp::VlanSet> vlans;  // none: every VLAN
    std::optional<PortRef> out_port;   // or out_vlan
    uint16_t out_vlan = 0;
  };
  std::vector<std::pair<std::string, std::vector<Mirror>>> mirrors;
};

struct ChangeResult {
  std::vector<uint32_t> added_ids;  // parallel to Change::add_ports
  // Backends of removed ports, by port name: to close on the control thread.
  std::vector<std::pair<std::string, std::unique_ptr<dp::PortBackend>>> removed;
  uint32_t fdb_refused = 0;  // static entries that did not fit (ctl::translate refuses that first)
};

// Carries out a change on a datapath the caller owns (the runtime's thread,
// or a datapath no runtime runs: offline replay and trace, ctl/build.h).
// `watch`/`unwatch` (optional) are told of ports added and removed, so that a
// runtime polls what it should.
struct PortWatch {
  std::function<void(dp::Port&)> watch, unwatch;
};
ChangeResult apply_change(dp::Datapath& dp, Change c, const PortWatch& watch = {});

struct PortCountersRow {
  uint32_t id;
  std::string bridge;
  std::string port;
  std::string kind;
  dp::PortCounters counters;
  uint32_t captures = 0;  // live captures of the port
};

// What kvnetd's metrics endpoint reads from the datapath, in one command.
struct DatapathMetrics {
  std::vector<PortCountersRow> ports;
  struct Bridge {
    std::string name;
    std::optional<uint32_t> fdb_entries;        // none: a hub
    std::optional<uint32_t> conntrack_entries;  // none: no firewall on the bridge (yet)
  };
  std::vector<Bridge> bridges;
  struct Tunnel {
    std::string bridge, port;
    size_t remotes;  // the remote VTEPs it floods to (configured, or known for remote_ip=flow)
    size_t learned;  // MACs learned behind remotes
  };
  std::vector<Tunnel> tunnels;
  LoopTimes loop;
};

// One mirror's counters (OVS's Mirror statistics), as read by mirrors().
struct MirrorRow {
  std::string bridge;
  std::string name;
  bool active;  // it has an output (a removed output port leaves it without)
  dp::MirrorCounters counters;
};

// A pipeline stage and its counters, as read by pipeline().
struct StageRow {
  std::string name;
  std::vector<std::pair<std::string, uint64_t>> counters;
};
struct PortStagesRow {
  std::string port;
  std::vector<StageRow> ingress, egress;  // the port's own stages
};
struct BridgePipelineRow {
  std::string bridge;
  dp::BridgeType type;
  std::vector<StageRow> ingress, egress;  // the bridge's built-in stages
  std::vector<PortStagesRow> ports;
};

// One tracked connection (kvnetctl conntrack list).
struct ConntrackRow {
  std::string bridge;
  std::string port;  // the filtered port whose zone it is in ("" unknown)
  dp::Conntrack::Entry entry;
  uint64_t seconds_left;
  std::string line;  // as conntrack -L prints it
};

class DatapathCommands {
 public:
  explicit DatapathCommands(Runtime& rt) : rt_(rt) {}

  ChangeResult apply(Change c);
  // Puts `b` in place of the port's backend (polling follows); returns the old one.
  std::unique_ptr<dp::PortBackend> swap_backend(uint32_t port, std::unique_ptr<dp::PortBackend> b);
  // A bridge's FDB (the caller checked that the bridge exists and is not a hub).
  struct FdbRow {
    dp::Fdb::Entry entry;
    std::string remote;  // the port backend's remote for the MAC (tunnels), or ""
  };
  std::vector<FdbRow> fdb_dump(const std::string& bridge);
  uint32_t fdb_flush(const std::string& bridge);  // how many entries went
  // Gives a switch the addresses it answers ARP and ND for (dp/neighbors.h);
  // false if there is no such bridge.
  bool set_neighbors(const std::string& bridge, std::shared_ptr<const dp::NeighborTable> t);
  // OpenFlow (dp/flow_table.h) on a switch: a flow_mod, its count of flows
  // added, changed or removed (nullopt: no such switch); a copy of its
  // flows with their counters, in tables' order (nullopt: no such switch).
  std::optional<size_t> flow_mod(const std::string& bridge, dp::FlowModCommand cmd, const dp::Flow& flow,
                                 const dp::FlowSelector& sel);
  std::optional<std::vector<dp::Flow>> dump_flows(const std::string& bridge);
  // Removes the flows whose idle or hard timeout has passed, in every
  // switch; returns how many (O(flows)).
  size_t expire_flows();
  // Connections of the bridges' firewalls ("" = every bridge / port).
  std::vector<ConntrackRow> conntrack_dump(const std::string& bridge, const std::string& port);
  size_t conntrack_flush(const std::string& bridge, const std::string& port);  // how many went
  std::vector<PortCountersRow> counters();
  DatapathMetrics metrics();
  // Zeroes the counters (packets, bytes, drops) of one port, or of every
  // port; returns how many ports.
  size_t clear_counters(std::optional<uint32_t> port);
  std::vector<MirrorRow> mirrors();
  // Every bridge's stages with their counters, in the order frames meet them.
  std::vector<BridgePipelineRow> pipeline();
  // One frame into `port` with tracing on and nothing changed (dry run).
  dp::Trace trace(uint32_t port, const std::vector<uint8_t>& frame, uint64_t ts_ns);
  std::vector<std::unique_ptr<dp::PortBackend>> remove_all();
  // Starts offering a port's frames to a capture tap (kvnetctl capture).
  void tap_add(uint32_t port, std::shared_ptr<dp::CaptureTap> tap);
  // Stops it; false if the port no longer has it (the port was removed).
  bool tap_remove(uint32_t port, const dp::CaptureTap* tap);
  // Ports whose device failed while running (the datapath stopped polling them).
  std::vector<std::string> failed_ports() { return rt_.take_failed(); }
  // Runs fn(datapath) on the datapath thread: the kernel fast path's reads
  // and flush (io/fastpath.h: O(entries), bpf(2) calls included).
  template <typename F>
  auto on_fast_path(F&& fn) {
    return rt_.call([&](dp::Datapath& dp) { return fn(dp); });
  }

 private:
  Runtime& rt_;
};

}  // namespace kvnet::io
