// The `security_groups:` section and the ports' security keys in topology
// files: parsing, validation (with FILE:LINE:COL), rule ids, and the YAML
// written back (export, the store's rows).
#include <gtest/gtest.h>

#include <string>

#include "ctl/topology.h"

namespace kvnet::ctl {
namespace {

std::string error_of(const std::string& yaml) {
  auto r = parse_topology(yaml, "t.yaml", "/base");
  return r.ok() ? "<ok>" : r.error().message;
}

Topology good(const std::string& yaml, const std::string& file = "t.yaml") {
  auto r = parse_topology(yaml, file, "/base");
  EXPECT_TRUE(r.ok()) << r.error().message;
  return r.ok() ? *r : Topology{};
}

SgRule rule(const std::vector<std::pair<std::string, std::string>>& kv) {
  auto r = parse_sg_rule(kv);
  EXPECT_TRUE(r.ok()) << r.error().message;
  return r.ok() ? *r : SgRule{};
}

SgRule with_id(SgRule r, uint32_t id) {
  r.id = id;
  return r;
}

const char* kTopo = R"(bridges:
  - name: br0
    ports:
      - {name: p1, type: system, security_groups: [web, ssh], port_security: true, allowed_addresses: ["52:54:00:00:00:01:10.0.0.5", "10.0.1.0/24", "52:54:00:00:00:02:fd00::/64"]}
      - {name: p2, type: internal, security_groups: "ssh, web", allowed_addresses: "10.0.0.7, fd00::7"}
      - {name: p3, type: system, port_security: false, security_groups: ""}
      - {name: p4, type: system}
  - name: hub0
    type: hub
    ports:
      - {name: h1, type: system, security_groups: web, port_security: yes}
security_groups:
  - name: web
    description: "HTTP in, anything out"
    rules:
      - {direction: ingress, protocol: tcp, port: 80}
      - {direction: ingress, protocol: tcp, port: "8000-8010", remote_ip: 10.0.0.0/24}
      - {direction: ingress, protocol: icmp, icmp_type: 8, remote_group: web}
      - {direction: egress, ethertype: ipv4}
      - {direction: egress, ethertype: ipv6}
  - name: ssh
    rules:
      - {id: 10, direction: ingress, protocol: tcp, port: 22, remote_group: web}
      - {direction: ingress, ethertype: ipv6, protocol: tcp, port: 22, remote_ip: "fd00::/64"}
      - {id: 3, direction: ingress, ethertype: IPv6, protocol: ipv6-icmp, icmp_type: 135, icmp_code: 0}
)";

TEST(TopologySg, ParsesGroupsAndPortSecurity) {
  const Topology t = good(kTopo);
  EXPECT_TRUE(t.has_security_groups);
  ASSERT_EQ(t.security_groups.size(), 2u);

  const SecurityGroupSpec* web = t.find_group("web");
  ASSERT_NE(web, nullptr);
  EXPECT_EQ(web, &t.security_groups[0]);
  EXPECT_EQ(web->description, "HTTP in, anything out");
  EXPECT_EQ(web->line, 13);
  EXPECT_EQ(web->col, 5);
  ASSERT_EQ(web->rules.size(), 5u);
  EXPECT_EQ(web->rules[0], with_id(rule({{"direction", "ingress"}, {"protocol", "tcp"}, {"port", "80"}}), 1));
  EXPECT_EQ(web->rules[1], with_id(rule({{"direction", "ingress"}, {"protocol", "tcp"}, {"port", "8000-8010"},
                                         {"remote_ip", "10.0.0.0/24"}}),
                                   2));
  EXPECT_EQ(web->rules[2], with_id(rule({{"direction", "ingress"}, {"protocol", "icmp"}, {"icmp_type", "8"},
                                         {"remote_group", "web"}}),
                                   3));
  auto v4 = default_sg_rules()[0];
  v4.id = 4;
  EXPECT_EQ(web->rules[3], v4);
  auto v6 = default_sg_rules()[1];
  v6.id = 5;
  EXPECT_EQ(web->rules[4], v6);

  const SecurityGroupSpec* ssh = t.find_group("ssh");
  ASSERT_NE(ssh, nullptr);
  EXPECT_EQ(ssh->description, "");
  ASSERT_EQ(ssh->rules.size(), 3u);
  EXPECT_EQ(ssh->rules[0].id, 10u);
  EXPECT_EQ(ssh->rules[0].remote_group, "web");
  EXPECT_EQ(ssh->rules[1].id, 11u);  // the next after the highest so far
  EXPECT_EQ(ssh->rules[1].remote_ip, "fd00::/64");
  EXPECT_EQ(ssh->rules[1].ethertype, SgEtherType::kIpv6);
  EXPECT_EQ(ssh->rules[2].id, 3u);
  EXPECT_EQ(ssh->rules[2].protocol, kProtoIcmpv6);
  EXPECT_EQ(ssh->rules[2].icmp_code, 0);
  EXPECT_EQ(t.find_group("nope"), nullptr);

  const PortSpec* p1 = t.find_port("p1");
  ASSERT_NE(p1, nullptr);
  EXPECT_EQ(p1->security.groups, (std::vector<std::string>{"web", "ssh"}));
  EXPECT_TRUE(p1->security.port_security);
  EXPECT_EQ(p1->security.allowed, (std::vector<AllowedAddress>{{"52:54:00:00:00:01", "10.0.0.5/32"},
                                                                {"", "10.0.1.0/24"},
                                                                {"52:54:00:00:00:02", "fd00::/64"}}));
  // Comma-separated scalars, trimmed, in their order.
  const PortSpec* p2 = t.find_port("p2");
  ASSERT_NE(p2, nullptr);
  EXPECT_EQ(p2->security.groups, (std::vector<std::string>{"ssh", "web"}));
  EXPECT_FALSE(p2->security.port_security);
  EXPECT_EQ(p2->security.allowed, (std::vector<AllowedAddress>{{"", "10.0.0.7/32"}, {"", "fd00::7/128"}}));
  // An empty scalar: no groups.
  const PortSpec* p3 = t.find_port("p3");
  ASSERT_NE(p3, nullptr);
  EXPECT_TRUE(p3->security.empty());
  EXPECT_TRUE(t.find_port("p4")->security.empty());
  // A single scalar; a hub's port too; yes is true.
  const PortSpec* h1 = t.find_port("h1");
  ASSERT_NE(h1, nullptr);
  EXPECT_EQ(h1->security.groups, (std::vector<std::string>{"web"}));
  EXPECT_TRUE(h1->security.port_security);
}

TEST(TopologySg, HasSecurityGroupsOnlyWithTheSection) {
  EXPECT_FALSE(good("bridges: []\n").has_security_groups);
  const Topology empty = good("bridges: []\nsecurity_groups: []\n");
  EXPECT_TRUE(empty.has_security_groups);
  EXPECT_TRUE(empty.security_groups.empty());
  const Topology one = good("bridges: []\nsecurity_groups:\n  - name: g\n");
  EXPECT_TRUE(one.has_security_groups);
  ASSERT_EQ(one.security_groups.size(), 1u);
  EXPECT_TRUE(one.security_groups[0].rules.empty());  // a file's group has the rules it lists, no defaults
  EXPECT_TRUE(good("bridges: []\nsecurity_groups:\n  - {name: g, rules: []}\n").security_groups[0].rules.empty());
}

TEST(TopologySg, PortKeysAsListsOrScalars) {
  auto port = [](const std::string& keys) {
    // Block style: a plain scalar may hold commas.
    const std::string yaml = "bridges:\n  - name: b\n    ports:\n      - name: p\n        type: system\n        " +
                             keys + "\nsecurity_groups: [{name: a}, {name: b}, {name: c}]\n";
    auto t = parse_topology(yaml, "t.yaml", "/");
    EXPECT_TRUE(t.ok()) << keys << ": " << t.error().message;
    return t.ok() ? t->bridges[0].ports[0].security : PortSecurity{};
  };
  const std::vector<std::string> abc{"a", "b", "c"};
  EXPECT_EQ(port("security_groups: [a, b, c]").groups, abc);
  EXPECT_EQ(port("security_groups: [' a ', 'b', c]").groups, abc);
  EXPECT_EQ(port("security_groups: a,b,c").groups, abc);
  EXPECT_EQ(port("security_groups: 'a, b ,c'").groups, abc);
  EXPECT_EQ(port("security_groups: c").groups, (std::vector<std::string>{"c"}));
  EXPECT_TRUE(port("security_groups: []").groups.empty());
  EXPECT_TRUE(port("security_groups: ''").groups.empty());
  EXPECT_TRUE(port("security_groups: '  '").groups.empty());
  EXPECT_TRUE(port("allowed_addresses: ''").allowed.empty());
  EXPECT_TRUE(port("allowed_addresses: []").allowed.empty());
  EXPECT_EQ(port("allowed_addresses: '10.0.0.1,10.0.0.2'").allowed,
            (std::vector<AllowedAddress>{{"", "10.0.0.1/32"}, {"", "10.0.0.2/32"}}));
  EXPECT_EQ(port("allowed_addresses: [10.0.0.1, 10.0.0.2]").allowed,
            (std::vector<AllowedAddress>{{"", "10.0.0.1/32"}, {"", "10.0.0.2/32"}}));
  EXPECT_TRUE(port("port_security: true").port_security);
  EXPECT_TRUE(port("port_security: yes").port_security);
  EXPECT_FALSE(port("port_security: false").port_security);
  EXPECT_FALSE(port("port_security: no").port_security);
}

// ------------------------------------------------------------ errors

TEST(TopologySg, GroupErrorsNameFileLineAndColumn) {
  EXPECT_EQ(error_of("bridges: []\nsecurity_groups:\n  - name: web\n    rulez: []\n"),
            "t.yaml:4:5: security group 'web': unknown key 'rulez' in a security group (known: name, description, rules)");
  EXPECT_EQ(error_of("bridges: []\nsecurity_groups: web\n"), "t.yaml:2:18: 'security_groups' must be a list");
  EXPECT_EQ(error_of("bridges: []\nsecurity_groups:\n  - web\n"), "t.yaml:3:5: a security group must be a mapping");
  EXPECT_EQ(error_of("bridges: []\nsecurity_groups:\n  - {description: x}\n"),
            "t.yaml:3:5: a security group needs a 'name'");
  EXPECT_EQ(error_of("bridges: []\nsecurity_groups:\n  - {name: 'no good'}\n"),
            "t.yaml:3:12: security group 'no good': name 'no good' may only hold letters, digits, '-', '_' and '.'");
  EXPECT_EQ(error_of("bridges: []\nsecurity_groups:\n  - {name: web, rules: {direction: ingress}}\n"),
            "t.yaml:3:24: security group 'web': 'rules' must be a list");
  EXPECT_EQ(error_of("bridges: []\nsecurity_groups:\n  - {name: web, rules: [ingress]}\n"),
            "t.yaml:3:25: security group 'web': a rule must be a mapping");
  EXPECT_EQ(error_of("bridges: []\nsecurity_groups:\n  - {name: web, rules: [{direction: [ingress]}]}\n"),
            "t.yaml:3:37: security group 'web': 'direction' must be a scalar");
  EXPECT_EQ(error_of("bridges: []\nsecurity_groups:\n  - {name: web, name: web2}\n"),
            "t.yaml:3:17: security group 'web': duplicate key 'name' in a security group");
}

TEST(TopologySg, ABadRuleIsNamedByItsNumber) {
  const std::string yaml =
      "bridges: []\n"
      "security_groups:\n"
      "  - name: web\n"
      "    rules:\n"
      "      - {direction: ingress, protocol: tcp, port: 80}\n"
      "      - {direction: ingress, protocol: tcp, port: 80-70}\n";
  EXPECT_EQ(error_of(yaml), "t.yaml:6:9: security group 'web': rule 2: port range '80-70' ends before it starts");
  EXPECT_EQ(error_of("bridges: []\nsecurity_groups:\n  - name: web\n    rules:\n      - {protocol: tcp}\n"),
            "t.yaml:5:9: security group 'web': rule 1: a rule needs a direction (ingress or egress)");
  EXPECT_EQ(error_of("bridges: []\nsecurity_groups:\n  - name: web\n    rules:\n      - {direction: egress}\n"
                     "      - {direction: egress}\n      - {direction: egress, colour: red}\n"),
            "t.yaml:7:9: security group 'web': rule 3: 'colour' is not a rule key (direction, ethertype, protocol, "
            "port, icmp_type, icmp_code, remote_ip, remote_group)");
  EXPECT_EQ(error_of("bridges: []\nsecurity_groups:\n  - name: web\n    rules:\n"
                     "      - {direction: ingress, remote_ip: 10.0.0.0/8, remote_group: web}\n"),
            "t.yaml:5:9: security group 'web': rule 1: give remote_ip or remote_group, not both");
}

TEST(TopologySg, DuplicateRuleIds) {
  EXPECT_EQ(error_of("bridges: []\nsecurity_groups:\n  - name: web\n    rules:\n"
                     "      - {id: 4, direction: egress}\n"
                     "      - {id: 4, direction: ingress}\n"),
            "t.yaml:6:9: security group 'web': rule id 4 is used twice");
  // An id given after an assigned one.
  EXPECT_EQ(error_of("bridges: []\nsecurity_groups:\n  - name: web\n    rules:\n"
                     "      - {direction: egress}\n"
                     "      - {direction: egress, ethertype: ipv6}\n"
                     "      - {id: 2, direction: ingress}\n"
                     "      - {id: 2, direction: ingress, protocol: tcp}\n"),
            "t.yaml:8:9: security group 'web': rule id 2 is used twice");
}

TEST(TopologySg, DuplicateGroupNames) {
  EXPECT_EQ(error_of("bridges: []\nsecurity_groups:\n  - name: web\n  - name: ssh\n  - name: web\n"),
            "t.yaml:5:5: duplicate security group name 'web'");
}

TEST(TopologySg, MissingGroups) {
  EXPECT_EQ(error_of("bridges:\n  - name: br0\n    ports:\n      - {name: p1, type: system, security_groups: [web, db]}\n"
                     "security_groups:\n  - name: web\n"),
            "t.yaml:4:9: bridge 'br0': port 'p1': security group 'db' does not exist");
  // Without any section.
  EXPECT_EQ(error_of("bridges:\n  - name: br0\n    ports:\n      - {name: p1, type: system, security_groups: web}\n"),
            "t.yaml:4:9: bridge 'br0': port 'p1': security group 'web' does not exist");
  EXPECT_EQ(error_of("bridges: []\nsecurity_groups:\n  - name: web\n    rules:\n"
                     "      - {direction: egress}\n"
                     "      - {direction: ingress, remote_group: db}\n"),
            "t.yaml:3:5: security group 'web': rule 2: remote_group 'db' does not exist");
}

TEST(TopologySg, PortSecurityErrors) {
  auto port_error = [](const std::string& keys) {
    return error_of("bridges:\n  - name: br0\n    ports:\n      - {name: p1, type: system, " + keys +
                    "}\nsecurity_groups: [{name: web}, {name: ssh}]\n");
  };
  EXPECT_EQ(port_error("security_groups: [web, ssh, web]"),
            "t.yaml:4:51: bridge 'br0': port 'p1': security group 'web' is listed twice");
  EXPECT_EQ(port_error("security_groups: 'web,web'"),
            "t.yaml:4:51: bridge 'br0': port 'p1': security group 'web' is listed twice");
  EXPECT_EQ(port_error("security_groups: 'web,,ssh'"),
            "t.yaml:4:51: bridge 'br0': port 'p1': 'security_groups' has an empty item");
  EXPECT_EQ(port_error("security_groups: [web, '']"),
            "t.yaml:4:51: bridge 'br0': port 'p1': 'security_groups' has an empty item");
  EXPECT_EQ(port_error("security_groups: {web: 1}"),
            "t.yaml:4:51: bridge 'br0': port 'p1': 'security_groups' must be a scalar");
  EXPECT_EQ(port_error("port_security: maybe"),
            "t.yaml:4:49: bridge 'br0': port 'p1': port_security 'maybe' must be true or false");
  EXPECT_EQ(port_error("allowed_addresses: ['10.0.0.1', '01:00:5e:00:00:01:10.0.0.2']"),
            "t.yaml:4:53: bridge 'br0': port 'p1': allowed address '01:00:5e:00:00:01:10.0.0.2': 01:00:5e:00:00:01 is "
            "not a unicast MAC");
  EXPECT_EQ(port_error("allowed_addresses: 'garbage'"),
            "t.yaml:4:53: bridge 'br0': port 'p1': allowed address 'garbage' is not MAC:IP, MAC:CIDR, IP or CIDR");
  EXPECT_EQ(port_error("port_security: true, allowed_addresses: ['10.0.0.1', 10.0.1.0/24]"),
            "t.yaml:4:9: bridge 'br0': port 'p1': allowed address '10.0.0.1/32' has no MAC and the port has no "
            "endpoint whose MAC kvnet knows: write it as MAC:10.0.0.1/32");
  EXPECT_EQ(port_error("port_security: true, allowed_addresses: ['10.0.0.1', '52:54:00:00:00:01:10.0.0.2']"), "<ok>");
}

TEST(TopologySg, ErrorsWithoutAFileHaveNoLocation) {
  auto r = parse_topology("bridges: []\nsecurity_groups:\n  - name: web\n  - name: web\n", "", "/");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "duplicate security group name 'web'");
}

