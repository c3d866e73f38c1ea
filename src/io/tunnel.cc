#include "io/tunnel.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <set>
#include <tuple>

#include "base/clock.h"
#include "base/log.h"
#include "dp/bridge.h"
#include "net/bytes.h"
#include "net/icmp_error.h"
#include "io/runtime.h"
#include "net/vlan_ops.h"

namespace kvnet::io {
namespace {

std::string sys(const std::string& what) { return what + ": " + std::strerror(errno); }

socklen_t to_sockaddr(const IpAddr& a, uint16_t port, sockaddr_storage& ss) {
  std::memset(&ss, 0, sizeof ss);
  if (a.family == AF_INET6) {
    auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(port);
    std::memcpy(&s6->sin6_addr, a.b.data(), 16);
    return sizeof(sockaddr_in6);
  }
  auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
  s4->sin_family = AF_INET;
  s4->sin_port = htons(port);
  std::memcpy(&s4->sin_addr, a.b.data(), 4);
  return sizeof(sockaddr_in);
}

// The any-address of `family` when `a` is unset.
IpAddr or_any(const IpAddr& a, int family) {
  if (!a.unset()) return a;
  IpAddr any;
  any.family = family;
  return any;
}

IpAddr from_sockaddr(const sockaddr_storage& ss) {
  IpAddr a;
  if (ss.ss_family == AF_INET6) {
    const auto* s6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    // An IPv4-mapped source on an IPv6 socket cannot happen (IPV6_V6ONLY).
    a.family = AF_INET6;
    std::memcpy(a.b.data(), &s6->sin6_addr, 16);
  } else if (ss.ss_family == AF_INET) {
    const auto* s4 = reinterpret_cast<const sockaddr_in*>(&ss);
    a.family = AF_INET;
    std::memcpy(a.b.data(), &s4->sin_addr, 4);
  }
  return a;
}

int set_int(int fd, int level, int opt, int v) {
  // SAFETY: setsockopt reads sizeof v bytes of a local.
  return setsockopt(fd, level, opt, &v, sizeof v);
}

// The MTU of the route to `remote` (the kernel's view, through a connected
// UDP socket), or 0 if unknown.
uint32_t route_mtu(const IpAddr& remote) {
  const int fd = socket(remote.family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_storage ss;
  const socklen_t len = to_sockaddr(remote, 9, ss);
  int mtu = 0;
  socklen_t ml = sizeof mtu;
  // SAFETY: connect reads `len` bytes of ss; getsockopt writes at most ml bytes into mtu.
  if (connect(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0)
    getsockopt(fd, remote.family == AF_INET6 ? IPPROTO_IPV6 : IPPROTO_IP,
               remote.family == AF_INET6 ? IPV6_MTU : IP_MTU, &mtu, &ml);
  ::close(fd);
  return mtu > 0 ? static_cast<uint32_t>(mtu) : 0;
}

// The MTU of the interface that has address `a`, or 0.
uint32_t local_mtu(const IpAddr& a) {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) < 0) return 0;
  std::string ifname;
  for (ifaddrs* i = list; i; i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != a.family) continue;
    sockaddr_storage ss{};
    std::memcpy(&ss, i->ifa_addr, a.family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in));
    if (from_sockaddr(ss) == a) ifname = i->ifa_name;
  }
  freeifaddrs(list);
  if (ifname.empty()) return 0;
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, ifname.c_str(), IFNAMSIZ - 1);
  // SAFETY: SIOCGIFMTU writes into the ifreq we own.
  const int r = ioctl(fd, SIOCGIFMTU, &ifr);
  ::close(fd);
  return r == 0 && ifr.ifr_mtu > 0 ? static_cast<uint32_t>(ifr.ifr_mtu) : 0;
}

size_t ip_header_len(int family) { return family == AF_INET6 ? net::kIpv6HeaderLen : net::kIpv4HeaderLen; }

}  // namespace

// ---------------------------------------------------------------- addresses

std::string_view to_string(TunnelType t) {
  switch (t) {
    case TunnelType::kVxlan: return "vxlan";
    case TunnelType::kGeneve: return "geneve";
    case TunnelType::kGre: return "gre";
  }
  return "?";
}

int TunnelConfig::family() const {
  if (!local.unset()) return local.family;
  if (!remotes.empty()) return remotes[0].family;
  return AF_INET;
}

// ---------------------------------------------------------------- the shared socket

