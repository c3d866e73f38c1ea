// `system` ports: an existing kernel interface (a veth end, a NIC, a
// container's veth) attached through AF_PACKET (io/af_packet.h).
#pragma once

#include "ctl/kinds/kind.h"

namespace kvnet::ctl {

const PortKind& system_kind();

}  // namespace kvnet::ctl
