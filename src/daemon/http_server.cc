#include "daemon/http_server.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace kvnet::daemon {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

struct HttpServer::Conn {
  int fd = -1;
  std::string in;              // received, not yet given to httplib
  size_t scanned = 0;          // of `in`, for the head's end and its lines
  size_t newlines = 0;         // in in[0, scanned)
  RequestHead head;            // once the head is complete
  bool started = false;        // a request's first byte is in
  Clock::time_point deadline;  // of the request if started, else of the idle wait
  Clock::time_point since;     // idle since, or sending its request since
  size_t served = 0;
  bool continued = false;  // "100 Continue" sent for this request
  size_t draining = 0;  // refused: bytes left to discard before closing (so the refusal can be read)
  ~Conn() {
    if (fd >= 0) ::close(fd);
  }
};

namespace {

// Lets a connection idle (or send its request) this long before a new one
// may take its place.
constexpr auto kEvictAfter = milliseconds(1000);
// A refused request's connection: at most this much more is read (and
// dropped) for at most this long.
constexpr size_t kDrainBytes = 1u << 20;
constexpr auto kDrainTime = milliseconds(1000);

bool iequal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

int ms_until(Clock::time_point t) {
  const auto left = std::chrono::duration_cast<milliseconds>(t - Clock::now()).count();
  return static_cast<int>(std::clamp<long long>(left, 0, 60000));
}

// Waits until `fd` is ready for `events` or `deadline` passes.
bool wait_fd(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    const int n = poll(&p, 1, ms_until(deadline));
    if (n > 0) return true;
    if (n == 0 || errno != EINTR) return false;
  }
}

// A last answer of our own, for what never reaches httplib.
std::string refusal(int status, const char* reason, const std::string& why) {
  const std::string body = std::to_string(status) + " " + why + "\n";
  return "HTTP/1.1 " + std::to_string(status) + " " + reason +
         "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\n\r\n" + body;
}