Result<std::shared_ptr<TunnelSocket>> TunnelSocket::get(TunnelType type, int family, const IpAddr& local,
                                                        uint16_t port) {
  using Key = std::tuple<int, int, std::array<uint8_t, 16>, uint16_t>;
  static std::mutex mu;
  static std::map<Key, std::weak_ptr<TunnelSocket>> open_sockets;
  const Key key{static_cast<int>(type), family, local.b, type == TunnelType::kGre ? uint16_t{0} : port};
  std::lock_guard<std::mutex> g(mu);
  if (auto it = open_sockets.find(key); it != open_sockets.end())
    if (auto s = it->second.lock()) return s;

  auto s = std::shared_ptr<TunnelSocket>(new TunnelSocket());
  s->type_ = type;
  s->family_ = family;
  s->local_ = local;
  s->port_ = port;
  const IpAddr bind_addr = or_any(local, family);
  const std::string where = std::string(to_string(type)) + " endpoint " + bind_addr.str() +
                            (type == TunnelType::kGre ? "" : " port " + std::to_string(port));
  const bool v6 = family == AF_INET6;
  // Never fragment: a frame that does not fit is dropped as too_big before.
  auto no_fragments = [&](int fd) {
    if (v6) {
      set_int(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, IPV6_PMTUDISC_DO);
      set_int(fd, IPPROTO_IPV6, IPV6_DONTFRAG, 1);
    } else {
      set_int(fd, IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO);
    }
  };

  if (type == TunnelType::kGre) {
    s->rx_fd_ = socket(family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, net::kIpProtoGre);
    if (s->rx_fd_ < 0) return Error{sys(where + ": raw GRE socket")};
    if (!local.unset()) {
      sockaddr_storage ss;
      const socklen_t len = to_sockaddr(local, 0, ss);
      // SAFETY: bind reads `len` bytes of ss.
      if (bind(s->rx_fd_, reinterpret_cast<sockaddr*>(&ss), len) < 0) return Error{sys(where + ": bind")};
      // Until bound, the socket took GRE packets to every local address: drop those.
      uint8_t byte;
      while (recv(s->rx_fd_, &byte, 1, MSG_DONTWAIT | MSG_TRUNC) >= 0) {
      }
    }
    no_fragments(s->rx_fd_);
    set_int(s->rx_fd_, SOL_SOCKET, SO_RCVBUFFORCE, 8 << 20);
    set_int(s->rx_fd_, SOL_SOCKET, SO_SNDBUFFORCE, 8 << 20);
    s->send_fds_.push_back(s->rx_fd_);
    s->src_ports_.push_back(0);
  } else {
    // VXLAN with the fast path on: the kernel's vxlan device receives (and
    // the fast path forwards or hands kvnetd its misses); else our socket.
    if (type == TunnelType::kVxlan && kernel_tunnel_hooks()) {
      if (auto k = KernelVxlan::get(port)) {
        s->kernel_ = std::move(*k);
      } else {
        static std::mutex said_mu;
        static std::set<uint16_t> said;
        std::lock_guard<std::mutex> sg(said_mu);
        if (said.insert(port).second)
          logf(LogLevel::kWarn, "tunnel: VXLAN on UDP port {} stays on kvnetd's own socket (the slow path): {}", port,
               k.error().message);
      }
    }
    if (type == TunnelType::kVxlan && !s->kernel_) KernelVxlan::remove_stale(port);
  }
  if (s->kernel_) {
    // Received through the device; kvnetd only sends (below).
  } else if (type != TunnelType::kGre) {
    s->rx_fd_ = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->rx_fd_ < 0) return Error{sys(where + ": UDP socket")};
    if (v6) set_int(s->rx_fd_, IPPROTO_IPV6, IPV6_V6ONLY, 1);
    set_int(s->rx_fd_, SOL_SOCKET, SO_RCVBUFFORCE, 8 << 20);
    set_int(s->rx_fd_, SOL_UDP, UDP_GRO, 1);  // a peer's GSO burst arrives whole (receive_udp cuts it)
    sockaddr_storage ss;
    const socklen_t len = to_sockaddr(bind_addr, port, ss);
    // SAFETY: bind reads `len` bytes of ss.
    if (bind(s->rx_fd_, reinterpret_cast<sockaddr*>(&ss), len) < 0) {
      const bool busy = errno == EADDRINUSE;
      return Error{sys(where + ": bind") +
                   (busy ? " (another program, or a kernel vxlan/geneve device, holds this UDP port)" : "")};
    }
  }
  if (type != TunnelType::kGre) {
    // Send sockets, one per outer source port, from a pid-dependent start in
    // 49152-65535 so that two kvnetd on one host do not collide. Over IPv4
    // two sets: zero UDP checksums (RFC 7348's default) and computed ones
    // (`csum`); the kernel only takes GSO bursts (UDP_SEGMENT) with the latter.
    uint32_t candidate = static_cast<uint32_t>(getpid()) * 2654435761u;
    const size_t want = v6 ? kSendSockets : 2 * kSendSockets;
    for (int tries = 0; tries < 1024 && s->send_fds_.size() < want; ++tries, ++candidate) {
      const uint16_t sport = net::tunnel_src_port(candidate * 40503u);
      const int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0) return Error{sys(where + ": UDP send socket")};
      if (v6) set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1);
      sockaddr_storage src;
      const socklen_t sl = to_sockaddr(bind_addr, sport, src);
      // SAFETY: bind reads `sl` bytes of src.
      if (bind(fd, reinterpret_cast<sockaddr*>(&src), sl) < 0) {
        ::close(fd);
        continue;  // in use: try the next port
      }
      no_fragments(fd);
      if (!v6 && s->send_fds_.size() < kSendSockets) set_int(fd, SOL_SOCKET, SO_NO_CHECK, 1);
      set_int(fd, SOL_SOCKET, SO_SNDBUFFORCE, 4 << 20);
      set_int(fd, SOL_SOCKET, SO_RCVBUF, 4096);  // nothing is expected here
      s->send_fds_.push_back(fd);
      s->src_ports_.push_back(sport);
    }
    if (s->send_fds_.size() < want) return Error{where + ": not enough free UDP source ports in 49152-65535"};
  }
  open_sockets[key] = s;
  return s;
}

TunnelSocket::~TunnelSocket() {
  for (int fd : send_fds_)
    if (fd != rx_fd_) ::close(fd);
  if (rx_fd_ >= 0) ::close(rx_fd_);
}

void TunnelSocket::add_port(TunnelBackend* b) {
  if (std::find(ports_.begin(), ports_.end(), b) == ports_.end()) ports_.push_back(b);
  if (kernel_) kernel_->add(this);
}

void TunnelSocket::remove_port(TunnelBackend* b) {
  std::erase(ports_, b);
  if (kernel_ && ports_.empty()) kernel_->remove(this);
}

