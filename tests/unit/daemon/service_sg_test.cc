// kvnetd's security group verbs through Service::handle: groups and rules go
// through the one configuration path (validate, plan, apply, store), every
// refusal changes nothing, and ports use groups through their own keys.
// As service_test.cc: a fake opener, a real SQLite store in a temp dir, the
// datapath inline.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "daemon/service.h"
#include "daemon/service_fixture.h"
#include "testing.h"

namespace kvnet::daemon {
using namespace kvnet::ctl;
namespace {

namespace fs = std::filesystem;

class ServiceSgTest : public ServiceFixture {
 protected:
  // A refused request: its error, and nothing changed (export, groups, datapath).
  std::string refused(const json& req) {
    const std::string before = exported();
    const auto groups = config().security_groups;
    const int opened = opens_;
    const std::string e = err(req);
    EXPECT_EQ(exported(), before) << req.dump();
    EXPECT_EQ(config().security_groups, groups) << req.dump();
    EXPECT_EQ(opens_, opened) << req.dump();
    return e;
  }

  json sg_add(const std::string& name, const std::string& description = "") {
    json req = {{"cmd", "sg-add"}, {"name", name}};
    if (!description.empty()) req["description"] = description;
    return ok(req);
  }
  json rule_add(const std::string& group, const json& options) {
    return ok({{"cmd", "sg-rule-add"}, {"name", group}, {"options", options}});
  }
  json show(const std::string& group) { return ok({{"cmd", "sg-show"}, {"name", group}}); }
  void bridge_with_ports() {
    ok({{"cmd", "add-br"}, {"bridge", "br0"}});
    ok({{"cmd", "add-port"}, {"bridge", "br0"}, {"port", "p1"}});
    ok({{"cmd", "add-port"}, {"bridge", "br0"}, {"port", "p2"}, {"options", {{"type", "internal"}}}});
  }

};

const json kDefaultRules = json::array({
    {{"id", 1}, {"direction", "egress"}, {"ethertype", "ipv4"}, {"protocol", "any"}},
    {{"id", 2}, {"direction", "egress"}, {"ethertype", "ipv6"}, {"protocol", "any"}},
});

// ------------------------------------------------------------ sg-add

TEST_F(ServiceSgTest, AddGivesNeutronsTwoEgressRules) {
  json r = sg_add("web", "HTTP in");
  EXPECT_EQ(r["changed"], true);
  EXPECT_EQ(r["changes"], json::array({"+ sg web"})) << r.dump();
  EXPECT_EQ(r["group"], (json{{"name", "web"}, {"description", "HTTP in"}, {"rules", kDefaultRules}, {"ports", json::array()}}));
  ASSERT_EQ(config().security_groups.size(), 1u);
  EXPECT_EQ(config().security_groups[0].name, "web");
  EXPECT_EQ(config().security_groups[0].description, "HTTP in");
  EXPECT_EQ(config().security_groups[0].rules, default_sg_rules());
  // Without a description.
  r = sg_add("ssh");
  EXPECT_EQ(r["group"]["description"], "");
  EXPECT_EQ(r["group"]["rules"], kDefaultRules);
  const std::string yaml = exported();
  EXPECT_NE(yaml.find("security_groups:"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("name: web"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("name: ssh"), std::string::npos) << yaml;
}

TEST_F(ServiceSgTest, AddRefusals) {
  sg_add("web");
  EXPECT_EQ(refused({{"cmd", "sg-add"}, {"name", "web"}}), "security group 'web' already exists");
  EXPECT_EQ(refused({{"cmd", "sg-add"}, {"name", "web"}, {"description", "other"}}), "security group 'web' already exists");
  EXPECT_EQ(refused({{"cmd", "sg-add"}, {"name", "no good"}}),
            "security group 'no good': name 'no good' may only hold letters, digits, '-', '_' and '.'");
  EXPECT_EQ(refused({{"cmd", "sg-add"}, {"name", "a-name-far-too-long"}}),
            "security group 'a-name-far-too-long': name 'a-name-far-too-long' must be 1-15 characters long");
  EXPECT_EQ(refused({{"cmd", "sg-add"}, {"name", ""}}), "security group '': name '' must be 1-15 characters long");
  EXPECT_EQ(refused({{"cmd", "sg-add"}}), "missing argument 'name'");
  EXPECT_EQ(refused({{"cmd", "sg-add"}, {"name", 7}}), "argument 'name' must be a string");
  EXPECT_EQ(refused({{"cmd", "sg-add"}, {"name", "db"}, {"description", 7}}), "argument 'description' must be a string");
  EXPECT_EQ(config().find_group("db"), nullptr);
}

// ------------------------------------------------------------ sg-rule-add

TEST_F(ServiceSgTest, RuleAddReturnsTheRuleWithItsId) {
  sg_add("web");
  json r = rule_add("web", {{"direction", "ingress"}, {"protocol", "tcp"}, {"port", 80}});
  EXPECT_EQ(r["rule"], (json{{"id", 3}, {"direction", "ingress"}, {"ethertype", "ipv4"}, {"protocol", "tcp"}, {"port", 80}}));
  EXPECT_EQ(r["changed"], true);
  EXPECT_EQ(r["changes"], json::array({"~ sg web rules 1: egress ipv4 any; 2: egress ipv6 any->1: egress ipv4 any; "
                                       "2: egress ipv6 any; 3: ingress ipv4 tcp port 80"}))
      << r.dump();
  // A range is a string, a port an integer; ICMP type and code integers.
  r = rule_add("web", {{"direction", "ingress"}, {"protocol", "udp"}, {"port", "8000-8010"}, {"remote_ip", "10.0.0.0/24"}});
  EXPECT_EQ(r["rule"], (json{{"id", 4},
                             {"direction", "ingress"},
                             {"ethertype", "ipv4"},
                             {"protocol", "udp"},
                             {"port", "8000-8010"},
                             {"remote_ip", "10.0.0.0/24"}}));
  r = rule_add("web", {{"direction", "ingress"}, {"protocol", "icmp"}, {"icmp_type", 3}, {"icmp_code", "4"},
                       {"remote_group", "web"}});
  EXPECT_EQ(r["rule"], (json{{"id", 5},
                             {"direction", "ingress"},
                             {"ethertype", "ipv4"},
                             {"protocol", "icmp"},
                             {"icmp_type", 3},
                             {"icmp_code", 4},
                             {"remote_group", "web"}}));
  r = rule_add("web", {{"direction", "egress"}, {"ethertype", "IPv6"}, {"protocol", "ipv6-icmp"}, {"remote_ip", "FD00::1"}});
  EXPECT_EQ(r["rule"], (json{{"id", 6},
                             {"direction", "egress"},
                             {"ethertype", "ipv6"},
                             {"protocol", "icmpv6"},
                             {"remote_ip", "fd00::1/128"}}));
  r = rule_add("web", {{"direction", "ingress"}, {"protocol", 47}});
  EXPECT_EQ(r["rule"], (json{{"id", 7}, {"direction", "ingress"}, {"ethertype", "ipv4"}, {"protocol", "47"}}));
  // An id given is kept; the next one follows the highest.
  r = rule_add("web", {{"direction", "ingress"}, {"protocol", "tcp"}, {"port", 443}, {"id", 100}});
  EXPECT_EQ(r["rule"]["id"], 100);
  r = rule_add("web", {{"direction", "ingress"}, {"protocol", "tcp"}, {"port", 22}});
  EXPECT_EQ(r["rule"]["id"], 101);

  const SecurityGroupSpec* g = config().find_group("web");
  ASSERT_NE(g, nullptr);
  ASSERT_EQ(g->rules.size(), 9u);
  EXPECT_EQ(g->rules[2].port_min, 80);
  EXPECT_EQ(g->rules[3].port_max, 8010);
  EXPECT_EQ(g->rules[7].id, 100u);
  EXPECT_EQ(show("web")["rules"].size(), 9u);
}

TEST_F(ServiceSgTest, RuleAddRefusals) {
  sg_add("web");
  rule_add("web", {{"direction", "ingress"}, {"protocol", "tcp"}, {"port", 80}});
  auto add = [](const json& options) { return json{{"cmd", "sg-rule-add"}, {"name", "web"}, {"options", options}}; };
  // The same rule, however written, with or without an id of its own.
  EXPECT_EQ(refused(add({{"direction", "ingress"}, {"protocol", "tcp"}, {"port", 80}})),
            "security group 'web': the same rule exists as rule 3");
  EXPECT_EQ(refused(add({{"direction", "ingress"}, {"protocol", "6"}, {"port", "80-80"}, {"ethertype", "IPv4"}})),
            "security group 'web': the same rule exists as rule 3");
  EXPECT_EQ(refused(add({{"direction", "ingress"}, {"protocol", "tcp"}, {"port", 80}, {"id", 50}})),
            "security group 'web': the same rule exists as rule 3");
  EXPECT_EQ(refused(add({{"direction", "egress"}})), "security group 'web': the same rule exists as rule 1");
  EXPECT_EQ(refused(add({{"direction", "egress"}, {"ethertype", "ipv6"}, {"protocol", "any"}})),
            "security group 'web': the same rule exists as rule 2");
  // An id in use.
  EXPECT_EQ(refused(add({{"direction", "ingress"}, {"protocol", "tcp"}, {"port", 81}, {"id", 3}})),
            "security group 'web': rule id 3 exists");
  // Bad rules.
  EXPECT_EQ(refused(add({{"protocol", "tcp"}})), "security group 'web': a rule needs a direction (ingress or egress)");
  EXPECT_EQ(refused(add({{"direction", "ingress"}, {"port", 80}})), "security group 'web': 'port' needs protocol tcp or udp");
  EXPECT_EQ(refused(add({{"direction", "ingress"}, {"protocol", "tcp"}, {"port", 70000}})),
            "security group 'web': port 70000 is out of range 1-65535");
  EXPECT_EQ(refused(add({{"direction", "ingress"}, {"remote_ip", "fd00::/64"}})),
            "security group 'web': remote_ip fd00::/64 is not an ipv4 network (ethertype)");
  EXPECT_EQ(refused(add({{"direction", "ingress"}, {"remote_ip", "10.0.0.0/8"}, {"remote_group", "web"}})),
            "security group 'web': give remote_ip or remote_group, not both");
  EXPECT_EQ(refused(add({{"direction", "ingress"}, {"id", 0}})), "security group 'web': id 0 is out of range 1-1000000");
  EXPECT_EQ(refused(add({{"direction", "ingress"}, {"bogus", 1}})).rfind("security group 'web': 'bogus' is not a rule key", 0),
            0u);
  // A remote_group that does not exist: the configuration's rule.
  EXPECT_EQ(refused(add({{"direction", "ingress"}, {"remote_group", "db"}})),
            "security group 'web': rule 4: remote_group 'db' does not exist");
  // Arguments.
  EXPECT_EQ(refused({{"cmd", "sg-rule-add"}, {"name", "nope"}, {"options", {{"direction", "ingress"}}}}),
            "security group 'nope' does not exist");
  EXPECT_EQ(refused({{"cmd", "sg-rule-add"}, {"options", {{"direction", "ingress"}}}}), "missing argument 'name'");
  EXPECT_EQ(refused({{"cmd", "sg-rule-add"}, {"name", "web"}, {"options", "direction=ingress"}}),
            "argument 'options' must be an object of KEY: VALUE");
  EXPECT_EQ(refused({{"cmd", "sg-rule-add"}, {"name", "web"}, {"options", {{"direction", "ingress"}, {"port", {80}}}}}),
            "option 'port' must be a string or a number");
  EXPECT_EQ(refused({{"cmd", "sg-rule-add"}, {"name", "web"}}),
            "security group 'web': a rule needs a direction (ingress or egress)");
  EXPECT_EQ(config().find_group("web")->rules.size(), 3u);
}

TEST_F(ServiceSgTest, RuleIdsStayInRangeAfterTheHighest) {
  sg_add("web");
  EXPECT_EQ(rule_add("web", {{"direction", "ingress"}, {"protocol", "tcp"}, {"port", 80}, {"id", 1000000}})["rule"]["id"],
            1000000);
  // The next id is one sg-rule-del takes, and the store gives back.
  json r = rule_add("web", {{"direction", "ingress"}, {"protocol", "tcp"}, {"port", 443}});
  EXPECT_EQ(r["rule"]["id"], 3) << r.dump();
  const std::string yaml = exported();
  restart();
  EXPECT_EQ(exported(), yaml);
  ok({{"cmd", "sg-rule-del"}, {"name", "web"}, {"rule", 3}});
  EXPECT_EQ(config().find_group("web")->rules.size(), 3u);
}

// ------------------------------------------------------------ sg-rule-del

TEST_F(ServiceSgTest, RuleDel) {
  sg_add("web");
  rule_add("web", {{"direction", "ingress"}, {"protocol", "tcp"}, {"port", 80}});
  json r = ok({{"cmd", "sg-rule-del"}, {"name", "web"}, {"rule", 1}});
  EXPECT_EQ(r["changes"], json::array({"~ sg web rules 1: egress ipv4 any; 2: egress ipv6 any; 3: ingress ipv4 tcp port "
                                       "80->2: egress ipv6 any; 3: ingress ipv4 tcp port 80"}))
      << r.dump();
  const SecurityGroupSpec* g = config().find_group("web");
  ASSERT_NE(g, nullptr);
  ASSERT_EQ(g->rules.size(), 2u);
  EXPECT_EQ(g->rules[0].id, 2u);
  EXPECT_EQ(g->rules[1].id, 3u);  // the others keep their ids
  // Every rule may go: a group with none allows nothing.
  ok({{"cmd", "sg-rule-del"}, {"name", "web"}, {"rule", 2}});
  r = ok({{"cmd", "sg-rule-del"}, {"name", "web"}, {"rule", 3}});
  EXPECT_EQ(r["changes"], json::array({"~ sg web rules 3: ingress ipv4 tcp port 80->(none)"}));
  EXPECT_TRUE(config().find_group("web")->rules.empty());
  EXPECT_EQ(show("web")["rules"], json::array());
}

TEST_F(ServiceSgTest, RuleDelRefusals) {
  sg_add("web");
  EXPECT_EQ(refused({{"cmd", "sg-rule-del"}, {"name", "web"}, {"rule", 3}}), "security group 'web' has no rule 3");
  EXPECT_EQ(refused({{"cmd", "sg-rule-del"}, {"name", "nope"}, {"rule", 1}}), "security group 'nope' does not exist");
  EXPECT_EQ(refused({{"cmd", "sg-rule-del"}, {"name", "web"}, {"rule", 0}}),
            "argument 'rule' 0 is out of range 1-1000000");
  EXPECT_EQ(refused({{"cmd", "sg-rule-del"}, {"name", "web"}, {"rule", -1}}),
            "argument 'rule' -1 is out of range 1-1000000");
  EXPECT_EQ(refused({{"cmd", "sg-rule-del"}, {"name", "web"}, {"rule", "1"}}), "argument 'rule' must be an integer");
  EXPECT_EQ(refused({{"cmd", "sg-rule-del"}, {"name", "web"}}), "missing argument 'rule'");
  EXPECT_EQ(refused({{"cmd", "sg-rule-del"}, {"rule", 1}}), "missing argument 'name'");
  EXPECT_EQ(config().find_group("web")->rules, default_sg_rules());
}

// ------------------------------------------------------------ sg-del

TEST_F(ServiceSgTest, Del) {
  sg_add("web");
  sg_add("self");
  rule_add("self", {{"direction", "ingress"}, {"remote_group", "self"}});  // its own remote_group: no obstacle
  json r = ok({{"cmd", "sg-del"}, {"name", "web"}});
  EXPECT_EQ(r["changes"], json::array({"- sg web"}));
  r = ok({{"cmd", "sg-del"}, {"name", "self"}});
  EXPECT_EQ(r["changes"], json::array({"- sg self"}));
  EXPECT_TRUE(config().security_groups.empty());
  EXPECT_EQ(exported().find("security_groups"), std::string::npos);
  EXPECT_EQ(ok({{"cmd", "sg-list"}}), json::array());
}

TEST_F(ServiceSgTest, DelRefusesAGroupInUse) {
  bridge_with_ports();
  sg_add("web");
  sg_add("db");
  ok({{"cmd", "set-port"}, {"port", "p2"}, {"options", {{"security_groups", "web"}}}});
  rule_add("db", {{"direction", "ingress"}, {"protocol", "tcp"}, {"port", 5432}, {"remote_group", "web"}});
  rule_add("web", {{"direction", "ingress"}, {"protocol", "tcp"}, {"port", 80}, {"remote_group", "db"}});
  EXPECT_EQ(refused({{"cmd", "sg-del"}, {"name", "web"}}),
            "security group 'web' is used by port 'p2' (set port p2 security_groups=... first)");
  EXPECT_EQ(refused({{"cmd", "sg-del"}, {"name", "db"}}), "security group 'db' is the remote_group of rule 3 of 'web'");
  EXPECT_EQ(refused({{"cmd", "sg-del"}, {"name", "nope"}}), "security group 'nope' does not exist");
  EXPECT_EQ(refused({{"cmd", "sg-del"}}), "missing argument 'name'");
  // Freed, they go.
  ok({{"cmd", "set-port"}, {"port", "p2"}, {"options", {{"security_groups", ""}}}});
  EXPECT_EQ(refused({{"cmd", "sg-del"}, {"name", "web"}}), "security group 'web' is the remote_group of rule 3 of 'db'");
  ok({{"cmd", "sg-rule-del"}, {"name", "db"}, {"rule", 3}});
  ok({{"cmd", "sg-del"}, {"name", "web"}});
  ok({{"cmd", "sg-del"}, {"name", "db"}});
  EXPECT_TRUE(config().security_groups.empty());
}

// ------------------------------------------------------------ sg-list, sg-show

TEST_F(ServiceSgTest, ListAndShow) {
  bridge_with_ports();
  EXPECT_EQ(ok({{"cmd", "sg-list"}}), json::array());
  sg_add("web", "HTTP");
  sg_add("ssh");
  rule_add("web", {{"direction", "ingress"}, {"protocol", "tcp"}, {"port", "8000-8010"}});
  ok({{"cmd", "sg-rule-del"}, {"name", "ssh"}, {"rule", 2}});
  ok({{"cmd", "set-port"}, {"port", "p1"}, {"options", {{"security_groups", "web,ssh"}}}});
  ok({{"cmd", "set-port"}, {"port", "p2"}, {"options", {{"security_groups", "web"}}}});

  const json web = {{"name", "web"},
                    {"description", "HTTP"},
                    {"rules", json::array({kDefaultRules[0], kDefaultRules[1],
                                           {{"id", 3},
                                            {"direction", "ingress"},
                                            {"ethertype", "ipv4"},
                                            {"protocol", "tcp"},
                                            {"port", "8000-8010"}}})},
                    {"ports", json::array({"p1", "p2"})}};
  const json ssh = {{"name", "ssh"},
                    {"description", ""},
                    {"rules", json::array({kDefaultRules[0]})},
                    {"ports", json::array({"p1"})}};
  EXPECT_EQ(show("web"), web);
  EXPECT_EQ(show("ssh"), ssh);
  EXPECT_EQ(ok({{"cmd", "sg-list"}}), json::array({web, ssh}));
  EXPECT_EQ(err({{"cmd", "sg-show"}, {"name", "nope"}}), "security group 'nope' does not exist");
  EXPECT_EQ(err({{"cmd", "sg-show"}}), "missing argument 'name'");
}

// ------------------------------------------------------------ ports

TEST_F(ServiceSgTest, SetPortGroupsInPlace) {
  bridge_with_ports();
  sg_add("a");
  sg_add("b");
  dp::Port* before = dp().find_port("p1");
  ASSERT_NE(before, nullptr);
  const int opened = opens_;

  json r = ok({{"cmd", "set-port"}, {"port", "p1"}, {"options", {{"security_groups", "a,b"}}}});
  EXPECT_EQ(r["changes"], json::array({"~ port br0/p1 security_groups (none)->a,b"})) << r.dump();
  EXPECT_EQ(r["ports_added"], json::array());
  EXPECT_EQ(r["ports_removed"], json::array());
  EXPECT_EQ(config().find_port("p1")->security.groups, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(dp().find_port("p1"), before);  // reconfigured, not re-created
  EXPECT_EQ(opens_, opened);
  EXPECT_NE(exported().find("security_groups: [a, b]"), std::string::npos) << exported();

  // Other keys of the port stay; the groups stay when other keys change.
  r = ok({{"cmd", "set-port"}, {"port", "p1"}, {"options", {{"pvid", "10"}}}});
  EXPECT_EQ(config().find_port("p1")->security.groups, (std::vector<std::string>{"a", "b"}));
  r = ok({{"cmd", "set-port"}, {"port", "p1"}, {"options", {{"security_groups", " b , a "}}}});
  EXPECT_EQ(r["changes"], json::array({"~ port br0/p1 security_groups a,b->b,a"})) << r.dump();
  EXPECT_EQ(config().find_port("p1")->vlan.pvid, 10);

  // Empty: none.
  r = ok({{"cmd", "set-port"}, {"port", "p1"}, {"options", {{"security_groups", ""}}}});
  EXPECT_EQ(r["changes"], json::array({"~ port br0/p1 security_groups b,a->(none)"})) << r.dump();
  EXPECT_TRUE(config().find_port("p1")->security.groups.empty());
  EXPECT_EQ(dp().find_port("p1"), before);
  EXPECT_EQ(opens_, opened);
  EXPECT_EQ(exported().find("security_groups: ["), std::string::npos) << exported();
  EXPECT_EQ(show("a")["ports"], json::array());
}

TEST_F(ServiceSgTest, SetPortSecurityAndAllowedAddresses) {
  bridge_with_ports();
  json r = ok({{"cmd", "set-port"},
               {"port", "p2"},
               {"options", {{"port_security", true}, {"allowed_addresses", "52:54:00:00:00:01:10.0.0.5,fd00::/64"}}}});
  EXPECT_EQ(r["changes"], json::array({"~ port br0/p2 port_security (none)->true allowed_addresses "
                                       "(none)->52:54:00:00:00:01:10.0.0.5/32,fd00::/64"}))
      << r.dump();
  const PortSpec* p2 = config().find_port("p2");
  EXPECT_TRUE(p2->security.port_security);
  EXPECT_EQ(p2->security.allowed,
            (std::vector<AllowedAddress>{{"52:54:00:00:00:01", "10.0.0.5/32"}, {"", "fd00::/64"}}));
  r = ok({{"cmd", "set-port"}, {"port", "p2"}, {"options", {{"port_security", "false"}, {"allowed_addresses", ""}}}});
  EXPECT_TRUE(config().find_port("p2")->security.empty());
  EXPECT_EQ(r["changes"], json::array({"~ port br0/p2 port_security true->(none) allowed_addresses "
                                       "52:54:00:00:00:01:10.0.0.5/32,fd00::/64->(none)"}))
      << r.dump();
  // A new port may name its groups at once.
  sg_add("web");
  ok({{"cmd", "add-port"}, {"bridge", "br0"}, {"port", "p3"}, {"options", {{"security_groups", "web"}, {"port_security", "yes"}}}});
  EXPECT_EQ(config().find_port("p3")->security.groups, (std::vector<std::string>{"web"}));
  EXPECT_TRUE(config().find_port("p3")->security.port_security);
  EXPECT_EQ(show("web")["ports"], json::array({"p3"}));
}

TEST_F(ServiceSgTest, SetPortRefusals) {
  bridge_with_ports();
  sg_add("a");
  ok({{"cmd", "set-port"}, {"port", "p1"}, {"options", {{"security_groups", "a"}}}});
  EXPECT_EQ(refused({{"cmd", "set-port"}, {"port", "p1"}, {"options", {{"security_groups", "a,nope"}}}}),
            "bridge 'br0': port 'p1': security group 'nope' does not exist");
  EXPECT_EQ(refused({{"cmd", "set-port"}, {"port", "p1"}, {"options", {{"security_groups", "a,a"}}}}),
            "bridge 'br0': port 'p1': security group 'a' is listed twice");
  EXPECT_EQ(refused({{"cmd", "set-port"}, {"port", "p1"}, {"options", {{"security_groups", "a,,a"}}}}),
            "bridge 'br0': port 'p1': 'security_groups' has an empty item");
  EXPECT_EQ(refused({{"cmd", "set-port"}, {"port", "p1"}, {"options", {{"port_security", "maybe"}}}}),
            "bridge 'br0': port 'p1': port_security 'maybe' must be true or false");
  EXPECT_EQ(refused({{"cmd", "set-port"}, {"port", "p1"}, {"options", {{"allowed_addresses", "ff:ff:ff:ff:ff:ff:10.0.0.1"}}}}),
            "bridge 'br0': port 'p1': allowed address 'ff:ff:ff:ff:ff:ff:10.0.0.1': ff:ff:ff:ff:ff:ff is not a unicast MAC");
  EXPECT_EQ(refused({{"cmd", "set-port"}, {"port", "p1"}, {"options", {{"allowed_addresses", "10.0.0.1,bad"}}}}),
            "bridge 'br0': port 'p1': allowed address 'bad' is not MAC:IP, MAC:CIDR, IP or CIDR");
  EXPECT_EQ(refused({{"cmd", "add-port"}, {"bridge", "br0"}, {"port", "p3"}, {"options", {{"security_groups", "nope"}}}}),
            "bridge 'br0': port 'p3': security group 'nope' does not exist");
  EXPECT_EQ(config().find_port("p1")->security.groups, (std::vector<std::string>{"a"}));
  EXPECT_EQ(config().find_port("p3"), nullptr);
}

// ------------------------------------------------------------ apply, export, restart

const char* kYaml = R"(bridges:
  - name: br0
    ports:
      - {name: p1, type: system, security_groups: [web, ssh], port_security: true, allowed_addresses: ["52:54:00:00:00:01:10.0.0.5", "10.0.1.0/24", "::1"]}
      - {name: p2, type: internal, security_groups: ssh}
      - {name: p3, type: system}
security_groups:
  - name: web
    description: "HTTP in, anything out"
    rules:
      - {direction: ingress, protocol: tcp, port: 80}
      - {id: 9, direction: ingress, protocol: tcp, port: "8000-8010", remote_ip: 10.0.0.0/24}
      - {direction: ingress, protocol: icmp, icmp_type: 8, remote_group: ssh}
      - {direction: egress, ethertype: ipv4}
      - {direction: egress, ethertype: ipv6}
  - name: ssh
    rules:
      - {direction: ingress, protocol: tcp, port: 22, remote_group: web}
)";

TEST_F(ServiceSgTest, ApplyExportRoundTrip) {
  json r = ok({{"cmd", "apply"}, {"yaml", kYaml}, {"file", "t.yaml"}});
  EXPECT_EQ(r["changes"], json::array({"+ bridge br0", "+ port br0/p1", "+ port br0/p2", "+ port br0/p3", "+ sg web",
                                       "+ sg ssh"}))
      << r.dump();
  ASSERT_EQ(config().security_groups.size(), 2u);
  EXPECT_EQ(config().find_group("web")->rules[4].id, 12u);
  const std::string yaml = exported();
  // The export applied again changes nothing, and exports the same.
  r = ok({{"cmd", "apply"}, {"yaml", yaml}});
  EXPECT_EQ(r["changed"], false) << r.dump();
  EXPECT_EQ(exported(), yaml);
  // The export applied to an empty kvnetd gives the same configuration.
  Instance other = make(dir_ / "b");
  ok({{"cmd", "apply"}, {"yaml", yaml}}, &other);
  EXPECT_EQ(exported(&other), yaml);
  EXPECT_EQ(other.svc->config().security_groups, config().security_groups);
  for (const char* name : {"p1", "p2", "p3"})
    EXPECT_EQ(other.svc->config().find_port(name)->security, config().find_port(name)->security) << name;
  other.reset();
  // A restarted kvnetd has it all from its store.
  const json list = ok({{"cmd", "sg-list"}});
  restart();
  EXPECT_EQ(exported(), yaml);
  EXPECT_EQ(ok({{"cmd", "sg-list"}}), list);
}

TEST_F(ServiceSgTest, VerbsPersistAcrossRestart) {
  bridge_with_ports();
  sg_add("web", "HTTP");
  rule_add("web", {{"direction", "ingress"}, {"protocol", "tcp"}, {"port", 80}});
  ok({{"cmd", "sg-rule-del"}, {"name", "web"}, {"rule", 1}});
  ok({{"cmd", "set-port"}, {"port", "p1"}, {"options", {{"security_groups", "web"}, {"allowed_addresses", "10.0.0.9"}}}});
  const std::string yaml = exported();
  const json web = show("web");
  restart();
  EXPECT_EQ(exported(), yaml);
  EXPECT_EQ(show("web"), web);
  // The next rule id still follows the highest.
  EXPECT_EQ(rule_add("web", {{"direction", "ingress"}, {"protocol", "udp"}, {"port", 53}})["rule"]["id"], 4);
}

TEST_F(ServiceSgTest, ApplyWithoutTheSectionKeepsTheGroups) {
  ok({{"cmd", "apply"}, {"yaml", kYaml}});
  const auto groups = config().security_groups;
  const std::string before = exported();
  // The same bridges, no `security_groups:`: the groups are not this file's.
  std::string yaml = kYaml;
  yaml = yaml.substr(0, yaml.find("security_groups:\n"));
  json r = ok({{"cmd", "apply"}, {"yaml", yaml}});
  EXPECT_EQ(r["changed"], false) << r.dump();
  EXPECT_EQ(config().security_groups, groups);
  EXPECT_EQ(exported(), before);
  // Ports that no longer use them: still kept.
  r = ok({{"cmd", "apply"}, {"yaml", "bridges:\n  - name: br0\n    ports:\n      - {name: p1, type: system}\n"}});
  EXPECT_EQ(r["changes"], json::array({"- port br0/p2", "- port br0/p3", "~ port br0/p1 security_groups web,ssh->(none) "
                                       "port_security true->(none) allowed_addresses "
                                       "52:54:00:00:00:01:10.0.0.5/32,10.0.1.0/24,::1/128->(none)"}))
      << r.dump();
  EXPECT_EQ(config().security_groups, groups);
  // A dry run lists group changes too, and changes nothing.
  const std::string now = exported();
  r = ok({{"cmd", "apply"}, {"yaml", "bridges:\n  - name: br0\n    ports:\n      - {name: p1, type: system}\n"
                                     "security_groups:\n  - name: ssh\n    rules: []\n  - name: db\n"},
          {"dry_run", true}});
  EXPECT_EQ(r["changes"], json::array({"- sg web", "~ sg ssh rules 1: ingress ipv4 tcp port 22 remote_group web->(none)",
                                       "+ sg db"}))
      << r.dump();
  EXPECT_EQ(exported(), now);
  // `security_groups: []` removes them all.
  r = ok({{"cmd", "apply"}, {"yaml", "bridges:\n  - name: br0\n    ports:\n      - {name: p1, type: system}\n"
                                     "security_groups: []\n"}});
  EXPECT_EQ(r["changes"], json::array({"- sg web", "- sg ssh"})) << r.dump();
  EXPECT_TRUE(config().security_groups.empty());
}

TEST_F(ServiceSgTest, ApplyRefusals) {
  ok({{"cmd", "apply"}, {"yaml", kYaml}});
  // Without the section, the file's ports may name the groups kvnetd has;
  // not others.
  EXPECT_EQ(refused({{"cmd", "apply"},
                     {"yaml", "bridges:\n  - name: br0\n    ports:\n      - {name: p1, type: system, security_groups: db}\n"},
                     {"file", "x.yaml"}}),
            "x.yaml:4:9: bridge 'br0': port 'p1': security group 'db' does not exist");
  // A section that drops a group a port of the file uses.
  EXPECT_EQ(refused({{"cmd", "apply"},
                     {"yaml", "bridges:\n  - name: br0\n    ports:\n      - {name: p1, type: system, security_groups: web}\n"
                              "security_groups: []\n"},
                     {"file", "x.yaml"}}),
            "x.yaml:4:9: bridge 'br0': port 'p1': security group 'web' does not exist");
  EXPECT_EQ(refused({{"cmd", "apply"},
                     {"yaml", "bridges: []\nsecurity_groups:\n  - name: web\n    rules: [{direction: sideways}]\n"},
                     {"file", "x.yaml"}}),
            "x.yaml:4:13: security group 'web': rule 1: direction 'sideways' is not ingress or egress");
}

}  // namespace
}  // namespace kvnet::daemon

namespace kvnet::daemon {
namespace {

class ServiceConntrackTest : public ServiceFixture {};

TEST_F(ServiceConntrackTest, ListAndFlushCheckTheirArgumentsAndStartEmpty) {
  ok({{"cmd", "add-br"}, {"bridge", "br0"}});
  ok({{"cmd", "sg-add"}, {"name", "web"}});
  ok({{"cmd", "add-port"}, {"bridge", "br0"}, {"port", "p1"}, {"options", {{"security_groups", "web"}}}});
  EXPECT_EQ(ok({{"cmd", "conntrack-list"}}), json::array());
  EXPECT_EQ(ok({{"cmd", "conntrack-list"}, {"bridge", "br0"}, {"port", "p1"}}), json::array());
  EXPECT_EQ(ok({{"cmd", "conntrack-flush"}, {"port", "p1"}})["flushed"], 0);
  EXPECT_EQ(err({{"cmd", "conntrack-list"}, {"bridge", "nope"}}), "bridge 'nope' does not exist");
  EXPECT_EQ(err({{"cmd", "conntrack-flush"}, {"port", "nope"}}), "port 'nope' does not exist");
  EXPECT_EQ(err({{"cmd", "conntrack-list"}, {"port", 7}}), "argument 'port' must be a string");
}

}  // namespace
}  // namespace kvnet::daemon
