#include "ctl/replay.h"

#include <chrono>
#include <queue>

#include "ctl/build.h"
#include "ctl/kinds/pcap.h"
#include "io/pcap_port.h"
#include "net/pcap.h"

namespace kvnet::ctl {
namespace {

struct Input {
  const PortSpec* spec;
  std::string bridge;
  net::PcapReader reader;
  uint64_t records = 0;
};

struct Head {
  uint64_t ts;
  size_t input;
  bool operator>(const Head& o) const { return ts != o.ts ? ts > o.ts : input > o.input; }
};

// Opens and fully checks every rx file. Fails before any frame moves.
Result<std::vector<std::unique_ptr<Input>>> open_inputs(const Topology& t, bool* any_nsec, uint64_t* total) {
  std::vector<std::unique_ptr<Input>> inputs;
  *any_nsec = false;
  *total = 0;
  for (const auto& b : t.bridges)
    for (const auto& p : b.ports) {
      const auto* o = p.as<PcapOptions>();
      if (!o || o->rx.empty()) continue;
      const std::string who = "bridge '" + b.name + "': port '" + p.name + "': rx: ";
      net::PcapReader scan;
      if (auto s = scan.open(o->rx); !s) return Error{who + s.error().message};
      net::PcapRecord rec;
      uint64_t n = 0;
      while (scan.next(rec)) ++n;
      if (auto s = scan.status(); !s) return Error{who + s.error().message};
      auto in = std::make_unique<Input>();
      in->spec = &p;
      in->bridge = b.name;
      in->records = n;
      if (auto s = in->reader.open(o->rx); !s) return Error{who + s.error().message};
      *any_nsec = *any_nsec || in->reader.nanosecond();
      *total += n;
      inputs.push_back(std::move(in));
    }
  return inputs;
}

}  // namespace

std::vector<PortReport> port_reports(const dp::Datapath& dp) {
  std::vector<PortReport> out;
  for (const auto& p : dp.ports())
    if (p) out.push_back({p->bridge->name(), p->name, p->kind, p->counters});
  return out;
}

std::vector<FdbReportEntry> fdb_report(dp::Datapath& dp) {
  std::vector<FdbReportEntry> out;
  for (const auto& b : dp.bridges()) {
    if (!b->fdb()) continue;
    for (const auto& e : b->fdb()->entries())
      out.push_back({b->name(), e.vlan, net::Mac::from_u64(e.mac).str(), dp.port(e.port).name, e.is_static});
  }
  return out;
}

static Result<uint64_t> run_inputs(std::vector<std::unique_ptr<Input>>& inputs, uint64_t total, dp::Datapath& dp,
                                   const Progress& progress) {
  std::vector<dp::Port*> ports;
  std::priority_queue<Head, std::vector<Head>, std::greater<>> heap;
  std::vector<net::PcapRecord> pending(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    ports.push_back(dp.find_port(inputs[i]->bridge + "/" + inputs[i]->spec->name));
    if (inputs[i]->reader.next(pending[i])) heap.push({pending[i].ts_ns, i});
  }
  uint64_t done = 0;
  net::FrameBatch batch;
  while (!heap.empty()) {
    const Head h = heap.top();
    heap.pop();
    net::PcapRecord& rec = pending[h.input];
    dp::Port& port = *ports[h.input];
    net::Frame* f = dp.pool().get();
    if (!f) {
      port.counters.drop(dp::Drop::kNoBuffer);
    } else if (!f->assign(rec.data.data(), rec.data.size())) {
      ++port.counters.rx_packets;
      port.counters.rx_bytes += rec.data.size();
      port.counters.drop(dp::Drop::kOversize);
      dp.pool().put(f);
    } else {
      f->meta.ts_ns = rec.ts_ns;
      batch.add(f);
      dp.receive(port, batch);
      batch.clear();
    }
    ++done;
    if (progress && (done & 0xffff) == 0) progress(done, total);
    if (inputs[h.input]->reader.next(rec)) heap.push({rec.ts_ns, h.input});
    else if (auto s = inputs[h.input]->reader.status(); !s) return s.error();
  }
  if (progress) progress(done, total);
  return done;
}

Result<uint64_t> feed_rx(const Topology& t, dp::Datapath& dp, const Progress& progress) {
  bool nsec = false;
  uint64_t total = 0;
  auto inputs = open_inputs(t, &nsec, &total);
  if (!inputs) return inputs.error();
  return run_inputs(*inputs, total, dp, progress);
}

Result<ReplayResult> replay(const Topology& t, const Progress& progress, bool collect_fdb) {
  bool nsec = false;
  uint64_t total = 0;
  auto inputs = open_inputs(t, &nsec, &total);
  if (!inputs) return inputs.error();

  for (const auto& b : t.bridges)
    for (const auto& p : b.ports)
      if (!p.kind->offline())
        return Error{"bridge '" + b.name + "': port '" + p.name + "': " + std::string(p.kind->name()) +
                     " ports need the live daemon (kvnetd); replay supports pcap and patch ports"};
  std::vector<io::PcapTxBackend*> writers;
  auto factory = [&](const BridgeSpec& b, const PortSpec& p) -> Result<std::unique_ptr<dp::PortBackend>> {
    const auto* o = p.as<PcapOptions>();
    if (!o || o->tx.empty()) return std::unique_ptr<dp::PortBackend>();
    auto w = io::PcapTxBackend::open(o->tx, nsec);
    if (!w) return Error{"bridge '" + b.name + "': port '" + p.name + "': tx: " + w.error().message};
    writers.push_back(w->get());
    return std::unique_ptr<dp::PortBackend>(std::move(*w));
  };
  auto dp = build_datapath(t, factory);
  if (!dp) return dp.error();

  ReplayResult r;
  r.files = inputs->size();
  const auto t0 = std::chrono::steady_clock::now();
  auto n = run_inputs(*inputs, total, **dp, progress);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (auto* w : writers)
    if (auto s = w->close(); !s) return s.error();
  if (!n) return n.error();
  r.frames = *n;
  r.ports = port_reports(**dp);
  r.has_fdb = collect_fdb;
  if (collect_fdb) r.fdb = fdb_report(**dp);
  return r;
}

}  // namespace kvnet::ctl
