// Building a frame from an Open vSwitch-style flow description, as
// `ovs-appctl ofproto/trace` takes it:
//
//   dl_src=52:54:00:00:00:01,dl_dst=ff:ff:ff:ff:ff:ff,dl_vlan=10,arp,arp_tpa=10.0.0.2
//
// Fields: dl_src dl_dst dl_type dl_vlan dl_vlan_pcp vlan_tci nw_src nw_dst
// nw_proto nw_tos nw_ttl tp_src tp_dst icmp_type icmp_code arp_op arp_spa
// arp_tpa arp_sha arp_tha ipv6_src ipv6_dst, and the shorthands ip arp tcp
// udp icmp ipv6 tcp6 udp6 icmp6. Unknown fields and bad values are errors.
// The frame is padded to the Ethernet minimum (60 bytes) and carries valid
// IPv4, TCP, UDP and ICMP checksums.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"

namespace kvnet::ctl {

Result<std::vector<uint8_t>> build_frame_from_flow(const std::string& spec);

}  // namespace kvnet::ctl
