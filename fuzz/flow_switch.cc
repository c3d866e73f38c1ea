// Fuzz target flow_switch: arbitrary frames through the VLAN switch.
//
// One datapath, built once: a switch bridge `sw` with a port in every VLAN
// mode (access, trunk, hybrid, native-tagged, native-untagged, dot1q-tunnel
// with and without cvlans, priority_tags), MTUs from 68 to 9000, ports that
// take offloaded frames and ports that need them finished in software, a
// small FDB (16 entries, 60 s aging) with a static entry, a neighbour table
// (ARP/ND suppression, dp/neighbors.h: 10.0.0.2 and fd00::2 in VLANs 10, 20
// and 100), and a patch pair to a learning bridge `lb`.
//
// The input is a sequence of records, each one frame:
//   byte 0   bits 0-4: ingress port (modulo the port count)
//            bit 5: a 10-byte virtio-net header follows the length
//            bit 6: join the previous record's batch (same port, batch not full)
//            bit 7 (first record only): trace the input; byte 1 bit 0 = dry run
//   byte 1   seconds the clock advances before this frame (FDB aging)
//   byte 2-3 frame length, big-endian (cut to what is left)
//   [10 bytes VnetHdr], frame bytes
// Each input starts from the same state: learned FDB entries are flushed and
// the clock restarts.
//
// Invariants after every input: every frame is back in the pool; no frame was
// cut as a loop (the topology is a tree); every port received exactly what was
// injected on it plus what its patch peer sent; without offload metadata,
// every backend got exactly the frames its port counted as sent, with no
// send errors.
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "dp/datapath.h"
#include "dp/neighbors.h"
#include "fuzz_check.h"
#include "net/frame.h"
#include "net/headers.h"

namespace {

using namespace kvnet;

class CountingBackend final : public dp::PortBackend {
 public:
  explicit CountingBackend(bool offload) : offload_(offload) {}
  bool accepts_offload() const override { return offload_; }
  uint32_t send(net::FrameBatch& batch, net::FramePool& pool) override {
    for (uint32_t i = 0; i < batch.count; ++i)
      FUZZ_CHECK(batch[i]->len() >= net::kEthHeaderLen, "a %zu-byte frame was sent", batch[i]->len());
    frames += batch.count;
    const uint32_t n = batch.count;
    pool.put(batch);
    return n;
  }
  uint64_t frames = 0;

 private:
  bool offload_;
};

dp::VlanSet vset(std::initializer_list<uint16_t> v) {
  dp::VlanSet s;
  for (auto x : v) s.set(x);
  return s;
}

dp::VlanConfig vlan(dp::VlanMode mode, uint16_t pvid) {
  dp::VlanConfig c;
  c.mode = mode;
  c.pvid = pvid;
  return c;
}

struct World {
  dp::Datapath dp{1024};
  std::vector<dp::Port*> ports;
  std::vector<CountingBackend*> backends;  // null for patch ports
  size_t pool_size = 0;

  void port(dp::Bridge& br, const char* name, const dp::VlanConfig& v, uint32_t mtu, bool offload) {
    auto b = std::make_unique<CountingBackend>(offload);
    backends.push_back(b.get());
    ports.push_back(&dp.add_port(br, name, dp::KindTag{"pcap"}, mtu, v, std::move(b)));
  }

