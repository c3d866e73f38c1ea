#include "dp/conntrack.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <iterator>

#include "net/headers.h"

namespace kvnet::dp {
namespace {

using ConnState = Conntrack::ConnState;
using Dir = Conntrack::Dir;
using Tuple = Conntrack::Tuple;

constexpr uint8_t kTcpFin = 0x01, kTcpSyn = 0x02, kTcpRst = 0x04, kTcpAck = 0x10;

constexpr uint8_t kIcmpEchoReply = 0, kIcmpEchoRequest = 8;
constexpr uint8_t kIcmp6EchoRequest = 128, kIcmp6EchoReply = 129;

constexpr Dir other(Dir d) { return d == Dir::kOrig ? Dir::kReply : Dir::kOrig; }
constexpr size_t idx(Dir d) { return static_cast<size_t>(d); }

uint8_t echo_request_type(uint8_t family) { return family == 4 ? kIcmpEchoRequest : kIcmp6EchoRequest; }
uint8_t echo_reply_type(uint8_t family) { return family == 4 ? kIcmpEchoReply : kIcmp6EchoReply; }

bool is_icmp(uint8_t family, uint8_t proto) {
  return (family == 4 && proto == net::kIpProtoIcmp) || (family == 6 && proto == net::kIpProtoIcmpv6);
}

bool is_icmp_error(uint8_t family, uint8_t type) {
  if (family == 4) return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
  return type >= 1 && type <= 4;
}

// IPv6 next-header values that are extension headers: the flow parser does not
// walk them, so the transport header is unknown.
bool is_ipv6_extension(uint8_t nh) {
  switch (nh) {
    case 0: case 43: case 44: case 60: case 135: case 139: case 140: case 253: case 254: return true;
    default: return false;
  }
}

// An IPv4 fragment of any kind: more-fragments set or a non-zero offset.
bool is_ipv4_fragment(const net::Ipv4Header& ip) { return (ip.frag.host() & 0x3fff) != 0; }

void set_v4(uint8_t* a, uint32_t host_order) {
  std::memset(a, 0, 16);
  a[10] = a[11] = 0xff;
  net::store_be32(a + 12, host_order);
}

// The ports (TCP, UDP), echo words (ICMP) or nothing (other) of a transport
// header whose first `avail` bytes are at `l4`. False if it cannot be keyed.
bool key_l4(Tuple& t, const uint8_t* l4, size_t avail) {
  t.sport = t.dport = 0;
  if (t.proto == net::kIpProtoTcp || t.proto == net::kIpProtoUdp) {
    if (avail < 4) return false;
    t.sport = net::load_be16(l4);
    t.dport = net::load_be16(l4 + 2);
    return true;
  }
  if (is_icmp(t.family, t.proto)) {
    if (avail < 8) return false;
    const uint8_t type = l4[0];
    if (type != echo_request_type(t.family) && type != echo_reply_type(t.family)) return false;
    t.sport = net::load_be16(l4 + 4);  // identifier
    t.dport = type;
    return true;
  }
  return true;
}

// The packet embedded in an ICMP error: its IP header and at least 8 bytes of
// its transport header (RFC 792 / RFC 4443 guarantee that much).
bool parse_embedded(uint8_t family, uint16_t zone, const uint8_t* p, size_t avail, Tuple& t) {
  t = Tuple{};
  t.zone = zone;
  t.family = family;
  size_t hlen;
  if (family == 4) {
    auto* ip = net::header_at<net::Ipv4Header>(p, avail);
    if (!ip || ip->version() != 4) return false;
    hlen = ip->header_len();
    if (hlen < sizeof(net::Ipv4Header) || hlen > avail || ip->is_later_fragment()) return false;
    t.proto = ip->proto;
    set_v4(t.src, ip->src.host());
    set_v4(t.dst, ip->dst.host());
  } else {
    auto* ip = net::header_at<net::Ipv6Header>(p, avail);
    if (!ip || ip->version() != 6 || is_ipv6_extension(ip->next_header)) return false;
    hlen = sizeof(net::Ipv6Header);
    t.proto = ip->next_header;
    std::memcpy(t.src, ip->src, 16);
    std::memcpy(t.dst, ip->dst, 16);
  }
  // Only echo is keyed among ICMP types, so an error about an error is refused here too.
  const bool has_l4 = t.proto == net::kIpProtoTcp || t.proto == net::kIpProtoUdp || is_icmp(family, t.proto);
  if (has_l4 && avail - hlen < 8) return false;
  return key_l4(t, p + hlen, avail - hlen);
}

Tuple reverse(const Tuple& t) {
  Tuple r = t;
  std::memcpy(r.src, t.dst, 16);
  std::memcpy(r.dst, t.src, 16);
  if (is_icmp(t.family, t.proto)) {
    r.dport = echo_reply_type(t.family);  // an original tuple is always a request's
  } else {
    r.sport = t.dport;
    r.dport = t.sport;
  }
  return r;
}

// ---- TCP

enum class TcpEvent : uint8_t { kSyn, kSynAck, kFin, kAck, kRst, kBad };

// netfilter's tcp_valid_flags, with PSH, URG, ECE and CWR ignored.
TcpEvent tcp_event(uint8_t flags) {
  switch (flags & (kTcpFin | kTcpSyn | kTcpRst | kTcpAck)) {
    case kTcpSyn: return TcpEvent::kSyn;
    case kTcpSyn | kTcpAck: return TcpEvent::kSynAck;
    case kTcpRst:
    case kTcpRst | kTcpAck: return TcpEvent::kRst;
    case kTcpFin | kTcpAck: return TcpEvent::kFin;
    case kTcpAck: return TcpEvent::kAck;
    default: return TcpEvent::kBad;  // NULL, FIN alone, SYN+FIN, SYN+RST, ...
  }
}

struct TcpStep {
  enum What : uint8_t { kOk, kInvalid, kReopen } what;
  ConnState next;
};

// The state after a packet of event `ev` from side `d` (see the table in the header).
TcpStep tcp_step(ConnState s, Dir d, Dir fin_dir, TcpEvent ev) {
  using S = ConnState;
  const TcpStep invalid{TcpStep::kInvalid, s};
  auto ok = [](ConnState n) { return TcpStep{TcpStep::kOk, n}; };
  const bool orig = d == Dir::kOrig;
  switch (ev) {
    case TcpEvent::kRst: return ok(S::kClose);
    case TcpEvent::kSyn:
      if (s == S::kTimeWait || s == S::kClose) return {TcpStep::kReopen, s};
      return orig ? ok(s) : invalid;  // retransmitted (SYN_SENT) or ignored; no simultaneous open
    case TcpEvent::kSynAck:
      if (orig) return invalid;
      return ok(s == S::kSynSent ? S::kSynRecv : s);
    case TcpEvent::kAck:
      switch (s) {
        case S::kSynSent: return invalid;
        case S::kSynRecv: return ok(orig ? S::kEstablished : S::kSynRecv);
        case S::kFinWait: return ok(d != fin_dir ? S::kCloseWait : S::kFinWait);
        case S::kLastAck: return ok(d == fin_dir ? S::kTimeWait : S::kLastAck);
        default: return ok(s);
      }
    case TcpEvent::kFin:
      switch (s) {
        case S::kSynSent: return invalid;
        case S::kSynRecv:
        case S::kEstablished: return ok(S::kFinWait);
        case S::kFinWait:
        case S::kCloseWait: return ok(d != fin_dir ? S::kLastAck : s);
        default: return ok(s);
      }
    case TcpEvent::kBad: break;
  }
  return invalid;
}

bool may_start(const Conntrack::Packet& p) {
  using K = Conntrack::Packet::Kind;
  switch (p.kind) {
    case K::kTcp: return tcp_event(p.tcp_flags) == TcpEvent::kSyn;
    case K::kUdp:
    case K::kOther: return true;
    case K::kIcmpEcho: return p.tuple.dport == echo_request_type(p.tuple.family);
    default: return false;
  }
}

// Expiry lists that early drop may take from: connections not (yet) assured.
constexpr bool kEvictable[] = {
    true, true, false, false, false, false, true, true,  // TCP SYN_SENT .. CLOSE
    true, false,                                          // UDP unreplied, replied
    true, true,                                           // ICMP
    true, false,                                          // other
};
static_assert(std::size(kEvictable) == 14);

}  // namespace

// ---------------------------------------------------------------- Packet

Conntrack::Packet::Packet(const net::FlowKey& k, const uint8_t* frame, size_t len, uint16_t zone) {
  constexpr uint8_t kBad = net::kFlowL3Truncated | net::kFlowL3Malformed | net::kFlowL4Truncated | net::kFlowFragment;
  if ((k.flags & kBad) || k.l4_ofs == 0 || k.l3_ofs >= len) return;
  size_t l3_end;
  tuple.zone = zone;
  tuple.proto = k.nw_proto;
  if (k.dl_type == net::kEthTypeIpv4) {
    auto* ip = net::header_at<net::Ipv4Header>(frame + k.l3_ofs, len - k.l3_ofs);
    if (!ip || is_ipv4_fragment(*ip)) return;
    l3_end = size_t{k.l3_ofs} + ip->total_len.host();
    tuple.family = 4;
    set_v4(tuple.src, k.nw_src);
    set_v4(tuple.dst, k.nw_dst);
  } else if (k.dl_type == net::kEthTypeIpv6) {
    auto* ip = net::header_at<net::Ipv6Header>(frame + k.l3_ofs, len - k.l3_ofs);
    if (!ip || is_ipv6_extension(k.nw_proto)) return;
    l3_end = size_t{k.l3_ofs} + sizeof(net::Ipv6Header) + ip->payload_len.host();
    tuple.family = 6;
    std::memcpy(tuple.src, k.ipv6_src, 16);
    std::memcpy(tuple.dst, k.ipv6_dst, 16);
  } else {
    return;
  }
  if (l3_end > len || k.l4_ofs > l3_end) return;
  ip_len = static_cast<uint32_t>(l3_end - k.l3_ofs);
  const uint8_t* l4 = frame + k.l4_ofs;
  const size_t avail = l3_end - k.l4_ofs;

  if (tuple.proto == net::kIpProtoTcp) {
    auto* t = net::header_at<net::TcpHeader>(l4, avail);
    if (!t || t->header_len() < sizeof(net::TcpHeader) || t->header_len() > avail) return;
    if (tcp_event(t->flags) == TcpEvent::kBad) return;
    tcp_flags = t->flags;
    if (key_l4(tuple, l4, avail)) kind = Kind::kTcp;
  } else if (tuple.proto == net::kIpProtoUdp) {
    if (avail >= sizeof(net::UdpHeader) && key_l4(tuple, l4, avail)) kind = Kind::kUdp;
  } else if (is_icmp(tuple.family, tuple.proto)) {
    if (avail < 8) return;
    if (is_icmp_error(tuple.family, l4[0])) {
      // The error goes back to the sender of the embedded packet; one sent
      // anywhere else is not related to that packet's connection.
      if (parse_embedded(tuple.family, zone, l4 + 8, avail - 8, inner) &&
          std::memcmp(inner.src, tuple.dst, 16) == 0)
        kind = Kind::kIcmpError;
      return;
    }
    if (key_l4(tuple, l4, avail)) kind = Kind::kIcmpEcho;
  } else {
    kind = Kind::kOther;
  }
}

// ---------------------------------------------------------------- table

Conntrack::Conntrack(uint32_t max_connections, Timeouts timeouts, uint64_t hash_seed)
    : max_conns_(max_connections), seed_(hash_seed) {
  const uint32_t want = std::bit_ceil(std::max<uint32_t>(max_connections, 1) * 4);
  mask_ = want - 1;
  slots_.assign(want, Slot{kNil, 0});
  conns_.resize(max_connections);
  for (uint32_t i = 0; i < max_connections; ++i) {
    conns_[i].in_use = false;
    conns_[i].next = i + 1 < max_connections ? i + 1 : kNil;
  }
  free_ = max_connections ? 0 : kNil;
  std::fill(std::begin(head_), std::end(head_), kNil);
  std::fill(std::begin(tail_), std::end(tail_), kNil);
  set_timeouts(timeouts);
}

void Conntrack::set_timeouts(const Timeouts& t) {
  timeouts_ = t;
  const uint64_t v[kClasses] = {
      t.tcp_syn_sent_ns, t.tcp_syn_recv_ns, t.tcp_established_ns, t.tcp_fin_wait_ns, t.tcp_close_wait_ns,
      t.tcp_last_ack_ns, t.tcp_time_wait_ns, t.tcp_close_ns, t.udp_unreplied_ns, t.udp_replied_ns,
      t.icmp_ns, t.icmp_ns, t.other_ns, t.other_ns,
  };
  std::copy(std::begin(v), std::end(v), class_timeout_);
}

size_t Conntrack::resize(uint32_t max_connections) {
  Conntrack next(max_connections, timeouts_, seed_);
  const size_t kept = next.take_from(*this);
  *this = std::move(next);
  return kept;
}

size_t Conntrack::take_from(const Conntrack& old) {
  std::vector<uint32_t> live;  // expired ones not swept yet too: they are the oldest
  for (uint32_t n = 0; n < old.conns_.size(); ++n)
    if (old.conns_[n].in_use) live.push_back(n);
  auto newest_first = [&](uint32_t a, uint32_t b) { return old.conns_[a].last_seen > old.conns_[b].last_seen; };
  std::stable_sort(live.begin(), live.end(), newest_first);
  if (live.size() > max_conns_ - used_) live.resize(max_conns_ - used_);
  // Oldest first, so that each expiry list stays ordered by last packet.
  for (auto it = live.rbegin(); it != live.rend(); ++it) {
    const uint32_t n = free_;
    free_ = conns_[n].next;
    conns_[n] = old.conns_[*it];
    index_insert(n << 1, hash_of(conns_[n].tuple[0]));
    index_insert((n << 1) | 1, hash_of(conns_[n].tuple[1]));
    list_append(n, conns_[n].list);
    ++used_;
  }
  stats_ = old.stats_;
  return live.size();
}

uint8_t Conntrack::class_of(Proto proto, ConnState s) {
  const uint8_t replied = s == ConnState::kReplied ? 1 : 0;
  switch (proto) {
    case Proto::kTcp: return static_cast<uint8_t>(static_cast<uint8_t>(s) - static_cast<uint8_t>(ConnState::kSynSent));
    case Proto::kUdp: return static_cast<uint8_t>(8 + replied);
    case Proto::kIcmp: return static_cast<uint8_t>(10 + replied);
    case Proto::kOther: break;
  }
  return static_cast<uint8_t>(12 + replied);
}

uint32_t Conntrack::hash_of(const Tuple& t) const {
  // Five independent multiplies (they run in parallel), folded and mixed:
  // about a third of the latency of a serial multiply chain.
  uint64_t w[sizeof(Tuple) / 8];
  std::memcpy(w, &t, sizeof w);
  const uint64_t a = (w[0] ^ seed_) * 0x9e3779b97f4a7c15ULL;
  const uint64_t b = (w[1] + seed_) * 0xbf58476d1ce4e5b9ULL;
  const uint64_t c = (w[2] ^ (seed_ >> 7)) * 0x94d049bb133111ebULL;
  const uint64_t d = (w[3] + (seed_ << 3)) * 0xd6e8feb86659fd93ULL;
  const uint64_t e = (w[4] ^ 0x243f6a8885a308d3ULL) * 0xa0761d6478bd642fULL;
  uint64_t h = a ^ std::rotl(b, 17) ^ std::rotl(c, 31) ^ std::rotl(d, 47) ^ e;
  h ^= h >> 32;
  h *= 0xe7037ed1a0b428dbULL;
  h ^= h >> 29;
  return static_cast<uint32_t>(h);
}

uint32_t Conntrack::find(const Tuple& t, uint32_t hash) const {
  for (uint32_t s = hash & mask_;; s = (s + 1) & mask_) {
    const Slot& x = slots_[s];
    if (x.ref == kNil) return kNil;
    if (x.hash == hash && conns_[x.ref >> 1].tuple[x.ref & 1] == t) return x.ref;
  }
}

uint32_t Conntrack::lookup(const Tuple& t, uint64_t now) const {
  const uint32_t ref = find(t, hash_of(t));
  if (ref == kNil || expired(conns_[ref >> 1], now)) return kNil;
  return ref;
}

void Conntrack::index_insert(uint32_t ref, uint32_t hash) {
  uint32_t s = hash & mask_;
  while (slots_[s].ref != kNil) s = (s + 1) & mask_;
  slots_[s] = Slot{ref, hash};
}

void Conntrack::index_erase(uint32_t ref, uint32_t hash) {
  uint32_t hole = hash & mask_;
  while (slots_[hole].ref != ref) hole = (hole + 1) & mask_;
  // Backward-shift deletion keeps every probe chain unbroken without tombstones.
  for (uint32_t s = (hole + 1) & mask_; slots_[s].ref != kNil; s = (s + 1) & mask_) {
    const uint32_t home = slots_[s].hash & mask_;
    // Move the entry at s into the hole if its home is not in (hole, s].
    const bool between = hole <= s ? (home > hole && home <= s) : (home > hole || home <= s);
    if (!between) {
      slots_[hole] = slots_[s];
      hole = s;
    }
  }
  slots_[hole] = Slot{kNil, 0};
}

void Conntrack::list_unlink(uint32_t n) {
  Conn& x = conns_[n];
  if (x.prev != kNil) conns_[x.prev].next = x.next;
  else head_[x.list] = x.next;
  if (x.next != kNil) conns_[x.next].prev = x.prev;
  else tail_[x.list] = x.prev;
  x.prev = x.next = kNil;
}

void Conntrack::list_append(uint32_t n, uint8_t cls) {
  Conn& x = conns_[n];
  x.list = cls;
  x.prev = tail_[cls];
  x.next = kNil;
  if (tail_[cls] != kNil) conns_[tail_[cls]].next = n;
  else head_[cls] = n;
  tail_[cls] = n;
}

void Conntrack::erase(uint32_t n) {
  Conn& c = conns_[n];
  index_erase(n << 1, hash_of(c.tuple[0]));
  index_erase((n << 1) | 1, hash_of(c.tuple[1]));
  list_unlink(n);
  c.in_use = false;
  c.next = free_;
  free_ = n;
  --used_;
}

size_t Conntrack::reclaim(uint64_t now, size_t budget) {
  size_t removed = 0;
  for (size_t cls = 0; cls < kClasses; ++cls)
    while (removed < budget && head_[cls] != kNil && expired(conns_[head_[cls]], now)) {
      erase(head_[cls]);
      ++removed;
    }
  stats_.expired += removed;
  return removed;
}

size_t Conntrack::expire(uint64_t now) { return reclaim(now, SIZE_MAX); }

bool Conntrack::early_drop() {
  uint32_t victim = kNil;
  for (size_t cls = 0; cls < kClasses; ++cls) {
    const uint32_t h = head_[cls];
    if (kEvictable[cls] && h != kNil && (victim == kNil || deadline(conns_[h]) < deadline(conns_[victim])))
      victim = h;
  }
  if (victim == kNil) return false;
  erase(victim);
  ++stats_.evicted;
  return true;
}

uint32_t Conntrack::allocate(uint64_t now) {
  if (free_ == kNil) reclaim(now, kReclaimBudget);
  if (free_ == kNil) early_drop();
  if (free_ == kNil) return kNil;
  const uint32_t n = free_;
  free_ = conns_[n].next;
  return n;
}

// ---------------------------------------------------------------- packet path

Conntrack::Verdict Conntrack::classify(const Packet& p, uint64_t now) const {
  Verdict v;
  if (p.kind == Packet::Kind::kInvalid) return v;
  if (p.kind == Packet::Kind::kIcmpError) {
    const uint32_t ref = lookup(p.inner, now);
    if (ref == kNil) return v;
    v.state = CtState::kRelated;
    v.conn = ref >> 1;
    v.dir = other(static_cast<Dir>(ref & 1));
    v.conn_state = conns_[v.conn].state;
    return v;
  }
  const uint32_t ref = lookup(p.tuple, now);
  if (ref == kNil) {
    if (may_start(p)) v.state = CtState::kNew;
    return v;
  }
  const Conn& c = conns_[ref >> 1];
  v.conn = ref >> 1;
  v.dir = static_cast<Dir>(ref & 1);
  v.conn_state = c.state;
  if (p.kind == Packet::Kind::kTcp) {
    const TcpStep step = tcp_step(c.state, v.dir, c.fin_dir, tcp_event(p.tcp_flags));
    if (step.what == TcpStep::kInvalid) return v;
    if (step.what == TcpStep::kReopen) {
      v.state = CtState::kNew;
      v.dir = Dir::kOrig;  // the reopening SYN's sender becomes the original side
      return v;
    }
  }
  v.state = CtState::kEstablished;
  return v;
}

Conntrack::CommitResult Conntrack::commit(const Packet& p, uint64_t now, uint32_t mark) {
  if (!may_start(p)) return {};
  const uint32_t ref = find(p.tuple, hash_of(p.tuple));
  if (ref != kNil) {
    const uint32_t n = ref >> 1;
    const Conn& c = conns_[n];
    if (expired(c, now)) {
      erase(n);
      ++stats_.expired;
    } else if (p.kind == Packet::Kind::kTcp && (c.state == ConnState::kTimeWait || c.state == ConnState::kClose)) {
      erase(n);  // reopened: a fresh connection whose original side sent this SYN
    } else {
      return {Commit::kExists, n, static_cast<Dir>(ref & 1)};
    }
  }
  const uint32_t n = allocate(now);
  if (n == kNil) {
    ++stats_.full;
    return {Commit::kFull, kNoConn, Dir::kOrig};
  }
  Conn& c = conns_[n];
  c.tuple[0] = p.tuple;
  c.tuple[1] = reverse(p.tuple);
  c.last_seen = now;
  c.packets[0] = 1;
  c.bytes[0] = p.ip_len;
  c.packets[1] = c.bytes[1] = 0;
  c.mark = mark;
  c.fin_dir = Dir::kOrig;
  c.in_use = true;
  switch (p.kind) {
    case Packet::Kind::kTcp: c.proto = Proto::kTcp; break;
    case Packet::Kind::kUdp: c.proto = Proto::kUdp; break;
    case Packet::Kind::kIcmpEcho: c.proto = Proto::kIcmp; break;
    default: c.proto = Proto::kOther; break;
  }
  c.state = c.proto == Proto::kTcp ? ConnState::kSynSent : ConnState::kUnreplied;
  index_insert(n << 1, hash_of(c.tuple[0]));
  index_insert((n << 1) | 1, hash_of(c.tuple[1]));
  list_append(n, class_of(c.proto, c.state));
  ++used_;
  ++stats_.created;
  return {Commit::kCreated, n, Dir::kOrig};
}

Conntrack::Update Conntrack::update(uint32_t n, Dir dir, const Packet& p, uint64_t now) {
  if (n >= max_conns_ || !conns_[n].in_use || expired(conns_[n], now)) return Update::kGone;
  Conn& c = conns_[n];
  if (p.kind == Packet::Kind::kIcmpError)  // related: the connection itself does not change
    return c.tuple[idx(other(dir))] == p.inner ? Update::kUpdated : Update::kGone;
  if (p.kind == Packet::Kind::kInvalid || !(c.tuple[idx(dir)] == p.tuple)) return Update::kGone;
  ConnState next = c.state;
  if (c.proto == Proto::kTcp) {
    const TcpStep step = tcp_step(c.state, dir, c.fin_dir, tcp_event(p.tcp_flags));
    if (step.what != TcpStep::kOk) return Update::kInvalid;
    next = step.next;
    if (next == ConnState::kFinWait && c.state != ConnState::kFinWait) c.fin_dir = dir;
  } else if (dir == Dir::kReply) {
    next = ConnState::kReplied;
  }
  c.state = next;
  c.last_seen = now;
  ++c.packets[idx(dir)];
  c.bytes[idx(dir)] += p.ip_len;
  const uint8_t cls = class_of(c.proto, next);
  if (cls != c.list || tail_[cls] != n) {  // keep each list in last-packet order
    list_unlink(n);
    list_append(n, cls);
  }
  return Update::kUpdated;
}

const Conntrack::Tuple* Conntrack::tuple_of(uint32_t n, Dir dir, uint64_t now) const {
  if (n >= max_conns_ || !conns_[n].in_use || expired(conns_[n], now)) return nullptr;
  return &conns_[n].tuple[idx(dir)];
}

bool Conntrack::refresh(uint32_t n, Dir dir, const Tuple& tuple, uint64_t used, uint64_t packets, uint64_t ip_bytes,
                        uint64_t now) {
  if (n >= max_conns_ || !conns_[n].in_use || expired(conns_[n], now)) return false;
  Conn& c = conns_[n];
  if (!(c.tuple[idx(dir)] == tuple)) return false;
  c.packets[idx(dir)] += packets;
  c.bytes[idx(dir)] += ip_bytes;
  if (used > c.last_seen) {
    c.last_seen = used;
    if (tail_[c.list] != n) {  // keep the list in last-packet order
      const uint8_t cls = c.list;
      list_unlink(n);
      list_append(n, cls);
    }
  }
  return true;
}

// ---------------------------------------------------------------- control path

Conntrack::Entry Conntrack::entry_of(uint32_t n) const {
  const Conn& c = conns_[n];
  const uint64_t t = class_timeout_[c.list];
  const uint64_t expires = c.last_seen > UINT64_MAX - t ? UINT64_MAX : c.last_seen + t;
  return Entry{n, c.tuple[0], c.tuple[1], c.state, expires, c.mark,
               {c.packets[0], c.packets[1]}, {c.bytes[0], c.bytes[1]}};
}

std::vector<Conntrack::Entry> Conntrack::entries(uint64_t now) const {
  std::vector<Entry> out;
  out.reserve(used_);
  for (uint32_t n = 0; n < max_conns_; ++n)
    if (conns_[n].in_use && !expired(conns_[n], now)) out.push_back(entry_of(n));
  return out;
}

void Conntrack::flush() {
  for (uint32_t n = 0; n < max_conns_; ++n)
    if (conns_[n].in_use) erase(n);
}

size_t Conntrack::flush_zone(uint16_t zone) {
  return remove_if([zone](const Entry& e) { return e.zone() == zone; });
}

size_t Conntrack::remove_if(const std::function<bool(const Entry&)>& pred) {
  size_t removed = 0;
  for (uint32_t n = 0; n < max_conns_; ++n)
    if (conns_[n].in_use && pred(entry_of(n))) {
      erase(n);
      ++removed;
    }
  return removed;
}

// ---------------------------------------------------------------- names

std::string_view to_string(Conntrack::CtState s) {
  switch (s) {
    case Conntrack::CtState::kNew: return "new";
    case Conntrack::CtState::kEstablished: return "established";
    case Conntrack::CtState::kRelated: return "related";
    case Conntrack::CtState::kInvalid: return "invalid";
  }
  return "?";
}

std::string_view to_string(Conntrack::ConnState s) {
  switch (s) {
    case ConnState::kNone: return "NONE";
    case ConnState::kSynSent: return "SYN_SENT";
    case ConnState::kSynRecv: return "SYN_RECV";
    case ConnState::kEstablished: return "ESTABLISHED";
    case ConnState::kFinWait: return "FIN_WAIT";
    case ConnState::kCloseWait: return "CLOSE_WAIT";
    case ConnState::kLastAck: return "LAST_ACK";
    case ConnState::kTimeWait: return "TIME_WAIT";
    case ConnState::kClose: return "CLOSE";
    case ConnState::kUnreplied: return "UNREPLIED";
    case ConnState::kReplied: return "REPLIED";
  }
  return "?";
}

namespace {

std::string addr_str(uint8_t family, const uint8_t* a) {
  return family == 4 ? net::ipv4_str(net::load_be32(a + 12)) : net::ipv6_str(a);
}

std::string tuple_str(const Tuple& t, uint64_t packets, uint64_t bytes) {
  std::string s = "src=" + addr_str(t.family, t.src) + " dst=" + addr_str(t.family, t.dst);
  if (t.proto == net::kIpProtoTcp || t.proto == net::kIpProtoUdp)
    s += " sport=" + std::to_string(t.sport) + " dport=" + std::to_string(t.dport);
  else if (is_icmp(t.family, t.proto))
    s += " type=" + std::to_string(t.dport) + " code=0 id=" + std::to_string(t.sport);
  return s + " packets=" + std::to_string(packets) + " bytes=" + std::to_string(bytes);
}

std::string_view proto_name(uint8_t family, uint8_t proto) {
  if (proto == net::kIpProtoTcp) return "tcp";
  if (proto == net::kIpProtoUdp) return "udp";
  if (is_icmp(family, proto)) return family == 4 ? "icmp" : "icmpv6";
  return "unknown";
}

}  // namespace

std::string format_entry(const Conntrack::Entry& e, uint64_t now) {
  std::string s(proto_name(e.family(), e.proto()));
  s += " " + std::to_string(e.proto()) + " " + std::to_string(e.seconds_left(now)) + " ";
  const bool tcp = e.proto() == net::kIpProtoTcp;
  if (tcp) s += std::string(to_string(e.state)) + " ";
  s += tuple_str(e.orig, e.packets[0], e.bytes[0]);
  if (!tcp && e.state == ConnState::kUnreplied) s += " [UNREPLIED]";
  s += " " + tuple_str(e.reply, e.packets[1], e.bytes[1]);
  return s + " mark=" + std::to_string(e.mark) + " zone=" + std::to_string(e.zone());
}

}  // namespace kvnet::dp