std::string TunnelSocket::describe() const {
  std::string out = std::string(to_string(type_)) + " " + or_any(local_, family_).str();
  if (type_ != TunnelType::kGre) out += ":" + std::to_string(port_);
  if (kernel_)
    out += " (kernel device " + kernel_->name() + ", " + std::to_string(kernel_->upcalls()) + " upcall(s)" +
           (kernel_->unclaimed() ? ", " + std::to_string(kernel_->unclaimed()) + " for no local endpoint" : "") + ")";
  std::string drops;
  auto add = [&](std::string_view what, uint64_t n) {
    if (n) drops += (drops.empty() ? "" : ", ") + std::string(what) + " " + std::to_string(n);
  };
  for (size_t i = 1; i < counters_.malformed.size(); ++i)
    add(net::to_string(static_cast<net::TunnelError>(i)), counters_.malformed[i].load());
  add("unknown_vni", counters_.unknown_vni.load());
  add("unknown_remote", counters_.unknown_remote.load());
  add("oam", counters_.oam.load());
  add("no_buffer", counters_.no_buffer.load());
  add("too_long", counters_.too_long.load());
  if (!drops.empty()) out += " (dropped: " + drops + ")";
  if (const uint64_t n = counters_.geneve_options.load()) out += ", " + std::to_string(n) + " Geneve option(s) received";
  if (const uint64_t n = counters_.csum_completed.load())
    out += ", " + std::to_string(n) + " partial inner checksum(s) filled";
  if (const uint64_t n = counters_.super_frames.load()) out += ", " + std::to_string(n) + " inner TSO frame(s)";
  return out;
}

uint32_t TunnelSocket::receive(net::FrameBatch& batch, net::FramePool& pool, uint64_t now_ns) {
  return type_ == TunnelType::kGre ? receive_raw(batch, pool, now_ns) : receive_udp(batch, pool, now_ns);
}

bool TunnelSocket::deliver(const uint8_t* p, size_t len, const IpAddr& src, net::Frame* f, net::FramePool& pool,
                           net::FrameBatch& batch, uint64_t now_ns) {
  counters_.rx_packets.fetch_add(1, std::memory_order_relaxed);
  net::TunnelRx rx;
  switch (type_) {
    case TunnelType::kVxlan: rx = net::vxlan_parse(p, len); break;
    case TunnelType::kGeneve: rx = net::geneve_parse(p, len); break;
    case TunnelType::kGre: rx = family_ == AF_INET ? net::ipv4_gre_parse(p, len) : net::gre_parse(p, len); break;
  }
  auto refuse = [&](std::atomic<uint64_t>& counter) {
    counter.fetch_add(1, std::memory_order_relaxed);
    if (f) pool.put(f);
    return false;
  };
  if (rx.error != net::TunnelError::kNone) return refuse(counters_.malformed[static_cast<size_t>(rx.error)]);
  if (rx.oam) return refuse(counters_.oam);
  if (rx.option_count) counters_.geneve_options.fetch_add(rx.option_count, std::memory_order_relaxed);
  TunnelBackend* port = port_for(rx.vni, src);
  if (!port) {
    if (f) pool.put(f);
    return false;
  }
  // A TCP segment that continues the last frame of the same port is merged
  // into it (software GRO): the endpoint's stack then gets one GSO frame
  // instead of dozens, as the kernel's own VTEP gives it. Nothing is added.
  if (!f && last_ && last_port_ == port && net::tcp_coalesce(*last_, p + rx.inner_off, rx.inner_len)) {
    counters_.coalesced.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  if (f) {  // read in place: keep only the inner frame
    f->set_len(len);
    f->pull_front(rx.inner_off);
    f->set_len(rx.inner_len);
  } else {
    f = pool.get();
    if (!f) return refuse(counters_.no_buffer);
    if (!f->assign(p + rx.inner_off, rx.inner_len)) return refuse(counters_.too_long);
  }
  // A kernel VTEP's TSO frame that a veth underlay kept whole: the kernel
  // hands a UDP socket a tunnel-GSO packet as one datagram (one tunnel
  // header, one inner super-frame, no segment size). It goes on as a GSO
  // frame cut to the tunnel's inner MTU where it leaves.
  if (f->len() > port->inner_mtu() + net::kEthHeaderLen + 2 * net::kVlanTagLen &&
      net::describe_tcp_gso(f->data(), f->len(), port->inner_mtu(), f->meta.vnet))
    counters_.super_frames.fetch_add(1, std::memory_order_relaxed);
  else if (net::complete_partial_checksum(*f))
    counters_.csum_completed.fetch_add(1, std::memory_order_relaxed);
  if (!port->admit(*f, rx.vni, src, now_ns)) {
    pool.put(f);
    return false;
  }
  f->meta.ts_ns = now_ns;
  f->meta.in_port = port->port_id();
  batch.add(f);
  last_ = f;
  last_port_ = port;
  return true;
}

TunnelBackend* TunnelSocket::port_for(uint32_t vni, const IpAddr& src) {
  bool vni_known = false;
  for (TunnelBackend* b : ports_) {
    if (b->accepts(vni, src)) return b;
    if (b->accepts(vni, IpAddr{})) vni_known = true;
  }
  (vni_known ? counters_.unknown_remote : counters_.unknown_vni).fetch_add(1, std::memory_order_relaxed);
  return nullptr;
}

bool TunnelSocket::deliver_upcall(net::Frame* f, uint32_t vni, const IpAddr& src, net::FramePool& pool,
                                  net::FrameBatch& batch, uint64_t now_ns) {
  counters_.rx_packets.fetch_add(1, std::memory_order_relaxed);
  TunnelBackend* port = port_for(vni, src);
  // The kernel checked the VXLAN header, merged TCP segments and says in
  // the frame's virtio header what it left partial: nothing to repair.
  if (!port || !port->admit(*f, vni, src, now_ns)) {
    pool.put(f);
    return false;
  }
  f->meta.tun.vni = vni;
  f->meta.tun.family = static_cast<uint8_t>(src.family);
  f->meta.tun.remote = src.b;
  f->meta.ts_ns = now_ns;
  f->meta.in_port = port->port_id();
  batch.add(f);
  return true;
}

uint32_t TunnelSocket::receive_udp(net::FrameBatch& batch, net::FramePool& pool, uint64_t now_ns) {
  if (rx_buf_.empty()) rx_buf_.resize(kRxBufs * kRxBufLen);
  last_ = nullptr;  // the caller owns the frames of earlier batches
  uint32_t added = 0;
  while (!batch.full()) {
    if (pend_i_ == pend_n_) {
      mmsghdr msgs[kRxBufs];
      iovec iov[kRxBufs];
      sockaddr_storage from[kRxBufs];
      alignas(cmsghdr) uint8_t ctl[kRxBufs][CMSG_SPACE(sizeof(int))];
      for (size_t i = 0; i < kRxBufs; ++i) {
        iov[i] = {rx_buf_.data() + i * kRxBufLen, kRxBufLen};
        std::memset(&msgs[i], 0, sizeof(mmsghdr));
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        msgs[i].msg_hdr.msg_name = &from[i];
        msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
        msgs[i].msg_hdr.msg_control = ctl[i];
        msgs[i].msg_hdr.msg_controllen = sizeof ctl[i];
      }
      // SAFETY: recvmmsg writes into rx_buf_ (kRxBufs x kRxBufLen), the addresses and control buffers above.
      const int got = recvmmsg(rx_fd_, msgs, kRxBufs, MSG_DONTWAIT, nullptr);
      if (got <= 0) break;
      pend_n_ = static_cast<uint32_t>(got);
      pend_i_ = 0;
      pend_off_ = 0;
      for (uint32_t i = 0; i < pend_n_; ++i) {
        pend_len_[i] = msgs[i].msg_len;
        pend_src_[i] = from_sockaddr(from[i]);
        pend_seg_[i] = 0;
        for (cmsghdr* c = CMSG_FIRSTHDR(&msgs[i].msg_hdr); c; c = CMSG_NXTHDR(&msgs[i].msg_hdr, c))
          if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
            int seg = 0;
            std::memcpy(&seg, CMSG_DATA(c), sizeof seg);
            pend_seg_[i] = static_cast<uint16_t>(seg);
          }
      }
    }
    const uint32_t m = pend_i_;
    const size_t total = pend_len_[m];
    const size_t seg = pend_seg_[m] ? pend_seg_[m] : total;
    const size_t len = std::min(seg, total - pend_off_);
    if (len) added += deliver(rx_buf_.data() + m * kRxBufLen + pend_off_, len, pend_src_[m], nullptr, pool, batch, now_ns);
    pend_off_ += len;
    if (!len || pend_off_ >= total) {
      ++pend_i_;
      pend_off_ = 0;
    }
  }
  return added;
}