// ------------------------------------------------------------ rule ids

std::vector<uint32_t> ids(const std::string& rules) {
  auto t = parse_topology("bridges: []\nsecurity_groups:\n  - name: g\n    rules:\n" + rules, "t.yaml", "/");
  EXPECT_TRUE(t.ok()) << t.error().message;
  std::vector<uint32_t> out;
  if (t.ok())
    for (const auto& r : t->security_groups[0].rules) out.push_back(r.id);
  return out;
}

TEST(TopologySg, RuleIdsAreKeptOrAssigned) {
  const std::string e4 = "      - {direction: egress}\n";
  const std::string e6 = "      - {direction: egress, ethertype: ipv6}\n";
  const std::string in = "      - {direction: ingress}\n";
  EXPECT_EQ(ids(e4 + e6 + in), (std::vector<uint32_t>{1, 2, 3}));
  // Kept as given, in the file's order.
  EXPECT_EQ(ids("      - {id: 7, direction: egress}\n      - {id: 2, direction: ingress}\n"),
            (std::vector<uint32_t>{7, 2}));
  // The next after the highest so far.
  EXPECT_EQ(ids("      - {id: 5, direction: egress}\n" + e6 + in), (std::vector<uint32_t>{5, 6, 7}));
  EXPECT_EQ(ids(e4 + "      - {id: 9, direction: ingress}\n" + e6), (std::vector<uint32_t>{1, 9, 10}));
  EXPECT_EQ(ids(e4 + e6 + "      - {id: 1000000, direction: ingress}\n"), (std::vector<uint32_t>{1, 2, 1000000}));
}

