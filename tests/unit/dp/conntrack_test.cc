// Conntrack: the verdicts, the TCP state machine, UDP/ICMP, related ICMP
// errors, zones, timeouts, a full table, the control path, and a randomized
// run against a std::map model. Frames are built by hand and parsed with
// net::parse_flow, as the firewall stage will.
#include "dp/conntrack.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <tuple>

#include "net/flow_key.h"
#include "net/headers.h"
#include "dp/packets.h"
#include "testing.h"

namespace kvnet::testing {
namespace {

using dp::Conntrack;
using CtState = Conntrack::CtState;
using ConnState = Conntrack::ConnState;
using Dir = Conntrack::Dir;
using Commit = Conntrack::Commit;
using Update = Conntrack::Update;

constexpr uint64_t kSec = dp::kSecondNs;
constexpr uint32_t kA = 0x0a000001, kB = 0x0a000002, kC = 0x0a000003, kR = 0x0a0000fe;  // 10.0.0.x; R: a router
constexpr uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kPsh = 0x08, kAck = 0x10, kEce = 0x40, kCwr = 0x80;

constexpr uint8_t kV6A[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01};
constexpr uint8_t kV6B[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02};
constexpr uint8_t kV6R[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xfe};

using namespace kvnet::testing::pkt;

// The first `keep` bytes of an IP packet, as an ICMP error quotes it.
Bytes quote(const Bytes& ip_packet, size_t keep) {
  return Bytes(ip_packet.begin(), ip_packet.begin() + static_cast<long>(std::min(keep, ip_packet.size())));
}

// Parses `frame` from an exactly-sized heap copy (so the Asan build reports
// any read past its end) into a conntrack Packet, which keeps no pointer to it.
Conntrack::Packet pkt(const Bytes& frame, uint16_t zone = 1) {
  Bytes exact(frame.begin(), frame.end());
  exact.shrink_to_fit();
  net::FlowKey k;
  EXPECT_EQ(net::parse_flow(exact.data(), exact.size(), k), net::ParseStatus::kOk);
  return Conntrack::Packet(k, exact.data(), exact.size(), zone);
}

// What the firewall will do with an allowed packet: commit new ones, update
// the others. Returns classify's verdict.
Conntrack::Verdict pass(Conntrack& ct, const Bytes& frame, uint64_t now, uint16_t zone = 1, uint32_t mark = 0) {
  const Conntrack::Packet p = pkt(frame, zone);
  const Conntrack::Verdict v = ct.classify(p, now);
  if (v.state == CtState::kNew) {
    EXPECT_EQ(ct.commit(p, now, mark).result, Commit::kCreated);
  } else if (v.state == CtState::kEstablished || v.state == CtState::kRelated) {
    EXPECT_EQ(ct.update(v.conn, v.dir, p, now), Update::kUpdated);
  }
  return v;
}

// The state of the only live connection (kNone if there is none).
ConnState only_state(const Conntrack& ct, uint64_t now) {
  const auto e = ct.entries(now);
  EXPECT_LE(e.size(), 1u);
  return e.empty() ? ConnState::kNone : e[0].state;
}

// A TCP conversation between client A:40000 and server B:80.
struct Tcp4 {
  uint32_t client = kA, server = kB;
  uint16_t cport = 40000, sport = 80;
  Bytes c2s(uint8_t flags, size_t payload = 0) const {
    return v4(net::kIpProtoTcp, client, server, tcp(cport, sport, flags, payload));
  }
  Bytes s2c(uint8_t flags, size_t payload = 0) const {
    return v4(net::kIpProtoTcp, server, client, tcp(sport, cport, flags, payload));
  }
};

// Drives a Tcp4 conversation through the handshake.
void handshake(Conntrack& ct, const Tcp4& t, uint64_t now, uint16_t zone = 1, uint32_t mark = 0) {
  ASSERT_EQ(pass(ct, t.c2s(kSyn), now, zone, mark).state, CtState::kNew);
  ASSERT_EQ(pass(ct, t.s2c(kSyn | kAck), now, zone).state, CtState::kEstablished);
  ASSERT_EQ(pass(ct, t.c2s(kAck), now, zone).state, CtState::kEstablished);
}

// ---------------------------------------------------------------- TCP

TEST(Conntrack, TcpHandshakeAndTeardownGoThroughEveryStateInOrder) {
  Conntrack ct(16);
  const Tcp4 t;
  uint64_t now = 0;
  struct Step {
    Bytes frame;
    Dir dir;
    ConnState before, after;
  };
  const std::vector<Step> steps = {
      {t.c2s(kSyn), Dir::kOrig, ConnState::kSynSent, ConnState::kSynSent},  // retransmitted SYN
      {t.s2c(kSyn | kAck), Dir::kReply, ConnState::kSynSent, ConnState::kSynRecv},
      {t.s2c(kSyn | kAck), Dir::kReply, ConnState::kSynRecv, ConnState::kSynRecv},  // retransmitted
      {t.c2s(kAck), Dir::kOrig, ConnState::kSynRecv, ConnState::kEstablished},
      {t.c2s(kPsh | kAck, 100), Dir::kOrig, ConnState::kEstablished, ConnState::kEstablished},
      {t.s2c(kPsh | kAck, 500), Dir::kReply, ConnState::kEstablished, ConnState::kEstablished},
      {t.c2s(kFin | kAck), Dir::kOrig, ConnState::kEstablished, ConnState::kFinWait},
      {t.c2s(kAck), Dir::kOrig, ConnState::kFinWait, ConnState::kFinWait},  // the FIN's side acks data
      {t.s2c(kAck), Dir::kReply, ConnState::kFinWait, ConnState::kCloseWait},
      {t.s2c(kPsh | kAck, 10), Dir::kReply, ConnState::kCloseWait, ConnState::kCloseWait},  // half-closed
      {t.s2c(kFin | kAck), Dir::kReply, ConnState::kCloseWait, ConnState::kLastAck},
      {t.s2c(kAck), Dir::kReply, ConnState::kLastAck, ConnState::kLastAck},  // not the final ACK
      {t.c2s(kAck), Dir::kOrig, ConnState::kLastAck, ConnState::kTimeWait},
      {t.c2s(kAck), Dir::kOrig, ConnState::kTimeWait, ConnState::kTimeWait},
  };
  const Conntrack::Packet syn = pkt(t.c2s(kSyn));
  const Conntrack::Verdict v0 = ct.classify(syn, now);
  EXPECT_EQ(v0.state, CtState::kNew);
  EXPECT_EQ(v0.conn, Conntrack::kNoConn);
  const Conntrack::CommitResult c = ct.commit(syn, now, 7);
  ASSERT_EQ(c.result, Commit::kCreated);
  EXPECT_EQ(only_state(ct, now), ConnState::kSynSent);
  for (size_t i = 0; i < steps.size(); ++i) {
    SCOPED_TRACE(i);
    now += kSec;
    const Conntrack::Packet p = pkt(steps[i].frame);
    const Conntrack::Verdict v = ct.classify(p, now);
    EXPECT_EQ(v.state, CtState::kEstablished);
    EXPECT_EQ(v.dir, steps[i].dir);
    EXPECT_EQ(v.conn, c.conn);
    EXPECT_EQ(v.conn_state, steps[i].before);
    EXPECT_EQ(ct.update(v.conn, v.dir, p, now), Update::kUpdated);
    EXPECT_EQ(only_state(ct, now), steps[i].after);
  }
  const auto e = ct.entries(now);
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].mark, 7u);
  EXPECT_EQ(e[0].packets[0], 8u);  // the committed SYN counts
  EXPECT_EQ(e[0].packets[1], 7u);
  EXPECT_EQ(e[0].bytes[0], 8u * 40 + 100);
  EXPECT_EQ(e[0].bytes[1], 7u * 40 + 510);
  EXPECT_EQ(to_string(e[0].state), "TIME_WAIT");
}

