// NAT gateway networks: what `kvnetctl gw add` and a topology's `gateways:`
// section describe, kept by kvnetd's store (libvirt's default network,
// Neutron's router). Programming the kernel (address, nftables, dnsmasq) is
// daemon/gateway_host.h's job.
//
//   gateways:
//     - name: gw0                 # also the name of its internal port
//       bridge: br-int
//       vlan: 10                  # switch bridges: the port is an access port of VLAN 10
//       ip: 10.0.0.1/24           # the gateway's address and its subnet (IPv4)
//       masquerade: true          # NAT the subnet out of the host's route
//       dhcp: "10.0.0.100-10.0.0.199"   # dnsmasq hands out this range (and answers DNS)
//       forwards: ["tcp:8080:10.0.0.5:80", "udp:5353:10.0.0.6:53"]   # PROTO:HOSTPORT:IP:PORT
//
// The gateway's port is derived: an `internal` port named after the gateway
// on its bridge (access VLAN `vlan` on a switch). Verbs and `apply` add it
// (add_gateway_ports); `export` leaves it out of the bridge's port list.
//
// Thread-safety: plain data and pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "ctl/fields.h"

namespace kvnet::ctl {

class ObjectType;
struct Topology;
struct BridgeSpec;
struct PortSpec;

// An IPv4 address in host order.
Result<uint32_t> parse_ipv4(const std::string& text);
std::string ipv4_str(uint32_t addr);

// A port forward: PROTO:HOSTPORT:IP:PORT (DNAT of the host's HOSTPORT to IP:PORT).
struct PortForward {
  std::string proto;  // tcp | udp
  uint16_t host_port = 0;
  std::string ip;  // the guest's IPv4 address
  uint16_t port = 0;
  std::string str() const;  // "tcp:8080:10.0.0.5:80"
  bool operator==(const PortForward&) const = default;
};
Result<PortForward> parse_forward(const std::string& text);

struct GatewaySpec {
  std::string name;
  std::string bridge;
  uint16_t vlan = 0;       // 0: not set (the port keeps the bridge's default)
  std::string ip;          // CIDR: gateway address / prefix length
  bool masquerade = false;
  std::string dhcp_start;  // "" = no DHCP (and no dnsmasq)
  std::string dhcp_end;
  std::vector<PortForward> forwards;
  int line = 0, col = 0;  // where a file wrote it (0: not from a file)

  bool has_dhcp() const { return !dhcp_start.empty(); }
  std::string dhcp() const { return has_dhcp() ? dhcp_start + "-" + dhcp_end : ""; }
  bool operator==(const GatewaySpec& o) const {
    return name == o.name && bridge == o.bridge && vlan == o.vlan && ip == o.ip && masquerade == o.masquerade &&
           dhcp_start == o.dhcp_start && dhcp_end == o.dhcp_end && forwards == o.forwards;
  }
};

// The subnet of a gateway's CIDR, for rules and checks.
struct Ipv4Net {
  uint32_t addr = 0;     // the gateway's own address
  uint32_t network = 0;  // addr & mask
  int prefix = 0;
  uint32_t mask() const { return prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix); }
  uint32_t broadcast() const { return network | ~mask(); }
  bool contains(uint32_t a) const { return (a & mask()) == network; }
  std::string cidr() const { return ipv4_str(network) + "/" + std::to_string(prefix); }  // "10.0.0.0/24"
  std::string netmask() const { return ipv4_str(mask()); }
};
Result<Ipv4Net> parse_ipv4_cidr(const std::string& cidr);

// "START-END" -> {start, end}.
Result<std::pair<std::string, std::string>> parse_dhcp_range(const std::string& text);

// The checks of one gateway on its own: name, VLAN range, an IPv4 CIDR whose
// address is a host of its subnet (prefix 8-30), the DHCP range inside the
// subnet without the gateway's address, well-formed forwards to hosts of the
// subnet, no host port forwarded twice. Errors read "gateway 'g': <rule>".
Status check_gateway(const GatewaySpec& gw);

// The definition's settings in canonical form (plan diffs).
Fields gateway_fields(const GatewaySpec& gw);

// The gateway's port on `bridge`: internal, named after the gateway, access
// VLAN `vlan` on a switch.
Result<PortSpec> gateway_port(const BridgeSpec& bridge, const GatewaySpec& gw);
// Adds the ports of the gateways whose bridge exists and lacks them (a file
// or an export does not list them). Validation checks what it finds.
void add_gateway_ports(Topology& t);
// Whether `port` is the port of one of t's gateways.
const GatewaySpec* gateway_of_port(const Topology& t, const std::string& port);

// The gateway object type.
const ObjectType& gateway_type();
// One gateway as a flow-style YAML map, and back (the store).
std::string gateway_to_yaml(const GatewaySpec& gw);
Result<GatewaySpec> parse_gateway(const std::string& flow_map);

}  // namespace kvnet::ctl
