// The firewall stages on real ports of a switch: stateful security groups
// (a port lets out what its egress rules allow and the replies; lets in only
// what its ingress rules allow), per-port zones, port security, and a dry run
// that commits nothing.
#include "dp/firewall_stage.h"

#include <gtest/gtest.h>

#include "dp/packets.h"
#include "testing.h"

namespace kvnet::testing {
namespace {

using namespace kvnet::testing::pkt;

constexpr uint64_t kMacA = 0x525400000001, kMacB = 0x525400000002;
constexpr uint32_t kA = 0x0a000001, kB = 0x0a000002;  // 10.0.0.1, 10.0.0.2
constexpr uint8_t kSyn = 0x02, kAck = 0x10;

Bytes frame(uint64_t src_mac, uint64_t dst_mac, uint32_t src, uint32_t dst, const Bytes& l4, uint8_t proto = 6) {
  Bytes b = eth(dst_mac, src_mac, {}, 0x0800, 0);
  append(b, ip4(proto, src, dst, l4));
  return b;
}

dp::IpPrefix prefix(const char* s) {
  dp::IpPrefix p;
  EXPECT_TRUE(dp::IpPrefix::parse(s, p));
  return p;
}

struct Fixture {
  Harness h;
  dp::Conntrack ct{1024};
  dp::FirewallStage* a_out = nullptr;  // what A's endpoint sends
  dp::FirewallStage* a_in = nullptr;   // what A's endpoint receives

