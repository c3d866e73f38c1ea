#include "daemon/http_policy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>

#include "base/text.h"

namespace kvnet::daemon {

namespace {

constexpr size_t kMaxTokenBytes = 4096;

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool is_ipv4(const std::string& s) {
  in_addr a{};
  return inet_pton(AF_INET, s.c_str(), &a) == 1;
}

bool is_ipv6(const std::string& s) {
  in6_addr a{};
  return inet_pton(AF_INET6, s.c_str(), &a) == 1;
}

// "host:port" / "[v6]:port" / "host" split; false if malformed.
bool split_host_port(std::string_view s, std::string& host, std::string& port) {
  if (!s.empty() && s.front() == '[') {
    const auto close = s.find(']');
    if (close == std::string_view::npos) return false;
    host = std::string(s.substr(1, close - 1));
    const auto rest = s.substr(close + 1);
    if (rest.empty()) return true;
    if (rest.front() != ':') return false;
    port = std::string(rest.substr(1));
    return true;
  }
  const auto colon = s.rfind(':');
  if (colon == std::string_view::npos) {
    host = std::string(s);
    return true;
  }
  if (s.find(':') != colon) return false;  // an IPv6 literal without brackets
  host = std::string(s.substr(0, colon));
  port = std::string(s.substr(colon + 1));
  return true;
}

std::string trim(std::string_view s) {
  const char* ws = " \t\r\n";
  const auto b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return "";
  const auto e = s.find_last_not_of(ws);
  return std::string(s.substr(b, e - b + 1));
}

}  // namespace

std::string HttpAddress::text() const {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

Result<HttpAddress> parse_http_address(std::string_view text) {
  const std::string shown = "--http '" + valid_utf8(text) + "'";
  HttpAddress a;
  std::string port;
  if (all_digits(text)) {
    a.host = "127.0.0.1";
    port = std::string(text);
  } else if (!split_host_port(text, a.host, port)) {
    return Error{shown + ": not ADDR:PORT (an IPv6 address goes in brackets: [::1]:8080)"};
  } else if (port.empty()) {
    return Error{shown + ": no port (ADDR:PORT, :PORT or PORT)"};
  }
  if (a.host.empty()) a.host = "127.0.0.1";
  if (!all_digits(port) || port.size() > 5 || std::stoi(port) > 65535)
    return Error{shown + ": port '" + valid_utf8(port) + "' is not a number from 0 to 65535"};
  a.port = std::stoi(port);
  for (char c : a.host)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':' || c == '%' || c == '_'))
      return Error{shown + ": '" + valid_utf8(a.host) + "' is not an IP address or a host name"};
  if ((a.host.find(':') != std::string::npos || text.front() == '[') && !is_ipv6(a.host))
    return Error{shown + ": '" + a.host + "' is not an IPv6 address"};
  return a;
}

Result<std::string> read_token_file(const std::string& path) {
  const std::string shown = "--http-token-file '" + valid_utf8(path) + "'";
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) return Error{shown + ": cannot open: " + std::strerror(errno)};
  struct stat st{};
  std::string data;
  std::string why;
  if (fstat(fd, &st) < 0) {
    why = std::string("cannot stat: ") + std::strerror(errno);
  } else if (!S_ISREG(st.st_mode)) {
    why = "not a regular file";
  } else if (st.st_mode & (S_IROTH | S_IWOTH)) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    why = std::string("the file is ") + ((st.st_mode & S_IROTH) ? "readable" : "writable") +
          " by everyone (mode " + mode + "): whoever reads it may change the switch; chmod o-rw it (e.g. 0600)";
  } else if (static_cast<size_t>(st.st_size) > kMaxTokenBytes) {
    why = "larger than " + std::to_string(kMaxTokenBytes) + " bytes: not a token";
  } else {
    char buf[kMaxTokenBytes + 1];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0 && data.size() <= kMaxTokenBytes) data.append(buf, static_cast<size_t>(n));
    if (n < 0) why = std::string("cannot read: ") + std::strerror(errno);
  }
  close(fd);
  if (!why.empty()) return Error{shown + ": " + why};
  std::string token = trim(data);
  if (token.empty()) return Error{shown + ": the file is empty: put a secret in it (e.g. head -c 32 /dev/urandom | base64)"};
  if (token.size() > kMaxTokenBytes) return Error{shown + ": larger than " + std::to_string(kMaxTokenBytes) + " bytes"};
  for (unsigned char c : token)
    if (c < 0x21 || c > 0x7e)
      return Error{shown + ": the token holds a space or a byte that is not printable ASCII (it travels in a header)"};
  return token;
}

bool token_equal(std::string_view given, std::string_view expected) {
  // Every byte of `expected` is looked at whatever `given` holds.
  volatile unsigned char diff = given.size() == expected.size() ? 0 : 1;
  for (size_t i = 0; i < expected.size(); ++i) {
    const unsigned char g = i < given.size() ? static_cast<unsigned char>(given[i]) : 0;
    diff = diff | (g ^ static_cast<unsigned char>(expected[i]));
  }
  return diff == 0 && !expected.empty();
}

std::string bearer_token(std::string_view authorization) {
  const std::string_view scheme = "bearer ";
  if (authorization.size() <= scheme.size() || lower(authorization.substr(0, scheme.size())) != scheme) return "";
  return trim(authorization.substr(scheme.size()));
}

bool host_allowed(std::string_view host_header, int port, const std::vector<std::string>& names) {
  std::string host, p;
  if (host_header.empty() || !split_host_port(host_header, host, p)) return false;
  if (p.empty()) p = "80";
  if (!all_digits(p) || p.size() > 5 || std::stoi(p) != port) return false;
  const bool bracketed = host_header.front() == '[';
  if (bracketed) return is_ipv6(host);
  if (is_ipv4(host)) return true;
  const std::string h = lower(host);
  if (h == "localhost") return true;
  return std::any_of(names.begin(), names.end(), [&](const std::string& n) { return !n.empty() && lower(n) == h; });
}

bool origin_allowed(std::string_view origin, std::string_view host_header) {
  if (origin.empty()) return true;
  return lower(origin) == "http://" + lower(host_header);
}

}  // namespace kvnet::daemon
