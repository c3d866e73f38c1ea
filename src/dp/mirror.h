// Port mirrors (SPAN/RSPAN): copies of selected frames sent to a port or into
// a VLAN, as Open vSwitch's Mirror table (vswitchd/vswitch.xml) defines them.
//
// Selection. A frame is selected by a mirror when it enters the bridge on
// one of the mirror's source ports (select_src_port: what the port receives)
// or leaves it through one of its destination ports (select_dst_port: what
// the port sends); select_all makes every port both. A set of VLANs
// (select_vlan, empty: all) narrows that to frames switched in those VLANs.
//   - A received frame is mirrored before the bridge looks at it (before the
//     L2 checks, the firewall, learning): what a port receives is mirrored
//     even if the bridge then drops it, as in OVS, except a frame the port's
//     VLAN rule refuses (OVS's input_vid_is_valid): it belongs to no VLAN.
//   - A sent frame is mirrored when the bridge hands it to the port (after
//     the port's egress stages, so a frame the firewall drops is not).
//   - One input frame reaches one mirror destination at most once, however
//     often it is selected (received on a selected port, then flooded to
//     several selected ports; two mirrors with the same output): the
//     datapath remembers per input frame (its `origin`) which destinations
//     it served. A copy itself is never mirrored again in the same bridge.
//
// Output. Exactly one of:
//   - output_port: a port of the bridge reserved for the mirror. Normal
//     switching never sends to it (floods skip it) and whatever it receives
//     is dropped (counted as `mirror_output`). The copy is the frame in its
//     VLAN as that port would send it: switch bridges strip the VLAN's tag
//     and push it again by the output port's rule for that VLAN, ignoring
//     membership (OVS's output_normal): an access or dot1q-tunnel port gets
//     it untagged whatever the VLAN, a trunk tagged with the frame's VLAN
//     unless that is its native (pvid) VLAN, hybrid/native-* ports by their
//     lists. Hub and learning bridges copy the frame as it is.
//   - output_vlan (switch bridges, "RSPAN"): the copy is sent, in that VLAN,
//     out of every port that carries it (tagged or untagged by each port's
//     rule), the frame's own ingress port included (OVS does so), mirror
//     output ports excluded. Frames already in that VLAN and frames to the
//     reserved 01:80:c2:00:00:0x groups are not mirrored to a VLAN.
//
// Counters per mirror: tx_packets/tx_bytes, the frames it mirrored and their
// length as sent (output_vlan: without a VLAN tag), counted once per frame.
//
// Cost: a port of a bridge without mirrors pays one predictable branch per
// received batch and per sent batch (Port::mirror_rx/mirror_tx/mirror_out).
//
// Thread-safety: configured (Datapath::set_mirrors) and run on the datapath
// thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "dp/vlan.h"
#include "net/frame.h"

namespace kvnet::dp {

struct Port;

// Mirrors per bridge (OVS's limit too): one bit each in Port::mirror_rx/tx.
inline constexpr size_t kMaxMirrors = 32;

// What the control path installs.
struct MirrorConfig {
  std::string name;
  bool select_all = false;
  std::vector<Port*> src;        // ports of the bridge whose received frames are selected
  std::vector<Port*> dst;        // ports of the bridge whose sent frames are selected
  std::optional<VlanSet> vlans;  // none: every VLAN
  Port* out_port = nullptr;      // exactly one of out_port and out_vlan
  uint16_t out_vlan = 0;
};

struct MirrorCounters {
  uint64_t tx_packets = 0;
  uint64_t tx_bytes = 0;
};

// A bridge's mirrors.
class MirrorTable {
 public:
  struct Mirror {
    MirrorConfig cfg;
    uint32_t dup = 0;  // this mirror and the others with the same output (bits)
    MirrorCounters counters;
  };

  bool empty() const { return mirrors_.empty(); }
  const std::vector<Mirror>& mirrors() const { return mirrors_; }
  std::vector<Mirror>& mirrors() { return mirrors_; }
  // Replaces the mirrors (at most kMaxMirrors); counters of a mirror that
  // keeps its name stay.
  void set(std::vector<MirrorConfig> cfgs);
  // A port is leaving the bridge: it is no longer selected, and a mirror
  // whose output it was sends nothing until configured again.
  void forget_port(const Port* p);
  // Recomputes the mirror bits of the bridge's ports (after set, forget_port
  // or a port added: select_all takes it in).
  void mark_ports(const std::vector<Port*>& ports) const;

  // The destinations (mirror bits) an input frame already reached; `round`
  // tells one Datapath::receive() from the next.
  uint32_t& served(uint16_t origin, uint64_t round) {
    if (round_[origin] != round) {
      round_[origin] = round;
      served_[origin] = 0;
    }
    return served_[origin];
  }

 private:
  std::vector<Mirror> mirrors_;
  uint32_t served_[net::kBatchSize] = {};
  uint64_t round_[net::kBatchSize] = {};
};

}  // namespace kvnet::dp
