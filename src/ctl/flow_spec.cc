#include "ctl/flow_spec.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>
#include <map>
#include <optional>
#include <sstream>

#include "base/text.h"
#include "net/headers.h"

namespace kvnet::ctl {
namespace {

using namespace kvnet::net;

struct Spec {
  Mac dl_src, dl_dst;
  std::optional<uint16_t> dl_type;
  std::optional<uint16_t> vid;
  uint8_t pcp = 0;
  uint32_t nw_src = 0, nw_dst = 0;
  std::optional<uint8_t> nw_proto;
  uint8_t nw_tos = 0, nw_ttl = 64;
  uint16_t tp_src = 0, tp_dst = 0;
  uint8_t tcp_flags = 0x02;  // SYN: a trace is usually of a connection's first packet
  bool icmp_type_set = false;
  uint16_t arp_op = 1;
  Mac arp_sha, arp_tha;
  bool sha_set = false;
  uint8_t ip6_src[16] = {}, ip6_dst[16] = {};
};

std::optional<uint64_t> num(const std::string& s, uint64_t max) {
  uint64_t v = 0;
  const int base = s.rfind("0x", 0) == 0 ? 16 : 10;
  const char* b = s.data() + (base == 16 ? 2 : 0);
  auto [p, ec] = std::from_chars(b, s.data() + s.size(), v, base);
  if (ec != std::errc() || p != s.data() + s.size() || b == s.data() + s.size() || v > max) return std::nullopt;
  return v;
}

std::optional<uint32_t> ipv4(const std::string& s) {
  in_addr a;
  if (has_control(s) || inet_pton(AF_INET, s.c_str(), &a) != 1) return std::nullopt;  // NUL: not the end
  return ntohl(a.s_addr);
}

Status apply(Spec& sp, const std::string& key, const std::string& val, bool has_val) {
  auto bad = [&](const std::string& why) { return Error{"flow field '" + key + "=" + val + "': " + why}; };
  static const std::map<std::string, std::pair<uint16_t, uint8_t>> shorthands = {
      {"ip", {kEthTypeIpv4, 0}},         {"arp", {kEthTypeArp, 0}},
      {"tcp", {kEthTypeIpv4, kIpProtoTcp}}, {"udp", {kEthTypeIpv4, kIpProtoUdp}},
      {"icmp", {kEthTypeIpv4, kIpProtoIcmp}}, {"ipv6", {kEthTypeIpv6, 0}},
      {"tcp6", {kEthTypeIpv6, kIpProtoTcp}}, {"udp6", {kEthTypeIpv6, kIpProtoUdp}},
      {"icmp6", {kEthTypeIpv6, kIpProtoIcmpv6}},
  };
  if (!has_val) {
    auto it = shorthands.find(key);
    if (it == shorthands.end()) return Error{"flow field '" + key + "' needs a value (field=value)"};
    sp.dl_type = it->second.first;
    if (it->second.second) sp.nw_proto = it->second.second;
    return Ok{};
  }
  auto mac = [&](Mac& m) -> Status {
    auto v = Mac::parse(val);
    if (!v) return bad("not a MAC address");
    m = *v;
    return Ok{};
  };
  auto u = [&](auto& dst, uint64_t max) -> Status {
    auto v = num(val, max);
    if (!v) return bad("not a number in range 0-" + std::to_string(max));
    dst = static_cast<std::remove_reference_t<decltype(dst)>>(*v);
    return Ok{};
  };
  auto ip4 = [&](uint32_t& dst) -> Status {
    auto v = ipv4(val);
    if (!v) return bad("not an IPv4 address");
    dst = *v;
    return Ok{};
  };
  auto ip6 = [&](uint8_t* dst) -> Status {
    if (has_control(val) || inet_pton(AF_INET6, val.c_str(), dst) != 1) return bad("not an IPv6 address");
    return Ok{};
  };
  if (key == "dl_src") return mac(sp.dl_src);
  if (key == "dl_dst") return mac(sp.dl_dst);
  if (key == "dl_type") {
    uint16_t t = 0;
    if (auto s = u(t, 0xffff); !s) return s;
    sp.dl_type = t;
    return Ok{};
  }
  if (key == "dl_vlan") {
    uint16_t v = 0;
    if (auto s = u(v, 4095); !s) return s;
    sp.vid = v;
    return Ok{};
  }
  if (key == "dl_vlan_pcp") {
    if (auto s = u(sp.pcp, 7); !s) return s;
    if (!sp.vid) sp.vid = 0;
    return Ok{};
  }
  if (key == "vlan_tci") {
    uint16_t tci = 0;
    if (auto s = u(tci, 0xffff); !s) return s;
    if (tci) {
      sp.vid = tci & 0x0fff;
      sp.pcp = static_cast<uint8_t>(tci >> 13);
    }
    return Ok{};
  }
  if (key == "nw_src") return ip4(sp.nw_src);
  if (key == "nw_dst") return ip4(sp.nw_dst);
  if (key == "arp_spa") return ip4(sp.nw_src);
  if (key == "arp_tpa") return ip4(sp.nw_dst);
  if (key == "nw_proto") {
    uint8_t p = 0;
    if (auto s = u(p, 255); !s) return s;
    sp.nw_proto = p;
    return Ok{};
  }
  if (key == "nw_tos") return u(sp.nw_tos, 255);
  if (key == "nw_ttl") return u(sp.nw_ttl, 255);
  if (key == "tp_src" || key == "icmp_type") {
    sp.icmp_type_set = true;
    return u(sp.tp_src, key == "tp_src" ? 65535 : 255);
  }
  if (key == "tp_dst" || key == "icmp_code") return u(sp.tp_dst, key == "tp_dst" ? 65535 : 255);
  if (key == "tcp_flags") {
    // A number (0x12) or names joined by '+' or '|' (syn+ack), as tcpdump prints them.
    if (auto n = num(val, 255)) {
      sp.tcp_flags = static_cast<uint8_t>(*n);
      return Ok{};
    }
    static const std::map<std::string, uint8_t> names = {{"fin", 0x01}, {"syn", 0x02}, {"rst", 0x04}, {"psh", 0x08},
                                                          {"ack", 0x10}, {"urg", 0x20}, {"ece", 0x40}, {"cwr", 0x80}};
    uint8_t f = 0;
    size_t at = 0;
    while (at <= val.size()) {
      const size_t end = val.find_first_of("+|", at);
      const std::string name = val.substr(at, end == std::string::npos ? std::string::npos : end - at);
      auto it = names.find(name);
      if (it == names.end()) return bad("'" + name + "' is not a TCP flag (fin syn rst psh ack urg ece cwr, or a number)");
      f |= it->second;
      if (end == std::string::npos) break;
      at = end + 1;
    }
    sp.tcp_flags = f;
    return Ok{};
  }
  if (key == "arp_op") return u(sp.arp_op, 65535);
  if (key == "arp_sha") {
    sp.sha_set = true;
    return mac(sp.arp_sha);
  }
  if (key == "arp_tha") return mac(sp.arp_tha);
  if (key == "ipv6_src") return ip6(sp.ip6_src);
  if (key == "ipv6_dst") return ip6(sp.ip6_dst);
  if (key == "in_port") return Error{"give the ingress port with --in-port BRIDGE/PORT, not in_port="};
  return Error{"unknown flow field '" + key + "'"};
}

void put(std::vector<uint8_t>& v, const void* p, size_t n) {
  const auto* b = static_cast<const uint8_t*>(p);
  v.insert(v.end(), b, b + n);
}
void put16(std::vector<uint8_t>& v, uint16_t x) {
  uint8_t b[2];
  store_be16(b, x);
  put(v, b, 2);
}

// Appends a TCP/UDP/ICMP header; returns its offset.
size_t put_l4(std::vector<uint8_t>& v, const Spec& sp, uint8_t proto) {
  const size_t at = v.size();
  if (proto == kIpProtoTcp) {
    TcpHeader t{};
    t.src = Be16::from_host(sp.tp_src);
    t.dst = Be16::from_host(sp.tp_dst);
    t.data_off = 5 << 4;
    t.flags = sp.tcp_flags;
    t.window = Be16::from_host(65535);
    put(v, &t, sizeof t);
  } else if (proto == kIpProtoUdp) {
    UdpHeader h{Be16::from_host(sp.tp_src), Be16::from_host(sp.tp_dst), Be16::from_host(8), Be16{0}};
    put(v, &h, sizeof h);
  } else if (proto == kIpProtoIcmp || proto == kIpProtoIcmpv6) {
    // Echo request unless a type was given.
    IcmpHeader h{static_cast<uint8_t>(sp.icmp_type_set ? sp.tp_src : (proto == kIpProtoIcmp ? 8 : 128)),
                 static_cast<uint8_t>(sp.tp_dst), Be16{0}};
    put(v, &h, sizeof h);
    put16(v, 0x1234);  // identifier
    put16(v, 1);       // sequence
  }
  return at;
}

// Pseudo-header sum for TCP/UDP checksums.
uint32_t pseudo_sum(const uint8_t* src, const uint8_t* dst, size_t alen, uint8_t proto, size_t l4len) {
  uint32_t s = 0;
  for (size_t i = 0; i < alen; i += 2) s += load_be16(src + i) + load_be16(dst + i);
  return s + proto + static_cast<uint32_t>(l4len);
}

void fill_l4_csum(std::vector<uint8_t>& v, size_t l4, uint8_t proto, uint32_t pseudo) {
  const size_t len = v.size() - l4;
  size_t at;
  if (proto == kIpProtoTcp) at = 16;
  else if (proto == kIpProtoUdp) {
    store_be16(&v[l4 + 4], static_cast<uint16_t>(len));
    at = 6;
  } else if (proto == kIpProtoIcmp || proto == kIpProtoIcmpv6) at = 2;
  else return;
  uint16_t c = inet_checksum(&v[l4], len, proto == kIpProtoIcmp ? 0 : pseudo);
  if (proto == kIpProtoUdp && c == 0) c = 0xffff;
  store_be16(&v[l4 + at], c);
}

}  // namespace

Result<std::vector<uint8_t>> build_frame_from_flow(const std::string& text) {
  Spec sp;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    while (!item.empty() && item.front() == ' ') item.erase(item.begin());
    while (!item.empty() && item.back() == ' ') item.pop_back();
    if (item.empty()) continue;
    const auto eq = item.find('=');
    const std::string key = item.substr(0, eq);
    const std::string val = eq == std::string::npos ? "" : item.substr(eq + 1);
    if (auto s = apply(sp, key, val, eq != std::string::npos); !s) return s.error();
  }
  const uint16_t type = sp.dl_type.value_or(sp.nw_proto ? kEthTypeIpv4 : 0x0800);
  std::vector<uint8_t> v;
  put(v, sp.dl_dst.b.data(), 6);
  put(v, sp.dl_src.b.data(), 6);
  if (sp.vid) {
    put16(v, kEthTypeVlan);
    put16(v, static_cast<uint16_t>((sp.pcp << 13) | *sp.vid));
  }
  put16(v, type);
  const size_t l3 = v.size();
  if (type == kEthTypeArp) {
    ArpHeader a{};
    a.htype = Be16::from_host(1);
    a.ptype = Be16::from_host(kEthTypeIpv4);
    a.hlen = 6;
    a.plen = 4;
    a.op = Be16::from_host(sp.arp_op);
    std::memcpy(a.sha, (sp.sha_set ? sp.arp_sha : sp.dl_src).b.data(), 6);
    std::memcpy(a.tha, sp.arp_tha.b.data(), 6);
    a.spa = Be32::from_host(sp.nw_src);
    a.tpa = Be32::from_host(sp.nw_dst);
    put(v, &a, sizeof a);
  } else if (type == kEthTypeIpv4) {
    const uint8_t proto = sp.nw_proto.value_or(0);
    Ipv4Header ip{};
    ip.ver_ihl = 0x45;
    ip.tos = sp.nw_tos;
    ip.ttl = sp.nw_ttl;
    ip.proto = proto;
    ip.src = Be32::from_host(sp.nw_src);
    ip.dst = Be32::from_host(sp.nw_dst);
    put(v, &ip, sizeof ip);
    const size_t l4 = put_l4(v, sp, proto);
    const size_t total = v.size() - l3;
    store_be16(&v[l3 + 2], static_cast<uint16_t>(total));
    store_be16(&v[l3 + 10], inet_checksum(&v[l3], sizeof(Ipv4Header)));
    fill_l4_csum(v, l4, proto, pseudo_sum(&v[l3 + 12], &v[l3 + 16], 4, proto, v.size() - l4));
  } else if (type == kEthTypeIpv6) {
    const uint8_t proto = sp.nw_proto.value_or(59);  // 59: no next header
    Ipv6Header ip{};
    ip.ver_tc_flow = Be32::from_host((6u << 28) | (uint32_t{sp.nw_tos} << 20));
    ip.next_header = proto;
    ip.hop_limit = sp.nw_ttl;
    std::memcpy(ip.src, sp.ip6_src, 16);
    std::memcpy(ip.dst, sp.ip6_dst, 16);
    put(v, &ip, sizeof ip);
    const size_t l4 = put_l4(v, sp, proto);
    store_be16(&v[l3 + 4], static_cast<uint16_t>(v.size() - l4));
    fill_l4_csum(v, l4, proto, pseudo_sum(sp.ip6_src, sp.ip6_dst, 16, proto, v.size() - l4));
  }
  if (v.size() < 60) v.resize(60, 0);
  return v;
}

}  // namespace kvnet::ctl
