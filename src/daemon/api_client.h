// kvnetd's API, the client side: what kvnetctl links (the library
// kvnet_client, with the capture stream's wire format, daemon/capture_wire.h)
// instead of the daemon's. Newline-delimited JSON over kvnetd's Unix socket
// (docs/api.md): one request line, one answer line, then, for a stream
// command, the stream's bytes.
//
// Thread-safety: any thread; every call has its own connection.
#pragma once

#include <sys/un.h>

#include <nlohmann/json.hpp>
#include <string>

#include "base/result.h"

namespace kvnet::daemon {

// The address of a Unix socket path (error: empty or too long).
Result<sockaddr_un> unix_address(const std::string& path);

// One request or answer line (with its newline); invalid UTF-8 becomes
// U+FFFD. Never throws.
std::string encode_answer(const nlohmann::json& answer);

// Sends one request and returns the server's JSON response.
Result<nlohmann::json> api_call(const std::string& socket_path, const nlohmann::json& req, int timeout_ms = 60000);

// Sends a stream request; returns the answer, and on success the open
// connection (the caller reads the stream from `fd` and closes it) and the
// stream's bytes already read past the answer line.
struct ApiStreamClient {
  nlohmann::json answer;
  int fd = -1;
  std::string rest;
};
Result<ApiStreamClient> api_open_stream(const std::string& socket_path, const nlohmann::json& req, int timeout_ms);

}  // namespace kvnet::daemon
