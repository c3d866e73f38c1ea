// `pcap` ports: a capture file. Replay reads `rx` and writes `tx`; the live
// daemon only records (`tx`).
#pragma once

#include "ctl/kinds/kind.h"

namespace kvnet::ctl {

struct PcapOptions final : PortOptions {
  std::string rx;  // file to read (resolved path), "" = none
  std::string tx;  // file to write (resolved path), "" = none
};

const PortKind& pcap_kind();

}  // namespace kvnet::ctl
