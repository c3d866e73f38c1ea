#include "io/netdev.h"

#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

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

std::string if_name(int ifindex) {
  char name[IF_NAMESIZE] = {};
  return ifindex > 0 && if_indextoname(static_cast<unsigned>(ifindex), name) ? name : "";
}

bool if_is_up(const std::string& name) {
  ifreq r;
  if (!fill(r, name)) return false;
  Sock s;
  // SAFETY: SIOCGIFFLAGS reads and writes only the ifreq we own.
  return ioctl(s.fd, SIOCGIFFLAGS, &r) == 0 && (r.ifr_flags & IFF_UP);
}

std::optional<IfFacts> if_facts(const std::string& name) {
  ifreq r;
  if (!fill(r, name)) return std::nullopt;
  Sock s;
  IfFacts f;
  // SAFETY: each ioctl reads and writes only the ifreq we own.
  if (ioctl(s.fd, SIOCGIFINDEX, &r) != 0) return std::nullopt;
  f.ifindex = r.ifr_ifindex;
  if (ioctl(s.fd, SIOCGIFFLAGS, &r) == 0) {
    f.admin_up = (r.ifr_flags & IFF_UP) != 0;
    f.running = (r.ifr_flags & IFF_RUNNING) != 0;
  }
  if (ioctl(s.fd, SIOCGIFMTU, &r) == 0) f.mtu = r.ifr_mtu;
  if (ioctl(s.fd, SIOCGIFHWADDR, &r) == 0 && r.ifr_hwaddr.sa_family == ARPHRD_ETHER) {
    char buf[18];
    const auto* m = reinterpret_cast<const unsigned char*>(r.ifr_hwaddr.sa_data);
    std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
    f.mac = buf;
  }
  return f;
}

std::string if_driver(const std::string& name) {
  ifreq r;
  if (!fill(r, name)) return "";
  ethtool_drvinfo info{};
  info.cmd = ETHTOOL_GDRVINFO;
  r.ifr_data = reinterpret_cast<char*>(&info);
  Sock s;
  // SAFETY: SIOCETHTOOL reads the ifreq and writes the drvinfo we own.
  return ioctl(s.fd, SIOCETHTOOL, &r) == 0 ? std::string(info.driver) : "";
}

int if_link(const std::string& name) {
  if (name.empty() || name.find('/') != std::string::npos) return 0;
  std::ifstream f("/sys/class/net/" + name + "/iflink");
  int v = 0;
  return f >> v ? v : 0;
}

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

namespace {

struct HostOutSetting {
  const char* family;  // "ipv4" or "ipv6": /proc/sys/net/FAMILY/conf/IFNAME/KEY
  const char* key;
  const char* value;
};
// Order matters: accept_ra and autoconf first, so that nothing from a router
// advertisement lands between the interface's creation and disable_ipv6.
constexpr HostOutSetting kHostOut[] = {
    {"ipv6", "accept_ra", "0"},  {"ipv6", "autoconf", "0"},  {"ipv6", "disable_ipv6", "1"},
    {"ipv4", "arp_ignore", "8"}, {"ipv4", "rp_filter", "1"}, {"ipv4", "forwarding", "0"},
};

}  // namespace

Status if_keep_host_out(const std::string& name) {
  if (name.empty() || name.size() >= IFNAMSIZ || name.find('/') != std::string::npos || name == "." || name == "..")
    return Error{"interface name '" + name + "' is invalid"};
  for (const auto& s : kHostOut) {
    const std::string dir = std::string("/proc/sys/net/") + s.family + "/conf/" + name;
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) {
      if (std::string(s.family) == "ipv6" && !std::filesystem::exists("/proc/sys/net/ipv6", ec)) continue;  // no IPv6
      return Error{"interface '" + name + "': " + dir + " does not exist"};
    }
    std::ofstream f(dir + "/" + s.key);
    f << s.value;
    f.flush();
    if (!f) return Error{"interface '" + name + "': cannot set " + s.family + " " + s.key + "=" + s.value};
  }
  return Ok{};
}

std::string host_out_settings() {
  std::string out;
  for (const auto& s : kHostOut)
    out += (out.empty() ? "" : " ") + std::string(s.family) + "/" + s.key + "=" + s.value;
  return out;
}

}  // namespace kvnet::io
