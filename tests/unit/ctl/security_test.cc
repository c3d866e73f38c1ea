// Security group rules and allowed addresses from text: every key, every
// value form, every rule between keys, and the canonical forms written back.
#include "ctl/security.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace kvnet::ctl {
namespace {

using Kv = std::vector<std::pair<std::string, std::string>>;

// The rule from settings; a failed parse fails the test.
SgRule rule(const Kv& kv) {
  auto r = parse_sg_rule(kv);
  EXPECT_TRUE(r.ok()) << r.error().message;
  return r.ok() ? *r : SgRule{};
}

// The error of settings that must not parse ("<ok>" if they do).
std::string rule_error(const Kv& kv) {
  auto r = parse_sg_rule(kv);
  return r.ok() ? "<ok>" : r.error().message;
}

#define EXPECT_RULE_ERROR(kv, fragment)                                          \
  do {                                                                            \
    const std::string e_ = rule_error(kv);                                        \
    EXPECT_NE(e_.find(fragment), std::string::npos) << "error was: " << e_;       \
  } while (0)

// ------------------------------------------------------------ direction, ethertype

TEST(SgRule, DirectionOnlyGivesTheDefaults) {
  const SgRule r = rule({{"direction", "ingress"}});
  EXPECT_EQ(r.id, 0u);
  EXPECT_EQ(r.direction, SgDirection::kIngress);
  EXPECT_EQ(r.ethertype, SgEtherType::kIpv4);
  EXPECT_EQ(r.protocol, kAnyProtocol);
  EXPECT_EQ(r.port_min, 0);
  EXPECT_EQ(r.port_max, 0);
  EXPECT_EQ(r.icmp_type, -1);
  EXPECT_EQ(r.icmp_code, -1);
  EXPECT_EQ(r.remote_ip, "");
  EXPECT_EQ(r.remote_group, "");
  EXPECT_EQ(rule({{"direction", "egress"}}).direction, SgDirection::kEgress);
}

TEST(SgRule, DirectionIsRequiredAndChecked) {
  EXPECT_RULE_ERROR((Kv{}), "a rule needs a direction (ingress or egress)");
  EXPECT_RULE_ERROR((Kv{{"protocol", "tcp"}, {"port", "80"}}), "a rule needs a direction");
  EXPECT_RULE_ERROR((Kv{{"direction", "in"}}), "direction 'in' is not ingress or egress");
  EXPECT_RULE_ERROR((Kv{{"direction", "Ingress"}}), "direction 'Ingress' is not ingress or egress");
  EXPECT_RULE_ERROR((Kv{{"direction", ""}}), "direction '' is not ingress or egress");
}

TEST(SgRule, Ethertype) {
  EXPECT_EQ(rule({{"direction", "ingress"}, {"ethertype", "ipv4"}}).ethertype, SgEtherType::kIpv4);
  EXPECT_EQ(rule({{"direction", "ingress"}, {"ethertype", "IPv4"}}).ethertype, SgEtherType::kIpv4);  // Neutron's spelling
  EXPECT_EQ(rule({{"direction", "ingress"}, {"ethertype", "ipv6"}}).ethertype, SgEtherType::kIpv6);
  EXPECT_EQ(rule({{"direction", "ingress"}, {"ethertype", "IPv6"}}).ethertype, SgEtherType::kIpv6);
  EXPECT_RULE_ERROR((Kv{{"direction", "ingress"}, {"ethertype", "arp"}}), "ethertype 'arp' is not ipv4 or ipv6");
  EXPECT_RULE_ERROR((Kv{{"direction", "ingress"}, {"ethertype", "IPV4"}}), "ethertype 'IPV4' is not ipv4 or ipv6");
}

// ------------------------------------------------------------ protocol

TEST(SgRule, ProtocolNames) {
  EXPECT_EQ(rule({{"direction", "ingress"}, {"protocol", "tcp"}}).protocol, kProtoTcp);
  EXPECT_EQ(rule({{"direction", "ingress"}, {"protocol", "udp"}}).protocol, kProtoUdp);
  EXPECT_EQ(rule({{"direction", "ingress"}, {"protocol", "icmp"}}).protocol, kProtoIcmp);
  EXPECT_EQ(rule({{"direction", "ingress"}, {"ethertype", "ipv6"}, {"protocol", "icmpv6"}}).protocol, kProtoIcmpv6);
  // Neutron's name for ICMPv6.
  EXPECT_EQ(rule({{"direction", "ingress"}, {"ethertype", "ipv6"}, {"protocol", "ipv6-icmp"}}).protocol, kProtoIcmpv6);
  EXPECT_EQ(rule({{"direction", "ingress"}, {"protocol", "any"}}).protocol, kAnyProtocol);
}

TEST(SgRule, ProtocolNumbers) {
  EXPECT_EQ(rule({{"direction", "ingress"}, {"protocol", "0"}}).protocol, 0);
  EXPECT_EQ(rule({{"direction", "ingress"}, {"protocol", "47"}}).protocol, 47);
  EXPECT_EQ(rule({{"direction", "ingress"}, {"protocol", "255"}}).protocol, 255);
  // A number that names a known protocol is that protocol.
  EXPECT_EQ(rule({{"direction", "ingress"}, {"protocol", "6"}}).protocol, kProtoTcp);
  EXPECT_EQ(rule({{"direction", "ingress"}, {"protocol", "17"}, {"port", "53"}}).port_min, 53);
  const std::string what = "is not tcp, udp, icmp, icmpv6, any or a number 0-255";
  EXPECT_RULE_ERROR((Kv{{"direction", "ingress"}, {"protocol", "256"}}), "protocol '256' " + what);
  EXPECT_RULE_ERROR((Kv{{"direction", "ingress"}, {"protocol", "-1"}}), "protocol '-1' " + what);
  EXPECT_RULE_ERROR((Kv{{"direction", "ingress"}, {"protocol", "gre"}}), "protocol 'gre' " + what);
  EXPECT_RULE_ERROR((Kv{{"direction", "ingress"}, {"protocol", "TCP"}}), "protocol 'TCP' " + what);
  EXPECT_RULE_ERROR((Kv{{"direction", "ingress"}, {"protocol", "6x"}}), "protocol '6x' " + what);
  EXPECT_RULE_ERROR((Kv{{"direction", "ingress"}, {"protocol", ""}}), "protocol '' " + what);
}

TEST(SgRule, ProtocolNameOfEveryNumber) {
  EXPECT_EQ(protocol_name(kAnyProtocol), "any");
  EXPECT_EQ(protocol_name(kProtoIcmp), "icmp");
  EXPECT_EQ(protocol_name(kProtoTcp), "tcp");
  EXPECT_EQ(protocol_name(kProtoUdp), "udp");
  EXPECT_EQ(protocol_name(kProtoIcmpv6), "icmpv6");
  EXPECT_EQ(protocol_name(0), "0");
  EXPECT_EQ(protocol_name(47), "47");
  EXPECT_EQ(protocol_name(255), "255");
  // Every number parses back to itself through its name.
  for (int p = 0; p <= 255; ++p) {
    Kv kv{{"direction", "egress"}, {"protocol", protocol_name(p)}};
    if (p == kProtoIcmpv6) kv.push_back({"ethertype", "ipv6"});
    auto r = parse_sg_rule(kv);
    ASSERT_TRUE(r.ok()) << p << ": " << r.error().message;
    EXPECT_EQ(r->protocol, p);
  }
}

// ------------------------------------------------------------ ports

TEST(SgRule, PortAndRange) {
  SgRule r = rule({{"direction", "ingress"}, {"protocol", "tcp"}, {"port", "80"}});
  EXPECT_EQ(r.port_min, 80);
  EXPECT_EQ(r.port_max, 80);
  r = rule({{"direction", "ingress"}, {"protocol", "udp"}, {"port", "8000-8010"}});
  EXPECT_EQ(r.port_min, 8000);
  EXPECT_EQ(r.port_max, 8010);
  r = rule({{"direction", "ingress"}, {"protocol", "tcp"}, {"port", "1-65535"}});
  EXPECT_EQ(r.port_min, 1);
  EXPECT_EQ(r.port_max, 65535);
  r = rule({{"direction", "ingress"}, {"protocol", "tcp"}, {"port", "22-22"}});
  EXPECT_EQ(r.port_min, 22);
  EXPECT_EQ(r.port_max, 22);
  r = rule({{"direction", "ingress"}, {"protocol", "tcp"}, {"port", "65535"}});
  EXPECT_EQ(r.port_min, 65535);
}

TEST(SgRule, PortBounds) {
  const Kv tcp{{"direction", "ingress"}, {"protocol", "tcp"}};
  auto with = [&](const std::string& port) {
    Kv kv = tcp;
    kv.push_back({"port", port});
    return kv;
  };
  EXPECT_RULE_ERROR(with("0"), "port 0 is out of range 1-65535");
  EXPECT_RULE_ERROR(with("65536"), "port 65536 is out of range 1-65535");
  EXPECT_RULE_ERROR(with("0-10"), "port 0 is out of range 1-65535");
  EXPECT_RULE_ERROR(with("10-65536"), "port 65536 is out of range 1-65535");
  EXPECT_RULE_ERROR(with("99999999999999999999"), "port '99999999999999999999' is not a number");
  EXPECT_RULE_ERROR(with("http"), "port 'http' is not a number");
  EXPECT_RULE_ERROR(with(""), "port '' is not a number");
  EXPECT_RULE_ERROR(with("80-"), "port '' is not a number");
  EXPECT_RULE_ERROR(with("-80"), "port '' is not a number");
  EXPECT_RULE_ERROR(with("80 "), "port '80 ' is not a number");
  EXPECT_RULE_ERROR(with("1-2-3"), "port '2-3' is not a number");
  EXPECT_RULE_ERROR(with("8010-8000"), "port range '8010-8000' ends before it starts");
  EXPECT_RULE_ERROR(with("2-1"), "port range '2-1' ends before it starts");
}

TEST(SgRule, PortNeedsTcpOrUdp) {
  EXPECT_RULE_ERROR((Kv{{"direction", "ingress"}, {"port", "80"}}), "'port' needs protocol tcp or udp");
  EXPECT_RULE_ERROR((Kv{{"direction", "ingress"}, {"protocol", "any"}, {"port", "80"}}), "'port' needs protocol tcp or udp");
  EXPECT_RULE_ERROR((Kv{{"direction", "ingress"}, {"protocol", "icmp"}, {"port", "80"}}),
                    "'port' needs protocol tcp or udp");
  EXPECT_RULE_ERROR((Kv{{"direction", "ingress"}, {"protocol", "132"}, {"port", "80"}}),
                    "'port' needs protocol tcp or udp");
  // The order of the keys does not matter.
  EXPECT_EQ(rule({{"port", "80"}, {"protocol", "tcp"}, {"direction", "ingress"}}).port_min, 80);
}

// ------------------------------------------------------------ ICMP

TEST(SgRule, IcmpTypeAndCode) {
  SgRule r = rule({{"direction", "ingress"}, {"protocol", "icmp"}, {"icmp_type", "8"}});
  EXPECT_EQ(r.icmp_type, 8);
  EXPECT_EQ(r.icmp_code, -1);
  r = rule({{"direction", "ingress"}, {"protocol", "icmp"}, {"icmp_type", "3"}, {"icmp_code", "4"}});
  EXPECT_EQ(r.icmp_type, 3);
  EXPECT_EQ(r.icmp_code, 4);
  r = rule({{"direction", "ingress"}, {"protocol", "icmp"}, {"icmp_type", "0"}, {"icmp_code", "0"}});
  EXPECT_EQ(r.icmp_type, 0);
  EXPECT_EQ(r.icmp_code, 0);
  r = rule({{"direction", "ingress"}, {"protocol", "icmp"}, {"icmp_type", "255"}, {"icmp_code", "255"}});
  EXPECT_EQ(r.icmp_type, 255);
  EXPECT_EQ(r.icmp_code, 255);
  r = rule({{"direction", "ingress"}, {"ethertype", "ipv6"}, {"protocol", "icmpv6"}, {"icmp_type", "135"}});
  EXPECT_EQ(r.icmp_type, 135);
}

TEST(SgRule, IcmpBounds) {
  const Kv icmp{{"direction", "ingress"}, {"protocol", "icmp"}};
  auto with = [&](Kv extra) {
    Kv kv = icmp;
    kv.insert(kv.end(), extra.begin(), extra.end());
    return kv;
  };
  EXPECT_RULE_ERROR(with({{"icmp_type", "256"}}), "icmp_type 256 is out of range 0-255");
  EXPECT_RULE_ERROR(with({{"icmp_type", "-1"}}), "icmp_type -1 is out of range 0-255");
  EXPECT_RULE_ERROR(with({{"icmp_type", "echo"}}), "icmp_type 'echo' is not a number");
  EXPECT_RULE_ERROR(with({{"icmp_type", "8"}, {"icmp_code", "256"}}), "icmp_code 256 is out of range 0-255");
  EXPECT_RULE_ERROR(with({{"icmp_type", "8"}, {"icmp_code", "x"}}), "icmp_code 'x' is not a number");
}

TEST(SgRule, IcmpCodeNeedsType) {
  EXPECT_RULE_ERROR((Kv{{"direction", "ingress"}, {"protocol", "icmp"}, {"icmp_code", "0"}}),
                    "'icmp_code' needs 'icmp_type'");
}

TEST(SgRule, IcmpKeysNeedAnIcmpProtocol) {
  const std::string msg = "'icmp_type'/'icmp_code' need protocol icmp or icmpv6";
  EXPECT_RULE_ERROR((Kv{{"direction", "ingress"}, {"icmp_type", "8"}}), msg);
  EXPECT_RULE_ERROR((Kv{{"direction", "ingress"}, {"protocol", "tcp"}, {"icmp_type", "8"}}), msg);
  EXPECT_RULE_ERROR((Kv{{"direction", "ingress"}, {"protocol", "udp"}, {"icmp_type", "8"}, {"icmp_code", "0"}}), msg);
  EXPECT_RULE_ERROR((Kv{{"direction", "ingress"}, {"protocol", "any"}, {"icmp_code", "0"}}), msg);
}

TEST(SgRule, IcmpFamilyFollowsTheEthertype) {
  EXPECT_RULE_ERROR((Kv{{"direction", "ingress"}, {"ethertype", "ipv6"}, {"protocol", "icmp"}}),
                    "protocol icmp is IPv4's: use icmpv6 with ethertype ipv6");
  EXPECT_RULE_ERROR((Kv{{"direction", "ingress"}, {"ethertype", "ipv6"}, {"protocol", "1"}}),
                    "protocol icmp is IPv4's");
  // The default ethertype is ipv4: icmpv6 needs it given.
  EXPECT_RULE_ERROR((Kv{{"direction", "ingress"}, {"protocol", "icmpv6"}}), "protocol icmpv6 needs ethertype ipv6");
  EXPECT_RULE_ERROR((Kv{{"direction", "ingress"}, {"ethertype", "ipv4"}, {"protocol", "ipv6-icmp"}}),
                    "protocol icmpv6 needs ethertype ipv6");
  EXPECT_RULE_ERROR((Kv{{"direction", "ingress"}, {"protocol", "58"}}), "protocol icmpv6 needs ethertype ipv6");
  // ... and it may come after the protocol.
  EXPECT_EQ(rule({{"direction", "ingress"}, {"protocol", "icmpv6"}, {"ethertype", "ipv6"}}).protocol, kProtoIcmpv6);
}

// ------------------------------------------------------------ remote side

TEST(SgRule, RemoteIpIsCanonical) {
  auto remote = [](const std::string& ip, const std::string& eth = "ipv4") {
    return rule({{"direction", "ingress"}, {"ethertype", eth}, {"remote_ip", ip}}).remote_ip;
  };
  EXPECT_EQ(remote("10.0.0.5"), "10.0.0.5/32");
  EXPECT_EQ(remote("10.0.0.0/24"), "10.0.0.0/24");
  EXPECT_EQ(remote("0.0.0.0/0"), "0.0.0.0/0");
  EXPECT_EQ(remote("10.0.0.0/024"), "10.0.0.0/24");
  EXPECT_EQ(remote("192.168.1.1/32"), "192.168.1.1/32");
  EXPECT_EQ(remote("fd00::1", "ipv6"), "fd00::1/128");
  EXPECT_EQ(remote("FD00:0:0:0::/64", "ipv6"), "fd00::/64");
  EXPECT_EQ(remote("2001:db8:0:0:0:0:0:1/128", "ipv6"), "2001:db8::1/128");
  EXPECT_EQ(remote("::/0", "ipv6"), "::/0");
}

TEST(SgRule, RemoteIpErrors) {
  auto with = [](const std::string& ip, const std::string& eth = "ipv4") {
    return Kv{{"direction", "ingress"}, {"ethertype", eth}, {"remote_ip", ip}};
  };
  EXPECT_RULE_ERROR(with("10.0.0.0/33"), "remote_ip '10.0.0.0/33': prefix length 33 is out of range 0-32");
  EXPECT_RULE_ERROR(with("10.0.0.0/-1"), "remote_ip '10.0.0.0/-1': prefix length -1 is out of range 0-32");
  EXPECT_RULE_ERROR(with("10.0.0.0/"), "remote_ip '10.0.0.0/': prefix length '' is not a number");
  EXPECT_RULE_ERROR(with("10.0.0.0/x"), "remote_ip '10.0.0.0/x': prefix length 'x' is not a number");
  EXPECT_RULE_ERROR(with("fd00::/129", "ipv6"), "remote_ip 'fd00::/129': prefix length 129 is out of range 0-128");
  EXPECT_RULE_ERROR(with("10.0.0.256"), "remote_ip '10.0.0.256' is not an IP address or CIDR");
  EXPECT_RULE_ERROR(with("10.0.0"), "remote_ip '10.0.0' is not an IP address or CIDR");
  EXPECT_RULE_ERROR(with("host.example"), "remote_ip 'host.example' is not an IP address or CIDR");
  EXPECT_RULE_ERROR(with(""), "remote_ip '' is not an IP address or CIDR");
  EXPECT_RULE_ERROR(with("/24"), "remote_ip '/24' is not an IP address or CIDR");
}

TEST(SgRule, RemoteIpFamilyMatchesTheEthertype) {
  EXPECT_RULE_ERROR((Kv{{"direction", "ingress"}, {"remote_ip", "fd00::/64"}}),
                    "remote_ip fd00::/64 is not an ipv4 network (ethertype)");
  EXPECT_RULE_ERROR((Kv{{"direction", "ingress"}, {"ethertype", "ipv6"}, {"remote_ip", "10.0.0.0/8"}}),
                    "remote_ip 10.0.0.0/8 is not an ipv6 network (ethertype)");
  // An IPv4-mapped IPv6 address is IPv6.
  EXPECT_EQ(rule({{"direction", "ingress"}, {"ethertype", "ipv6"}, {"remote_ip", "::ffff:10.0.0.1"}}).remote_ip,
            "::ffff:10.0.0.1/128");
}

TEST(SgRule, RemoteGroup) {
  EXPECT_EQ(rule({{"direction", "ingress"}, {"remote_group", "web"}}).remote_group, "web");
  EXPECT_RULE_ERROR((Kv{{"direction", "ingress"}, {"remote_ip", "10.0.0.0/8"}, {"remote_group", "web"}}),
                    "give remote_ip or remote_group, not both");
  EXPECT_RULE_ERROR((Kv{{"direction", "ingress"}, {"remote_group", "web"}, {"remote_ip", "10.0.0.1"}}),
                    "give remote_ip or remote_group, not both");
}

// ------------------------------------------------------------ id, unknown keys

TEST(SgRule, Id) {
  EXPECT_EQ(rule({{"direction", "ingress"}, {"id", "1"}}).id, 1u);
  EXPECT_EQ(rule({{"id", "42"}, {"direction", "ingress"}}).id, 42u);
  EXPECT_EQ(rule({{"direction", "ingress"}, {"id", "1000000"}}).id, 1000000u);
  EXPECT_RULE_ERROR((Kv{{"direction", "ingress"}, {"id", "0"}}), "id 0 is out of range 1-1000000");
  EXPECT_RULE_ERROR((Kv{{"direction", "ingress"}, {"id", "1000001"}}), "id 1000001 is out of range 1-1000000");
  EXPECT_RULE_ERROR((Kv{{"direction", "ingress"}, {"id", "one"}}), "id 'one' is not a number");
}

TEST(SgRule, UnknownKeysAreRefusedByName) {
  EXPECT_RULE_ERROR((Kv{{"direction", "ingress"}, {"port_range_min", "80"}}), "'port_range_min' is not a rule key");
  EXPECT_RULE_ERROR((Kv{{"direction", "ingress"}, {"Protocol", "tcp"}}), "'Protocol' is not a rule key");
  // Even before the direction is missed.
  EXPECT_RULE_ERROR((Kv{{"action", "drop"}}), "'action' is not a rule key");
}

// ------------------------------------------------------------ writing

TEST(SgRule, FieldsOmitDefaults) {
  EXPECT_EQ(sg_rule_fields(rule({{"direction", "ingress"}})),
            (Fields{{"direction", "ingress"}, {"ethertype", "ipv4"}}));
  EXPECT_EQ(sg_rule_fields(rule({{"direction", "egress"}, {"ethertype", "ipv6"}, {"id", "9"}})),
            (Fields{{"direction", "egress"}, {"ethertype", "ipv6"}}));  // no id
  EXPECT_EQ(sg_rule_fields(rule({{"direction", "ingress"}, {"protocol", "tcp"}, {"port", "80"}})),
            (Fields{{"direction", "ingress"}, {"ethertype", "ipv4"}, {"protocol", "tcp"}, {"port", "80"}}));
  EXPECT_EQ(sg_rule_fields(rule({{"direction", "ingress"}, {"protocol", "6"}, {"port", "8000-8010"},
                                 {"remote_ip", "10.0.0.0/24"}})),
            (Fields{{"direction", "ingress"},
                    {"ethertype", "ipv4"},
                    {"protocol", "tcp"},
                    {"port", "8000-8010"},
                    {"remote_ip", "10.0.0.0/24"}}));
  EXPECT_EQ(sg_rule_fields(rule({{"direction", "ingress"}, {"protocol", "icmp"}, {"icmp_type", "0"},
                                 {"icmp_code", "0"}, {"remote_group", "web"}})),
            (Fields{{"direction", "ingress"},
                    {"ethertype", "ipv4"},
                    {"protocol", "icmp"},
                    {"icmp_type", "0"},
                    {"icmp_code", "0"},
                    {"remote_group", "web"}}));
  EXPECT_EQ(sg_rule_fields(rule({{"direction", "ingress"}, {"protocol", "any"}})),
            (Fields{{"direction", "ingress"}, {"ethertype", "ipv4"}}));
  EXPECT_EQ(sg_rule_fields(rule({{"direction", "ingress"}, {"protocol", "47"}, {"remote_ip", "10.0.0.1"}})),
            (Fields{{"direction", "ingress"}, {"ethertype", "ipv4"}, {"protocol", "47"}, {"remote_ip", "10.0.0.1/32"}}));
}

TEST(SgRule, FieldsParseBackToTheSameRule) {
  const std::vector<Kv> rules = {
      {{"direction", "ingress"}},
      {{"direction", "egress"}, {"ethertype", "IPv6"}},
      {{"direction", "ingress"}, {"protocol", "udp"}, {"port", "53"}, {"remote_ip", "10.1.2.3"}},
      {{"direction", "ingress"}, {"protocol", "tcp"}, {"port", "1-65535"}, {"remote_group", "db"}},
      {{"direction", "ingress"}, {"ethertype", "ipv6"}, {"protocol", "ipv6-icmp"}, {"icmp_type", "128"},
       {"icmp_code", "0"}, {"remote_ip", "FD00::/8"}},
      {{"direction", "egress"}, {"protocol", "0"}},
  };
  for (const auto& kv : rules) {
    const SgRule r = rule(kv);
    Kv back;
    for (const auto& f : sg_rule_fields(r)) back.push_back({f.key, f.value});
    EXPECT_EQ(rule(back), r) << sg_rule_str(r);
  }
}

TEST(SgRule, Str) {
  EXPECT_EQ(sg_rule_str(rule({{"direction", "ingress"}})), "ingress ipv4 any");
  EXPECT_EQ(sg_rule_str(rule({{"direction", "egress"}, {"ethertype", "ipv6"}})), "egress ipv6 any");
  EXPECT_EQ(sg_rule_str(rule({{"direction", "ingress"}, {"protocol", "tcp"}, {"port", "80"},
                              {"remote_ip", "10.0.0.0/24"}})),
            "ingress ipv4 tcp port 80 remote_ip 10.0.0.0/24");
  EXPECT_EQ(sg_rule_str(rule({{"direction", "ingress"}, {"protocol", "udp"}, {"port", "8000-8010"}})),
            "ingress ipv4 udp port 8000-8010");
  EXPECT_EQ(sg_rule_str(rule({{"direction", "ingress"}, {"protocol", "icmp"}, {"icmp_type", "3"},
                              {"icmp_code", "1"}, {"remote_group", "web"}})),
            "ingress ipv4 icmp icmp_type 3 icmp_code 1 remote_group web");
  EXPECT_EQ(sg_rule_str(rule({{"direction", "ingress"}, {"ethertype", "ipv6"}, {"protocol", "58"}})),
            "ingress ipv6 icmpv6");
  EXPECT_EQ(sg_rule_str(rule({{"direction", "egress"}, {"protocol", "47"}, {"id", "3"}})), "egress ipv4 47");
}

TEST(SgRule, DirectionAndEthertypeNames) {
  EXPECT_STREQ(to_string(SgDirection::kIngress), "ingress");
  EXPECT_STREQ(to_string(SgDirection::kEgress), "egress");
  EXPECT_STREQ(to_string(SgEtherType::kIpv4), "ipv4");
  EXPECT_STREQ(to_string(SgEtherType::kIpv6), "ipv6");
}

TEST(SgRule, DefaultRulesAreNeutronsTwoEgressRules) {
  const auto d = default_sg_rules();
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].id, 1u);
  EXPECT_EQ(d[1].id, 2u);
  EXPECT_EQ(sg_rule_str(d[0]), "egress ipv4 any");
  EXPECT_EQ(sg_rule_str(d[1]), "egress ipv6 any");
  // Exactly what the settings give (nothing else set).
  SgRule v4 = rule({{"direction", "egress"}, {"ethertype", "ipv4"}, {"id", "1"}});
  SgRule v6 = rule({{"direction", "egress"}, {"ethertype", "ipv6"}, {"id", "2"}});
  EXPECT_EQ(d[0], v4);
  EXPECT_EQ(d[1], v6);
}

