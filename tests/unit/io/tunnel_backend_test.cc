// Tunnel ports on real sockets (io/tunnel.h): frames a datapath floods into a
// vxlan, geneve or gre port come out of a peer endpoint's shared socket as
// they went in, for the right port, and teach the peer where the sender is;
// the bytes on the wire; how one socket tells ports apart and counts what
// belongs to none; vni_map tagging; remote_ip=flow; too_big; explain().
//
// Every endpoint is on loopback. All of 127.0.0.0/8 is local, so each test
// process uses addresses of its own, 127.P.Q.h with P.Q from its pid, and
// each test its own host numbers h: tests running in parallel (ctest -j)
// never share an endpoint. GRE needs raw sockets (root); without them those
// tests are skipped.
#include "io/tunnel.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <optional>
#include <string>

#include "base/clock.h"
#include "io/runtime.h"
#include "net/bytes.h"
#include "net/tunnel.h"
#include "testing.h"

namespace kvnet::io {
namespace {

using testing::Bytes;
using testing::eth;

constexpr uint64_t kMacA = 0x020000000a01, kMacB = 0x020000000b02, kMacC = 0x020000000c03;
constexpr uint64_t kBcast = 0xffffffffffff;

// 127.P.Q.host, P.Q from the pid.
std::string lo(int host) {
  const unsigned pid = static_cast<unsigned>(getpid());
  return "127." + std::to_string((pid >> 8) & 0xff) + "." + std::to_string(pid & 0xff) + "." + std::to_string(host);
}
// An unusual UDP port, also from the pid.
uint16_t test_port() { return static_cast<uint16_t>(47000 + getpid() % 1000); }

IpAddr addr(const std::string& s) {
  auto a = IpAddr::parse(s);
  EXPECT_TRUE(a.has_value()) << s;
  return a.value_or(IpAddr{});
}

bool can_open_raw() {
  const int fd = socket(AF_INET, SOCK_RAW, net::kIpProtoGre);
  if (fd < 0) return false;
  close(fd);
  return true;
}
#define REQUIRE_RAW_SOCKETS()                                                      \
  do {                                                                             \
    if (!can_open_raw()) GTEST_SKIP() << "raw GRE sockets need CAP_NET_RAW (root)"; \
  } while (0)

TunnelConfig config(TunnelType t, int local, std::vector<int> remotes, uint32_t vni) {
  TunnelConfig c;
  c.type = t;
  c.local = addr(lo(local));
  for (int r : remotes) c.remotes.push_back(addr(lo(r)));
  c.vni = vni;
  c.has_key = true;
  c.dst_port = test_port();
  return c;
}

// Opens a tunnel backend and adds it to `br` as port `name` (the datapath
// attaches it); returns the backend, which the port owns.
TunnelBackend* add_tunnel(testing::Harness& h, dp::Bridge& br, const std::string& name, const TunnelConfig& c,
                          dp::VlanConfig vlan = {}) {
  auto b = TunnelBackend::open(name, c);
  if (!b.ok()) {
    ADD_FAILURE() << "open " << name << ": " << b.error().message;
    return nullptr;
  }
  TunnelBackend* raw = b->get();
  h.dp.add_port(br, name, dp::KindTag{to_string(c.type)}, 1500, vlan, std::move(*b));
  return raw;
}

TunnelSocket& socket_of(TunnelBackend& b) {
  auto* s = dynamic_cast<TunnelSocket*>(b.shared_rx());
  EXPECT_NE(s, nullptr);
  return *s;
}

// Receives from `src` into `batch` until `done()` holds; false after 2 s.
template <typename Done>
bool pump_until(dp::RxSource& src, net::FrameBatch& batch, net::FramePool& pool, Done done) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    pollfd p{src.fd(), POLLIN, 0};
    (void)poll(&p, 1, 20);
    src.receive(batch, pool, monotonic_ns());
  }
  return true;
}
bool pump(dp::RxSource& src, net::FrameBatch& batch, net::FramePool& pool, uint32_t want = 1) {
  return pump_until(src, batch, pool, [&] { return batch.count >= want; });
}

// Runs received frames through the ports they are for, as io::Runtime does.
void deliver(dp::Datapath& d, net::FrameBatch& batch) {
  for (uint32_t i = 0; i < batch.count; ++i) {
    const uint32_t id = batch[i]->meta.in_port;
    ASSERT_LT(id, d.ports().size());
    ASSERT_NE(d.ports()[id], nullptr);
    net::FrameBatch one;
    one.add(batch[i]);
    d.receive(*d.ports()[id], one);
  }
  batch.clear();
}

Bytes bytes_of(const net::Frame& f) { return Bytes(f.data(), f.data() + f.len()); }

// Sends `frames` straight through a backend (not through a bridge).
uint32_t send_direct(dp::Datapath& d, TunnelBackend& b, const std::vector<Bytes>& frames) {
  net::FrameBatch batch;
  for (const Bytes& fr : frames) {
    net::Frame* f = d.pool().get();
    f->assign(fr.data(), fr.size());
    batch.add(f);
  }
  const uint32_t n = b.send(batch, d.pool());
  EXPECT_EQ(batch.count, 0u) << "send() leaves the batch empty";
  return n;
}

// A plain socket on a loopback address: the "remote" of a tunnel, to see
// and to forge what is on the wire.
class Peer {
 public:
  // UDP bound to (host, port); GRE (port 0): a raw IP socket for protocol 47.
  Peer(int host, uint16_t port, bool gre = false) : addr_(lo(host)) {
    fd_ = gre ? socket(AF_INET, SOCK_RAW, net::kIpProtoGre) : socket(AF_INET, SOCK_DGRAM, 0);
    EXPECT_GE(fd_, 0) << std::strerror(errno);
    const int one = 1;
    setsockopt(fd_, IPPROTO_IP, IP_RECVTTL, &one, sizeof one);
    setsockopt(fd_, IPPROTO_IP, IP_RECVTOS, &one, sizeof one);
    sockaddr_in sa = sockaddr(addr_, port);
    EXPECT_EQ(bind(fd_, reinterpret_cast<::sockaddr*>(&sa), sizeof sa), 0) << addr_ << ":" << port << ": "
                                                                           << std::strerror(errno);
    // A raw socket takes packets to every local address until it is bound.
    uint8_t byte;
    while (::recv(fd_, &byte, 1, MSG_DONTWAIT | MSG_TRUNC) >= 0) {
    }
  }
  ~Peer() { close(fd_); }
  Peer(const Peer&) = delete;
  Peer& operator=(const Peer&) = delete;

  static sockaddr_in sockaddr(const std::string& a, uint16_t port) {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    inet_pton(AF_INET, a.c_str(), &sa.sin_addr);
    return sa;
  }

  void send_to(int host, uint16_t port, const Bytes& b) {
    sockaddr_in sa = sockaddr(lo(host), port);
    ASSERT_EQ(sendto(fd_, b.data(), b.size(), 0, reinterpret_cast<::sockaddr*>(&sa), sizeof sa),
              static_cast<ssize_t>(b.size()))
        << std::strerror(errno);
  }

