// kvnetd's metrics endpoint: an HTTP server (Debian's cpp-httplib) on a
// thread of its own, answering GET /metrics with the Prometheus text format
// and 404 everywhere else.
//
// The server never touches kvnetd's state: each scrape calls `collect` on one
// of its worker threads, which asks the control loop for a snapshot
// (daemon/loop_call.h) and renders it there (daemon/metrics.h). A loop that
// does not answer in time makes a 503 with the reason.
//
// Limits, so that scrapers cannot hurt the switch (daemon/http_server.h):
//   - `workers` threads answer requests (2 by default: a Prometheus and a
//     person with curl); idle connections and requests still arriving wait
//     in one watcher thread, not in a worker, and at most `max_connections`
//     are open (the one waiting longest, idle or sending slowly, makes
//     room for a new one);
//   - a request head is at most 8 KiB and 100 headers (431), a body 4 KiB
//     (413); a request must be complete within 5 s of its first byte (408),
//     an answer be taken within 5 s; a keep-alive connection is closed after
//     5 s idle or 100 requests;
//   - a Host header that does not name this server is refused (403), as on
//     the dashboard; methods other than GET and HEAD on /metrics get 405
//     with an Allow header.
// Errors (bind failures) name the address; requests are logged at debug.
//
// Thread-safety: start() and stop() from one thread (kvnetd's main);
// `collect` runs on the server's workers.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "base/result.h"
#include "daemon/http_server.h"
#include "daemon/listen_address.h"

namespace kvnet::daemon {

struct MetricsServerOptions {
  HttpLimits limits{.workers = 2,
                    .max_connections = 32,
                    .max_header_bytes = 8u << 10,
                    .max_header_count = 100,
                    .max_body_bytes = 4u << 10,
                    .request_timeout = std::chrono::milliseconds(5000),
                    .idle_timeout = std::chrono::milliseconds(5000),
                    .write_timeout = std::chrono::milliseconds(5000),
                    .keep_alive_max = 100};
};

class MetricsServer {
 public:
  // The exposition text, or why there is none (-> 503).
  using Collect = std::function<Result<std::string>()>;

  MetricsServer(ListenAddress addr, Collect collect, MetricsServerOptions o = {});
  ~MetricsServer();  // stop()
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // Binds the address (connections wait in the backlog until start()); an
  // address that cannot be bound (in use, not local, no permission) is an
  // error naming it and why. kvnetd binds before it touches anything.
  Status bind();
  // Starts serving (binds first if bind() was not called).
  Status start();
  // Stops accepting, lets the requests being answered finish, joins.
  void stop();
  const ListenAddress& address() const { return addr_; }

 private:
  void routes();
  ListenAddress addr_;
  Collect collect_;
  MetricsServerOptions o_;
  std::unique_ptr<HttpServer> http_;
  std::thread thread_;
  std::atomic<bool> done_{false};  // the server's loop returned
  bool bound_ = false;
};

// Content-Type of the text exposition format.
inline constexpr const char* kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace kvnet::daemon