TEST(SgRule, NextRuleIdIsOneAboveTheHighest) {
  SecurityGroupSpec g;
  EXPECT_EQ(g.next_rule_id(), 1u);
  g.rules = default_sg_rules();
  EXPECT_EQ(g.next_rule_id(), 3u);
  g.rules[1].id = 7;
  EXPECT_EQ(g.next_rule_id(), 8u);
  g.rules.erase(g.rules.begin() + 1);
  EXPECT_EQ(g.next_rule_id(), 2u);
}

TEST(SgRule, GroupEqualityIgnoresWhereItWasWritten) {
  SecurityGroupSpec a{"web", "d", default_sg_rules(), 3, 5};
  SecurityGroupSpec b{"web", "d", default_sg_rules(), 0, 0};
  EXPECT_EQ(a, b);
  b.description = "e";
  EXPECT_FALSE(a == b);
  b = a;
  b.rules[0].id = 9;
  EXPECT_FALSE(a == b);
}

// ------------------------------------------------------------ allowed addresses

AllowedAddress allowed(const std::string& text) {
  auto a = parse_allowed_address(text);
  EXPECT_TRUE(a.ok()) << text << ": " << a.error().message;
  return a.ok() ? *a : AllowedAddress{"?", "?"};
}

std::string allowed_error(const std::string& text) {
  auto a = parse_allowed_address(text);
  return a.ok() ? "<ok: " + allowed_address_str(*a) + ">" : a.error().message;
}

