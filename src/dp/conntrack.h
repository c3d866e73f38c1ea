// Connection tracking for the datapath: which packets belong to a connection
// that was allowed before. The stateful firewall (security groups: allow rules
// per port, replies allowed because they are replies) asks this table; the
// table itself decides nothing about policy.
//
// Model: Linux netfilter conntrack and OVS userspace conntrack, simplified.
//
// A connection is keyed by a Tuple: zone (one per bridge), family, IP
// protocol, source and destination address, and two protocol words (TCP/UDP:
// ports; ICMP/ICMPv6 echo: the identifier and the echo type; other protocols:
// zero, addresses only, as netfilter's generic tracker). The same tuple in two
// zones is two connections.
//
// Index: one entry per connection, two slots in the hash index, as netfilter's
// tuplehash[2]: one for the original tuple (as the first packet had it) and
// one for the reply tuple (as a reply has it). A lookup by a packet's own
// tuple finds the connection from either side, and the slot that matched is
// the direction. Neither tuple is ever normalised, so an echo request from B
// to A (type 8) is not confused with B's reply to A's request (type 0), and a
// later NAT could give a reply tuple that is not the mirror of the original.
//
// API, split so that the firewall decides before anything is created and a
// dry run (trace) changes nothing:
//   Packet      parse once per frame: the tuple, TCP flags, the embedded
//               tuple of an ICMP error. Holds no pointer into the frame.
//   classify()  const: new / established / related / invalid, direction,
//               connection id. Expired entries count as absent.
//   commit()    creates the connection of a `new` packet (that packet is its
//               first). Refused with kFull when no slot can be found.
//   update()    one packet of an established connection: state machine,
//               counters, timeout refresh. A related packet changes nothing.
//   control     entries(), flush(), flush_zone(), remove_if(), expire(),
//               timeouts, stats. Control path: these may allocate.
//
// Verdicts (netfilter's ctstate):
//   new          no live entry, and the packet may start one: TCP SYN without
//                ACK, any UDP, ICMP/ICMPv6 echo request, other IP protocols.
//                Also a SYN (either side) on a connection in TIME_WAIT or
//                CLOSE: commit() then replaces the old connection (RFC 1122
//                reopening) with one whose original side sent that SYN, so
//                the firewall's rules are asked again.
//   established  a live entry exists and the packet is valid for its state
//                (TCP: also while handshaking; see Verdict::conn_state).
//   related      an ICMP error (v4 types 3,4,5,11,12; v6 types 1,2,3,4) whose
//                embedded IP header + first 8 L4 bytes are a packet of a live
//                connection, sent back to that packet's source. The error
//                travels opposite to the embedded packet: direction = reply if
//                the embedded packet was an original one.
//   invalid      everything else: TCP that does not start with a SYN (SYN+ACK,
//                RST, ACK, FIN with no entry), bad TCP flag sets (NULL, FIN
//                without ACK, SYN+FIN, SYN+RST), a packet that is not valid for
//                the connection's TCP state (with the connection id set), an
//                echo reply with no request, other ICMP types (NDP, router
//                advertisements: the firewall passes those statelessly),
//                truncated or malformed L3/L4, IPv4 fragments (first ones
//                too: no reassembly here), IPv6 packets whose next header is an
//                extension header (fragment, hop-by-hop, routing, options: the
//                parser does not walk them), non-IP frames.
//
// No liberal pick-up: TCP data seen in both directions without the handshake
// is never adopted as established (netfilter/OVS with be_liberal off, as
// Neutron runs them), so existing sessions do not survive a table flush. There
// is no sequence-number window tracking: any ACK is accepted in a state that
// takes one.
//
// TCP states (simplified netfilter; d = the side that sent the first FIN):
//   SYN from orig                          -> SYN_SENT
//   SYN+ACK from reply in SYN_SENT         -> SYN_RECV
//   ACK from orig in SYN_RECV              -> ESTABLISHED
//   FIN from either in SYN_RECV/ESTABLISHED-> FIN_WAIT      (d = that side)
//   ACK from !d in FIN_WAIT                -> CLOSE_WAIT
//   FIN from !d in FIN_WAIT/CLOSE_WAIT     -> LAST_ACK
//   ACK from d in LAST_ACK                 -> TIME_WAIT
//   RST from either, any state             -> CLOSE
//   SYN (either side) in TIME_WAIT/CLOSE   -> new (reopen, see above)
// Any other valid packet keeps the state: retransmissions (SYN in SYN_SENT,
// SYN+ACK in SYN_RECV, a repeated FIN from d), ACKs, and, ignored but
// accepted, a SYN from orig or a SYN+ACK from reply after the handshake.
// Invalid: SYN+ACK from orig, SYN from reply before TIME_WAIT (no
// simultaneous open), ACK or FIN in SYN_SENT.
// UDP, ICMP echo and other protocols: UNREPLIED until a packet of the reply
// direction, then REPLIED.
//
// Time is whatever clock the caller passes (`now`, ns), as in the FDB. An entry
// lives while now - last_packet <= the timeout of its current state; the
// timeout is read when checked, so set_timeouts() applies at once to existing
// connections (netfilter applies new values at each connection's next packet).
// A `now` earlier than an entry's last packet (replay out of order) does not
// expire it.
//
// Storage (as dp/fdb.h): fixed capacity, allocated once; nothing on the packet
// path allocates. Open-addressing index of 4 x capacity slots (two per
// connection, load <= 1/2), linear probing, backward-shift deletion; each slot
// keeps its tuple's hash. Each connection is on one of 14 expiry lists, one per
// (protocol class, state): every entry of a list has the same timeout, so a
// list ordered by last packet is ordered by deadline, and expire() pops heads.
//
// Full table: commit() first reclaims up to kReclaimBudget expired entries,
// then evicts ("early drop", as netfilter) the unassured connection closest to
// its deadline: TCP SYN_SENT, SYN_RECV, TIME_WAIT, CLOSE; unreplied UDP and
// other protocols; ICMP echo. Assured ones (TCP from ESTABLISHED to LAST_ACK,
// replied UDP and other protocols) are never evicted: when only those remain,
// commit() returns kFull.
//
// Connection ids are slot numbers and are reused. update() checks that the
// packet's tuple still matches, so a stale id (the connection expired or was
// evicted between classify and update) gets kGone, not someone else's entry.
//
// Hashing: keyed by a seed; the daemon should pass a random one so a guest
// cannot aim many tuples at one probe chain (the mixer is not a keyed PRF).
//
// Thread-safety: owned by the datapath thread; the control thread reads or
// changes it only through the datapath's command queue.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "dp/huge_pages.h"
#include "net/flow_key.h"

