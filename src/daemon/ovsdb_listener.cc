#include "daemon/ovsdb_listener.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/log.h"
#include "daemon/api.h"

namespace kvnet::daemon {

namespace {

constexpr int kAcceptsPerWakeup = 64;
constexpr int kReadsPerWakeup = 16;  // then the loop serves others: one flood does not starve them
constexpr size_t kReadChunk = 64 * 1024;

}  // namespace

std::string unix_socket_holder(const std::string& path) {
  // /proc/net/unix: "Num RefCount Protocol Flags Type St Inode Path"; a
  // listening socket has __SO_ACCEPTCON (0x10000) in its flags.
  std::ifstream net("/proc/net/unix");
  std::string line, inode;
  std::getline(net, line);  // the header
  while (std::getline(net, line)) {
    std::istringstream w(line);
    std::string num, refs, proto, flags, type, st, ino, p;
    if (!(w >> num >> refs >> proto >> flags >> type >> st >> ino >> p) || p != path) continue;
    if (std::strtoul(flags.c_str(), nullptr, 16) & 0x10000) {
      inode = ino;
      break;
    }
  }
  if (inode.empty()) return "";
  const std::string want = "socket:[" + inode + "]";
  std::error_code ec;
  for (const auto& proc : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string pid = proc.path().filename().string();
    if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) continue;
    std::error_code fec;
    for (const auto& fd : std::filesystem::directory_iterator(proc.path() / "fd", fec)) {
      std::error_code lec;
      if (std::filesystem::read_symlink(fd.path(), lec).string() != want) continue;
      std::ifstream comm(proc.path() / "comm");
      std::string name;
      std::getline(comm, name);
      return (name.empty() ? std::string("a process") : name) + " (PID " + pid + ")";
    }
  }
  return "";
}

OvsdbListener::OvsdbListener(EventLoop& loop, ovsdb::Server& server, OvsdbLimits limits)
    : loop_(loop), server_(server), limits_(limits) {}

OvsdbListener::~OvsdbListener() {
  if (drop_timer_) loop_.cancel_timer(drop_timer_);
  if (expiry_timer_) loop_.cancel_timer(expiry_timer_);
  while (!conns_.empty()) drop(conns_.begin()->first);
  for (const Listening& l : listening_) {
    loop_.remove_fd(l.fd);
    close(l.fd);
    unlink(l.path.c_str());
  }
}

Status OvsdbListener::listen(const std::string& path) {
  const std::string who = unix_socket_holder(path);
  auto fd = listen_unix(path, (who.empty() ? std::string("another process") : who) +
                                  " is listening on it (stop it, or give kvnetd another --ovsdb path)");
  if (!fd) return fd.error();
  const int lfd = *fd;
  if (auto s = loop_.add_fd(lfd, EPOLLIN, [this, lfd](uint32_t) { on_accept(lfd); }); !s) {
    close(lfd);
    unlink(path.c_str());
    return s.error();
  }
  listening_.push_back({lfd, path});
  return Ok{};
}

void OvsdbListener::on_accept(int listen_fd) {
  for (int i = 0; i < kAcceptsPerWakeup; ++i) {
    const int fd = accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;  // EAGAIN, or out of fds: the next wakeup tries again
    if (conns_.size() >= limits_.max_connections) {
      log_warn("ovsdb: a connection refused: " + std::to_string(conns_.size()) + " open, the limit");
      close(fd);
      continue;
    }
    auto c = std::make_unique<Conn>(limits_.max_message_bytes);
    c->fd = fd;
    if (!loop_.add_fd(fd, EPOLLIN, [this, fd](uint32_t ev) { on_ready(fd, ev); })) {
      close(fd);
      continue;
    }
    c->session = server_.open([this, fd](const ovsdb::json& m) { queue(fd, ovsdb::to_wire(m)); });
    conns_[fd] = std::move(c);
  }
}