TEST(Conntrack, SimultaneousCloseEndsInTimeWait) {
  Conntrack ct(16);
  const Tcp4 t;
  handshake(ct, t, 0);
  pass(ct, t.c2s(kFin | kAck), 1);
  EXPECT_EQ(only_state(ct, 1), ConnState::kFinWait);
  pass(ct, t.s2c(kFin | kAck), 2);  // FIN from the other side before its ACK
  EXPECT_EQ(only_state(ct, 2), ConnState::kLastAck);
  pass(ct, t.c2s(kAck), 3);
  EXPECT_EQ(only_state(ct, 3), ConnState::kTimeWait);
}

TEST(Conntrack, ServerClosesFirst) {
  Conntrack ct(16);
  const Tcp4 t;
  handshake(ct, t, 0);
  pass(ct, t.s2c(kFin | kAck), 1);
  EXPECT_EQ(only_state(ct, 1), ConnState::kFinWait);
  pass(ct, t.s2c(kFin | kAck), 1);  // retransmitted FIN: same side, no change
  EXPECT_EQ(only_state(ct, 1), ConnState::kFinWait);
  pass(ct, t.c2s(kAck), 2);
  EXPECT_EQ(only_state(ct, 2), ConnState::kCloseWait);
  pass(ct, t.c2s(kFin | kAck), 3);
  EXPECT_EQ(only_state(ct, 3), ConnState::kLastAck);
  pass(ct, t.c2s(kAck), 4);  // the client acking again is not the final ACK
  EXPECT_EQ(only_state(ct, 4), ConnState::kLastAck);
  pass(ct, t.s2c(kAck), 5);
  EXPECT_EQ(only_state(ct, 5), ConnState::kTimeWait);
}

TEST(Conntrack, SynInTimeWaitReopensAsANewConnection) {
  for (const bool from_server : {false, true}) {
    SCOPED_TRACE(from_server);
    Conntrack ct(16);
    const Tcp4 t;
    handshake(ct, t, 0, 1, 3);
    pass(ct, t.c2s(kFin | kAck), 1);
    pass(ct, t.s2c(kFin | kAck), 1);
    pass(ct, t.c2s(kAck), 1);
    ASSERT_EQ(only_state(ct, 1), ConnState::kTimeWait);
    const Bytes syn = from_server ? t.s2c(kSyn) : t.c2s(kSyn);
    const Conntrack::Packet p = pkt(syn);
    const Conntrack::Verdict v = ct.classify(p, 2);
    EXPECT_EQ(v.state, CtState::kNew);  // the firewall's rules are asked again
    EXPECT_EQ(v.dir, Dir::kOrig);
    EXPECT_EQ(v.conn_state, ConnState::kTimeWait);
    EXPECT_EQ(ct.update(v.conn, from_server ? Dir::kReply : Dir::kOrig, p, 2), Update::kInvalid);
    EXPECT_EQ(ct.commit(p, 2, 9).result, Commit::kCreated);
    const auto e = ct.entries(2);
    ASSERT_EQ(e.size(), 1u);
    EXPECT_EQ(e[0].state, ConnState::kSynSent);
    EXPECT_EQ(e[0].mark, 9u);
    EXPECT_EQ(e[0].packets[0], 1u);
    EXPECT_EQ(e[0].orig.sport, from_server ? 80 : 40000);  // the SYN's sender is the original side
    // The new connection's handshake goes the SYN's way.
    const Bytes synack = from_server ? t.c2s(kSyn | kAck) : t.s2c(kSyn | kAck);
    EXPECT_EQ(pass(ct, synack, 3).dir, Dir::kReply);
    EXPECT_EQ(only_state(ct, 3), ConnState::kSynRecv);
  }
}

TEST(Conntrack, RstClosesWithTheShortTimeout) {
  Conntrack ct(16);
  const Tcp4 t;
  handshake(ct, t, 0);
  pass(ct, t.s2c(kRst | kAck), 100 * kSec);
  EXPECT_EQ(only_state(ct, 100 * kSec), ConnState::kClose);
  EXPECT_EQ(pass(ct, t.c2s(kAck), 105 * kSec).state, CtState::kEstablished);  // still CLOSE
  EXPECT_EQ(only_state(ct, 105 * kSec), ConnState::kClose);
  EXPECT_EQ(ct.classify(pkt(t.c2s(kAck)), 115 * kSec).state, CtState::kEstablished);     // 10 s: still there
  EXPECT_EQ(ct.classify(pkt(t.c2s(kAck)), 115 * kSec + 1).state, CtState::kInvalid);     // gone
  EXPECT_EQ(ct.classify(pkt(t.c2s(kSyn)), 115 * kSec + 1).state, CtState::kNew);
}

TEST(Conntrack, RstInSynSentCloses) {
  Conntrack ct(16);
  const Tcp4 t;
  pass(ct, t.c2s(kSyn), 0);
  EXPECT_EQ(pass(ct, t.s2c(kRst | kAck), 1).state, CtState::kEstablished);  // port closed: the RST passes
  EXPECT_EQ(only_state(ct, 1), ConnState::kClose);
  EXPECT_EQ(ct.classify(pkt(t.c2s(kSyn)), 2).state, CtState::kNew);  // retry
}

TEST(Conntrack, TcpWithoutAConnectionIsInvalidUnlessItIsASyn) {
  Conntrack ct(16);
  const Tcp4 t;
  for (uint8_t flags : {kAck, uint8_t(kSyn | kAck), kRst, uint8_t(kRst | kAck), uint8_t(kFin | kAck),
                        uint8_t(kPsh | kAck)}) {
    SCOPED_TRACE(int{flags});
    const Conntrack::Packet p = pkt(t.c2s(flags, 20));
    const Conntrack::Verdict v = ct.classify(p, 0);
    EXPECT_EQ(v.state, CtState::kInvalid);
    EXPECT_EQ(v.conn, Conntrack::kNoConn);
    EXPECT_EQ(ct.commit(p, 0, 0).result, Commit::kInvalid);
  }
  // Data in both directions without the handshake is never picked up.
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(pass(ct, t.c2s(kPsh | kAck, 10), 1).state, CtState::kInvalid);
    EXPECT_EQ(pass(ct, t.s2c(kPsh | kAck, 10), 1).state, CtState::kInvalid);
  }
  EXPECT_EQ(ct.size(), 0u);
  EXPECT_EQ(ct.classify(pkt(t.c2s(kSyn)), 0).state, CtState::kNew);
  EXPECT_EQ(ct.classify(pkt(t.c2s(kSyn | kEce | kCwr)), 0).state, CtState::kNew);  // ECN setup SYN
}

TEST(Conntrack, BadTcpFlagSetsAreInvalidEvenOnAConnection) {
  Conntrack ct(16);
  const Tcp4 t;
  handshake(ct, t, 0);
  for (uint8_t flags : {uint8_t{0}, kFin, uint8_t(kSyn | kFin), uint8_t(kSyn | kRst), uint8_t(kFin | kRst | kAck),
                        uint8_t(kFin | kSyn | kRst | kPsh | kAck | 0x20)}) {
    SCOPED_TRACE(int{flags});
    const Conntrack::Packet p = pkt(t.c2s(flags));
    EXPECT_EQ(p.kind, Conntrack::Packet::Kind::kInvalid);
    EXPECT_EQ(ct.classify(p, 1).state, CtState::kInvalid);
    EXPECT_EQ(ct.update(0, Dir::kOrig, p, 1), Update::kGone);
  }
  EXPECT_EQ(only_state(ct, 1), ConnState::kEstablished);
}