  struct Got {
    Bytes data;
    std::string from;
    uint16_t from_port = 0;
    int ttl = -1;
    int tos = -1;
  };
  // The next datagram (for GRE: from its IP header on), or nothing within `ms`.
  std::optional<Got> recv(int ms = 2000) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, ms) <= 0) return std::nullopt;
    Got g;
    g.data.resize(65536);
    sockaddr_in from{};
    iovec iov{g.data.data(), g.data.size()};
    alignas(cmsghdr) char ctl[256];
    msghdr m{};
    m.msg_name = &from;
    m.msg_namelen = sizeof from;
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = ctl;
    m.msg_controllen = sizeof ctl;
    const ssize_t n = recvmsg(fd_, &m, MSG_DONTWAIT);
    if (n < 0) return std::nullopt;
    g.data.resize(static_cast<size_t>(n));
    char buf[INET_ADDRSTRLEN];
    g.from = inet_ntop(AF_INET, &from.sin_addr, buf, sizeof buf);
    g.from_port = ntohs(from.sin_port);
    for (cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
      if (c->cmsg_level != IPPROTO_IP) continue;
      if (c->cmsg_type == IP_TTL) std::memcpy(&g.ttl, CMSG_DATA(c), sizeof(int));
      if (c->cmsg_type == IP_TOS) g.tos = *CMSG_DATA(c);
    }
    return g;
  }

 private:
  std::string addr_;
  int fd_ = -1;
};

Bytes vxlan_packet(uint32_t vni, const Bytes& inner) {
  Bytes b(net::kVxlanHeaderLen);
  net::vxlan_build(b.data(), vni);
  b.insert(b.end(), inner.begin(), inner.end());
  return b;
}

uint32_t be24(const uint8_t* p) { return uint32_t{p[0]} << 16 | uint32_t{p[1]} << 8 | p[2]; }

// ------------------------------------------------------------ both ways

// Two hosts, A (port ta, behind it station kMacA on port ha) and B (port tb,
// kMacB on hb), each its own datapath: a broadcast from A reaches hb as sent,
// B learns kMacA behind A's address, and B's unicast answer goes to A alone.
void check_both_ways(TunnelConfig ca, TunnelConfig cb) {
  testing::Harness a(512), b(512);
  dp::Bridge& ba = a.bridge("ba", dp::BridgeType::kSwitch);
  dp::Bridge& bb = b.bridge("bb", dp::BridgeType::kSwitch);
  a.port(ba, "ha");
  b.port(bb, "hb");
  TunnelBackend* ta = add_tunnel(a, ba, "ta", ca);
  TunnelBackend* tb = add_tunnel(b, bb, "tb", cb);
  ASSERT_TRUE(ta && tb);
  const uint32_t ta_id = a.dp.find_port("ta")->id, tb_id = b.dp.find_port("tb")->id;
  EXPECT_NE(ta->shared_rx(), tb->shared_rx()) << "two endpoints, two sockets";
  EXPECT_EQ(ta->remote_count(), ca.remotes.size());  // a fixed flood list: kvnet_tunnel_remotes

  const Bytes hello = eth(kBcast, kMacA, {}, 0x0806, 60);
  a.send("ha", hello);
  EXPECT_EQ(a.counters("ta").tx_packets, 1u);
  EXPECT_EQ(a.counters("ta").total_drops(), 0u);

  net::FrameBatch got;
  ASSERT_TRUE(pump(*tb->shared_rx(), got, b.dp.pool())) << "nothing arrived at B";
  ASSERT_EQ(got.count, 1u);
  EXPECT_EQ(bytes_of(*got[0]), hello);
  EXPECT_EQ(got[0]->meta.in_port, tb_id);
  EXPECT_NE(got[0]->meta.ts_ns, 0u);
  // B learned where kMacA is: behind A's address.
  EXPECT_EQ(tb->remote_of(1, kMacA), ca.local.str());
  EXPECT_EQ(tb->learned_count(), 1u);
  EXPECT_NE(tb->describe().find("learned 1 MAC"), std::string::npos) << tb->describe();
  deliver(b.dp, got);
  auto at_hb = b.take("hb");
  ASSERT_EQ(at_hb.size(), 1u);
  EXPECT_EQ(at_hb[0], hello);
  EXPECT_EQ(b.counters("tb").rx_packets, 1u);

  // The answer is a known unicast: B sends it to A's address only.
  const Bytes answer = eth(kMacA, kMacB, {}, 0x0800, 300);
  net::FramePool pool(1);
  net::Frame* probe = pool.get();
  probe->assign(answer.data(), answer.size());
  const std::string why = tb->explain(*probe);
  EXPECT_NE(why.find(ca.local.str()), std::string::npos) << why;
  EXPECT_NE(why.find("learned or static remote"), std::string::npos) << why;
  b.send("hb", answer);
  EXPECT_EQ(b.counters("tb").tx_packets, 1u);
  EXPECT_EQ(b.counters("tb").total_drops(), 0u);
  ASSERT_TRUE(pump(*ta->shared_rx(), got, a.dp.pool())) << "nothing arrived at A";
  ASSERT_EQ(got.count, 1u);
  EXPECT_EQ(bytes_of(*got[0]), answer);
  EXPECT_EQ(got[0]->meta.in_port, ta_id);
  EXPECT_EQ(ta->remote_of(1, kMacB), cb.local.str());
  EXPECT_NE(ta->describe().find("learned 1 MAC"), std::string::npos) << ta->describe();
  deliver(a.dp, got);
  auto at_ha = a.take("ha");
  ASSERT_EQ(at_ha.size(), 1u);
  EXPECT_EQ(at_ha[0], answer);

  // Nothing else was received or refused on either side.
  for (TunnelBackend* t : {ta, tb}) {
    const TunnelSocketCounters& c = socket_of(*t).counters();
    EXPECT_EQ(c.rx_packets.load(), 1u);
    EXPECT_EQ(c.unknown_vni.load(), 0u);
    EXPECT_EQ(c.unknown_remote.load(), 0u);
    for (const auto& m : c.malformed) EXPECT_EQ(m.load(), 0u);
  }
}

TEST(TunnelBackend, VxlanBothWays) {
  check_both_ways(config(TunnelType::kVxlan, 11, {12}, 4242), config(TunnelType::kVxlan, 12, {11}, 4242));
}

TEST(TunnelBackend, GeneveBothWays) {
  check_both_ways(config(TunnelType::kGeneve, 21, {22}, 0xabcdef), config(TunnelType::kGeneve, 22, {21}, 0xabcdef));
}

TEST(TunnelBackend, GreWithKeyBothWays) {
  REQUIRE_RAW_SOCKETS();
  check_both_ways(config(TunnelType::kGre, 31, {32}, 0xdeadbeef), config(TunnelType::kGre, 32, {31}, 0xdeadbeef));
}

TEST(TunnelBackend, GreWithoutKeyBothWays) {
  REQUIRE_RAW_SOCKETS();
  TunnelConfig a = config(TunnelType::kGre, 33, {34}, 0), b = config(TunnelType::kGre, 34, {33}, 0);
  a.has_key = b.has_key = false;
  check_both_ways(a, b);
}

TEST(TunnelBackend, NvgreBothWays) {
  REQUIRE_RAW_SOCKETS();
  TunnelConfig a = config(TunnelType::kGre, 35, {36}, 0x123456), b = config(TunnelType::kGre, 36, {35}, 0x123456);
  a.nvgre = b.nvgre = true;
  check_both_ways(a, b);
}