namespace kvnet::dp {

inline constexpr uint64_t kSecondNs = 1000000000ULL;

// Connection timeouts by state, in ns of the caller's clock (Conntrack::Timeouts).
// Defaults: netfilter's.
struct ConntrackTimeouts {
  uint64_t tcp_syn_sent_ns = 120 * kSecondNs;
  uint64_t tcp_syn_recv_ns = 60 * kSecondNs;
  uint64_t tcp_established_ns = 432000 * kSecondNs;
  uint64_t tcp_fin_wait_ns = 120 * kSecondNs;
  uint64_t tcp_close_wait_ns = 60 * kSecondNs;
  uint64_t tcp_last_ack_ns = 30 * kSecondNs;
  uint64_t tcp_time_wait_ns = 120 * kSecondNs;
  uint64_t tcp_close_ns = 10 * kSecondNs;
  uint64_t udp_unreplied_ns = 30 * kSecondNs;
  uint64_t udp_replied_ns = 120 * kSecondNs;  // netfilter's udp_timeout_stream
  uint64_t icmp_ns = 30 * kSecondNs;
  uint64_t other_ns = 600 * kSecondNs;        // netfilter's generic_timeout
  friend bool operator==(const ConntrackTimeouts&, const ConntrackTimeouts&) = default;
};

class Conntrack {
 public:
  static constexpr uint32_t kNoConn = UINT32_MAX;
  static constexpr uint32_t kReclaimBudget = 64;  // expired entries one commit() may sweep

  using Timeouts = ConntrackTimeouts;

  enum class Dir : uint8_t { kOrig, kReply };
  enum class CtState : uint8_t { kNew, kEstablished, kRelated, kInvalid };
  enum class ConnState : uint8_t {
    kNone,  // no connection
    kSynSent, kSynRecv, kEstablished, kFinWait, kCloseWait, kLastAck, kTimeWait, kClose,  // TCP
    kUnreplied, kReplied,  // UDP, ICMP echo, other protocols
  };