TEST(Conntrack, PacketsNotValidForTheTcpStateAreInvalidAndChangeNothing) {
  Conntrack ct(16);
  const Tcp4 t;
  const uint32_t id = ct.commit(pkt(t.c2s(kSyn)), 0, 0).conn;
  struct Case {
    Bytes frame;
    Dir dir;
  };
  // In SYN_SENT: an ACK or FIN from the client, a SYN from the server (no
  // simultaneous open), a SYN+ACK from the client.
  for (const Case& c : {Case{t.c2s(kAck), Dir::kOrig}, Case{t.c2s(kFin | kAck), Dir::kOrig},
                        Case{t.s2c(kSyn), Dir::kReply}, Case{t.c2s(kSyn | kAck), Dir::kOrig},
                        Case{t.s2c(kAck), Dir::kReply}}) {
    const Conntrack::Packet p = pkt(c.frame);
    const Conntrack::Verdict v = ct.classify(p, 1);
    EXPECT_EQ(v.state, CtState::kInvalid);
    EXPECT_EQ(v.conn, id);
    EXPECT_EQ(v.dir, c.dir);
    EXPECT_EQ(v.conn_state, ConnState::kSynSent);
    EXPECT_EQ(ct.update(id, c.dir, p, 1), Update::kInvalid);
  }
  const auto e = ct.entries(1);
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].state, ConnState::kSynSent);
  EXPECT_EQ(e[0].packets[0] + e[0].packets[1], 1u);
  EXPECT_EQ(e[0].expires_ns, 120 * kSec);  // not refreshed by the invalid ones

  // Established: a SYN from the client is ignored (still established), from
  // the server invalid; a SYN+ACK from the client invalid.
  pass(ct, t.s2c(kSyn | kAck), 2);
  pass(ct, t.c2s(kAck), 2);
  EXPECT_EQ(pass(ct, t.c2s(kSyn), 3).state, CtState::kEstablished);
  EXPECT_EQ(pass(ct, t.s2c(kSyn), 3).state, CtState::kInvalid);
  EXPECT_EQ(pass(ct, t.c2s(kSyn | kAck), 3).state, CtState::kInvalid);
  EXPECT_EQ(pass(ct, t.s2c(kSyn | kAck), 3).state, CtState::kEstablished);
  EXPECT_EQ(only_state(ct, 3), ConnState::kEstablished);
}

TEST(Conntrack, Ipv6TcpHandshakeAndReplies) {
  Conntrack ct(16);
  auto c2s = [](uint8_t f) { return v6(net::kIpProtoTcp, kV6A, kV6B, tcp(5000, 22, f)); };
  auto s2c = [](uint8_t f) { return v6(net::kIpProtoTcp, kV6B, kV6A, tcp(22, 5000, f)); };
  EXPECT_EQ(pass(ct, c2s(kSyn), 0, 1, 5).state, CtState::kNew);
  const Conntrack::Verdict v = pass(ct, s2c(kSyn | kAck), 1);
  EXPECT_EQ(v.state, CtState::kEstablished);
  EXPECT_EQ(v.dir, Dir::kReply);
  pass(ct, c2s(kAck), 2);
  EXPECT_EQ(only_state(ct, 2), ConnState::kEstablished);
  EXPECT_EQ(ct.classify(pkt(s2c(kPsh | kAck)), 3).dir, Dir::kReply);
  EXPECT_EQ(ct.classify(pkt(v6(net::kIpProtoTcp, kV6A, kV6B, tcp(5001, 22, kAck))), 3).state, CtState::kInvalid);
  // The same ports over IPv4 are another connection.
  EXPECT_EQ(ct.classify(pkt(v4(net::kIpProtoTcp, kA, kB, tcp(5000, 22, kAck))), 3).state, CtState::kInvalid);
  const auto e = ct.entries(3);
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].family(), 6);
  EXPECT_EQ(e[0].bytes[0], 2u * 60);
  EXPECT_EQ(format_entry(e[0], 3),
            "tcp 6 431999 ESTABLISHED src=2001:db8::1 dst=2001:db8::2 sport=5000 dport=22 packets=2 bytes=120 "
            "src=2001:db8::2 dst=2001:db8::1 sport=22 dport=5000 packets=1 bytes=60 mark=5 zone=1");
}

// ---------------------------------------------------------------- UDP, ICMP, other

TEST(Conntrack, UdpNewCommittedRepliedAndItsTimeouts) {
  Conntrack ct(16);
  const Bytes out = v4(net::kIpProtoUdp, kA, kB, udp(5353, 53, 30));
  const Bytes back = v4(net::kIpProtoUdp, kB, kA, udp(53, 5353, 100));
  EXPECT_EQ(pass(ct, out, 0, 1, 2).state, CtState::kNew);
  EXPECT_EQ(only_state(ct, 0), ConnState::kUnreplied);
  Conntrack::Verdict v = pass(ct, out, 10 * kSec);
  EXPECT_EQ(v.state, CtState::kEstablished);
  EXPECT_EQ(v.dir, Dir::kOrig);
  EXPECT_EQ(only_state(ct, 10 * kSec), ConnState::kUnreplied);
  EXPECT_EQ(ct.entries(10 * kSec)[0].seconds_left(10 * kSec), 30u);
  v = pass(ct, back, 20 * kSec);
  EXPECT_EQ(v.state, CtState::kEstablished);
  EXPECT_EQ(v.dir, Dir::kReply);
  EXPECT_EQ(only_state(ct, 20 * kSec), ConnState::kReplied);
  EXPECT_EQ(ct.entries(20 * kSec)[0].seconds_left(20 * kSec), 120u);
  EXPECT_EQ(format_entry(ct.entries(21 * kSec)[0], 21 * kSec),
            "udp 17 119 src=10.0.0.1 dst=10.0.0.2 sport=5353 dport=53 packets=2 bytes=116 "
            "src=10.0.0.2 dst=10.0.0.1 sport=53 dport=5353 packets=1 bytes=128 mark=2 zone=1");
  EXPECT_EQ(ct.classify(pkt(out), 140 * kSec).state, CtState::kEstablished);  // 120 s after the reply
  EXPECT_EQ(ct.classify(pkt(out), 140 * kSec + 1).state, CtState::kNew);
  // Unreplied: 30 s.
  Conntrack ct2(16);
  pass(ct2, out, 0);
  EXPECT_NE(format_entry(ct2.entries(0)[0], 0).find("[UNREPLIED]"), std::string::npos);
  EXPECT_EQ(ct2.classify(pkt(back), 30 * kSec).state, CtState::kEstablished);
  EXPECT_EQ(ct2.classify(pkt(back), 30 * kSec + 1).state, CtState::kNew);  // a reply too late is new
}

TEST(Conntrack, IcmpEchoRequestAndReply) {
  Conntrack ct(16);
  const Bytes req = v4(net::kIpProtoIcmp, kA, kB, icmp(8, 0, 0x77, 1));
  const Bytes rep = v4(net::kIpProtoIcmp, kB, kA, icmp(0, 0, 0x77, 1));
  EXPECT_EQ(ct.classify(pkt(rep), 0).state, CtState::kInvalid);  // a reply with no request
  EXPECT_EQ(ct.commit(pkt(rep), 0, 0).result, Commit::kInvalid);
  EXPECT_EQ(pass(ct, req, 0).state, CtState::kNew);
  EXPECT_EQ(only_state(ct, 0), ConnState::kUnreplied);
  const Conntrack::Verdict v = pass(ct, rep, 1);
  EXPECT_EQ(v.state, CtState::kEstablished);
  EXPECT_EQ(v.dir, Dir::kReply);
  EXPECT_EQ(only_state(ct, 1), ConnState::kReplied);
  EXPECT_EQ(pass(ct, v4(net::kIpProtoIcmp, kA, kB, icmp(8, 0, 0x77, 2)), 2).state, CtState::kEstablished);
  // Another identifier, a reply sent the request's way, a request from the
  // other side: none belongs to this connection.
  EXPECT_EQ(ct.classify(pkt(v4(net::kIpProtoIcmp, kB, kA, icmp(0, 0, 0x78, 1))), 2).state, CtState::kInvalid);
  EXPECT_EQ(ct.classify(pkt(v4(net::kIpProtoIcmp, kA, kB, icmp(0, 0, 0x77, 1))), 2).state, CtState::kInvalid);
  EXPECT_EQ(ct.classify(pkt(v4(net::kIpProtoIcmp, kB, kA, icmp(8, 0, 0x77, 1))), 2).state, CtState::kNew);
  EXPECT_EQ(ct.classify(pkt(v4(net::kIpProtoIcmp, kA, kB, icmp(8, 0, 0x78, 1))), 2).state, CtState::kNew);
  EXPECT_EQ(format_entry(ct.entries(2)[0], 2),
            "icmp 1 30 src=10.0.0.1 dst=10.0.0.2 type=8 code=0 id=119 packets=2 bytes=56 "
            "src=10.0.0.2 dst=10.0.0.1 type=0 code=0 id=119 packets=1 bytes=28 mark=0 zone=1");
  EXPECT_EQ(ct.classify(pkt(rep), 30 * kSec + 2).state, CtState::kEstablished);
  EXPECT_EQ(ct.classify(pkt(rep), 30 * kSec + 3).state, CtState::kInvalid);  // 30 s after the last request
}