TEST(TopologySg, AnAssignedIdSkipsIdsTheFileGivesLater) {
  // A rule without an id, then one with id 1: the file uses id 1 once, so it
  // is valid; the first rule takes the next id free.
  EXPECT_EQ(ids("      - {direction: egress}\n      - {id: 1, direction: ingress}\n"),
            (std::vector<uint32_t>{2, 1}));
  EXPECT_EQ(ids("      - {direction: egress}\n      - {direction: egress, ethertype: ipv6}\n"
                "      - {id: 2, direction: ingress}\n      - {direction: ingress, protocol: tcp}\n"),
            (std::vector<uint32_t>{1, 3, 2, 4}));
  EXPECT_EQ(ids("      - {direction: egress}\n      - {id: 1, direction: ingress}\n      - {id: 2, direction: ingress, "
                "protocol: tcp}\n"),
            (std::vector<uint32_t>{3, 1, 2}));
}

TEST(TopologySg, AssignedIdsStayInRange) {
  // Ids are 1-1000000: after the highest possible one, the lowest free id.
  EXPECT_EQ(ids("      - {id: 1000000, direction: egress}\n      - {direction: ingress}\n"
                "      - {direction: ingress, protocol: tcp}\n"),
            (std::vector<uint32_t>{1000000, 1, 2}));
  EXPECT_EQ(ids("      - {id: 1, direction: egress}\n      - {id: 1000000, direction: egress, ethertype: ipv6}\n"
                "      - {direction: ingress}\n"),
            (std::vector<uint32_t>{1, 1000000, 2}));
  // What was assigned is written back and read again.
  auto t = parse_topology("bridges: []\nsecurity_groups:\n  - name: g\n    rules:\n"
                          "      - {id: 1000000, direction: egress}\n      - {direction: ingress}\n",
                          "t.yaml", "/");
  ASSERT_TRUE(t.ok()) << t.error().message;
  auto back = parse_sg(sg_to_yaml(t->security_groups[0]));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(*back, t->security_groups[0]);
  auto again = parse_topology(to_yaml(*t), "", "/");
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(again->security_groups, t->security_groups);
}

