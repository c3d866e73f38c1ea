// Fuzz target firewall: arbitrary frames through ports with security groups,
// connection tracking and port security.
//
// One datapath, built once: a switch `fw` with three ports. `a` has two groups
// (egress TCP 80 and UDP 53 to 10.0.0.0/24, ICMP echo and TCP 22 in from
// 10.0.0.0/24, IPv6 TCP 443 in from any) and port security (its MAC with
// 10.0.0.1, a second MAC with 10.0.0.128/25 and fd00::1). `c` has a group
// that lets in UDP 5000-5010 and everything IPv4 out. `b` is not filtered.
// The connection table is small (64), so it fills and evicts.
//
// The input is a sequence of records, each one frame:
//   byte 0   bits 0-1: ingress port (a, b, c); bit 2: join the previous
//            record's batch (same port); bit 7 (first record only): trace,
//            byte 1 bit 0 = dry run
//   byte 1   seconds the clock advances before this frame
//   byte 2-3 frame length, big-endian (cut to what is left)
//   frame bytes
// Each input starts from an empty connection table and a fresh clock.
//
// Invariant, checked on every frame a port's backend receives ("never passes
// what the rules deny"): the frame left through the firewall of its ingress
// port and of its egress port only if
//   - port security allowed its source (the spec, restated here: own MACs,
//     only IPv4, ARP and IPv6, own addresses (link-local ones too), ARP
//     replies and neighbor advertisements only for them, no DHCP server, no
//     router advertisement, all judged behind IPv6 extension headers), and
//   - it is not IP, or DHCP client traffic, or IPv6 neighbor or multicast
//     listener discovery, or a rule of that port allows it
//     in that direction, or it belongs to (or is an ICMP error about) a
//     conversation a rule of that port allowed earlier in this input.
// "Allowed earlier" is a model kept here: every frame injected is matched
// against every filtered port's rules, and a match remembers the
// conversation (zone, protocol, the address pair and the port pair, either
// way round). It over-approximates what the table can hold (it never
// forgets), so a frame that passes outside it passed without any rule.
// Also: every frame is back in the pool after each input.
#include <arpa/inet.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <set>
#include <tuple>
#include <vector>

#include "dp/datapath.h"
#include "dp/firewall.h"
#include "fuzz_check.h"
#include "net/flow_key.h"
#include "net/frame.h"