// ------------------------------------------------------------ the wire

TEST(TunnelBackend, VxlanWireFormat) {
  const uint16_t port = test_port();
  Peer remote(43, port);
  testing::Harness h(64);
  dp::Bridge& br = h.bridge("b", dp::BridgeType::kSwitch);
  TunnelConfig c = config(TunnelType::kVxlan, 41, {43}, 0x123456);
  c.ttl = 7;
  c.tos = 0x20;
  TunnelBackend* t = add_tunnel(h, br, "t", c);
  ASSERT_TRUE(t);
  const Bytes frame = eth(kMacC, kMacA, {}, 0x0800, 100);
  EXPECT_EQ(send_direct(h.dp, *t, {frame}), 1u);
  auto got = remote.recv();
  ASSERT_TRUE(got.has_value()) << "nothing arrived";
  ASSERT_EQ(got->data.size(), net::kVxlanHeaderLen + frame.size());
  const uint8_t* p = got->data.data();
  EXPECT_EQ(p[0], 0x08) << "flags: I only";
  EXPECT_EQ(be24(p + 1), 0u) << "reserved";
  EXPECT_EQ(be24(p + 4), 0x123456u) << "VNI";
  EXPECT_EQ(p[7], 0) << "reserved";
  EXPECT_EQ(Bytes(p + 8, p + got->data.size()), frame);
  EXPECT_EQ(got->from, lo(41));
  EXPECT_GE(got->from_port, 49152);  // RFC 7348's range (the type holds at most 65535)
  // The source port is the one the inner flow hashes to.
  TunnelSocket& s = socket_of(*t);
  EXPECT_EQ(got->from_port, s.src_port(s.send_socket(net::inner_flow_hash(frame.data(), frame.size()), false)));
  EXPECT_EQ(got->ttl, 7);
  EXPECT_EQ(got->tos, 0x20);

  // The same flow always leaves from the same source port.
  EXPECT_EQ(send_direct(h.dp, *t, {frame}), 1u);
  auto again = remote.recv();
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->from_port, got->from_port);
  EXPECT_EQ(again->data, got->data);
}

TEST(TunnelBackend, GeneveWireFormatAndDefaultPorts) {
  const uint16_t port = test_port();
  Peer remote(53, port);
  testing::Harness h(64);
  dp::Bridge& br = h.bridge("b", dp::BridgeType::kSwitch);
  TunnelBackend* t = add_tunnel(h, br, "t", config(TunnelType::kGeneve, 51, {53}, 0xfedcba));
  ASSERT_TRUE(t);
  EXPECT_EQ(t->config().dst_port, port);
  const Bytes frame = eth(kBcast, kMacA, {}, 0x0806, 60);
  EXPECT_EQ(send_direct(h.dp, *t, {frame}), 1u);
  auto got = remote.recv();
  ASSERT_TRUE(got.has_value()) << "nothing arrived";
  ASSERT_EQ(got->data.size(), net::kGeneveHeaderLen + frame.size());
  const uint8_t* p = got->data.data();
  EXPECT_EQ(p[0], 0) << "version 0, no options";
  EXPECT_EQ(p[1], 0) << "no O or C bit";
  EXPECT_EQ(net::load_be16(p + 2), net::kEthTypeTeb);
  EXPECT_EQ(be24(p + 4), 0xfedcbau);
  EXPECT_EQ(Bytes(p + 8, p + got->data.size()), frame);
  EXPECT_GE(got->from_port, 49152);
  EXPECT_EQ(got->ttl, 64);

  // dst_port 0 is the IANA port of the kind (4789, 6081); GRE has none. The
  // well-known ports may be held by a kernel device on this host.
  struct Want {
    TunnelType type;
    uint16_t port;
  };
  for (const Want& w : {Want{TunnelType::kVxlan, net::kVxlanPort}, Want{TunnelType::kGeneve, net::kGenevePort}}) {
    TunnelConfig c = config(w.type, 54, {53}, 1);
    c.dst_port = 0;
    auto b = TunnelBackend::open("d", c);
    if (!b.ok()) {
      EXPECT_NE(b.error().message.find("holds this UDP port"), std::string::npos) << b.error().message;
      continue;
    }
    EXPECT_EQ((*b)->config().dst_port, w.port);
    EXPECT_EQ(socket_of(**b).port(), w.port);
  }
  if (can_open_raw()) {
    TunnelConfig c = config(TunnelType::kGre, 54, {53}, 1);
    c.dst_port = 0;
    auto b = TunnelBackend::open("g", c);
    ASSERT_TRUE(b.ok()) << b.error().message;
    EXPECT_EQ((*b)->config().dst_port, 0);
  }
}

TEST(TunnelBackend, GreAndNvgreWireFormat) {
  REQUIRE_RAW_SOCKETS();
  Peer remote(63, 0, true);
  testing::Harness h(64);
  dp::Bridge& br = h.bridge("b", dp::BridgeType::kSwitch);
  TunnelBackend* g = add_tunnel(h, br, "g", config(TunnelType::kGre, 61, {63}, 0x01020304));
  TunnelConfig nc = config(TunnelType::kGre, 62, {63}, 0xabcdef);
  nc.nvgre = true;
  nc.tos = 0x48;
  TunnelBackend* n = add_tunnel(h, br, "n", nc);
  ASSERT_TRUE(g && n);
  const Bytes frame = eth(kMacC, kMacA, {}, 0x0800, 80);

  EXPECT_EQ(send_direct(h.dp, *g, {frame}), 1u);
  auto got = remote.recv();
  ASSERT_TRUE(got.has_value()) << "nothing arrived";
  ASSERT_EQ(got->data.size(), 20 + 8 + frame.size());  // IPv4 raw sockets hand over the IP header
  const uint8_t* ip = got->data.data();
  EXPECT_EQ(ip[9], net::kIpProtoGre);
  EXPECT_EQ(ip[8], 64) << "TTL";
  EXPECT_NE(net::load_be16(ip + 6) & 0x4000, 0) << "DF";
  EXPECT_EQ(got->from, lo(61));
  const uint8_t* gre = ip + 20;
  EXPECT_EQ(net::load_be16(gre), 0x2000) << "K bit, version 0";
  EXPECT_EQ(net::load_be16(gre + 2), net::kEthTypeTeb);
  EXPECT_EQ(net::load_be32(gre + 4), 0x01020304u);
  EXPECT_EQ(Bytes(gre + 8, static_cast<const uint8_t*>(got->data.data() + got->data.size())), frame);

  EXPECT_EQ(send_direct(h.dp, *n, {frame}), 1u);
  got = remote.recv();
  ASSERT_TRUE(got.has_value()) << "nothing arrived";
  ASSERT_EQ(got->data.size(), 20 + 8 + frame.size());
  ip = got->data.data();
  EXPECT_EQ(ip[1], 0x48) << "TOS";
  EXPECT_EQ(got->from, lo(62));
  gre = ip + 20;
  EXPECT_EQ(net::load_be16(gre), 0x2000);
  const uint32_t key = net::load_be32(gre + 4);
  EXPECT_EQ(net::gre_vsid(key), 0xabcdefu);
  EXPECT_EQ(key & 0xff, net::inner_flow_hash(frame.data(), frame.size()) & 0xff) << "FlowID";
  EXPECT_EQ(Bytes(gre + 8, static_cast<const uint8_t*>(got->data.data() + got->data.size())), frame);
}

