#include "daemon/api.h"

#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>

#include "base/text.h"

namespace kvnet::daemon {
namespace {

using json = nlohmann::json;

constexpr size_t kReadChunk = 64 * 1024;
constexpr int kReadsPerWakeup = 16;  // then let other connections have a turn
constexpr int kAcceptsPerWakeup = 64;
constexpr size_t kStreamChunk = 256 * 1024;  // asked of a stream at a time
constexpr int kPullsPerTick = 16;            // up to 4 MiB per period while the client keeps up

std::string size_text(size_t bytes) {
  if (bytes % (1u << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
  if (bytes % 1024 == 0) return std::to_string(bytes >> 10) + " KiB";
  return std::to_string(bytes) + " bytes";
}

std::string seconds_text(std::chrono::milliseconds ms) {
  if (ms.count() % 1000 == 0) return std::to_string(ms.count() / 1000) + " s";
  return std::to_string(ms.count()) + " ms";
}

// Whether arrays/objects nest deeper than `limit` (brackets inside strings do
// not count). O(n), no allocation: runs before the parser sees the text.
bool nests_deeper_than(std::string_view s, int limit) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (const char c : s) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limit) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

}  // namespace

// --- requests and answers ---

json api_error(const std::string& message) { return json{{"ok", false}, {"error", message}}; }

namespace {
// Where in `v` a string or a key holds a NUL ("" if nowhere).
std::string nul_at(const json& v, const std::string& at) {
  if (v.is_string()) return v.get_ref<const std::string&>().find('\0') == std::string::npos ? "" : at;
  if (v.is_array()) {
    for (size_t i = 0; i < v.size(); ++i)
      if (auto w = nul_at(v[i], at + "[" + std::to_string(i) + "]"); !w.empty()) return w;
  } else if (v.is_object()) {
    for (auto it = v.begin(); it != v.end(); ++it) {
      const std::string key = at.empty() ? it.key() : at + "." + it.key();
      if (it.key().find('\0') != std::string::npos) return key;
      if (auto w = nul_at(it.value(), key); !w.empty()) return w;
    }
  }
  return "";
}
}  // namespace

Status refuse_nul(const json& request) {
  const std::string at = nul_at(request, "");
  if (at.empty()) return Ok{};
  return Error{"argument '" + printable(at) + "' holds a NUL byte (\\u0000): no argument may (names, addresses and files "
               "end at a NUL for the kernel and the C library)"};
}

Result<json> parse_request(std::string_view line, const ApiLimits& limits) {
  if (line.size() > limits.max_request_bytes)
    return Error{"the request is larger than the limit of " + size_text(limits.max_request_bytes)};
  if (nests_deeper_than(line, limits.max_depth))
    return Error{"the request nests arrays/objects deeper than the limit of " + std::to_string(limits.max_depth) +
                 " levels"};
  if (valid_utf8(line) != line) return Error{"the request is not valid UTF-8"};
  try {
    json req = json::parse(line);
    if (auto s = refuse_nul(req); !s) return s.error();
    return req;
  } catch (const json::parse_error& e) {
    return Error{"the request is not valid JSON (at byte " + std::to_string(e.byte) + ")"};
  } catch (const std::exception&) {
    return Error{"the request is not valid JSON"};
  }
}

namespace {
json answer_parsed(const json& req, const ApiHandler& handler) {
  try {
    return handler(req);
  } catch (const std::exception& e) {
    return api_error(std::string("internal error: ") + e.what());
  } catch (...) {
    return api_error("internal error");
  }
}
}  // namespace

json answer_request(std::string_view line, const ApiHandler& handler, const ApiLimits& limits) {
  auto req = parse_request(line, limits);
  if (!req) return api_error(req.error().message);
  return answer_parsed(*req, handler);
}

// --- the server ---

struct ApiServer::Conn {
  int fd;
  bool answering = false;  // request complete, answer queued
  std::string in;
  std::string out;
  size_t out_off = 0;
  EventLoop::TimerId deadline = 0;
  // A stream (add_stream) after the answer line:
  std::unique_ptr<ApiStream> stream;
  EventLoop::TimerId tick = 0;
  bool stream_done = false;  // its last bytes are in `out`
  bool client_eof = false;   // the client closed its sending side
  uint32_t watched = EPOLLIN;  // the events asked of the loop
  ApiPeer peer;
};

ApiServer::ApiServer(EventLoop& loop, std::string path, ApiHandler handler, ApiLimits limits)
    : ApiServer(loop, std::move(path),
                ApiPeerHandler([h = std::move(handler)](const json& req, const ApiPeer&) { return h(req); }), limits) {}

ApiServer::ApiServer(EventLoop& loop, std::string path, ApiPeerHandler handler, ApiLimits limits)
    : loop_(loop), path_(std::move(path)), handler_(std::move(handler)), limits_(limits) {}

ApiServer::~ApiServer() {
  while (!conns_.empty()) drop(conns_.begin()->first);
  if (fd_ >= 0) {
    loop_.remove_fd(fd_);
    close(fd_);
    unlink(path_.c_str());
  }
}

Result<int> listen_unix(const std::string& path, const std::string& in_use) {
  auto a = unix_address(path);
  if (!a) return a.error();
  std::error_code ec;
  // A directory made here lets the socket's group in (umask 077 would not).
  const auto dir = std::filesystem::path(path).parent_path();
  if (std::filesystem::create_directories(dir, ec)) chmod(dir.c_str(), 0750);
  // A socket nobody answers on is stale (a daemon killed with -9): replace it.
  if (std::filesystem::exists(path)) {
    const int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    // SAFETY: connect reads the sockaddr_un we own, of the size we pass.
    const bool live = probe >= 0 && connect(probe, reinterpret_cast<sockaddr*>(&*a), sizeof *a) == 0;
    if (probe >= 0) close(probe);
    if (live) return Error{"socket '" + path + "': " + in_use};
    unlink(path.c_str());
  }
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  // SAFETY: bind reads the sockaddr_un we own, of the size we pass.
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&*a), sizeof *a) < 0 || ::listen(fd, 128) < 0) {
    const std::string why = std::strerror(errno);
    if (fd >= 0) close(fd);
    return Error{"socket '" + path + "': " + why};
  }
  chmod(path.c_str(), 0660);
  return fd;
}

