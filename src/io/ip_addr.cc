#include "io/ip_addr.h"

#include <arpa/inet.h>

namespace kvnet::io {

std::optional<IpAddr> IpAddr::parse(std::string_view s) {
  const std::string str(s);
  IpAddr a;
  // SAFETY: inet_pton writes at most 16 bytes into b.
  if (inet_pton(AF_INET, str.c_str(), a.b.data()) == 1) {
    a.family = AF_INET;
    return a;
  }
  if (inet_pton(AF_INET6, str.c_str(), a.b.data()) == 1) {
    a.family = AF_INET6;
    return a;
  }
  return std::nullopt;
}

std::string IpAddr::str() const {
  if (unset()) return "-";
  char buf[INET6_ADDRSTRLEN];
  // SAFETY: inet_ntop writes at most sizeof buf bytes.
  if (!inet_ntop(family, b.data(), buf, sizeof buf)) return "?";
  return buf;
}

}  // namespace kvnet::io
