// plan(current, next) for security groups ('+ sg', '- sg', '~ sg') and for
// ports whose security settings changed (in place, '~ port').
#include <gtest/gtest.h>

#include "ctl/plan.h"

namespace kvnet::ctl {
namespace {

Topology topo(const std::string& yaml) {
  auto t = parse_topology(yaml, "", "/", ParseOptions{.allow_dangling_patches = true});
  EXPECT_TRUE(t.ok()) << t.error().message;
  return t.ok() ? *t : Topology{};
}

std::string replace(std::string s, const std::string& from, const std::string& to) {
  const auto at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return at == std::string::npos ? s : s.replace(at, from.size(), to);
}

const std::string kSsh = "  - name: ssh\n    rules:\n      - {direction: ingress, protocol: tcp, port: 22}\n";

const std::string kBase = R"(bridges:
  - name: br0
    ports:
      - {name: p1, type: system, security_groups: [web]}
      - {name: t1, type: tap, vlan_mode: access, pvid: 10}
      - {name: p2, type: system}
security_groups:
  - name: web
    description: HTTP
    rules:
      - {direction: ingress, protocol: tcp, port: 80}
      - {direction: egress}
  - name: ssh
    rules:
      - {direction: ingress, protocol: tcp, port: 22}
)";

using Lines = std::vector<std::string>;
using Names = std::vector<std::string>;

// Nothing but the groups changed.
void expect_no_port_work(const Plan& p) {
  EXPECT_TRUE(p.bridges_added.empty() && p.bridges_removed.empty() && p.bridges_changed.empty());
  EXPECT_TRUE(p.ports_added.empty() && p.ports_removed.empty() && p.ports_reconfigured.empty());
  EXPECT_TRUE(p.fdb_added.empty() && p.fdb_removed.empty());
  EXPECT_TRUE(p.containers_added.empty() && p.containers_removed.empty());
  EXPECT_TRUE(p.vms_added.empty() && p.vms_removed.empty() && p.vms_changed.empty());
}

TEST(PlanSg, SameGroupsNoChange) {
  const Topology t = topo(kBase);
  EXPECT_TRUE(plan(t, t).empty());
  // Where a group is written is no change.
  const Topology moved = topo("\n\n" + kBase);
  ASSERT_NE(moved.security_groups[0].line, t.security_groups[0].line);
  const Plan p = plan(t, moved);
  EXPECT_TRUE(p.empty()) << ::testing::PrintToString(p.text());
  EXPECT_TRUE(p.groups_changed.empty());
}

TEST(PlanSg, FromNothingAndToNothing) {
  Plan p = plan(Topology{}, topo(kBase));
  EXPECT_EQ(p.text(), (Lines{"+ bridge br0", "+ port br0/p1", "+ port br0/t1", "+ port br0/p2", "+ sg web", "+ sg ssh"}));
  EXPECT_EQ(p.groups_added, (Names{"web", "ssh"}));
  EXPECT_TRUE(p.groups_removed.empty() && p.groups_changed.empty());

  p = plan(topo(kBase), Topology{});
  EXPECT_EQ(p.text(), (Lines{"- port br0/p1", "- port br0/t1", "- port br0/p2", "- bridge br0", "- sg web", "- sg ssh"}));
  EXPECT_EQ(p.groups_removed, (Names{"web", "ssh"}));
  EXPECT_TRUE(p.groups_added.empty() && p.groups_changed.empty());
}

TEST(PlanSg, AddedGroup) {
  const Plan p = plan(topo(kBase), topo(kBase + "  - name: db\n    description: PostgreSQL\n"));
  EXPECT_EQ(p.text(), (Lines{"+ sg db"}));
  EXPECT_EQ(p.groups_added, (Names{"db"}));
  EXPECT_TRUE(p.groups_removed.empty() && p.groups_changed.empty());
  expect_no_port_work(p);
}

TEST(PlanSg, RemovedGroup) {
  const Plan p = plan(topo(kBase), topo(replace(kBase, kSsh, "")));
  EXPECT_EQ(p.text(), (Lines{"- sg ssh"}));
  EXPECT_EQ(p.groups_removed, (Names{"ssh"}));
  EXPECT_TRUE(p.groups_added.empty() && p.groups_changed.empty());
  expect_no_port_work(p);
}

TEST(PlanSg, ChangedDescription) {
  Plan p = plan(topo(kBase), topo(replace(kBase, "description: HTTP", "description: HTTPS")));
  EXPECT_EQ(p.text(), (Lines{"~ sg web description HTTP->HTTPS"}));
  EXPECT_EQ(p.groups_changed, (Names{"web"}));
  EXPECT_TRUE(p.groups_added.empty() && p.groups_removed.empty());
  expect_no_port_work(p);

  p = plan(topo(kBase), topo(replace(kBase, "    description: HTTP\n", "")));
  EXPECT_EQ(p.text(), (Lines{"~ sg web description HTTP->(none)"}));
  p = plan(topo(kBase), topo(replace(kBase, "  - name: ssh\n", "  - name: ssh\n    description: SSH from web\n")));
  EXPECT_EQ(p.text(), (Lines{"~ sg ssh description (none)->SSH from web"}));
}

TEST(PlanSg, ChangedRulesListThemAsTheyWereAndAre) {
  Plan p = plan(topo(kBase), topo(replace(kBase, "port: 80}", "port: 443}")));
  EXPECT_EQ(p.text(), (Lines{"~ sg web rules 1: ingress ipv4 tcp port 80; 2: egress ipv4 any->"
                             "1: ingress ipv4 tcp port 443; 2: egress ipv4 any"}));
  EXPECT_EQ(p.groups_changed, (Names{"web"}));
  expect_no_port_work(p);

  // A rule added.
  p = plan(topo(kBase), topo(replace(kBase, "port: 22}\n", "port: 22}\n      - {direction: ingress, ethertype: ipv6, "
                                                           "protocol: icmpv6, remote_group: web}\n")));
  EXPECT_EQ(p.text(), (Lines{"~ sg ssh rules 1: ingress ipv4 tcp port 22->1: ingress ipv4 tcp port 22; "
                             "2: ingress ipv6 icmpv6 remote_group web"}));
  // All rules removed.
  p = plan(topo(kBase), topo(replace(kBase, "    rules:\n      - {direction: ingress, protocol: tcp, port: 22}\n",
                                      "    rules: []\n")));
  EXPECT_EQ(p.text(), (Lines{"~ sg ssh rules 1: ingress ipv4 tcp port 22->(none)"}));
  // Only an id changed.
  p = plan(topo(kBase), topo(replace(kBase, "{direction: ingress, protocol: tcp, port: 22}",
                                      "{id: 5, direction: ingress, protocol: tcp, port: 22}")));
  EXPECT_EQ(p.text(), (Lines{"~ sg ssh rules 1: ingress ipv4 tcp port 22->5: ingress ipv4 tcp port 22"}));
  // Description and rules together: description first.
  p = plan(topo(kBase), topo(replace(replace(kBase, "description: HTTP", "description: Web"), "{direction: egress}",
                                     "{direction: egress, ethertype: ipv6}")));
  EXPECT_EQ(p.text(), (Lines{"~ sg web description HTTP->Web rules 1: ingress ipv4 tcp port 80; 2: egress ipv4 any->"
                             "1: ingress ipv4 tcp port 80; 2: egress ipv6 any"}));
  EXPECT_EQ(p.groups_changed, (Names{"web"}));
}

TEST(PlanSg, RemovedThenChangedThenAdded) {
  std::string next = replace(kBase, kSsh, "");
  next = replace(next, "description: HTTP", "description: Web");
  next += "  - name: db\n";
  const Plan p = plan(topo(kBase), topo(next));
  EXPECT_EQ(p.text(), (Lines{"- sg ssh", "~ sg web description HTTP->Web", "+ sg db"}));
  EXPECT_EQ(p.groups_removed, (Names{"ssh"}));
  EXPECT_EQ(p.groups_changed, (Names{"web"}));
  EXPECT_EQ(p.groups_added, (Names{"db"}));
}

TEST(PlanSg, PortWhoseGroupsChangedIsReconfiguredInPlace) {
  const Plan p = plan(topo(kBase), topo(replace(kBase, "security_groups: [web]", "security_groups: [web, ssh]")));
  EXPECT_EQ(p.text(), (Lines{"~ port br0/p1 security_groups web->web,ssh"}));
  EXPECT_EQ(p.ports_reconfigured, (std::vector<PortRef>{{"br0", "p1"}}));
  EXPECT_TRUE(p.ports_added.empty());
  EXPECT_TRUE(p.ports_removed.empty());
  EXPECT_TRUE(p.groups_added.empty() && p.groups_removed.empty() && p.groups_changed.empty());
}

TEST(PlanSg, PortGroupsRemovedAndAdded) {
  Plan p = plan(topo(kBase), topo(replace(kBase, ", security_groups: [web]", "")));
  EXPECT_EQ(p.text(), (Lines{"~ port br0/p1 security_groups web->(none)"}));
  EXPECT_EQ(p.ports_reconfigured, (std::vector<PortRef>{{"br0", "p1"}}));
  EXPECT_TRUE(p.ports_added.empty() && p.ports_removed.empty());

  p = plan(topo(kBase), topo(replace(kBase, "{name: p2, type: system}", "{name: p2, type: system, security_groups: ssh}")));
  EXPECT_EQ(p.text(), (Lines{"~ port br0/p2 security_groups (none)->ssh"}));
  EXPECT_EQ(p.ports_reconfigured, (std::vector<PortRef>{{"br0", "p2"}}));
  EXPECT_TRUE(p.ports_added.empty() && p.ports_removed.empty());
}

TEST(PlanSg, PortSecurityOfATapIsReconfiguredInPlace) {
  // A tap's backend depends on its options; its security is not one of them.
  const Plan p = plan(topo(kBase), topo(replace(kBase, "{name: t1, type: tap,",
                                                "{name: t1, type: tap, port_security: true, allowed_addresses: "
                                                "['52:54:00:00:00:01:10.0.0.5', '52:54:00:00:00:01:fd00::/64'], security_groups: ssh,")));
  EXPECT_EQ(p.text(), (Lines{"~ port br0/t1 security_groups (none)->ssh port_security (none)->true allowed_addresses "
                             "(none)->52:54:00:00:00:01:10.0.0.5/32,52:54:00:00:00:01:fd00::/64"}));
  EXPECT_EQ(p.ports_reconfigured, (std::vector<PortRef>{{"br0", "t1"}}));
  EXPECT_TRUE(p.ports_added.empty() && p.ports_removed.empty());
}

TEST(PlanSg, AGroupChangeDoesNotTouchThePortsUsingIt) {
  // The rules reach the datapath with the ports; the plan lists the group only.
  const Plan p = plan(topo(kBase), topo(replace(kBase, "port: 80}", "port: 8080}")));
  EXPECT_EQ(p.lines.size(), 1u);
  EXPECT_EQ(p.lines[0].op, '~');
  EXPECT_EQ(p.lines[0].what, "sg");
  EXPECT_EQ(p.lines[0].object, "web");
  ASSERT_EQ(p.lines[0].keys.size(), 1u);
  EXPECT_EQ(p.lines[0].keys[0].key, "rules");
  expect_no_port_work(p);
}

TEST(PlanSg, NewPortWithNewGroup) {
  const Plan p = plan(topo(kBase), topo(replace(kBase, "      - {name: p2, type: system}\n",
                                                "      - {name: p2, type: system}\n"
                                                "      - {name: p3, type: system, security_groups: db}\n") +
                                        "  - name: db\n"));
  EXPECT_EQ(p.text(), (Lines{"+ port br0/p3", "+ sg db"}));
  EXPECT_EQ(p.ports_added, (std::vector<PortRef>{{"br0", "p3"}}));
  EXPECT_EQ(p.groups_added, (Names{"db"}));
}

}  // namespace
}  // namespace kvnet::ctl