Status ApiServer::listen() {
  auto fd = listen_unix(path_, "another kvnetd is already listening");
  if (!fd) return fd.error();
  fd_ = *fd;
  if (auto s = loop_.add_fd(fd_, EPOLLIN, [this](uint32_t) { on_listen_ready(); }); !s) return s.error();
  return Ok{};
}

void ApiServer::on_listen_ready() {
  for (int i = 0; i < kAcceptsPerWakeup; ++i) {
    const int c = accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c < 0) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // Out of fds: stop accepting for a moment instead of spinning on a
        // listening socket that stays readable.
        if (!accept_paused_ && loop_.modify_fd(fd_, 0)) {
          accept_paused_ = true;
          loop_.add_timer(std::chrono::milliseconds(100), [this] {
            accept_paused_ = false;
            (void)loop_.modify_fd(fd_, EPOLLIN);
          });
        }
      }
      return;  // EAGAIN: nothing more waiting
    }
    if (conns_.size() >= limits_.max_connections) {
      // SAFETY: send reads the bytes of a string we own.
      const std::string busy = encode_answer(
          api_error("too many connections (limit " + std::to_string(limits_.max_connections) + "): try again"));
      (void)!send(c, busy.data(), busy.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      close(c);
      continue;
    }
    auto conn = std::make_unique<Conn>();
    conn->fd = c;
    ucred cred{};
    socklen_t len = sizeof cred;
    // SAFETY: getsockopt writes at most `len` bytes into the ucred we own.
    if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && len == sizeof cred)
      conn->peer = ApiPeer{true, cred.pid, cred.uid, cred.gid, {}};
    if (!loop_.add_fd(c, EPOLLIN, [this, c](uint32_t ev) { on_conn_ready(c, ev); })) {
      close(c);
      continue;
    }
    conn->deadline = loop_.add_timer(limits_.request_deadline, [this, c] { on_deadline(c); });
    conns_[c] = std::move(conn);
  }
}

void ApiServer::on_conn_ready(int fd, uint32_t events) {
  auto it = conns_.find(fd);
  if (it == conns_.end()) return;
  Conn& c = *it->second;
  if (c.stream) return on_stream_ready(c, events);
  if (!c.answering) read_request(c);
  else if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) write_answer(c);
}