// ------------------------------------------------------------ one socket, many ports

TEST(TunnelBackend, OneSocketTellsPortsApartByVniAndRemote) {
  const uint16_t port = test_port();
  Peer r73(73, port), r74(74, port);
  testing::Harness h(256);
  dp::Bridge& br = h.bridge("b", dp::BridgeType::kSwitch);
  TunnelBackend* t100 = add_tunnel(h, br, "t100", config(TunnelType::kVxlan, 71, {73}, 100));
  TunnelBackend* t200 = add_tunnel(h, br, "t200", config(TunnelType::kVxlan, 71, {73}, 200));
  TunnelBackend* t100b = add_tunnel(h, br, "t100b", config(TunnelType::kVxlan, 71, {74}, 100));
  ASSERT_TRUE(t100 && t200 && t100b);
  EXPECT_EQ(t100->shared_rx(), t200->shared_rx()) << "one endpoint, one socket";
  EXPECT_EQ(t100->shared_rx(), t100b->shared_rx());
  TunnelSocket& s = socket_of(*t100);

  const Bytes f1 = eth(kBcast, kMacA, {}, 0x0806, 60), f2 = eth(kBcast, kMacB, {}, 0x0806, 61),
              f3 = eth(kBcast, kMacC, {}, 0x0806, 62);
  r73.send_to(71, port, vxlan_packet(200, f2));
  r73.send_to(71, port, vxlan_packet(100, f1));
  r74.send_to(71, port, vxlan_packet(100, f3));
  net::FrameBatch got;
  ASSERT_TRUE(pump(s, got, h.dp.pool(), 3));
  ASSERT_EQ(got.count, 3u);
  EXPECT_EQ(got[0]->meta.in_port, h.dp.find_port("t200")->id);
  EXPECT_EQ(bytes_of(*got[0]), f2);
  EXPECT_EQ(got[1]->meta.in_port, h.dp.find_port("t100")->id);
  EXPECT_EQ(bytes_of(*got[1]), f1);
  EXPECT_EQ(got[2]->meta.in_port, h.dp.find_port("t100b")->id);
  EXPECT_EQ(bytes_of(*got[2]), f3);
  h.dp.pool().put(got);
  got.clear();
  EXPECT_EQ(t100->remote_of(1, kMacA), lo(73));
  EXPECT_EQ(t200->remote_of(1, kMacB), lo(73));
  EXPECT_EQ(t100b->remote_of(1, kMacC), lo(74));
  EXPECT_EQ(t100->remote_of(1, kMacC), "") << "learned by the port it came in on only";

  // Each port sends with its own VNI.
  EXPECT_EQ(send_direct(h.dp, *t200, {f1}), 1u);
  auto w = r73.recv();
  ASSERT_TRUE(w.has_value());
  EXPECT_EQ(be24(w->data.data() + 4), 200u);

  // A port taken out no longer receives: its VNI is unknown.
  auto gone = h.dp.remove_port(*h.dp.find_port("t200"));
  r73.send_to(71, port, vxlan_packet(200, f2));
  ASSERT_TRUE(pump_until(s, got, h.dp.pool(), [&] { return s.counters().unknown_vni.load() == 1; }));
  EXPECT_EQ(got.count, 0u);
}

TEST(TunnelBackend, TheSocketCountsWhatBelongsToNoPort) {
  const uint16_t port = test_port();
  Peer known(83, port), stranger(84, port);
  testing::Harness h(64);
  dp::Bridge& br = h.bridge("b", dp::BridgeType::kSwitch);
  TunnelBackend* t = add_tunnel(h, br, "t", config(TunnelType::kVxlan, 81, {83}, 100));
  ASSERT_TRUE(t);
  TunnelSocket& s = socket_of(*t);
  const TunnelSocketCounters& c = s.counters();
  const Bytes inner = eth(kBcast, kMacA, {}, 0x0806, 60);
  net::FrameBatch got;
  auto wait_rx = [&](uint64_t n) {
    return pump_until(s, got, h.dp.pool(), [&] { return c.rx_packets.load() >= n; });
  };

  known.send_to(81, port, vxlan_packet(999, inner));  // no port has VNI 999
  ASSERT_TRUE(wait_rx(1));
  EXPECT_EQ(c.unknown_vni.load(), 1u);

  Bytes bad = vxlan_packet(100, inner);
  bad[0] = 0;  // the I flag clear
  known.send_to(81, port, bad);
  ASSERT_TRUE(wait_rx(2));
  EXPECT_EQ(c.malformed[static_cast<size_t>(net::TunnelError::kBadFlags)].load(), 1u);

  known.send_to(81, port, Bytes{0x08, 0, 0});  // shorter than the header
  ASSERT_TRUE(wait_rx(3));
  EXPECT_EQ(c.malformed[static_cast<size_t>(net::TunnelError::kShort)].load(), 1u);

  known.send_to(81, port, vxlan_packet(100, Bytes(10, 0xee)));  // an inner frame shorter than Ethernet
  ASSERT_TRUE(wait_rx(4));
  EXPECT_EQ(c.malformed[static_cast<size_t>(net::TunnelError::kShortInner)].load(), 1u);

  stranger.send_to(81, port, vxlan_packet(100, inner));  // the VNI is known, the sender is not
  ASSERT_TRUE(wait_rx(5));
  EXPECT_EQ(c.unknown_remote.load(), 1u);

  EXPECT_EQ(got.count, 0u) << "none of these reaches a port";
  EXPECT_EQ(t->learned_count(), 0u) << "nor teaches it anything";
  EXPECT_EQ(h.counters("t").rx_packets, 0u);
  const std::string d = s.describe();
  for (const char* want : {"unknown_vni 1", "bad_flags 1", "short 1", "short_inner 1", "unknown_remote 1"})
    EXPECT_NE(d.find(want), std::string::npos) << want << " not in: " << d;
  EXPECT_NE(t->describe().find(d), std::string::npos) << t->describe();

  // And a good one still goes through.
  known.send_to(81, port, vxlan_packet(100, inner));
  ASSERT_TRUE(pump(s, got, h.dp.pool()));
  EXPECT_EQ(got[0]->meta.in_port, h.dp.find_port("t")->id);
  h.dp.pool().put(got);
}

// ------------------------------------------------------------ vni_map

