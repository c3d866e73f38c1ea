// build_frame_from_flow: every protocol it can build, checked by parsing the
// result and verifying its checksums, and every kind of bad input.
#include <gtest/gtest.h>

#include <arpa/inet.h>

#include "ctl/flow_spec.h"
#include "net/flow_key.h"
#include "net/headers.h"
#include "testing.h"

namespace kvnet::testing {
namespace {

using net::FlowKey;

constexpr const char* kMacs = "dl_src=52:54:00:00:00:01,dl_dst=52:54:00:00:00:02";

Bytes build(const std::string& spec) {
  auto r = ctl::build_frame_from_flow(spec);
  EXPECT_TRUE(r.ok()) << spec << ": " << r.error().message;
  return r.ok() ? *r : Bytes{};
}

std::string error_of(const std::string& spec) {
  auto r = ctl::build_frame_from_flow(spec);
  EXPECT_FALSE(r.ok()) << spec << " was accepted";
  return r.ok() ? "" : r.error().message;
}

FlowKey parse(const Bytes& b) {
  FlowKey k;
  EXPECT_EQ(net::parse_flow(b.data(), b.size(), k), net::ParseStatus::kOk);
  EXPECT_EQ(k.flags, 0) << k.str();
  return k;
}

uint32_t ip(const char* s) {
  in_addr a{};
  EXPECT_EQ(inet_pton(AF_INET, s, &a), 1);
  return ntohl(a.s_addr);
}

// The IPv4 header checksum verifies; returns the L4 length from total_len.
size_t check_ipv4(const Bytes& b, const FlowKey& k) {
  const size_t ihl = size_t{b[k.l3_ofs] & 0x0fu} * 4;
  EXPECT_EQ(ihl, 20u);
  EXPECT_EQ(net::inet_checksum(&b[k.l3_ofs], ihl), 0) << "IPv4 header checksum";
  const size_t total = net::load_be16(&b[k.l3_ofs + 2]);
  EXPECT_LE(k.l3_ofs + total, b.size());
  return total - ihl;
}

// Sums a pseudo-header built as bytes, then the L4 segment: a correct
// checksum makes the whole come out 0.
uint16_t l4_check_v4(const Bytes& b, const FlowKey& k, size_t l4len) {
  Bytes ph(&b[k.l3_ofs + 12], &b[k.l3_ofs + 20]);  // source and destination
  ph.push_back(0);
  ph.push_back(k.nw_proto);
  ph.push_back(static_cast<uint8_t>(l4len >> 8));
  ph.push_back(static_cast<uint8_t>(l4len));
  ph.insert(ph.end(), &b[k.l4_ofs], &b[k.l4_ofs] + l4len);
  return net::inet_checksum(ph.data(), ph.size());
}
uint16_t l4_check_v6(const Bytes& b, const FlowKey& k) {
  const size_t l4len = net::load_be16(&b[k.l3_ofs + 4]);
  EXPECT_LE(k.l4_ofs + l4len, b.size());
  Bytes ph(&b[k.l3_ofs + 8], &b[k.l3_ofs + 40]);
  for (int s = 24; s >= 0; s -= 8) ph.push_back(static_cast<uint8_t>(l4len >> s));
  ph.insert(ph.end(), {0, 0, 0, k.nw_proto});
  ph.insert(ph.end(), &b[k.l4_ofs], &b[k.l4_ofs] + l4len);
  return net::inet_checksum(ph.data(), ph.size());
}

// ---------------------------------------------------------------- frames

TEST(FlowSpec, ArpTaggedWithPcp) {
  const Bytes b = build(std::string(kMacs) + ",dl_vlan=10,dl_vlan_pcp=3,arp,arp_spa=10.0.0.1,arp_tpa=10.0.0.2");
  EXPECT_EQ(b.size(), 60u);  // 18 + 28, padded to the Ethernet minimum
  FlowKey k = parse(b);
  EXPECT_EQ(k.dl_src, mac(0x525400000001));
  EXPECT_EQ(k.dl_dst, mac(0x525400000002));
  EXPECT_EQ(k.n_tags, 1);
  EXPECT_EQ(k.vlan_vid(), 10);
  EXPECT_EQ(k.vlan_pcp(), 3);
  EXPECT_EQ(k.dl_type, 0x0806);
  EXPECT_EQ(k.nw_proto, 1);  // request by default
  EXPECT_EQ(k.nw_src, ip("10.0.0.1"));
  EXPECT_EQ(k.nw_dst, ip("10.0.0.2"));
  EXPECT_EQ(k.arp_sha, mac(0x525400000001));  // defaults to dl_src
  EXPECT_EQ(k.arp_tha, mac(0));
}

TEST(FlowSpec, ArpReplyWithExplicitAddresses) {
  const Bytes b = build(
      "arp,arp_op=2,arp_sha=52:54:00:aa:bb:cc,arp_tha=52:54:00:dd:ee:ff,nw_src=192.168.0.1,nw_dst=192.168.0.2");
  EXPECT_EQ(b.size(), 60u);
  FlowKey k = parse(b);
  EXPECT_EQ(k.n_tags, 0);
  EXPECT_EQ(k.dl_src, mac(0));
  EXPECT_EQ(k.nw_proto, 2);
  EXPECT_EQ(k.arp_sha, mac(0x525400aabbcc));
  EXPECT_EQ(k.arp_tha, mac(0x525400ddeeff));
  EXPECT_EQ(k.nw_src, ip("192.168.0.1"));
}

TEST(FlowSpec, PlainIp) {
  const Bytes b = build(std::string(kMacs) + ",ip,nw_src=10.1.2.3,nw_dst=10.3.2.1,nw_tos=0x10,nw_ttl=7");
  EXPECT_EQ(b.size(), 60u);
  FlowKey k = parse(b);
  EXPECT_EQ(k.dl_type, 0x0800);
  EXPECT_EQ(k.nw_src, ip("10.1.2.3"));
  EXPECT_EQ(k.nw_dst, ip("10.3.2.1"));
  EXPECT_EQ(k.nw_proto, 0);
  EXPECT_EQ(k.nw_tos, 0x10);
  EXPECT_EQ(k.nw_ttl, 7);
  EXPECT_EQ(check_ipv4(b, k), 0u);  // no payload; the padding is not in total_len
}

TEST(FlowSpec, Tcp) {
  const Bytes b = build(std::string(kMacs) + ",dl_vlan=100,tcp,nw_src=10.0.0.1,nw_dst=10.0.0.2,tp_src=40000,tp_dst=80");
  FlowKey k = parse(b);
  EXPECT_EQ(k.vlan_vid(), 100);
  EXPECT_EQ(k.vlan_pcp(), 0);
  EXPECT_EQ(k.nw_proto, 6);
  EXPECT_EQ(k.nw_ttl, 64);  // default
  EXPECT_EQ(k.tp_src, 40000);
  EXPECT_EQ(k.tp_dst, 80);
  EXPECT_EQ(k.l4_ofs, 38);
  const size_t l4len = check_ipv4(b, k);
  EXPECT_EQ(l4len, 20u);
  EXPECT_NE(net::load_be16(&b[k.l4_ofs + 16]), 0);  // a checksum is filled in
  EXPECT_EQ(l4_check_v4(b, k, l4len), 0) << "TCP checksum";
  EXPECT_EQ(b[k.l4_ofs + 13], 0x02) << "a SYN unless told";
}

TEST(FlowSpec, TcpFlagsByNameOrNumber) {
  const std::string base = std::string(kMacs) + ",tcp,nw_src=10.0.0.1,nw_dst=10.0.0.2,tp_src=1,tp_dst=2,tcp_flags=";
  for (const auto& [text, want] : std::vector<std::pair<std::string, int>>{
           {"ack", 0x10}, {"syn+ack", 0x12}, {"fin|ack", 0x11}, {"0x04", 0x04}, {"24", 24}, {"0", 0}}) {
    const Bytes b = build(base + text);
    FlowKey k = parse(b);
    EXPECT_EQ(b[k.l4_ofs + 13], want) << text;
    EXPECT_EQ(l4_check_v4(b, k, 20), 0) << text;
  }
  EXPECT_NE(error_of("tcp,tcp_flags=syn+bogus").find("'bogus' is not a TCP flag"), std::string::npos);
  EXPECT_NE(error_of("tcp,tcp_flags=ack+").find("'' is not a TCP flag"), std::string::npos);
  EXPECT_NE(error_of("tcp,tcp_flags=256").find("is not a TCP flag"), std::string::npos);
}

TEST(FlowSpec, Udp) {
  const Bytes b = build(std::string(kMacs) + ",udp,nw_src=192.0.2.1,nw_dst=198.51.100.7,tp_src=5353,tp_dst=0x35");
  EXPECT_EQ(b.size(), 60u);
  FlowKey k = parse(b);
  EXPECT_EQ(k.nw_proto, 17);
  EXPECT_EQ(k.tp_src, 5353);
  EXPECT_EQ(k.tp_dst, 53);
  const size_t l4len = check_ipv4(b, k);
  EXPECT_EQ(l4len, 8u);
  EXPECT_EQ(net::load_be16(&b[k.l4_ofs + 4]), 8);  // UDP length
  EXPECT_NE(net::load_be16(&b[k.l4_ofs + 6]), 0);  // checksum present
  EXPECT_EQ(l4_check_v4(b, k, l4len), 0) << "UDP checksum";
}

TEST(FlowSpec, Icmp) {
  Bytes b = build(std::string(kMacs) + ",icmp,nw_src=10.0.0.1,nw_dst=10.0.0.2");
  FlowKey k = parse(b);
  EXPECT_EQ(k.nw_proto, 1);
  EXPECT_EQ(k.tp_src, 8);  // echo request by default
  EXPECT_EQ(k.tp_dst, 0);
  size_t l4len = check_ipv4(b, k);
  EXPECT_EQ(l4len, 8u);
  EXPECT_EQ(net::inet_checksum(&b[k.l4_ofs], l4len), 0) << "ICMP checksum";

  b = build(std::string(kMacs) + ",dl_vlan=5,icmp,icmp_type=3,icmp_code=1");
  k = parse(b);
  EXPECT_EQ(k.tp_src, 3);
  EXPECT_EQ(k.tp_dst, 1);
  l4len = check_ipv4(b, k);
  EXPECT_EQ(net::inet_checksum(&b[k.l4_ofs], l4len), 0) << "ICMP checksum";
}

TEST(FlowSpec, IcmpTypeZeroIsEchoReply) {
  const Bytes b = build("icmp,icmp_type=0,icmp_code=0");
  FlowKey k = parse(b);
  EXPECT_EQ(k.tp_src, 0);
  EXPECT_EQ(net::inet_checksum(&b[k.l4_ofs], 8), 0);
  const Bytes b6 = build("icmp6,icmp_type=0");
  EXPECT_EQ(parse(b6).tp_src, 0);
}

TEST(FlowSpec, Ipv6) {
  const Bytes b = build(std::string(kMacs) + ",ipv6,ipv6_src=2001:db8::1,ipv6_dst=2001:db8::2,nw_ttl=5,nw_tos=0xb8");
  EXPECT_EQ(b.size(), 60u);
  FlowKey k = parse(b);
  EXPECT_EQ(k.dl_type, 0x86dd);
  EXPECT_EQ(net::ipv6_str(k.ipv6_src), "2001:db8::1");
  EXPECT_EQ(net::ipv6_str(k.ipv6_dst), "2001:db8::2");
  EXPECT_EQ(k.nw_proto, 59);  // no next header
  EXPECT_EQ(k.nw_ttl, 5);
  EXPECT_EQ(k.nw_tos, 0xb8);
  EXPECT_EQ(net::load_be16(&b[k.l3_ofs + 4]), 0);  // payload length
}

TEST(FlowSpec, Udp6TaggedWithPcp) {
  const Bytes b = build(std::string(kMacs) +
                        ",dl_vlan=20,dl_vlan_pcp=6,udp6,ipv6_src=fe80::1,ipv6_dst=ff02::1:2,tp_src=546,tp_dst=547");
  EXPECT_EQ(b.size(), 18u + 40 + 8);
  FlowKey k = parse(b);
  EXPECT_EQ(k.vlan_vid(), 20);
  EXPECT_EQ(k.vlan_pcp(), 6);
  EXPECT_EQ(k.dl_type, 0x86dd);
  EXPECT_EQ(net::ipv6_str(k.ipv6_src), "fe80::1");
  EXPECT_EQ(net::ipv6_str(k.ipv6_dst), "ff02::1:2");
  EXPECT_EQ(k.nw_proto, 17);
  EXPECT_EQ(k.tp_src, 546);
  EXPECT_EQ(k.tp_dst, 547);
  EXPECT_EQ(k.l4_ofs, 58);
  EXPECT_EQ(net::load_be16(&b[k.l3_ofs + 4]), 8);
  EXPECT_EQ(l4_check_v6(b, k), 0) << "UDP/IPv6 checksum";
}

TEST(FlowSpec, Tcp6) {
  const Bytes b = build(std::string(kMacs) + ",tcp6,ipv6_src=2001:db8::a,ipv6_dst=2001:db8::b,tp_src=1,tp_dst=22");
  FlowKey k = parse(b);
  EXPECT_EQ(k.nw_proto, 6);
  EXPECT_EQ(k.tp_dst, 22);
  EXPECT_EQ(l4_check_v6(b, k), 0) << "TCP/IPv6 checksum";
}

TEST(FlowSpec, Icmp6) {
  const Bytes b = build(std::string(kMacs) + ",icmp6,ipv6_src=fe80::1,ipv6_dst=fe80::2");
  FlowKey k = parse(b);
  EXPECT_EQ(k.nw_proto, 58);
  EXPECT_EQ(k.tp_src, 128);  // echo request by default
  EXPECT_EQ(l4_check_v6(b, k), 0) << "ICMPv6 checksum (with pseudo-header)";

  const Bytes ns = build("icmp6,icmp_type=135,ipv6_src=fe80::1,ipv6_dst=ff02::1:ff00:2");
  k = parse(ns);
  EXPECT_EQ(k.tp_src, 135);
  EXPECT_EQ(l4_check_v6(ns, k), 0);
}

TEST(FlowSpec, OtherFieldsAndSyntax) {
  // vlan_tci sets VID and PCP; a bare pcp means VID 0 (priority tag).
  FlowKey k = parse(build("vlan_tci=0x6064,ip"));
  EXPECT_EQ(k.n_tags, 1);
  EXPECT_EQ(k.vlan_vid(), 100);
  EXPECT_EQ(k.vlan_pcp(), 3);
  k = parse(build("dl_vlan_pcp=5,ip"));
  EXPECT_EQ(k.n_tags, 1);
  EXPECT_EQ(k.vlan_vid(), 0);
  EXPECT_EQ(k.vlan_pcp(), 5);
  EXPECT_EQ(parse(build("vlan_tci=0,ip")).n_tags, 0);
  // Any EtherType; spaces and empty items are tolerated.
  const Bytes lldp = build(" dl_type=0x88cc , dl_dst=01:80:c2:00:00:0e ,, ");
  EXPECT_EQ(lldp.size(), 60u);
  k = parse(lldp);
  EXPECT_EQ(k.dl_type, 0x88cc);
  EXPECT_TRUE(k.dl_dst.is_reserved_link_local());
  // nw_proto without a shorthand implies IPv4.
  k = parse(build("nw_proto=17,tp_dst=53"));
  EXPECT_EQ(k.dl_type, 0x0800);
  EXPECT_EQ(k.tp_dst, 53);
  // The empty flow is a 60-byte IPv4 frame.
  EXPECT_EQ(build("").size(), 60u);
}

// ---------------------------------------------------------------- errors

TEST(FlowSpec, Errors) {
  EXPECT_NE(error_of("foo=1").find("unknown flow field 'foo'"), std::string::npos);
  EXPECT_NE(error_of("udp,foo").find("needs a value"), std::string::npos);
  EXPECT_NE(error_of("dl_src=52:54:00:00:00").find("not a MAC address"), std::string::npos);
  EXPECT_NE(error_of("dl_dst=52:54:00:00:00:zz").find("not a MAC address"), std::string::npos);
  EXPECT_NE(error_of("arp,arp_sha=x").find("not a MAC address"), std::string::npos);
  EXPECT_NE(error_of("ip,nw_src=10.0.0.256").find("not an IPv4 address"), std::string::npos);
  EXPECT_NE(error_of("ip,nw_dst=10.0.0").find("not an IPv4 address"), std::string::npos);
  EXPECT_NE(error_of("arp,arp_tpa=::1").find("not an IPv4 address"), std::string::npos);
  EXPECT_NE(error_of("ipv6,ipv6_src=2001:db8::g").find("not an IPv6 address"), std::string::npos);
  const std::string vlan = error_of("dl_vlan=4096");
  EXPECT_NE(vlan.find("dl_vlan=4096"), std::string::npos) << vlan;
  EXPECT_NE(vlan.find("0-4095"), std::string::npos) << vlan;
  EXPECT_NE(error_of("dl_vlan=-1").find("0-4095"), std::string::npos);
  EXPECT_NE(error_of("dl_vlan=").find("0-4095"), std::string::npos);
  EXPECT_NE(error_of("dl_vlan=0x").find("0-4095"), std::string::npos);
  EXPECT_NE(error_of("dl_vlan_pcp=8").find("0-7"), std::string::npos);
  EXPECT_NE(error_of("udp,tp_dst=65536").find("0-65535"), std::string::npos);
  EXPECT_NE(error_of("udp,tp_dst=12abc").find("0-65535"), std::string::npos);
  EXPECT_NE(error_of("icmp,icmp_type=256").find("0-255"), std::string::npos);
  EXPECT_NE(error_of("dl_type=0x10000").find("0-65535"), std::string::npos);
  const std::string port = error_of("in_port=1,udp");
  EXPECT_NE(port.find("--in-port"), std::string::npos) << port;
}

}  // namespace
}  // namespace kvnet::testing