void ApiServer::read_request(Conn& c) {
  char chunk[kReadChunk];
  for (int i = 0; i < kReadsPerWakeup; ++i) {
    // SAFETY: read writes at most sizeof chunk bytes into the local buffer.
    const ssize_t n = read(c.fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n < 0) return drop(c.fd);
    if (n == 0) {
      // The client closed its side: what it sent is the request (as before
      // the event loop, a missing final newline is accepted).
      if (c.in.empty()) return drop(c.fd);
      const std::string line = std::move(c.in);
      return respond(c, line);
    }
    const size_t scanned = c.in.size();
    c.in.append(chunk, static_cast<size_t>(n));
    if (const auto nl = c.in.find('\n', scanned); nl != std::string::npos) {
      const std::string line = c.in.substr(0, nl);
      c.in.clear();
      return respond(c, line);
    }
    if (c.in.size() > limits_.max_request_bytes)
      return reply_and_close(c, api_error("the request is larger than the limit of " +
                                          size_text(limits_.max_request_bytes) + ": closing the connection"));
  }
}

void ApiServer::respond(Conn& c, const std::string& line) {
  const ApiPeer peer = c.peer;
  auto req = parse_request(line, limits_);
  if (!req) return reply_and_close(c, api_error(req.error().message));
  if (!streams_.empty() && req->is_object())
    if (const auto cmd = req->find("cmd"); cmd != req->end() && cmd->is_string() && streams_.count(cmd->get<std::string>()))
      if (start_stream(c, *req)) return;
  reply_and_close(c, answer_parsed(*req, [&](const json& r) { return handler_(r, peer); }));
}

void ApiServer::reply_and_close(Conn& c, const json& answer) {
  c.answering = true;
  c.in.clear();
  c.in.shrink_to_fit();
  c.out = encode_answer(answer);
  c.out_off = 0;
  shutdown(c.fd, SHUT_RD);  // nothing more is read: further input is discarded
  loop_.cancel_timer(c.deadline);
  const int fd = c.fd;
  c.deadline = loop_.add_timer(limits_.answer_deadline, [this, fd] { drop(fd); });
  if (!loop_.modify_fd(c.fd, EPOLLOUT)) return drop(c.fd);
  write_answer(c);
}

void ApiServer::write_answer(Conn& c) {
  while (c.out_off < c.out.size()) {
    // SAFETY: send reads the bytes of a string we own, from out_off to its end.
    const ssize_t n = send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;  // EPOLLOUT brings us back
    if (n <= 0) break;                                               // the client went away
    c.out_off += static_cast<size_t>(n);
  }
  drop(c.fd);
}

