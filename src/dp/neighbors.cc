#include "dp/neighbors.h"

#include <cstring>

#include "dp/bridge.h"
#include "net/headers.h"
#include "net/vlan_ops.h"

namespace kvnet::dp {

using net::Frame;
using net::FrameBatch;

// ------------------------------------------------------------------ table

size_t NeighborTable::V6Hash::operator()(const V6Key& k) const {
  uint64_t a, b;
  std::memcpy(&a, k.b.data() + 2, 8);
  std::memcpy(&b, k.b.data() + 10, 8);
  return std::hash<uint64_t>{}(a * 0x9E3779B97F4A7C15ULL ^ b ^ (uint64_t{k.b[0]} << 8 | k.b[1]));
}

void NeighborTable::add(uint16_t vlan, const uint8_t* ip, size_t ip_len, const net::Mac& mac, std::string label) {
  if (ip_len == 4) {
    v4_[uint64_t{vlan} << 32 | net::load_be32(ip)] = {mac, std::move(label)};
  } else if (ip_len == 16) {
    V6Key k{};
    net::store_be16(k.b.data(), vlan);
    std::memcpy(k.b.data() + 2, ip, 16);
    v6_[k] = {mac, std::move(label)};
  }
}

const NeighborTable::Entry* NeighborTable::find_v4(uint16_t vlan, uint32_t ip) const {
  auto it = v4_.find(uint64_t{vlan} << 32 | ip);
  return it == v4_.end() ? nullptr : &it->second;
}

const NeighborTable::Entry* NeighborTable::find_v6(uint16_t vlan, const uint8_t* ip) const {
  V6Key k{};
  net::store_be16(k.b.data(), vlan);
  std::memcpy(k.b.data() + 2, ip, 16);
  auto it = v6_.find(k);
  return it == v6_.end() ? nullptr : &it->second;
}

// ------------------------------------------------------------------ replies

namespace {

constexpr uint8_t kNdSolicit = 135, kNdAdvert = 136;
constexpr uint8_t kNdOptTargetLl = 2;  // ND option: target link-layer address
constexpr size_t kNdLen = 24;  // ICMPv6 header (4) + flags (4) + target (16)

// The Ethernet header's EtherType at 12 and the L3 header right after it:
// frames with a remaining (inner) tag are not answered.
bool plain(const Frame& f, uint16_t type) {
  return f.key.l3_ofs == net::kEthHeaderLen && f.len() >= net::kEthHeaderLen &&
         net::load_be16(f.data() + 12) == type;
}

bool unspecified(const uint8_t* a) {
  for (int i = 0; i < 16; ++i)
    if (a[i]) return false;
  return true;
}

}  // namespace

bool make_arp_reply(Frame& f, const net::Mac& mac) {
  if (!plain(f, net::kEthTypeArp)) return false;
  uint8_t* p = f.data();
  auto* a = net::header_at<net::ArpHeader>(p + net::kEthHeaderLen, f.len() - net::kEthHeaderLen);
  if (!a || a->htype.host() != 1 || a->ptype.host() != net::kEthTypeIpv4 || a->hlen != 6 || a->plen != 4 ||
      a->op.host() != 1)
    return false;
  const net::Be32 spa = a->spa, tpa = a->tpa;
  uint8_t sha[6];
  std::memcpy(sha, a->sha, 6);
  std::memcpy(p, p + 6, 6);  // to the requester (its Ethernet source)
  std::memcpy(p + 6, mac.b.data(), 6);
  a->op = net::Be16::from_host(2);
  std::memcpy(a->sha, mac.b.data(), 6);
  a->spa = tpa;
  std::memcpy(a->tha, sha, 6);
  a->tpa = spa;
  f.key.dl_dst = net::Mac::from_bytes(p);
  f.key.dl_src = mac;
  f.key.nw_proto = 2;
  f.key.nw_src = tpa.host();
  f.key.nw_dst = spa.host();
  f.key.arp_sha = mac;
  f.key.arp_tha = net::Mac::from_bytes(sha);
  return true;
}

bool make_na_reply(Frame& f, const net::Mac& mac) {
  if (!plain(f, net::kEthTypeIpv6)) return false;
  constexpr size_t l3 = net::kEthHeaderLen, l4 = l3 + sizeof(net::Ipv6Header);
  if (f.len() < l4 + kNdLen) return false;
  uint8_t* p = f.data();
  auto* ip = reinterpret_cast<net::Ipv6Header*>(p + l3);
  uint8_t* icmp = p + l4;
  if (ip->version() != 6 || ip->next_header != net::kIpProtoIcmpv6 || ip->hop_limit != 255 ||
      ip->payload_len.host() < kNdLen || f.len() < l4 + ip->payload_len.host() || icmp[0] != kNdSolicit ||
      icmp[1] != 0)
    return false;
  // Duplicate address detection (from ::) is the owner's business: not answered.
  if (unspecified(ip->src)) return false;
  constexpr size_t kReplyLen = l4 + kNdLen + 8;  // + the target link-layer address option
  if (f.len() < kReplyLen && f.tailroom() < kReplyLen - f.len()) return false;
  uint8_t target[16];
  std::memcpy(target, icmp + 8, 16);
  std::memcpy(p, p + 6, 6);
  std::memcpy(p + 6, mac.b.data(), 6);
  std::memcpy(ip->dst, ip->src, 16);
  std::memcpy(ip->src, target, 16);
  ip->payload_len = net::Be16::from_host(kNdLen + 8);
  ip->hop_limit = 255;
  f.set_len(kReplyLen);
  icmp[0] = kNdAdvert;
  icmp[1] = 0;
  icmp[2] = icmp[3] = 0;
  icmp[4] = 0x60;  // Solicited, Override
  icmp[5] = icmp[6] = icmp[7] = 0;
  std::memcpy(icmp + 8, target, 16);
  icmp[24] = kNdOptTargetLl;
  icmp[25] = 1;  // 8 bytes
  std::memcpy(icmp + 26, mac.b.data(), 6);
  uint32_t pseudo = net::kIpProtoIcmpv6 + static_cast<uint32_t>(kNdLen + 8);
  for (size_t i = 8; i < 40; i += 2) pseudo += net::load_be16(p + l3 + i);
  net::store_be16(icmp + 2, net::inet_checksum(icmp, kNdLen + 8, pseudo));
  f.key.dl_dst = net::Mac::from_bytes(p);
  f.key.dl_src = mac;
  std::memcpy(f.key.ipv6_src, ip->src, 16);
  std::memcpy(f.key.ipv6_dst, ip->dst, 16);
  f.key.tp_src = kNdAdvert;
  f.key.tp_dst = 0;
  return true;
}

// ------------------------------------------------------------------ stage

namespace {

class ArpSuppress final : public Stage {
 public:
  std::string_view name() const override { return "arp-suppress"; }
  void process(PipelineContext& ctx, Port& in, FrameBatch& batch) override {
    const NeighborTable* t = in.bridge->neighbors();
    if (!t) return;
    std::array<uint64_t, 3> d{};
    FrameBatch replies;
    keep_if(batch, [&](Frame* f) KVNET_HOT_LAMBDA {
      const net::FlowKey& k = f->key;
      const bool arp = k.dl_type == net::kEthTypeArp && k.nw_proto == 1;
      const bool ns = k.dl_type == net::kEthTypeIpv6 && k.nw_proto == net::kIpProtoIcmpv6 && k.tp_src == kNdSolicit;
      if (!arp && !ns) [[likely]]
        return true;
      return answer(ctx, in, f, arp, *t, d, replies);
    });
    if (replies.count) {
      // Back out of the ingress port, as its VLAN rule sends the VLAN.
      const VlanPort& vp = in.vlan;
      for (uint32_t i = 0; i < replies.count; ++i) {
        Frame* f = replies[i];
        if (!vp.sends_untagged(f->meta.vlan) &&
            !net::push_vlan(*f, f->meta.s_tpid, static_cast<uint16_t>(f->meta.pcp << 13 | f->meta.vlan))) {
          ctx.drop(in, f, Drop::kNoHeadroom);
          replies.frames[i] = nullptr;
        }
      }
      uint32_t n = 0;
      for (uint32_t i = 0; i < replies.count; ++i)
        if (replies.frames[i]) replies.frames[n++] = replies.frames[i];
      replies.count = n;
      ctx.output(in, replies);
    }
    n_.add(ctx, d);
  }
  std::span<const StageCounter> counters() const override { return n_.c; }