TEST(Conntrack, Icmpv6EchoRequestAndReply) {
  Conntrack ct(16);
  EXPECT_EQ(ct.classify(pkt(v6(net::kIpProtoIcmpv6, kV6B, kV6A, icmp(129, 0, 9, 1))), 0).state, CtState::kInvalid);
  EXPECT_EQ(pass(ct, v6(net::kIpProtoIcmpv6, kV6A, kV6B, icmp(128, 0, 9, 1)), 0).state, CtState::kNew);
  const Conntrack::Verdict v = pass(ct, v6(net::kIpProtoIcmpv6, kV6B, kV6A, icmp(129, 0, 9, 1)), 1);
  EXPECT_EQ(v.state, CtState::kEstablished);
  EXPECT_EQ(v.dir, Dir::kReply);
  EXPECT_EQ(only_state(ct, 1), ConnState::kReplied);
  // IPv4 echo types mean nothing in ICMPv6.
  EXPECT_EQ(ct.classify(pkt(v6(net::kIpProtoIcmpv6, kV6A, kV6B, icmp(8, 0, 9, 1))), 1).state, CtState::kInvalid);
}

TEST(Conntrack, UntrackedIcmpTypesAreInvalid) {
  Conntrack ct(16);
  // Timestamp request, router advertisement; ICMPv6 neighbour solicitation, router advertisement.
  EXPECT_EQ(ct.classify(pkt(v4(net::kIpProtoIcmp, kA, kB, icmp(13, 0, 1, 1))), 0).state, CtState::kInvalid);
  EXPECT_EQ(ct.classify(pkt(v4(net::kIpProtoIcmp, kA, kB, icmp(9, 0, 1, 1))), 0).state, CtState::kInvalid);
  EXPECT_EQ(ct.classify(pkt(v6(net::kIpProtoIcmpv6, kV6A, kV6B, icmp(135, 0, 0, 0))), 0).state, CtState::kInvalid);
  EXPECT_EQ(ct.classify(pkt(v6(net::kIpProtoIcmpv6, kV6A, kV6B, icmp(134, 0, 0, 0))), 0).state, CtState::kInvalid);
  // An echo request cut short of its identifier.
  EXPECT_EQ(ct.classify(pkt(v4(net::kIpProtoIcmp, kA, kB, {8, 0, 0, 0, 0, 1})), 0).state, CtState::kInvalid);
}

TEST(Conntrack, OtherProtocolsAreTrackedByAddresses) {
  Conntrack ct(16);
  const Bytes gre = v4(47, kA, kB, Bytes(12, 0));
  EXPECT_EQ(pass(ct, gre, 0).state, CtState::kNew);
  const Conntrack::Verdict v = pass(ct, v4(47, kB, kA, Bytes(12, 0)), 1);
  EXPECT_EQ(v.state, CtState::kEstablished);
  EXPECT_EQ(v.dir, Dir::kReply);
  EXPECT_EQ(only_state(ct, 1), ConnState::kReplied);
  EXPECT_EQ(ct.classify(pkt(v4(47, kA, kC, Bytes(12, 0))), 1).state, CtState::kNew);
  EXPECT_EQ(ct.classify(pkt(gre), 601 * kSec + 1).state, CtState::kNew);
}

// ---------------------------------------------------------------- related

TEST(Conntrack, Ipv4ErrorsQuotingAConnectionAreRelated) {
  Conntrack ct(16);
  const Bytes udp_out = ip4(net::kIpProtoUdp, kA, kB, udp(5353, 53, 20));
  const Bytes udp_back = ip4(net::kIpProtoUdp, kB, kA, udp(53, 5353, 20));
  const Bytes tcp_out = ip4(net::kIpProtoTcp, kA, kC, tcp(40000, 443, kSyn));
  const Bytes ping = ip4(net::kIpProtoIcmp, kA, kC, icmp(8, 0, 0x55, 1));
  pass(ct, l2(0x0800, udp_out), 0);
  pass(ct, l2(0x0800, tcp_out), 0);
  pass(ct, l2(0x0800, ping), 0);
  ASSERT_EQ(ct.size(), 3u);
  const auto before = ct.entries(1);

  struct Case {
    std::string what;
    Bytes frame;
    CtState want;
    Dir dir = Dir::kReply;
  };
  const std::vector<Case> cases = {
      {"port unreachable from B", v4(net::kIpProtoIcmp, kB, kA, icmp(3, 3, 0, 0, quote(udp_out, 28))),
       CtState::kRelated},
      {"whole datagram quoted", v4(net::kIpProtoIcmp, kB, kA, icmp(3, 3, 0, 0, udp_out)), CtState::kRelated},
      {"TTL exceeded from a router", v4(net::kIpProtoIcmp, kR, kA, icmp(11, 0, 0, 0, quote(tcp_out, 28))),
       CtState::kRelated},
      {"frag needed", v4(net::kIpProtoIcmp, kR, kA, icmp(3, 4, 0, 1400, quote(tcp_out, 28))), CtState::kRelated},
      {"source quench", v4(net::kIpProtoIcmp, kR, kA, icmp(4, 0, 0, 0, quote(tcp_out, 28))), CtState::kRelated},
      {"redirect", v4(net::kIpProtoIcmp, kR, kA, icmp(5, 1, 0, 0, quote(udp_out, 28))), CtState::kRelated},
      {"parameter problem", v4(net::kIpProtoIcmp, kR, kA, icmp(12, 0, 0, 0, quote(udp_out, 28))),
       CtState::kRelated},
      {"ping's TTL exceeded", v4(net::kIpProtoIcmp, kR, kA, icmp(11, 0, 0, 0, quote(ping, 28))), CtState::kRelated},
      {"about the reply, sent to B", v4(net::kIpProtoIcmp, kA, kB, icmp(3, 3, 0, 0, quote(udp_back, 28))),
       CtState::kRelated, Dir::kOrig},
      {"unknown connection", v4(net::kIpProtoIcmp, kB, kA,
                                icmp(3, 3, 0, 0, quote(ip4(net::kIpProtoUdp, kA, kB, udp(5354, 53)), 28))),
       CtState::kInvalid},
      {"sent to someone else than the quoted sender", v4(net::kIpProtoIcmp, kB, kC, icmp(3, 3, 0, 0, quote(udp_out, 28))),
       CtState::kInvalid},
      {"quote shorter than 8 transport bytes", v4(net::kIpProtoIcmp, kB, kA, icmp(3, 3, 0, 0, quote(udp_out, 27))),
       CtState::kInvalid},
      {"quote without an IP header", v4(net::kIpProtoIcmp, kB, kA, icmp(3, 3, 0, 0, quote(udp_out, 16))),
       CtState::kInvalid},
      {"not an error type", v4(net::kIpProtoIcmp, kB, kA, icmp(14, 0, 0, 0, quote(udp_out, 28))), CtState::kInvalid},
      {"error about an error", v4(net::kIpProtoIcmp, kR, kA,
                                  icmp(11, 0, 0, 0, quote(ip4(net::kIpProtoIcmp, kA, kC, icmp(3, 3, 0, 0, quote(ping, 28))), 28))),
       CtState::kInvalid},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    const Conntrack::Packet p = pkt(c.frame);
    const Conntrack::Verdict v = ct.classify(p, 1);
    EXPECT_EQ(v.state, c.want);
    if (c.want != CtState::kRelated) {
      EXPECT_EQ(ct.commit(p, 1, 0).result, Commit::kInvalid);
      continue;
    }
    EXPECT_EQ(v.dir, c.dir);
    ASSERT_NE(v.conn, Conntrack::kNoConn);
    EXPECT_EQ(ct.update(v.conn, v.dir, p, 1), Update::kUpdated);
    EXPECT_EQ(ct.update(v.conn, c.dir == Dir::kOrig ? Dir::kReply : Dir::kOrig, p, 1), Update::kGone);
  }
  // Related packets neither create nor change connections.
  const auto after = ct.entries(1);
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < after.size(); ++i) {
    EXPECT_EQ(after[i].packets[0], before[i].packets[0]);
    EXPECT_EQ(after[i].packets[1], before[i].packets[1]);
    EXPECT_EQ(after[i].expires_ns, before[i].expires_ns);
  }
  // An error about an expired connection is not related.
  EXPECT_EQ(ct.classify(pkt(cases[0].frame), 31 * kSec).state, CtState::kInvalid);
}