  // One direction of a connection. IPv4 addresses are stored IPv4-mapped
  // (::ffff:a.b.c.d, network order); no padding, compared as a whole.
  struct Tuple {
    uint8_t src[16];
    uint8_t dst[16];
    uint16_t sport;  // TCP/UDP source port; ICMP: echo identifier; other: 0
    uint16_t dport;  // TCP/UDP destination port; ICMP: echo type (8/0, 128/129); other: 0
    uint16_t zone;
    uint8_t family;  // 4 or 6
    uint8_t proto;   // IP protocol
    // As one 40-byte block: the defaulted == compares the arrays byte by byte.
    friend bool operator==(const Tuple& a, const Tuple& b) { return std::memcmp(&a, &b, sizeof(Tuple)) == 0; }
  };
  static_assert(sizeof(Tuple) == 40, "Tuple is hashed as five 64-bit words");

  // What a packet is, for conntrack. Built once per frame from the parsed key
  // and the frame bytes (TCP flags, ICMP payload); copies what it needs.
  struct Packet {
    enum class Kind : uint8_t { kInvalid, kTcp, kUdp, kIcmpEcho, kIcmpError, kOther };
    Packet(const net::FlowKey& key, const uint8_t* frame, size_t len, uint16_t zone);

    Kind kind = Kind::kInvalid;
    Tuple tuple{};         // the packet's own tuple (not for kInvalid)
    Tuple inner{};         // kIcmpError: the embedded packet's tuple
    uint8_t tcp_flags = 0;  // kTcp: FIN SYN RST PSH ACK URG ECE CWR as on the wire
    uint32_t ip_len = 0;   // bytes from the IP header on, for the byte counters
  };

  struct Verdict {
    CtState state = CtState::kInvalid;
    Dir dir = Dir::kOrig;
    // Established, related, invalid for the connection's state: that connection.
    // New: kNoConn, or the TIME_WAIT/CLOSE connection a SYN reopens.
    uint32_t conn = kNoConn;
    ConnState conn_state = ConnState::kNone;  // the connection's state before this packet
  };

  enum class Commit : uint8_t {
    kCreated,  // a new connection (maybe replacing an expired one or a closed TCP one)
    kExists,   // a live connection already has this tuple: update() it
    kFull,     // no room, even after reclaiming and early drop; the caller counts ct_full
    kInvalid,  // the packet may not start a connection (classify() says invalid/related/established)
  };
  struct CommitResult {
    Commit result = Commit::kInvalid;
    uint32_t conn = kNoConn;
    Dir dir = Dir::kOrig;  // kExists: the packet's direction in that connection
  };

  enum class Update : uint8_t {
    kUpdated,  // state, counters and timeout advanced (related: nothing to change)
    kInvalid,  // not valid for the connection's state (or a reopening SYN: commit it); nothing changed
    kGone,     // no live connection with that id and this packet's tuple in that direction
  };

  // A connection as the control path sees it (conntrack -L).
  struct Entry {
    uint32_t id;
    Tuple orig;   // as the first packet had it
    Tuple reply;  // as replies have it
    ConnState state;
    uint64_t expires_ns;  // deadline: last packet + current timeout
    uint32_t mark;
    uint64_t packets[2];  // by Dir
    uint64_t bytes[2];

    uint16_t zone() const { return orig.zone; }
    uint8_t family() const { return orig.family; }
    uint8_t proto() const { return orig.proto; }
    uint64_t seconds_left(uint64_t now) const { return now >= expires_ns ? 0 : (expires_ns - now) / kSecondNs; }
  };

  struct Stats {
    uint64_t created = 0;
    uint64_t expired = 0;  // timed out: swept, reclaimed, or replaced by a commit
    uint64_t evicted = 0;  // early drop of an unassured connection to make room
    uint64_t full = 0;     // commits refused
    uint64_t invalid = 0;  // invalid verdicts the caller acted on (count_invalid)
  };

  // Allocates everything: max_connections entries (up to 2^28) and their index.
  explicit Conntrack(uint32_t max_connections, Timeouts timeouts = {}, uint64_t hash_seed = 0);

  // ---- packet path: no allocation, no exceptions
  Verdict classify(const Packet& p, uint64_t now) const;
  // `mark` is the firewall's (e.g. which port or rule allowed it).
  CommitResult commit(const Packet& p, uint64_t now, uint32_t mark);
  Update update(uint32_t conn, Dir dir, const Packet& p, uint64_t now);
  // classify() has no side effects; the caller counts the invalid packets it drops here.
  void count_invalid() { ++stats_.invalid; }
  // The kernel fast path (dp/fast_path.h): the tuple of a live connection's
  // packets in `dir` (null: no live connection has that id), and packets of
  // it forwarded in the kernel, the last at `used`: they count and keep it
  // alive as update() would, its state unchanged (the fast path carries no
  // packet that changes it). False: no live connection with that id carries
  // `tuple` in `dir` any more.
  const Tuple* tuple_of(uint32_t conn, Dir dir, uint64_t now) const;
  // How long the connection lives after its last packet, in its state now.
  uint64_t timeout_of(uint32_t conn) const { return conn < max_conns_ ? class_timeout_[conns_[conn].list] : 0; }
  bool refresh(uint32_t conn, Dir dir, const Tuple& tuple, uint64_t used, uint64_t packets, uint64_t ip_bytes,
               uint64_t now);

