// The kernel fast path's flow key as its eBPF programs build it
// (io/bpf/fastpath.bpf.c, `decide`), for kvnetd's side: the key an entry is
// installed under and the key `trace` looks up must be the one the programs
// compute for the same frame, field for field.
//
// Thread-safety: a pure function.
#pragma once

#include <cstddef>
#include <cstdint>

#include "io/bpf/fastpath_abi.h"

namespace kvnet::io {

// The key of `frame` (from its MAC header, tags inline) arriving on
// `ifindex`; with `l4`, the IP protocol, addresses and ports too. False for
// what the programs never look up (they punt it to the slow path): ARP,
// RARP, more than two tags, IP fragments, TCP SYN/FIN/RST, DHCP, ICMP and
// ICMPv6 errors, neighbour discovery, IPv6 extension headers, truncated
// headers. *l2_len (if given) gets the length of the MAC header and tags.
bool fastpath_key(const uint8_t* frame, size_t len, uint32_t ifindex, bool l4, kvfp_key& k, uint32_t* l2_len);

}  // namespace kvnet::io