TEST(Conntrack, Icmpv6ErrorsQuotingAConnectionAreRelated) {
  Conntrack ct(16);
  const Bytes out = ip6(net::kIpProtoUdp, kV6A, kV6B, udp(7000, 123, 40));
  const Bytes syn = ip6(net::kIpProtoTcp, kV6A, kV6B, tcp(7001, 80, kSyn));
  pass(ct, l2(0x86dd, out), 0);
  pass(ct, l2(0x86dd, syn), 0);
  for (uint8_t type : {1, 2, 3, 4}) {
    SCOPED_TRACE(int{type});
    const Conntrack::Verdict v = ct.classify(pkt(v6(net::kIpProtoIcmpv6, kV6R, kV6A, icmp(type, 0, 0, 0, quote(out, 48)))), 1);
    EXPECT_EQ(v.state, CtState::kRelated);
    EXPECT_EQ(v.dir, Dir::kReply);
    EXPECT_EQ(ct.classify(pkt(v6(net::kIpProtoIcmpv6, kV6B, kV6A, icmp(type, 4, 0, 0, quote(syn, 48)))), 1).state,
              CtState::kRelated);
  }
  const Bytes unknown = ip6(net::kIpProtoUdp, kV6A, kV6B, udp(7002, 123));
  EXPECT_EQ(ct.classify(pkt(v6(net::kIpProtoIcmpv6, kV6B, kV6A, icmp(1, 4, 0, 0, quote(unknown, 48)))), 1).state,
            CtState::kInvalid);
  EXPECT_EQ(ct.classify(pkt(v6(net::kIpProtoIcmpv6, kV6B, kV6A, icmp(1, 4, 0, 0, quote(out, 47)))), 1).state,
            CtState::kInvalid);
  // Type 3 is an error in ICMPv6 but 5/11/12 are not (they are IPv4 numbers).
  EXPECT_EQ(ct.classify(pkt(v6(net::kIpProtoIcmpv6, kV6R, kV6A, icmp(11, 0, 0, 0, quote(out, 48)))), 1).state,
            CtState::kInvalid);
  // An IPv4 quote inside an ICMPv6 error does not match.
  EXPECT_EQ(ct.classify(pkt(v6(net::kIpProtoIcmpv6, kV6R, kV6A,
                               icmp(1, 0, 0, 0, quote(ip4(net::kIpProtoUdp, kA, kB, udp(7000, 123)), 28)))),
                        1)
                .state,
            CtState::kInvalid);
}

// ---------------------------------------------------------------- malformed

TEST(Conntrack, FragmentsTruncatedAndNonIpAreInvalid) {
  Conntrack ct(16);
  const Bytes l4 = udp(1, 2, 16);
  const std::vector<std::pair<std::string, Bytes>> cases = {
      {"first fragment (MF)", l2(0x0800, ip4(net::kIpProtoUdp, kA, kB, l4, 0x2000))},
      {"later fragment", l2(0x0800, ip4(net::kIpProtoUdp, kA, kB, l4, 0x0003))},
      {"IPv6 fragment header", v6(44, kV6A, kV6B, Bytes(24, 0))},
      {"IPv6 hop-by-hop", v6(0, kV6A, kV6B, Bytes(24, 0))},
      {"TCP header longer than the packet", v4(net::kIpProtoTcp, kA, kB, tcp(1, 2, kSyn, 0, 0xf0))},
      {"TCP data offset below 5", v4(net::kIpProtoTcp, kA, kB, tcp(1, 2, kSyn, 0, 0x40))},
      {"truncated UDP", v4(net::kIpProtoUdp, kA, kB, Bytes{0, 1, 0, 2})},
      {"IP length beyond the frame", [] {
         Bytes b = v4(net::kIpProtoUdp, kA, kB, udp(1, 2, 16));
         b.resize(b.size() - 4);
         return b;
       }()},
      {"ARP", eth(0xffffffffffff, 0x525400000001, {}, 0x0806, 60)},
  };
  for (const auto& [what, frame] : cases) {
    SCOPED_TRACE(what);
    const Conntrack::Packet p = pkt(frame);
    EXPECT_EQ(p.kind, Conntrack::Packet::Kind::kInvalid);
    EXPECT_EQ(ct.classify(p, 0).state, CtState::kInvalid);
    EXPECT_EQ(ct.commit(p, 0, 0).result, Commit::kInvalid);
  }
  EXPECT_EQ(ct.size(), 0u);
  // DF alone is not a fragment; Ethernet padding is not payload.
  EXPECT_EQ(ct.classify(pkt(l2(0x0800, ip4(net::kIpProtoUdp, kA, kB, l4, 0x4000))), 0).state, CtState::kNew);
  Bytes padded = v4(net::kIpProtoTcp, kA, kB, tcp(1, 2, kSyn));
  padded.resize(80, 0);
  EXPECT_EQ(pkt(padded).ip_len, 40u);
  EXPECT_EQ(ct.classify(pkt(padded), 0).state, CtState::kNew);
}

// ---------------------------------------------------------------- table

TEST(Conntrack, ZonesAreSeparate) {
  Conntrack ct(16);
  const Bytes out = v4(net::kIpProtoUdp, kA, kB, udp(1000, 2000));
  const Bytes back = v4(net::kIpProtoUdp, kB, kA, udp(2000, 1000));
  pass(ct, out, 0, 1);
  EXPECT_EQ(ct.classify(pkt(back, 1), 0).state, CtState::kEstablished);
  EXPECT_EQ(ct.classify(pkt(back, 2), 0).state, CtState::kNew);
  EXPECT_EQ(ct.classify(pkt(out, 2), 0).state, CtState::kNew);
  EXPECT_EQ(ct.commit(pkt(out, 2), 0, 0).result, Commit::kCreated);
  EXPECT_EQ(ct.commit(pkt(out, 1), 0, 0).result, Commit::kExists);
  const Conntrack::CommitResult r = ct.commit(pkt(back, 2), 0, 0);
  EXPECT_EQ(r.result, Commit::kExists);
  EXPECT_EQ(r.dir, Dir::kReply);
  EXPECT_EQ(ct.size(), 2u);
  pass(ct, back, 1, 2);
  auto e = ct.entries(1);
  ASSERT_EQ(e.size(), 2u);
  std::sort(e.begin(), e.end(), [](auto& x, auto& y) { return x.zone() < y.zone(); });
  EXPECT_EQ(e[0].state, ConnState::kUnreplied);
  EXPECT_EQ(e[1].state, ConnState::kReplied);
}