uint32_t TunnelSocket::receive_raw(net::FrameBatch& batch, net::FramePool& pool, uint64_t now_ns) {
  last_ = nullptr;  // read in place: no merging
  constexpr uint32_t kMax = net::kBatchSize;
  net::Frame* frames[kMax];
  mmsghdr msgs[kMax];
  iovec iov[kMax];
  sockaddr_storage from[kMax];
  uint32_t want = 0;
  while (want < kMax - batch.count) {
    net::Frame* f = pool.get();
    if (!f) break;
    frames[want] = f;
    iov[want] = {f->data(), f->tailroom()};
    std::memset(&msgs[want], 0, sizeof(mmsghdr));
    msgs[want].msg_hdr.msg_iov = &iov[want];
    msgs[want].msg_hdr.msg_iovlen = 1;
    msgs[want].msg_hdr.msg_name = &from[want];
    msgs[want].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
    ++want;
  }
  // SAFETY: recvmmsg writes into the frames' tailroom and the address array, all sized above.
  const int got = want ? recvmmsg(rx_fd_, msgs, want, MSG_DONTWAIT, nullptr) : 0;
  const uint32_t n = got > 0 ? static_cast<uint32_t>(got) : 0;
  uint32_t added = 0;
  for (uint32_t i = 0; i < want; ++i) {
    if (i >= n) {
      pool.put(frames[i]);
      continue;
    }
    if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {  // larger than a frame (a jumbo underlay): never cut
      counters_.too_long.fetch_add(1, std::memory_order_relaxed);
      pool.put(frames[i]);
      continue;
    }
    added += deliver(frames[i]->data(), msgs[i].msg_len, from_sockaddr(from[i]), frames[i], pool, batch, now_ns);
  }
  return added;
}

uint32_t TunnelSocket::send(size_t sock, mmsghdr* msgs, uint32_t n) {
  const int fd = send_fds_[sock];
  uint32_t i = 0, ok = 0;
  while (i < n) {
    // SAFETY: sendmmsg reads the n - i prepared messages the caller owns.
    const int r = sendmmsg(fd, msgs + i, n - i, MSG_DONTWAIT);
    if (r > 0) {
      i += static_cast<uint32_t>(r);
      ok += static_cast<uint32_t>(r);
      continue;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) break;  // the socket buffer is full: the rest fail
    msgs[i].msg_len = UINT32_MAX;                        // this one failed (unreachable, ...): skip it
    ++i;
  }
  for (uint32_t k = i; k < n; ++k) msgs[k].msg_len = UINT32_MAX;
  return ok;
}

// ---------------------------------------------------------------- the port