TEST(AllowedAddress, MacAndAddress) {
  EXPECT_EQ(allowed("52:54:00:00:00:01:10.0.0.5"), (AllowedAddress{"52:54:00:00:00:01", "10.0.0.5/32"}));
  EXPECT_EQ(allowed("52:54:00:00:00:01:10.0.0.0/24"), (AllowedAddress{"52:54:00:00:00:01", "10.0.0.0/24"}));
  EXPECT_EQ(allowed("52:54:00:00:00:01:fd00::5"), (AllowedAddress{"52:54:00:00:00:01", "fd00::5/128"}));
  EXPECT_EQ(allowed("52:54:00:00:00:01:fd00::/64"), (AllowedAddress{"52:54:00:00:00:01", "fd00::/64"}));
  EXPECT_EQ(allowed("52:54:00:00:00:01:::1"), (AllowedAddress{"52:54:00:00:00:01", "::1/128"}));
  // The MAC is canonical too.
  EXPECT_EQ(allowed("52:54:00:AB:CD:EF:10.0.0.5"), (AllowedAddress{"52:54:00:ab:cd:ef", "10.0.0.5/32"}));
  EXPECT_EQ(allowed("52-54-00-ab-cd-ef:10.0.0.5"), (AllowedAddress{"52:54:00:ab:cd:ef", "10.0.0.5/32"}));
}