TEST(Conntrack, ExpiredEntriesAreAbsentAndSweptAndTimeoutsApplyAtOnce) {
  Conntrack::Timeouts to;
  to.udp_unreplied_ns = 5 * kSec;
  to.tcp_established_ns = 50 * kSec;
  Conntrack ct(16, to);
  const Tcp4 t;
  handshake(ct, t, 0);
  const Bytes u = v4(net::kIpProtoUdp, kA, kC, udp(1, 2));
  pass(ct, u, 0);
  EXPECT_EQ(ct.classify(pkt(u), 5 * kSec).state, CtState::kEstablished);
  EXPECT_EQ(ct.classify(pkt(u), 5 * kSec + 1).state, CtState::kNew);
  EXPECT_EQ(ct.entries(5 * kSec + 1).size(), 1u);
  EXPECT_EQ(ct.size(), 2u);  // not swept yet
  EXPECT_EQ(ct.expire(5 * kSec + 1), 1u);
  EXPECT_EQ(ct.size(), 1u);
  EXPECT_EQ(ct.stats().expired, 1u);
  // A commit over an expired, unswept entry replaces it.
  pass(ct, u, 10 * kSec);
  EXPECT_EQ(ct.commit(pkt(u), 16 * kSec, 0).result, Commit::kCreated);
  EXPECT_EQ(ct.stats().expired, 2u);
  EXPECT_EQ(ct.size(), 2u);
  // Shorter timeouts apply to existing connections at once.
  EXPECT_EQ(ct.classify(pkt(t.c2s(kAck)), 40 * kSec).state, CtState::kEstablished);
  to.tcp_established_ns = 30 * kSec;
  ct.set_timeouts(to);
  EXPECT_EQ(ct.timeouts().tcp_established_ns, 30 * kSec);
  EXPECT_EQ(ct.classify(pkt(t.c2s(kAck)), 40 * kSec).state, CtState::kInvalid);
  EXPECT_EQ(ct.update(0, Dir::kOrig, pkt(t.c2s(kAck)), 40 * kSec), Update::kGone);
  EXPECT_EQ(ct.expire(40 * kSec), 2u);
  EXPECT_EQ(ct.size(), 0u);
  EXPECT_EQ(ct.stats().expired, 4u);
}

TEST(Conntrack, DefaultTimeoutsAreNetfilters) {
  const Conntrack::Timeouts t;
  EXPECT_EQ(t.tcp_syn_sent_ns, 120 * kSec);
  EXPECT_EQ(t.tcp_syn_recv_ns, 60 * kSec);
  EXPECT_EQ(t.tcp_established_ns, 432000 * kSec);
  EXPECT_EQ(t.tcp_fin_wait_ns, 120 * kSec);
  EXPECT_EQ(t.tcp_close_wait_ns, 60 * kSec);
  EXPECT_EQ(t.tcp_last_ack_ns, 30 * kSec);
  EXPECT_EQ(t.tcp_time_wait_ns, 120 * kSec);
  EXPECT_EQ(t.tcp_close_ns, 10 * kSec);
  EXPECT_EQ(t.udp_unreplied_ns, 30 * kSec);
  EXPECT_EQ(t.udp_replied_ns, 120 * kSec);
  EXPECT_EQ(t.icmp_ns, 30 * kSec);
  // Each TCP state's timeout is the one used.
  Conntrack ct(4);
  const Tcp4 tc;
  pass(ct, tc.c2s(kSyn), 0);
  EXPECT_EQ(ct.entries(0)[0].expires_ns, 120 * kSec);
  pass(ct, tc.s2c(kSyn | kAck), 1);
  EXPECT_EQ(ct.entries(1)[0].expires_ns, 1 + 60 * kSec);
  pass(ct, tc.c2s(kFin | kAck), 2);
  EXPECT_EQ(ct.entries(2)[0].expires_ns, 2 + 120 * kSec);
  pass(ct, tc.s2c(kAck), 3);
  EXPECT_EQ(ct.entries(3)[0].expires_ns, 3 + 60 * kSec);
  pass(ct, tc.s2c(kFin | kAck), 4);
  EXPECT_EQ(ct.entries(4)[0].expires_ns, 4 + 30 * kSec);
  pass(ct, tc.c2s(kAck), 5);
  EXPECT_EQ(ct.entries(5)[0].expires_ns, 5 + 120 * kSec);
}

TEST(Conntrack, FullTableRefusesThenReclaimsExpiredEntries) {
  Conntrack::Timeouts to;
  to.tcp_established_ns = 100 * kSec;
  Conntrack ct(2, to);
  Tcp4 a, b, c;
  b.cport = 40001;
  c.cport = 40002;
  handshake(ct, a, 0);
  handshake(ct, b, 10 * kSec);
  EXPECT_EQ(ct.size(), 2u);
  EXPECT_EQ(ct.capacity(), 2u);
  const Conntrack::Packet syn = pkt(c.c2s(kSyn));
  EXPECT_EQ(ct.classify(syn, 50 * kSec).state, CtState::kNew);
  const Conntrack::CommitResult r = ct.commit(syn, 50 * kSec, 0);
  EXPECT_EQ(r.result, Commit::kFull);
  EXPECT_EQ(r.conn, Conntrack::kNoConn);
  EXPECT_EQ(ct.stats().full, 1u);
  EXPECT_EQ(ct.stats().evicted, 0u);  // established connections are never evicted
  EXPECT_EQ(ct.size(), 2u);
  // a expires at 100 s: its slot is reclaimed by the commit.
  EXPECT_EQ(ct.commit(syn, 100 * kSec + 1, 0).result, Commit::kCreated);
  EXPECT_EQ(ct.stats().expired, 1u);
  EXPECT_EQ(ct.classify(pkt(a.c2s(kAck)), 100 * kSec + 1).state, CtState::kInvalid);
  EXPECT_EQ(ct.classify(pkt(b.c2s(kAck)), 100 * kSec + 1).state, CtState::kEstablished);
  EXPECT_EQ(ct.classify(pkt(c.s2c(kSyn | kAck)), 100 * kSec + 1).state, CtState::kEstablished);
}

TEST(Conntrack, ResizeKeepsConnectionsInPlaceNewestFirst) {
  Conntrack::Timeouts to;
  to.udp_unreplied_ns = 50 * kSec;
  Conntrack ct(8, to, 7);
  Conntrack* const where = &ct;
  Tcp4 a, b, c;
  b.cport = 40001;
  c.cport = 40002;
  handshake(ct, a, 0, 1, 11);
  handshake(ct, b, 10 * kSec, 1, 12);
  const Bytes u = v4(net::kIpProtoUdp, kA, kC, udp(1, 2));
  pass(ct, u, 20 * kSec, 2, 13);
  handshake(ct, c, 30 * kSec, 1, 14);
  // Larger: everything stays, with its state, counters, marks and stats.
  const auto before = ct.entries(30 * kSec);
  EXPECT_EQ(ct.resize(64), 4u);
  EXPECT_EQ(&ct, where);
  EXPECT_EQ(ct.capacity(), 64u);
  EXPECT_EQ(ct.size(), 4u);
  EXPECT_EQ(ct.stats().created, 4u);
  auto after = ct.entries(30 * kSec);
  ASSERT_EQ(after.size(), 4u);
  auto key = [](const Conntrack::Entry& e) { return std::tuple(e.mark, e.packets[0], e.packets[1], e.expires_ns); };
  std::vector<decltype(key(after[0]))> kb, ka;
  for (const auto& e : before) kb.push_back(key(e));
  for (const auto& e : after) ka.push_back(key(e));
  std::sort(kb.begin(), kb.end());
  std::sort(ka.begin(), ka.end());
  EXPECT_EQ(ka, kb);
  EXPECT_EQ(pass(ct, a.s2c(kAck, 10), 31 * kSec).state, CtState::kEstablished);
  EXPECT_EQ(pass(ct, u, 31 * kSec, 2).state, CtState::kEstablished);
  EXPECT_EQ(ct.classify(pkt(u, 1), 31 * kSec).state, CtState::kNew);  // zones kept apart
  // Smaller: the most recently seen stay (c at 30 s, a and u at 31 s; b goes).
  EXPECT_EQ(ct.resize(3), 3u);
  EXPECT_EQ(ct.capacity(), 3u);
  EXPECT_EQ(ct.classify(pkt(b.c2s(kAck)), 32 * kSec).state, CtState::kInvalid);
  EXPECT_EQ(ct.classify(pkt(a.c2s(kAck)), 32 * kSec).state, CtState::kEstablished);
  EXPECT_EQ(ct.classify(pkt(c.c2s(kAck)), 32 * kSec).state, CtState::kEstablished);
  EXPECT_EQ(ct.classify(pkt(u, 2), 32 * kSec).state, CtState::kEstablished);
  // Full now: the copied expiry lists still find the unassured one to evict (u).
  const uint64_t evicted = ct.stats().evicted;
  EXPECT_EQ(ct.commit(pkt(b.c2s(kSyn)), 32 * kSec, 0).result, Commit::kCreated);
  EXPECT_EQ(ct.stats().evicted, evicted + 1);
  EXPECT_EQ(ct.classify(pkt(u, 2), 32 * kSec).state, CtState::kNew);
  EXPECT_EQ(ct.classify(pkt(a.c2s(kAck)), 32 * kSec).state, CtState::kEstablished);
  // To zero and back: empty, usable.
  EXPECT_EQ(ct.resize(0), 0u);
  EXPECT_EQ(ct.commit(pkt(b.c2s(kSyn)), 83 * kSec, 0).result, Commit::kFull);
  ct.resize(2);
  EXPECT_EQ(ct.commit(pkt(b.c2s(kSyn)), 83 * kSec, 0).result, Commit::kCreated);
}

