#include "io/tap.h"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "io/netdev.h"

namespace kvnet::io {

Result<TapFd> open_tap(const std::string& name, const TapOpen& o) {
  if (name.empty() || name.size() >= IFNAMSIZ) return Error{"tap name '" + name + "' is invalid"};
  const bool existed = if_exists(name);
  if (existed && o.must_create)
    return Error{"interface '" + name + "' exists already (another VM's NIC, or this VM is still running)"};
  const int fd = ::open("/dev/net/tun", O_RDWR | O_CLOEXEC | (o.nonblock ? O_NONBLOCK : 0));
  if (fd < 0) return Error{"tap '" + name + "': cannot open /dev/net/tun: " + std::strerror(errno)};
  ifreq r{};
  std::memcpy(r.ifr_name, name.data(), name.size());
  r.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
  // SAFETY: TUNSETIFF reads the ifreq we own and binds this fd to the device.
  if (ioctl(fd, TUNSETIFF, &r) < 0) {
    const int e = errno;
    ::close(fd);
    if (existed)
      return Error{"tap '" + name + "': cannot attach (is it a TAP, not in use by another process?): " + std::strerror(e)};
    return Error{"tap '" + name + "': cannot create: " + std::strerror(e)};
  }
  return TapFd{fd, !existed};
}

ssize_t read_tap_frame(int fd, net::Frame& f) {
  iovec iov[2] = {{&f.meta.vnet, sizeof(net::VnetHdr)}, {f.data(), f.tailroom()}};
  // SAFETY: readv writes at most the header and the frame's tailroom.
  const ssize_t got = readv(fd, iov, 2);
  if (got < 0) return -1;
  if (got < static_cast<ssize_t>(sizeof(net::VnetHdr))) {
    errno = EAGAIN;  // a TAP always gives the header: nothing was read
    return -1;
  }
  f.set_len(static_cast<size_t>(got) - sizeof(net::VnetHdr));
  return static_cast<ssize_t>(f.len());
}

Result<std::unique_ptr<TapBackend>> TapBackend::open(const std::string& name, TapLife life) {
  const bool persistent = life != TapLife::kWithPort;
  auto tap = open_tap(name, {.nonblock = true});
  if (!tap) return tap.error();
  auto t = std::unique_ptr<TapBackend>(new TapBackend());
  t->name_ = name;
  t->persistent_ = persistent;
  t->life_ = life;
  t->fd_ = tap->fd;
  t->created_ = tap->created;
  t->ifindex_ = static_cast<int>(if_index(name));  // TUNSETIFF found it here: it is in this namespace
  int hdr = sizeof(net::VnetHdr);
  // SAFETY: TUNSETVNETHDRSZ reads one int from a local of that size.
  if (ioctl(t->fd_, TUNSETVNETHDRSZ, &hdr) < 0)
    return Error{"tap '" + name + "': TUNSETVNETHDRSZ: " + std::strerror(errno)};
  const unsigned offloads = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN;
  // SAFETY: TUNSETOFFLOAD and TUNSETPERSIST take their argument by value: no memory is passed.
  if (ioctl(t->fd_, TUNSETOFFLOAD, offloads) < 0)
    return Error{"tap '" + name + "': TUNSETOFFLOAD: " + std::strerror(errno)};
  if (persistent && ioctl(t->fd_, TUNSETPERSIST, 1) < 0)
    return Error{"tap '" + name + "': TUNSETPERSIST: " + std::strerror(errno)};
  if (auto s = if_set_up(name, true); !s) return s.error();
  return t;
}

TapBackend::~TapBackend() {
  if (fd_ < 0) return;
  // A TAP we created and did not make persistent vanishes with its last fd.
  // An internal port's TAP is kvnet's even when an earlier kvnetd created it.
  // SAFETY: TUNSETPERSIST takes its argument by value.
  if (!persistent_ && (created_ || life_ == TapLife::kWithConfig)) ioctl(fd_, TUNSETPERSIST, 0);
  ::close(fd_);
}

uint32_t TapBackend::receive(net::FrameBatch& batch, net::FramePool& pool, uint64_t now_ns) {
  uint32_t n = 0;
  while (!batch.full()) {
    net::Frame* f = pool.get();
    if (!f) break;
    if (read_tap_frame(fd_, *f) < 0) {
      pool.put(f);
      if (errno != EAGAIN && errno != EINTR) failed_ = true;  // the interface is gone (EBADFD/EIO): the poller stops watching us
      break;  // else nothing more waiting
    }
    f->meta.ts_ns = now_ns;
    batch.add(f);
    ++n;
  }
  return n;
}

uint32_t TapBackend::send(net::FrameBatch& batch, net::FramePool& pool) {
  uint32_t ok = 0;
  for (uint32_t i = 0; i < batch.count; ++i) {
    net::Frame* f = batch[i];
    iovec iov[2] = {{&f->meta.vnet, sizeof(net::VnetHdr)}, {f->data(), f->len()}};
    // SAFETY: writev reads the header and the frame's first len() bytes, owned by the batch.
    if (writev(fd_, iov, 2) >= 0) ++ok;
  }
  pool.put(batch);
  return ok;
}

std::string TapBackend::describe() const {
  return "tap " + name_ + " ifindex " + std::to_string(if_index(name_)) +
         (life_ == TapLife::kPersistent ? " persistent" : "");
}

Status TapBackend::set_device_mtu(uint32_t mtu) { return if_set_mtu(name_, static_cast<int>(mtu)); }

}  // namespace kvnet::io
