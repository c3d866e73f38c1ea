// Security groups and port security, as configured: Neutron's model.
//
//   security_groups:
//     - name: web
//       description: "HTTP in, anything out"
//       rules:
//         - {direction: ingress, protocol: tcp, port: 80}
//         - {direction: ingress, protocol: tcp, port: "8000-8010", remote_ip: 10.0.0.0/24}
//         - {direction: ingress, protocol: icmp, icmp_type: 8, remote_group: web}
//         - {direction: egress, ethertype: ipv4}
//         - {direction: egress, ethertype: ipv6}
//   bridges: ... ports:
//     - {name: p1, type: system, security_groups: [web], port_security: true,
//        allowed_addresses: ["52:54:00:00:00:01:10.0.0.5", "10.0.0.0/24"]}
//
// A group is a set of allow rules; a port with groups passes, in each
// direction, what a rule of one of them allows (and the replies of what it
// allowed: the firewall is stateful). `ingress` is traffic to the port's
// endpoint, `egress` traffic from it. A rule matches on its ethertype, its
// protocol (any when absent), TCP/UDP destination ports, ICMP type/code, and
// the remote side: a CIDR, or the addresses of the ports that are members of
// another group. A new group starts with Neutron's two egress rules.
//
// Port security: `port_security: true` lets the port send only from its own
// MAC and addresses (its container's or VM NIC's, and `allowed_addresses`:
// "MAC:IP", "MAC:CIDR", or an IP/CIDR for the port's own MAC).
//
// Rule ids are small integers, unique within their group, given in the order
// rules are added (`sg rule-add` prints it); a file may give them (`id:`).
//
// Thread-safety: plain data and pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"
#include "ctl/fields.h"
#include "dp/conntrack.h"

namespace kvnet::ctl {

class ObjectType;

enum class SgDirection : uint8_t { kIngress, kEgress };
enum class SgEtherType : uint8_t { kIpv4, kIpv6 };

inline constexpr int kAnyProtocol = -1;
inline constexpr int kProtoIcmp = 1, kProtoTcp = 6, kProtoUdp = 17, kProtoIcmpv6 = 58;
inline constexpr uint32_t kMaxSgRuleId = 1000000;  // rule ids are 1-kMaxSgRuleId

struct SgRule {
  uint32_t id = 0;
  SgDirection direction = SgDirection::kIngress;
  SgEtherType ethertype = SgEtherType::kIpv4;
  int protocol = kAnyProtocol;     // 0-255 or kAnyProtocol
  uint16_t port_min = 0;           // TCP/UDP destination ports; 0-0: any
  uint16_t port_max = 0;
  int icmp_type = -1;              // ICMP/ICMPv6; -1: any
  int icmp_code = -1;
  std::string remote_ip;           // CIDR, canonical; "" none
  std::string remote_group;        // "" none
  bool operator==(const SgRule&) const = default;
};

struct SecurityGroupSpec {
  std::string name;
  std::string description;
  std::vector<SgRule> rules;
  int line = 0, col = 0;
  bool operator==(const SecurityGroupSpec& o) const {
    return name == o.name && description == o.description && rules == o.rules;
  }
  // One above the highest id; the lowest free one once the highest is kMaxSgRuleId.
  uint32_t next_rule_id() const;
};

// An address a port may send from (port security).
struct AllowedAddress {
  std::string mac;   // "" = the port's own MAC
  std::string cidr;  // an address or a network, canonical ("10.0.0.5/32")
  bool operator==(const AllowedAddress&) const = default;
};

// A port's security settings (any port kind).
struct PortSecurity {
  std::vector<std::string> groups;  // none: not filtered
  bool port_security = false;
  std::vector<AllowedAddress> allowed;
  bool operator==(const PortSecurity&) const = default;
  bool empty() const { return groups.empty() && !port_security && allowed.empty(); }
};

// A rule from KEY=VALUE settings (the CLI's words or a YAML map's scalars):
// direction, ethertype, protocol, port, icmp_type, icmp_code, remote_ip,
// remote_group, id. Errors name the key and the rule broken.
Result<SgRule> parse_sg_rule(const std::vector<std::pair<std::string, std::string>>& settings);
// The rule as settings, canonical and without defaults (id excluded): what
// `sg show`, the store and export write.
Fields sg_rule_fields(const SgRule& r);
// "ingress ipv4 tcp port 80 remote_ip 10.0.0.0/24" (plans, trace).
std::string sg_rule_str(const SgRule& r);
// Neutron's rules of a new group: egress any IPv4, egress any IPv6.
std::vector<SgRule> default_sg_rules();
const char* to_string(SgDirection d);
const char* to_string(SgEtherType e);
std::string protocol_name(int protocol);  // "tcp", "any", "47"

// "MAC:IP", "MAC:CIDR", "IP" or "CIDR" (MACs and IPv6 addresses have colons
// too: a leading MAC is six hex pairs and a colon).
Result<AllowedAddress> parse_allowed_address(const std::string& text);

// A bridge's connection-table timeouts, netfilter's nf_conntrack_*_timeout
// under shorter names, in seconds: tcp_syn_sent tcp_syn_recv tcp_established
// tcp_fin_wait tcp_close_wait tcp_last_ack tcp_time_wait tcp_close udp
// (unreplied) udp_stream (replied) icmp generic. Text form "udp:5,icmp:10";
// the YAML form is a mapping {udp: 5, icmp: 10}.
inline constexpr uint32_t kMaxConntrackTimeoutSec = 10 * 24 * 3600;
// Sets `name` in `t`; an error names an unknown key or a value out of 1..kMax.
Status set_conntrack_timeout(dp::ConntrackTimeouts& t, std::string_view name, int64_t seconds);
Result<dp::ConntrackTimeouts> parse_conntrack_timeouts(std::string_view text);
// The values that differ from netfilter's defaults, in the text form ("" = none).
std::string conntrack_timeouts_str(const dp::ConntrackTimeouts& t);
// The values by name, in seconds (show, export): all, or those that differ
// from the defaults.
std::vector<std::pair<std::string_view, uint64_t>> conntrack_timeout_values(const dp::ConntrackTimeouts& t,
                                                                            bool changed_only = false);
std::string allowed_address_str(const AllowedAddress& a);

// The security group object type.
const ObjectType& sg_type();
// One security group as a flow-style YAML map, and back (the store).
std::string sg_to_yaml(const SecurityGroupSpec& g);
Result<SecurityGroupSpec> parse_sg(const std::string& flow_map);

}  // namespace kvnet::ctl