  // ---- control path
  std::vector<Entry> entries(uint64_t now) const;  // live connections, by id
  void flush();
  size_t flush_zone(uint16_t zone);
  // Removes every connection (live or expired but not yet swept) the predicate
  // picks, e.g. those whose mark names a rule being removed. Returns how many.
  size_t remove_if(const std::function<bool(const Entry&)>& pred);
  size_t expire(uint64_t now);  // sweeps every expired connection; returns how many

  void set_timeouts(const Timeouts& t);
  const Timeouts& timeouts() const { return timeouts_; }
  // A new capacity, in place (the firewall stages keep their reference):
  // the connections are kept, the most recently seen first while there is
  // room, with their state, counters and marks. Connection ids change.
  // Returns how many were kept. Control path: allocates.
  size_t resize(uint32_t max_connections);
  uint32_t capacity() const { return max_conns_; }
  uint32_t size() const { return used_; }  // includes expired entries not yet swept
  const Stats& stats() const { return stats_; }

 private:
  static constexpr uint32_t kNil = UINT32_MAX;
  static constexpr size_t kClasses = 14;  // expiry lists: 8 TCP states, 2 each for UDP, ICMP, other
  enum class Proto : uint8_t { kTcp, kUdp, kIcmp, kOther };

  struct Slot {
    uint32_t ref;   // conn << 1 | dir, or kNil
    uint32_t hash;  // of the tuple, so probing and deletion never rehash
  };
  struct Conn {
    Tuple tuple[2];  // by Dir
    uint64_t last_seen;
    uint64_t packets[2];
    uint64_t bytes[2];
    uint32_t mark;
    uint32_t prev, next;  // expiry list links; next is also the free-list link
    ConnState state;
    Proto proto;
    uint8_t list;     // expiry list (class) it is on
    Dir fin_dir;      // TCP: side of the first FIN
    bool in_use;
  };

  uint32_t hash_of(const Tuple& t) const;
  uint32_t find(const Tuple& t, uint32_t hash) const;  // ref, or kNil
  void index_insert(uint32_t ref, uint32_t hash);
  void index_erase(uint32_t ref, uint32_t hash);
  void list_unlink(uint32_t n);
  void list_append(uint32_t n, uint8_t cls);
  void erase(uint32_t n);
  uint32_t allocate(uint64_t now);
  size_t reclaim(uint64_t now, size_t budget);
  bool early_drop();

  static uint8_t class_of(Proto proto, ConnState s);
  uint64_t deadline(const Conn& c) const { return c.last_seen + class_timeout_[c.list]; }
  bool expired(const Conn& c, uint64_t now) const {
    return now >= c.last_seen && now - c.last_seen > class_timeout_[c.list];
  }
  // The live connection holding `t`, as a ref (conn << 1 | dir), or kNil.
  uint32_t lookup(const Tuple& t, uint64_t now) const;
  Entry entry_of(uint32_t n) const;
  // Copies old's connections into this empty table (resize()).
  size_t take_from(const Conntrack& old);

  uint32_t max_conns_;
  Timeouts timeouts_;
  uint64_t class_timeout_[kClasses];
  uint64_t seed_;
  uint32_t mask_;
  std::vector<Slot, HugePageAllocator<Slot>> slots_;
  std::vector<Conn, HugePageAllocator<Conn>> conns_;
  uint32_t free_ = kNil;
  uint32_t head_[kClasses], tail_[kClasses];  // head = least recently seen
  uint32_t used_ = 0;
  Stats stats_;
};

std::string_view to_string(Conntrack::CtState s);
std::string_view to_string(Conntrack::ConnState s);  // conntrack -L names: SYN_SENT, ..., UNREPLIED, REPLIED
// One line in the style of conntrack -L:
// "tcp 6 431999 ESTABLISHED src=.. dst=.. sport=.. dport=.. packets=.. bytes=.. src=.. ... mark=7 zone=1"
std::string format_entry(const Conntrack::Entry& e, uint64_t now);

}  // namespace kvnet::dp
