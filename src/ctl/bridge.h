// Bridges and their ports and static FDB entries as configuration: a
// topology's `bridges:` list, kvnetd's add-br/add-port/set-port/fdb-add
// verbs, the store's bridges, ports and fdb tables. The home of the bridge
// object type (ctl/objects.h); a port's kind-specific options are its kind's
// (ctl/kinds/), a bridge's mirrors are ctl/mirror_spec.h's.
//
//   bridges:
//     - name: br-int
//       type: switch            # switch (default) | learning | hub
//       mac_aging: 300          # seconds (learning, switch)
//       mac_table_size: 8192    # entries (learning, switch)
//       conntrack_max: 16384    # connections tracked (security groups)
//       conntrack_timeouts: {udp: 5}
//       fast_path: true         # the kernel fast path may cache its decisions (docs/architecture.md)
//       fdb: [{vlan: 10, mac: "52:54:00:00:00:01", port: a1}]   # static entries
//       mirrors: [{name: ids, select_src_ports: [a1], output_port: ids0}]   # ctl/mirror_spec.h
//       ports:
//         - {name: a1, type: pcap, rx: a1-in.pcap, tx: a1-out.pcap, vlan_mode: access, pvid: 10}
//         - {name: to-eth, type: patch, peer: br-eth1/to-int, vlan_mode: trunk, allowed: [10, 20-30]}
//
// Thread-safety: plain data and pure functions. Copies share the ports'
// immutable options.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "ctl/fields.h"
#include "ctl/kinds/kind.h"
#include "ctl/mirror_spec.h"
#include "ctl/security.h"
#include "dp/bridge.h"
#include "dp/port.h"
#include "dp/vlan.h"

namespace kvnet::ctl {

class ObjectType;
using Settings = std::vector<std::pair<std::string, std::string>>;

struct PortSpec {
  std::string name;
  const PortKind* kind = nullptr;
  std::shared_ptr<const PortOptions> options;  // the kind's typed options
  uint32_t mtu = dp::kDefaultMtu;
  bool mtu_given = false;  // `mtu` written by the user (it wins over ctl/mtu.h's)
  bool has_vlan_config = false;  // any VLAN key given
  dp::VlanConfig vlan;
  PortSecurity security;  // security groups, port security (ctl/security.h)
  // Keys and values for other systems (OVSDB's Interface external_ids:
  // libvirt's attached-mac and vm-uuid, Nova's iface-id); kvnet stores them
  // and reads none.
  std::map<std::string, std::string> external_ids;
  Loc loc;

  // The kind's options if they are of type T, else null.
  template <typename T>
  const T* as() const {
    return dynamic_cast<const T*>(options.get());
  }
};

struct FdbSpec {
  uint16_t vlan = 0;
  uint64_t mac = 0;
  std::string port;
  Loc loc;
  std::string remote_ip;  // tunnel ports: the remote VTEP behind the MAC ("" none)
};

struct BridgeSpec {
  std::string name;
  dp::BridgeType type = dp::BridgeType::kSwitch;
  dp::BridgeSettings settings;
  std::vector<PortSpec> ports;
  std::vector<FdbSpec> fdb;
  std::vector<MirrorSpec> mirrors;  // ctl/mirror_spec.h
  Loc loc;

  const PortSpec* find_port(const std::string& name) const;
  const MirrorSpec* find_mirror(const std::string& name) const;
};

// The bridge object type (bridges, their ports and static FDB entries).
const ObjectType& bridge_type();

// --- building objects from KEY=VALUE settings (kvnetd's verbs) ---
// Each value is text, as on a command line; lists are comma-separated.
// A port of `bridge` from settings (`type` among them; default `system`, as
// ovs-vsctl). Messages name the bridge and the port.
Result<PortSpec> make_port(const BridgeSpec& bridge, const std::string& name, const Settings& s,
                           std::vector<std::string>* warnings = nullptr);
// The port with settings changed (an empty value removes a key). Changing
// vlan_mode drops list keys the new mode does not use, unless also given.
// A VLAN configuration the kind implied from the old options (a tunnel's
// vni_map), or the default one, follows the new options unless VLAN keys
// are given (a pvid of the user's own is kept).
// `external_ids:KEY=VALUE` sets one external id (an empty VALUE removes it),
// `external_ids=` removes them all.
// OVS's `tag=N` and `trunks=LIST` are accepted as `pvid` and `allowed`; as in
// OVS, `tag` alone makes an access port and `trunks` alone a trunk (unless a
// vlan_mode is given). `warnings` (if given) receives what is accepted but
// probably not meant (a VLAN listed twice).
Result<PortSpec> update_port(const BridgeSpec& bridge, const PortSpec& p, const Settings& s,
                             std::vector<std::string>* warnings = nullptr);
// A bridge of `type` (switch, learning, hub) with settings (mac_aging ...).
Result<BridgeSpec> make_bridge(const std::string& name, const std::string& type, const Settings& s);
// The bridge with settings changed; its ports and FDB stay.
Result<BridgeSpec> update_bridge(const BridgeSpec& b, const Settings& s);
// A port as one stored/exported YAML flow map ("{name: a1, type: pcap, ...}").
Result<PortSpec> parse_port(const BridgeSpec& bridge, const std::string& flow_map);

// --- writing ---
// A port's settings in canonical form (name and type first, then only what
// differs from defaults); `export`, the store and the plan all use this.
Fields port_fields(const PortSpec& p, dp::BridgeType bridge_type);
// A port's external ids as a field (a map of pairs written as they are).
Field external_ids_field(const std::map<std::string, std::string>& ids);
// One port as a flow-style YAML map.
std::string port_to_yaml(const PortSpec& p, dp::BridgeType bridge_type);
// A bridge's own settings in canonical form (plan diffs).
Fields bridge_fields(const BridgeSpec& b);

}  // namespace kvnet::ctl