  World() {
    using M = dp::VlanMode;
    dp::Bridge& sw = dp.add_bridge("sw", dp::BridgeType::kSwitch, {.mac_aging_sec = 60, .mac_table_size = 16});
    port(sw, "acc10", vlan(M::kAccess, 10), 1500, false);
    auto acc20 = vlan(M::kAccess, 20);
    acc20.priority_tags = dp::PriorityTags::kIfNonzero;
    port(sw, "acc20", acc20, 68, true);
    auto trunk = vlan(M::kTrunk, 1);
    trunk.allowed = vset({1, 10, 20, 30, 100, 4094});
    port(sw, "trunk", trunk, 9000, false);
    auto trunk_np = vlan(M::kTrunk, 10);  // pvid not allowed: untagged frames dropped
    trunk_np.allowed = vset({20, 30});
    port(sw, "trunk_np", trunk_np, 1500, true);
    auto hyb = vlan(M::kHybrid, 10);
    hyb.tagged = vset({20, 30});
    hyb.untagged = vset({10, 40});
    port(sw, "hybrid", hyb, 1500, false);
    port(sw, "ntag", vlan(M::kNativeTagged, 30), 1500, false);  // allowed: all
    auto nun = vlan(M::kNativeUntagged, 20);
    nun.allowed = vset({10, 20, 4094});
    nun.priority_tags = dp::PriorityTags::kAlways;
    port(sw, "nuntag", nun, 1500, true);
    port(sw, "tun_all", vlan(M::kDot1qTunnel, 100), 1500, false);  // cvlans: all, 802.1ad
    auto tun = vlan(M::kDot1qTunnel, 200);
    tun.cvlans = vset({10, 20});
    tun.qinq_tpid = 0x8100;
    port(sw, "tun_cv", tun, 9000, false);
    auto prio = vlan(M::kAccess, 30);
    prio.priority_tags = dp::PriorityTags::kAlways;
    port(sw, "prio", prio, 1500, false);

    dp::Bridge& lb = dp.add_bridge("lb", dp::BridgeType::kLearning, {.mac_aging_sec = 30, .mac_table_size = 8});
    auto up = vlan(M::kTrunk, 10);
    up.allowed = vset({10, 20, 100, 200});
    dp::Port& a = dp.add_port(sw, "to_lb", dp::kPatchKind, 1500, up, nullptr);
    dp::Port& b = dp.add_port(lb, "to_sw", dp::kPatchKind, 1500, {}, nullptr);
    dp.connect_patch(a, b);
    ports.push_back(&a);
    backends.push_back(nullptr);
    ports.push_back(&b);
    backends.push_back(nullptr);
    port(lb, "l1", {}, 1500, false);
    port(lb, "l2", {}, 9000, true);

    sw.fdb()->add_static(10, 0x020000000001, ports[0]->id);
    auto nt = std::make_shared<dp::NeighborTable>();
    const uint8_t v4[4] = {10, 0, 0, 2};
    const uint8_t v6[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
    for (uint16_t v : {10, 20, 100}) {
      nt->add(v, v4, 4, net::Mac::from_u64(0x020000000002), "fuzz");
      nt->add(v, v6, 16, net::Mac::from_u64(0x020000000002), "fuzz");
    }
    sw.set_neighbors(std::move(nt));
    lb.fdb()->add_static(0, 0x020000000002, ports.back()->id);
    pool_size = dp.pool().available();
  }
};

struct Reader {
  const uint8_t* p;
  size_t left;
  bool take(void* out, size_t n) {
    if (left < n) return false;
    std::memcpy(out, p, n);
    p += n;
    left -= n;
    return true;
  }
};

struct Before {
  std::vector<dp::PortCounters> counters;
  std::vector<uint64_t> sent;
  std::vector<uint64_t> injected;
};

void check_counters(World& w, const Before& before, bool had_offload) {
  auto delta = [&](size_t i, auto field) { return w.ports[i]->counters.*field - before.counters[i].*field; };
  for (size_t i = 0; i < w.ports.size(); ++i) {
    const dp::Port& p = *w.ports[i];
    FUZZ_CHECK(p.counters.dropped(dp::Drop::kLoopCut) == before.counters[i].dropped(dp::Drop::kLoopCut),
               "port %s cut a frame as a loop in a tree", p.name.c_str());
    uint64_t expect_rx = before.injected[i];
    if (p.peer) {
      for (size_t j = 0; j < w.ports.size(); ++j)
        if (w.ports[j] == p.peer) expect_rx += delta(j, &dp::PortCounters::tx_packets);
    }
    FUZZ_CHECK(delta(i, &dp::PortCounters::rx_packets) == expect_rx, "port %s: rx %llu, expected %llu",
               p.name.c_str(), static_cast<unsigned long long>(delta(i, &dp::PortCounters::rx_packets)),
               static_cast<unsigned long long>(expect_rx));
    if (!w.backends[i] || had_offload) continue;
    const uint64_t got = w.backends[i]->frames - before.sent[i];
    FUZZ_CHECK(got == delta(i, &dp::PortCounters::tx_packets), "port %s: backend got %llu, tx_packets says %llu",
               p.name.c_str(), static_cast<unsigned long long>(got),
               static_cast<unsigned long long>(delta(i, &dp::PortCounters::tx_packets)));
    FUZZ_CHECK(p.counters.dropped(dp::Drop::kTxError) == before.counters[i].dropped(dp::Drop::kTxError),
               "port %s: tx error without offload", p.name.c_str());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World* world = new World();  // lives for the process, like the datapath
  World& w = *world;
  for (const auto& b : w.dp.bridges())
    if (b->fdb()) b->fdb()->flush();

  Before before;
  before.injected.assign(w.ports.size(), 0);
  for (size_t i = 0; i < w.ports.size(); ++i) {
    before.counters.push_back(w.ports[i]->counters);
    before.sent.push_back(w.backends[i] ? w.backends[i]->frames : 0);
  }

  dp::Trace trace;
  Reader in{data, size};
  uint64_t ts_ns = 1000ULL * 1000000000ULL;
  net::FrameBatch batch;
  size_t batch_port = 0;
  bool first = true, had_offload = false;
  auto run = [&] {
    if (!batch.empty()) w.dp.receive(*w.ports[batch_port], batch);
    batch.clear();
  };
  for (;;) {
    uint8_t h[4];
    if (!in.take(h, sizeof h)) break;
    const size_t port = (h[0] & 0x1f) % w.ports.size();
    if (first && (h[0] & 0x80)) w.dp.set_trace(&trace, h[1] & 1);
    first = false;
    net::VnetHdr vnet;
    if ((h[0] & 0x20) && !in.take(&vnet, sizeof vnet)) break;
    had_offload |= (h[0] & 0x20) != 0;
    const size_t len = std::min<size_t>(size_t{h[2]} << 8 | h[3], in.left);
    ts_ns += uint64_t{h[1]} * 1000000000ULL;

    if (!(h[0] & 0x40) || port != batch_port || batch.full()) run();
    net::Frame* f = w.dp.pool().get();
    FUZZ_CHECK(f != nullptr, "pool exhausted between batches");
    if (!f->assign(in.p, len)) f->assign(in.p, net::kMaxFrameLen);
    in.p += len;
    in.left -= len;
    f->meta.ts_ns = ts_ns;
    f->meta.vnet = vnet;
    batch.add(f);
    batch_port = port;
    ++before.injected[port];
  }
  run();
  const bool dry_run = w.dp.dry_run();  // counts nothing: no counter invariants
  w.dp.set_trace(nullptr);

  FUZZ_CHECK(w.dp.pool().available() == w.pool_size, "%zu of %zu frames are not back in the pool",
             w.pool_size - w.dp.pool().available(), w.pool_size);
  if (!dry_run) check_counters(w, before, had_offload);
  return 0;
}
