#include "net/offload.h"

#include <cstring>

#include "net/frame.h"
#include "net/headers.h"

namespace kvnet::net {
namespace {

constexpr uint8_t kTcpFin = 0x01, kTcpPsh = 0x08, kTcpCwr = 0x80;

// Sum of the pseudo-header for a transport segment of `l4len` bytes.
uint32_t pseudo_sum(const uint8_t* frame, const FlowKey& k, uint8_t proto, size_t l4len) {
  uint32_t s = proto + static_cast<uint32_t>(l4len);
  const uint8_t* ip = frame + k.l3_ofs;
  if (k.dl_type == kEthTypeIpv4) {
    for (size_t i = 12; i < 20; i += 2) s += load_be16(ip + i);
  } else {
    for (size_t i = 8; i < 40; i += 2) s += load_be16(ip + i);
  }
  return s;
}

void fill_l4_checksum(uint8_t* frame, size_t len, const FlowKey& k, uint8_t proto) {
  uint8_t* l4 = frame + k.l4_ofs;
  const size_t l4len = len - k.l4_ofs;
  const size_t at = proto == kIpProtoTcp ? 16 : 6;
  store_be16(l4 + at, 0);
  uint16_t c = inet_checksum(l4, l4len, pseudo_sum(frame, k, proto, l4len));
  if (proto == kIpProtoUdp && c == 0) c = 0xffff;
  store_be16(l4 + at, c);
}

// Length of the transport header of a GSO frame of base type `gso` whose
// header starts at `l4` (`avail` bytes from there to the frame's end): a TCP
// data offset of at least 5, or UDP's 8 bytes, inside the frame. 0 otherwise.
size_t gso_l4_header_len(const uint8_t* l4, size_t avail, uint8_t gso) {
  size_t n = sizeof(UdpHeader);
  if (gso == kGsoTcpV4 || gso == kGsoTcpV6) {
    if (avail < sizeof(TcpHeader)) return 0;
    n = static_cast<size_t>(l4[12] >> 4) * 4;
    if (n < sizeof(TcpHeader)) return 0;
  } else if (gso != kGsoUdpL4) {
    return 0;
  }
  return n <= avail ? n : 0;
}

uint8_t gso_proto(uint8_t gso) { return gso == kGsoUdpL4 ? kIpProtoUdp : kIpProtoTcp; }

}  // namespace

size_t gso_segment_l3_len(const uint8_t* p, size_t len, const VnetHdr& v) {
  const uint8_t gso = gso_base_type(v.gso_type);
  size_t l3 = kEthHeaderLen;
  for (int i = 0; i < 2 && len >= l3 + kVlanTagLen; ++i) {
    const uint16_t t = load_be16(p + l3 - 2);
    if (t != kEthTypeVlan && t != kEthTypeQinQ) break;
    l3 += kVlanTagLen;
  }
  if (len < l3) return 0;
  const uint16_t type = load_be16(p + l3 - 2);
  size_t iphdr = 0;
  uint8_t proto = 0;
  if (type == kEthTypeIpv4 && len >= l3 + sizeof(Ipv4Header)) {
    iphdr = static_cast<size_t>(p[l3] & 0x0f) * 4;
    proto = p[l3 + 9];
    if (iphdr < sizeof(Ipv4Header)) return 0;
  } else if (type == kEthTypeIpv6 && len >= l3 + sizeof(Ipv6Header)) {
    iphdr = sizeof(Ipv6Header);
    proto = p[l3 + 6];
  } else {
    return 0;
  }
  if (proto != gso_proto(gso) || l3 + iphdr > len) return 0;
  const size_t l4hdr = gso_l4_header_len(p + l3 + iphdr, len - l3 - iphdr, gso);
  if (l4hdr == 0 || v.gso_size == 0) return 0;
  const size_t payload = len - l3 - iphdr - l4hdr;
  return iphdr + l4hdr + (payload < v.gso_size ? payload : v.gso_size);
}

bool finish_checksum(Frame& f) {
  VnetHdr& v = f.meta.vnet;
  if (!(v.flags & kVnetNeedsCsum)) return true;
  const size_t start = v.csum_start, field = size_t{v.csum_start} + v.csum_offset;
  if (field + 2 > f.len() || start >= f.len()) return false;
  // The field holds the folded pseudo-header sum; summing over it completes it.
  store_be16(f.data() + field, inet_checksum(f.data() + start, f.len() - start));
  v.flags = static_cast<uint8_t>((v.flags & ~kVnetNeedsCsum) | kVnetDataValid);
  return true;
}

bool describe_tcp_gso(const uint8_t* p, size_t len, size_t max_l3_len, VnetHdr& v) {
  FlowKey k;
  if (parse_flow(p, len, k) != ParseStatus::kOk) return false;
  const bool v4 = k.dl_type == kEthTypeIpv4, v6 = k.dl_type == kEthTypeIpv6;
  if ((!v4 && !v6) || k.nw_proto != kIpProtoTcp || !k.l4_ofs ||
      (k.flags & (kFlowL3Truncated | kFlowL3Malformed | kFlowL4Truncated | kFlowFragment)))
    return false;
  const uint8_t* ip = p + k.l3_ofs;
  const size_t end = v4 ? k.l3_ofs + size_t{load_be16(ip + 2)} : k.l3_ofs + sizeof(Ipv6Header) + load_be16(ip + 4);
  if (end != len || (v6 && k.l4_ofs != k.l3_ofs + sizeof(Ipv6Header))) return false;
  const uint8_t gso = v4 ? kGsoTcpV4 : kGsoTcpV6;
  const size_t l4hdr = gso_l4_header_len(p + k.l4_ofs, len - k.l4_ofs, gso);
  const size_t headers = k.l4_ofs + l4hdr - k.l3_ofs;
  if (l4hdr == 0 || max_l3_len <= headers || max_l3_len - headers > 0xffff) return false;
  const size_t mss = max_l3_len - headers;
  if (len - k.l4_ofs - l4hdr <= mss) return false;
  v.flags = kVnetNeedsCsum;
  v.gso_type = gso;
  v.gso_size = static_cast<uint16_t>(mss);
  v.hdr_len = static_cast<uint16_t>(k.l4_ofs + l4hdr);
  v.csum_start = k.l4_ofs;
  v.csum_offset = 16;
  return true;
}

bool complete_partial_checksum(Frame& f) {
  const VnetHdr& v = f.meta.vnet;
  if (v.flags || v.gso_type) return false;
  FlowKey k;
  if (parse_flow(f.data(), f.len(), k) != ParseStatus::kOk) return false;
  const bool v4 = k.dl_type == kEthTypeIpv4, v6 = k.dl_type == kEthTypeIpv6;
  if ((!v4 && !v6) || (k.nw_proto != kIpProtoTcp && k.nw_proto != kIpProtoUdp) || !k.l4_ofs ||
      (k.flags & (kFlowL3Truncated | kFlowL3Malformed | kFlowL4Truncated | kFlowFragment)))
    return false;
  const uint8_t* ip = f.data() + k.l3_ofs;
  // The segment ends where the IP packet does (not at Ethernet padding).
  const size_t end = v4 ? k.l3_ofs + size_t{load_be16(ip + 2)} : k.l3_ofs + sizeof(Ipv6Header) + load_be16(ip + 4);
  if (end > f.len() || end <= k.l4_ofs) return false;
  const size_t l4len = end - k.l4_ofs;
  const size_t at = k.nw_proto == kIpProtoTcp ? 16 : 6;
  if (l4len < at + 2) return false;
  uint8_t* l4 = f.data() + k.l4_ofs;
  const uint16_t field = load_be16(l4 + at);
  if (k.nw_proto == kIpProtoUdp && v4 && field == 0) return false;  // no checksum
  const uint32_t pseudo = pseudo_sum(f.data(), k, k.nw_proto, l4len);
  // The cheap test first (no pass over the data): only a field holding the
  // folded pseudo-header sum can be partial; every other frame stops here.
  if (field != static_cast<uint16_t>(~inet_checksum(nullptr, 0, pseudo))) return false;
  // c = ~fold(segment): with the field holding the folded pseudo-header sum,
  // that is the checksum the sender's NIC would have written. A segment that
  // verifies as it is (1 in 65536 complete ones hold that value) is left.
  const uint16_t c = inet_checksum(l4, l4len);
  uint32_t all = static_cast<uint16_t>(~c) + pseudo;
  while (all >> 16) all = (all & 0xffff) + (all >> 16);
  if (all == 0xffff) return false;
  store_be16(l4 + at, k.nw_proto == kIpProtoUdp && c == 0 ? 0xffff : c);
  return true;
}

int segment(Frame* f, FramePool& pool, Frame** out, size_t out_cap, size_t max_l3_len) {
  const uint8_t gso = gso_base_type(f->meta.vnet.gso_type);
  if (gso == kGsoNone) {
    if (!finish_checksum(*f) || out_cap == 0) {
      pool.put(f);
      return -1;
    }
    out[0] = f;
    return 1;
  }
  FlowKey k;
  parse_flow(f->data(), f->len(), k);
  const bool v4 = k.dl_type == kEthTypeIpv4, v6 = k.dl_type == kEthTypeIpv6;
  const bool tcp = gso == kGsoTcpV4 || gso == kGsoTcpV6;
  const uint8_t proto = gso_proto(gso);
  size_t mss = f->meta.vnet.gso_size;
  size_t hdr = 0;
  if ((v4 || v6) && k.nw_proto == proto && k.l4_ofs && k.l4_ofs < f->len() &&
      !(k.flags & (kFlowL4Truncated | kFlowFragment)) && mss) {
    // Every segment gets these headers, and their fields are rewritten below:
    // a data offset below 5 or headers past the frame would write past a segment.
    const size_t l4hdr = gso_l4_header_len(f->data() + k.l4_ofs, f->len() - k.l4_ofs, gso);
    if (l4hdr) hdr = k.l4_ofs + l4hdr;
  }
  if (hdr != 0 && max_l3_len != 0) {  // the egress MTU may allow less than gso_size
    const size_t headers = hdr - k.l3_ofs;
    if (max_l3_len <= headers) hdr = 0;
    else if (max_l3_len - headers < mss) mss = max_l3_len - headers;
  }
  if (hdr == 0 || hdr >= f->len()) {
    pool.put(f);
    return -1;
  }
  const size_t payload = f->len() - hdr;
  const size_t nseg = (payload + mss - 1) / mss;
  if (nseg > out_cap) {
    pool.put(f);
    return -1;
  }
  const uint8_t* src = f->data();
  const uint16_t ip_id = v4 ? load_be16(src + k.l3_ofs + 4) : 0;
  const uint32_t seq = tcp ? load_be32(src + k.l4_ofs + 4) : 0;
  const uint8_t flags = tcp ? src[k.l4_ofs + 13] : 0;
  size_t made = 0;
  for (size_t i = 0; i < nseg; ++i) {
    Frame* s = pool.get();
    if (!s) {
      for (size_t j = 0; j < made; ++j) pool.put(out[j]);
      pool.put(f);
      return -1;
    }
    const size_t chunk = i + 1 < nseg ? mss : payload - i * mss;
    s->meta = f->meta;
    s->meta.vnet = VnetHdr{};
    s->set_len(0);
    uint8_t* d = s->data();
    std::memcpy(d, src, hdr);
    std::memcpy(d + hdr, src + hdr + i * mss, chunk);
    s->set_len(hdr + chunk);
    const size_t len = hdr + chunk;
    uint8_t* ip = d + k.l3_ofs;
    if (v4) {
      store_be16(ip + 2, static_cast<uint16_t>(len - k.l3_ofs));
      store_be16(ip + 4, static_cast<uint16_t>(ip_id + i));
      store_be16(ip + 10, 0);
      store_be16(ip + 10, inet_checksum(ip, static_cast<size_t>(ip[0] & 0x0f) * 4));
    } else {
      store_be16(ip + 4, static_cast<uint16_t>(len - k.l3_ofs - sizeof(Ipv6Header)));
    }
    uint8_t* l4 = d + k.l4_ofs;
    if (tcp) {
      store_be32(l4 + 4, static_cast<uint32_t>(seq + i * mss));
      uint8_t fl = flags;
      if (i + 1 < nseg) fl &= static_cast<uint8_t>(~(kTcpFin | kTcpPsh));
      if (i > 0) fl &= static_cast<uint8_t>(~kTcpCwr);
      l4[13] = fl;
    } else {
      store_be16(l4 + 4, static_cast<uint16_t>(len - k.l4_ofs));
    }
    fill_l4_checksum(d, len, k, proto);
    out[made++] = s;
  }
  pool.put(f);
  return static_cast<int>(made);
}

namespace {

// Where an IPv4 TCP segment's parts are, or l2 == 0 if `p` is not one GRO takes.
struct TcpSeg {
  size_t l2 = 0, tcp = 0, payload = 0, end = 0;  // offsets; `end`: after the IP packet
};
TcpSeg tcp_seg(const uint8_t* p, size_t len) {
  TcpSeg s;
  if (len < kEthHeaderLen) return s;
  size_t l2 = kEthHeaderLen;
  if (load_be16(p + 12) == kEthTypeVlan) l2 += kVlanTagLen;
  if (len < l2 + 20 + 20 || load_be16(p + l2 - 2) != kEthTypeIpv4) return s;
  const uint8_t* ip = p + l2;
  if (ip[0] != 0x45 || ip[9] != kIpProtoTcp || (load_be16(ip + 6) & 0x3fff) != 0) return s;  // options, fragments
  const size_t tot = load_be16(ip + 2);
  const size_t doff = static_cast<size_t>(ip[20 + 12] >> 4) * 4;
  if (doff < 20 || tot < 20 + doff || l2 + tot > len) return s;
  s.l2 = l2;
  s.tcp = l2 + 20;
  s.payload = s.tcp + doff;
  s.end = l2 + tot;
  return s;
}

uint32_t tcp_pseudo(const uint8_t* ip, size_t tcp_len) {
  uint32_t sum = kIpProtoTcp + static_cast<uint32_t>(tcp_len);
  for (size_t i = 12; i < 20; i += 2) sum += load_be16(ip + i);
  return sum;
}

bool tcp_checksum_ok(const uint8_t* p, const TcpSeg& s) {
  return inet_checksum(p + s.tcp, s.end - s.tcp, tcp_pseudo(p + s.l2, s.end - s.tcp)) == 0;
}

// The checksum field holds the folded pseudo-header sum: a segment a kernel
// VTEP encapsulated without filling it (see complete_partial_checksum).
bool tcp_checksum_partial(const uint8_t* p, const TcpSeg& s) {
  return load_be16(p + s.tcp + 16) ==
         static_cast<uint16_t>(~inet_checksum(nullptr, 0, tcp_pseudo(p + s.l2, s.end - s.tcp)));
}

}  // namespace

bool tcp_coalesce(Frame& f, const uint8_t* p, size_t len) {
  constexpr uint8_t kAck = 0x10;
  const TcpSeg a = tcp_seg(f.data(), f.len()), b = tcp_seg(p, len);
  if (!a.l2 || a.l2 != b.l2 || a.payload != b.payload || a.end != f.len()) return false;
  const uint8_t* fa = f.data();
  const uint8_t *ipa = fa + a.l2, *ipb = p + b.l2, *ta = fa + a.tcp, *tb = p + b.tcp;
  // L2 header; IPv4 TOS, flags, TTL, protocol, addresses; TCP ports, then
  // ack, window and options (the sequence number, flags and checksum differ).
  if (std::memcmp(fa, p, a.l2) != 0 || ipa[1] != ipb[1] || std::memcmp(ipa + 6, ipb + 6, 4) != 0 ||
      std::memcmp(ipa + 12, ipb + 12, 8) != 0 || std::memcmp(ta, tb, 4) != 0 || std::memcmp(ta + 8, tb + 8, 5) != 0 ||
      std::memcmp(ta + 14, tb + 14, 2) != 0 || std::memcmp(ta + 20, tb + 20, a.payload - a.tcp - 20) != 0)
    return false;
  const uint8_t fb = tb[13];
  if (ta[13] != kAck || (fb != kAck && fb != (kAck | 0x08))) return false;
  const size_t have = f.len() - a.payload, add = b.end - b.payload;
  const VnetHdr& v = f.meta.vnet;
  const bool merged = v.gso_type == kGsoTcpV4;
  if (!merged && (v.gso_type != kGsoNone || v.flags != 0)) return false;  // offload state we did not make
  const size_t mss = merged ? v.gso_size : have;
  if (add == 0 || mss == 0 || add > mss || have % mss != 0 || add > f.tailroom()) return false;
  if (a.end - a.tcp + add > 0xffff - 20) return false;
  if (load_be32(tb + 4) != load_be32(ta + 4) + static_cast<uint32_t>(have)) return false;
  if ((!tcp_checksum_ok(p, b) && !tcp_checksum_partial(p, b)) || (!merged && !tcp_checksum_ok(fa, a))) return false;

  uint8_t* d = f.data();
  std::memcpy(d + f.len(), p + b.payload, add);
  f.set_len(f.len() + add);
  uint8_t* ip = d + a.l2;
  uint8_t* tcp = d + a.tcp;
  store_be16(ip + 2, static_cast<uint16_t>(f.len() - a.l2));
  store_be16(ip + 10, 0);
  store_be16(ip + 10, inet_checksum(ip, 20));
  tcp[13] = fb;  // PSH, if the segment has it, ends the merge
  const size_t tcp_len = f.len() - a.tcp;
  store_be16(tcp + 16, static_cast<uint16_t>(~inet_checksum(nullptr, 0, tcp_pseudo(ip, tcp_len))));
  VnetHdr& w = f.meta.vnet;
  w.flags = kVnetNeedsCsum;
  w.gso_type = kGsoTcpV4;
  w.gso_size = static_cast<uint16_t>(mss);
  w.hdr_len = static_cast<uint16_t>(a.payload);
  w.csum_start = static_cast<uint16_t>(a.tcp);
  w.csum_offset = 16;
  return true;
}

}  // namespace kvnet::net
