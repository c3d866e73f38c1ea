// `patch` ports: one end of a virtual cable between two kvnet bridges (what
// a veth pair is between two Linux bridges). The datapath hands what one end
// sends straight to the other end's bridge; there is no backend.
#pragma once

#include "ctl/kinds/kind.h"

namespace kvnet::ctl {

struct PatchOptions final : PortOptions {
  std::string peer_bridge;
  std::string peer_port;
};

const PortKind& patch_kind();

}  // namespace kvnet::ctl
