// Tunnel ports: `vxlan`, `geneve` and `gre` (with `nvgre: true`, NVGRE).
// Their backend is io::TunnelBackend (io/tunnel.h); the options here are
// its configuration as a user writes it.
//
//   remote_ip  one address, a list (head-end replication), or `flow`
//   local_ip   the underlay address to send from and listen on
//   vni        VXLAN/Geneve VNI (24 bits); gre: `key` (32 bits, or the
//              24-bit VSID with nvgre)
//   dst_port   VXLAN 4789, Geneve 6081 by default
//   ttl, tos   of the outer header
//   vni_map    local VLAN -> VNI: several VLANs over one port (Neutron's
//              br-tun); the port is then a trunk of exactly those VLANs
#pragma once

#include "ctl/kinds/kind.h"
#include "io/tunnel.h"

namespace kvnet::ctl {

struct TunnelOptions final : PortOptions {
  io::TunnelConfig cfg;
};

const PortKind& vxlan_kind();
const PortKind& geneve_kind();
const PortKind& gre_kind();

}  // namespace kvnet::ctl