namespace {

using namespace kvnet;

constexpr uint64_t kMacA = 0x020000000001, kMacA2 = 0x020000000011;
constexpr uint16_t kEthIpv4 = 0x0800, kEthIpv6 = 0x86dd, kEthArp = 0x0806;
constexpr uint8_t kTcp = 6, kUdp = 17, kIcmp = 1, kIcmpv6 = 58;

dp::IpPrefix prefix(const char* s) {
  dp::IpPrefix p;
  dp::IpPrefix::parse(s, p);
  return p;
}

dp::FwRule rule(uint32_t id, uint16_t group, bool ingress, int16_t proto, uint16_t lo = 0, uint16_t hi = 0,
                const char* remote = nullptr, bool v6 = false) {
  dp::FwRule r;
  r.id = id;
  r.group = group;
  r.ingress = ingress;
  r.proto = proto;
  r.port_min = lo;
  r.port_max = hi;
  r.v6 = v6;
  if (remote) {
    r.any_remote = false;
    r.remotes = {prefix(remote)};
  }
  return r;
}

// A conversation as the model remembers it: either direction.
using Conv = std::tuple<uint16_t, uint8_t, std::vector<uint8_t>, uint32_t>;

struct Addrs {
  bool ip = false, v6 = false;
  uint8_t src[16] = {}, dst[16] = {};
};

Addrs addrs(const net::FlowKey& k) {
  Addrs a;
  a.ip = dp::fw_addresses(k, a.v6, a.src, a.dst);
  return a;
}

bool l4_ok(const net::FlowKey& k) { return k.l4_ofs != 0 && !(k.flags & (net::kFlowL4Truncated | net::kFlowFragment)); }

Conv conv_of(uint16_t zone, uint8_t proto, const uint8_t* s, const uint8_t* d, uint16_t sp, uint16_t dp) {
  std::vector<uint8_t> pair;
  const bool swap = std::memcmp(s, d, 16) > 0 || (std::memcmp(s, d, 16) == 0 && sp > dp);
  const uint8_t* lo = swap ? d : s;
  const uint8_t* hi = swap ? s : d;
  pair.insert(pair.end(), lo, lo + 16);
  pair.insert(pair.end(), hi, hi + 16);
  const uint32_t ports = swap ? (uint32_t{dp} << 16 | sp) : (uint32_t{sp} << 16 | dp);
  return {zone, proto, pair, proto == kTcp || proto == kUdp ? ports : 0};
}

Conv conv_of(uint16_t zone, const net::FlowKey& k) {
  const Addrs a = addrs(k);
  const bool ports = (k.nw_proto == kTcp || k.nw_proto == kUdp) && l4_ok(k);
  return conv_of(zone, k.nw_proto, a.src, a.dst, ports ? k.tp_src : 0, ports ? k.tp_dst : 0);
}

// The conversation an ICMP/ICMPv6 error quotes (false: not an error, or cut).
bool quoted_conv(uint16_t zone, const net::FlowKey& k, const uint8_t* f, size_t len, Conv& out) {
  if (!l4_ok(k)) return false;
  const bool v6 = k.dl_type == kEthIpv6;
  const uint8_t t = static_cast<uint8_t>(k.tp_src);
  const bool error = v6 ? (k.nw_proto == kIcmpv6 && t >= 1 && t <= 4)
                        : (k.nw_proto == kIcmp && (t == 3 || t == 4 || t == 5 || t == 11 || t == 12));
  if (!error) return false;
  const size_t at = size_t{k.l4_ofs} + 8;
  uint8_t s[16] = {}, d[16] = {};
  uint8_t proto;
  size_t l4;
  if (v6) {
    if (len < at + 40 + 4) return false;
    proto = f[at + 6];
    std::memcpy(s, f + at + 8, 16);
    std::memcpy(d, f + at + 24, 16);
    l4 = at + 40;
  } else {
    if (len < at + 20) return false;
    const size_t ihl = size_t{f[at] & 0x0fu} * 4;
    if (ihl < 20 || len < at + ihl + 4) return false;
    proto = f[at + 9];
    std::memcpy(s, f + at + 12, 4);
    std::memcpy(d, f + at + 16, 4);
    l4 = at + ihl;
  }
  // fw_addresses keeps IPv4 in the first four bytes, as here.
  const bool ports = proto == kTcp || proto == kUdp;
  const uint16_t sp = ports ? static_cast<uint16_t>(f[l4] << 8 | f[l4 + 1]) : 0;
  const uint16_t dp = ports ? static_cast<uint16_t>(f[l4 + 2] << 8 | f[l4 + 3]) : 0;
  out = conv_of(zone, proto, s, d, sp, dp);
  return true;
}

// The IPv6 upper layer behind at most 8 extension headers (RFC 8200's
// hop-by-hop 0, routing 43, fragment 44, destination options 60, AH 51,
// mobility 135, HIP 139, shim6 140), within the payload length.
bool upper_layer(const uint8_t* f, size_t len, size_t l3, uint8_t& proto, size_t& at, bool& later) {
  if (len < l3 + 40) return false;
  const size_t end = std::min(len, l3 + 40 + (size_t{f[l3 + 4]} << 8 | f[l3 + 5]));
  proto = f[l3 + 6];
  at = l3 + 40;
  later = false;
  for (int n = 0;; ++n) {
    const bool ext = proto == 0 || proto == 43 || proto == 44 || proto == 60 || proto == 51 || proto == 135 ||
                     proto == 139 || proto == 140;
    if (!ext) return true;
    if (n == 8 || at + 8 > end) return false;
    if (proto == 44 && ((f[at + 2] << 8 | f[at + 3]) & ~7)) {
      proto = f[at];
      at += 8;
      later = true;
      return true;
    }
    const size_t hl = proto == 44 ? 8 : proto == 51 ? (size_t{f[at + 1]} + 2) * 4 : (size_t{f[at + 1]} + 1) * 8;
    if (at + hl > end) return false;
    proto = f[at];
    at += hl;
  }
}

struct World;

class Backend final : public dp::PortBackend {
 public:
  Backend(World& w, size_t index) : w_(w), index_(index) {}
  uint32_t send(net::FrameBatch& batch, net::FramePool& pool) override;

 private:
  World& w_;
  size_t index_;
};

struct World {
  dp::Datapath dp{512};
  dp::Bridge* br = nullptr;
  std::vector<dp::Port*> ports;
  std::vector<std::shared_ptr<const dp::FwPolicy>> policies;  // null: not filtered
  std::set<Conv> allowed;  // the model
  size_t in_port = 0;      // of the batch being run
  size_t pool_size = 0;

