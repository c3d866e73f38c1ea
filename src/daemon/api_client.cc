#include "daemon/api_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

namespace kvnet::daemon {
namespace {

using json = nlohmann::json;

constexpr size_t kMaxAnswer = 256u << 20;  // what the client accepts from kvnetd

// Reads up to a newline (or EOF) within `timeout_ms` in all.
Result<std::string> read_line(int fd, int timeout_ms, size_t max_bytes) {
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
    // SAFETY: read writes at most sizeof chunk bytes into the local buffer.
    const ssize_t n = read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error{std::strerror(errno)};
    if (n == 0) break;
    buf.append(chunk, static_cast<size_t>(n));
    if (buf.size() > max_bytes) return Error{"message larger than " + std::to_string(max_bytes >> 20) + " MiB"};
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

Result<sockaddr_un> unix_address(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof a.sun_path) return Error{"socket path '" + path + "' is empty or too long"};
  std::memcpy(a.sun_path, path.c_str(), path.size());
  return a;
}

std::string encode_answer(const json& answer) {
  try {
    return answer.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  } catch (const std::exception&) {
    // Only an allocation failure or a pathological value gets here.
    return R"({"ok":false,"error":"internal error: the answer could not be encoded"})" "\n";
  }
}


// A connection to kvnetd with `req` sent; the caller closes the fd.
static Result<int> connect_and_send(const std::string& socket_path, const json& req) {
  auto a = unix_address(socket_path);
  if (!a) return a.error();
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Error{std::string("socket: ") + std::strerror(errno)};
  // SAFETY: connect reads the sockaddr_un we own, of the size we pass.
  if (connect(fd, reinterpret_cast<sockaddr*>(&*a), sizeof *a) < 0) {
    const int e = errno;
    close(fd);
    return Error{"cannot connect to kvnetd at " + socket_path + ": " + std::strerror(e) + " (is kvnetd running?)"};
  }
  if (!write_all(fd, encode_answer(req))) {
    close(fd);
    return Error{"sending the request to " + socket_path + " failed"};
  }
  return fd;
}

Result<json> api_call(const std::string& socket_path, const json& req, int timeout_ms) {
  auto sent = connect_and_send(socket_path, req);
  if (!sent) return sent.error();
  const int fd = *sent;
  auto line = read_line(fd, timeout_ms, kMaxAnswer);
  close(fd);
  if (!line) return Error{"reading kvnetd's answer: " + line.error().message};
  auto resp = json::parse(*line, nullptr, false);
  if (resp.is_discarded() || !resp.is_object()) return Error{"kvnetd's answer is not valid JSON"};
  return resp;
}

Result<ApiStreamClient> api_open_stream(const std::string& socket_path, const json& req, int timeout_ms) {
  auto sent = connect_and_send(socket_path, req);
  if (!sent) return sent.error();
  const int fd = *sent;
  // The answer line, and whatever of the stream came with it.
  std::string buf;
  char chunk[65536];
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  size_t nl = std::string::npos;
  while ((nl = buf.find('\n')) == std::string::npos) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd p{fd, POLLIN, 0};
    const int r = left.count() > 0 ? poll(&p, 1, static_cast<int>(left.count())) : 0;
    if (r < 0 && errno == EINTR) continue;
    // SAFETY: read writes at most sizeof chunk bytes into the local buffer.
    const ssize_t n = r > 0 ? read(fd, chunk, sizeof chunk) : -1;
    if (n < 0 && r > 0 && errno == EINTR) continue;
    if (n <= 0 || buf.size() > kMaxAnswer) {
      const std::string why = r == 0 ? "timed out" : n == 0 ? "the connection was closed" : "read failed";
      close(fd);
      return Error{"reading kvnetd's answer: " + why};
    }
    buf.append(chunk, static_cast<size_t>(n));
  }
  ApiStreamClient out;
  out.answer = json::parse(buf.substr(0, nl), nullptr, false);
  if (out.answer.is_discarded() || !out.answer.is_object()) {
    close(fd);
    return Error{"kvnetd's answer is not valid JSON"};
  }
  if (!out.answer.value("ok", false)) {
    close(fd);
    return out;
  }
  out.fd = fd;
  out.rest = buf.substr(nl + 1);
  return out;
}

}  // namespace kvnet::daemon
