// The rules kvnetd's web dashboard (daemon/http_dashboard.h) applies before
// a request reaches the control loop: where it listens, the secret that
// changing requests must carry, and which Host and Origin headers name it.
// Pure functions (the token file aside, which reads one file): the server
// calls them, the unit tests drive them directly.
//
// Why each rule:
//   - the address defaults to 127.0.0.1: the dashboard shows the whole
//     switch, and nothing on another machine should see it unless asked for;
//   - the token file must not be readable by everyone: whoever reads it may
//     flush tables and stop VMs; an empty file would make every client an
//     administrator without anyone noticing;
//   - the token is compared in time independent of where it first differs;
//   - a Host header naming another site is refused (DNS rebinding: a page of
//     evil.example whose name now resolves to 127.0.0.1 could otherwise read
//     the dashboard's JSON); a POST whose Origin is not the dashboard's own is
//     refused (cross-site request forgery), token or not.
//
// Thread-safety: every function is safe from any thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace kvnet::daemon {

// Where the dashboard listens. `host` is an IPv4 or IPv6 literal (without
// brackets) or a name; port 0 asks the kernel for a free port.
struct HttpAddress {
  std::string host;
  int port = 0;
  std::string text() const;  // "127.0.0.1:8080", "[::1]:8080"
};

// "PORT" and ":PORT" mean 127.0.0.1:PORT; "ADDR:PORT"; "[V6]:PORT".
Result<HttpAddress> parse_http_address(std::string_view text);

// The secret in `path`: the file's content without surrounding white space.
// Refused: a file that is not a regular file, one readable or writable by
// everyone (mode o+r, o+w), an empty one, one larger than 4 KiB.
Result<std::string> read_token_file(const std::string& path);

// Whether `given` equals `expected`, in time that depends only on their
// lengths.
bool token_equal(std::string_view given, std::string_view expected);

// The token of an "Authorization: Bearer TOKEN" header ("" if the header is
// not of that form; the scheme is case-insensitive).
std::string bearer_token(std::string_view authorization);

// Whether a request's Host header names this server: host[:port] where host
// is an IP literal ([v6] in brackets), "localhost", or one of `names`
// (case-insensitive), and the port is `port` (no port: 80).
bool host_allowed(std::string_view host_header, int port, const std::vector<std::string>& names);

// Whether an Origin header is the dashboard's own ("http://" + Host). A
// missing Origin (curl, or a same-origin GET) is allowed; "null" is not.
bool origin_allowed(std::string_view origin, std::string_view host_header);

}  // namespace kvnet::daemon
