// Port kinds: everything kvnet knows about one kind of port, in one place.
//
// A `PortKind` describes a kind (pcap, patch, tap, system, internal, later
// vxlan, gre ...): its option keys and their help, how its typed options are
// read from a port's settings and written back, the rules that involve other
// objects, when two ports of the kind share a backend, and how the live
// daemon opens its backend. Everything else (topology parsing, the plan,
// the store, the daemon's verbs, kvnetctl's help) asks the kind; nothing
// outside ctl/kinds/ lists kinds. The datapath only learns a port's kind
// name and whether it is a patch port (dp::KindTag).
//
// Kinds are registered in one explicit table (kinds/registry.cc); there is no
// registration by static constructors. Recipe for a new kind:
// docs/architecture.md, "Add a port kind".
//
// Thread-safety: kinds are immutable singletons; options are immutable once
// parsed and shared between copies of a Topology.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "ctl/fields.h"
#include "dp/port.h"
#include "dp/vlan.h"

namespace kvnet::ctl {

struct PortSpec;
struct BridgeSpec;
struct Topology;

// A kind's typed options. Each kind derives its own struct.
struct PortOptions {
  virtual ~PortOptions() = default;
};

class PortKind {
 public:
  virtual ~PortKind() = default;

  virtual std::string_view name() const = 0;
  virtual std::string_view summary() const = 0;  // one line for help texts
  virtual std::span<const KeyHelp> keys() const = 0;

  // Reads the kind's keys (only those; generic keys are read elsewhere).
  virtual std::shared_ptr<const PortOptions> parse(const OptionReader& in) const = 0;
  // Appends the options' non-default settings in canonical form.
  virtual void emit(const PortOptions& o, Fields& out) const = 0;
  // Rules that involve other objects of the topology (a patch's peer, a
  // pcap file written twice); the error says which rule is broken.
  virtual Status validate(const PortSpec& /*p*/, const BridgeSpec& /*b*/, const Topology& /*t*/,
                          bool /*allow_dangling*/) const {
    return Ok{};
  }
  // Whether two ports of this kind (same name) use the same backend, so a
  // change between them can be applied in place (VLAN, MTU) instead of
  // re-creating the port.
  virtual bool same_backend(const PortOptions& a, const PortOptions& b) const = 0;

  // Whether a static FDB entry on this port may name `remote_ip` (a
  // tunnel's remote VTEP); the error says why not.
  virtual Status check_remote(const PortSpec& /*p*/, const std::string& /*ip*/) const {
    return Error{"remote_ip applies to entries of tunnel ports (vxlan, geneve, gre), not " + std::string(name()) +
                 " ports"};
  }
  // A VLAN configuration the options imply on a switch when the port gives
  // none (a tunnel's vni_map: a trunk of the mapped VLANs).
  virtual std::optional<dp::VlanConfig> implied_vlan(const PortOptions& /*o*/) const { return std::nullopt; }

  // The largest IP packet the port can carry whole, when its kind limits it
  // below what the port's `mtu` says (a tunnel: the underlay's path MTU
  // minus the encapsulation, measured now); nullopt: no such limit.
  // ctl/mtu.h takes the smallest of a broadcast domain's for its endpoints.
  virtual std::optional<uint32_t> carried_mtu(const PortSpec& /*p*/, const BridgeSpec& /*b*/) const {
    return std::nullopt;
  }

  // The datapath's view: name and patch-ness.
  dp::KindTag tag() const { return {name(), is_patch()}; }
  virtual bool is_patch() const { return false; }
  // Replay and offline trace can run it (no kernel device needed).
  virtual bool offline() const { return false; }
  // The port can be a container's veth end.
  virtual bool container_port() const { return false; }
  // Only one holder at a time may open the device (a TAP): when a port is
  // re-created, its new backend is opened after the old one is closed.
  virtual bool exclusive_device() const { return false; }

  // Opens the backend the live daemon uses (TAP, AF_PACKET socket, ...).
  virtual Result<std::unique_ptr<dp::PortBackend>> open(const PortSpec& p) const = 0;
};

// The explicit table of kinds, in the order help texts list them.
std::span<const PortKind* const> port_kinds();
const PortKind* find_port_kind(std::string_view name);
// "pcap, patch, tap, system, internal"
std::string port_kind_names();

// A kind without options of its own.
struct NoOptions final : PortOptions {};

}  // namespace kvnet::ctl