// Best effort: the client may not read it.
void refuse(int fd, int status, const char* reason, const std::string& why) {
  const std::string msg = refusal(status, reason, why);
  // SAFETY: send reads the bytes of a string we own.
  (void)!send(fd, msg.data(), msg.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  shutdown(fd, SHUT_WR);
}

// What a head that breaks a limit is answered with ("" for a good one).
std::string head_refusal(const RequestHead& h, const HttpLimits& l) {
  using S = RequestHead::State;
  switch (h.state) {
    case S::kIncomplete:
    case S::kComplete: return "";
    case S::kTooLarge:
      return refusal(431, "Request Header Fields Too Large",
                     "the request's head is larger than " + std::to_string(l.max_header_bytes) + " bytes");
    case S::kTooManyHeaders:
      return refusal(431, "Request Header Fields Too Large",
                     "the request has more than " + std::to_string(l.max_header_count) + " headers");
    case S::kBodyTooLarge:
      return refusal(413, "Payload Too Large", "the body is larger than " + std::to_string(l.max_body_bytes) + " bytes");
    case S::kBadLength: return refusal(400, "Bad Request", "Content-Length is not one number");
    case S::kChunked: return refusal(411, "Length Required", "a body needs a Content-Length (no Transfer-Encoding)");
  }
  return "";
}

// A request from memory, its answer to memory (answer()).
class MemoryStream final : public httplib::Stream {
 public:
  explicit MemoryStream(std::string_view in) : in_(in) {}
  bool is_readable() const override { return true; }
  bool is_writable() const override { return true; }
  ssize_t read(char* ptr, size_t size) override {
    const size_t n = std::min(size, in_.size());
    std::memcpy(ptr, in_.data(), n);
    in_.remove_prefix(n);
    return static_cast<ssize_t>(n);
  }
  ssize_t write(const char* ptr, size_t size) override {
    out.append(ptr, size);
    return static_cast<ssize_t>(size);
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override { ip = "127.0.0.1", port = 40000; }
  void get_local_ip_and_port(std::string& ip, int& port) const override { ip = "127.0.0.1", port = 8080; }
  socket_t socket() const override { return INVALID_SOCKET; }
  std::string out;

 private:
  std::string_view in_;
};

void address_of(int fd, bool peer, std::string& ip, int& port) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  // SAFETY: get{peer,sock}name write at most `len` bytes into ss.
  const int r = peer ? getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len)
                     : getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  char host[NI_MAXHOST] = "", serv[NI_MAXSERV] = "";
  if (r == 0 && getnameinfo(reinterpret_cast<sockaddr*>(&ss), len, host, sizeof host, serv, sizeof serv,
                            NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
    ip = host;
    port = std::atoi(serv);
  }
}

// What httplib reads and writes through: first the bytes the watcher
// received, then the socket, never past the request's deadline.
class ConnStream final : public httplib::Stream {
 public:
  ConnStream(HttpServer::Conn& c, milliseconds write_timeout) : c_(c), write_timeout_(write_timeout) {}

  bool is_readable() const override { return off_ < c_.in.size() || wait_fd(c_.fd, POLLIN, c_.deadline); }
  bool is_writable() const override { return wait_fd(c_.fd, POLLOUT, write_deadline()); }
  ssize_t read(char* ptr, size_t size) override {
    if (off_ < c_.in.size()) {
      const size_t n = std::min(size, c_.in.size() - off_);
      std::memcpy(ptr, c_.in.data() + off_, n);
      off_ += n;
      return static_cast<ssize_t>(n);
    }
    for (;;) {
      if (!wait_fd(c_.fd, POLLIN, c_.deadline)) return -1;
      // SAFETY: recv writes at most `size` bytes into httplib's buffer.
      const ssize_t n = recv(c_.fd, ptr, size, MSG_DONTWAIT);
      if (n >= 0 || (errno != EAGAIN && errno != EINTR)) return n;
    }
  }
  ssize_t write(const char* ptr, size_t size) override {
    if (!writing_) writing_since_ = Clock::now(), writing_ = true;
    for (;;) {
      // SAFETY: send reads `size` bytes of httplib's buffer.
      const ssize_t n = send(c_.fd, ptr, size, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n >= 0) return n;
      if (errno == EINTR) continue;
      if (errno != EAGAIN || !wait_fd(c_.fd, POLLOUT, write_deadline())) return -1;
    }
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override { address_of(c_.fd, true, ip, port); }
  void get_local_ip_and_port(std::string& ip, int& port) const override { address_of(c_.fd, false, ip, port); }
  socket_t socket() const override { return c_.fd; }
  size_t consumed() const { return off_; }

 private:
  Clock::time_point write_deadline() const { return (writing_ ? writing_since_ : Clock::now()) + write_timeout_; }
  HttpServer::Conn& c_;
  milliseconds write_timeout_;
  size_t off_ = 0;
  bool writing_ = false;
  Clock::time_point writing_since_;
};

// httplib hands each accepted socket to its task queue: this one runs the
// hand-over at once, on the accepting thread (it only queues the socket).
class InlineQueue final : public httplib::TaskQueue {
 public:
  void enqueue(std::function<void()> fn) override { fn(); }
  void shutdown() override {}
};

}  // namespace

RequestHead scan_request_head(std::string_view in, const HttpLimits& l) {
  using S = RequestHead::State;
  RequestHead h;
  const size_t end = in.find("\r\n\r\n");
  const std::string_view head = end == std::string_view::npos ? in.substr(0, l.max_header_bytes + 1)
                                                              : in.substr(0, end + 4);
  const auto newlines = static_cast<size_t>(std::count(head.begin(), head.end(), '\n'));
  // The request line and the blank line are no headers.
  const size_t headers = end == std::string_view::npos ? (newlines ? newlines - 1 : 0) : newlines - 2;
  if (headers > l.max_header_count) return {S::kTooManyHeaders, 0, 0};
  if (head.size() > l.max_header_bytes) return {S::kTooLarge, 0, 0};
  if (end == std::string_view::npos) return h;
  h.head_bytes = end + 4;
  // As httplib reads them: lines that end in CRLF, "name: value".
  bool have_length = false;
  size_t length = 0;
  size_t pos = head.find('\n') + 1;  // past the request line
  while (pos < head.size()) {
    const size_t nl = head.find('\n', pos);
    std::string_view line = head.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.empty() || line.back() != '\r') continue;
    line.remove_suffix(1);
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    const std::string_view name = line.substr(0, colon), value = trim(line.substr(colon + 1));
    if (iequal(name, "Transfer-Encoding")) return {S::kChunked, h.head_bytes, 0};
    if (iequal(name, "Expect") && iequal(value, "100-continue")) h.expect_continue = true;
    if (!iequal(name, "Content-Length")) continue;
    if (value.empty() || value.size() > 18 || !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return {S::kBadLength, h.head_bytes, 0};
    const size_t v = std::stoull(std::string(value));
    if (have_length && v != length) return {S::kBadLength, h.head_bytes, 0};
    have_length = true;
    length = v;
  }
  if (length > l.max_body_bytes) return {S::kBodyTooLarge, h.head_bytes, length};
  h.state = S::kComplete;
  h.body_bytes = length;
  return h;
}

std::string HttpServer::answer(std::string_view request) {
  const RequestHead h = scan_request_head(request, limits_);
  if (h.state == RequestHead::State::kIncomplete) return "";
  if (h.state != RequestHead::State::kComplete) return head_refusal(h, limits_);
  if (request.size() < h.head_bytes + h.body_bytes) return "";
  MemoryStream strm(request.substr(0, h.head_bytes + h.body_bytes));
  bool closed = false;
  try {
    process_request(strm, true, closed, nullptr);
  } catch (...) {
    return "";
  }
  return strm.out;
}

HttpServer::HttpServer(HttpLimits limits) : limits_(limits) {
  new_task_queue = [] { return new InlineQueue; };
  set_payload_max_length(limits_.max_body_bytes);
}

HttpServer::~HttpServer() {
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

bool HttpServer::run() {
  {
    std::lock_guard<std::mutex> g(mu_);
    stopping_ = false;
  }
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  threads_.emplace_back([this] { watch(); });
  for (size_t i = 0; i < std::max<size_t>(limits_.workers, 1); ++i) threads_.emplace_back([this] { work(); });
  const bool ok = listen_after_bind();
  {
    std::lock_guard<std::mutex> g(mu_);
    stopping_ = true;
  }
  wake();
  work_cv_.notify_all();
  room_cv_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
  for (auto& c : incoming_) close_conn(std::move(c));
  for (auto& c : ready_) close_conn(std::move(c));
  incoming_.clear();
  ready_.clear();
  ::close(wake_fd_);
  wake_fd_ = -1;
  return ok;
}

void HttpServer::wake() {
  const uint64_t one = 1;
  if (wake_fd_ >= 0) (void)!::write(wake_fd_, &one, sizeof one);
}

void HttpServer::close_conn(std::unique_ptr<Conn> c) {
  if (!c) return;
  c.reset();
  --open_;
  room_cv_.notify_all();
}

void HttpServer::park(std::unique_ptr<Conn> c) {
  {
    std::lock_guard<std::mutex> g(mu_);
    incoming_.push_back(std::move(c));
  }
  wake();
}

// On httplib's accepting thread: the socket joins the watcher's set, once
// there is room.
bool HttpServer::process_and_close_socket(socket_t sock) {
  fcntl(sock, F_SETFD, FD_CLOEXEC);  // httplib's accept() does not ask for it
  fcntl(sock, F_SETFL, fcntl(sock, F_GETFL) | O_NONBLOCK);
  auto c = std::make_unique<Conn>();
  c->fd = sock;
  {
    std::unique_lock<std::mutex> g(mu_);
    while (!stopping_ && svr_sock_ != INVALID_SOCKET && open_ >= limits_.max_connections) {
      want_room_ = true;  // the watcher closes one idle a while, if there is one
      g.unlock();
      wake();
      g.lock();
      room_cv_.wait_for(g, milliseconds(100));
    }
    want_room_ = false;
    if (stopping_ || svr_sock_ == INVALID_SOCKET) return true;  // c closes the socket
    ++open_;
    c->since = Clock::now();
    c->deadline = c->since + limits_.idle_timeout;
    incoming_.push_back(std::move(c));
  }
  wake();
  return true;
}

void HttpServer::work() {
  for (;;) {
    std::unique_ptr<Conn> c;
    {
      std::unique_lock<std::mutex> g(mu_);
      work_cv_.wait(g, [&] { return stopping_ || !ready_.empty(); });
      if (stopping_) return;
      c = std::move(ready_.front());
      ready_.pop_front();
    }
    serve(std::move(c));
  }
}

// One request: the whole head (and body) is in c->in.
void HttpServer::serve(std::unique_ptr<Conn> c) {
  ConnStream strm(*c, limits_.write_timeout);
  const bool last = ++c->served >= limits_.keep_alive_max;
  bool closed = false, ok = false;
  try {
    ok = process_request(strm, last, closed, nullptr);
  } catch (...) {
    ok = false;
  }
  if (!ok || closed || last) return close_conn(std::move(c));
  c->in.erase(0, strm.consumed());  // what a pipelining client sent after it
  c->scanned = c->newlines = 0;
  c->head = {};
  c->continued = false;
  c->since = Clock::now();
  c->started = !c->in.empty();
  c->deadline = c->since + (c->started ? limits_.request_timeout : limits_.idle_timeout);
  park(std::move(c));
}

namespace {

enum class Next { kWait, kReady, kClose };

// Reads what `c` has sent and says what to do with it.
Next receive(HttpServer::Conn& c, const HttpLimits& l) {
  using S = RequestHead::State;
  const size_t cap = l.max_header_bytes + l.max_body_bytes + 1;
  char buf[4096];
  while (c.draining) {
    // SAFETY: recv writes at most sizeof buf bytes into the local buffer.
    const ssize_t n = recv(c.fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return Next::kWait;
    if (n <= 0 || static_cast<size_t>(n) >= c.draining) return Next::kClose;
    c.draining -= static_cast<size_t>(n);
  }
  while (c.in.size() < cap) {
    // SAFETY: recv writes at most sizeof buf bytes into the local buffer.
    const ssize_t n = recv(c.fd, buf, std::min(sizeof buf, cap - c.in.size()), MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n <= 0) return Next::kClose;  // the client went away
    if (!c.started) {
      c.started = true;
      c.since = Clock::now();
      c.deadline = c.since + l.request_timeout;
    }
    c.in.append(buf, static_cast<size_t>(n));
  }
  if (c.in.empty()) return Next::kWait;
  if (c.head.state != S::kComplete) {
    // Looked at again only when the head may have ended or broken a limit.
    const std::string_view in(c.in);
    const size_t from = c.scanned >= 3 ? c.scanned - 3 : 0;
    c.newlines += static_cast<size_t>(std::count(in.begin() + static_cast<long>(c.scanned), in.end(), '\n'));
    c.scanned = in.size();
    if (in.find("\r\n\r\n", from) == std::string_view::npos && in.size() <= l.max_header_bytes &&
        c.newlines <= l.max_header_count + 1)
      return Next::kWait;
    c.head = scan_request_head(in, l);
  }
  if (c.head.state == S::kIncomplete) return Next::kWait;
  if (c.head.state == S::kComplete) {
    if (c.in.size() >= c.head.head_bytes + c.head.body_bytes) return Next::kReady;
    if (c.head.expect_continue && !c.continued) {
      // The body comes once asked for (httplib asks again later: 1xx may repeat).
      static constexpr char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
      // SAFETY: send reads the bytes of a constant we own.
      (void)!send(c.fd, kContinue, sizeof kContinue - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
      c.continued = true;
    }
    return Next::kWait;
  }
  const std::string msg = head_refusal(c.head, l);
  // SAFETY: send reads the bytes of a string we own.
  (void)!send(c.fd, msg.data(), msg.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  shutdown(c.fd, SHUT_WR);
  // Closing now, with unread bytes, would reset the connection before the
  // client reads why: what it still sends is read and dropped, a little.
  c.in.clear();
  c.in.shrink_to_fit();
  c.draining = kDrainBytes;
  c.deadline = Clock::now() + kDrainTime;
  return Next::kWait;
}

}  // namespace

// The watcher: every connection not with a worker, in one poll().
void HttpServer::watch() {
  std::vector<std::unique_ptr<Conn>> held;
  std::vector<pollfd> fds;
  for (;;) {
    bool want_room = false;
    std::vector<std::unique_ptr<Conn>> fresh;
    {
      std::lock_guard<std::mutex> g(mu_);
      if (stopping_) break;
      fresh.swap(incoming_);
      want_room = want_room_;
    }
    for (auto& c : fresh) {
      // A pipelined request may be whole already.
      const Next n = c->in.empty() ? Next::kWait : receive(*c, limits_);
      if (n == Next::kClose) close_conn(std::move(c));
      else if (n == Next::kReady) {
        std::lock_guard<std::mutex> g(mu_);
        ready_.push_back(std::move(c));
        work_cv_.notify_one();
      } else held.push_back(std::move(c));
    }
    const auto now = Clock::now();
    for (size_t i = 0; i < held.size();) {
      Conn& c = *held[i];
      if (c.deadline > now) {
        ++i;
        continue;
      }
      if (c.started && !c.draining)
        refuse(c.fd, 408, "Request Timeout",
               "the request was not complete within " + std::to_string(limits_.request_timeout.count()) + " ms");
      close_conn(std::move(held[i]));
      held[i] = std::move(held.back());
      held.pop_back();
    }
    // Room for a new connection: the one that has waited longest, idle or
    // sending its request (a slow sender is no better than an idle one),
    // once it has for a while.
    Conn* idlest = nullptr;
    size_t idlest_at = 0;
    for (size_t i = 0; i < held.size(); ++i)
      if (!idlest || held[i]->since < idlest->since) idlest = held[i].get(), idlest_at = i;
    if (want_room && idlest && idlest->since + kEvictAfter <= now) {
      close_conn(std::move(held[idlest_at]));
      held[idlest_at] = std::move(held.back());
      held.pop_back();
      idlest = nullptr;
    }
    Clock::time_point next = now + milliseconds(1000);
    for (const auto& c : held) next = std::min(next, c->deadline);
    if (want_room && idlest) next = std::min(next, idlest->since + kEvictAfter);
    fds.assign(1, pollfd{wake_fd_, POLLIN, 0});
    for (const auto& c : held) fds.push_back(pollfd{c->fd, POLLIN, 0});
    if (poll(fds.data(), fds.size(), ms_until(next) + 1) <= 0) continue;
    if (fds[0].revents) {
      uint64_t v;
      (void)!::read(wake_fd_, &v, sizeof v);
    }
    // fds[k + 1] is held[k]: walk back so that removals keep the pairing.
    for (size_t k = held.size(); k-- > 0;) {
      if (!fds[k + 1].revents) continue;
      const Next n = receive(*held[k], limits_);
      if (n == Next::kWait) continue;
      std::unique_ptr<Conn> c = std::move(held[k]);
      held[k] = std::move(held.back());
      held.pop_back();
      if (n == Next::kClose) {
        close_conn(std::move(c));
      } else {
        std::lock_guard<std::mutex> g(mu_);
        ready_.push_back(std::move(c));
        work_cv_.notify_one();
      }
    }
  }
  for (auto& c : held) close_conn(std::move(c));
}

}  // namespace kvnet::daemon