TEST(TopologySg, NextRuleIdStaysInRange) {
  SecurityGroupSpec g;
  g.rules = default_sg_rules();
  g.rules[1].id = 1000000;
  EXPECT_EQ(g.next_rule_id(), 2u);
  g.rules[0].id = 2;
  EXPECT_EQ(g.next_rule_id(), 1u);
  g.rules[0].id = 999999;
  EXPECT_EQ(g.next_rule_id(), 1u);
  g.rules[1].id = 999999 - 1;
  EXPECT_EQ(g.next_rule_id(), 1000000u);
}

// ------------------------------------------------------------ writing

void expect_same_security(const Topology& a, const Topology& b) {
  ASSERT_EQ(a.security_groups.size(), b.security_groups.size());
  for (size_t i = 0; i < a.security_groups.size(); ++i) {
    EXPECT_EQ(a.security_groups[i], b.security_groups[i]) << a.security_groups[i].name;
    EXPECT_EQ(a.security_groups[i].name, b.security_groups[i].name);
  }
  ASSERT_EQ(a.bridges.size(), b.bridges.size());
  for (size_t i = 0; i < a.bridges.size(); ++i) {
    ASSERT_EQ(a.bridges[i].ports.size(), b.bridges[i].ports.size());
    for (size_t j = 0; j < a.bridges[i].ports.size(); ++j)
      EXPECT_EQ(a.bridges[i].ports[j].security, b.bridges[i].ports[j].security) << a.bridges[i].ports[j].name;
  }
}