TEST(TunnelBackend, VniMapTagsAndUntags) {
  const uint16_t port = test_port();
  Peer remote(93, port);
  testing::Harness h(256);
  dp::Bridge& br = h.bridge("b", dp::BridgeType::kSwitch);
  h.port(br, "h10", testing::access(10));
  h.port(br, "h20", testing::access(20));
  h.port(br, "h30", testing::access(30));
  TunnelConfig c = config(TunnelType::kVxlan, 91, {93}, 0);
  c.has_key = false;
  c.vni_map = {{10, 5010}, {20, 5020}};
  TunnelBackend* t = add_tunnel(h, br, "t", c, testing::trunk(1, {10, 20}));
  ASSERT_TRUE(t);

  // VLAN 10 leaves untagged in VNI 5010.
  const Bytes from10 = eth(kBcast, kMacA, {}, 0x0806, 60);
  h.send("h10", from10);
  auto got = remote.recv();
  ASSERT_TRUE(got.has_value()) << "nothing arrived";
  EXPECT_EQ(be24(got->data.data() + 4), 5010u);
  EXPECT_EQ(Bytes(got->data.begin() + 8, got->data.end()), from10) << "the VLAN tag is popped";
  EXPECT_FALSE(remote.recv(50).has_value()) << "one VNI, one datagram";
  // VLAN 30 is not carried: nothing leaves.
  h.send("h30", eth(kBcast, kMacA, {}, 0x0806, 60));
  EXPECT_FALSE(remote.recv(50).has_value());

  // VNI 5020 comes in tagged VLAN 20 and reaches h20 only.
  const Bytes to20 = eth(kBcast, kMacB, {}, 0x0806, 70);
  remote.send_to(91, port, vxlan_packet(5020, to20));
  net::FrameBatch in;
  ASSERT_TRUE(pump(*t->shared_rx(), in, h.dp.pool()));
  ASSERT_EQ(in.count, 1u);
  EXPECT_EQ(in[0]->meta.in_port, h.dp.find_port("t")->id);
  EXPECT_EQ(bytes_of(*in[0]), eth(kBcast, kMacB, {{net::kEthTypeVlan, 20}}, 0x0806, 74));
  deliver(h.dp, in);
  auto at20 = h.take("h20");
  ASSERT_EQ(at20.size(), 1u);
  EXPECT_EQ(at20[0], to20);
  EXPECT_TRUE(h.take("h10").empty());
  EXPECT_TRUE(h.take("h30").empty());
  // Learned in VLAN 20 (VNI 5020) only.
  EXPECT_EQ(t->remote_of(20, kMacB), lo(93));
  EXPECT_EQ(t->remote_of(10, kMacB), "");
  EXPECT_EQ(t->remote_of(30, kMacB), "");

  // A VNI without a VLAN is refused (the socket does not hand such a frame
  // to the port; admit() refuses it all the same).
  {
    net::Frame* f = h.dp.pool().get();
    f->assign(to20.data(), to20.size());
    EXPECT_FALSE(t->accepts(5030, addr(lo(93))));
    EXPECT_TRUE(t->accepts(5020, addr(lo(93))));
    EXPECT_FALSE(t->admit(*f, 5030, addr(lo(93)), monotonic_ns()));
    EXPECT_EQ(h.counters("t").dropped(dp::Drop::kUnmappedVni), 1u);
    h.dp.pool().put(f);
  }

  // A frame of an unmapped VLAN, or an untagged one, is dropped as
  // unmapped_vlan (counted on the port, not as a send failure).
  const Bytes tagged30 = eth(kMacB, kMacA, {{net::kEthTypeVlan, 30}}, 0x0800, 64);
  const Bytes untagged = eth(kMacB, kMacA, {}, 0x0800, 64);
  EXPECT_EQ(send_direct(h.dp, *t, {tagged30, untagged}), 2u);
  EXPECT_EQ(h.counters("t").dropped(dp::Drop::kUnmappedVlan), 2u);
  EXPECT_FALSE(remote.recv(50).has_value());

  // A mapped VLAN that is known unicast goes to the learned remote.
  EXPECT_EQ(send_direct(h.dp, *t, {eth(kMacB, kMacA, {{net::kEthTypeVlan, 20}}, 0x0800, 64)}), 1u);
  got = remote.recv();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(be24(got->data.data() + 4), 5020u);
  EXPECT_EQ(Bytes(got->data.begin() + 8, got->data.end()), eth(kMacB, kMacA, {}, 0x0800, 60));

  // explain() says the same.
  net::FramePool pool(2);
  net::Frame* f = pool.get();
  const Bytes t10 = eth(kBcast, kMacA, {{net::kEthTypeVlan, 10}}, 0x0806, 64);
  f->assign(t10.data(), t10.size());
  const std::string e10 = t->explain(*f);
  EXPECT_NE(e10.find("vni 5010 (VLAN 10 popped)"), std::string::npos) << e10;
  f->assign(tagged30.data(), tagged30.size());
  const std::string e30 = t->explain(*f);
  EXPECT_NE(e30.find("VLAN 30 is not in the vni_map"), std::string::npos) << e30;
  EXPECT_EQ(h.counters("t").dropped(dp::Drop::kUnmappedVlan), 2u) << "explain() changes nothing";

  // The UDP source port explain() names is the one the frame leaves from
  // (the flow hash of the frame as sent, its tag popped).
  for (uint16_t sport_probe = 0; sport_probe < 8; ++sport_probe) {
    Bytes fr = eth(kMacC, kMacA, {{net::kEthTypeVlan, 10}}, 0x0800, 80);
    fr[11] = static_cast<uint8_t>(sport_probe);  // another source MAC: another flow
    f->assign(fr.data(), fr.size());
    const std::string e = t->explain(*f);
    EXPECT_EQ(send_direct(h.dp, *t, {fr}), 1u);
    got = remote.recv();
    ASSERT_TRUE(got.has_value());
    EXPECT_NE(e.find("UDP " + std::to_string(got->from_port) + " -> "), std::string::npos)
        << "sent from " << got->from_port << ", but: " << e;
    EXPECT_NE(e.find(std::to_string(fr.size() - 4 + 20 + 16) + " bytes on the underlay"), std::string::npos) << e;
  }
}

// ------------------------------------------------------------ learning

// A full table makes room for a new station: the least recently seen one
// gives way (io/tunnel_fdb.h, counted); static entries stay.
TEST(TunnelBackend, AFullTableEvictsTheLeastRecentlySeen) {
  const uint16_t port = test_port();
  Peer remote(133, port);
  testing::Harness h(64);
  dp::Bridge& br = h.bridge("b", dp::BridgeType::kSwitch);
  TunnelConfig c = config(TunnelType::kVxlan, 131, {133}, 6);
  c.max_learned = 2;
  c.aging_s = 300;
  TunnelBackend* t = add_tunnel(h, br, "t", c);
  ASSERT_TRUE(t);
  TunnelSocket& s = socket_of(*t);
  t->set_static_remote(1, kMacC, lo(134));
  const uint64_t t0 = monotonic_ns();
  // Receives one frame from kMac at time `at`.
  auto arrive = [&](uint64_t mac, uint64_t at) {
    remote.send_to(131, port, vxlan_packet(6, eth(kBcast, mac, {}, 0x0806, 60)));
    net::FrameBatch in;
    pollfd p{s.fd(), POLLIN, 0};
    ASSERT_EQ(poll(&p, 1, 2000), 1);
    ASSERT_EQ(s.receive(in, h.dp.pool(), at), 1u);
    h.dp.pool().put(in);
  };
  arrive(kMacA, t0);
  arrive(kMacB, t0 + 1);
  EXPECT_EQ(t->learned_count(), 3u);  // with the static entry
  constexpr uint64_t kSec = 1000000000ULL;
  const uint64_t kMacD = 0x020000000d04;
  arrive(kMacD, t0 + 10 * kSec);  // full: A, seen least recently, goes
  EXPECT_EQ(t->remote_of(1, kMacD), lo(133));
  EXPECT_EQ(t->remote_of(1, kMacA), "");
  EXPECT_EQ(t->remote_of(1, kMacB), lo(133));
  EXPECT_EQ(t->learning_stats().evicted, 1u);
  EXPECT_NE(t->describe().find("1 evicted"), std::string::npos) << t->describe();
  EXPECT_EQ(t->remote_of(1, kMacC), lo(134)) << "static entries are never evicted";
  EXPECT_EQ(t->learned_count(), 3u);
}

