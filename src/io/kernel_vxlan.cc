#include "io/kernel_vxlan.h"

#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>

#include "base/log.h"
#include "io/bpf/fastpath_abi.h"
#include "io/netdev.h"
#include "io/tap.h"
#include "io/tunnel.h"

namespace kvnet::io {
namespace {

std::atomic<KernelTunnelHooks*> g_hooks{nullptr};

// One rtnetlink request and its acknowledgement. Returns 0 or -errno.
int rtnl_call(nlmsghdr* h) {
  const int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return -errno;
  sockaddr_nl to{};
  to.nl_family = AF_NETLINK;
  h->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
  h->nlmsg_seq = 1;
  int rc = -EIO;
  // SAFETY: sendto reads the request's nlmsg_len bytes, which the caller built in its buffer.
  if (sendto(fd, h, h->nlmsg_len, 0, reinterpret_cast<sockaddr*>(&to), sizeof to) < 0) {
    rc = -errno;
  } else {
    alignas(nlmsghdr) char buf[4096];
    // SAFETY: recv writes at most sizeof buf bytes into buf.
    const ssize_t got = recv(fd, buf, sizeof buf, 0);
    if (got < 0) rc = -errno;
    int left = got > 0 ? static_cast<int>(got) : 0;
    for (auto* r = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(r, left); r = NLMSG_NEXT(r, left)) {
      if (r->nlmsg_type != NLMSG_ERROR) continue;
      int e = 0;
      std::memcpy(&e, NLMSG_DATA(r), sizeof e);
      rc = e;
      break;
    }
  }
  ::close(fd);
  return rc;
}

// A request being built: a header, an ifinfomsg, attributes.
struct LinkRequest {
  alignas(nlmsghdr) char buf[512] = {};
  nlmsghdr* h = reinterpret_cast<nlmsghdr*>(buf);
  LinkRequest(uint16_t type, uint16_t flags) {
    h->nlmsg_len = NLMSG_LENGTH(sizeof(ifinfomsg));
    h->nlmsg_type = type;
    h->nlmsg_flags = flags;
    ifinfo()->ifi_family = AF_UNSPEC;
  }
  ifinfomsg* ifinfo() { return static_cast<ifinfomsg*>(NLMSG_DATA(h)); }
  rtattr* add(uint16_t type, const void* data, size_t len) {
    auto* a = reinterpret_cast<rtattr*>(buf + NLMSG_ALIGN(h->nlmsg_len));
    a->rta_type = type;
    a->rta_len = static_cast<uint16_t>(RTA_LENGTH(len));
    if (len) std::memcpy(RTA_DATA(a), data, len);
    h->nlmsg_len = NLMSG_ALIGN(h->nlmsg_len) + RTA_ALIGN(a->rta_len);
    return a;
  }
  void end(rtattr* nest) { nest->rta_len = static_cast<uint16_t>(buf + h->nlmsg_len - reinterpret_cast<char*>(nest)); }
};

int create_vxlan(const std::string& name, uint16_t port) {
  LinkRequest r(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
  r.add(IFLA_IFNAME, name.c_str(), name.size() + 1);
  const uint32_t mtu = 65000;  // the fast path checks each flow's own MTU; the device must not
  r.add(IFLA_MTU, &mtu, sizeof mtu);
  rtattr* info = r.add(IFLA_LINKINFO, nullptr, 0);
  r.add(IFLA_INFO_KIND, "vxlan", 5);
  rtattr* data = r.add(IFLA_INFO_DATA, nullptr, 0);
  const uint8_t one = 1, zero = 0;
  r.add(IFLA_VXLAN_COLLECT_METADATA, &one, 1);
  r.add(IFLA_VXLAN_LEARNING, &zero, 1);
  const uint16_t be_port = htons(port);
  r.add(IFLA_VXLAN_PORT, &be_port, sizeof be_port);
  // Outer source ports from the flow's hash in 49152-65535 (RFC 7348), as kvnetd's own sends.
  const ifla_vxlan_port_range range{htons(49152), htons(65535)};
  r.add(IFLA_VXLAN_PORT_RANGE, &range, sizeof range);
  r.end(data);
  r.end(info);
  return rtnl_call(r.h);
}

int delete_link(int ifindex) {
  LinkRequest r(RTM_DELLINK, 0);
  r.ifinfo()->ifi_index = ifindex;
  return rtnl_call(r.h);
}

std::mutex g_mu;
std::map<uint16_t, std::weak_ptr<KernelVxlan>> g_devices;

}  // namespace

void set_kernel_tunnel_hooks(KernelTunnelHooks* h) { g_hooks.store(h); }
KernelTunnelHooks* kernel_tunnel_hooks() { return g_hooks.load(); }

std::string KernelVxlan::device_name(uint16_t port) { return "kvnet-vx" + std::to_string(port); }
std::string KernelVxlan::upcall_name(uint16_t port) { return "kvnet-up" + std::to_string(port); }

void KernelVxlan::remove_stale(uint16_t port) {
  const std::string name = device_name(port);
  const int ifx = if_index(name);
  if (ifx <= 0 || if_driver(name) != "vxlan") return;
  // A live kvnetd holds the upcall TAP (it vanishes with its fd): then the device is in use.
  if (if_exists(upcall_name(port))) return;
  if (const int rc = delete_link(ifx); rc == 0)
    logf(LogLevel::kInfo, "tunnel: removed {}, a kernel vxlan device an earlier kvnetd left behind", name);
}

Result<std::shared_ptr<KernelVxlan>> KernelVxlan::get(uint16_t port) {
  KernelTunnelHooks* hooks = kernel_tunnel_hooks();
  if (!hooks) return Error{"the fast path is off"};
  std::lock_guard<std::mutex> g(g_mu);
  if (auto it = g_devices.find(port); it != g_devices.end())
    if (auto d = it->second.lock()) return d;

  auto d = std::shared_ptr<KernelVxlan>(new KernelVxlan());
  d->port_ = port;
  d->name_ = device_name(port);
  d->upcall_name_ = upcall_name(port);
  const std::string where = "kernel vxlan device " + d->name_;
  // An existing upcall TAP means another kvnetd here holds this port; else
  // a device of this name is a crashed kvnetd's leftover.
  if (if_exists(d->upcall_name_))
    return Error{where + ": its upcall TAP " + d->upcall_name_ + " exists: another kvnetd in this namespace holds UDP port " +
                 std::to_string(port)};
  remove_stale(port);
  auto tap = open_tap(d->upcall_name_, {.must_create = true, .nonblock = true});
  if (!tap) return Error{where + ": upcall " + tap.error().message};
  d->tap_fd_ = tap->fd;
  int hdr = sizeof(net::VnetHdr);
  const unsigned offloads = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN;  // super-frames reach kvnetd whole
  // SAFETY: TUNSETVNETHDRSZ reads one int from a local; TUNSETOFFLOAD takes its argument by value.
  if (ioctl(d->tap_fd_, TUNSETVNETHDRSZ, &hdr) < 0 || ioctl(d->tap_fd_, TUNSETOFFLOAD, offloads) < 0)
    return Error{where + ": upcall TAP " + d->upcall_name_ + ": " + std::strerror(errno)};
  if (auto s = if_keep_host_out(d->upcall_name_); !s) return Error{where + ": " + s.error().message};
  if (auto s = if_set_up(d->upcall_name_, true); !s) return Error{where + ": " + s.error().message};

  if (const int rc = create_vxlan(d->name_, port); rc < 0)
    return Error{where + ": cannot create it: " + std::strerror(-rc) +
                 (rc == -EEXIST ? " (an interface of that name exists)" : "")};
  d->ifindex_ = if_index(d->name_);
  auto fail = [&](const std::string& why) -> Error {
    delete_link(d->ifindex_);
    d->ifindex_ = 0;
    return Error{where + ": " + why};
  };
  if (d->ifindex_ <= 0) return fail("it vanished after it was made");
  if (auto s = if_keep_host_out(d->name_); !s) return fail(s.error().message);
  auto h = hooks->attach_tunnel(d->ifindex_, if_index(d->upcall_name_));
  if (!h) return fail(h.error().message);
  d->hook_ = *h;
  d->attached_ = true;
  // Up: now the kernel binds the UDP port (every address, both families).
  if (auto s = if_set_up(d->name_, true); !s) {
    hooks->detach_tunnel(d->ifindex_, d->hook_);
    d->attached_ = false;
    const bool busy = s.error().message.find(std::strerror(EADDRINUSE)) != std::string::npos;
    return fail("cannot bring it up: " + s.error().message +
                (busy ? " (UDP port " + std::to_string(port) + " is held by another socket: a kernel VTEP or another program)"
                      : ""));
  }
  g_devices[port] = d;
  logf(LogLevel::kInfo, "tunnel: VXLAN on UDP port {} through {} (ifindex {}): the kernel encapsulates and decapsulates, "
       "misses reach kvnetd through {}", port, d->name_, d->ifindex_, d->upcall_name_);
  return d;
}

KernelVxlan::~KernelVxlan() {
  if (attached_)
    if (KernelTunnelHooks* h = kernel_tunnel_hooks()) h->detach_tunnel(ifindex_, hook_);
  if (ifindex_ > 0 && if_name(ifindex_) == name_) delete_link(ifindex_);
  if (tap_fd_ >= 0) ::close(tap_fd_);  // the upcall TAP vanishes with its fd
}

void KernelVxlan::add(TunnelSocket* s) {
  if (std::find(sockets_.begin(), sockets_.end(), s) == sockets_.end()) sockets_.push_back(s);
}

void KernelVxlan::remove(TunnelSocket* s) { std::erase(sockets_, s); }

uint32_t KernelVxlan::receive(net::FrameBatch& batch, net::FramePool& pool, uint64_t now_ns) {
  uint32_t n = 0;
  while (!batch.full()) {
    net::Frame* f = pool.get();
    if (!f) break;
    const ssize_t got = read_tap_frame(tap_fd_, *f);
    if (got < static_cast<ssize_t>(sizeof(kvfp_upcall) + 14)) {
      pool.put(f);
      if (got < 0) break;  // nothing more waiting
      continue;            // the kernel's own (a TAP that is up may send something): not an upcall
    }
    kvfp_upcall up;
    std::memcpy(&up, f->data(), sizeof up);
    if (up.magic != KVFP_UPCALL_MAGIC || (up.family != 4 && up.family != 6)) {
      pool.put(f);
      continue;
    }
    f->pull_front(sizeof up);
    net::VnetHdr& v = f->meta.vnet;  // its offsets counted the upcall header
    if (v.flags & net::kVnetNeedsCsum) v.csum_start = static_cast<uint16_t>(v.csum_start - sizeof up);
    if (v.hdr_len > sizeof up) v.hdr_len = static_cast<uint16_t>(v.hdr_len - sizeof up);
    IpAddr remote, local;
    remote.family = local.family = up.family == 6 ? AF_INET6 : AF_INET;
    const size_t alen = up.family == 6 ? 16 : 4;
    std::memcpy(remote.b.data(), up.remote, alen);
    std::memcpy(local.b.data(), up.local, alen);
    TunnelSocket* to = nullptr;
    for (TunnelSocket* s : sockets_)
      if (s->family() == remote.family && (s->local().unset() || s->local() == local)) {
        to = s;
        break;
      }
    upcalls_.fetch_add(1, std::memory_order_relaxed);
    if (!to) {
      unclaimed_.fetch_add(1, std::memory_order_relaxed);
      pool.put(f);
      continue;
    }
    n += to->deliver_upcall(f, up.vni, remote, pool, batch, now_ns);
  }
  return n;
}

}  // namespace kvnet::io
