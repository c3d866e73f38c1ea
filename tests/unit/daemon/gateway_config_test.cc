// What kvnetd writes for its gateways: the nftables ruleset of its own
// table, dnsmasq's configuration, and the reading of dnsmasq's lease file.
#include <gtest/gtest.h>

#include "daemon/gateway_config.h"

namespace kvnet::daemon {
namespace {

ctl::GatewaySpec nat_gateway() {
  ctl::GatewaySpec g;
  g.name = "gw0";
  g.bridge = "br0";
  g.ip = "10.0.0.1/24";
  g.masquerade = true;
  g.dhcp_start = "10.0.0.100";
  g.dhcp_end = "10.0.0.199";
  g.forwards = {*ctl::parse_forward("tcp:8080:10.0.0.5:80")};
  return g;
}

TEST(GatewayNft, NatGatewayRuleset) {
  ctl::GatewaySpec routed;
  routed.name = "gw1";
  routed.bridge = "br0";
  routed.ip = "10.1.2.3/16";
  EXPECT_EQ(nft_ruleset({nat_gateway(), routed}, "kvnet"),
            "table ip kvnet\n"
            "delete table ip kvnet\n"
            "table ip kvnet {\n"
            "\tchain prerouting {\n"
            "\t\ttype nat hook prerouting priority dstnat; policy accept;\n"
            "\t\tiifname != \"gw0\" fib daddr type local tcp dport 8080 dnat to 10.0.0.5:80 comment \"gw gw0\"\n"
            "\t}\n"
            "\tchain postrouting {\n"
            "\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
            "\t\tip saddr 10.0.0.0/24 ip daddr != 10.0.0.0/24 oifname != \"gw0\" ip daddr != { 224.0.0.0/4, "
            "255.255.255.255 } masquerade comment \"gw gw0\"\n"
            "\t}\n"
            "\tchain forward {\n"
            "\t\ttype filter hook forward priority filter; policy accept;\n"
            "\t\tiifname \"gw0\" ip saddr 10.0.0.0/24 accept comment \"gw gw0\"\n"
            "\t\toifname \"gw0\" ip daddr 10.0.0.0/24 ct state established,related accept comment \"gw gw0\"\n"
            "\t\toifname \"gw0\" ip daddr 10.0.0.5 tcp dport 80 ct status dnat accept comment \"gw gw0\"\n"
            "\t\tiifname \"gw0\" reject comment \"gw gw0\"\n"
            "\t\toifname \"gw0\" reject comment \"gw gw0\"\n"
            "\t\tiifname \"gw1\" ip saddr 10.1.0.0/16 accept comment \"gw gw1\"\n"
            "\t\toifname \"gw1\" ip daddr 10.1.0.0/16 accept comment \"gw gw1\"\n"
            "\t\tiifname \"gw1\" reject comment \"gw gw1\"\n"
            "\t\toifname \"gw1\" reject comment \"gw gw1\"\n"
            "\t}\n"
            "}\n");
}

TEST(GatewayNft, DeleteTouchesOnlyItsTable) {
  EXPECT_EQ(nft_delete("kvnet"), "table ip kvnet\ndelete table ip kvnet\n");
  EXPECT_EQ(nft_ruleset({}, "other").find("kvnet"), std::string::npos);
}

TEST(GatewayDnsmasq, ConfigurationBindsToTheGatewayOnly) {
  const auto p = DnsmasqPaths::under("/var/lib/kvnet/gateways", "gw0");
  EXPECT_EQ(p.leases, "/var/lib/kvnet/gateways/gw0/leases");
  const std::string c = dnsmasq_conf(nat_gateway(), p);
  for (const char* line :
       {"\npid-file=/var/lib/kvnet/gateways/gw0/dnsmasq.pid\n", "\ninterface=gw0\n", "\nexcept-interface=lo\n",
        "\nbind-interfaces\n", "\nno-hosts\n", "\ndhcp-range=10.0.0.100,10.0.0.199,255.255.255.0,3600\n",
        "\ndhcp-option=option:router,10.0.0.1\n", "\ndhcp-option=option:dns-server,10.0.0.1\n",
        "\ndhcp-leasefile=/var/lib/kvnet/gateways/gw0/leases\n", "\nlog-facility=/var/lib/kvnet/gateways/gw0/dnsmasq.log\n"})
    EXPECT_NE(c.find(line), std::string::npos) << line << " in\n" << c;
}

// Option 26, sent whether the client asks or not (Neutron's
// dhcp-option-force), only when the bridge carries less than 1500.
TEST(GatewayDnsmasq, OffersTheMtuTheBridgeCarries) {
  const auto p = DnsmasqPaths::under("/var/lib/kvnet/gateways", "gw0");
  EXPECT_NE(dnsmasq_conf(nat_gateway(), p, 1450).find("\ndhcp-option-force=option:mtu,1450\n"), std::string::npos);
  EXPECT_EQ(dnsmasq_conf(nat_gateway(), p).find("option:mtu"), std::string::npos);
}

TEST(GatewayLeases, ParsesDnsmasqLeaseLines) {
  const std::string text =
      "1700000000 52:54:00:12:34:56 10.0.0.150 vm01 01:52:54:00:12:34:56\n"
      "0 02:00:00:00:00:07 10.0.0.151 * *\n"
      "duid 00:01:00:01:2c:7f:1a:22:52:54:00:12:34:56\n"
      "1700000500 1234 fd00::5 host6 00:01:00:01\n"
      "garbage\n"
      "x 02:00:00:00:00:08 10.0.0.152 h *\n";
  const auto l = parse_leases(text);
  ASSERT_EQ(l.size(), 2u);
  EXPECT_EQ(l[0], (Lease{1700000000, "52:54:00:12:34:56", "10.0.0.150", "vm01"}));
  EXPECT_EQ(l[1], (Lease{0, "02:00:00:00:00:07", "10.0.0.151", ""}));
  EXPECT_TRUE(parse_leases("").empty());
}

}  // namespace
}  // namespace kvnet::daemon