// ------------------------------------------------------------ remote_ip=flow

TEST(TunnelBackend, FlowRemotesComeFromStaticEntriesAndLearning) {
  const uint16_t port = test_port();
  Peer remote(103, port);
  testing::Harness h(256);
  dp::Bridge& br = h.bridge("b", dp::BridgeType::kSwitch);
  h.port(br, "h");
  TunnelConfig c = config(TunnelType::kVxlan, 101, {}, 77);
  c.remote_flow = true;
  TunnelBackend* t = add_tunnel(h, br, "t", c);
  ASSERT_TRUE(t);

  const Bytes bcast = eth(kBcast, kMacA, {}, 0x0806, 60);
  net::FramePool pool(2);
  net::Frame* f = pool.get();
  f->assign(bcast.data(), bcast.size());
  EXPECT_NE(t->explain(*f).find("no remote known (no_remote)"), std::string::npos) << t->explain(*f);
  EXPECT_EQ(t->remote_count(), 0u);  // kvnet_tunnel_remotes
  h.send("h", bcast);
  EXPECT_EQ(h.counters("t").dropped(dp::Drop::kNoRemote), 1u);
  EXPECT_EQ(h.counters("t").dropped(dp::Drop::kTxError), 0u);
  EXPECT_FALSE(remote.recv(50).has_value());

  // A static remote for kMacB: unicast to it and floods go there. It moves
  // the datapath's epoch (the fast path's entries into the tunnel hold a remote).
  uint64_t epoch = h.dp.epoch();
  t->set_static_remote(1, kMacB, lo(103));
  EXPECT_GT(h.dp.epoch(), epoch) << "a static remote outdates the fast path's entries";
  EXPECT_EQ(t->remote_of(1, kMacB), lo(103));
  EXPECT_NE(t->describe().find("learned 1 MAC"), std::string::npos) << t->describe();
  EXPECT_NE(t->describe().find("remote flow"), std::string::npos) << t->describe();
  const Bytes to_b = eth(kMacB, kMacA, {}, 0x0800, 90);
  h.send("h", to_b);
  auto got = remote.recv();
  ASSERT_TRUE(got.has_value()) << "the unicast did not go to the static remote";
  EXPECT_EQ(be24(got->data.data() + 4), 77u);
  EXPECT_EQ(Bytes(got->data.begin() + 8, got->data.end()), to_b);
  h.send("h", bcast);
  got = remote.recv();
  ASSERT_TRUE(got.has_value()) << "the broadcast did not go to the known remote";
  EXPECT_EQ(Bytes(got->data.begin() + 8, got->data.end()), bcast);
  EXPECT_EQ(h.counters("t").dropped(dp::Drop::kNoRemote), 1u);

  // A static entry is not overwritten by learning from elsewhere.
  Peer other(104, port);
  other.send_to(101, port, vxlan_packet(77, eth(kBcast, kMacB, {}, 0x0806, 60)));
  net::FrameBatch in;
  ASSERT_TRUE(pump(*t->shared_rx(), in, h.dp.pool())) << "flow mode takes any sender";
  h.dp.pool().put(in);
  in.clear();
  EXPECT_EQ(t->remote_of(1, kMacB), lo(103));
  // ... but a new MAC is learned, and its sender joins the flood list.
  epoch = h.dp.epoch();
  other.send_to(101, port, vxlan_packet(77, eth(kBcast, kMacC, {}, 0x0806, 60)));
  ASSERT_TRUE(pump(*t->shared_rx(), in, h.dp.pool()));
  h.dp.pool().put(in);
  in.clear();
  EXPECT_EQ(t->remote_of(1, kMacC), lo(104));
  EXPECT_EQ(h.dp.epoch(), epoch) << "a new station outdates nothing";
  EXPECT_EQ(t->remote_count(), 2u);  // 103 (static) and 104 (learned)
  h.send("h", bcast);
  EXPECT_TRUE(remote.recv().has_value());
  EXPECT_TRUE(other.recv().has_value());

  // A station that moves is sent to where it is now, and so are floods;
  // entries that send to its old remote are outdated.
  Peer third(105, port);
  third.send_to(101, port, vxlan_packet(77, eth(kBcast, kMacC, {}, 0x0806, 60)));
  ASSERT_TRUE(pump(*t->shared_rx(), in, h.dp.pool()));
  h.dp.pool().put(in);
  in.clear();
  EXPECT_EQ(t->remote_of(1, kMacC), lo(105));
  EXPECT_GT(h.dp.epoch(), epoch) << "a station that moved to another remote outdates the fast path's entries";
  h.send("h", bcast);
  EXPECT_TRUE(remote.recv().has_value());
  EXPECT_TRUE(third.recv().has_value()) << "the flood list follows the move";
  EXPECT_FALSE(other.recv(50).has_value()) << "no station is behind " << lo(104) << " any more";

  // Removing the static entry forgets it.
  t->set_static_remote(1, kMacB, "");
  EXPECT_EQ(t->remote_of(1, kMacB), "");
}

// learning=false (a cluster's tunnel): stations only from static entries;
// a flood goes to the remotes of the VNI's static entries, and what
// arrives from elsewhere teaches nothing.
TEST(TunnelBackend, WithoutLearningFloodsOnlyToStaticStations) {
  const uint16_t port = test_port();
  Peer remote(113, port), stranger(114, port);
  testing::Harness h(256);
  dp::Bridge& br = h.bridge("b", dp::BridgeType::kSwitch);
  h.port(br, "h");
  TunnelConfig c = config(TunnelType::kVxlan, 111, {}, 77);
  c.remote_flow = true;
  c.learning = false;
  TunnelBackend* t = add_tunnel(h, br, "t", c);
  ASSERT_TRUE(t);
  const Bytes bcast = eth(kBcast, kMacA, {}, 0x0806, 60);
  t->set_static_remote(1, kMacB, lo(113));
  h.send("h", bcast);
  EXPECT_TRUE(remote.recv().has_value()) << "the broadcast did not reach the static station's VTEP";
  // A sender the store does not know is not learned, nor flooded to.
  stranger.send_to(111, port, vxlan_packet(77, eth(kBcast, kMacC, {}, 0x0806, 60)));
  net::FrameBatch in;
  ASSERT_TRUE(pump(*t->shared_rx(), in, h.dp.pool())) << "its frame is still delivered";
  h.dp.pool().put(in);
  in.clear();
  EXPECT_EQ(t->remote_of(1, kMacC), "");
  h.send("h", bcast);
  EXPECT_TRUE(remote.recv().has_value());
  EXPECT_FALSE(stranger.recv(50).has_value()) << "flooded to a VTEP with no static station";
  net::FramePool pool(2);
  net::Frame* f = pool.get();
  f->assign(bcast.data(), bcast.size());
  EXPECT_NE(t->explain(*f).find("of VNI 77 (the VTEPs with a station in it)"), std::string::npos) << t->explain(*f);
  t->set_static_remote(1, kMacB, "");
  h.send("h", bcast);
  EXPECT_EQ(h.counters("t").dropped(dp::Drop::kNoRemote), 1u) << "no station left: nowhere to flood";
}

