// Security groups compiled into datapath policies.
#include "ctl/firewall_build.h"

#include <gtest/gtest.h>

#include "testing.h"

namespace kvnet::ctl {
namespace {

using kvnet::testing::error_of;

constexpr const char* kTopo = R"(
security_groups:
  - name: web
    rules:
      - {direction: ingress, protocol: tcp, port: 80, remote_group: web}
      - {direction: ingress, protocol: icmp, remote_ip: 192.168.0.0/16}
      - {direction: egress, ethertype: ipv4}
bridges:
  - name: br0
    ports:
      - {name: a, type: system, security_groups: [web], port_security: true, allowed_addresses: ["10.0.9.0/24"]}
      - {name: b, type: system, security_groups: [web], allowed_addresses: ["02:00:00:00:00:bb:10.0.7.7"]}
      - {name: c, type: system}
containers:
  - {name: ca, bridge: br0, port: a, ip: 10.0.0.1/24, mac: "52:54:00:00:00:0a"}
  - {name: cb, bridge: br0, port: b, ip: 10.0.0.2/24}
  - {name: cc, bridge: br0, port: c, ip: 10.0.0.3/24}
)";

Topology topo(const std::string& yaml = kTopo) {
  auto t = parse_topology(yaml, "", "/");
  EXPECT_TRUE(t) << (t ? "" : t.error().message);
  return t ? *t : Topology{};
}

TEST(FirewallBuild, RemoteGroupsBecomeTheirMembersAddresses) {
  const Topology t = topo();
  auto fw = build_firewall(t, "a");
  ASSERT_NE(fw, nullptr);
  EXPECT_TRUE(fw->filtered);
  ASSERT_EQ(fw->rules.size(), 3u);
  std::vector<std::string> remotes;
  for (const auto& r : fw->rules[0].remotes) remotes.push_back(r.str());
  // a: its container's address and allowed network; b: its container's and its allowed address.
  EXPECT_EQ(remotes, (std::vector<std::string>{"10.0.0.1/32", "10.0.9.0/24", "10.0.0.2/32", "10.0.7.7/32"}));
  EXPECT_FALSE(fw->rules[0].any_remote);
  EXPECT_EQ(fw->rules[1].remotes.at(0).str(), "192.168.0.0/16");
  EXPECT_TRUE(fw->rules[2].any_remote);
  EXPECT_EQ(build_firewall(t, "c"), nullptr);  // neither filtered nor secured
}

TEST(FirewallBuild, RemoteMembersOfAClusterJoinTheGroup) {
  Topology before = topo();
  Topology t = before;
  t.remote_members["web"] = {"10.0.5.5", "fd00::5", "not an address"};
  t.remote_members["other"] = {"10.0.6.6"};
  auto fw = build_firewall(t, "a");
  ASSERT_NE(fw, nullptr);
  std::vector<std::string> remotes;
  for (const auto& r : fw->rules[0].remotes) remotes.push_back(r.str());
  // IPv4 rule: the local members, then the other hosts' IPv4 ones (the IPv6
  // one goes to IPv6 rules; a group this rule does not name adds nothing).
  EXPECT_EQ(remotes, (std::vector<std::string>{"10.0.0.1/32", "10.0.9.0/24", "10.0.0.2/32", "10.0.7.7/32", "10.0.5.5/32"}));
  // Both ports naming web are affected; c is not.
  EXPECT_EQ(affected_ports(before, t), (std::set<std::string>{"a", "b"}));
}

TEST(FirewallBuild, PortSecuritySourcesUseTheEndpointMac) {
  const Topology t = topo();
  auto fw = build_firewall(t, "a");
  ASSERT_TRUE(fw->port_security);
  ASSERT_EQ(fw->sources.size(), 3u);
  EXPECT_EQ(fw->sources[0].mac, 0x52540000000aULL);
  EXPECT_EQ(fw->sources[0].prefix.str(), "10.0.0.1/32");
  EXPECT_EQ(fw->sources[1].prefix.str(), "10.0.9.0/24");
  // and the MAC's own link-local address, no other fe80:: one
  EXPECT_EQ(fw->sources[2].mac, 0x52540000000aULL);
  EXPECT_EQ(fw->sources[2].prefix.str(), "fe80::5054:ff:fe00:a/128");
  EXPECT_FALSE(build_firewall(t, "b")->port_security);
}

TEST(FirewallBuild, PortSecurityOnAContainerWithoutMacUsesTheMacKvnetGivesIt) {
  // Container cb has no `mac`: its veth gets container_mac(cb); its own
  // address goes with that MAC, a MAC:IP entry with the MAC it names.
  std::string y = kTopo;
  y.replace(y.find("{name: b, type: system,"), 23, "{name: b, type: system, port_security: true,");
  auto t = parse_topology(y, "", "/");
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(endpoint_mac(*t, "b"), "02:07:b5:4a:11:b0");
  auto fw = build_firewall(*t, "b");
  ASSERT_TRUE(fw->port_security);
  // Each MAC's own link-local address (EUI-64) comes after the addresses.
  ASSERT_EQ(fw->sources.size(), 4u);
  EXPECT_EQ(fw->sources[0].mac, 0x0207b54a11b0ULL);
  EXPECT_EQ(fw->sources[0].prefix.str(), "10.0.0.2/32");
  EXPECT_EQ(fw->sources[1].mac, 0x0200000000bbULL);
  EXPECT_EQ(fw->sources[1].prefix.str(), "10.0.7.7/32");
  EXPECT_EQ(fw->sources[2].prefix.str(), "fe80::7:b5ff:fe4a:11b0/128");
  EXPECT_EQ(fw->sources[3].prefix.str(), "fe80::ff:fe00:bb/128");
  // Without any address: the MAC alone (a DHCP client's 0.0.0.0).
  y.replace(y.find("ip: 10.0.0.2/24"), 15, "ip: dhcp");
  const std::string allowed = ", allowed_addresses: [\"02:00:00:00:00:bb:10.0.7.7\"]";
  y.replace(y.find(allowed), allowed.size(), "");
  auto d = parse_topology(y, "", "/");
  ASSERT_TRUE(d) << d.error().message;
  fw = build_firewall(*d, "b");
  ASSERT_EQ(fw->sources.size(), 2u);
  EXPECT_EQ(fw->sources[0].mac, 0x0207b54a11b0ULL);
  EXPECT_EQ(fw->sources[0].prefix.str(), "0.0.0.0/32");
  EXPECT_EQ(fw->sources[1].prefix.str(), "fe80::7:b5ff:fe4a:11b0/128");
}

TEST(FirewallBuild, MembershipChangesAffectEveryPortNamingTheGroup) {
  const Topology before = topo();
  Topology after = before;
  for (auto& c : after.containers)
    if (c.name == "cb") c.ip = "10.0.0.22/24";
  const auto hit = affected_ports(before, after);
  EXPECT_EQ(hit, (std::set<std::string>{"a", "b"}));  // both name `web` in a remote_group rule
  EXPECT_TRUE(affected_ports(before, before).empty());
}

}  // namespace
}  // namespace kvnet::ctl