TEST(Conntrack, FullTableEvictsTheUnassuredConnectionClosestToItsDeadline) {
  Conntrack ct(3);
  const Tcp4 est;
  handshake(ct, est, 0);
  const Bytes u1 = v4(net::kIpProtoUdp, kA, kB, udp(1, 1));  // unreplied: deadline 30 s
  const Bytes s1 = v4(net::kIpProtoTcp, kA, kC, tcp(2, 2, kSyn));  // SYN_SENT at 5 s: deadline 125 s
  pass(ct, u1, 0);
  pass(ct, s1, 5 * kSec);
  const Bytes u2 = v4(net::kIpProtoUdp, kA, kC, udp(3, 3));
  EXPECT_EQ(ct.commit(pkt(u2), 6 * kSec, 0).result, Commit::kCreated);
  EXPECT_EQ(ct.stats().evicted, 1u);
  EXPECT_EQ(ct.classify(pkt(u1), 6 * kSec).state, CtState::kNew);                    // u1 went
  EXPECT_EQ(ct.classify(pkt(s1), 6 * kSec).state, CtState::kEstablished);            // s1 stays
  EXPECT_EQ(ct.classify(pkt(est.c2s(kAck)), 6 * kSec).state, CtState::kEstablished);  // never evicted
  // u2 replied (assured): now s1 is the only candidate.
  pass(ct, v4(net::kIpProtoUdp, kC, kA, udp(3, 3)), 7 * kSec);
  EXPECT_EQ(ct.commit(pkt(u1), 8 * kSec, 0).result, Commit::kCreated);
  EXPECT_EQ(ct.classify(pkt(s1), 8 * kSec).state, CtState::kNew);
  EXPECT_EQ(ct.stats().evicted, 2u);
  // u1 unreplied is the candidate now; after its reply, nothing is.
  pass(ct, v4(net::kIpProtoUdp, kB, kA, udp(1, 1)), 9 * kSec);
  EXPECT_EQ(ct.commit(pkt(s1), 9 * kSec, 0).result, Commit::kFull);
  EXPECT_EQ(ct.stats().full, 1u);
  EXPECT_EQ(ct.stats().evicted, 2u);
}

TEST(Conntrack, StaleIdsAreGone) {
  Conntrack ct(1);
  const Bytes u1 = v4(net::kIpProtoUdp, kA, kB, udp(1, 1));
  const Bytes u2 = v4(net::kIpProtoUdp, kA, kB, udp(2, 2));
  pass(ct, u1, 0);
  const Conntrack::Verdict v = ct.classify(pkt(u1), 1);
  ASSERT_EQ(v.state, CtState::kEstablished);
  EXPECT_EQ(ct.commit(pkt(u2), 1, 0).result, Commit::kCreated);  // evicts u1, reuses its slot
  EXPECT_EQ(ct.update(v.conn, v.dir, pkt(u1), 1), Update::kGone);
  EXPECT_EQ(ct.update(v.conn, v.dir, pkt(u2), 1), Update::kUpdated);
  EXPECT_EQ(ct.update(v.conn, Dir::kReply, pkt(u2), 1), Update::kGone);  // u2 is not its reply
  EXPECT_EQ(ct.update(5, v.dir, pkt(u2), 1), Update::kGone);
  EXPECT_EQ(ct.update(Conntrack::kNoConn, v.dir, pkt(u2), 1), Update::kGone);
}

TEST(Conntrack, ZeroCapacityIsAlwaysFull) {
  Conntrack ct(0);
  const Bytes u = v4(net::kIpProtoUdp, kA, kB, udp(1, 1));
  EXPECT_EQ(ct.classify(pkt(u), 0).state, CtState::kNew);
  EXPECT_EQ(ct.commit(pkt(u), 0, 0).result, Commit::kFull);
  EXPECT_EQ(ct.size(), 0u);
}

TEST(Conntrack, FlushFlushZoneAndRemoveIfByMark) {
  Conntrack ct(16);
  for (uint16_t port = 1; port <= 6; ++port)
    pass(ct, v4(net::kIpProtoUdp, kA, kB, udp(port, 53)), 0, static_cast<uint16_t>(port % 2 ? 1 : 2), port % 3);
  ASSERT_EQ(ct.size(), 6u);
  // marks by port: 1 2 0 1 2 0; zones: 1 2 1 2 1 2
  EXPECT_EQ(ct.remove_if([](const Conntrack::Entry& e) { return e.mark == 1; }), 2u);
  EXPECT_EQ(ct.size(), 4u);
  EXPECT_EQ(ct.classify(pkt(v4(net::kIpProtoUdp, kB, kA, udp(53, 1)), 1), 0).state, CtState::kNew);
  EXPECT_EQ(ct.classify(pkt(v4(net::kIpProtoUdp, kB, kA, udp(53, 2)), 2), 0).state, CtState::kEstablished);
  for (const auto& e : ct.entries(0)) EXPECT_NE(e.mark, 1u);
  EXPECT_EQ(ct.flush_zone(2), 2u);
  ASSERT_EQ(ct.size(), 2u);
  for (const auto& e : ct.entries(0)) EXPECT_EQ(e.zone(), 1);
  EXPECT_EQ(ct.flush_zone(2), 0u);
  ct.flush();
  EXPECT_EQ(ct.size(), 0u);
  EXPECT_TRUE(ct.entries(0).empty());
  EXPECT_EQ(ct.classify(pkt(v4(net::kIpProtoUdp, kB, kA, udp(53, 3)), 1), 0).state, CtState::kNew);
  // The freed slots are usable again.
  for (uint16_t port = 1; port <= 16; ++port)
    EXPECT_EQ(ct.commit(pkt(v4(net::kIpProtoUdp, kA, kB, udp(port, 53))), 0, 0).result, Commit::kCreated);
}

TEST(Conntrack, ClassifyHasNoSideEffects) {
  Conntrack::Timeouts to;
  to.udp_unreplied_ns = 5 * kSec;
  Conntrack ct(2, to);
  const Tcp4 t;
  handshake(ct, t, 0);
  const Bytes u = v4(net::kIpProtoUdp, kA, kC, udp(9, 9));
  pass(ct, u, 0);
  auto snapshot = [&](uint64_t now) {
    std::vector<std::tuple<uint32_t, int, uint64_t, uint64_t, uint64_t, uint32_t>> s;
    for (const auto& e : ct.entries(now))
      s.emplace_back(e.id, static_cast<int>(e.state), e.expires_ns, e.packets[0], e.packets[1], e.mark);
    return s;
  };
  const auto before = snapshot(1);
  const Conntrack::Stats stats = ct.stats();
  // Packets that would advance, close, reopen, create or find expired entries.
  const std::vector<Bytes> frames = {
      t.c2s(kFin | kAck), t.s2c(kRst), t.c2s(kSyn), t.s2c(kSyn), t.c2s(kPsh | kAck, 10),
      v4(net::kIpProtoUdp, kC, kA, udp(9, 9)), v4(net::kIpProtoUdp, kA, kB, udp(9, 9)),
      v4(net::kIpProtoIcmp, kC, kA, icmp(3, 3, 0, 0, quote(ip4(net::kIpProtoUdp, kA, kC, udp(9, 9)), 28))),
  };
  for (const Bytes& f : frames)
    for (uint64_t now : {uint64_t{1}, 6 * kSec, 500000 * kSec}) ct.classify(pkt(f), now);
  EXPECT_EQ(snapshot(1), before);
  EXPECT_EQ(ct.size(), 2u);
  EXPECT_EQ(ct.stats().created, stats.created);
  EXPECT_EQ(ct.stats().expired, stats.expired);
  EXPECT_EQ(ct.stats().evicted, stats.evicted);
  EXPECT_EQ(ct.stats().full, stats.full);
  EXPECT_EQ(ct.stats().invalid, stats.invalid);
  ct.count_invalid();
  EXPECT_EQ(ct.stats().invalid, stats.invalid + 1);
}

