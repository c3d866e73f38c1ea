// Port mirrors as configuration: a bridge's `mirrors:` list in a topology
// file, `kvnetctl mirror add`, kvnetd's store (Open vSwitch's Mirror table,
// vswitchd/vswitch.xml; the datapath side is dp/mirror.h).
//
//   bridges:
//     - name: br0
//       ports: [...]
//       mirrors:
//         - name: ids                 # unique among all mirrors
//           select_src_ports: [a1]    # frames these ports receive
//           select_dst_ports: [b1]    # frames these ports send
//           select_vlans: [10, 20-30] # switch bridges: only frames in these VLANs (default: all)
//           select_all: false         # true: every port, both ways (instead of the port lists)
//           output_port: ids0         # a port of the bridge, reserved for the mirror
//           # output_vlan: 99         # or: switch bridges, sent in VLAN 99 out of every port carrying it
//
// `check_mirror` checks a mirror on its own (an output, exactly one; it
// selects something); rules that involve the bridge's ports (they exist on
// this bridge, the output port is not also selected...) are the mirror
// object type's check (ctl/objects.h). A bridge's document entry reads and
// writes its mirrors through read_mirror/emit_mirror.
//
// Thread-safety: plain data and pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "ctl/fields.h"
#include "dp/bridge.h"
#include "dp/vlan.h"

namespace YAML {
class Node;
class Emitter;
}  // namespace YAML

namespace kvnet::ctl {

class DocReader;
class ObjectType;
struct BridgeSpec;

struct MirrorSpec {
  std::string name;
  bool select_all = false;
  std::vector<std::string> src_ports;  // select_src_ports
  std::vector<std::string> dst_ports;  // select_dst_ports
  dp::VlanSet vlans;                   // select_vlans; none: every VLAN
  std::string output_port;             // "" = none
  uint16_t output_vlan = 0;            // 0 = none
  int line = 0, col = 0;               // where a file wrote it (0: not from a file)

  bool operator==(const MirrorSpec& o) const {
    return name == o.name && select_all == o.select_all && src_ports == o.src_ports && dst_ports == o.dst_ports &&
           vlans == o.vlans && output_port == o.output_port && output_vlan == o.output_vlan;
  }
  // "port ids0" or "vlan 99".
  std::string output() const;
};

// The mirror alone: its name, exactly one output, something selected, no
// port listed twice. Messages start "mirror 'NAME': ".
Status check_mirror(const MirrorSpec& m);
// Canonical settings in the order export writes them (the plan's diff, show).
Fields mirror_fields(const MirrorSpec& m);

// The mirror object type (mirrors live in their bridges: no section of their own).
const ObjectType& mirror_type();
// One entry of a bridge's `mirrors:` list, and back (a flow map).
MirrorSpec read_mirror(DocReader& r, const YAML::Node& n, const std::string& bridge, dp::BridgeType bt);
void emit_mirror(YAML::Emitter& e, const MirrorSpec& m);
// One mirror as a flow-style YAML map, and back (the store).
std::string mirror_to_yaml(const MirrorSpec& m);
Result<MirrorSpec> parse_mirror(const BridgeSpec& bridge, const std::string& flow_map);

// A port that goes leaves the selections of its bridge's mirrors (as in
// OVS). Refused (nothing changed worth keeping) when it is a mirror's output
// or the last port a mirror selects: that mirror must go first.
Status forget_mirrored_port(BridgeSpec& b, const std::string& port);

}  // namespace kvnet::ctl