uint32_t tunnel_path_mtu(const TunnelConfig& c) {
  uint32_t mtu = 0;
  for (const auto& r : c.remotes)
    if (uint32_t m = route_mtu(r); m && (!mtu || m < mtu)) mtu = m;
  if (!mtu && !c.local.unset()) mtu = local_mtu(c.local);
  return mtu ? mtu : 1500;
}

uint32_t tunnel_inner_mtu(const TunnelConfig& c) {
  size_t hdr = 0;
  switch (c.type) {
    case TunnelType::kVxlan: hdr = net::kUdpHeaderLen + net::kVxlanHeaderLen; break;
    case TunnelType::kGeneve: hdr = net::kUdpHeaderLen + net::kGeneveHeaderLen; break;
    case TunnelType::kGre: hdr = c.has_key || c.nvgre ? 8 : 4; break;
  }
  const size_t over = ip_header_len(c.family()) + hdr + net::kEthHeaderLen;
  const uint32_t path = tunnel_path_mtu(c);
  return path > over ? static_cast<uint32_t>(path - over) : 0;
}

Result<std::unique_ptr<TunnelBackend>> TunnelBackend::open(const std::string& name, const TunnelConfig& c) {
  auto b = std::unique_ptr<TunnelBackend>(new TunnelBackend());
  b->name_ = name;
  b->cfg_ = c;
  const int family = c.family();
  uint16_t port = c.dst_port;
  if (!port) port = c.type == TunnelType::kGeneve ? net::kGenevePort : net::kVxlanPort;
  b->cfg_.dst_port = c.type == TunnelType::kGre ? 0 : port;
  auto sock = TunnelSocket::get(c.type, family, c.local, port);
  if (!sock) return Error{"port '" + name + "': " + sock.error().message};
  b->sock_ = std::move(*sock);

  b->path_mtu_ = tunnel_path_mtu(c);
  const size_t over = ip_header_len(family) + b->header_len() + net::kEthHeaderLen;
  b->inner_mtu_ = b->path_mtu_ > over ? static_cast<uint32_t>(b->path_mtu_ - over) : 0;

  // Allocated here, on the control thread, once: learning never allocates.
  b->table_ = std::make_unique<TunnelFdb>(c.max_learned, c.max_static, uint64_t{c.aging_s} * 1000000000ULL);
  return b;
}

TunnelBackend::~TunnelBackend() = default;

void TunnelBackend::attach(dp::Port& p) {
  port_ = &p;
  port_id_ = p.id;
  epoch_ = p.bridge ? p.bridge->epoch_counter() : nullptr;
  sock_->add_port(this);
}

void TunnelBackend::detach(dp::Port&) {
  sock_->remove_port(this);
  port_ = nullptr;
  epoch_ = nullptr;
}

size_t TunnelBackend::header_len() const {
  switch (cfg_.type) {
    case TunnelType::kVxlan: return net::kUdpHeaderLen + net::kVxlanHeaderLen;
    case TunnelType::kGeneve: return net::kUdpHeaderLen + net::kGeneveHeaderLen;
    case TunnelType::kGre: return cfg_.has_key || cfg_.nvgre ? 8 : 4;
  }
  return 0;
}

size_t TunnelBackend::build_header(uint8_t* out, uint32_t vni, uint32_t hash) const {
  switch (cfg_.type) {
    case TunnelType::kVxlan: net::vxlan_build(out, vni); return net::kVxlanHeaderLen;
    case TunnelType::kGeneve: return net::geneve_build(out, vni);
    case TunnelType::kGre:
      if (cfg_.nvgre) return net::gre_build(out, true, net::nvgre_key(vni, static_cast<uint8_t>(hash)));
      return net::gre_build(out, cfg_.has_key, vni);
  }
  return 0;
}

bool TunnelBackend::accepts(uint32_t vni, const IpAddr& src) const {
  uint32_t key = vni;
  if (cfg_.type == TunnelType::kGre && cfg_.nvgre) key = net::gre_vsid(vni);
  bool vni_ok;
  if (!cfg_.vni_map.empty()) {
    vni_ok = false;
    for (const auto& [vlan, v] : cfg_.vni_map) vni_ok |= v == key;
  } else {
    vni_ok = key == cfg_.vni;
  }
  if (!vni_ok) return false;
  if (src.unset() || cfg_.remote_flow) return true;
  return std::find(cfg_.remotes.begin(), cfg_.remotes.end(), src) != cfg_.remotes.end();
}

bool TunnelBackend::admit(net::Frame& f, uint32_t vni, const IpAddr& src, uint64_t now_ns) {
  if (cfg_.type == TunnelType::kGre && cfg_.nvgre) vni = net::gre_vsid(vni);
  if (cfg_.learning && f.len() >= net::kEthHeaderLen && !(f.data()[6] & 1)) {  // learn a unicast source
    const TunnelFdb::Learn l = table_->learn(vni, net::Mac::from_bytes(f.data() + 6).u64(), src, now_ns);
    if (l == TunnelFdb::Learn::kNew) learned_count_.store(table_->size(), std::memory_order_relaxed);
    if (l == TunnelFdb::Learn::kMoved) changed();  // the fast path's entries to it name its old remote
  }
  if (!cfg_.vni_map.empty()) {
    uint16_t vlan = 0;
    for (const auto& [vl, v] : cfg_.vni_map)
      if (v == vni) vlan = vl;
    if (!vlan) {
      if (port_) port_->counters.drop(dp::Drop::kUnmappedVni);
      return false;
    }
    if (!net::push_vlan(f, net::kEthTypeVlan, vlan)) {
      if (port_) port_->counters.drop(dp::Drop::kNoHeadroom);
      return false;
    }
    f.meta.tun.pushed = 1;
  }
  return true;
}

