// Datapath micro-benchmarks: 64-byte frames (60 bytes + FCS on the wire),
// single core, warm FDB, batches of 32, output to a discarding backend.
// Each benchmark reports input frames per second (items_per_second).
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "dp/datapath.h"
#include "dp/firewall.h"
#include "dp/flow_table.h"
#include "dp/flow_text.h"
#include "net/headers.h"

namespace {

using namespace kvnet;

constexpr uint64_t kSrc = 0x525400000001, kDst = 0x525400000002;

std::vector<uint8_t> frame(uint64_t dst, uint64_t src, int vid) {
  std::vector<uint8_t> b;
  for (int i = 40; i >= 0; i -= 8) b.push_back(static_cast<uint8_t>(dst >> i));
  for (int i = 40; i >= 0; i -= 8) b.push_back(static_cast<uint8_t>(src >> i));
  if (vid >= 0) b.insert(b.end(), {0x81, 0x00, static_cast<uint8_t>(vid >> 8), static_cast<uint8_t>(vid)});
  b.insert(b.end(), {0x08, 0x00});
  // A minimal IPv4/UDP header so the parser does its full work.
  const uint8_t ip[28] = {0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
                          0x30, 0x39, 0x00, 0x35, 0, 8, 0, 0};
  b.insert(b.end(), ip, ip + sizeof ip);
  b.resize(vid >= 0 ? 64 : 60, 0);
  return b;
}

dp::VlanConfig access(uint16_t pvid) {
  dp::VlanConfig c;
  c.pvid = pvid;
  return c;
}
dp::VlanConfig trunk(std::initializer_list<uint16_t> vids) {
  dp::VlanConfig c;
  c.mode = dp::VlanMode::kTrunk;
  dp::VlanSet s;
  for (auto v : vids) s.set(v);
  c.allowed = s;
  return c;
}

// Sends batches of kBatchSize frames on `in`, cycling through `frames`
// (one frame: every frame of a batch the same).
void run(benchmark::State& state, dp::Datapath& d, dp::Port& in, const std::vector<std::vector<uint8_t>>& frames) {
  net::FrameBatch b;
  uint64_t ts = 1;
  for (auto _ : state) {
    for (size_t i = 0; i < net::kBatchSize; ++i) {
      const auto& f = frames[i % frames.size()];
      net::Frame* fr = d.pool().get();
      fr->assign(f.data(), f.size());
      fr->meta.ts_ns = ts;
      b.add(fr);
    }
    d.receive(in, b);
    b.clear();
    ts += 1000;
  }
  const auto frames_sent = static_cast<int64_t>(state.iterations()) * net::kBatchSize;
  state.SetItemsProcessed(frames_sent);
  if (in.counters.total_drops()) state.SkipWithError("ingress drops: the benchmark setup is wrong");
}

// Teaches the switch where kDst lives, via a frame from kDst on `at`.
void warm(dp::Datapath& d, dp::Port& at, int vid) {
  net::FrameBatch b;
  net::Frame* fr = d.pool().get();
  auto f = frame(0xffffffffffff, kDst, vid);
  fr->assign(f.data(), f.size());
  b.add(fr);
  d.receive(at, b);
}

void BM_AccessToAccess(benchmark::State& state) {
  dp::Datapath d(4096);
  auto& br = d.add_bridge("br", dp::BridgeType::kSwitch);
  auto& a = d.add_port(br, "a", dp::KindTag{"pcap"}, 1500, access(10), nullptr);
  auto& z = d.add_port(br, "z", dp::KindTag{"pcap"}, 1500, access(10), nullptr);
  warm(d, z, -1);
  run(state, d, a, {frame(kDst, kSrc, -1)});
  if (z.counters.tx_packets == 0) state.SkipWithError("nothing forwarded");
}
BENCHMARK(BM_AccessToAccess);

void BM_AccessToTrunk(benchmark::State& state) {
  dp::Datapath d(4096);
  auto& br = d.add_bridge("br", dp::BridgeType::kSwitch);
  auto& a = d.add_port(br, "a", dp::KindTag{"pcap"}, 1500, access(10), nullptr);
  auto& t = d.add_port(br, "t", dp::KindTag{"pcap"}, 1500, trunk({10, 20}), nullptr);
  warm(d, t, 10);
  run(state, d, a, {frame(kDst, kSrc, -1)});
  if (t.counters.tx_packets == 0) state.SkipWithError("nothing forwarded");
}
BENCHMARK(BM_AccessToTrunk);

void BM_TrunkToAccess(benchmark::State& state) {
  dp::Datapath d(4096);
  auto& br = d.add_bridge("br", dp::BridgeType::kSwitch);
  auto& t = d.add_port(br, "t", dp::KindTag{"pcap"}, 1500, trunk({10, 20}), nullptr);
  auto& a = d.add_port(br, "a", dp::KindTag{"pcap"}, 1500, access(10), nullptr);
  warm(d, a, -1);
  run(state, d, t, {frame(kDst, kSrc, 10)});
  if (a.counters.tx_packets == 0) state.SkipWithError("nothing forwarded");
}
BENCHMARK(BM_TrunkToAccess);

void BM_FloodTo8Ports(benchmark::State& state) {
  dp::Datapath d(4096);
  auto& br = d.add_bridge("br", dp::BridgeType::kSwitch);
  auto& a = d.add_port(br, "a", dp::KindTag{"pcap"}, 1500, access(10), nullptr);
  for (int i = 0; i < 8; ++i)
    d.add_port(br, "p" + std::to_string(i), dp::KindTag{"pcap"}, 1500, access(10), nullptr);
  run(state, d, a, {frame(0xffffffffffff, kSrc, -1)});
  state.counters["out_frames_per_second"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * net::kBatchSize * 8, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_FloodTo8Ports);

void BM_PatchBetweenTwoBridges(benchmark::State& state) {
  dp::Datapath d(4096);
  auto& b1 = d.add_bridge("b1", dp::BridgeType::kSwitch);
  auto& b2 = d.add_bridge("b2", dp::BridgeType::kSwitch);
  auto& a = d.add_port(b1, "a", dp::KindTag{"pcap"}, 1500, access(10), nullptr);
  auto& x = d.add_port(b1, "x", dp::kPatchKind, 1500, trunk({10}), nullptr);
  auto& y = d.add_port(b2, "y", dp::kPatchKind, 1500, trunk({10}), nullptr);
  auto& z = d.add_port(b2, "z", dp::KindTag{"pcap"}, 1500, access(10), nullptr);
  d.connect_patch(x, y);
  warm(d, z, -1);
  run(state, d, a, {frame(kDst, kSrc, -1)});
  if (z.counters.tx_packets == 0) state.SkipWithError("nothing forwarded");
}
BENCHMARK(BM_PatchBetweenTwoBridges);

// --- the firewall: 32 established UDP flows (one per frame of a batch,
// source ports 10000-10031) from a to z, 64-byte frames; without a firewall,
// and with both ports filtered by one 20-rule security group (their
// conntrack zones in the bridge's table: per frame, a classify and an update
// in each port's zone).

std::vector<std::vector<uint8_t>> flows32() {
  std::vector<std::vector<uint8_t>> frames;
  for (int i = 0; i < static_cast<int>(net::kBatchSize); ++i) {
    auto f = frame(kDst, kSrc, -1);
    const uint16_t sport = static_cast<uint16_t>(10000 + i);
    f[34] = static_cast<uint8_t>(sport >> 8);
    f[35] = static_cast<uint8_t>(sport);
    frames.push_back(std::move(f));
  }
  return frames;
}

// One group of 20 rules; the flows match the last rule of each direction.
std::shared_ptr<const dp::FwPolicy> twenty_rules() {
  auto p = std::make_shared<dp::FwPolicy>();
  p->groups = {"bench"};
  p->filtered = true;
  for (uint32_t i = 0; i < 20; ++i) {
    dp::FwRule r;
    r.id = i + 1;
    r.ingress = i < 10;
    r.proto = 6;
    r.port_min = r.port_max = static_cast<uint16_t>(1000 + i);
    r.any_remote = false;
    dp::IpPrefix pre;
    dp::IpPrefix::parse("10.0.0.0/24", pre);
    r.remotes = {pre};
    if (i == 9 || i == 19) {  // the last of each direction: UDP 53 from/to 10.0.0.0/24
      r.proto = 17;
      r.port_min = r.port_max = 53;
    }
    p->rules.push_back(r);
  }
  return p;
}

void BM_Flows32NoFirewall(benchmark::State& state) {
  dp::Datapath d(4096);
  auto& br = d.add_bridge("br", dp::BridgeType::kSwitch);
  auto& a = d.add_port(br, "a", dp::KindTag{"pcap"}, 1500, access(10), nullptr);
  auto& z = d.add_port(br, "z", dp::KindTag{"pcap"}, 1500, access(10), nullptr);
  warm(d, z, -1);
  run(state, d, a, flows32());
  if (z.counters.tx_packets == 0) state.SkipWithError("nothing forwarded");
}
BENCHMARK(BM_Flows32NoFirewall);

void BM_Flows32Firewall20RulesEstablished(benchmark::State& state) {
  dp::Datapath d(4096);
  auto& br = d.add_bridge("br", dp::BridgeType::kSwitch);
  auto& a = d.add_port(br, "a", dp::KindTag{"pcap"}, 1500, access(10), nullptr);
  auto& z = d.add_port(br, "z", dp::KindTag{"pcap"}, 1500, access(10), nullptr);
  warm(d, z, -1);
  d.set_firewall(a, twenty_rules());
  d.set_firewall(z, twenty_rules());
  run(state, d, a, flows32());  // the first batch commits the 32 connections; the rest are established
  if (z.counters.tx_packets < state.iterations() * net::kBatchSize) state.SkipWithError("the firewall dropped frames");
  if (br.conntrack()->size() != 2 * net::kBatchSize) state.SkipWithError("not 32 connections in each zone");
}
BENCHMARK(BM_Flows32Firewall20RulesEstablished);

}  // namespace

// OpenFlow tables (dp/flow_table.h): one lookup of a frame's fields, with
// the default table (one flow) and with 1,000 flows in 6 shapes of match
// (the classifier's subtables), the frame matching one of the
// lowest-priority flows (the worst case: every subtable is searched).
void flow_lookup(benchmark::State& state, int n) {
  dp::FlowTable t;
  dp::FlowPorts ports;
  const char* shapes[] = {"ip,nw_src=10.%d.%d.0/24", "tcp,tp_dst=%d%d", "in_port=%d%d", "dl_vlan=%d%d",
                          "udp,nw_dst=10.0.%d.%d", "ip,nw_src=172.16.%d.%d,nw_dst=10.0.0.0/8"};
  if (n == 1) t.add(dp::default_flow());
  for (int i = 0; n > 1 && static_cast<int>(t.size()) < n; ++i) {
    char buf[128];
    std::snprintf(buf, sizeof buf, shapes[i % 6], i / 6 % 100 + 1, i / 600 + 1);
    auto f = dp::parse_flow_text(std::string(buf) + ",priority=" + std::to_string(100 + i % 1000) + ",actions=NORMAL", ports,
                                 dp::FlowTextMode::kAdd);
    if (f) t.add(f->flow);
  }
  if (n > 1) t.add(dp::default_flow());
  net::FlowKey k;
  k.dl_type = 0x0800;
  k.nw_src = 0xc0a80001;
  k.nw_dst = 0xc0a80002;
  k.nw_proto = 6;
  k.tp_dst = 22;
  for (auto _ : state) {
    const dp::FlowWords w = dp::flow_words(k, 7, 0);
    benchmark::DoNotOptimize(t.lookup(w));
  }
  state.counters["flows"] = static_cast<double>(t.size());
}
void BM_FlowLookupDefaultTable(benchmark::State& state) { flow_lookup(state, 1); }
BENCHMARK(BM_FlowLookupDefaultTable);
void BM_FlowLookup1000Flows(benchmark::State& state) { flow_lookup(state, 1000); }
BENCHMARK(BM_FlowLookup1000Flows);

BENCHMARK_MAIN();
