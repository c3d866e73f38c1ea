#include "io/af_packet.h"

#include <arpa/inet.h>
#include <linux/if_arp.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "io/netdev.h"
#include "net/headers.h"
#include "net/vlan_ops.h"

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif

namespace kvnet::io {
namespace {

std::string arphrd_name(int t) {
  switch (t) {
    case ARPHRD_LOOPBACK: return "loopback";
    case ARPHRD_NONE: return "none (a layer-3 tun or wireguard device)";
    case ARPHRD_IPGRE: return "ipgre";
    case ARPHRD_TUNNEL: return "ipip";
    case ARPHRD_TUNNEL6: return "ip6tnl";
    case ARPHRD_SIT: return "sit";
    case ARPHRD_INFINIBAND: return "infiniband";
    default: return std::to_string(t);
  }
}

}  // namespace

Result<std::unique_ptr<AfPacketBackend>> AfPacketBackend::open(const std::string& ifname) {
  auto b = std::unique_ptr<AfPacketBackend>(new AfPacketBackend());
  b->name_ = ifname;
  b->ifindex_ = if_index(ifname);
  if (b->ifindex_ == 0) return Error{"interface '" + ifname + "' does not exist"};
  // A bridge port carries Ethernet frames: loopback, tun (no L2 header),
  // GRE or IPIP devices would get frames they cannot mean.
  if (auto t = if_hw_type(ifname); t && *t != ARPHRD_ETHER)
    return Error{"interface '" + ifname + "' is not an Ethernet interface (link type " + arphrd_name(*t) +
                 "): only Ethernet devices can be bridge ports"};
  b->fd_ = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
  if (b->fd_ < 0) return Error{"interface '" + ifname + "': AF_PACKET socket: " + std::strerror(errno)};
  const int one = 1;
  auto opt = [&](int level, int name, const void* v, socklen_t len, const char* what) -> Status {
    // SAFETY: setsockopt reads `len` bytes from `v`, a local of that size at every call site.
    if (setsockopt(b->fd_, level, name, v, len) < 0)
      return Error{"interface '" + ifname + "': " + what + ": " + std::strerror(errno)};
    return Ok{};
  };
  if (auto s = opt(SOL_PACKET, PACKET_VNET_HDR, &one, sizeof one, "PACKET_VNET_HDR"); !s) return s.error();
  if (auto s = opt(SOL_PACKET, PACKET_AUXDATA, &one, sizeof one, "PACKET_AUXDATA"); !s) return s.error();
  if (auto s = opt(SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one, "PACKET_IGNORE_OUTGOING"); !s)
    return s.error();
  const int buf = 8 << 20;
  // SAFETY: both read one int from a local of that size. Best effort: the defaults still work.
  setsockopt(b->fd_, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof buf);
  setsockopt(b->fd_, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof buf);
  sockaddr_ll sll{};
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_ALL);
  sll.sll_ifindex = b->ifindex_;
  // SAFETY: bind reads the sockaddr_ll we own, of the size we pass.
  if (bind(b->fd_, reinterpret_cast<sockaddr*>(&sll), sizeof sll) < 0)
    return Error{"interface '" + ifname + "': bind: " + std::strerror(errno)};
  packet_mreq mr{};
  mr.mr_ifindex = b->ifindex_;
  mr.mr_type = PACKET_MR_PROMISC;
  if (auto s = opt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr, "promiscuous mode"); !s) return s.error();
  if (auto s = if_set_up(ifname, true); !s) return s.error();
  return b;
}

AfPacketBackend::~AfPacketBackend() {
  if (fd_ >= 0) ::close(fd_);  // closing drops the promiscuous membership
}