  World() {
    br = &dp.add_bridge("fw", dp::BridgeType::kSwitch, {.conntrack_max = 64});
    for (const char* name : {"a", "b", "c"}) {
      dp::VlanConfig v;
      v.mode = dp::VlanMode::kAccess;
      v.pvid = 1;
      ports.push_back(&dp.add_port(*br, name, dp::KindTag{"pcap"}, 9000, v,
                                   std::make_unique<Backend>(*this, ports.size())));
    }
    auto a = std::make_shared<dp::FwPolicy>();
    a->groups = {"web", "admin"};
    a->filtered = true;
    a->rules = {rule(1, 0, false, kTcp, 80, 80, "10.0.0.0/24"), rule(2, 0, false, kUdp, 53, 53, "10.0.0.0/24"),
                rule(3, 1, true, kIcmp, 0, 0, "10.0.0.0/24"), rule(4, 1, true, kTcp, 22, 22, "10.0.0.0/24"),
                rule(5, 0, true, kTcp, 443, 443, nullptr, true)};
    a->rules[2].icmp_type = 8;
    a->port_security = true;
    a->sources = {{kMacA, prefix("10.0.0.1/32")},
                  {kMacA2, prefix("10.0.0.128/25")},
                  {kMacA2, prefix("fd00::1/128")},
                  {kMacA, dp::eui64_link_local(kMacA)},  // as ctl/firewall_build adds them
                  {kMacA2, dp::eui64_link_local(kMacA2)}};
    auto c = std::make_shared<dp::FwPolicy>();
    c->groups = {"udp"};
    c->filtered = true;
    c->rules = {rule(1, 0, true, kUdp, 5000, 5010), rule(2, 0, false, dp::kFwAny)};
    policies = {a, nullptr, c};
    dp.set_firewall(*ports[0], a);
    dp.set_firewall(*ports[2], c);
    pool_size = dp.pool().available();
  }

  uint16_t zone(size_t i) const { return static_cast<uint16_t>(ports[i]->id + 1); }

  // What every filtered port's rules would let start, for the model.
  void remember(const net::FlowKey& k, size_t from) {
    if (k.dl_type != kEthIpv4 && k.dl_type != kEthIpv6) return;
    for (size_t i = 0; i < ports.size(); ++i)
      if (policies[i] && dp::fw_match(*policies[i], k, /*ingress=*/i != from)) allowed.insert(conv_of(zone(i), k));
  }

  void check_source(const net::FlowKey& k, const uint8_t* f, size_t len) const {
    const uint64_t mac = k.dl_src.u64();
    FUZZ_CHECK(mac == kMacA || mac == kMacA2, "port a sent from MAC %012llx", static_cast<unsigned long long>(mac));
    const auto& src = policies[0]->sources;
    auto owned = [&](bool v6, const uint8_t* addr) {
      for (const auto& s : src)
        if (s.mac == mac && s.prefix.contains(v6, addr)) return true;
      return false;
    };
    const bool l4 = l4_ok(k);
    if (k.dl_type == kEthArp) {
      FUZZ_CHECK(k.arp_sha.u64() == mac, "port a sent ARP with another sender MAC");
      const uint32_t spa = htonl(k.nw_src);
      FUZZ_CHECK(k.nw_src == 0 || owned(false, reinterpret_cast<const uint8_t*>(&spa)),
                 "port a sent ARP for an address it does not own");
    } else if (k.dl_type == kEthIpv4) {
      FUZZ_CHECK(!(l4 && k.nw_proto == kUdp && k.tp_src == 67), "port a sent a DHCP server's reply");
      const uint32_t s = htonl(k.nw_src);
      const bool dhcp_discover = k.nw_src == 0 && l4 && k.nw_proto == kUdp && k.tp_src == 68 && k.tp_dst == 67;
      FUZZ_CHECK(dhcp_discover || owned(false, reinterpret_cast<const uint8_t*>(&s)),
                 "port a sent from IPv4 %08x", k.nw_src);
    } else if (k.dl_type == kEthIpv6) {
      // The upper layer behind the extension headers, walked here again.
      uint8_t proto = 0;
      size_t at = 0;
      bool later = false;
      FUZZ_CHECK(upper_layer(f, len, k.l3_ofs, proto, at, later), "port a sent IPv6 whose headers cannot be walked");
      const bool has = !later && len >= at + 1;
      FUZZ_CHECK(!(has && proto == kIcmpv6 && f[at] == 134), "port a sent a router advertisement");
      FUZZ_CHECK(!(!later && len >= at + 2 && proto == kUdp && (f[at] << 8 | f[at + 1]) == 547),
                 "port a sent a DHCPv6 server's reply");
      static const uint8_t kZero[16] = {};
      FUZZ_CHECK(std::memcmp(k.ipv6_src, kZero, 16) == 0 || owned(true, k.ipv6_src),
                 "port a sent from an IPv6 address it does not own (link-local ones included)");
      if (has && proto == kIcmpv6 && f[at] == 136) {
        FUZZ_CHECK(len >= at + 24, "port a sent a neighbor advertisement without a whole target");
        FUZZ_CHECK(owned(true, f + at + 8), "port a advertised an IPv6 address it does not own");
      }
    } else {
      FUZZ_CHECK(false, "port a sent EtherType %04x (only IPv4, ARP and IPv6 may pass)", k.dl_type);
    }
  }

