// An IPv4 or IPv6 address of the underlay (a tunnel's local and remote
// VTEPs), in network byte order.
//
// Thread-safety: plain data.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace kvnet::io {

struct IpAddr {
  int family = 0;  // AF_INET or AF_INET6; 0: unset
  std::array<uint8_t, 16> b{};
  static std::optional<IpAddr> parse(std::string_view s);
  std::string str() const;
  bool unset() const { return family == 0; }
  bool operator==(const IpAddr&) const = default;
};

}  // namespace kvnet::io
