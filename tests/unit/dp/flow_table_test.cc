// OpenFlow flow tables (dp/flow_table.h) and their text (dp/flow_text.h):
// the classifier against a linear scan over random flows and frames, the
// flow_mod selections, ovs-ofctl's syntax both ways, refusals by name.
#include "dp/flow_table.h"

#include <gtest/gtest.h>

#include <map>
#include <random>

#include "dp/flow_text.h"

namespace kvnet::dp {
namespace {

FlowPorts ports() {
  static const std::map<std::string, uint32_t, std::less<>> ids = {{"int-br-eth1", 1}, {"phy-br-eth1", 2}, {"vnet0", 3}};
  FlowPorts p;
  p.id = [](std::string_view n) -> std::optional<uint32_t> {
    auto it = ids.find(n);
    return it == ids.end() ? std::nullopt : std::optional<uint32_t>(it->second);
  };
  p.name = [](uint32_t id) -> std::string {
    for (const auto& [n, i] : ids)
      if (i == id) return n;
    return "";
  };
  return p;
}

Flow parse(const std::string& s) {
  auto r = parse_flow_text(s, ports(), FlowTextMode::kAdd);
  EXPECT_TRUE(r) << s << ": " << r.error().message;
  return r ? r->flow : Flow{};
}

std::string error_of(const std::string& s, FlowTextMode mode = FlowTextMode::kAdd) {
  auto r = parse_flow_text(s, ports(), mode);
  EXPECT_FALSE(r) << s;
  return r ? "" : r.error().message;
}

net::FlowKey key(uint16_t dl_type, int vid, uint32_t nw_src, uint32_t nw_dst, uint8_t proto, uint16_t tp_dst) {
  net::FlowKey k;
  k.dl_src = net::Mac::from_u64(0x525400000001);
  k.dl_dst = net::Mac::from_u64(0x525400000002);
  k.dl_type = dl_type;
  if (vid >= 0) {
    k.n_tags = 1;
    k.vlan_tci = static_cast<uint16_t>(vid);
  }
  k.nw_src = nw_src;
  k.nw_dst = nw_dst;
  k.nw_proto = proto;
  k.tp_dst = tp_dst;
  return k;
}

TEST(FlowText, NeutronsVlanTranslationBothWays) {
  const Flow f = parse("table=0,priority=4,in_port=phy-br-eth1,dl_vlan=1,actions=mod_vlan_vid:101,NORMAL");
  EXPECT_EQ(f.priority, 4);
  EXPECT_EQ(f.match.get(MatchField::kInPort), 2u);
  EXPECT_EQ(f.match.get(MatchField::kVlanTci), kVlanPresent | 1u);
  EXPECT_EQ(f.match.get_mask(MatchField::kVlanTci), 0x1fffu);
  ASSERT_EQ(f.actions.size(), 2u);
  EXPECT_EQ(f.actions[0], (FlowAction{ActionType::kModVlanVid, 101}));
  EXPECT_EQ(match_text(f.match, ports()), "in_port=phy-br-eth1,dl_vlan=1");
  EXPECT_EQ(actions_text(f.actions, ports()), "mod_vlan_vid:101,NORMAL");
  Flow g = f;
  g.n_packets = 5;
  g.n_bytes = 490;
  g.created_ns = 1'000'000'000;
  EXPECT_EQ(flow_line(g, 4'021'000'000, ports()),
            " cookie=0x0, duration=3.021s, table=0, n_packets=5, n_bytes=490, priority=4,in_port=phy-br-eth1,dl_vlan=1 "
            "actions=mod_vlan_vid:101,NORMAL");
  EXPECT_EQ(flow_line(default_flow(), 0, ports()),
            " cookie=0x0, duration=0.000s, table=0, n_packets=0, n_bytes=0, priority=0 actions=NORMAL");
}

TEST(FlowText, FieldsRoundTrip) {
  for (const char* s : {"tcp,in_port=vnet0,nw_src=10.0.0.0/24,nw_dst=10.0.1.5,tp_dst=80",
                        "udp,dl_src=52:54:00:00:00:00/ff:ff:ff:00:00:00,tp_src=53",
                        "arp,arp_spa=10.0.0.1,arp_tpa=10.0.0.2,arp_op=1", "icmp,icmp_type=8,icmp_code=0",
                        "ipv6,ipv6_src=2001:db8::/32,ipv6_dst=fe80::1", "vlan_tci=0x0000", "dl_vlan=10,dl_vlan_pcp=3",
                        "dl_type=0x88cc", "tun_id=0x1389", "ip,nw_tos=184", "tcp6,tp_dst=256/0xff00",
                        "vlan_tci=0x1000/0x1000"}) {
    const Flow f = parse(std::string(s) + ",actions=NORMAL");
    EXPECT_EQ(match_text(f.match, ports()), s);
    const Flow again = parse(match_text(f.match, ports()) + ",actions=drop");
    EXPECT_EQ(again.match, f.match) << s;
  }
  // A value is kept under its mask, as Open vSwitch keeps it.
  EXPECT_EQ(match_text(parse("tcp,tp_dst=443/0xff00,actions=drop").match, ports()), "tcp,tp_dst=256/0xff00");
  // Actions round trip.
  const char* acts = "output:vnet0,mod_vlan_pcp:5,strip_vlan,push_vlan:0x8100,mod_dl_src:52:54:00:00:00:09,"
                     "mod_dl_dst:52:54:00:00:00:0a,set_field:0x1389->tun_id,resubmit(,2),resubmit(int-br-eth1,3),"
                     "FLOOD,ALL,IN_PORT,goto_table:5";
  auto a = parse_actions_text(acts, ports());
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(actions_text(*a, ports()), acts);
  EXPECT_EQ(actions_text(parse("actions=drop").actions, ports()), "drop");
  EXPECT_EQ(actions_text(parse("actions=3,output:7").actions, ports()), "output:vnet0,output:7");  // bare port numbers
  EXPECT_EQ(parse("priority=7,cookie=0x10,idle_timeout=30,hard_timeout=60,actions=NORMAL").idle_timeout, 30);
}

TEST(FlowText, PortNumbersAreOpenFlowsFromOne) {
  FlowPorts p;
  p.id_of_number = [](uint32_t n) -> std::optional<uint32_t> {
    return n >= 1 && n <= 4 ? std::optional<uint32_t>(n - 1) : std::nullopt;
  };
  p.number_of_id = [](uint32_t id) { return id + 1; };
  auto f = parse_flow_text("in_port=3,actions=output:1", p, FlowTextMode::kAdd);
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_EQ(f->flow.match.get(MatchField::kInPort), 2u);
  EXPECT_EQ(f->flow.actions[0].arg, 0u);
  EXPECT_EQ(match_text(f->flow.match, p) + " " + actions_text(f->flow.actions, p), "in_port=3 output:1");
  EXPECT_NE(parse_flow_text("in_port=9,actions=drop", p, FlowTextMode::kAdd).error().message.find("port number 9"),
            std::string::npos);
}

TEST(FlowText, RefusalsNameThePart) {
  EXPECT_EQ(error_of("in_port=1"), "a flow needs actions=... (actions=drop to drop)");
  EXPECT_NE(error_of("actions=CONTROLLER:65535").find("action 'CONTROLLER:65535' is not supported"), std::string::npos);
  EXPECT_NE(error_of("in_port=nope,actions=NORMAL").find("port 'nope' does not exist"), std::string::npos);
  EXPECT_NE(error_of("nw_src=10.0.0.1,actions=NORMAL").find("need ip or arp"), std::string::npos);
  EXPECT_NE(error_of("tp_dst=80,actions=NORMAL").find("need tcp, udp or sctp"), std::string::npos);
  EXPECT_NE(error_of("ip,icmp_type=8,actions=NORMAL").find("need icmp"), std::string::npos);
  EXPECT_NE(error_of("dl_vlan=5000,actions=NORMAL").find("0-4095"), std::string::npos);
  EXPECT_NE(error_of("bogus=1,actions=NORMAL").find("'bogus' is not a field"), std::string::npos);
  EXPECT_NE(error_of("reg0=1,actions=NORMAL").find("not supported"), std::string::npos);
  EXPECT_NE(error_of("table=255,actions=NORMAL").find("0-254"), std::string::npos);
  EXPECT_NE(error_of("actions=drop,NORMAL").find("'drop' must be the only action"), std::string::npos);
  EXPECT_NE(error_of("actions=goto_table:1,NORMAL").find("goto_table must be the last"), std::string::npos);
  EXPECT_NE(error_of("actions=push_vlan:0x0800").find("0x8100 or 0x88a8"), std::string::npos);
  EXPECT_NE(error_of("actions=set_field:1->nw_src").find("set_field:N->tun_id is"), std::string::npos);
  EXPECT_NE(error_of("cookie=1/1,actions=NORMAL").find("add-flow takes a cookie"), std::string::npos);
  EXPECT_NE(error_of("in_port=1,actions=NORMAL", FlowTextMode::kDelete).find("not actions"), std::string::npos);
  auto del = parse_flow_text("cookie=0x5/-1,out_port=vnet0,table=3", ports(), FlowTextMode::kDelete);
  ASSERT_TRUE(del) << del.error().message;
  EXPECT_EQ(del->cookie_mask, ~uint64_t{0});
  EXPECT_EQ(del->out_port, 3u);
  EXPECT_TRUE(del->has_table);
}

TEST(FlowTable, HighestPriorityWinsAcrossSubtables) {
  FlowTable t;
  t.add(parse("priority=0,actions=NORMAL"));
  t.add(parse("priority=10,ip,actions=output:1"));
  t.add(parse("priority=20,tcp,tp_dst=80,actions=output:2"));
  t.add(parse("priority=30,ip,nw_src=10.0.0.0/8,actions=output:3"));
  const auto pick = [&](const net::FlowKey& k) {
    const Flow* f = t.lookup(flow_words(k, 9, 0));
    return f ? f->priority : -1;
  };
  EXPECT_EQ(pick(key(0x0800, -1, 0x0a000001, 1, 6, 80)), 30);
  EXPECT_EQ(pick(key(0x0800, -1, 0xc0a80001, 1, 6, 80)), 20);
  EXPECT_EQ(pick(key(0x0800, -1, 0xc0a80001, 1, 6, 22)), 10);
  EXPECT_EQ(pick(key(0x0806, -1, 0, 0, 1, 0)), 0);
  // Adding the same match and priority replaces (counters reset).
  Flow again = parse("priority=10,ip,actions=output:2");
  EXPECT_TRUE(t.add(again));
  EXPECT_EQ(t.size(), 4u);
  // Delete: non-strict takes every flow at least as specific; strict the exact one.
  FlowSelector sel;
  sel.match = parse("ip,actions=drop").match;
  EXPECT_EQ(t.remove(sel), 3u);  // ip, tcp tp_dst=80, ip nw_src
  EXPECT_EQ(pick(key(0x0800, -1, 0x0a000001, 1, 6, 80)), 0);
  sel = {};
  sel.strict = true;
  sel.priority = 1;
  EXPECT_EQ(t.remove(sel), 0u);  // priority 0, not 1
  sel.priority = 0;
  EXPECT_EQ(t.remove(sel), 1u);
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(t.lookup(flow_words(key(0x0800, -1, 1, 1, 6, 80), 9, 0)), nullptr);
}

TEST(FlowTable, SelectorsByCookieAndOutPort) {
  FlowTable t;
  Flow a = parse("priority=5,in_port=1,actions=output:2");
  a.cookie = 0x11;
  Flow b = parse("priority=5,in_port=2,actions=output:3");
  b.cookie = 0x22;
  t.add(a);
  t.add(b);
  FlowSelector sel;
  sel.cookie = 0x20;
  sel.cookie_mask = 0xf0;
  EXPECT_EQ(t.remove(sel), 1u);
  EXPECT_EQ(t.flows().front()->cookie, 0x11u);
  sel = {};
  sel.out_port = 3;
  EXPECT_EQ(t.remove(sel), 0u);
  sel.out_port = 2;
  EXPECT_EQ(t.remove(sel), 1u);
}

TEST(FlowTable, AgreesWithALinearScan) {
  std::mt19937_64 rng(7);
  FlowTable t;
  std::vector<Flow> all;
  const char* templates[] = {"ip,nw_src=10.%d.0.0/16", "tcp,tp_dst=%d", "in_port=%d", "dl_vlan=%d", "udp,nw_dst=10.0.0.%d",
                             "ip,nw_src=10.0.%d.0/24,nw_dst=10.0.0.0/8"};
  for (int i = 0; i < 1000; ++i) {
    char buf[96];
    std::snprintf(buf, sizeof buf, templates[rng() % 6], static_cast<int>(rng() % 20));
    Flow f = parse(std::string(buf) + ",priority=" + std::to_string(rng() % 50) + ",actions=NORMAL");
    // Unique (match, priority), as the table keeps them.
    bool dup = false;
    for (auto& x : all)
      if (x.match == f.match && x.priority == f.priority) dup = true;
    if (dup) continue;
    all.push_back(f);
    t.add(f);
  }
  ASSERT_EQ(t.size(), all.size());
  for (int i = 0; i < 5000; ++i) {
    const net::FlowKey k = key(rng() % 2 ? 0x0800 : 0x86dd, static_cast<int>(rng() % 21) - 1,
                               0x0a000000u | static_cast<uint32_t>(rng() % 20) << 16 | static_cast<uint32_t>(rng() % 20) << 8,
                               0x0a000000u | static_cast<uint32_t>(rng() % 20), rng() % 2 ? 6 : 17,
                               static_cast<uint16_t>(rng() % 20));
    const FlowWords w = flow_words(k, static_cast<uint32_t>(rng() % 20), 0);
    int best = -1;
    for (const Flow& f : all)
      if (f.match.matches(w)) best = std::max(best, static_cast<int>(f.priority));
    const Flow* got = t.lookup(w);
    EXPECT_EQ(got ? static_cast<int>(got->priority) : -1, best);
    if (got) {
      EXPECT_TRUE(got->match.matches(w));
    }
  }
}

TEST(FlowTables, FlowModsKeepCountersOfWhatStays) {
  FlowTables t;
  Flow a = parse("table=1,priority=5,in_port=1,actions=output:2");
  a.n_packets = 7;  // ignored: an add starts from zero
  EXPECT_EQ(flow_mod(t, FlowModCommand::kAdd, a, {}, 100), 1u);
  Flow& in = *t.table(1).flows().front();
  EXPECT_EQ(in.n_packets, 0u);
  EXPECT_EQ(in.created_ns, 100u);
  in.n_packets = 3;
  // modify (non-strict, every table): new actions, counters stay.
  auto mod = parse_flow_text("in_port=1,actions=output:3", ports(), FlowTextMode::kModify);
  ASSERT_TRUE(mod);
  FlowSelector sel;
  sel.match = mod->flow.match;
  EXPECT_EQ(flow_mod(t, FlowModCommand::kModify, mod->flow, sel, 200), 1u);
  EXPECT_EQ(t.table(1).flows().front()->actions, (std::vector<FlowAction>{{ActionType::kOutput, 3}}));
  EXPECT_EQ(t.table(1).flows().front()->n_packets, 3u);
  // strict: another priority selects nothing.
  sel.strict = true;
  sel.priority = 6;
  EXPECT_EQ(flow_mod(t, FlowModCommand::kModifyStrict, mod->flow, sel, 300), 0u);
  // delete in table 0 only: the default goes, table 1 stays.
  FlowSelector zero;
  zero.table = 0;
  EXPECT_EQ(flow_mod(t, FlowModCommand::kDelete, Flow{}, zero, 400), 1u);
  EXPECT_EQ(t.size(), 1u);
  EXPECT_EQ(flow_mod(t, FlowModCommand::kDelete, Flow{}, FlowSelector{}, 500), 1u);
  EXPECT_EQ(t.size(), 0u);
}

TEST(FlowTables, IdleAndHardTimeoutsExpire) {
  constexpr uint64_t kS = 1000000000ULL;
  FlowTables t;
  flow_mod(t, FlowModCommand::kAdd, parse("priority=5,hard_timeout=10,actions=drop"), {}, 0);
  flow_mod(t, FlowModCommand::kAdd, parse("priority=6,idle_timeout=3,actions=drop"), {}, 0);
  EXPECT_EQ(expire_flows(t, 2 * kS), 0u);
  // Traffic keeps the idle one; the hard one goes at 10 s whatever.
  for (Flow* f : t.table(0).flows())
    if (f->priority == 6) f->used_ns = 8 * kS;
  EXPECT_EQ(expire_flows(t, 10 * kS), 1u);  // the hard one
  EXPECT_EQ(t.size(), 2u);                  // the default and the idle one
  EXPECT_EQ(expire_flows(t, 11 * kS), 1u);  // idle 3 s since 8 s
  EXPECT_TRUE(t.is_normal_only());
}

TEST(FlowTables, DefaultIsNormalOnly) {
  FlowTables t;
  EXPECT_TRUE(t.is_normal_only());
  EXPECT_EQ(t.size(), 1u);
  t.table(1).add(parse("table=1,actions=drop"));
  EXPECT_FALSE(t.is_normal_only());
  EXPECT_EQ(t.flows().size(), 2u);
}

}  // namespace
}  // namespace kvnet::dp
