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
// Streams: a command registered with add_stream() (capture) answers like any
// other, and on success the connection goes on after the answer line: the
// server asks the command's ApiStream for bytes every period() and writes
// them without blocking. While the client has not read what was written
// last, the stream is not asked for more (a capture's ring fills up and its
// tap counts drops: the datapath never waits for a client). The client ends
// a stream by closing its sending side (the stream's end() then says why,
// and its last bytes are written); a client that goes away (hang-up, write
// error) drops the stream at once. The request limits above hold for a
// stream's request; its answer deadline applies only once it has ended.
//
// Thread-safety: the loop thread only. The client side (api_call, a blocking
// client for any thread) is daemon/api_client.h.
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
#include "daemon/api_client.h"
#include "daemon/event_loop.h"

namespace kvnet::daemon {

// A listening Unix stream socket at `path` (non-blocking, close-on-exec,
// mode 0660; its directory made if missing). A socket file nobody answers
// on is stale and replaced; one that answers is refused with `in_use` in
// the error ("socket 'PATH': IN_USE").
Result<int> listen_unix(const std::string& path, const std::string& in_use);

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
// (or instead of) building the value, then refuse_nul(). Never throws.
Result<nlohmann::json> parse_request(std::string_view line, const ApiLimits& limits = {});
// Refuses a request one of whose strings or keys holds a NUL byte (the
// kernel and the C library would read a shorter name than the one checked);
// parse_request() applies it.
Status refuse_nul(const nlohmann::json& request);
// The answer to one request line: parse_request, then the handler, with any
// exception it throws turned into {"ok": false, "error": ...}. Never throws.
nlohmann::json answer_request(std::string_view line, const ApiHandler& handler, const ApiLimits& limits = {});
// {"ok": false, "error": message}
nlohmann::json api_error(const std::string& message);

// The rest of a connection after its answer line (see above).
class ApiStream {
 public:
  virtual ~ApiStream() = default;
  // How often the server asks for more bytes.
  virtual std::chrono::milliseconds period() const { return std::chrono::milliseconds(20); }
  // Appends about `max` bytes at most to `out`; false once the stream has
  // ended (what it appended is its last bytes, then the server closes).
  virtual bool pull(std::string& out, size_t max) = 0;
  // Asks the stream to end (the client closed its sending side, kvnetd
  // stops); the following pulls drain it and end it.
  virtual void end(const std::string& why) = 0;
};

// A stream command: its answer's result and the stream that follows it, or
// an error (answered as any other, the connection then closed).
struct ApiStreamStart {
  nlohmann::json result;
  std::unique_ptr<ApiStream> stream;
  // The stream's first bytes are the answer line itself, written when work
  // done off the loop ends (capture's filter compile); `result` is unused.
  bool answer_in_stream = false;
};
using ApiStreamHandler = std::function<Result<ApiStreamStart>(const nlohmann::json& request)>;

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
  // Requests whose "cmd" is `cmd` go to `h` and may become streams.
  void add_stream(const std::string& cmd, ApiStreamHandler h) { streams_[cmd] = std::move(h); }
  size_t streams() const;
  // Ends every stream: end(why), what they still hold is written as far as
  // the clients take it without waiting, and they are closed. kvnetd calls
  // it before it stops the datapath its streams read from.
  void end_streams(const std::string& why);
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
  bool start_stream(Conn& c, const nlohmann::json& req);
  void on_stream_ready(Conn& c, uint32_t events);
  void pump(int fd);
  bool flush_stream(Conn& c);  // false: the client went away (dropped)

  EventLoop& loop_;
  std::string path_;
  ApiPeerHandler handler_;
  ApiLimits limits_;
  int fd_ = -1;
  bool accept_paused_ = false;
  std::map<int, std::unique_ptr<Conn>> conns_;
  std::map<std::string, ApiStreamHandler> streams_;
};

}  // namespace kvnet::daemon