bool TunnelBackend::fast_tunnel(const net::Frame& f, uint64_t now_ns, dp::FastTunnel& t) const {
  if (!sock_->kernel() || cfg_.type != TunnelType::kVxlan || f.len() < net::kEthHeaderLen) return false;
  if (f.data()[0] & 1) return false;  // broadcast, multicast: head-end replication stays in kvnetd
  const std::optional<uint32_t> vni = vni_of(f);
  if (!vni) return false;
  t = dp::FastTunnel{};
  t.vni = *vni;
  t.strip = cfg_.vni_map.empty() ? 0 : 1;  // a vni_map's tag names the VNI, and goes
  const IpAddr* to = lookup(t.vni, net::Mac::from_bytes(f.data()), now_ns);
  if (!to) return false;  // unknown: flooded to every remote
  t.v6 = to->family == AF_INET6;
  t.csum = t.v6 || cfg_.csum;
  t.ttl = static_cast<uint8_t>(cfg_.ttl);
  t.tos = static_cast<uint8_t>(cfg_.tos);
  t.remote = to->b;
  if (!cfg_.local.unset()) t.local = cfg_.local.b;
  t.mtu = inner_mtu_;
  return true;
}

void TunnelBackend::fast_touch(const net::TunMeta& tun, uint64_t mac, uint64_t now_ns) {
  if (!cfg_.learning || tun.family == 0) return;
  IpAddr src;
  src.family = tun.family;
  src.b = tun.remote;
  table_->learn(tun.vni, mac, src, now_ns);  // the same remote: refreshed
}

const IpAddr* TunnelBackend::lookup(uint32_t vni, const net::Mac& dst, uint64_t now_ns) const {
  return table_->lookup(vni, dst.u64(), now_ns);
}

std::span<const IpAddr> TunnelBackend::flood_list() const {
  if (cfg_.remote_flow) return table_->flood();
  return cfg_.remotes;
}

std::span<const IpAddr> TunnelBackend::flood_list(uint32_t vni) const {
  if (cfg_.remote_flow && !cfg_.learning) return table_->static_flood(vni);
  return flood_list();
}

std::optional<uint32_t> TunnelBackend::vni_of(const net::Frame& f) const {
  if (cfg_.vni_map.empty()) return cfg_.vni;
  if (f.len() < net::kEthHeaderLen + net::kVlanTagLen || net::load_be16(f.data() + 12) != net::kEthTypeVlan)
    return std::nullopt;
  const auto it = cfg_.vni_map.find(net::load_be16(f.data() + 14) & 0x0fff);
  if (it == cfg_.vni_map.end()) return std::nullopt;
  return it->second;
}

std::optional<uint32_t> TunnelBackend::egress_vni(net::Frame& f) {
  const std::optional<uint32_t> vni = vni_of(f);
  if (vni && !cfg_.vni_map.empty()) net::pop_vlan(f);
  return vni;
}

