// The topology model: bridges, their ports and static FDB entries, as read
// from a topology YAML file (used by `kvnet replay`/`trace`, and by the
// daemon's `apply`).
//
//   bridges:
//     - name: br-int
//       type: switch            # switch (default) | learning | hub
//       mac_aging: 300          # seconds (learning, switch)
//       mac_table_size: 8192    # entries (learning, switch)
//       fdb: [{vlan: 10, mac: "52:54:00:00:00:01", port: a1}]   # static entries
//       ports:
//         - {name: a1, type: pcap, rx: a1-in.pcap, tx: a1-out.pcap, vlan_mode: access, pvid: 10}
//         - {name: to-eth, type: patch, peer: br-eth1/to-int, vlan_mode: trunk, allowed: [10, 20-30]}
//
// `load_topology()` parses and validates everything (unknown keys, ranges,
// names, patch pairing) and returns either a whole model or the first error,
// formatted "FILE:LINE:COL: bridge 'b': port 'p': <rule>". Relative pcap paths
// are resolved against the topology file's directory.
//
// Thread-safety: plain data.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "dp/bridge.h"
#include "dp/port.h"
#include "dp/vlan.h"

namespace kvnet::ctl {

struct PortSpec {
  std::string name;
  dp::PortType type = dp::PortType::kPcap;
  std::string rx;            // pcap: file to read (resolved path), "" = none
  std::string tx;            // pcap: file to write (resolved path), "" = none
  std::string peer_bridge;   // patch
  std::string peer_port;     // patch
  uint32_t mtu = dp::kDefaultMtu;
  bool persistent = false;   // tap: the TAP outlives the port and kvnetd
  bool has_vlan_config = false;  // any VLAN key given
  dp::VlanConfig vlan;
  int line = 0;
};

struct FdbSpec {
  uint16_t vlan = 0;
  uint64_t mac = 0;
  std::string port;
  int line = 0;
};

struct BridgeSpec {
  std::string name;
  dp::BridgeType type = dp::BridgeType::kSwitch;
  dp::BridgeSettings settings;
  std::vector<PortSpec> ports;
  std::vector<FdbSpec> fdb;
  int line = 0;
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
  int line = 0;
};

struct Topology {
  std::string file;      // as given
  std::string base_dir;  // directory relative paths are resolved against
  std::vector<BridgeSpec> bridges;
  std::vector<ContainerSpec> containers;

  BridgeSpec* find_bridge(const std::string& name);
  const BridgeSpec* find_bridge(const std::string& name) const;
  // Finds a port by "port" or "bridge/port"; sets *bridge if given.
  const PortSpec* find_port(const std::string& ref, const BridgeSpec** bridge = nullptr) const;
};

struct ParseOptions {
  // A patch port whose peer does not exist yet is accepted (the daemon adds
  // the two ends of a pair one command at a time, as ovs-vsctl does). A peer
  // that exists must still be a patch port naming this one back.
  bool allow_dangling_patches = false;
};

Result<Topology> load_topology(const std::string& path);
// Same, from YAML text; `file` names it in messages (with line:column; an
// empty `file` gives messages without a location), `base_dir` resolves paths.
Result<Topology> parse_topology(const std::string& yaml, const std::string& file, const std::string& base_dir,
                                const ParseOptions& opts = {});

// Checks that a name is usable for a bridge or port (1-15 characters of
// letters, digits, '-', '_', '.', as kernel interface names allow).
std::optional<std::string> check_name(const std::string& name);
std::optional<std::string> check_ip(const std::string& ip);
std::optional<std::string> check_cidr(const std::string& cidr);

// The topology as YAML that parse_topology() accepts (what `export` prints):
// only keys that differ from their defaults, ports in flow style.
std::string to_yaml(const Topology& t);
// One port as a flow-style YAML map ("{name: a1, type: pcap, ...}").
std::string port_to_yaml(const PortSpec& p, dp::BridgeType bridge_type);

}  // namespace kvnet::ctl
