// The HTTP server under kvnetd's dashboard (daemon/http_dashboard.h) and
// metrics endpoint (daemon/metrics_server.h): Debian's cpp-httplib (0.11)
// parses requests and routes them, kvnet's own code in front of it decides
// which connection gets a thread and when.
//
// Why not httplib's own connection handling: it gives every connection a
// worker thread for as long as it stays open, idle or not, and reads
// headers without a count or total size. Four idle connections stopped the
// dashboard (four workers), two stopped /metrics, and a request with
// millions of headers grew kvnetd by 440 MB. Here:
//   - one thread (the watcher) holds every connection that is idle or still
//     sending its request, with poll(): no worker waits on a client;
//   - a connection goes to a worker only once its request head is complete
//     (and, with a Content-Length, its body): workers only parse, answer and
//     write;
//   - a request head (request line and headers) larger than
//     `max_header_bytes` or with more than `max_header_count` headers gets
//     431; a body larger than `max_body_bytes` 413; a chunked one 411;
//   - a request must be complete within `request_timeout` of its first byte
//     (408), a connection between requests closes after `idle_timeout`, an
//     answer must be taken within `write_timeout`, and a connection ends
//     after `keep_alive_max` requests;
//   - at most `max_connections` are open: beyond that the connection that
//     has waited longest in the watcher, idle or still sending its request
//     (for more than a second), is closed to make room, or, if none has,
//     new connections wait in the kernel's backlog.
// scan_request_head() is the head check on its own (unit tests, fuzzing).
//
// Thread-safety: run() on the server's thread, stop() (httplib's) from any;
// the handlers run on the workers.
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace kvnet::daemon {

struct HttpLimits {
  size_t workers = 2;
  size_t max_connections = 32;
  size_t max_header_bytes = 32u << 10;
  size_t max_header_count = 100;
  size_t max_body_bytes = 4u << 10;
  std::chrono::milliseconds request_timeout{10000};
  std::chrono::milliseconds idle_timeout{5000};
  std::chrono::milliseconds write_timeout{5000};
  size_t keep_alive_max = 100;
};

// What the bytes received so far say about a request.
struct RequestHead {
  enum class State {
    kIncomplete,      // no blank line yet, within the limits
    kComplete,        // head_bytes of head, then body_bytes of body
    kTooLarge,        // the head is larger than max_header_bytes (431)
    kTooManyHeaders,  // more than max_header_count headers (431)
    kBodyTooLarge,    // Content-Length above max_body_bytes (413)
    kBadLength,       // a Content-Length that is not one number (400)
    kChunked,         // Transfer-Encoding: kvnetd takes no chunked bodies (411)
  };
  State state = State::kIncomplete;
  size_t head_bytes = 0;  // through the blank line
  size_t body_bytes = 0;  // from Content-Length
  bool expect_continue = false;  // "Expect: 100-continue": the client waits before its body
};
RequestHead scan_request_head(std::string_view in, const HttpLimits& limits);

class HttpServer final : public httplib::Server {
 public:
  explicit HttpServer(HttpLimits limits);
  ~HttpServer() override;
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Serves after bind_to_port()/bind_to_any_port() until stop(); then closes
  // every connection and joins its threads.
  bool run();
  // The answer to one request given as bytes, as a connection would get it
  // (head checks, then httplib and the routes; "" for an incomplete
  // request). For tests and fuzzing: no socket is involved.
  std::string answer(std::string_view request);
  const HttpLimits& limits() const { return limits_; }
  size_t connections() const { return open_.load(); }

  struct Conn;

 private:
  bool process_and_close_socket(socket_t sock) override;  // httplib's accept thread
  void watch();                                            // the watcher thread
  void work();                                             // a worker thread
  void serve(std::unique_ptr<Conn> c);
  void park(std::unique_ptr<Conn> c);
  void close_conn(std::unique_ptr<Conn> c);
  void wake();

  const HttpLimits limits_;
  std::mutex mu_;
  std::condition_variable work_cv_, room_cv_;
  std::vector<std::unique_ptr<Conn>> incoming_;  // to the watcher
  std::deque<std::unique_ptr<Conn>> ready_;      // to the workers
  bool want_room_ = false;  // the accept thread waits for a connection to close
  bool stopping_ = false;
  std::atomic<size_t> open_{0};
  int wake_fd_ = -1;
  std::vector<std::thread> threads_;
};

}  // namespace kvnet::daemon
