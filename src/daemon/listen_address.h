// The address a kvnetd HTTP endpoint listens on (--metrics, --http), from
// what an operator types:
//
//   9101            127.0.0.1:9101 (localhost unless told otherwise)
//   :9101           127.0.0.1:9101
//   10.0.0.5:9101   that address
//   0.0.0.0:9101    every IPv4 address (only when written out)
//   [::1]:9101      IPv6, in brackets; [::]:9101 every address
//   localhost:9101  127.0.0.1:9101
//
// The host must be an IP address (no name lookups); the port 1-65535.
// Errors name what was given and the form expected.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"

namespace kvnet::daemon {

struct ListenAddress {
  std::string host;  // an IPv4 or IPv6 address, without brackets
  uint16_t port = 0;
  bool ipv6() const { return host.find(':') != std::string::npos; }
  std::string str() const { return (ipv6() ? "[" + host + "]" : host) + ":" + std::to_string(port); }
};

// `what` names the option in errors ("--metrics").
Result<ListenAddress> parse_listen_address(std::string_view text, std::string_view what);

}  // namespace kvnet::daemon
