// `tap` and `internal` ports: a kernel TAP interface whose /dev/net/tun side
// kvnetd holds (io/tap.h).
//   tap       the NIC of a VM or a host-side device; created if missing and
//             removed with the port unless `persistent`.
//   internal  an interface for the host itself (OVS's "internal" port): it is
//             kvnetd's, survives kvnetd restarts with its addresses, and is
//             removed only when the configuration removes the port.
#pragma once

#include "ctl/kinds/kind.h"

namespace kvnet::ctl {

struct TapOptions final : PortOptions {
  bool persistent = false;  // the TAP outlives the port and kvnetd
};

const PortKind& tap_kind();
const PortKind& internal_kind();

}  // namespace kvnet::ctl
