#include "daemon/guest_agent.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace kvnet::daemon {

using SteadyClock = std::chrono::steady_clock;

namespace {
// A reply parsed by `parse`, or why there is none: no reply, or the agent's
// error ("guest-exec: GenericError: ...").
template <typename Parse>
auto parsed(const Result<vm::QgaReply>& r, const char* command, Parse parse) -> decltype(parse(r->value)) {
  if (!r) return r.error();
  if (!r->ok) return Error{std::string(command) + ": " + r->error};
  return parse(r->value);
}

std::string seconds_text(std::chrono::milliseconds t) {
  const auto ms = t.count();
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + " s";
  return std::to_string(ms) + " ms";
}
}  // namespace

const char* to_string(GuestExec::State s) {
  switch (s) {
    case GuestExec::State::kStarting: return "starting";
    case GuestExec::State::kRunning: return "running";
    case GuestExec::State::kExited: return "exited";
    case GuestExec::State::kFailed: return "failed";
  }
  return "?";
}

GuestAgent::GuestAgent(EventLoop& loop, std::string socket, Options o)
    : loop_(loop), socket_(std::move(socket)), o_(o) {}

GuestAgent::~GuestAgent() {
  loop_.cancel_timer(head_timer_);
  loop_.cancel_timer(poll_timer_);
  for (auto& [id, t] : execs_) loop_.cancel_timer(t.timer);
  if (fd_ >= 0) {
    loop_.remove_fd(fd_);
    ::close(fd_);
  }
}

EventLoop::TimerId GuestAgent::after(std::chrono::milliseconds delay, std::function<void()> fn) {
  return loop_.add_timer(delay, [w = std::weak_ptr<bool>(alive_), fn = std::move(fn)] {
    if (!w.expired()) fn();
  });
}

void GuestAgent::call(std::string line, std::chrono::milliseconds timeout, Reply reply, size_t max_line) {
  queue_.push_back({std::move(line), timeout, std::move(reply), max_line});
  if (queue_.size() == 1)  // idle: start it from the loop, so the reply never comes from within call()
    after(std::chrono::milliseconds(0), [this] { pump(); });
}

bool GuestAgent::connect() {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (socket_.size() >= sizeof(a.sun_path)) return false;
  std::memcpy(a.sun_path, socket_.c_str(), socket_.size());
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    ::close(fd);
    return false;
  }
  auto added = loop_.add_fd(fd, EPOLLIN, [this, w = std::weak_ptr<bool>(alive_)](uint32_t ev) {
    if (!w.expired()) on_io(ev);
  });
  if (!added) {
    ::close(fd);
    return false;
  }
  fd_ = fd;
  synced_ = false;
  want_out_ = false;
  out_.clear();
  return true;
}

void GuestAgent::disconnect() {
  if (fd_ < 0) return;
  loop_.remove_fd(fd_);
  ::close(fd_);
  fd_ = -1;
  synced_ = false;
  sent_ = false;
  out_.clear();
  want_out_ = false;
}

void GuestAgent::pump() {
  if (queue_.empty() || sent_) return;
  Request& head = queue_.front();
  if (guest_runs_ && !guest_runs_()) {
    finish(Error{"the guest is not running (paused, or arriving by migration): its agent cannot answer"});
    return;
  }
  if (fd_ < 0 && !connect()) {
    finish(Error{"cannot connect to the guest agent's channel " + socket_ + ": " + std::strerror(errno)});
    return;
  }
  sent_ = true;
  stream_.set_max_line(head.max_line);
  const std::chrono::milliseconds timeout = head.timeout;
  head_timer_ = after(timeout, [this, timeout] {
    head_timer_ = 0;
    // No reply: whatever it sends later is for nobody. A new connection
    // starts clean.
    disconnect();
    finish(Error{"the guest agent did not answer within " + seconds_text(timeout) +
                 " (is qemu-guest-agent running in the guest?)"});
  });
  if (!synced_) {
    const uint64_t id = next_sync_++;
    stream_.begin_sync(id);
    out_ += vm::QgaStream::sync_request(id);
  } else {
    out_ += head.line;
  }
  write_some();
}

void GuestAgent::write_some() {
  while (!out_.empty() && fd_ >= 0) {
    const ssize_t n = ::send(fd_, out_.data(), out_.size(), MSG_NOSIGNAL);
    if (n > 0) {
      out_.erase(0, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) break;
    const std::string why = std::strerror(errno);
    disconnect();
    finish(Error{"the guest agent's channel broke: " + why});
    return;
  }
  const bool want = !out_.empty();
  if (fd_ >= 0 && want != want_out_) {
    want_out_ = want;
    (void)loop_.modify_fd(fd_, want ? EPOLLIN | EPOLLOUT : EPOLLIN);
  }
}

void GuestAgent::on_io(uint32_t events) {
  if (events & EPOLLOUT) write_some();
  if (fd_ < 0) return;
  if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR))) return;
  char buf[65536];
  const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  const bool in_flight = sent_ && !queue_.empty();
  if (n <= 0) {
    disconnect();  // QEMU is ending, or dropped us
    if (in_flight) finish(Error{"the guest agent's channel closed (QEMU is ending?)"});
    return;
  }
  if (auto s = stream_.feed(std::string_view(buf, static_cast<size_t>(n))); !s) {
    disconnect();  // the reply in flight is lost with the sync
    if (in_flight) finish(s.error());
    return;
  }
  if (!sent_ || queue_.empty()) {
    while (stream_.next()) {}  // nothing was asked: not a reply to anything
    return;
  }
  if (!synced_) {
    if (stream_.state() != vm::QgaStream::State::kSynced) return;
    synced_ = true;
    out_ += queue_.front().line;
    write_some();
    return;
  }
  if (auto r = stream_.next()) finish(std::move(*r));
}