uint32_t AfPacketBackend::receive(net::FrameBatch& batch, net::FramePool& pool, uint64_t now_ns) {
  constexpr size_t kMax = net::kBatchSize;
  mmsghdr msgs[kMax];
  iovec iov[kMax][2];
  alignas(cmsghdr) char ctrl[kMax][CMSG_SPACE(sizeof(tpacket_auxdata))];
  net::Frame* frames[kMax];
  const size_t want = kMax - batch.count;
  size_t n = 0;
  for (; n < want; ++n) {
    frames[n] = pool.get();
    if (!frames[n]) break;
    // Data starts after the headroom, so a tag the driver took out can be put back.
    net::Frame* f = frames[n];
    iov[n][0] = {&f->meta.vnet, sizeof(net::VnetHdr)};
    iov[n][1] = {f->data(), f->tailroom()};
    msgs[n] = mmsghdr{};
    msgs[n].msg_hdr.msg_iov = iov[n];
    msgs[n].msg_hdr.msg_iovlen = 2;
    msgs[n].msg_hdr.msg_control = ctrl[n];
    msgs[n].msg_hdr.msg_controllen = sizeof ctrl[n];
  }
  if (n == 0) return 0;
  // SAFETY: each message scatters into a header and a frame's own tailroom.
  const int got = recvmmsg(fd_, msgs, static_cast<unsigned>(n), MSG_DONTWAIT, nullptr);
  if (got < 0 && errno != EAGAIN && errno != EINTR) {
    // ENETDOWN: the interface went down (the kernel re-arms us when it comes
    // back up) or was deleted (it never will): tell the two apart.
    if (if_index(name_) != ifindex_) failed_ = true;
  }
  const size_t used = got > 0 ? static_cast<size_t>(got) : 0;
  for (size_t i = used; i < n; ++i) pool.put(frames[i]);
  uint32_t added = 0;
  for (size_t i = 0; i < used; ++i) {
    net::Frame* f = frames[i];
    const size_t len = msgs[i].msg_len;
    if (len < sizeof(net::VnetHdr) || (msgs[i].msg_hdr.msg_flags & MSG_TRUNC)) {  // runt or bigger than a frame
      pool.put(f);
      continue;
    }
    f->set_len(len - sizeof(net::VnetHdr));
    f->meta.ts_ns = now_ns;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msgs[i].msg_hdr); c; c = CMSG_NXTHDR(&msgs[i].msg_hdr, c)) {
      if (c->cmsg_level != SOL_PACKET || c->cmsg_type != PACKET_AUXDATA) continue;
      tpacket_auxdata aux;
      std::memcpy(&aux, CMSG_DATA(c), sizeof aux);
      if ((aux.tp_status & TP_STATUS_VLAN_VALID) && f->len() >= 12) {
        const uint16_t tpid = (aux.tp_status & TP_STATUS_VLAN_TPID_VALID) ? aux.tp_vlan_tpid : net::kEthTypeVlan;
        net::push_vlan(*f, tpid, aux.tp_vlan_tci);  // the key is parsed later; offsets are zero here
      }
    }
    batch.add(f);
    ++added;
  }
  return added;
}

uint32_t AfPacketBackend::send(net::FrameBatch& batch, net::FramePool& pool) {
  mmsghdr msgs[net::kBatchSize];
  iovec iov[net::kBatchSize][2];
  const uint32_t n = batch.count;
  for (uint32_t i = 0; i < n; ++i) {
    net::Frame* f = batch[i];
    iov[i][0] = {&f->meta.vnet, sizeof(net::VnetHdr)};
    iov[i][1] = {f->data(), f->len()};
    msgs[i] = mmsghdr{};
    msgs[i].msg_hdr.msg_iov = iov[i];
    msgs[i].msg_hdr.msg_iovlen = 2;
  }
  uint32_t i = 0, ok = 0;
  while (i < n) {
    // SAFETY: the kernel reads n - i headers from msgs + i; each gathers from a
    // VnetHdr and a frame's first len() bytes, all owned by the batch until put().
    const int r = sendmmsg(fd_, msgs + i, n - i, MSG_DONTWAIT);
    if (r > 0) {
      i += static_cast<uint32_t>(r);
      ok += static_cast<uint32_t>(r);
    } else if (r < 0 && errno == EINTR) {
      continue;
    } else if (r < 0 && (errno == EAGAIN || errno == ENOBUFS)) {
      break;  // queue full: the rest are tx errors
    } else {
      ++i;  // the kernel refused this frame: skip it
    }
  }
  pool.put(batch);
  return ok;
}

int AfPacketBackend::if_index_of_name() const { return if_index(name_); }

std::string AfPacketBackend::describe() const {
  return "system " + name_ + " ifindex " + std::to_string(ifindex_);
}

}  // namespace kvnet::io