void ApiServer::on_deadline(int fd) {
  auto it = conns_.find(fd);
  if (it == conns_.end()) return;
  Conn& c = *it->second;
  c.deadline = 0;
  // Best effort: a client that stalls mid-request may still read this.
  const std::string msg = encode_answer(api_error("no complete request within " +
                                                  seconds_text(limits_.request_deadline) +
                                                  " (a request is one JSON object and a newline): closing"));
  // SAFETY: send reads the bytes of a string we own.
  (void)!send(fd, msg.data(), msg.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  drop(fd);
}

void ApiServer::drop(int fd) {
  auto it = conns_.find(fd);
  if (it == conns_.end()) return;
  if (it->second->deadline) loop_.cancel_timer(it->second->deadline);
  if (it->second->tick) loop_.cancel_timer(it->second->tick);
  loop_.remove_fd(fd);
  close(fd);
  conns_.erase(it);
}

// --- streams ---

// False if the handler refused: the caller answers with the error.
bool ApiServer::start_stream(Conn& c, const json& req) {
  const ApiStreamHandler& h = streams_.at(req["cmd"].get<std::string>());
  Result<ApiStreamStart> r = [&]() -> Result<ApiStreamStart> {
    try {
      return h(req);
    } catch (const std::exception& e) {
      return Error{std::string("internal error: ") + e.what()};
    } catch (...) {
      return Error{"internal error"};
    }
  }();
  if (!r) {
    reply_and_close(c, api_error(valid_utf8(r.error().message)));
    return true;
  }
  c.answering = true;
  c.in.clear();
  c.in.shrink_to_fit();
  c.out = r->answer_in_stream ? "" : encode_answer(json{{"ok", true}, {"result", std::move(r->result)}});
  c.out_off = 0;
  c.stream = std::move(r->stream);
  loop_.cancel_timer(c.deadline);  // a stream lasts as long as the client wants
  c.deadline = 0;
  const int fd = c.fd;
  c.tick = loop_.add_periodic(c.stream->period(), [this, fd] { pump(fd); });
  flush_stream(c);
  return true;
}

size_t ApiServer::streams() const {
  size_t n = 0;
  for (const auto& [fd, c] : conns_) n += c->stream != nullptr;
  return n;
}

// Writes what `c.out` holds without blocking; asks for EPOLLOUT while some
// is left. Drops the connection when the client went away or the ended
// stream is fully written.
bool ApiServer::flush_stream(Conn& c) {
  while (c.out_off < c.out.size()) {
    // SAFETY: send reads the bytes of a string we own, from out_off to its end.
    const ssize_t n = send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n <= 0) {
      drop(c.fd);  // the client went away: the stream (and a capture's tap) goes
      return false;
    }
    c.out_off += static_cast<size_t>(n);
  }
  const bool pending = c.out_off < c.out.size();
  if (!pending) {
    c.out.clear();
    c.out_off = 0;
    if (c.stream_done) {
      drop(c.fd);
      return false;
    }
  }
  // Hang-ups and errors are always reported; EPOLLIN until the client's EOF.
  const uint32_t ev = (pending ? static_cast<uint32_t>(EPOLLOUT) : 0u) | (c.client_eof ? 0u : EPOLLIN);
  if (ev != c.watched) {
    c.watched = ev;
    if (!loop_.modify_fd(c.fd, ev)) {
      drop(c.fd);
      return false;
    }
  }
  return true;
}

// Moves what the stream has to the client, as long as the client keeps up.
void ApiServer::pump(int fd) {
  for (int i = 0; i < kPullsPerTick; ++i) {
    auto it = conns_.find(fd);
    if (it == conns_.end()) return;
    Conn& c = *it->second;
    if (!c.out.empty() || c.stream_done) {  // the client has not taken the last bytes yet
      flush_stream(c);
      return;
    }
    const bool more = c.stream->pull(c.out, kStreamChunk);
    if (!more) {
      c.stream_done = true;
      c.deadline = loop_.add_timer(limits_.answer_deadline, [this, fd] { drop(fd); });
    }
    if (c.out.empty() && more) return;  // nothing new
    if (!flush_stream(c)) return;
  }
}

void ApiServer::on_stream_ready(Conn& c, uint32_t events) {
  const int fd = c.fd;
  if (events & (EPOLLERR | EPOLLHUP)) return drop(fd);  // the client is gone
  if ((events & EPOLLIN) && !c.client_eof) {
    char chunk[4096];
    for (int i = 0; i < kReadsPerWakeup; ++i) {
      // SAFETY: read writes at most sizeof chunk bytes into the local buffer.
      const ssize_t n = read(fd, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      if (n < 0) return drop(fd);
      if (n == 0) {  // the client asks to end: its stream drains and says why
        c.client_eof = true;
        c.stream->end("the client ended it");
        if (!flush_stream(c)) return;
        return pump(fd);
      }
      // Anything else the client sends during a stream is discarded.
    }
  }
  if (events & EPOLLOUT) {
    if (!flush_stream(c)) return;
    pump(fd);
  }
}

void ApiServer::end_streams(const std::string& why) {
  std::vector<int> fds;
  for (const auto& [fd, c] : conns_)
    if (c->stream) fds.push_back(fd);
  for (const int fd : fds) {
    Conn& c = *conns_.at(fd);
    if (!c.stream_done) {
      c.stream->end(why);
      while (c.stream->pull(c.out, kStreamChunk)) {
      }
    }
    // Best effort, without waiting: a client that is not reading loses the rest.
    while (c.out_off < c.out.size()) {
      // SAFETY: send reads the bytes of a string we own, from out_off to its end.
      const ssize_t n = send(fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n <= 0) break;
      c.out_off += static_cast<size_t>(n);
    }
    drop(fd);
  }
}

}  // namespace kvnet::daemon