void GuestAgent::finish(Result<vm::QgaReply> r) {
  if (queue_.empty()) return;
  loop_.cancel_timer(head_timer_);
  head_timer_ = 0;
  Request done = std::move(queue_.front());
  queue_.pop_front();
  sent_ = false;
  std::weak_ptr<bool> w = alive_;
  done.reply(std::move(r));
  if (w.expired()) return;
  // The next one from the loop: a long queue of failures does not recurse.
  if (!queue_.empty()) after(std::chrono::milliseconds(0), [this] { pump(); });
}

// ---- The guest's NICs ---------------------------------------------------------

void GuestAgent::start_polling() {
  if (polling_) return;
  polling_ = true;
  poll();
}

// One ask at a time: the next is scheduled when this one has ended.
void GuestAgent::poll() {
  poll_timer_ = 0;
  if (guest_runs_ && !guest_runs_()) {
    poll_timer_ = after(std::chrono::milliseconds(500), [this] { poll(); });
    return;
  }
  // Replies come only while this agent lives (a destroyed one drops its queue).
  call(vm::guest_network_get_interfaces_request(), o_.poll_timeout,
       [this](Result<vm::QgaReply> r) {
         auto got = parsed(r, "guest-network-get-interfaces", vm::parse_guest_interfaces);
         if (got) {
           view_.answered = true;
           view_.error.clear();
           view_.when = std::chrono::system_clock::now();
           view_.interfaces = std::move(*got);
         } else {
           view_.answered = false;
           view_.error = got.error().message;
         }
         poll_timer_ = after(view_.answered ? o_.poll_every : o_.poll_idle_every, [this] { poll(); });
       });
}

// ---- Commands ---------------------------------------------------------------------

Result<uint64_t> GuestAgent::exec(const std::string& path, const std::vector<std::string>& args, std::string_view input,
                                  std::chrono::milliseconds deadline) {
  size_t live = 0;
  for (const auto& [id, t] : execs_) live += t.exec.state == GuestExec::State::kStarting || t.exec.state == GuestExec::State::kRunning;
  if (execs_.size() >= o_.max_execs)
    return Error{"already " + std::to_string(execs_.size()) + " commands tracked in this guest (" + std::to_string(live) +
                 " running): wait for them"};
  auto req = vm::guest_exec_request(path, args, input);
  if (!req) return req.error();
  const uint64_t id = next_exec_++;
  Tracked& t = execs_[id];
  t.deadline = SteadyClock::now() + deadline;
  call(std::move(*req), std::chrono::milliseconds(10000), [this, id](Result<vm::QgaReply> r) {
    auto it = execs_.find(id);
    if (it == execs_.end()) return;
    auto pid = parsed(r, "guest-exec", vm::parse_guest_exec);
    if (!pid) return settle(id, GuestExec::State::kFailed, pid.error().message);
    it->second.exec.state = GuestExec::State::kRunning;
    it->second.exec.pid = *pid;
    ask_status(id);
  });
  return id;
}

void GuestAgent::ask_status(uint64_t id) {
  auto it = execs_.find(id);
  if (it == execs_.end()) return;
  it->second.timer = 0;
  if (SteadyClock::now() > it->second.deadline)
    return settle(id, GuestExec::State::kFailed,
                  "still running in the guest (pid " + std::to_string(it->second.exec.pid) + ") at the deadline");
  call(vm::guest_exec_status_request(it->second.exec.pid), std::chrono::milliseconds(10000),
       [this, id](Result<vm::QgaReply> r) {
         auto it = execs_.find(id);
         if (it == execs_.end()) return;
         auto st = parsed(r, "guest-exec-status", vm::parse_guest_exec_status);
         if (!st) return settle(id, GuestExec::State::kFailed, st.error().message);
         if (st->exited) {
           it->second.exec.result = std::move(*st);
           return settle(id, GuestExec::State::kExited);
         }
         it->second.timer = after(o_.exec_status_every, [this, id] { ask_status(id); });
       },
       vm::QgaStream::kMaxExecLine);
}

void GuestAgent::settle(uint64_t id, GuestExec::State state, std::string error) {
  auto it = execs_.find(id);
  if (it == execs_.end()) return;
  it->second.exec.state = state;
  it->second.exec.error = std::move(error);
  loop_.cancel_timer(it->second.timer);
  it->second.timer = after(o_.keep_result, [this, id] { execs_.erase(id); });
}

std::optional<GuestExec> GuestAgent::exec_status(uint64_t id) {
  auto it = execs_.find(id);
  if (it == execs_.end()) return std::nullopt;
  GuestExec e = it->second.exec;
  if (e.state == GuestExec::State::kExited || e.state == GuestExec::State::kFailed) {
    loop_.cancel_timer(it->second.timer);
    execs_.erase(it);
  }
  return e;
}

}  // namespace kvnet::daemon