// Sending. Each (frame, destination) pair is an entry: the tunnel header and
// the frame, two iovecs. Over UDP, consecutive entries to the same remote
// whose payloads have the same size (the last may be shorter: the tail of a
// TCP super-frame the datapath cut into segments) share one message with
// UDP_SEGMENT, so the kernel handles them as one GSO packet down to the
// device (and a peer with UDP_GRO receives them as one).
uint32_t TunnelBackend::send(net::FrameBatch& batch, net::FramePool& pool) {
  constexpr uint32_t kMaxEntries = 256;
  constexpr uint32_t kMaxGsoSegments = 64;
  constexpr size_t kMaxGsoBytes = 60000;  // UDP payload of one GSO message, below 64 KiB with headers
  constexpr size_t kCtlLen = CMSG_SPACE(sizeof(int)) * 2 + CMSG_SPACE(sizeof(uint16_t));
  mmsghdr msgs[kMaxEntries];
  iovec iov[kMaxEntries * 2];
  uint8_t hdrs[kMaxEntries][net::kGreMaxHeaderLen];
  sockaddr_storage dst[kMaxEntries];
  alignas(cmsghdr) uint8_t ctl[kMaxEntries][kCtlLen];
  uint16_t first_frame[kMaxEntries], last_frame[kMaxEntries];
  bool failed[net::kBatchSize] = {};

  const bool v6 = sock_->family() == AF_INET6;
  const bool gso = sock_->gso(cfg_.csum);
  const uint16_t dport = cfg_.dst_port;
  const size_t outer = ip_header_len(sock_->family()) + header_len();
  uint32_t nent = 0, nmsg = 0;
  size_t cur_sock = 0;
  uint32_t handled = 0;  // frames sent, or dropped here with their own reason
  // The message being built: its segment size, and whether it is closed (a
  // shorter last segment was added).
  size_t seg_size = 0;
  uint32_t segs = 0;
  size_t msg_bytes = 0;
  bool closed = true;
  const IpAddr* msg_to = nullptr;

  auto finish_msg = [&] {
    if (!nmsg) return;
    mmsghdr& m = msgs[nmsg - 1];
    msghdr tmp{};
    tmp.msg_control = ctl[nmsg - 1];
    tmp.msg_controllen = kCtlLen;
    cmsghdr* c = CMSG_FIRSTHDR(&tmp);
    c->cmsg_level = v6 ? IPPROTO_IPV6 : IPPROTO_IP;
    c->cmsg_type = v6 ? IPV6_HOPLIMIT : IP_TTL;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &cfg_.ttl, sizeof(int));
    c = CMSG_NXTHDR(&tmp, c);
    c->cmsg_level = v6 ? IPPROTO_IPV6 : IPPROTO_IP;
    c->cmsg_type = v6 ? IPV6_TCLASS : IP_TOS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &cfg_.tos, sizeof(int));
    size_t len = 2 * CMSG_SPACE(sizeof(int));
    if (segs > 1) {
      c = CMSG_NXTHDR(&tmp, c);
      c->cmsg_level = SOL_UDP;
      c->cmsg_type = UDP_SEGMENT;
      c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
      const uint16_t gso = static_cast<uint16_t>(seg_size);
      std::memcpy(CMSG_DATA(c), &gso, sizeof gso);
      len += CMSG_SPACE(sizeof(uint16_t));
    }
    m.msg_hdr.msg_control = ctl[nmsg - 1];
    m.msg_hdr.msg_controllen = len;
    closed = true;
  };
  auto flush = [&] {
    finish_msg();
    if (!nmsg) return;
    sock_->send(cur_sock, msgs, nmsg);
    for (uint32_t k = 0; k < nmsg; ++k)
      if (msgs[k].msg_len == UINT32_MAX)
        for (uint32_t f = first_frame[k]; f <= last_frame[k]; ++f) failed[f] = true;
    nmsg = nent = 0;
  };
  auto drop = [&](dp::Drop why) {
    if (port_) port_->counters.drop(why);
    ++handled;
  };

  uint64_t now = 0;
  // A vni_map pops the frame's tag: it leaves 4 bytes shorter.
  const size_t popped = cfg_.vni_map.empty() ? 0 : net::kVlanTagLen;
  const size_t max_len = path_mtu_ > outer ? path_mtu_ - outer + popped : 0;
  for (uint32_t i = 0; i < batch.count; ++i) {
    net::Frame* f = batch[i];
    if (f->len() > max_len) [[unlikely]] {
      // Counted, and answered as a router would (before the tag is popped,
      // so that the reply is switched back in the frame's VLAN).
      drop(dp::Drop::kTooBig);
      if (port_ && !port_->bounced.full() && net::reply_too_big(*f, max_len, port_->icmp_limit)) {
        port_->bounced.add(f);
        batch.frames[i] = nullptr;
      }
      continue;
    }
    const std::optional<uint32_t> vni = egress_vni(*f);
    if (!vni) {
      drop(dp::Drop::kUnmappedVlan);
      continue;
    }
    const uint32_t hash = net::inner_flow_hash(f->data(), f->len());
    // Where to: the remote of a known unicast, else the flood list.
    const IpAddr* one = nullptr;
    if (!(f->data()[0] & 1)) {
      if (!now) now = monotonic_ns();
      one = lookup(*vni, net::Mac::from_bytes(f->data()), now);
    }
    const std::span<const IpAddr> flood = flood_list(*vni);
    const uint32_t fanout = one ? 1 : static_cast<uint32_t>(flood.size());
    if (!fanout) {
      drop(dp::Drop::kNoRemote);
      continue;
    }
    const size_t sock = sock_->send_socket(hash, cfg_.csum);
    if (sock != cur_sock || nent + fanout > kMaxEntries) {
      flush();
      cur_sock = sock;
    }
    for (uint32_t r = 0; r < fanout; ++r) {
      const IpAddr& to = fanout == 1 && one ? *one : flood[r];
      const uint32_t e = nent++;
      const size_t hl = build_header(hdrs[e], *vni, hash);
      iov[2 * e] = {hdrs[e], hl};
      iov[2 * e + 1] = {f->data(), f->len()};
      const size_t size = hl + f->len();
      const bool joins = gso && fanout == 1 && !closed && msg_to && *msg_to == to && size <= seg_size &&
                         segs < kMaxGsoSegments && msg_bytes + size <= kMaxGsoBytes;
      if (joins) {
        msgs[nmsg - 1].msg_hdr.msg_iovlen += 2;
        last_frame[nmsg - 1] = static_cast<uint16_t>(i);
        ++segs;
        msg_bytes += size;
        if (size < seg_size) closed = true;  // only the last segment may be shorter
        continue;
      }
      finish_msg();
      const uint32_t m = nmsg++;
      std::memset(&msgs[m], 0, sizeof(mmsghdr));
      msgs[m].msg_hdr.msg_name = &dst[m];
      msgs[m].msg_hdr.msg_namelen = to_sockaddr(to, dport, dst[m]);
      msgs[m].msg_hdr.msg_iov = &iov[2 * e];
      msgs[m].msg_hdr.msg_iovlen = 2;
      first_frame[m] = last_frame[m] = static_cast<uint16_t>(i);
      seg_size = size;
      segs = 1;
      msg_bytes = size;
      closed = false;
      msg_to = fanout == 1 ? &to : nullptr;
    }
    ++handled;
  }
  flush();
  uint32_t fails = 0;
  for (uint32_t i = 0; i < batch.count; ++i) {
    fails += failed[i];
    if (batch[i]) pool.put(batch[i]);  // null: it became an ICMP reply (port_->bounced)
  }
  batch.clear();
  return handled - fails;
}

