#include "io/netdev.h"

#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace kvnet::io {
namespace {

struct Sock {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ~Sock() {
    if (fd >= 0) close(fd);
  }
};

bool fill(ifreq& r, const std::string& name) {
  if (name.empty() || name.size() >= IFNAMSIZ) return false;
  std::memset(&r, 0, sizeof r);
  std::memcpy(r.ifr_name, name.data(), name.size());
  return true;
}

}  // namespace

int if_index(const std::string& name) { return static_cast<int>(if_nametoindex(name.c_str())); }

bool if_exists(const std::string& name) { return if_index(name) > 0; }

Status if_set_up(const std::string& name, bool up) {
  ifreq r;
  if (!fill(r, name)) return Error{"interface name '" + name + "' is invalid"};
  Sock s;
  // SAFETY: SIOCGIFFLAGS/SIOCSIFFLAGS read and write only the ifreq we own.
  if (ioctl(s.fd, SIOCGIFFLAGS, &r) < 0) return Error{"interface '" + name + "': " + std::strerror(errno)};
  if (up) r.ifr_flags = static_cast<short>(r.ifr_flags | IFF_UP);
  else r.ifr_flags = static_cast<short>(r.ifr_flags & ~IFF_UP);
  if (ioctl(s.fd, SIOCSIFFLAGS, &r) < 0)
    return Error{"interface '" + name + "': cannot set " + (up ? "up" : "down") + ": " + std::strerror(errno)};
  return Ok{};
}

Result<int> if_mtu(const std::string& name) {
  ifreq r;
  if (!fill(r, name)) return Error{"interface name '" + name + "' is invalid"};
  Sock s;
  // SAFETY: SIOCGIFMTU reads and writes only the ifreq we own.
  if (ioctl(s.fd, SIOCGIFMTU, &r) < 0) return Error{"interface '" + name + "': " + std::strerror(errno)};
  return r.ifr_mtu;
}

Status if_set_mtu(const std::string& name, int mtu) {
  ifreq r;
  if (!fill(r, name)) return Error{"interface name '" + name + "' is invalid"};
  r.ifr_mtu = mtu;
  Sock s;
  // SAFETY: SIOCSIFMTU reads only the ifreq we own.
  if (ioctl(s.fd, SIOCSIFMTU, &r) < 0)
    return Error{"interface '" + name + "': cannot set MTU " + std::to_string(mtu) + ": " + std::strerror(errno)};
  return Ok{};
}

Result<int> if_hw_type(const std::string& name) {
  ifreq r;
  if (!fill(r, name)) return Error{"interface name '" + name + "' is invalid"};
  Sock s;
  // SAFETY: SIOCGIFHWADDR reads and writes only the ifreq we own.
  if (ioctl(s.fd, SIOCGIFHWADDR, &r) < 0) return Error{"interface '" + name + "': " + std::strerror(errno)};
  return static_cast<int>(r.ifr_hwaddr.sa_family);
}

}  // namespace kvnet::io
