// The table of port kinds. Adding a kind: one line here (docs/architecture.md).
#include "ctl/kinds/kind.h"
#include "ctl/kinds/patch.h"
#include "ctl/kinds/pcap.h"
#include "ctl/kinds/system.h"
#include "ctl/kinds/tap.h"
#include "ctl/kinds/tunnel.h"

namespace kvnet::ctl {

std::span<const PortKind* const> port_kinds() {
  static const PortKind* const kKinds[] = {
      &pcap_kind(), &patch_kind(), &tap_kind(), &system_kind(), &internal_kind(),
      &vxlan_kind(), &geneve_kind(), &gre_kind(),
  };
  return kKinds;
}

const PortKind* find_port_kind(std::string_view name) {
  for (const PortKind* k : port_kinds())
    if (k->name() == name) return k;
  return nullptr;
}

std::string port_kind_names() {
  std::string out;
  for (const PortKind* k : port_kinds()) out += (out.empty() ? "" : ", ") + std::string(k->name());
  return out;
}

}  // namespace kvnet::ctl
