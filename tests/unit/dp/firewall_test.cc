// Rule matching and port security of a compiled firewall policy.
#include "dp/firewall.h"

#include <gtest/gtest.h>

#include <cstring>

namespace kvnet::dp {
namespace {

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
  p.sources = {{0x525400000001, pfx("10.0.0.1")}, {0x525400000001, pfx("fd00::1")}, {0x0200000000aa, pfx("10.0.9.0/24")}};
  return p;
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
  EXPECT_EQ(check_source(p, ipv6("fd00::1", "fd00::2", 6, 1, 2)), SourceVerdict::kOk);
  EXPECT_EQ(check_source(p, ipv6("fd00::5", "fd00::2", 6, 1, 2)), SourceVerdict::kBadIp);
  EXPECT_EQ(check_source(p, ipv6("fe80::5054:ff:fe00:1", "ff02::1", 58, 135, 0)), SourceVerdict::kOk);
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
  EXPECT_EQ(check_source(p, ipv6("fe80::1", "ff02::1", 58, 134, 0)), SourceVerdict::kRouterAdvert);
  EXPECT_EQ(check_source(p, ipv6("fd00::1", "ff02::1:2", 17, 547, 546)), SourceVerdict::kDhcpServer);
}

// Found by tests/integration/firewall_test.sh: a port-secured container could
// advertise another's IPv6 address (a neighbour advertisement, IPv6's ARP
// reply) and take its traffic. The target is read from the frame.
TEST(CheckSource, NeighbourAdvertisementsOnlyForOwnAddresses) {
  const FwPolicy p = secured();
  auto na = [](const char* target) {
    std::vector<uint8_t> f(54 + 24 + 8, 0);  // Ethernet, IPv6, NA, target link-layer option
    f[54] = 136;
    f[58] = 0x20;  // override
    std::memcpy(f.data() + 62, pfx(target).addr, 16);
    return f;
  };
  const net::FlowKey k = ipv6("fe80::5054:ff:fe00:1", "ff02::1", 58, 136, 0);
  EXPECT_EQ(check_source(p, k, na("fd00::1")), SourceVerdict::kOk);
  EXPECT_EQ(check_source(p, k, na("fe80::5054:ff:fe00:1")), SourceVerdict::kOk);
  EXPECT_EQ(check_source(p, k, na("fd00::2")), SourceVerdict::kBadArp) << "someone else's address";
  auto cut = na("fd00::1");
  cut.resize(70);
  EXPECT_EQ(check_source(p, k, cut), SourceVerdict::kBadArp) << "no whole target: refused";
  EXPECT_EQ(check_source(p, k), SourceVerdict::kBadArp) << "no frame to read the target from";
  net::FlowKey ns = k;  // a solicitation names whom it looks for, not itself
  ns.tp_src = 135;
  EXPECT_EQ(check_source(p, ns, na("fd00::2")), SourceVerdict::kOk);
  FwPolicy open;
  EXPECT_EQ(check_source(open, k, na("fd00::2")), SourceVerdict::kOk);
}

}  // namespace
}  // namespace kvnet::dp
