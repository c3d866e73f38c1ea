// kvnetd's metrics endpoint: an HTTP server (Debian's cpp-httplib) on a
// thread of its own, answering GET /metrics with the Prometheus text format
// and 404 everywhere else.
//
// The server never touches kvnetd's state: each scrape calls `collect` on one
// of its worker threads, which asks the control loop for a snapshot
// (daemon/loop_call.h) and renders it there (daemon/metrics.h). A loop that
// does not answer in time makes a 503 with the reason.
//
// Limits, so that scrapers cannot hurt the switch:
//   - `workers` threads handle connections (2 by default: a Prometheus and a
//     person with curl); at most `queue` accepted connections wait for one,
//     beyond that the server stops accepting until one is free (new
//     connections wait in the kernel's backlog, then are refused);
//   - a request must arrive within `read_timeout`, an answer be taken within
//     `write_timeout`; a keep-alive connection is closed after
//     `keep_alive_timeout` idle or `keep_alive_max` requests;
//   - request bodies larger than 4 KiB are refused (413); methods other than
//     GET and HEAD on /metrics get 405 with an Allow header.
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
#include "daemon/listen_address.h"

namespace httplib {
class Server;
}

namespace kvnet::daemon {

struct MetricsServerOptions {
  size_t workers = 2;
  size_t queue = 8;
  std::chrono::seconds read_timeout{5};
  std::chrono::seconds write_timeout{5};
  std::chrono::seconds keep_alive_timeout{5};
  size_t keep_alive_max = 100;
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
  std::unique_ptr<httplib::Server> http_;
  std::thread thread_;
  std::atomic<bool> done_{false};  // the server's loop returned
  bool bound_ = false;
};

// Content-Type of the text exposition format.
inline constexpr const char* kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace kvnet::daemon