// ------------------------------------------------------------ MTU, explain

// ------------------------------------------------------------ receive details

// Geneve option TLVs are parsed and counted; the frame goes on without them.
TEST(TunnelBackend, GeneveOptionsAreCountedAndDropped) {
  const uint16_t port = test_port();
  Peer remote(163, port);
  testing::Harness h(64);
  dp::Bridge& br = h.bridge("b", dp::BridgeType::kSwitch);
  TunnelBackend* t = add_tunnel(h, br, "t", config(TunnelType::kGeneve, 161, {163}, 77));
  ASSERT_TRUE(t);
  TunnelSocket& s = socket_of(*t);
  const Bytes inner = eth(kBcast, kMacA, {}, 0x0806, 60);
  // Two options: class 0x0102 type 1 with 4 data bytes, class 0x0103 type 2 with none.
  const uint8_t opts[] = {0x01, 0x02, 0x01, 0x01, 0xde, 0xad, 0xbe, 0xef, 0x01, 0x03, 0x02, 0x00};
  Bytes pkt(net::kGeneveHeaderLen + sizeof opts);
  ASSERT_EQ(net::geneve_build(pkt.data(), 77, opts, sizeof opts), pkt.size());
  pkt.insert(pkt.end(), inner.begin(), inner.end());
  remote.send_to(161, port, pkt);
  net::FrameBatch got;
  ASSERT_TRUE(pump(s, got, h.dp.pool()));
  EXPECT_EQ(bytes_of(*got[0]), inner) << "the options are not part of the frame";
  EXPECT_EQ(s.counters().geneve_options.load(), 2u);
  EXPECT_NE(s.describe().find("2 Geneve option(s) received"), std::string::npos) << s.describe();
  h.dp.pool().put(got);
}

// One IPv4 TCP segment of `payload` bytes at `seq`, ACK set, checksums right.
Bytes tcp_segment(uint32_t seq, size_t payload) {
  Bytes b = eth(kMacC, kMacA, {}, 0x0800, 14);
  b.resize(14);
  const size_t ip = b.size();
  b.insert(b.end(), {0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, net::kIpProtoTcp, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2});
  const size_t tcp = b.size();
  testing::put16(b, 40000);
  testing::put16(b, 5201);
  testing::put32(b, seq);
  testing::put32(b, 7);
  b.insert(b.end(), {0x50, 0x10});
  testing::put16(b, 512);
  b.insert(b.end(), {0, 0, 0, 0});
  for (size_t i = 0; i < payload; ++i) b.push_back(static_cast<uint8_t>(seq + i));
  net::store_be16(&b[ip + 2], static_cast<uint16_t>(b.size() - ip));
  net::store_be16(&b[ip + 10], net::inet_checksum(&b[ip], 20));
  uint32_t pseudo = net::kIpProtoTcp + static_cast<uint32_t>(b.size() - tcp);
  for (size_t i = 12; i < 20; i += 2) pseudo += net::load_be16(&b[ip + i]);
  net::store_be16(&b[tcp + 16], net::inet_checksum(&b[tcp], b.size() - tcp, pseudo));
  return b;
}

// Contiguous TCP segments of one flow that arrive together become one GSO
// frame (software GRO); a segment out of sequence starts a frame of its own.
TEST(TunnelBackend, ContiguousTcpSegmentsArriveAsOneGsoFrame) {
  const uint16_t port = test_port();
  Peer remote(173, port);
  testing::Harness h(64);
  dp::Bridge& br = h.bridge("b", dp::BridgeType::kSwitch);
  TunnelBackend* t = add_tunnel(h, br, "t", config(TunnelType::kVxlan, 171, {173}, 9));
  ASSERT_TRUE(t);
  TunnelSocket& s = socket_of(*t);
  for (uint32_t seq : {1000u, 2000u, 3000u, 9000u}) remote.send_to(171, port, vxlan_packet(9, tcp_segment(seq, 1000)));
  net::FrameBatch got;
  ASSERT_TRUE(pump_until(s, got, h.dp.pool(), [&] { return s.counters().rx_packets.load() >= 4; }));
  ASSERT_EQ(got.count, 2u);
  const net::Frame& merged = *got[0];
  EXPECT_EQ(merged.len(), 54u + 3000);
  EXPECT_EQ(merged.meta.vnet.gso_type, net::kGsoTcpV4);
  EXPECT_EQ(merged.meta.vnet.gso_size, 1000);
  EXPECT_EQ(net::load_be32(merged.data() + 38), 1000u) << "the first segment's sequence number";
  EXPECT_EQ(got[1]->len(), 54u + 1000) << "the segment at 9000 is not contiguous";
  EXPECT_EQ(got[1]->meta.vnet.gso_type, net::kGsoNone);
  EXPECT_EQ(s.counters().coalesced.load(), 2u);
  h.dp.pool().put(got);
}

TEST(TunnelBackend, FramesOverThePathMtuAreTooBig) {
  const uint16_t port = test_port();
  Peer remote(113, port);
  testing::Harness h(64);
  dp::Bridge& br = h.bridge("b", dp::BridgeType::kSwitch);
  // No remote to measure the path to, and a local address no interface has:
  // the path MTU is taken to be 1500.
  TunnelConfig c = config(TunnelType::kVxlan, 111, {}, 5);
  c.remote_flow = true;
  TunnelBackend* t = add_tunnel(h, br, "t", c);
  ASSERT_TRUE(t);
  ASSERT_EQ(t->inner_mtu(), 1500u - 20 - 8 - 8 - 14);
  t->set_static_remote(1, kMacB, lo(113));
  const Bytes fits = eth(kMacB, kMacA, {}, 0x0800, net::kEthHeaderLen + t->inner_mtu());
  const Bytes over = eth(kMacB, kMacA, {}, 0x0800, net::kEthHeaderLen + t->inner_mtu() + 1);
  EXPECT_EQ(send_direct(h.dp, *t, {over, fits}), 2u);
  EXPECT_EQ(h.counters("t").dropped(dp::Drop::kTooBig), 1u);
  auto got = remote.recv();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->data.size(), 8 + fits.size());
  EXPECT_FALSE(remote.recv(50).has_value());

  net::FramePool pool(2, net::kHeadroom + 2000);
  net::Frame* f = pool.get();
  f->assign(over.data(), over.size());
  const std::string e = t->explain(*f);
  EXPECT_NE(e.find("over the path MTU 1500 (too_big;"), std::string::npos) << e;
}