TEST(Conntrack, NamesAndFormat) {
  EXPECT_EQ(to_string(CtState::kNew), "new");
  EXPECT_EQ(to_string(CtState::kEstablished), "established");
  EXPECT_EQ(to_string(CtState::kRelated), "related");
  EXPECT_EQ(to_string(CtState::kInvalid), "invalid");
  const char* names[] = {"NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT", "CLOSE_WAIT",
                         "LAST_ACK", "TIME_WAIT", "CLOSE", "UNREPLIED", "REPLIED"};
  for (int i = 0; i <= static_cast<int>(ConnState::kReplied); ++i)
    EXPECT_EQ(to_string(static_cast<ConnState>(i)), names[i]);
  Conntrack ct(4);
  pass(ct, Tcp4{}.c2s(kSyn), 0, 3, 11);
  EXPECT_EQ(format_entry(ct.entries(0)[0], 0),
            "tcp 6 120 SYN_SENT src=10.0.0.1 dst=10.0.0.2 sport=40000 dport=80 packets=1 bytes=40 "
            "src=10.0.0.2 dst=10.0.0.1 sport=80 dport=40000 packets=0 bytes=0 mark=11 zone=3");
}

// ---------------------------------------------------------------- randomized

// Random UDP packets through a firewall that allows everything, against an
// exact model: a std::map of connections by original tuple, with the table's
// rules for expiry, reclaiming and early drop. Catches probe-chain bugs in
// backward-shift deletion (two index slots per connection), expiry-list
// bookkeeping and slot reuse.
TEST(Conntrack, RandomPacketsMatchAModel) {
  using Key = std::tuple<uint16_t, uint32_t, uint16_t, uint32_t, uint16_t>;  // zone, src, sport, dst, dport
  struct M {
    uint64_t last;
    bool replied;
    uint32_t mark;
    uint64_t seq;  // order of the last packet: the expiry lists' order
    uint64_t packets[2];
  };
  constexpr uint64_t kUnreplied = 30, kReplied = 120;
  Conntrack::Timeouts to;
  to.udp_unreplied_ns = kUnreplied;
  to.udp_replied_ns = kReplied;
  for (const uint32_t cap : {1u, 7u, 24u}) {
    SCOPED_TRACE(cap);
    std::mt19937_64 rng(cap);
    Conntrack ct(cap, to, rng());
    std::map<Key, M> model;
    uint64_t now = 0, seq = 0;
    auto timeout = [&](const M& m) { return m.replied ? kReplied : kUnreplied; };
    auto expired = [&](const M& m) { return now - m.last > timeout(m); };
    auto drop_expired = [&] {
      size_t n = 0;
      for (auto it = model.begin(); it != model.end();)
        if (expired(it->second)) {
          it = model.erase(it);
          ++n;
        } else {
          ++it;
        }
      return n;
    };
    const uint32_t addrs[] = {kA, kB, kC};
    for (int i = 0; i < 100000; ++i) {
      SCOPED_TRACE(i);
      now += rng() % 2;
      const int op = static_cast<int>(rng() % 1000);
      if (op < 5) {
        ASSERT_EQ(ct.expire(now), drop_expired());
      } else if (op == 5) {
        const uint32_t mark = static_cast<uint32_t>(rng() % 4);
        size_t n = std::erase_if(model, [&](const auto& kv) { return kv.second.mark == mark; });
        ASSERT_EQ(ct.remove_if([&](const Conntrack::Entry& e) { return e.mark == mark; }), n);
      } else if (op == 6) {
        const uint16_t zone = static_cast<uint16_t>(1 + rng() % 2);
        size_t n = std::erase_if(model, [&](const auto& kv) { return std::get<0>(kv.first) == zone; });
        ASSERT_EQ(ct.flush_zone(zone), n);
      } else {
        const uint16_t zone = static_cast<uint16_t>(1 + rng() % 2);
        const uint32_t src = addrs[rng() % 3];
        uint32_t dst = addrs[rng() % 3];
        if (dst == src) dst = addrs[(std::find(addrs, addrs + 3, src) - addrs + 1) % 3];
        const uint16_t sport = static_cast<uint16_t>(1 + rng() % 4), dport = static_cast<uint16_t>(1 + rng() % 4);
        const Key k{zone, src, sport, dst, dport}, rk{zone, dst, dport, src, sport};
        const Conntrack::Packet p = pkt(v4(net::kIpProtoUdp, src, dst, udp(sport, dport)), zone);
        auto it = model.find(k);
        Dir dir = Dir::kOrig;
        if (it == model.end()) {
          it = model.find(rk);
          dir = Dir::kReply;
        }
        const bool live = it != model.end() && !expired(it->second);
        const Conntrack::Verdict v = ct.classify(p, now);
        if (live) {
          ASSERT_EQ(v.state, CtState::kEstablished);
          ASSERT_EQ(v.dir, dir);
          ASSERT_EQ(ct.update(v.conn, v.dir, p, now), Update::kUpdated);
          M& m = it->second;
          m.last = now;
          m.replied |= dir == Dir::kReply;
          m.seq = ++seq;
          ++m.packets[static_cast<size_t>(dir)];
        } else {
          ASSERT_EQ(v.state, CtState::kNew);
          const uint32_t mark = static_cast<uint32_t>(rng() % 4);
          Commit want = Commit::kCreated;
          if (it != model.end()) {
            model.erase(it);  // the expired entry is replaced
          } else if (model.size() == cap && drop_expired() == 0) {
            // Early drop: the unreplied connection with the earliest deadline
            // (all share one timeout: the least recently seen).
            auto victim = model.end();
            for (auto m = model.begin(); m != model.end(); ++m)
              if (!m->second.replied && (victim == model.end() || m->second.seq < victim->second.seq)) victim = m;
            if (victim == model.end()) want = Commit::kFull;
            else model.erase(victim);
          }
          ASSERT_EQ(ct.commit(p, now, mark).result, want);
          if (want == Commit::kCreated) model[k] = M{now, false, mark, ++seq, {1, 0}};
        }
      }
      ASSERT_EQ(ct.size(), model.size());
      if (i % 500 == 0) {
        std::map<Key, std::tuple<ConnState, uint32_t, uint64_t, uint64_t>> got, want;
        for (const auto& e : ct.entries(now)) {
          const Key k{e.zone(), net::load_be32(e.orig.src + 12), e.orig.sport, net::load_be32(e.orig.dst + 12),
                      e.orig.dport};
          got[k] = {e.state, e.mark, e.packets[0], e.packets[1]};
        }
        for (const auto& [k, m] : model)
          if (!expired(m))
            want[k] = {m.replied ? ConnState::kReplied : ConnState::kUnreplied, m.mark, m.packets[0], m.packets[1]};
        ASSERT_EQ(got, want);
      }
    }
    EXPECT_GT(ct.stats().created, 1000u);
    if (cap > 1) {
      EXPECT_GT(ct.stats().expired, 0u);
    }
    EXPECT_GT(ct.stats().evicted, 0u);
    EXPECT_GT(ct.stats().full, 0u);
  }
}

}  // namespace
}  // namespace kvnet::testing