std::string TunnelBackend::explain(const net::Frame& f) const {
  std::string vni_text;
  uint32_t vni = cfg_.vni;
  if (!cfg_.vni_map.empty()) {
    if (f.len() < net::kEthHeaderLen + net::kVlanTagLen || net::load_be16(f.data() + 12) != net::kEthTypeVlan)
      return "would drop it: an untagged frame has no VNI in the vni_map";
    const uint16_t vlan = net::load_be16(f.data() + 14) & 0x0fff;
    const auto it = cfg_.vni_map.find(vlan);
    if (it == cfg_.vni_map.end()) return "would drop it: VLAN " + std::to_string(vlan) + " is not in the vni_map";
    vni = it->second;
    vni_text = " (VLAN " + std::to_string(vlan) + " popped)";
  }
  // send() hashes the frame as it leaves: with a vni_map, its tag popped.
  std::vector<uint8_t> untagged;
  if (!cfg_.vni_map.empty()) {
    untagged.assign(f.data(), f.data() + 12);
    untagged.insert(untagged.end(), f.data() + 12 + net::kVlanTagLen, f.data() + f.len());
  }
  const uint8_t* inner_data = untagged.empty() ? f.data() : untagged.data();
  const size_t inner = untagged.empty() ? f.len() : untagged.size();
  const size_t total = inner + ip_header_len(sock_->family()) + header_len();
  const uint32_t hash = net::inner_flow_hash(inner_data, inner);
  std::string out = std::string(to_string(cfg_.type));
  if (cfg_.type == TunnelType::kGre) {
    if (cfg_.nvgre) out += " (nvgre) vsid " + std::to_string(vni) + " flowid " + std::to_string(hash & 0xff);
    else if (cfg_.has_key) out += " key " + std::to_string(vni);
  } else {
    out += " vni " + std::to_string(vni);
  }
  out += vni_text + ": outer " + std::string(sock_->family() == AF_INET6 ? "IPv6" : "IPv4") + " " +
         or_any(cfg_.local, sock_->family()).str() + " -> ";
  std::vector<std::string> to;
  std::string why;
  const IpAddr* one = nullptr;
  if (!(f.data()[0] & 1)) one = lookup(vni, net::Mac::from_bytes(f.data()), monotonic_ns());
  if (one) {
    to.push_back(one->str());
    why = "learned or static remote of " + net::Mac::from_bytes(f.data()).str();
  } else {
    const bool per_vni = cfg_.remote_flow && !cfg_.learning;
    for (const auto& a : flood_list(vni)) to.push_back(a.str());
    why = (f.data()[0] & 1) ? "broadcast/multicast: head-end replication" : "unknown unicast: flooded to every remote";
    if (per_vni) why += " of VNI " + std::to_string(vni) + " (the VTEPs with a station in it)";
  }
  if (to.empty()) return out + "(none): would drop it, no remote known (no_remote)";
  for (size_t i = 0; i < to.size(); ++i) out += (i ? ", " : "") + to[i];
  if (cfg_.type != TunnelType::kGre)
    out += ", UDP " + std::to_string(sock_->src_port(sock_->send_socket(hash, cfg_.csum))) + " -> " + std::to_string(cfg_.dst_port);
  else
    out += ", IP protocol 47";
  out += ", ttl " + std::to_string(cfg_.ttl) + ", tos " + std::to_string(cfg_.tos) + ", DF; " +
         std::to_string(total) + " bytes on the underlay";
  if (total > path_mtu_)
    out += ": would drop it, over the path MTU " + std::to_string(path_mtu_) +
           " (too_big; an IPv4 packet with DF or an IPv6 one is answered with ICMP fragmentation needed / packet too big)";
  return out + " [" + why + "]";
}

std::string TunnelBackend::describe() const {
  std::string out = std::string(to_string(cfg_.type));
  if (cfg_.type == TunnelType::kGre)
    out += cfg_.nvgre ? " nvgre vsid " + std::to_string(cfg_.vni) : cfg_.has_key ? " key " + std::to_string(cfg_.vni) : "";
  else if (cfg_.vni_map.empty())
    out += " vni " + std::to_string(cfg_.vni);
  if (!cfg_.vni_map.empty()) {
    out += " vni_map";
    for (const auto& [vlan, v] : cfg_.vni_map) out += " " + std::to_string(vlan) + ":" + std::to_string(v);
  }
  out += " remote ";
  if (cfg_.remote_flow) out += "flow";
  for (size_t i = 0; i < cfg_.remotes.size(); ++i) out += (i ? "," : "") + cfg_.remotes[i].str();
  out += " via " + sock_->describe() + ", path mtu " + std::to_string(path_mtu_) + ", inner mtu " +
         std::to_string(inner_mtu_) + ", learned " + std::to_string(learned_count()) + " MAC(s)";
  const TunnelFdb::Stats& st = table_->stats();  // datapath-written counters: a torn read cannot occur on x86-64
  if (st.evicted || st.full || st.static_full)
    out += " (table of " + std::to_string(cfg_.max_learned) + " full: " + std::to_string(st.evicted) + " evicted, " +
           std::to_string(st.full) + " not learned, " + std::to_string(st.static_full) + " static refused)";
  return out;
}

std::string TunnelBackend::remote_of(uint16_t vlan, uint64_t mac) const {
  uint32_t vni = cfg_.vni;
  if (!cfg_.vni_map.empty()) {
    const auto it = cfg_.vni_map.find(vlan);
    if (it == cfg_.vni_map.end()) return "";
    vni = it->second;
  }
  const IpAddr* a = table_->find(vni, mac);  // aged or not: the last known remote
  return a ? a->str() : "";
}

void TunnelBackend::set_static_remote(uint16_t vlan, uint64_t mac, const std::string& remote) {
  uint32_t vni = cfg_.vni;
  if (!cfg_.vni_map.empty()) {
    const auto it = cfg_.vni_map.find(vlan);
    if (it == cfg_.vni_map.end()) return;
    vni = it->second;
  }
  if (remote.empty()) {
    table_->remove_static(vni, mac);
  } else if (auto a = IpAddr::parse(remote)) {
    table_->set_static(vni, mac, *a);  // refused past max_static: counted in its stats (describe)
  }
  changed();
  learned_count_.store(table_->size(), std::memory_order_relaxed);
}

}  // namespace kvnet::io