TEST(AllowedAddress, AddressAlone) {
  EXPECT_EQ(allowed("10.0.0.5"), (AllowedAddress{"", "10.0.0.5/32"}));
  EXPECT_EQ(allowed("10.0.0.0/24"), (AllowedAddress{"", "10.0.0.0/24"}));
  EXPECT_EQ(allowed("fd00::5"), (AllowedAddress{"", "fd00::5/128"}));
  EXPECT_EQ(allowed("fd00:0:0:0::/64"), (AllowedAddress{"", "fd00::/64"}));
  EXPECT_EQ(allowed("2001:db8:1:2:3:4:5:6"), (AllowedAddress{"", "2001:db8:1:2:3:4:5:6/128"}));
  EXPECT_EQ(allowed("fe80::1"), (AllowedAddress{"", "fe80::1/128"}));
}

TEST(AllowedAddress, MulticastAndZeroMacsAreRefused) {
  EXPECT_EQ(allowed_error("01:00:5e:00:00:01:10.0.0.5"),
            "allowed address '01:00:5e:00:00:01:10.0.0.5': 01:00:5e:00:00:01 is not a unicast MAC");
  EXPECT_NE(allowed_error("ff:ff:ff:ff:ff:ff:10.0.0.5").find("ff:ff:ff:ff:ff:ff is not a unicast MAC"), std::string::npos);
  EXPECT_NE(allowed_error("33:33:00:00:00:01:fd00::1").find("is not a unicast MAC"), std::string::npos);
  EXPECT_NE(allowed_error("00:00:00:00:00:00:10.0.0.5").find("is not a unicast MAC"), std::string::npos);
}