// What does not fit is answered with ICMP "fragmentation needed", switched
// back to the sender in its VLAN: with a vni_map the tag the tunnel would
// pop stays on the reply, and does not count against the MTU reported.
TEST(TunnelBackend, TooBigIsAnsweredInTheSendersVlan) {
  const uint16_t port = test_port();
  Peer remote(117, port);
  testing::Harness h(64);
  dp::Bridge& br = h.bridge("b", dp::BridgeType::kSwitch);
  h.port(br, "h", testing::access(10));
  TunnelConfig c = config(TunnelType::kVxlan, 115, {}, 0);
  c.remote_flow = true;
  c.vni_map = {{10, 5010}};
  TunnelBackend* t = add_tunnel(h, br, "t", c, testing::trunk(1, {10}));
  ASSERT_TRUE(t);
  ASSERT_EQ(t->inner_mtu(), 1450u);  // no route measured: 1500
  t->set_static_remote(10, kMacB, lo(117));
  // A 1514-byte IPv4 packet with DF from A (on h) to B (behind the tunnel).
  Bytes big = eth(kMacB, kMacA, {}, 0x0800, 14);
  const Bytes ip = [] {
    Bytes b{0x45, 0, 0x05, 0xdc, 0x12, 0x34, 0x40, 0x00, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2};
    b.resize(1500, 0x61);
    return b;
  }();
  big.insert(big.end(), ip.begin(), ip.end());
  h.send("h", big, 1000000000ULL);
  EXPECT_EQ(h.counters("t").dropped(dp::Drop::kTooBig), 1u);
  EXPECT_FALSE(remote.recv(50).has_value()) << "nothing of it reached the underlay";
  const auto back = h.take("h");
  ASSERT_EQ(back.size(), 1u) << "the sender got the ICMP error";
  const Bytes& r = back[0];
  ASSERT_EQ(r.size(), 14u + 576u) << "untagged again on the access port";
  EXPECT_EQ(net::Mac::from_bytes(r.data()).u64(), kMacA);
  EXPECT_EQ(net::Mac::from_bytes(r.data() + 6).u64(), kMacB);
  EXPECT_EQ(r[14 + 9], 1) << "ICMP";
  EXPECT_EQ(Bytes(r.begin() + 14 + 12, r.begin() + 14 + 20), (Bytes{10, 0, 0, 2, 10, 0, 0, 1})) << "from B to A";
  EXPECT_EQ(r[34], 3);
  EXPECT_EQ(r[35], 4);
  EXPECT_EQ(r[40] << 8 | r[41], 1450) << "the tag is popped before the tunnel: it does not count";
  EXPECT_EQ(Bytes(r.begin() + 42, r.begin() + 62), Bytes(ip.begin(), ip.begin() + 20)) << "the quote";
}

TEST(TunnelBackend, ExplainNamesVniRemotesAndPorts) {
  const uint16_t port = test_port();
  testing::Harness h(64);
  dp::Bridge& br = h.bridge("b", dp::BridgeType::kSwitch);
  TunnelConfig c = config(TunnelType::kVxlan, 121, {122, 123}, 4242);
  c.ttl = 9;
  TunnelBackend* t = add_tunnel(h, br, "t", c);
  ASSERT_TRUE(t);
  net::FramePool pool(2);
  net::Frame* f = pool.get();
  const Bytes bcast = eth(kBcast, kMacA, {}, 0x0806, 60);
  f->assign(bcast.data(), bcast.size());
  const std::string e = t->explain(*f);
  TunnelSocket& s = socket_of(*t);
  const std::string sport = std::to_string(s.src_port(s.send_socket(net::inner_flow_hash(bcast.data(), bcast.size()), false)));
  for (const std::string& want :
       {std::string("vxlan vni 4242"), "outer IPv4 " + lo(121) + " -> " + lo(122) + ", " + lo(123),
        "UDP " + sport + " -> " + std::to_string(port), std::string("ttl 9"), std::string("DF"),
        std::to_string(bcast.size() + 20 + 8 + 8) + " bytes on the underlay", std::string("head-end replication")})
    EXPECT_NE(e.find(want), std::string::npos) << "'" << want << "' not in: " << e;
  const std::string d = t->describe();
  for (const std::string& want : {"vxlan vni 4242 remote " + lo(122) + "," + lo(123),
                                  "via vxlan " + lo(121) + ":" + std::to_string(port), std::string("learned 0 MAC")})
    EXPECT_NE(d.find(want), std::string::npos) << "'" << want << "' not in: " << d;

  if (can_open_raw()) {
    TunnelConfig nc = config(TunnelType::kGre, 124, {125}, 0x1234);
    nc.nvgre = true;
    TunnelBackend* n = add_tunnel(h, br, "n", nc);
    ASSERT_TRUE(n);
    const std::string ne = n->explain(*f);
    EXPECT_NE(ne.find("gre (nvgre) vsid 4660 flowid "), std::string::npos) << ne;
    EXPECT_NE(ne.find("IP protocol 47"), std::string::npos) << ne;
    EXPECT_NE(ne.find(lo(125)), std::string::npos) << ne;
  }
}

// ------------------------------------------------------------ IPv6

// One endpoint on ::1 whose port names ::1 as its remote: what it sends
// comes back to itself, through the IPv6 code paths.
TEST(TunnelBackend, Ipv6LoopsBackToItself) {
  const int probe = socket(AF_INET6, SOCK_DGRAM, 0);
  sockaddr_in6 sa{};
  sa.sin6_family = AF_INET6;
  sa.sin6_addr = in6addr_loopback;
  const bool v6 = probe >= 0 && bind(probe, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
  if (probe >= 0) close(probe);
  if (!v6) GTEST_SKIP() << "no IPv6 loopback";

  for (TunnelType type : {TunnelType::kVxlan, TunnelType::kGeneve, TunnelType::kGre}) {
    if (type == TunnelType::kGre && !can_open_raw()) continue;
    SCOPED_TRACE(std::string(to_string(type)));
    testing::Harness h(64);
    dp::Bridge& br = h.bridge("b", dp::BridgeType::kSwitch);
    h.port(br, "h");
    TunnelConfig c;
    c.type = type;
    c.local = addr("::1");
    c.remotes = {addr("::1")};
    c.vni = 321;
    c.has_key = true;
    c.dst_port = static_cast<uint16_t>(test_port() + 1);
    c.ttl = 5;
    TunnelBackend* t = add_tunnel(h, br, "t", c);
    ASSERT_TRUE(t);
    EXPECT_EQ(socket_of(*t).family(), AF_INET6);
    const Bytes frame = eth(kBcast, kMacA, {}, 0x0806, 60);
    h.send("h", frame);
    EXPECT_EQ(h.counters("t").total_drops(), 0u);
    net::FrameBatch in;
    ASSERT_TRUE(pump(*t->shared_rx(), in, h.dp.pool()));
    ASSERT_EQ(in.count, 1u);
    EXPECT_EQ(bytes_of(*in[0]), frame);
    EXPECT_EQ(in[0]->meta.in_port, h.dp.find_port("t")->id);
    EXPECT_EQ(t->remote_of(1, kMacA), "::1");
    const std::string e = t->explain(*in[0]);
    EXPECT_NE(e.find("outer IPv6 ::1 -> ::1"), std::string::npos) << e;
    h.dp.pool().put(in);
  }
}

}  // namespace
}  // namespace kvnet::io