  explicit Fixture(std::shared_ptr<const dp::FwPolicy> pa) {
    auto& br = h.bridge("br0", dp::BridgeType::kSwitch);
    dp::Port& a = h.port(br, "a");
    h.port(br, "b");
    auto out = std::make_unique<dp::FirewallStage>(ct, 1, true, pa);
    auto in = std::make_unique<dp::FirewallStage>(ct, 1, false, pa);
    a_out = out.get();
    a_in = in.get();
    a.ingress.push_back(std::move(out));
    a.egress.push_back(std::move(in));
    // Teach the switch both stations, so unicast goes to one port.
    h.send("a", eth(0xffffffffffff, kMacA, {}, 0x0806));
    h.send("b", eth(0xffffffffffff, kMacB, {}, 0x0806));
    h.take("a");
    h.take("b");
  }
};

// A: egress TCP 80 allowed, nothing ingress but ICMP echo from 10.0.0.0/24.
std::shared_ptr<const dp::FwPolicy> web_client() {
  auto p = std::make_shared<dp::FwPolicy>();
  p->filtered = true;
  p->groups = {"client"};
  dp::FwRule out;
  out.id = 1;
  out.ingress = false;
  out.proto = 6;
  out.port_min = out.port_max = 80;
  dp::FwRule ping;
  ping.id = 2;
  ping.proto = 1;
  ping.icmp_type = 8;
  ping.any_remote = false;
  ping.remotes = {prefix("10.0.0.0/24")};
  p->rules = {out, ping};
  return p;
}

TEST(FirewallStage, LetsOutWhatEgressAllowsAndItsReplies) {
  Fixture f(web_client());
  f.h.send("a", frame(kMacA, kMacB, kA, kB, tcp(40000, 80, kSyn)), 1);
  EXPECT_EQ(f.h.take("b").size(), 1u);
  f.h.send("b", frame(kMacB, kMacA, kB, kA, tcp(80, 40000, kSyn | kAck)), 2);
  EXPECT_EQ(f.h.take("a").size(), 1u) << "the reply of an allowed connection passes without an ingress rule";
  f.h.send("a", frame(kMacA, kMacB, kA, kB, tcp(40000, 80, kAck)), 3);
  EXPECT_EQ(f.h.take("b").size(), 1u);
  // Port 81 is not allowed out; nothing new comes in.
  f.h.send("a", frame(kMacA, kMacB, kA, kB, tcp(40001, 81, kSyn)), 4);
  EXPECT_TRUE(f.h.take("b").empty());
  f.h.send("b", frame(kMacB, kMacA, kB, kA, tcp(50000, 22, kSyn)), 5);
  EXPECT_TRUE(f.h.take("a").empty());
  EXPECT_EQ(f.h.counters("a").dropped(dp::Drop::kFwDenied), 2u);
  // A TCP segment of no connection is invalid, whatever the rules say.
  f.h.send("a", frame(kMacA, kMacB, kA, kB, tcp(40002, 80, kAck)), 6);
  EXPECT_TRUE(f.h.take("b").empty());
  EXPECT_EQ(f.h.counters("a").dropped(dp::Drop::kCtInvalid), 1u);
  EXPECT_EQ(f.ct.size(), 1u);
}

TEST(FirewallStage, IngressRulesAndRemotes) {
  Fixture f(web_client());
  f.h.send("b", frame(kMacB, kMacA, kB, kA, icmp(8, 0, 7, 1), 1), 1);
  EXPECT_EQ(f.h.take("a").size(), 1u) << "echo from 10.0.0.0/24 is allowed in";
  f.h.send("a", frame(kMacA, kMacB, kA, kB, icmp(0, 0, 7, 1), 1), 2);
  EXPECT_EQ(f.h.take("b").size(), 1u) << "and its reply goes out";
  f.h.send("b", frame(kMacB, kMacA, 0x0b000002, kA, icmp(8, 0, 8, 1), 1), 3);
  EXPECT_TRUE(f.h.take("a").empty()) << "from 11.0.0.2: not in the rule's remote";
}

TEST(FirewallStage, Ipv6NeighborAndListenerDiscoveryPassStatelessly) {
  Fixture f(web_client());
  const uint8_t ll_a[16] = {0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  const uint8_t snm[16] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 2};
  const uint8_t mld[16] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x16};
  auto v6frame = [](uint64_t src, const uint8_t* s, const uint8_t* d, uint8_t nh, const Bytes& l4) {
    Bytes b = eth(0x3333ff000002, src, {}, 0x86dd, 0);
    append(b, ip6(nh, s, d, l4));
    return b;
  };
  for (uint8_t type : {133, 135, 136}) {  // RS, NS, NA: out of A and into A, no rule needed
    f.h.send("a", v6frame(kMacA, ll_a, snm, 58, icmp(type, 0, 0, 0)), 1);
    EXPECT_EQ(f.h.take("b").size(), 1u) << int(type);
    f.h.send("b", v6frame(kMacB, ll_a, snm, 58, icmp(type, 0, 0, 0)), 1);
    EXPECT_EQ(f.h.take("a").size(), 1u) << int(type);
  }
  // An MLDv2 report: a hop-by-hop header (router alert) then ICMPv6 143, to ff02::16.
  Bytes report = {58, 0, 5, 2, 0, 0, 1, 0};
  append(report, icmp(143, 0, 0, 0));
  f.h.send("a", v6frame(kMacA, ll_a, mld, 0, report), 2);
  EXPECT_EQ(f.h.take("b").size(), 1u);
  // Anything else behind a hop-by-hop header is filtered: UDP to ff02::1.
  Bytes udp_hbh = {17, 0, 5, 2, 0, 0, 1, 0};
  append(udp_hbh, udp(1000, 2000, 8));
  f.h.send("b", v6frame(kMacB, ll_a, mld, 0, udp_hbh), 2);
  EXPECT_TRUE(f.h.take("a").empty());
  // Redirects are not neighbor discovery's to pass.
  f.h.send("b", v6frame(kMacB, ll_a, snm, 58, icmp(137, 0, 0, 0)), 2);
  EXPECT_TRUE(f.h.take("a").empty());
  // Other ICMPv6 (an echo request) still needs a rule: A allows no IPv6 in.
  f.h.send("b", v6frame(kMacB, ll_a, snm, 58, icmp(128, 0, 1, 1)), 3);
  EXPECT_TRUE(f.h.take("a").empty());
  EXPECT_EQ(f.h.counters("a").dropped(dp::Drop::kCtInvalid) + f.h.counters("a").dropped(dp::Drop::kFwDenied), 3u);
}

// The live trace: a dry run against the live table says what the table
// holds for the frame (established, its state and direction), and changes
// nothing; a frame no rule allows is named as denied.
TEST(FirewallStage, ADryRunTraceReportsTheLiveConnectionAndChangesNothing) {
  Fixture f(web_client());
  f.h.send("a", frame(kMacA, kMacB, kA, kB, tcp(40000, 80, kSyn)), 1);
  f.h.take("b");
  f.h.send("b", frame(kMacB, kMacA, kB, kA, tcp(80, 40000, kSyn | kAck)), 2);
  f.h.take("a");
  const size_t before = f.ct.size();
  auto firewall_steps = [&](const Bytes& fr, const char* at) {
    dp::Trace tr;
    f.h.dp.set_trace(&tr, /*dry_run=*/true);
    f.h.send(at, fr, 3);
    f.h.dp.set_trace(nullptr);
    std::vector<dp::TraceStep> out;
    for (const auto& st : tr.steps)
      if (st.stage == dp::TraceStage::kFirewall) out.push_back(st);
    return out;
  };
  auto steps = firewall_steps(frame(kMacA, kMacB, kA, kB, tcp(40000, 80, kAck)), "a");
  ASSERT_EQ(steps.size(), 1u);
  EXPECT_EQ(steps[0].what, dp::TraceWhat::kFwEstablished);
  EXPECT_EQ(steps[0].conn_state, "SYN_RECV, original direction");
  EXPECT_EQ(dp::describe(steps[0]),
            "port a (egress rules of client): conntrack zone 1: established (SYN_RECV, original direction): passes");
  steps = firewall_steps(frame(kMacA, kMacB, kA, kB, tcp(40001, 80, kSyn)), "a");
  ASSERT_EQ(steps.size(), 1u);
  EXPECT_EQ(steps[0].what, dp::TraceWhat::kFwAllowed);
  EXPECT_EQ(steps[0].group, "client");
  EXPECT_EQ(steps[0].rule_id, 1);
  steps = firewall_steps(frame(kMacB, kMacA, kB, kA, tcp(50000, 22, kSyn)), "b");
  ASSERT_EQ(steps.size(), 1u);
  EXPECT_EQ(steps[0].what, dp::TraceWhat::kFwDenied);
  EXPECT_EQ(f.ct.size(), before) << "a dry run commits nothing";
  EXPECT_EQ(f.ct.entries(3)[0].state, dp::Conntrack::ConnState::kSynRecv) << "nor updates";
}

TEST(FirewallStage, ArpAndUnfilteredPortsPass) {
  Fixture f(web_client());
  f.h.send("b", eth(kMacA, kMacB, {}, 0x0806), 1);
  EXPECT_EQ(f.h.take("a").size(), 1u);
  // Port b has no stage: anything it receives from a that a's rules allow arrives.
  f.h.send("a", frame(kMacA, kMacB, kA, kB, tcp(40000, 80, kSyn)), 2);
  EXPECT_EQ(f.h.take("b").size(), 1u);
}

TEST(FirewallStage, PortSecurityDropsSpoofedSources) {
  auto p = std::make_shared<dp::FwPolicy>(*web_client());
  p->port_security = true;
  p->sources = {{kMacA, prefix("10.0.0.1")}};
  Fixture f(p);
  f.h.send("a", frame(kMacA, kMacB, 0x0a000009, kB, tcp(40000, 80, kSyn)), 1);
  f.h.send("a", frame(0x525400000099, kMacB, kA, kB, tcp(40000, 80, kSyn)), 2);
  EXPECT_TRUE(f.h.take("b").empty());
  EXPECT_EQ(f.h.counters("a").dropped(dp::Drop::kSpoofedIp), 1u);
  EXPECT_EQ(f.h.counters("a").dropped(dp::Drop::kSpoofedMac), 1u);
  f.h.send("a", frame(kMacA, kMacB, kA, kB, tcp(40000, 80, kSyn)), 3);
  EXPECT_EQ(f.h.take("b").size(), 1u);
}

TEST(FirewallStage, PerPortZonesDoNotShareConnections) {
  // Both ports filtered: a lets TCP 80 out, b lets nothing in. A connection
  // a let out must still be let in by b.
  Harness h;
  dp::Conntrack ct(64);
  auto& br = h.bridge("br0", dp::BridgeType::kSwitch);
  dp::Port& a = h.port(br, "a");
  dp::Port& b = h.port(br, "b");
  auto closed = std::make_shared<dp::FwPolicy>();
  closed->filtered = true;
  a.ingress.push_back(std::make_unique<dp::FirewallStage>(ct, 1, true, web_client()));
  a.egress.push_back(std::make_unique<dp::FirewallStage>(ct, 1, false, web_client()));
  b.ingress.push_back(std::make_unique<dp::FirewallStage>(ct, 2, true, closed));
  b.egress.push_back(std::make_unique<dp::FirewallStage>(ct, 2, false, closed));
  h.send("a", frame(kMacA, 0xffffffffffff, kA, kB, tcp(40000, 80, kSyn)), 1);
  EXPECT_TRUE(h.take("b").empty());
  EXPECT_EQ(h.counters("b").dropped(dp::Drop::kFwDenied), 1u);
}

TEST(FirewallStage, ARemovedRuleCutsTheConnectionsItAllowed) {
  Harness h;
  auto& br = h.bridge("br0", dp::BridgeType::kSwitch);
  dp::Port& a = h.port(br, "a");
  h.port(br, "b");
  h.send("b", eth(0xffffffffffff, kMacB, {}, 0x0806));
  h.take("a");
  h.dp.set_firewall(a, web_client());
  ASSERT_NE(br.conntrack(), nullptr);
  h.send("a", frame(kMacA, kMacB, kA, kB, tcp(40000, 80, kSyn)), 1);
  EXPECT_EQ(h.take("b").size(), 1u);
  EXPECT_EQ(br.conntrack()->size(), 1u);
  h.dp.set_firewall(a, web_client());  // the same rules: the connection stays
  EXPECT_EQ(br.conntrack()->size(), 1u);
  auto without = std::make_shared<dp::FwPolicy>(*web_client());
  without->rules.erase(without->rules.begin());  // rule 1, TCP 80 out, goes
  h.dp.set_firewall(a, without);
  EXPECT_EQ(br.conntrack()->size(), 0u);
  // With b filtered too, the cut connection leaves b's zone as well.
  h.dp.set_firewall(a, web_client());
  auto open_in = std::make_shared<dp::FwPolicy>(*web_client());
  dp::FwRule in80;
  in80.id = 9;
  in80.proto = 6;
  in80.port_min = in80.port_max = 80;
  open_in->rules.push_back(in80);
  h.dp.set_firewall(*h.dp.find_port("b"), open_in);
  h.send("a", frame(kMacA, kMacB, kA, kB, tcp(40001, 80, kSyn)), 1);
  EXPECT_EQ(h.take("b").size(), 1u);
  EXPECT_EQ(br.conntrack()->size(), 2u) << "one entry in each port's zone";
  h.dp.set_firewall(a, without);
  EXPECT_EQ(br.conntrack()->size(), 0u);
  h.dp.set_firewall(*h.dp.find_port("b"), nullptr);
  h.send("b", frame(kMacB, kMacA, kB, kA, tcp(80, 40000, kSyn | kAck)), 2);
  EXPECT_TRUE(h.take("a").empty()) << "the reply of a cut connection is no reply";
  h.dp.set_firewall(a, nullptr);  // no policy: the stages go, the port is open
  EXPECT_TRUE(a.ingress.empty() && a.egress.empty());
  h.send("b", frame(kMacB, kMacA, kB, kA, tcp(80, 40000, kSyn | kAck)), 3);
  EXPECT_EQ(h.take("a").size(), 1u);
}

TEST(FirewallStage, BridgeConntrackSettingsApplyToTheLiveTable) {
  Harness h;
  auto& br = h.bridge("br0", dp::BridgeType::kSwitch);
  dp::Port& a = h.port(br, "a");
  h.port(br, "b");
  h.send("b", eth(0xffffffffffff, kMacB, {}, 0x0806));
  h.take("a");
  dp::BridgeSettings s;
  s.conntrack_max = 2;
  br.set_settings(s);  // before any firewall: the table is made with these
  h.dp.set_firewall(a, web_client());
  ASSERT_NE(br.conntrack(), nullptr);
  EXPECT_EQ(br.conntrack()->capacity(), 2u);
  const uint64_t sec = dp::kSecondNs;
  for (uint16_t port : {40000, 40001}) {  // two established connections: never evicted
    h.send("a", frame(kMacA, kMacB, kA, kB, tcp(port, 80, kSyn)), 1 * sec);
    h.send("b", frame(kMacB, kMacA, kB, kA, tcp(80, port, kSyn | kAck)), 1 * sec);
    h.send("a", frame(kMacA, kMacB, kA, kB, tcp(port, 80, kAck)), 1 * sec);
  }
  EXPECT_EQ(h.take("b").size(), 4u);
  EXPECT_EQ(h.take("a").size(), 2u);
  h.send("a", frame(kMacA, kMacB, kA, kB, tcp(40002, 80, kSyn)), 1 * sec);
  EXPECT_TRUE(h.take("b").empty());
  EXPECT_EQ(h.counters("a").dropped(dp::Drop::kCtFull), 1u);
  // Larger, in place: the stages keep working on the same table and its connections.
  const dp::Conntrack* table = br.conntrack();
  s.conntrack_max = 64;
  s.conntrack_timeouts.tcp_established_ns = 5 * sec;
  br.set_settings(s);
  EXPECT_EQ(br.conntrack(), table);
  EXPECT_EQ(br.conntrack()->capacity(), 64u);
  EXPECT_EQ(br.conntrack()->size(), 2u);
  h.send("b", frame(kMacB, kMacA, kB, kA, tcp(80, 40000, kAck, 100)), 2 * sec);
  EXPECT_EQ(h.take("a").size(), 1u) << "a connection from before the resize";
  h.send("a", frame(kMacA, kMacB, kA, kB, tcp(40002, 80, kSyn)), 2 * sec);
  EXPECT_EQ(h.take("b").size(), 1u) << "room now";
  // The shorter ESTABLISHED timeout applies at once: 40000 was last seen at 2 s.
  h.send("b", frame(kMacB, kMacA, kB, kA, tcp(80, 40000, kAck, 100)), 7 * sec + 1);
  EXPECT_TRUE(h.take("a").empty());
  EXPECT_EQ(h.counters("a").dropped(dp::Drop::kCtInvalid), 1u);
}

}  // namespace
}  // namespace kvnet::testing
