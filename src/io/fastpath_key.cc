#include "io/fastpath_key.h"

#include <cstring>

#include "net/bytes.h"
#include "net/headers.h"

namespace kvnet::io {

bool fastpath_key(const uint8_t* frame, size_t len, uint32_t ifindex, bool l4, kvfp_key& k, uint32_t* l2_len) {
  std::memset(&k, 0, sizeof k);
  if (len < 14) return false;
  k.ifindex = ifindex;
  std::memcpy(k.dst, frame, 6);
  std::memcpy(k.src, frame + 6, 6);
  size_t off = 12;
  for (int tags = 0;; off += 4, ++tags) {
    if (off + 2 > len) return false;
    const uint16_t t = net::load_be16(frame + off);
    if (t != net::kEthTypeVlan && t != net::kEthTypeQinQ) break;
    if (tags == 2 || off + 4 > len) return false;
    k.tpid[tags] = t;
    k.tci[tags] = net::load_be16(frame + off + 2);
  }
  k.ethertype = net::load_be16(frame + off);
  off += 2;
  if (l2_len) *l2_len = static_cast<uint32_t>(off);
  if (k.ethertype == net::kEthTypeArp || k.ethertype == 0x8035) return false;
  k.l4 = l4 ? 1 : 0;
  const uint8_t* ip = frame + off;
  const size_t rest = len - off;
  uint8_t proto = 0;
  size_t l4_off = 0;
  if (k.ethertype == net::kEthTypeIpv4) {
    if (rest < 20 || (ip[0] >> 4) != 4 || (ip[0] & 0xf) < 5) return false;
    if (net::load_be16(ip + 6) & 0x3fff) return false;  // a fragment
    proto = ip[9];
    l4_off = size_t{ip[0] & 0xfu} * 4;
    if (l4) {
      std::memcpy(&k.saddr[0], ip + 12, 4);
      std::memcpy(&k.daddr[0], ip + 16, 4);
    }
  } else if (k.ethertype == net::kEthTypeIpv6) {
    if (rest < 40 || (ip[0] >> 4) != 6) return false;
    proto = ip[6];
    l4_off = 40;
    if (proto != net::kIpProtoTcp && proto != net::kIpProtoUdp && proto != 58) return false;  // extension headers
    if (l4) {
      std::memcpy(k.saddr, ip + 8, 16);
      std::memcpy(k.daddr, ip + 24, 16);
    }
  } else {
    return true;  // another EtherType: the L2 fields are the key
  }
  if (l4) k.proto = proto;
  const uint8_t* t = ip + l4_off;
  const size_t tl = rest > l4_off ? rest - l4_off : 0;
  const bool v4 = k.ethertype == net::kEthTypeIpv4;
  if (proto == net::kIpProtoTcp) {
    if (tl < 14 || (t[13] & 0x07)) return false;  // SYN, FIN, RST: the slow path's
  } else if (proto == net::kIpProtoUdp) {
    if (tl < 4) return false;
    const uint16_t sp = net::load_be16(t), dp = net::load_be16(t + 2);
    const uint16_t c = v4 ? 68 : 546, sv = v4 ? 67 : 547;
    if (sp == c || sp == sv || dp == c || dp == sv) return false;  // DHCP
  } else if ((v4 && proto == 1) || (!v4 && proto == 58)) {
    if (tl < 6) return false;
    const uint8_t type = t[0];
    if (v4 && (type == 3 || type == 4 || type == 5 || type == 11 || type == 12)) return false;  // errors
    if (!v4 && (type < 128 || (type >= 133 && type <= 137))) return false;                     // errors, ND
    if (l4) {
      k.sport = net::load_be16(t);
      k.dport = net::load_be16(t + 4);
    }
    return true;
  } else {
    return true;
  }
  if (l4) {
    k.sport = net::load_be16(t);
    k.dport = net::load_be16(t + 2);
  }
  return true;
}

}  // namespace kvnet::io
