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

}  // namespace

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

int segment(Frame* f, FramePool& pool, Frame** out, size_t out_cap) {
  const uint8_t gso = f->meta.vnet.gso_type & ~kGsoEcn;
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
  const uint8_t proto = tcp ? kIpProtoTcp : kIpProtoUdp;
  const size_t mss = f->meta.vnet.gso_size;
  size_t hdr = 0;
  if ((v4 || v6) && k.nw_proto == proto && k.l4_ofs && !(k.flags & (kFlowL4Truncated | kFlowFragment)) && mss) {
    const size_t l4_hdr = tcp ? static_cast<size_t>(f->data()[k.l4_ofs + 12] >> 4) * 4 : sizeof(UdpHeader);
    // A TCP data offset below 5 would cut every segment inside the TCP
    // header, and the sequence number and checksum written below would land
    // past the segment's end.
    if (l4_hdr >= (tcp ? sizeof(TcpHeader) : sizeof(UdpHeader))) hdr = k.l4_ofs + l4_hdr;
  }
  if (hdr == 0 || hdr >= f->len() || (gso != kGsoTcpV4 && gso != kGsoTcpV6 && gso != kGsoUdpL4)) {
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

}  // namespace kvnet::net
