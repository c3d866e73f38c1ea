// ICMP "fragmentation needed" (IPv4, RFC 792/1191) and ICMPv6 "packet too
// big" (RFC 4443/8201) for a frame that a tunnel cannot carry, so that the
// sender learns the path MTU instead of seeing its packets vanish.
//
// kvnet is a switch, not a router: it has no address of its own on the
// endpoints' subnets. As Linux's tunnels do for bridged traffic
// (iptunnel_pmtud_build_icmp), the error is written in place of the frame
// that did not fit and comes from the packet's destination: MACs and
// addresses swapped, the frame's VLAN tags kept, the original quoted (IPv4:
// the reply at most 576 bytes, RFC 1812; IPv6: at most 1280, RFC 4443). The
// datapath then switches it back as if it had arrived on the tunnel port.
//
// None is sent (the frame is left as it was) for what a router would not
// answer either: IPv4 without DF (a router would fragment it), a non-first
// fragment, an ICMP/ICMPv6 error (or a packet whose ICMP header is cut),
// a frame to a multicast or broadcast MAC or address, from an unspecified,
// multicast, broadcast or loopback source, or one that does not parse. A
// token bucket per port limits how many are made (IcmpRateLimit): the
// replies cannot be used to amplify a flood.
//
// Thread-safety: pure functions on the frame; a limiter belongs to one port
// (the datapath thread).
#pragma once

#include <cstdint>

#include "net/frame.h"

namespace kvnet::net {

// A token bucket: `rate` replies a second, at most `burst` at once, by the
// frames' own clock (replay is reproducible). No allocation.
struct IcmpRateLimit {
  static constexpr uint32_t kRate = 100;
  static constexpr uint32_t kBurst = 10;
  uint64_t last_ns = 0;
  uint32_t tokens = kBurst;
  bool take(uint64_t now_ns) {
    if (now_ns < last_ns) last_ns = now_ns;  // the clock went back (a new replay): start over
    const uint64_t d = now_ns - last_ns;
    if (d >= 1000000000ULL) {
      tokens = kBurst;
      last_ns = now_ns;
    } else if (const uint64_t add = d * kRate / 1000000000ULL; add) {  // d < 1 s: no overflow
      tokens = static_cast<uint32_t>(tokens + add > kBurst ? kBurst : tokens + add);
      last_ns = now_ns;
    }
    if (!tokens) return false;
    --tokens;
    return true;
  }
};

// Rewrites `f` (a whole frame, Ethernet header first) into the ICMP error
// telling its sender the path's MTU, if the rules above allow one and
// `limit` has a token; `max_len` is the longest frame, counted as `f` is
// (Ethernet header and tags included), that fits: the MTU reported is
// max_len minus the bytes in front of the IP header. Returns false
// otherwise, with `f` unchanged. The result has no offload state
// (checksums filled, no GSO).
bool reply_too_big(Frame& f, size_t max_len, IcmpRateLimit& limit);

}  // namespace kvnet::net
