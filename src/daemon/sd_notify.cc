#include "daemon/sd_notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string>

namespace kvnet::daemon {

Status sd_notify(std::string_view state) {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (!path || !*path) return Ok{};
  const std::string p = path;
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if ((p[0] != '/' && p[0] != '@') || p.size() >= sizeof a.sun_path)
    return Error{"NOTIFY_SOCKET '" + p + "' is not an absolute path or abstract socket name"};
  std::memcpy(a.sun_path, p.data(), p.size());
  if (p[0] == '@') a.sun_path[0] = '\0';  // abstract namespace
  const socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + p.size());
  const int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Error{std::string("NOTIFY_SOCKET: socket: ") + std::strerror(errno)};
  // SAFETY: sendto reads `state`'s bytes and the sockaddr_un we own, of length `len`.
  const ssize_t n = sendto(fd, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&a), len);
  const int e = errno;
  close(fd);
  if (n < 0) return Error{"NOTIFY_SOCKET '" + p + "': " + std::strerror(e)};
  return Ok{};
}

}  // namespace kvnet::daemon