  // Port i's firewall let frame f through in this direction (to_endpoint:
  // i is the egress port).
  void check_filter(size_t i, bool to_endpoint, const net::FlowKey& k, const uint8_t* f, size_t len) const {
    if (!policies[i] || (k.dl_type != kEthIpv4 && k.dl_type != kEthIpv6)) return;
    if (k.nw_proto == kUdp && l4_ok(k)) {
      const bool v4 = k.dl_type == kEthIpv4;
      const uint16_t client = v4 ? 68 : 546, server = v4 ? 67 : 547;
      if (to_endpoint ? (k.tp_src == server && k.tp_dst == client) : (k.tp_src == client && k.tp_dst == server))
        return;  // DHCP client traffic
    }
    if (k.dl_type == kEthIpv6 && k.nw_proto == kIcmpv6 && l4_ok(k) &&
        ((k.tp_src >= 130 && k.tp_src <= 136) || k.tp_src == 143))
      return;  // neighbor and multicast listener discovery
    if (k.dl_type == kEthIpv6 && k.nw_proto == 0) {  // MLD behind a hop-by-hop header
      const size_t hbh = size_t{k.l3_ofs} + 40;
      if (len >= hbh + 2 && f[hbh] == kIcmpv6) {
        const size_t at = hbh + (size_t{f[hbh + 1]} + 1) * 8;
        if (len > at && ((f[at] >= 130 && f[at] <= 132) || f[at] == 143)) return;
      }
    }
    if (dp::fw_match(*policies[i], k, to_endpoint)) return;
    if (allowed.count(conv_of(zone(i), k))) return;
    Conv q;
    if (quoted_conv(zone(i), k, f, len, q) && allowed.count(q)) return;
    FUZZ_CHECK(false, "port %s passed %s %s that no rule allows and no allowed conversation explains",
               ports[i]->name.c_str(), to_endpoint ? "to its endpoint" : "from its endpoint", k.str().c_str());
  }

  void delivered(size_t out, const net::Frame& fr) {
    net::FlowKey k;
    if (net::parse_flow(fr.data(), fr.len(), k) != net::ParseStatus::kOk) return;  // the stages saw it parsed
    if (in_port == 0) check_source(k, fr.data(), fr.len());
    check_filter(in_port, false, k, fr.data(), fr.len());
    check_filter(out, true, k, fr.data(), fr.len());
  }
};

uint32_t Backend::send(net::FrameBatch& batch, net::FramePool& pool) {
  for (uint32_t i = 0; i < batch.count; ++i) w_.delivered(index_, *batch[i]);
  const uint32_t n = batch.count;
  pool.put(batch);
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World* world = new World();  // lives for the process, like the datapath
  World& w = *world;
  w.br->conntrack()->flush();
  w.allowed.clear();

  dp::Trace trace;
  const uint8_t* p = data;
  size_t left = size;
  uint64_t ts_ns = 1000ULL * dp::kSecondNs;
  net::FrameBatch batch;
  bool first = true;
  auto run = [&] {
    if (!batch.empty()) w.dp.receive(*w.ports[w.in_port], batch);
    batch.clear();
  };
  while (left >= 4) {
    const uint8_t flags = p[0];
    const size_t port = (flags & 3u) % w.ports.size();
    if (first && (flags & 0x80)) w.dp.set_trace(&trace, p[1] & 1);
    first = false;
    ts_ns += uint64_t{p[1]} * dp::kSecondNs;
    const size_t len = std::min(size_t{p[2]} << 8 | p[3], left - 4);
    p += 4;
    left -= 4;
    if (!(flags & 4) || port != w.in_port || batch.full()) run();
    w.in_port = port;
    net::Frame* f = w.dp.pool().get();
    FUZZ_CHECK(f != nullptr, "pool exhausted between batches");
    if (!f->assign(p, len)) f->assign(p, net::kMaxFrameLen);
    f->meta.ts_ns = ts_ns;
    net::FlowKey k;
    if (net::parse_flow(f->data(), f->len(), k) == net::ParseStatus::kOk) w.remember(k, port);
    batch.add(f);
    p += len;
    left -= len;
  }
  run();
  w.dp.set_trace(nullptr);
  FUZZ_CHECK(w.dp.pool().available() == w.pool_size, "%zu frames lost", w.pool_size - w.dp.pool().available());
  return 0;
}
