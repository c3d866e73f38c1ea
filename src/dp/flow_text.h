// Flows in ovs-ofctl's text syntax (ovs-ofctl(8), ovs-fields(7)), both ways:
//
//   table=0,priority=4,in_port=phy-br-eth1,dl_vlan=1,actions=mod_vlan_vid:101,NORMAL
//   cookie=0x5/-1,ip,nw_src=10.0.0.0/24            (del-flows: a match only)
//
// Match fields: in_port, dl_src, dl_dst (with /MASK), dl_type, dl_vlan
// (0xffff: no tag), dl_vlan_pcp, vlan_tci (/MASK), nw_src, nw_dst (/PREFIX
// or /MASK), nw_proto, nw_tos, tp_src, tp_dst (/MASK), arp_spa, arp_tpa,
// arp_op, icmp_type, icmp_code, ipv6_src, ipv6_dst (/PREFIX), tun_id
// (/MASK), and the shorthands ip, ipv6, arp, tcp, udp, sctp, icmp, tcp6,
// udp6, icmp6. Fields need their prerequisites (nw_src needs ip or arp;
// tp_src needs tcp, udp or sctp ...), as Open vSwitch requires.
// Flow settings: table, priority, cookie (/MASK in del-flows and
// mod-flows), idle_timeout, hard_timeout, out_port (del-flows).
// Actions: output:PORT (or a bare port), NORMAL, FLOOD, ALL, IN_PORT, drop,
// mod_vlan_vid:N, mod_vlan_pcp:N, strip_vlan (pop_vlan), push_vlan:ETHERTYPE,
// mod_dl_src:MAC, mod_dl_dst:MAC, set_field:N->tun_id, resubmit(,T),
// resubmit(PORT,T), resubmit:PORT, goto_table:T. Anything else is refused
// naming it. Ports are kvnet port names or OpenFlow port numbers.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "dp/flow_table.h"

namespace kvnet::dp {

// OpenFlow port numbers start at 1: kvnetd numbers a port by its datapath
// id + 1 (OVSDB's Interface.ofport, the numbers flows take and print).
constexpr uint32_t openflow_port(uint32_t id) { return id + 1; }

// Port names and numbers. Flows hold the datapath's port ids; the text
// has names, or OpenFlow port numbers (kvnetd: id + 1, as OpenFlow's
// numbers start at 1). Without the number functions a number is the id.
struct FlowPorts {
  std::function<std::optional<uint32_t>(std::string_view name)> id;
  std::function<std::string(uint32_t id)> name;  // "" unknown: printed as the number
  std::function<std::optional<uint32_t>(uint32_t number)> id_of_number;  // nullopt: no such port number
  std::function<uint32_t(uint32_t id)> number_of_id;
};

enum class FlowTextMode {
  kAdd,     // add-flow: actions required; no masks on cookie, no out_port
  kModify,  // mod-flows: actions required; cookie may be masked
  kDelete,  // del-flows: no actions; cookie may be masked; out_port
};

struct ParsedFlow {
  Flow flow;                      // table, priority, cookie, match, actions, timeouts
  bool has_table = false;         // `table=` given (del/mod: none = every table)
  bool has_priority = false;
  uint64_t cookie_mask = 0;       // del/mod: cookie=V/M (add: all ones when cookie given)
  std::optional<uint32_t> out_port;
};

Result<ParsedFlow> parse_flow_text(std::string_view text, const FlowPorts& ports, FlowTextMode mode);
Result<std::vector<FlowAction>> parse_actions_text(std::string_view text, const FlowPorts& ports);

std::string match_text(const FlowMatch& m, const FlowPorts& ports);  // "" matches everything
std::string actions_text(const std::vector<FlowAction>& a, const FlowPorts& ports);  // "drop" when empty
// One line of dump-flows, as ovs-ofctl prints it:
//  " cookie=0x0, duration=3.021s, table=0, n_packets=5, n_bytes=490, priority=4,in_port=p,dl_vlan=1 actions=mod_vlan_vid:101,NORMAL"
std::string flow_line(const Flow& f, uint64_t now_ns, const FlowPorts& ports);

}  // namespace kvnet::dp
