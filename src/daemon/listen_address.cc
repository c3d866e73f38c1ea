#include "daemon/listen_address.h"

#include <arpa/inet.h>

#include <charconv>

#include "base/text.h"

namespace kvnet::daemon {

Result<ListenAddress> parse_listen_address(std::string_view text, std::string_view what) {
  const std::string given = valid_utf8(text);
  auto bad = [&](const std::string& why) -> Error {
    return Error{std::string(what) + " '" + given + "': " + why + " (expected ADDR:PORT, :PORT or PORT)"};
  };
  std::string_view host, port = text;
  if (text.starts_with('[')) {
    const auto close = text.find(']');
    if (close == std::string_view::npos) return bad("an IPv6 address in brackets lacks its ']'");
    host = text.substr(1, close - 1);
    if (close + 1 >= text.size() || text[close + 1] != ':') return bad("no port after the address");
    port = text.substr(close + 2);
  } else if (const auto colon = text.rfind(':'); colon != std::string_view::npos) {
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return bad("an IPv6 address must be in brackets ([::1]:PORT)");
  }
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size())
    return bad("the port '" + valid_utf8(port) + "' is not a number");
  if (value < 1 || value > 65535) return bad("the port " + std::to_string(value) + " is out of range 1-65535");
  ListenAddress a;
  a.port = static_cast<uint16_t>(value);
  a.host = host.empty() || host == "localhost" ? "127.0.0.1" : std::string(host);
  unsigned char buf[16];
  const int family = a.ipv6() ? AF_INET6 : AF_INET;
  // SAFETY: inet_pton writes at most 16 bytes (an IPv6 address) into buf.
  if (inet_pton(family, a.host.c_str(), buf) != 1) return bad("'" + valid_utf8(host) + "' is not an IP address");
  return a;
}

}  // namespace kvnet::daemon
