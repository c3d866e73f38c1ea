// The slow path's side of the kernel fast path (io/fastpath.h): which frames
// the datapath offers for caching, and the interface it offers them through.
//
// A frame is a candidate from the moment it enters on a port whose backend
// the fast path serves (Port::fast) of a bridge that allows it, until a
// step happens that the fast path cannot replay. It stays a candidate only
// along this way:
//   - it entered outside a trace or dry run, on a port without a live
//     capture and without port mirrors;
//   - every bridge it crosses forwards it as known unicast to one port (a
//     flood, a broadcast, a multicast, an unknown destination is never
//     cached), at most kFastHops bridges;
//   - every port it crosses (patch ports included) has no capture or
//     mirror, and each bridge allows the fast path;
//   - every firewall it meets passes it as part of a connection established
//     in both directions (not a new one, not a related ICMP error, not a
//     packet that starts closing it: dp/firewall_stage.cc), at most
//     kFastConns of them; the connections are noted on the frame;
//   - it leaves through a port the fast path serves (a VXLAN tunnel port
//     whose VTEP is a kernel device, too: to one known remote,
//     PortBackend::fast_tunnel).
// Then the datapath offers (in, out, frame) to the FastPathSink, which builds
// the kernel's entry from the frame as it arrived (FastMeta) and as it
// leaves; the key holds the 5-tuple when the in port's frames may meet a
// firewall (any port of a bridge patched to its own has one). What the kernel program itself never caches (ARP, neighbour
// discovery, DHCP, fragments, ICMP errors, TCP SYN/FIN/RST) it punts
// before it looks anything up.
//
// Coherence: every change of the datapath that could alter a cached decision
// increments its epoch (Datapath::epoch()): configuration changes through
// the datapath's mutators, bridge settings, and FDB changes (a move, a
// removal, a static entry). The runtime publishes a new epoch to the kernel
// before the change is reported done; entries of an older epoch are dead.
//
// Thread-safety: the datapath thread.
#pragma once

#include <cstdint>

#include "net/frame.h"

namespace kvnet::dp {

struct Port;
class Conntrack;

class FastPathSink {
 public:
  virtual ~FastPathSink() = default;
  // A port joined the datapath (or got a new backend): the sink serves it if
  // it can. Returns whether it does (Port::fast).
  virtual bool port_added(Port& p) = 0;
  // A port leaves the datapath (or loses its backend): its entries die.
  virtual void port_removed(Port& p) = 0;
  // The slow path forwarded `f` (as it leaves `out`) from `in`, every step
  // cacheable. Cheap when the flow's entry is already installed.
  virtual void offer(const Port& in, const Port& out, const net::Frame& f, uint32_t path_mtu) = 0;
  // A firewall's connection starts closing (FIN, RST): the entries that
  // carry its packets go now.
  virtual void forget_conn(const Conntrack& ct, uint32_t conn) = 0;
  // The datapath's epoch changed (or not: then nothing happens): entries of
  // earlier epochs die now. Called before a change is reported done.
  virtual void publish(uint64_t epoch) = 0;
  // Periodic (at least once a second): what the kernel forwarded reaches the
  // ports' counters and the FDBs; dead and idle entries go.
  virtual void revalidate(uint64_t now_ns) = 0;
  // What the kernel forwarded until now reaches the counters and FDBs (a
  // reader of counters asks first: they are exact when read).
  virtual void sync() = 0;
};

}  // namespace kvnet::dp
