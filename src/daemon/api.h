// kvnetd's API transport: newline-delimited JSON over a Unix stream socket
// (docs/api.md). One request per connection: the client writes one JSON
// object and a newline, the server answers with one JSON object and a newline
// ({"ok": true, "result": ...} or {"ok": false, "error": "..."}) and closes.
// Requests are served one at a time by the control thread, so configuration
// changes are serialized.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "base/result.h"

namespace kvnet::daemon {

class Service;

class ApiServer {
 public:
  ApiServer(Service& svc, std::string path) : svc_(svc), path_(std::move(path)) {}
  ~ApiServer();
  // Creates the socket (mode 0660), replacing a stale one.
  Status listen();
  // Serves until `stop_fd` becomes readable (a signalfd); runs `tick` about
  // every `tick_ms` milliseconds (e.g. to retry vanished interfaces).
  void serve(int stop_fd, int tick_ms, const std::function<void()>& tick);

 private:
  void handle_connection(int fd);
  Service& svc_;
  std::string path_;
  int fd_ = -1;
};

// Sends one request and returns the server's JSON response.
Result<nlohmann::json> api_call(const std::string& socket_path, const nlohmann::json& req, int timeout_ms = 60000);

}  // namespace kvnet::daemon
