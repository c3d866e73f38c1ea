#include "net/flow_key.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstdio>

#include "net/headers.h"

namespace kvnet::net {
namespace {

void parse_l4(const uint8_t* p, size_t avail, size_t ofs, FlowKey& k) {
  k.l4_ofs = static_cast<uint16_t>(ofs);
  switch (k.nw_proto) {
    case kIpProtoTcp: {
      auto* t = header_at<TcpHeader>(p + ofs, avail);
      if (!t) break;
      k.tp_src = t->src.host();
      k.tp_dst = t->dst.host();
      return;
    }
    case kIpProtoUdp: {
      auto* u = header_at<UdpHeader>(p + ofs, avail);
      if (!u) break;
      k.tp_src = u->src.host();
      k.tp_dst = u->dst.host();
      return;
    }
    case kIpProtoIcmp:
    case kIpProtoIcmpv6: {
      auto* i = header_at<IcmpHeader>(p + ofs, avail);
      if (!i) break;
      k.tp_src = i->type;
      k.tp_dst = i->code;
      return;
    }
    default:
      return;  // other protocols: no L4 fields
  }
  k.flags |= kFlowL4Truncated;
}

void parse_ipv4(const uint8_t* p, size_t len, FlowKey& k) {
  const size_t ofs = k.l3_ofs;
  auto* ip = header_at<Ipv4Header>(p + ofs, len - ofs);
  if (!ip) {
    k.flags |= kFlowL3Truncated;
    return;
  }
  const size_t ihl = ip->header_len();
  const size_t total = ip->total_len.host();
  if (ip->version() != 4 || ihl < sizeof(Ipv4Header) || total < ihl) {
    k.flags |= kFlowL3Malformed;
    return;
  }
  if (ofs + ihl > len) {
    k.flags |= kFlowL3Truncated;
    return;
  }
  k.nw_src = ip->src.host();
  k.nw_dst = ip->dst.host();
  k.nw_proto = ip->proto;
  k.nw_tos = ip->tos;
  k.nw_ttl = ip->ttl;
  if (ip->is_later_fragment()) {
    k.flags |= kFlowFragment;
    return;
  }
  // L4 bytes end at the IP total length or at the frame end, whichever is first
  // (Ethernet padding is not payload; a short frame is truncated).
  size_t end = ofs + total;
  if (end > len) {
    k.flags |= kFlowL3Malformed;
    end = len;
  }
  parse_l4(p, end - (ofs + ihl), ofs + ihl, k);
}

void parse_ipv6(const uint8_t* p, size_t len, FlowKey& k) {
  const size_t ofs = k.l3_ofs;
  auto* ip = header_at<Ipv6Header>(p + ofs, len - ofs);
  if (!ip) {
    k.flags |= kFlowL3Truncated;
    return;
  }
  if (ip->version() != 6) {
    k.flags |= kFlowL3Malformed;
    return;
  }
  std::memcpy(k.ipv6_src, ip->src, 16);
  std::memcpy(k.ipv6_dst, ip->dst, 16);
  k.nw_proto = ip->next_header;
  k.nw_tos = ip->traffic_class();
  k.nw_ttl = ip->hop_limit;
  size_t end = ofs + sizeof(Ipv6Header) + ip->payload_len.host();
  if (end > len) {
    k.flags |= kFlowL3Malformed;
    end = len;
  }
  const size_t l4 = ofs + sizeof(Ipv6Header);
  parse_l4(p, end - l4, l4, k);  // extension headers are not walked
}

void parse_arp(const uint8_t* p, size_t len, FlowKey& k) {
  auto* a = header_at<ArpHeader>(p + k.l3_ofs, len - k.l3_ofs);
  if (!a) {
    k.flags |= kFlowL3Truncated;
    return;
  }
  if (a->htype.host() != 1 || a->ptype.host() != kEthTypeIpv4 || a->hlen != 6 || a->plen != 4) {
    k.flags |= kFlowL3Malformed;
    return;
  }
  k.nw_proto = static_cast<uint8_t>(a->op.host());
  k.nw_src = a->spa.host();
  k.nw_dst = a->tpa.host();
  k.arp_sha = Mac::from_bytes(a->sha);
  k.arp_tha = Mac::from_bytes(a->tha);
}

}  // namespace

ParseStatus parse_flow(const uint8_t* p, size_t len, FlowKey& k) {
  k = FlowKey{};
  if (len < kEthHeaderLen) return ParseStatus::kRunt;
  k.dl_dst = Mac::from_bytes(p);
  k.dl_src = Mac::from_bytes(p + 6);
  size_t ofs = 12;
  uint16_t type = load_be16(p + ofs);
  while (type == kEthTypeVlan && ofs + 2 + kVlanTagLen <= len) {
    const uint16_t tci = load_be16(p + ofs + 2);
    if (k.n_tags == 0) k.vlan_tci = tci;
    else if (k.n_tags == 1) k.inner_tci = tci;
    if (k.n_tags < 2) ++k.n_tags;
    ofs += kVlanTagLen;
    type = load_be16(p + ofs);
  }
  if (type == kEthTypeVlan) {  // a tag that does not fit
    k.flags |= kFlowL3Truncated;
    k.dl_type = type;
    return ParseStatus::kOk;
  }
  k.dl_type = type;
  ofs += 2;
  k.l3_ofs = static_cast<uint16_t>(ofs);
  switch (type) {
    case kEthTypeIpv4: parse_ipv4(p, len, k); break;
    case kEthTypeIpv6: parse_ipv6(p, len, k); break;
    case kEthTypeArp: parse_arp(p, len, k); break;
    default: break;
  }
  return ParseStatus::kOk;
}

bool ipv6_upper(const uint8_t* f, size_t len, size_t l3, Ipv6Upper& out) {
  if (len < l3 + 40 || (f[l3] >> 4) != 6) return false;
  // The packet ends at its payload length or at the frame's end, whichever is first.
  const size_t end = std::min(len, l3 + 40 + (size_t{f[l3 + 4]} << 8 | f[l3 + 5]));
  uint8_t next = f[l3 + 6];
  size_t at = l3 + 40;
  out = Ipv6Upper{};
  for (int i = 0; i <= kMaxIpv6ExtHeaders; ++i) {
    size_t hl;
    switch (next) {
      case 0:    // hop-by-hop options
      case 43:   // routing
      case 60:   // destination options
      case 135:  // mobility
      case 139:  // HIP
      case 140:  // shim6
        if (at + 8 > end) return false;
        hl = (size_t{f[at + 1]} + 1) * 8;
        break;
      case 51:  // authentication header: its length is in 4-byte units, minus 2
        if (at + 8 > end) return false;
        hl = (size_t{f[at + 1]} + 2) * 4;
        break;
      case 44:  // fragment: 8 bytes; a non-first fragment carries no upper-layer header
        if (at + 8 > end) return false;
        if ((size_t{f[at + 2]} << 8 | f[at + 3]) & 0xfff8) {
          out.proto = f[at];
          out.ofs = static_cast<uint16_t>(at + 8);
          out.later_fragment = true;
          return true;
        }
        hl = 8;
        break;
      default:
        out.proto = next;
        out.ofs = static_cast<uint16_t>(at);
        return true;
    }
    if (i == kMaxIpv6ExtHeaders || at + hl > end) return false;
    next = f[at];
    at += hl;
  }
  return false;
}

std::string ipv4_str(uint32_t a) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff);
  return buf;
}

