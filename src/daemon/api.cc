#include "daemon/api.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>

#include "daemon/service.h"

namespace kvnet::daemon {
namespace {

constexpr size_t kMaxRequest = 16 << 20;

Result<sockaddr_un> address(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof a.sun_path) return Error{"socket path '" + path + "' is empty or too long"};
  std::memcpy(a.sun_path, path.c_str(), path.size());
  return a;
}

// Reads up to a newline (or EOF) within `timeout_ms` in all: a client that
// trickles bytes cannot hold the (single) control thread longer than that.
Result<std::string> read_line(int fd, int timeout_ms) {
  std::string buf;
  char chunk[65536];
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (buf.find('\n') == std::string::npos) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return Error{"timed out"};
    pollfd p{fd, POLLIN, 0};
    const int r = poll(&p, 1, static_cast<int>(left.count()));
    if (r == 0) return Error{"timed out"};
    if (r < 0 && errno == EINTR) continue;
    const ssize_t n = read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error{std::strerror(errno)};
    if (n == 0) break;
    buf.append(chunk, static_cast<size_t>(n));
    if (buf.size() > kMaxRequest) return Error{"message larger than 16 MiB"};
  }
  if (auto nl = buf.find('\n'); nl != std::string::npos) buf.resize(nl);
  return buf;
}

bool write_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    const ssize_t n = send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

ApiServer::~ApiServer() {
  if (fd_ >= 0) {
    close(fd_);
    unlink(path_.c_str());
  }
}

Status ApiServer::listen() {
  auto a = address(path_);
  if (!a) return a.error();
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path_).parent_path(), ec);
  // A socket nobody answers on is stale (a daemon killed with -9): replace it.
  if (std::filesystem::exists(path_)) {
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const bool live = connect(probe, reinterpret_cast<sockaddr*>(&*a), sizeof *a) == 0;
    close(probe);
    if (live) return Error{"socket '" + path_ + "': another kvnetd is already listening"};
    unlink(path_.c_str());
  }
  fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&*a), sizeof *a) < 0 || ::listen(fd_, 64) < 0)
    return Error{"socket '" + path_ + "': " + std::strerror(errno)};
  chmod(path_.c_str(), 0660);
  return Ok{};
}

void ApiServer::serve(int stop_fd, int tick_ms, const std::function<void()>& tick) {
  auto next_tick = std::chrono::steady_clock::now() + std::chrono::milliseconds(tick_ms);
  for (;;) {
    pollfd p[2] = {{fd_, POLLIN, 0}, {stop_fd, POLLIN, 0}};
    const int r = poll(p, 2, tick_ms);
    if (r < 0 && errno != EINTR) return;
    if (r > 0 && p[1].revents) return;
    if (r > 0 && (p[0].revents & POLLIN)) {
      const int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c >= 0) {
        // A client that does not read its answer cannot block us either.
        const timeval tv{10, 0};
        setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        handle_connection(c);
        close(c);
      }
    }
    // Periodic work runs on time, however busy the socket is.
    if (tick && std::chrono::steady_clock::now() >= next_tick) {
      tick();
      next_tick = std::chrono::steady_clock::now() + std::chrono::milliseconds(tick_ms);
    }
  }
}

void ApiServer::handle_connection(int fd) {
  auto line = read_line(fd, 10000);
  nlohmann::json resp;
  if (!line) {
    resp = {{"ok", false}, {"error", "reading the request: " + line.error().message}};
  } else {
    auto req = nlohmann::json::parse(*line, nullptr, false);
    resp = req.is_discarded() ? nlohmann::json{{"ok", false}, {"error", "the request is not valid JSON"}}
                              : svc_.handle(req);
  }
  write_all(fd, resp.dump() + "\n");
}

Result<nlohmann::json> api_call(const std::string& socket_path, const nlohmann::json& req, int timeout_ms) {
  auto a = address(socket_path);
  if (!a) return a.error();
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Error{std::string("socket: ") + std::strerror(errno)};
  if (connect(fd, reinterpret_cast<sockaddr*>(&*a), sizeof *a) < 0) {
    const int e = errno;
    close(fd);
    return Error{"cannot connect to kvnetd at " + socket_path + ": " + std::strerror(e) + " (is kvnetd running?)"};
  }
  if (!write_all(fd, req.dump() + "\n")) {
    close(fd);
    return Error{"sending the request to " + socket_path + " failed"};
  }
  auto line = read_line(fd, timeout_ms);
  close(fd);
  if (!line) return Error{"reading kvnetd's answer: " + line.error().message};
  auto resp = nlohmann::json::parse(*line, nullptr, false);
  if (resp.is_discarded() || !resp.is_object()) return Error{"kvnetd's answer is not valid JSON"};
  return resp;
}

}  // namespace kvnet::daemon
