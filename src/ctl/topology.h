// The topology model: bridges, their ports, static FDB entries and
// containers, as read from a topology YAML file (`kvnet replay`/`trace`,
// kvnetd's `apply`), edited by kvnetd's verbs, and kept by its store.
//
//   bridges:
//     - name: br-int
//       type: switch            # switch (default) | learning | hub
//       mac_aging: 300          # seconds (learning, switch)
//       mac_table_size: 8192    # entries (learning, switch)
//       fdb: [{vlan: 10, mac: "52:54:00:00:00:01", port: a1}]   # static entries
//       mirrors: [{name: ids, select_src_ports: [a1], output_port: ids0}]   # ctl/mirror_spec.h
//       ports:
//         - {name: a1, type: pcap, rx: a1-in.pcap, tx: a1-out.pcap, vlan_mode: access, pvid: 10}
//         - {name: to-eth, type: patch, peer: br-eth1/to-int, vlan_mode: trunk, allowed: [10, 20-30]}
//   containers:
//     - {name: web, bridge: br-int, port: ct-web, ip: 10.0.0.2/24, gw: 10.0.0.1}
//   gateways:                   (ctl/gateway_spec.h; their internal ports are implied)
//     - {name: gw0, bridge: br-int, ip: 10.0.0.1/24, masquerade: true, dhcp: "10.0.0.100-10.0.0.199"}
//
// Two steps, kept apart:
//   parse_document(YAML) -> Topology   syntax, keys, value types and ranges of
//                                      each object on its own (a port's kind
//                                      reads its options: ctl/kinds/)
//   validate(Topology)   -> Status     every rule that involves more than one
//                                      object (names, patch pairs, FDB ports,
//                                      containers), for files and verbs alike
// `parse_topology()` does both. Errors are the first problem found, formatted
// "FILE:LINE:COL: bridge 'b': port 'p': <rule>" (without the location when
// the topology did not come from a file).
//
// Thread-safety: plain data. Copies share the ports' immutable options.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "ctl/gateway_spec.h"
#include "ctl/kinds/kind.h"
#include "ctl/mirror_spec.h"
#include "ctl/security.h"
#include "ctl/vm_spec.h"
#include "dp/bridge.h"
#include "dp/port.h"
#include "dp/vlan.h"

namespace kvnet::ctl {

// Where an object was written (1-based; 0 = not from a file).
struct Loc {
  int line = 0;
  int col = 0;
};

struct PortSpec {
  std::string name;
  const PortKind* kind = nullptr;
  std::shared_ptr<const PortOptions> options;  // the kind's typed options
  uint32_t mtu = dp::kDefaultMtu;
  bool mtu_given = false;        // `mtu` written by the user (it wins over ctl/mtu.h's)
  bool has_vlan_config = false;  // any VLAN key given
  dp::VlanConfig vlan;
  PortSecurity security;  // security groups, port security (ctl/security.h)
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

// Containers (kvnetd only): a network namespace NAME whose eth0 is a veth
// whose other end is the system port `port` of `bridge`.
struct ContainerSpec {
  std::string name;
  std::string bridge;
  std::string port;
  std::string ip;   // CIDR, "" = none
  std::string gw;   // "" = none
  std::string mac;  // "" = kernel's choice
  Loc loc;
  bool operator==(const ContainerSpec& o) const {
    return name == o.name && bridge == o.bridge && port == o.port && ip == o.ip && gw == o.gw && mac == o.mac;
  }
};

struct Topology {
  std::string file;      // as given ("" = not from a file)
  std::string base_dir;  // directory relative paths are resolved against
  std::vector<BridgeSpec> bridges;
  std::vector<ContainerSpec> containers;
  // Whether the document had a `containers:` section. An apply of a document
  // without it leaves the containers as they are (`containers: []` removes
  // them all).
  bool has_containers = false;
  std::vector<VmSpec> vms;
  bool has_vms = false;  // as has_containers, for `vms:`
  std::vector<SecurityGroupSpec> security_groups;
  bool has_security_groups = false;  // as has_containers, for `security_groups:`
  std::vector<GatewaySpec> gateways;
  bool has_gateways = false;  // as has_containers, for `gateways:`
  // What parsing accepted but was probably not meant (a VLAN listed twice
  // in `allowed`); not part of the configuration.
  std::vector<std::string> warnings;