TEST(TopologySg, ToYamlRoundTrip) {
  const Topology t = good(kTopo);
  const std::string yaml = to_yaml(t);
  auto back = parse_topology(yaml, "", "/");
  ASSERT_TRUE(back.ok()) << back.error().message << "\n" << yaml;
  EXPECT_TRUE(back->has_security_groups);
  expect_same_security(t, *back);
  EXPECT_EQ(to_yaml(*back), yaml);
  // What was given is written back in canonical form.
  EXPECT_NE(yaml.find("security_groups: [web, ssh]"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("port_security: true"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("10.0.0.5/32"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("fd00::7/128"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("description: \"HTTP in, anything out\""), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("{id: 3, direction: ingress, ethertype: ipv6, protocol: icmpv6, icmp_type: 135, icmp_code: 0}"),
            std::string::npos)
      << yaml;
  // The defaults are not written.
  EXPECT_EQ(yaml.find("port_security: false"), std::string::npos) << yaml;
  EXPECT_EQ(yaml.find("protocol: any"), std::string::npos) << yaml;
}

TEST(TopologySg, ToYamlRoundTripOfAwkwardValues) {
  // Descriptions YAML would read otherwise, IPv6 that starts with ':', a
  // group with no rules, a protocol number.
  const char* yaml = R"(bridges:
  - name: br0
    ports:
      - {name: p1, type: system, security_groups: [a, b, c], allowed_addresses: ["::1", "52:54:00:00:00:01:::/0", "::ffff:10.0.0.1"]}
security_groups:
  - name: a
    description: "yes"
  - name: b
    description: "a: b, [c] # d \"e\" 'f'"
    rules:
      - {direction: egress, protocol: 47}
      - {direction: egress, protocol: 0}
      - {direction: ingress, protocol: udp, port: "1-65535", remote_ip: "0.0.0.0/0"}
  - name: c
    description: "  spaces  "
    rules: []
)";
  const Topology t = good(yaml);
  ASSERT_EQ(t.security_groups.size(), 3u);
  EXPECT_EQ(t.security_groups[0].description, "yes");
  EXPECT_EQ(t.security_groups[1].description, "a: b, [c] # d \"e\" 'f'");
  EXPECT_EQ(t.security_groups[2].description, "  spaces  ");
  const std::string out = to_yaml(t);
  auto back = parse_topology(out, "", "/");
  ASSERT_TRUE(back.ok()) << back.error().message << "\n" << out;
  expect_same_security(t, *back);
  EXPECT_EQ(to_yaml(*back), out);
}

TEST(TopologySg, NoSectionWrittenWithoutGroups) {
  const Topology t = good("bridges:\n  - name: br0\n    ports:\n      - {name: p1, type: system}\n");
  const std::string yaml = to_yaml(t);
  EXPECT_EQ(yaml.find("security_groups"), std::string::npos) << yaml;
  EXPECT_EQ(yaml.find("port_security"), std::string::npos) << yaml;
  EXPECT_EQ(yaml.find("allowed_addresses"), std::string::npos) << yaml;
}

TEST(TopologySg, PortFieldsCarryTheSecurityKeys) {
  const Topology t = good(kTopo);
  const BridgeSpec* b = nullptr;
  const PortSpec* p1 = t.find_port("p1", &b);
  ASSERT_NE(p1, nullptr);
  Fields sec;
  for (const auto& f : port_fields(*p1, b->type))
    if (f.key == "security_groups" || f.key == "port_security" || f.key == "allowed_addresses") sec.push_back(f);
  EXPECT_EQ(sec, (Fields{{"security_groups", "web,ssh", true},
                         {"port_security", "true"},
                         {"allowed_addresses", "52:54:00:00:00:01:10.0.0.5/32,10.0.1.0/24,52:54:00:00:00:02:fd00::/64",
                          true}}));
  for (const auto& f : port_fields(*t.find_port("p4"), b->type))
    EXPECT_TRUE(f.key != "security_groups" && f.key != "port_security" && f.key != "allowed_addresses") << f.key;
  // The port's own flow map parses back to the same security.
  auto p = parse_port(*b, port_to_yaml(*p1, b->type));
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(p->security, p1->security);
}

TEST(TopologySg, SgToYamlAndBack) {
  const Topology t = good(kTopo);
  for (const auto& g : t.security_groups) {
    const std::string text = sg_to_yaml(g);
    EXPECT_EQ(text.find('\n'), std::string::npos) << text;  // one flow map: one row of the store
    auto back = parse_sg(text);
    ASSERT_TRUE(back.ok()) << back.error().message << "\n" << text;
    EXPECT_EQ(*back, g);
    EXPECT_EQ(back->name, g.name);
    EXPECT_EQ(back->line, 0);
    EXPECT_EQ(back->col, 0);
    EXPECT_EQ(sg_to_yaml(*back), text);
  }
  EXPECT_EQ(sg_to_yaml(SecurityGroupSpec{"g", "", {}, 0, 0}), "{name: g, rules: []}");
  EXPECT_EQ(sg_to_yaml(SecurityGroupSpec{"g", "d", default_sg_rules(), 0, 0}),
            "{name: g, description: \"d\", rules: [{id: 1, direction: egress, ethertype: ipv4}, {id: 2, direction: "
            "egress, ethertype: ipv6}]}");
  SecurityGroupSpec web{"web", "", {with_id(rule({{"direction", "ingress"}, {"protocol", "tcp"}, {"port", "80"}}), 4)}, 0, 0};
  EXPECT_EQ(sg_to_yaml(web), "{name: web, rules: [{id: 4, direction: ingress, ethertype: ipv4, protocol: tcp, port: \"80\"}]}");
}

TEST(TopologySg, ParseSgErrors) {
  auto e = [](const std::string& text) {
    auto g = parse_sg(text);
    return g.ok() ? "<ok>" : g.error().message;
  };
  EXPECT_EQ(e("{name: web, rules: [{direction: up}]}"),
            "security group 'web': rule 1: direction 'up' is not ingress or egress");
  EXPECT_EQ(e("{name: web, colour: red}"),
            "security group 'web': unknown key 'colour' in a security group (known: name, description, rules)");
  EXPECT_EQ(e("[web]"), "a security group must be a mapping");
  EXPECT_EQ(e("{name: web, rules: [{id: 1, direction: egress}, {id: 1, direction: ingress}]}"),
            "security group 'web': rule id 1 is used twice");
  EXPECT_NE(e("{name: web").find("invalid YAML"), std::string::npos);
}

}  // namespace
}  // namespace kvnet::ctl