 private:
  // Answers `f` (an ARP request or a solicitation) if its target is known:
  // the reply joins `replies` and false is returned; else true (it goes on).
  bool answer(PipelineContext& ctx, Port& in, Frame* f, bool arp, const NeighborTable& t,
              std::array<uint64_t, 3>& d, FrameBatch& replies) {
    const net::FlowKey& k = f->key;
    const uint16_t vlan = f->meta.vlan;
    const NeighborTable::Entry* e = nullptr;
    std::string target;
    if (arp) {
      if (k.nw_src != k.nw_dst) e = t.find_v4(vlan, k.nw_dst);  // not a gratuitous ARP
      if (ctx.trace()) target = net::ipv4_str(k.nw_dst);
    } else if (k.l4_ofs && f->len() >= size_t{k.l4_ofs} + kNdLen) {
      const uint8_t* tgt = f->data() + k.l4_ofs + 8;
      e = t.find_v6(vlan, tgt);
      if (ctx.trace()) target = net::ipv6_str(tgt);
    }
    // The owner asking about its own address is not answered (a probe).
    if (e && (e->mac == k.dl_src || replies.full())) e = nullptr;
    net::Mac mac = e ? e->mac : net::Mac{};
    const bool made = e && (arp ? make_arp_reply(*f, mac) : make_na_reply(*f, mac));
    if (ctx.trace()) [[unlikely]]
      ctx.trace_step({.bridge = in.bridge->name(), .port = in.name, .stage = TraceStage::kSuppress,
                      .what = made ? TraceWhat::kAnswered : TraceWhat::kNotKnown, .mac = made ? mac.str() : "",
                      .other = target + (made && !e->label.empty() ? " (" + e->label + ")" : ""),
                      .kind = arp ? "arp" : "nd", .vlan = vlan});
    if (!made) {
      ++d[2];
      return true;
    }
    ++d[arp ? 0 : 1];
    replies.add(f);
    return false;
  }

  Counters<3> n_{{{{"arp_answered"}, {"nd_answered"}, {"not_known"}}}};
};

}  // namespace

std::unique_ptr<Stage> make_arp_suppress() { return std::make_unique<ArpSuppress>(); }

}  // namespace kvnet::dp