  const SecurityGroupSpec* find_group(const std::string& name) const;
  const GatewaySpec* find_gateway(const std::string& name) const;
  BridgeSpec* find_bridge(const std::string& name);
  const BridgeSpec* find_bridge(const std::string& name) const;
  // Finds a port by "port" or "bridge/port"; sets *bridge if given.
  const PortSpec* find_port(const std::string& ref, const BridgeSpec** bridge = nullptr) const;
  // Finds a mirror by name (unique across bridges); sets *bridge if given.
  const MirrorSpec* find_mirror(const std::string& name, const BridgeSpec** bridge = nullptr) const;
};

struct ParseOptions {
  // A patch port whose peer does not exist yet is accepted (the daemon adds
  // the two ends of a pair one command at a time, as ovs-vsctl does). A peer
  // that exists must still be a patch port naming this one back.
  bool allow_dangling_patches = false;
};

// --- parsing and validation ---
// A file may describe several hosts: a top-level `hosts:` map of host name
// to a topology each (examples/two-hosts-vxlan.yaml). `host` picks one; it
// must be given for such a file and only for such a file.
Result<Topology> parse_document(const std::string& yaml, const std::string& file, const std::string& base_dir,
                                const std::string& host = "");
Status validate(const Topology& t, const ParseOptions& opts = {});
// parse_document() then validate().
Result<Topology> parse_topology(const std::string& yaml, const std::string& file, const std::string& base_dir,
                                const ParseOptions& opts = {});
Result<Topology> load_topology(const std::string& path, const std::string& host = "");

// --- building objects from KEY=VALUE settings (kvnetd's verbs) ---
// Each value is text, as on a command line; lists are comma-separated.
using Settings = std::vector<std::pair<std::string, std::string>>;
// A port of `bridge` from settings (`type` among them; default `system`, as
// ovs-vsctl). Messages name the bridge and the port.
Result<PortSpec> make_port(const BridgeSpec& bridge, const std::string& name, const Settings& s,
                           std::vector<std::string>* warnings = nullptr);
// The port with settings changed (an empty value removes a key). Changing
// vlan_mode drops list keys the new mode does not use, unless also given.
// A VLAN configuration the kind implied from the old options (a tunnel's
// vni_map), or the default one, follows the new options unless VLAN keys
// are given (a pvid of the user's own is kept).
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
// The topology as YAML that parse_topology() accepts (what `export` prints).
std::string to_yaml(const Topology& t);
// One port as a flow-style YAML map.
std::string port_to_yaml(const PortSpec& p, dp::BridgeType bridge_type);
// One security group as a flow-style YAML map, and back (the store).
std::string sg_to_yaml(const SecurityGroupSpec& g);
Result<SecurityGroupSpec> parse_sg(const std::string& flow_map);
// One VM as a flow-style YAML map, and back (the store keeps VMs so).
std::string vm_to_yaml(const VmSpec& vm);
Result<VmSpec> parse_vm(const std::string& flow_map);
// One mirror as a flow-style YAML map, and back (the store).
std::string mirror_to_yaml(const MirrorSpec& m);
Result<MirrorSpec> parse_mirror(const BridgeSpec& bridge, const std::string& flow_map);
// One gateway as a flow-style YAML map, and back (the store).
std::string gateway_to_yaml(const GatewaySpec& gw);
Result<GatewaySpec> parse_gateway(const std::string& flow_map);

// A port that goes leaves the selections of its bridge's mirrors (as in
// OVS). Refused (nothing changed worth keeping) when it is a mirror's output
// or the last port a mirror selects: that mirror must go first.
Status forget_mirrored_port(BridgeSpec& b, const std::string& port);

// --- checks shared with other modules ---
// A usable bridge/port/container name (1-15 characters of letters, digits,
// '-', '_', '.', starting alphanumeric, as kernel interface names allow).
Status check_name(const std::string& name);
Status check_ip(const std::string& ip);
Status check_cidr(const std::string& cidr);

}  // namespace kvnet::ctl
