// Rule matching and port security of a compiled firewall policy.
#include "dp/firewall.h"

#include <gtest/gtest.h>

#include <cstring>

#include "net/flow_key.h"
#include "packets.h"

namespace kvnet::dp {
namespace {

using testing::Bytes;

IpPrefix pfx(const std::string& s) {
  IpPrefix p;
  EXPECT_TRUE(IpPrefix::parse(s, p)) << s;
  return p;
}

net::FlowKey ipv4(const char* src, const char* dst, uint8_t proto, uint16_t sport, uint16_t dport) {
  net::FlowKey k;
  k.dl_type = 0x0800;
  k.dl_src = net::Mac::from_u64(0x525400000001);
  IpPrefix s = pfx(src), d = pfx(dst);
  k.nw_src = (uint32_t{s.addr[0]} << 24) | (uint32_t{s.addr[1]} << 16) | (uint32_t{s.addr[2]} << 8) | s.addr[3];
  k.nw_dst = (uint32_t{d.addr[0]} << 24) | (uint32_t{d.addr[1]} << 16) | (uint32_t{d.addr[2]} << 8) | d.addr[3];
  k.nw_proto = proto;
  k.l3_ofs = 14;
  k.l4_ofs = 34;
  k.tp_src = sport;
  k.tp_dst = dport;
  return k;
}

net::FlowKey ipv6(const char* src, const char* dst, uint8_t proto, uint16_t sport, uint16_t dport) {
  net::FlowKey k;
  k.dl_type = 0x86dd;
  k.dl_src = net::Mac::from_u64(0x525400000001);
  std::memcpy(k.ipv6_src, pfx(src).addr, 16);
  std::memcpy(k.ipv6_dst, pfx(dst).addr, 16);
  k.nw_proto = proto;
  k.l3_ofs = 14;
  k.l4_ofs = 54;
  k.tp_src = sport;
  k.tp_dst = dport;
  return k;
}

FwRule rule(uint32_t id, bool ingress) {
  FwRule r;
  r.id = id;
  r.ingress = ingress;
  return r;
}

TEST(IpPrefix, ParseAndContain) {
  IpPrefix p = pfx("10.0.0.0/24");
  uint8_t a[16] = {10, 0, 0, 77};
  EXPECT_TRUE(p.contains(false, a));
  a[2] = 1;
  EXPECT_FALSE(p.contains(false, a));
  EXPECT_FALSE(p.contains(true, a));  // another family never matches
  EXPECT_EQ(pfx("10.0.0.5").str(), "10.0.0.5/32");
  EXPECT_EQ(pfx("fd00::/8").str(), "fd00::/8");
  EXPECT_TRUE(pfx("0.0.0.0/0").contains(false, a));
  IpPrefix odd = pfx("10.0.0.128/25");
  uint8_t b[16] = {10, 0, 0, 200};
  EXPECT_TRUE(odd.contains(false, b));
  b[3] = 100;
  EXPECT_FALSE(odd.contains(false, b));
  IpPrefix bad;
  EXPECT_FALSE(IpPrefix::parse("10.0.0.0/33", bad));
  EXPECT_FALSE(IpPrefix::parse("10.0.0.0/", bad));
  EXPECT_FALSE(IpPrefix::parse("nonsense", bad));
  EXPECT_FALSE(IpPrefix::parse("fd00::/129", bad));
}

TEST(FwMatch, PortRangeProtocolAndDirection) {
  FwPolicy p;
  FwRule web = rule(3, true);
  web.proto = 6;
  web.port_min = 80;
  web.port_max = 80;
  FwRule range = rule(4, true);
  range.proto = 6;
  range.port_min = 8000;
  range.port_max = 8010;
  p.rules = {web, range};
  EXPECT_EQ(fw_match(p, ipv4("10.0.0.2", "10.0.0.1", 6, 40000, 80), true)->id, 3u);
  EXPECT_EQ(fw_match(p, ipv4("10.0.0.2", "10.0.0.1", 6, 40000, 8010), true)->id, 4u);
  EXPECT_EQ(fw_match(p, ipv4("10.0.0.2", "10.0.0.1", 6, 40000, 8011), true), nullptr);
  EXPECT_EQ(fw_match(p, ipv4("10.0.0.2", "10.0.0.1", 17, 40000, 80), true), nullptr);  // UDP
  EXPECT_EQ(fw_match(p, ipv4("10.0.0.2", "10.0.0.1", 6, 40000, 80), false), nullptr);  // egress
  EXPECT_EQ(fw_match(p, ipv6("fd00::2", "fd00::1", 6, 40000, 80), true), nullptr);    // ethertype
  net::FlowKey frag = ipv4("10.0.0.2", "10.0.0.1", 6, 40000, 80);
  frag.flags = net::kFlowFragment;
  EXPECT_EQ(fw_match(p, frag, true), nullptr);  // no ports: a port rule cannot match
}

TEST(FwMatch, RemotesAreTheSourceIngressAndTheDestinationEgress) {
  FwPolicy p;
  FwRule in = rule(1, true);
  in.any_remote = false;
  in.remotes = {pfx("10.0.0.0/24")};
  FwRule out = rule(2, false);
  out.any_remote = false;
  out.remotes = {pfx("192.168.1.1")};
  p.rules = {in, out};
  EXPECT_NE(fw_match(p, ipv4("10.0.0.9", "172.16.0.1", 1, 8, 0), true), nullptr);
  EXPECT_EQ(fw_match(p, ipv4("10.0.1.9", "10.0.0.1", 1, 8, 0), true), nullptr);
  EXPECT_NE(fw_match(p, ipv4("10.9.9.9", "192.168.1.1", 17, 5000, 53), false), nullptr);
  EXPECT_EQ(fw_match(p, ipv4("192.168.1.1", "10.9.9.9", 17, 5000, 53), false), nullptr);
  FwRule empty_group = rule(3, true);  // a remote_group without members matches nothing
  empty_group.any_remote = false;
  p.rules = {empty_group};
  EXPECT_EQ(fw_match(p, ipv4("10.0.0.9", "10.0.0.1", 1, 8, 0), true), nullptr);
}

TEST(FwMatch, IcmpTypeAndCode) {
  FwPolicy p;
  FwRule echo = rule(1, true);
  echo.proto = 1;
  echo.icmp_type = 8;
  FwRule unreach = rule(2, true);
  unreach.proto = 1;
  unreach.icmp_type = 3;
  unreach.icmp_code = 4;
  FwRule v6echo = rule(3, true);
  v6echo.v6 = true;
  v6echo.proto = 58;
  v6echo.icmp_type = 128;
  p.rules = {echo, unreach, v6echo};
  EXPECT_EQ(fw_match(p, ipv4("10.0.0.2", "10.0.0.1", 1, 8, 0), true)->id, 1u);
  EXPECT_EQ(fw_match(p, ipv4("10.0.0.2", "10.0.0.1", 1, 0, 0), true), nullptr);
  EXPECT_EQ(fw_match(p, ipv4("10.0.0.2", "10.0.0.1", 1, 3, 4), true)->id, 2u);
  EXPECT_EQ(fw_match(p, ipv4("10.0.0.2", "10.0.0.1", 1, 3, 3), true), nullptr);
  EXPECT_EQ(fw_match(p, ipv6("fd00::2", "fd00::1", 58, 128, 0), true)->id, 3u);
  EXPECT_EQ(fw_match(p, ipv6("fd00::2", "fd00::1", 58, 129, 0), true), nullptr);
}

TEST(FwMatch, NotIpMatchesNothingAndNoRulesDenyAll) {
  FwPolicy p;
  p.rules = {rule(1, true)};
  net::FlowKey arp;
  arp.dl_type = 0x0806;
  EXPECT_EQ(fw_match(p, arp, true), nullptr);
  p.rules.clear();
  EXPECT_EQ(fw_match(p, ipv4("10.0.0.2", "10.0.0.1", 6, 1, 2), true), nullptr);
}

FwPolicy secured() {
  FwPolicy p;
  p.port_security = true;
  p.sources = {{0x525400000001, pfx("10.0.0.1")},
               {0x525400000001, pfx("fd00::1")},
               {0x0200000000aa, pfx("10.0.9.0/24")},
               {0x525400000001, eui64_link_local(0x525400000001)}};  // as ctl/firewall_build adds it
  return p;
}

// An IPv6 frame from 52:54:00:00:00:01: `next` is the first next header,
// `payload` everything after the fixed header (extension headers and the
// upper layer); its key parsed from it.
struct Frame6 {
  Bytes bytes;
  net::FlowKey key;
};
Frame6 frame6(const char* src, const char* dst, uint8_t next, const Bytes& payload) {
  Frame6 f;
  f.bytes = testing::pkt::v6(next, pfx(src).addr, pfx(dst).addr, payload);
  net::parse_flow(f.bytes.data(), f.bytes.size(), f.key);
  return f;
}
SourceVerdict check6(const FwPolicy& p, const char* src, const char* dst, uint8_t next, const Bytes& payload) {
  const Frame6 f = frame6(src, dst, next, payload);
  return check_source(p, f.key, f.bytes);
}
// An extension header of 8 bytes (hop-by-hop, routing, destination options:
// length 0) in front of `rest`, whose protocol is `next`.
Bytes ext(uint8_t next, const Bytes& rest, uint8_t hdr_len = 0) {
  Bytes b{next, hdr_len, 1, 4, 0, 0, 0, 0};  // a PadN option filling the header
  b.resize((size_t{hdr_len} + 1) * 8, 0);
  testing::pkt::append(b, rest);
  return b;
}

TEST(CheckSource, OwnMacAndAddressesOnly) {
  const FwPolicy p = secured();
  EXPECT_EQ(check_source(p, ipv4("10.0.0.1", "10.0.0.2", 6, 1, 2)), SourceVerdict::kOk);
  EXPECT_EQ(check_source(p, ipv4("10.0.0.3", "10.0.0.2", 6, 1, 2)), SourceVerdict::kBadIp);
  net::FlowKey other_mac = ipv4("10.0.0.1", "10.0.0.2", 6, 1, 2);
  other_mac.dl_src = net::Mac::from_u64(0x525400000099);
  EXPECT_EQ(check_source(p, other_mac), SourceVerdict::kBadMac);
  net::FlowKey pair = ipv4("10.0.9.7", "10.0.0.2", 6, 1, 2);  // an allowed MAC:CIDR pair
  pair.dl_src = net::Mac::from_u64(0x0200000000aa);
  EXPECT_EQ(check_source(p, pair), SourceVerdict::kOk);
  pair.nw_src = (10u << 24) | 1;  // 10.0.0.1 is the other MAC's
  EXPECT_EQ(check_source(p, pair), SourceVerdict::kBadIp);
  EXPECT_EQ(check6(p, "fd00::1", "fd00::2", 6, testing::pkt::tcp(1, 2, 0x02)), SourceVerdict::kOk);
  EXPECT_EQ(check6(p, "fd00::5", "fd00::2", 6, testing::pkt::tcp(1, 2, 0x02)), SourceVerdict::kBadIp);
  EXPECT_EQ(check6(p, "fe80::5054:ff:fe00:1", "ff02::1", 58, testing::pkt::icmp(135, 0, 0, 0)), SourceVerdict::kOk);
  EXPECT_EQ(check_source(p, ipv6("fd00::1", "fd00::2", 6, 1, 2)), SourceVerdict::kBadIpv6Headers)
      << "an IPv6 frame is judged by its bytes: without them nothing passes";
  FwPolicy open;
  EXPECT_EQ(check_source(open, ipv4("1.2.3.4", "10.0.0.2", 6, 1, 2)), SourceVerdict::kOk);
}

TEST(CheckSource, ArpOnlyForOwnAddressesDhcpAndRa) {
  const FwPolicy p = secured();
  net::FlowKey arp;
  arp.dl_type = 0x0806;
  arp.dl_src = arp.arp_sha = net::Mac::from_u64(0x525400000001);
  arp.nw_src = (10u << 24) | 1;
  EXPECT_EQ(check_source(p, arp), SourceVerdict::kOk);
  arp.nw_src = (10u << 24) | 2;  // answering for someone else's address
  EXPECT_EQ(check_source(p, arp), SourceVerdict::kBadArp);
  arp.nw_src = 0;  // a probe
  EXPECT_EQ(check_source(p, arp), SourceVerdict::kOk);
  arp.nw_src = (10u << 24) | 1;
  arp.arp_sha = net::Mac::from_u64(0x525400000002);  // another MAC inside the ARP
  EXPECT_EQ(check_source(p, arp), SourceVerdict::kBadArp);
  EXPECT_EQ(check_source(p, ipv4("10.0.0.1", "10.0.0.255", 17, 67, 68)), SourceVerdict::kDhcpServer);
  EXPECT_EQ(check_source(p, ipv4("0.0.0.0", "255.255.255.255", 17, 68, 67)), SourceVerdict::kOk);
  EXPECT_EQ(check_source(p, ipv4("0.0.0.0", "255.255.255.255", 17, 5000, 67)), SourceVerdict::kBadIp);
  EXPECT_EQ(check6(p, "fe80::5054:ff:fe00:1", "ff02::1", 58, testing::pkt::icmp(134, 0, 0, 0)),
            SourceVerdict::kRouterAdvert);
  EXPECT_EQ(check6(p, "fd00::1", "ff02::1:2", 17, testing::pkt::udp(547, 546)), SourceVerdict::kDhcpServer);
}

// Found by tests/integration/firewall_test.sh: a port-secured container could
// advertise another's IPv6 address (a neighbour advertisement, IPv6's ARP
// reply) and take its traffic. The target is read from the frame.
TEST(CheckSource, NeighbourAdvertisementsOnlyForOwnAddresses) {
  const FwPolicy p = secured();
  const char* ll = "fe80::5054:ff:fe00:1";
  auto na = [&](const char* target, uint8_t type = 136) {
    Bytes m = testing::pkt::icmp(type, 0, 0x2000, 0);  // override
    const auto t = pfx(target);  // one object: begin and end of the same address
    m.insert(m.end(), t.addr, t.addr + 16);
    m.insert(m.end(), {2, 1, 0x52, 0x54, 0, 0, 0, 1});  // target link-layer address option
    return frame6(ll, "ff02::1", 58, m);
  };
  auto check = [&](const FwPolicy& pol, const Frame6& f) { return check_source(pol, f.key, f.bytes); };
  EXPECT_EQ(check(p, na("fd00::1")), SourceVerdict::kOk);
  EXPECT_EQ(check(p, na(ll)), SourceVerdict::kOk) << "its own link-local address";
  EXPECT_EQ(check(p, na("fd00::2")), SourceVerdict::kBadArp) << "someone else's address";
  EXPECT_EQ(check(p, na("fe80::1")), SourceVerdict::kBadArp) << "a link-local address that is not its own";
  Frame6 cut = na("fd00::1");
  cut.bytes.resize(70);
  EXPECT_EQ(check(p, cut), SourceVerdict::kBadArp) << "no whole target: refused";
  EXPECT_EQ(check_source(p, cut.key), SourceVerdict::kBadIpv6Headers) << "no frame to read it from";
  EXPECT_EQ(check(p, na("fd00::2", 135)), SourceVerdict::kOk) << "a solicitation names whom it looks for, not itself";
  FwPolicy open;
  EXPECT_EQ(check(open, na("fd00::2")), SourceVerdict::kOk);
}

TEST(CheckSource, LinkLocalOnlyTheMacsOwn) {
  const FwPolicy p = secured();
  const Bytes echo = testing::pkt::icmp(128, 0, 1, 1);
  EXPECT_EQ(eui64_link_local(0x525400000001).str(), "fe80::5054:ff:fe00:1/128");
  EXPECT_EQ(eui64_link_local(0x020000000001).str(), "fe80::ff:fe00:1/128") << "the U/L bit inverted";
  EXPECT_EQ(check6(p, "fe80::5054:ff:fe00:1", "fe80::1", 58, echo), SourceVerdict::kOk);
  EXPECT_EQ(check6(p, "fe80::1", "fe80::2", 58, echo), SourceVerdict::kBadIp) << "any fe80:: no longer passes";
  EXPECT_EQ(check6(p, "fe80::5054:ff:fe00:2", "fe80::1", 58, echo), SourceVerdict::kBadIp) << "another MAC's";
  EXPECT_EQ(check6(p, "::", "ff02::1:ff00:1", 58, testing::pkt::icmp(135, 0, 0, 0)), SourceVerdict::kOk)
      << "duplicate address detection";
  FwPolicy listed = p;  // a stable-privacy address, listed in allowed_addresses
  listed.sources.push_back({0x525400000001, pfx("fe80::1234")});
  EXPECT_EQ(check6(listed, "fe80::1234", "fe80::2", 58, echo), SourceVerdict::kOk);
}

// Found by a probe: RAs, NAs and DHCPv6 server messages behind extension
// headers passed (the flow key names the first header, not the upper layer).
TEST(CheckSource, ExtensionHeadersAreWalked) {
  using testing::pkt::icmp;
  using testing::pkt::udp;
  const FwPolicy p = secured();
  const char* ll = "fe80::5054:ff:fe00:1";
  const Bytes ra = icmp(134, 0, 0, 0, Bytes(8, 0));
  EXPECT_EQ(check6(p, ll, "ff02::1", 60, ext(58, ra)), SourceVerdict::kRouterAdvert) << "behind destination options";
  EXPECT_EQ(check6(p, ll, "ff02::1", 0, ext(43, ext(60, ext(58, ra)))), SourceVerdict::kRouterAdvert)
      << "behind hop-by-hop, routing and destination options";
  EXPECT_EQ(check6(p, ll, "ff02::1", 60, ext(58, ra, 2)), SourceVerdict::kRouterAdvert) << "a 24-byte header";
  Bytes ah{58, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1};  // AH: (1 + 2) * 4 = 12 bytes
  testing::pkt::append(ah, ra);
  EXPECT_EQ(check6(p, ll, "ff02::1", 51, ah), SourceVerdict::kRouterAdvert) << "behind an authentication header";
  EXPECT_EQ(check6(p, "fd00::1", "ff02::1:2", 60, ext(17, udp(547, 546))), SourceVerdict::kDhcpServer);
  Bytes na = icmp(136, 0, 0x2000, 0);
  const Bytes other = [] {
    Bytes t(16, 0);
    std::memcpy(t.data(), pfx("fd00::2").addr, 16);
    return t;
  }();
  testing::pkt::append(na, other);
  EXPECT_EQ(check6(p, ll, "ff02::1", 0, ext(58, na)), SourceVerdict::kBadArp) << "an NA for another's address";
  Bytes first_frag{58, 0, 0x00, 0x01, 0, 0, 0, 7};  // offset 0, more fragments
  testing::pkt::append(first_frag, ra);
  EXPECT_EQ(check6(p, ll, "ff02::1", 44, first_frag), SourceVerdict::kRouterAdvert) << "a first fragment";
  Bytes later_frag{58, 0, 0x00, 0x08, 0, 0, 0, 7};  // offset 8 bytes: no ICMPv6 header in it
  testing::pkt::append(later_frag, Bytes{134, 0, 0, 0});
  EXPECT_EQ(check6(p, ll, "ff02::1", 44, later_frag), SourceVerdict::kOk) << "a later fragment: the address decides";
  EXPECT_EQ(check6(p, "fd00::9", "ff02::1", 44, later_frag), SourceVerdict::kBadIp);
  EXPECT_EQ(check6(p, ll, "ff02::1", 60, ext(58, icmp(128, 0, 1, 1))), SourceVerdict::kOk) << "an echo request";

  Bytes chain = ra;  // kMaxIpv6ExtHeaders headers pass, one more does not
  for (int i = 0; i < kMaxIpv6ExtHeaders; ++i) chain = ext(i == 0 ? 58 : 60, chain);
  const Bytes too_long = ext(60, chain);
  EXPECT_EQ(check6(p, ll, "ff02::1", 60, chain), SourceVerdict::kRouterAdvert);
  EXPECT_EQ(check6(p, ll, "ff02::1", 60, too_long), SourceVerdict::kBadIpv6Headers);
  Frame6 cut = frame6(ll, "ff02::1", 60, ext(58, ra, 4));  // a 40-byte header the frame does not hold
  cut.bytes.resize(54 + 20);
  EXPECT_EQ(check_source(p, cut.key, cut.bytes), SourceVerdict::kBadIpv6Headers);
  Frame6 lying = frame6(ll, "ff02::1", 60, ext(58, ra));  // payload length says the chain ends early
  lying.bytes[18] = 0;
  lying.bytes[19] = 4;
  EXPECT_EQ(check_source(p, lying.key, lying.bytes), SourceVerdict::kBadIpv6Headers);
}

TEST(CheckSource, OnlyIpArpAndIpv6EtherTypes) {
  const FwPolicy p = secured();
  net::FlowKey k;
  k.dl_src = net::Mac::from_u64(0x525400000001);
  for (uint16_t t : {0x88cc /* LLDP */, 0x88a8 /* an 802.1ad tag */, 0x8137 /* IPX */, 0x8863 /* PPPoE */, 0x0026}) {
    k.dl_type = t;
    EXPECT_EQ(check_source(p, k), SourceVerdict::kBadEtherType) << std::hex << t;
  }
  FwPolicy open;
  EXPECT_EQ(check_source(open, k), SourceVerdict::kOk) << "without port security anything goes";
  EXPECT_STREQ(to_string(SourceVerdict::kBadEtherType), "ethertype");
}

TEST(Ipv6Upper, FindsTheUpperLayer) {
  const Frame6 plain = frame6("fd00::1", "fd00::2", 6, testing::pkt::tcp(1, 2, 0x02));
  Ipv6Upper up;
  ASSERT_TRUE(ipv6_upper(plain.key, plain.bytes, up));
  EXPECT_EQ(up.proto, 6);
  EXPECT_EQ(up.ofs, 54);
  EXPECT_FALSE(up.later_fragment);
  const Frame6 two = frame6("fd00::1", "fd00::2", 0, ext(60, ext(17, testing::pkt::udp(1, 2)), 1));
  ASSERT_TRUE(ipv6_upper(two.key, two.bytes, up));
  EXPECT_EQ(up.proto, 17);
  EXPECT_EQ(up.ofs, 54 + 16 + 8);
  const Frame6 none = frame6("fd00::1", "fd00::2", 60, ext(59, {}));
  ASSERT_TRUE(ipv6_upper(none.key, none.bytes, up));
  EXPECT_EQ(up.proto, 59) << "no next header";
  net::FlowKey v4 = ipv4("10.0.0.1", "10.0.0.2", 6, 1, 2);
  EXPECT_FALSE(ipv6_upper(v4, plain.bytes, up));
}

}  // namespace
}  // namespace kvnet::dp
