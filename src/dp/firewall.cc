#include "dp/firewall.h"

#include <arpa/inet.h>

#include <cstring>

namespace kvnet::dp {
namespace {

constexpr uint16_t kEthIpv4 = 0x0800, kEthIpv6 = 0x86dd, kEthArp = 0x0806;
constexpr uint8_t kTcp = 6, kUdp = 17, kIcmp = 1, kIcmpv6 = 58;

void v4_bytes(uint32_t host_order, uint8_t out[16]) {
  std::memset(out, 0, 16);
  out[0] = static_cast<uint8_t>(host_order >> 24);
  out[1] = static_cast<uint8_t>(host_order >> 16);
  out[2] = static_cast<uint8_t>(host_order >> 8);
  out[3] = static_cast<uint8_t>(host_order);
}

bool any_contains(const std::vector<IpPrefix>& ps, bool v6, const uint8_t* a) {
  for (const auto& p : ps)
    if (p.contains(v6, a)) return true;
  return false;
}

// May the endpoint use `addr` (with its MAC `mac`) as a source?
bool source_allowed(const FwPolicy& p, uint64_t mac, bool v6, const uint8_t* addr) {
  for (const auto& s : p.sources)
    if (s.mac == mac && s.prefix.contains(v6, addr)) return true;
  return false;
}

bool mac_allowed(const FwPolicy& p, uint64_t mac) {
  for (const auto& s : p.sources)
    if (s.mac == mac) return true;
  return false;
}

}  // namespace

bool IpPrefix::contains(bool a_v6, const uint8_t* a) const {
  if (a_v6 != v6) return false;
  const int full = len / 8, rest = len % 8;
  if (std::memcmp(addr, a, static_cast<size_t>(full)) != 0) return false;
  if (rest == 0) return true;
  const uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (addr[full] & mask) == (a[full] & mask);
}

std::string IpPrefix::str() const {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(v6 ? AF_INET6 : AF_INET, addr, buf, sizeof buf);
  return std::string(buf) + "/" + std::to_string(len);
}

bool IpPrefix::parse(const std::string& text, IpPrefix& out) {
  const auto slash = text.find('/');
  const std::string a = text.substr(0, slash);
  IpPrefix p;
  if (inet_pton(AF_INET, a.c_str(), p.addr) == 1) p.v6 = false;
  else if (inet_pton(AF_INET6, a.c_str(), p.addr) == 1) p.v6 = true;
  else return false;
  const int max = p.v6 ? 128 : 32;
  int len = max;
  if (slash != std::string::npos) {
    const std::string l = text.substr(slash + 1);
    if (l.empty() || l.size() > 3 || l.find_first_not_of("0123456789") != std::string::npos) return false;
    len = std::stoi(l);
    if (len > max) return false;
  }
  p.len = static_cast<uint8_t>(len);
  out = p;
  return true;
}

bool fw_addresses(const net::FlowKey& k, bool& v6, uint8_t src[16], uint8_t dst[16]) {
  if (k.dl_type == kEthIpv4) {
    v6 = false;
    v4_bytes(k.nw_src, src);
    v4_bytes(k.nw_dst, dst);
    return true;
  }
  if (k.dl_type == kEthIpv6) {
    v6 = true;
    std::memcpy(src, k.ipv6_src, 16);
    std::memcpy(dst, k.ipv6_dst, 16);
    return true;
  }
  return false;
}

const FwRule* fw_match(const FwPolicy& p, const net::FlowKey& k, bool ingress) {
  bool v6 = false;
  uint8_t src[16], dst[16];
  if (!fw_addresses(k, v6, src, dst)) return nullptr;
  const uint8_t* remote = ingress ? src : dst;
  const bool has_l4 = k.l4_ofs != 0 && !(k.flags & (net::kFlowL4Truncated | net::kFlowFragment));
  for (const auto& r : p.rules) {
    if (r.ingress != ingress || r.v6 != v6) continue;
    if (r.proto != kFwAny && r.proto != k.nw_proto) continue;
    if (r.port_min != 0) {
      if (!has_l4 || (k.nw_proto != kTcp && k.nw_proto != kUdp)) continue;
      if (k.tp_dst < r.port_min || k.tp_dst > r.port_max) continue;
    }
    if (r.icmp_type != kFwAny) {
      if (!has_l4 || (k.nw_proto != kIcmp && k.nw_proto != kIcmpv6)) continue;
      if (k.tp_src != static_cast<uint16_t>(r.icmp_type)) continue;
      if (r.icmp_code != kFwAny && k.tp_dst != static_cast<uint16_t>(r.icmp_code)) continue;
    }
    if (!r.any_remote && !any_contains(r.remotes, v6, remote)) continue;
    return &r;
  }
  return nullptr;
}

bool ipv6_upper(const net::FlowKey& k, std::span<const uint8_t> f, Ipv6Upper& out) {
  return k.dl_type == kEthIpv6 && net::ipv6_upper(f.data(), f.size(), k.l3_ofs, out);
}

IpPrefix eui64_link_local(uint64_t mac) {
  IpPrefix p;
  p.v6 = true;
  p.len = 128;
  p.addr[0] = 0xfe;
  p.addr[1] = 0x80;
  const auto b = [&](int i) { return static_cast<uint8_t>(mac >> (8 * (5 - i))); };  // wire byte i
  p.addr[8] = b(0) ^ 0x02;  // the universal/local bit inverted
  p.addr[9] = b(1);
  p.addr[10] = b(2);
  p.addr[11] = 0xff;
  p.addr[12] = 0xfe;
  p.addr[13] = b(3);
  p.addr[14] = b(4);
  p.addr[15] = b(5);
  return p;
}

const char* to_string(SourceVerdict v) {
  switch (v) {
    case SourceVerdict::kOk: return "ok";
    case SourceVerdict::kBadMac: return "spoofed_mac";
    case SourceVerdict::kBadIp: return "spoofed_ip";
    case SourceVerdict::kBadArp: return "spoofed_arp";
    case SourceVerdict::kDhcpServer: return "dhcp_server";
    case SourceVerdict::kRouterAdvert: return "router_advert";
    case SourceVerdict::kBadEtherType: return "ethertype";
    case SourceVerdict::kBadIpv6Headers: return "ipv6_headers";
  }
  return "?";
}

namespace {

// The IPv6 part of check_source: the upper layer behind the extension
// headers decides (an RA behind a destination options header is an RA).
SourceVerdict check_ipv6_source(const FwPolicy& p, const net::FlowKey& k, std::span<const uint8_t> frame,
                                uint64_t mac) {
  Ipv6Upper up;
  if (!ipv6_upper(k, frame, up)) return SourceVerdict::kBadIpv6Headers;
  const size_t end = frame.size();
  if (!up.later_fragment) {
    // Type (ICMPv6) or source port (UDP): the first bytes of the upper-layer header.
    if (up.proto == kIcmpv6 && size_t{up.ofs} + 1 <= end && frame[up.ofs] == 134) return SourceVerdict::kRouterAdvert;
    if (up.proto == kUdp && size_t{up.ofs} + 2 <= end && (frame[up.ofs] << 8 | frame[up.ofs + 1]) == 547)
      return SourceVerdict::kDhcpServer;
    if (up.proto == kIcmpv6 && size_t{up.ofs} + 1 <= end && frame[up.ofs] == 136) {
      // A neighbour advertisement binds its target address to the sender's
      // MAC, as an ARP reply does: only for the port's own addresses (its
      // link-local one included). The target follows type, code, checksum
      // and flags.
      constexpr size_t kTargetOfs = 8;
      if (end < size_t{up.ofs} + kTargetOfs + 16) return SourceVerdict::kBadArp;
      if (!source_allowed(p, mac, true, frame.data() + up.ofs + kTargetOfs)) return SourceVerdict::kBadArp;
    }
  }
  static const uint8_t kUnspecified[16] = {};
  if (std::memcmp(k.ipv6_src, kUnspecified, 16) == 0) return SourceVerdict::kOk;  // DAD, DHCPv6 solicit
  // Link-local sources too: only the port's own (its MAC's EUI-64 address,
  // or one listed in allowed_addresses; ctl/firewall_build adds them).
  return source_allowed(p, mac, true, k.ipv6_src) ? SourceVerdict::kOk : SourceVerdict::kBadIp;
}

}  // namespace

SourceVerdict check_source(const FwPolicy& p, const net::FlowKey& k, std::span<const uint8_t> frame) {
  if (!p.port_security) return SourceVerdict::kOk;
  const uint64_t mac = k.dl_src.u64();
  if (!mac_allowed(p, mac)) return SourceVerdict::kBadMac;
  const bool l4 = k.l4_ofs != 0 && !(k.flags & (net::kFlowL4Truncated | net::kFlowFragment));
  if (k.dl_type == kEthArp) {
    if (k.arp_sha.u64() != mac) return SourceVerdict::kBadArp;
    if (k.nw_src == 0) return SourceVerdict::kOk;  // a probe (RFC 5227) claims nothing
    uint8_t spa[16];
    v4_bytes(k.nw_src, spa);
    return source_allowed(p, mac, false, spa) ? SourceVerdict::kOk : SourceVerdict::kBadArp;
  }
  if (k.dl_type == kEthIpv4) {
    if (k.flags & net::kFlowL3Truncated) return SourceVerdict::kBadIp;  // no source address to check
    if (l4 && k.nw_proto == kUdp && k.tp_src == 67) return SourceVerdict::kDhcpServer;
    if (k.nw_src == 0 && l4 && k.nw_proto == kUdp && k.tp_src == 68 && k.tp_dst == 67)
      return SourceVerdict::kOk;  // a DHCP client before it has an address
    uint8_t a[16];
    v4_bytes(k.nw_src, a);
    return source_allowed(p, mac, false, a) ? SourceVerdict::kOk : SourceVerdict::kBadIp;
  }
  if (k.dl_type == kEthIpv6) return check_ipv6_source(p, k, frame, mac);
  // Neutron's allow-list: a port-secured endpoint speaks IPv4, ARP and IPv6
  // only (no LLDP, no STP, no 802.1ad tag, no IPX ... on the MAC alone).
  return SourceVerdict::kBadEtherType;
}

}  // namespace kvnet::dp