std::string ipv6_str(const uint8_t* a) {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(AF_INET6, a, buf, sizeof buf);
  return buf;
}

std::string FlowKey::str() const {
  char buf[64];
  std::string s;
  if (n_tags >= 1) {
    std::snprintf(buf, sizeof buf, "dl_vlan=%u,dl_vlan_pcp=%u,", vlan_vid(), vlan_pcp());
    s += buf;
  }
  if (n_tags >= 2) {
    std::snprintf(buf, sizeof buf, "inner_vlan=%u,", inner_tci & 0x0fffu);
    s += buf;
  }
  s += "dl_src=" + dl_src.str() + ",dl_dst=" + dl_dst.str();
  std::snprintf(buf, sizeof buf, ",dl_type=0x%04x", dl_type);
  s += buf;
  if (flags & (kFlowL3Truncated | kFlowL3Malformed)) return s + ",l3=bad";
  if (dl_type == kEthTypeArp) {
    s += ",arp_op=" + std::to_string(nw_proto) + ",arp_spa=" + ipv4_str(nw_src) +
         ",arp_tpa=" + ipv4_str(nw_dst) + ",arp_sha=" + arp_sha.str() + ",arp_tha=" + arp_tha.str();
    return s;
  }
  const bool v4 = dl_type == kEthTypeIpv4, v6 = dl_type == kEthTypeIpv6;
  if (!v4 && !v6) return s;
  if (v4) s += ",nw_src=" + ipv4_str(nw_src) + ",nw_dst=" + ipv4_str(nw_dst);
  else s += ",ipv6_src=" + ipv6_str(ipv6_src) + ",ipv6_dst=" + ipv6_str(ipv6_dst);
  s += ",nw_proto=" + std::to_string(nw_proto) + ",nw_tos=" + std::to_string(nw_tos) +
       ",nw_ttl=" + std::to_string(nw_ttl);
  if (flags & kFlowFragment) return s + ",nw_frag=later";
  if (flags & kFlowL4Truncated) return s + ",l4=truncated";
  if (nw_proto == kIpProtoIcmp || nw_proto == kIpProtoIcmpv6)
    s += ",icmp_type=" + std::to_string(tp_src) + ",icmp_code=" + std::to_string(tp_dst);
  else if (nw_proto == kIpProtoTcp || nw_proto == kIpProtoUdp)
    s += ",tp_src=" + std::to_string(tp_src) + ",tp_dst=" + std::to_string(tp_dst);
  return s;
}

}  // namespace kvnet::net
