// The topology: the whole configuration of one host, as read from a topology
// YAML file (`kvnet replay`/`trace`, kvnetd's `apply`), edited by kvnetd's
// verbs, and kept by its store. This file and topology.cc are the document's
// skeleton; each object type's part is in its home (ctl/objects.h):
//
//   bridges:          (required) ctl/bridge.h: bridges, ports, static FDB
//     - name: br-int  entries; their mirrors: ctl/mirror_spec.h
//       ports: [{name: a1, type: pcap, rx: a1-in.pcap, tx: a1-out.pcap}]
//   containers:       ctl/container.h
//   security_groups:  ctl/security.h
//   vms:              ctl/vm_spec.h
//   gateways:         ctl/gateway_spec.h (their internal ports are implied)
//
// or, for a file of several hosts, `hosts: {NAME: <topology>, ...}`.
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
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "ctl/bridge.h"
#include "ctl/container.h"
#include "ctl/fields.h"
#include "ctl/gateway_spec.h"
#include "ctl/kinds/kind.h"
#include "ctl/mirror_spec.h"
#include "ctl/objects.h"
#include "ctl/scope.h"
#include "ctl/security.h"
#include "ctl/vm_spec.h"

namespace kvnet::ctl {

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
  // The objects of types without a member above (ctl/objects.h).
  ObjectLists lists;
  // In a cluster: the addresses of other hosts' ports by the security group
  // they are in (from the store's bindings), which `remote_group` rules
  // include. Not configuration: never stored, exported or planned; kvnetd
  // keeps it current from the store (Service::sync_members).
  std::map<std::string, std::vector<std::string>> remote_members;

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
// With a scope (ctl/scope.h: the objects an edit touched), only the rules
// involving those objects are checked: the rest was valid before the edit.
Status validate(const Topology& t, const ParseOptions& opts = {}, const Scope& scope = Scope::all());
// parse_document() then validate().
Result<Topology> parse_topology(const std::string& yaml, const std::string& file, const std::string& base_dir,
                                const ParseOptions& opts = {});
Result<Topology> load_topology(const std::string& path, const std::string& host = "");

// Each value is text, as on a command line; lists are comma-separated.
using Settings = std::vector<std::pair<std::string, std::string>>;

// The functions that build, read and write one object live in its type's
// home: ctl/bridge.h (make_port, update_port, make_bridge, update_bridge,
// parse_port, port_fields, port_to_yaml), ctl/mirror_spec.h,
// ctl/container.h, ctl/security.h, ctl/vm_spec.h, ctl/gateway_spec.h.

// --- writing ---
// The topology as YAML that parse_topology() accepts (what `export` prints).
std::string to_yaml(const Topology& t);

// --- checks shared with other modules ---
// A usable bridge/port/container name (1-15 characters of letters, digits,
// '-', '_', '.', starting alphanumeric, as kernel interface names allow).
Status check_name(const std::string& name);
Status check_ip(const std::string& ip);
Status check_cidr(const std::string& cidr);

}  // namespace kvnet::ctl