void OvsdbListener::on_ready(int fd, uint32_t events) {
  auto it = conns_.find(fd);
  if (it == conns_.end()) return;
  Conn& c = *it->second;
  if (events & EPOLLOUT) flush(c);
  if (!conns_.count(fd)) return;
  if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) read_from(c);
}

void OvsdbListener::read_from(Conn& c) {
  const int fd = c.fd;
  read_buf_.resize(kReadChunk);
  for (int i = 0; i < kReadsPerWakeup && !c.closing; ++i) {
    const ssize_t n = ::read(fd, read_buf_.data(), read_buf_.size());
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) return drop(fd);  // the peer closed, or the connection broke
    c.in.feed(std::string_view(read_buf_.data(), static_cast<size_t>(n)));
    while (auto m = c.in.next()) {
      if (!*m) {
        // The stream cannot be resynchronized: say why, then close.
        queue(fd, ovsdb::to_wire(ovsdb::make_error_reply(
                      nullptr, ovsdb::json{{"error", "syntax error"}, {"details", m->error().message}})));
        if (!conns_.count(fd)) return;
        c.closing = true;
        flush(c);
        return;
      }
      server_.receive(c.session, **m);
      arm_expiry();
      if (!conns_.count(fd)) return;
    }
  }
}

void OvsdbListener::arm_expiry() {
  const auto next = server_.next_deadline();
  if (!next || (expiry_timer_ && expiry_at_ == *next)) return;
  if (expiry_timer_) loop_.cancel_timer(expiry_timer_);
  expiry_at_ = *next;
  const auto wait = std::chrono::ceil<std::chrono::milliseconds>(*next - ovsdb::Server::Clock::now());
  expiry_timer_ = loop_.add_timer(std::max(wait, std::chrono::milliseconds(0)), [this] {
    expiry_timer_ = 0;
    server_.expire(ovsdb::Server::Clock::now());
    arm_expiry();
  });
}

void OvsdbListener::queue(int fd, const std::string& bytes) {
  auto it = conns_.find(fd);
  if (it == conns_.end()) return;
  Conn& c = *it->second;
  if (c.out.size() - c.out_sent + bytes.size() > limits_.max_queued_bytes) {
    log_warn("ovsdb: a client that does not read what it is sent (" + std::to_string(c.out.size() - c.out_sent) +
             " bytes queued) is disconnected");
    drop_later(fd);
    return;
  }
  c.out += bytes;
  flush(c);
}

void OvsdbListener::flush(Conn& c) {
  const int fd = c.fd;
  while (c.out_sent < c.out.size()) {
    // SAFETY: send reads bytes of a string we own, within its size.
    const ssize_t n = send(fd, c.out.data() + c.out_sent, c.out.size() - c.out_sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      (void)loop_.modify_fd(fd, EPOLLIN | EPOLLOUT);
      return;
    }
    if (n <= 0) return drop_later(fd);
    c.out_sent += static_cast<size_t>(n);
  }
  c.out.clear();
  c.out_sent = 0;
  if (c.closing) return drop_later(fd);
  (void)loop_.modify_fd(fd, EPOLLIN);
}

void OvsdbListener::drop_later(int fd) {
  // Not now: this may run inside the server's send, which must not see its
  // session closed under it.
  // The session tells this connection from a later one given the same fd.
  auto it = conns_.find(fd);
  if (it == conns_.end()) return;
  to_drop_.emplace_back(fd, it->second->session);
  if (drop_timer_) return;
  drop_timer_ = loop_.add_timer(std::chrono::milliseconds(0), [this] {
    drop_timer_ = 0;
    std::vector<std::pair<int, uint64_t>> fds;
    fds.swap(to_drop_);
    for (const auto& [f, session] : fds) {
      auto c = conns_.find(f);
      if (c != conns_.end() && c->second->session == session) drop(f);
    }
  });
}

void OvsdbListener::drop(int fd) {
  auto it = conns_.find(fd);
  if (it == conns_.end()) return;
  const uint64_t session = it->second->session;
  loop_.remove_fd(fd);
  close(fd);
  conns_.erase(it);
  server_.close(session);
}

}  // namespace kvnet::daemon
