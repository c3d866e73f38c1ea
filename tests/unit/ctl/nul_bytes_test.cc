// A NUL byte (or another control character) in an address or a file name:
// C interfaces (inet_pton, open) read only up to the NUL, so the checks must
// look at the whole string.
#include <gtest/gtest.h>

#include <string>

#include "base/text.h"
#include "ctl/flow_spec.h"
#include "ctl/gateway_spec.h"
#include "ctl/security.h"
#include "ctl/topology.h"

namespace kvnet::ctl {
namespace {

using namespace std::string_literals;

TEST(NulBytes, TextHelpersFindAndShowControls) {
  EXPECT_FALSE(has_control("10.0.0.1"));
  EXPECT_TRUE(has_control("10.0.0.1\0x"s));
  EXPECT_TRUE(has_control("a\tb"));
  EXPECT_TRUE(has_control("a\x7f"));
  EXPECT_FALSE(has_control("caf\xc3\xa9"));  // UTF-8 is not a control
  EXPECT_EQ(printable("10.0.0.1\0x\n"s), "10.0.0.1\\x00x\\x0a");
}

TEST(NulBytes, IpChecksLookPastTheNul) {
  EXPECT_TRUE(check_ip("10.0.0.1").ok());
  EXPECT_TRUE(check_ip("fd00::1").ok());
  const auto s = check_ip("10.0.0.1\0junk"s);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message, "'10.0.0.1\\x00junk' is not an IPv4 or IPv6 address");
  EXPECT_FALSE(check_ip("fd00::1\0"s).ok());
  EXPECT_FALSE(check_ip("10.0.0.1\n").ok());

  EXPECT_TRUE(check_cidr("10.0.0.1/24").ok());
  EXPECT_FALSE(check_cidr("10.0.0.1\0/24"s).ok());
  EXPECT_FALSE(check_cidr("10.0.0.1/24\0"s).ok());
  EXPECT_NE(check_cidr("10.0.0.1\0/24"s).error().message.find("NUL"), std::string::npos);
}

TEST(NulBytes, GatewayAndSecurityAddresses) {
  EXPECT_TRUE(parse_ipv4("192.168.1.1").ok());
  EXPECT_FALSE(parse_ipv4("192.168.1.1\0evil"s).ok());
  EXPECT_TRUE(parse_ipv4_cidr("192.168.1.1/24").ok());
  EXPECT_FALSE(parse_ipv4_cidr("192.168.1.1\0/24"s).ok());

  EXPECT_TRUE(parse_sg_rule({{"direction", "ingress"}, {"remote_ip", "10.0.0.0/24"}}).ok());
  EXPECT_FALSE(parse_sg_rule({{"direction", "ingress"}, {"remote_ip", "10.0.0.0\0/24"s}}).ok());
  EXPECT_FALSE(parse_sg_rule({{"direction", "ingress"}, {"remote_ip", "10.0.0.1\0"s}}).ok());
  EXPECT_TRUE(parse_allowed_address("10.0.0.5").ok());
  EXPECT_FALSE(parse_allowed_address("10.0.0.5\0x"s).ok());
}

TEST(NulBytes, FlowSpecAddresses) {
  EXPECT_TRUE(build_frame_from_flow("ip,nw_src=10.0.0.1,nw_dst=10.0.0.2").ok());
  EXPECT_FALSE(build_frame_from_flow("ip,nw_src=10.0.0.1\0x,nw_dst=10.0.0.2"s).ok());
}

TEST(NulBytes, PcapPortFiles) {
  auto s = parse_topology("bridges:\n  - name: b\n    ports:\n      - {name: p, type: pcap, tx: \"/tmp/a\\0b\"}\n",
                          "t.yaml", "/");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("NUL"), std::string::npos) << s.error().message;
}

}  // namespace
}  // namespace kvnet::ctl