TEST(AllowedAddress, GarbageIsRefused) {
  for (const std::string bad : {"", "x", "garbage", "52:54:00:00:00:01", "52:54:00:00:00:01:", "52:54:00:00:00:01:x",
                                "52:54:00:00:00:01:10.0.0.0/33", "10.0.0.0/33", "fd00::/129", "10.0.0.256",
                                "10.0.0.5/", "52:54:00:00:00:zz:10.0.0.5", "10.0.0.5:52:54:00:00:00:01"}) {
    const std::string e = allowed_error(bad);
    EXPECT_EQ(e, "allowed address '" + bad + "' is not MAC:IP, MAC:CIDR, IP or CIDR") << bad;
  }
}

TEST(AllowedAddress, StrRoundTrip) {
  EXPECT_EQ(allowed_address_str({"", "10.0.0.5/32"}), "10.0.0.5/32");
  EXPECT_EQ(allowed_address_str({"52:54:00:00:00:01", "10.0.0.0/24"}), "52:54:00:00:00:01:10.0.0.0/24");
  EXPECT_EQ(allowed_address_str({"52:54:00:00:00:01", "fd00::/64"}), "52:54:00:00:00:01:fd00::/64");
  for (const std::string text :
       {"52:54:00:00:00:01:10.0.0.5", "52:54:00:00:00:01:10.0.0.0/24", "52:54:00:00:00:01:fd00::5",
        "52:54:00:00:00:01:::1", "52:54:00:AB:CD:EF:fd00::/64", "10.0.0.5", "10.0.0.0/24", "fd00::5", "::/0",
        "::ffff:10.0.0.1"}) {
    const AllowedAddress a = allowed(text);
    const std::string s = allowed_address_str(a);
    EXPECT_EQ(allowed(s), a) << text << " -> " << s;
    EXPECT_EQ(allowed_address_str(allowed(s)), s) << text;  // canonical: a fixed point
  }
}

TEST(PortSecurity, EmptyMeansNothingSet) {
  PortSecurity s;
  EXPECT_TRUE(s.empty());
  s.port_security = true;
  EXPECT_FALSE(s.empty());
  s = {};
  s.groups = {"web"};
  EXPECT_FALSE(s.empty());
  s = {};
  s.allowed = {{"", "10.0.0.5/32"}};
  EXPECT_FALSE(s.empty());
}

}  // namespace
}  // namespace kvnet::ctl
