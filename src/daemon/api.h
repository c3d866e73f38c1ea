// kvnetd's API transport: newline-delimited JSON over a Unix stream socket
// (docs/api.md). One request per connection: the client writes one JSON
// object and a newline, the server answers with one JSON object and a newline
// ({"ok": true, "result": ...} or {"ok": false, "error": "..."}) and closes.
//
// The server is one client of the control loop (daemon/event_loop.h): the
// listening socket and every connection are non-blocking fds in it, each
// connection a small state machine (reading the request -> writing the
// answer -> closed) with a deadline. Many clients can be connected at once;
// one that stalls, trickles or floods only ever costs its own fd:
//   - a request larger than `max_request_bytes` is answered with an error
//     naming the limit, and the connection is closed;
//   - a request not complete within `request_deadline` is answered with an
//     error (if the client still listens) and closed; an answer not read
//     within `answer_deadline` is dropped with the connection;
//   - a request nested deeper than `max_depth` is refused before any JSON
//     value is built (a 150 KB request can nest 75,000 levels);
//   - answers are encoded with invalid UTF-8 replaced by U+FFFD, and no
//     exception from the handler escapes: the daemon always answers.
// Requests are still handled one at a time, on the loop thread, so
// configuration changes are serialized.
//
// Thread-safety: the loop thread only. api_call() is a blocking client for
// any thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <sys/types.h>

#include "base/result.h"
#include "daemon/event_loop.h"

namespace kvnet::daemon {

struct ApiLimits {
  size_t max_request_bytes = 4u << 20;  // the request line, newline excluded
  int max_depth = 32;                   // nesting of arrays and objects
  std::chrono::milliseconds request_deadline{10000};  // accept -> complete request
  std::chrono::milliseconds answer_deadline{10000};   // answer ready -> fully read
  size_t max_connections = 512;  // more are answered with an error and closed
};

// Turns a request into an answer ({"ok": ..., ...}). Service::handle is one.
using ApiHandler = std::function<nlohmann::json(const nlohmann::json& request)>;

// Who sent a request: the client process's credentials at connect time
// (SO_PEERCRED on the Unix socket); `known` is false if the kernel did not say.
struct ApiPeer {
  bool known = false;
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  std::string via;  // when not known: what the request came through ("the dashboard")
};
// A handler that is told who asked (kvnetd logs changes with it).
using ApiPeerHandler = std::function<nlohmann::json(const nlohmann::json& request, const ApiPeer& peer)>;

// --- the pieces, usable on their own (tests, fuzzing) ---
// A request line as JSON: checks size, nesting depth, UTF-8 and syntax before
// (or instead of) building the value. Never throws.
Result<nlohmann::json> parse_request(std::string_view line, const ApiLimits& limits = {});
// The answer to one request line: parse_request, then the handler, with any
// exception it throws turned into {"ok": false, "error": ...}. Never throws.
nlohmann::json answer_request(std::string_view line, const ApiHandler& handler, const ApiLimits& limits = {});
// One answer line (with its newline); invalid UTF-8 becomes U+FFFD. Never throws.
std::string encode_answer(const nlohmann::json& answer);
// {"ok": false, "error": message}
nlohmann::json api_error(const std::string& message);

class ApiServer {
 public:
  ApiServer(EventLoop& loop, std::string path, ApiHandler handler, ApiLimits limits = {});
  ApiServer(EventLoop& loop, std::string path, ApiPeerHandler handler, ApiLimits limits = {});
  ~ApiServer();  // closes every connection and removes the socket
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // Binds the socket (mode 0660) and starts accepting in the loop. A socket
  // file nobody answers on is stale (a daemon killed with -9) and replaced;
  // one that answers is an error naming the path.
  Status listen();
  size_t connections() const { return conns_.size(); }
  const std::string& path() const { return path_; }

 private:
  struct Conn;
  void on_listen_ready();
  void on_conn_ready(int fd, uint32_t events);
  void read_request(Conn& c);
  void respond(Conn& c, const std::string& line);
  void reply_and_close(Conn& c, const nlohmann::json& answer);
  void write_answer(Conn& c);
  void on_deadline(int fd);
  void drop(int fd);

  EventLoop& loop_;
  std::string path_;
  ApiPeerHandler handler_;
  ApiLimits limits_;
  int fd_ = -1;
  bool accept_paused_ = false;
  std::map<int, std::unique_ptr<Conn>> conns_;
};

// Sends one request and returns the server's JSON response.
Result<nlohmann::json> api_call(const std::string& socket_path, const nlohmann::json& req, int timeout_ms = 60000);

}  // namespace kvnet::daemon
