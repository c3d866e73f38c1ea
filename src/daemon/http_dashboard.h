// kvnetd's web dashboard (`kvnetd --http ADDR:PORT`): a page that shows the
// live switch (picture, ports with their rates, FDB, conntrack, VMs and
// containers, a trace form; in a cluster also its hosts, networks and store
// and the whole cluster's picture) and the JSON endpoints it reads, served by
// cpp-httplib on threads of its own. docs/api.md lists the endpoints,
// docs/operations.md ("Dashboard") how to run it.
//
// The HTTP threads never touch the Service: every API request is posted to
// the control loop (daemon/http_loop_call.h) and handled there by the same
// ApiHandler the Unix socket uses, one at a time with every other request;
// a loop that does not answer within `call_timeout` gives 503.
//
// What a client may do:
//   - GET /, the page's assets (embedded in the binary: no CDN, no files),
//     GET /api/info and GET /api/CMD for the read-only commands of
//     dashboard_commands() (arguments from the query string: strings, or
//     booleans for a command's flags);
//   - POST /api/CMD for its few changing commands, only if kvnetd was
//     started with --http-token-file, and only with that token as
//     "Authorization: Bearer TOKEN" (401 otherwise; 403 when there is no
//     token file: the dashboard is read-only). Nothing here opens a shell or
//     a VM console, token or not.
// Every request must name the server in its Host header, a POST must come
// from the dashboard's own Origin (daemon/http_policy.h), bodies are limited
// to `max_body_bytes` (413), request heads and connections as
// daemon/http_server.h says (431, 408; idle connections hold no thread),
// and every answer carries a Content-Security-
// Policy that allows only the page's own scripts and no CORS headers.
//
// Thread-safety: create/start/stop from the control thread (before and
// after EventLoop::run); the server's threads only post to the loop.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "daemon/api.h"
#include "daemon/event_loop.h"

namespace kvnet::daemon {

struct DashboardOptions {
  std::string address;     // --http: ADDR:PORT, :PORT or PORT (127.0.0.1)
  std::string token_file;  // --http-token-file; "" read-only
  std::function<void(const std::string&)> log;  // changes made through it, failures
  std::chrono::milliseconds call_timeout{5000};
  size_t max_body_bytes = 64 << 10;
  int threads = 4;
  // daemon/http_server.h: idle clients wait outside the threads, at most
  // this many connections are open; a request head is at most this big and
  // has at most this many headers (431), and is whole within request_timeout.
  size_t max_connections = 64;
  size_t max_header_bytes = 32u << 10;
  size_t max_header_count = 100;
  std::chrono::milliseconds request_timeout{10000};
};

// The API commands the dashboard serves.
struct DashboardCommand {
  const char* cmd;
  bool changes;  // POST with the token; otherwise GET
  // GET: the query arguments that are flags, "true" or "false" in the query
  // and JSON booleans for the command (draw's `cluster`); anything else
  // there is 400. Every other argument is a string.
  std::vector<std::string> flags = {};
};
const std::vector<DashboardCommand>& dashboard_commands();

class DashboardServer {
 public:
  // Checks the address and the token file and binds the port: every failure
  // is an error naming the address or the file. Serves nothing before
  // start().
  static Result<std::unique_ptr<DashboardServer>> create(EventLoop& loop, ApiHandler handler, DashboardOptions o);
  ~DashboardServer();  // stop()
  DashboardServer(const DashboardServer&) = delete;
  DashboardServer& operator=(const DashboardServer&) = delete;

  // Serves on a thread of its own; requests wait for the loop to run.
  void start();
  // Answers waiting requests with 503 and stops serving; returns once the
  // server's threads are gone.
  void stop();

  // One request as bytes -> the answer's bytes, without a socket (tests,
  // fuzzing; see HttpServer::answer).
  std::string answer(std::string_view request);
  std::string url() const;  // "http://127.0.0.1:8080/"
  int port() const;         // the bound one (--http :0 asks for any)
  bool read_only() const;

 private:
  struct Impl;
  explicit DashboardServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kvnet::daemon
