#include "dp/datapath.h"

#include <algorithm>
#include <cstring>

#include "dp/firewall_install.h"

#include <fmt/format.h>

#include "net/vlan_ops.h"

namespace kvnet::dp {

using net::Frame;
using net::FrameBatch;

std::string Port::path() const { return (bridge ? bridge->name() : std::string("?")) + "/" + name; }

Datapath::Datapath(size_t pool_frames, size_t frame_capacity)
    : frames_(pool_frames, frame_capacity), deferred_(kMaxDeferred) {
  pool_ = &frames_;
  ports_ = &port_table_;
}

Bridge& Datapath::add_bridge(const std::string& name, BridgeType type, const BridgeSettings& s) {
  assert_owner();
  bridges_.push_back(make_bridge(*this, name, type, s));
  changed();
  return *bridges_.back();
}

Port& Datapath::add_port(Bridge& br, const std::string& name, KindTag kind, uint32_t mtu,
                         const VlanConfig& vlan, std::unique_ptr<PortBackend> backend) {
  assert_owner();
  auto p = std::make_unique<Port>();
  if (free_ids_.empty()) {
    p->id = static_cast<uint32_t>(port_table_.size());
    port_table_.emplace_back();
  } else {
    p->id = free_ids_.back();
    free_ids_.pop_back();
  }
  p->name = name;
  p->kind = std::string(kind.name);
  p->patch = kind.patch;
  p->bridge = &br;
  p->vlan = VlanPort(vlan);
  p->mtu = mtu;
  if (!kind.patch) p->backend = backend ? std::move(backend) : std::make_unique<DiscardBackend>();
  const uint32_t id = p->id;
  by_name_[name] = id;
  by_name_[br.name() + "/" + name] = id;
  port_table_[id] = std::move(p);
  br.attach(*port_table_[id]);
  if (!br.mirrors().empty()) br.mirrors().mark_ports(br.ports());  // select_all takes it in
  if (port_table_[id]->backend) port_table_[id]->backend->attach(*port_table_[id]);
  fast_attach(*port_table_[id]);
  changed();
  if (queue_.size() < port_table_.size()) {  // the ring holds each port at most once
    queue_.assign(port_table_.size(), nullptr);
    q_head_ = q_len_ = 0;
  }
  return *port_table_[id];
}

void Datapath::connect_patch(Port& a, Port& b) {
  assert_owner();
  a.peer = &b;
  b.peer = &a;
  changed();
}

void Datapath::set_fast_path(FastPathSink* sink) {
  assert_owner();
  for (auto& p : port_table_)
    if (p) fast_detach(*p);
  fast_ = sink;
  for (auto& p : port_table_)
    if (p) fast_attach(*p);
  changed();
}

void Datapath::fast_attach(Port& p) {
  if (fast_ && p.backend) p.fast = fast_->port_added(p);
}

void Datapath::fast_detach(Port& p) {
  if (fast_ && p.fast) fast_->port_removed(p);
  p.fast = false;
}

std::unique_ptr<PortBackend> Datapath::remove_port(Port& p) {
  assert_owner();
  changed();
  fast_detach(p);
  if (p.peer) p.peer->peer = nullptr;
  if (p.taps)
    for (const auto& t : p.taps->taps) t->port_removed();
  frames_.put(p.pending);
  frames_.put(p.bounced);
  for (size_t i = 0; i < q_len_; ++i)  // forget a queued reference
    if (queue_[(q_head_ + i) % queue_.size()] == &p) queue_[(q_head_ + i) % queue_.size()] = nullptr;
  p.bridge->detach(p);
  if (!p.bridge->mirrors().empty()) {
    p.bridge->mirrors().forget_port(&p);
    p.bridge->mirrors().mark_ports(p.bridge->ports());
  }
  for (const std::string& key : {p.name, p.path()})
    if (auto it = by_name_.find(key); it != by_name_.end() && it->second == p.id) by_name_.erase(it);
  if (p.backend) p.backend->detach(p);
  std::unique_ptr<PortBackend> backend = std::move(p.backend);
  const uint32_t id = p.id;
  port_table_[id].reset();
  free_ids_.push_back(id);
  return backend;
}

std::vector<std::unique_ptr<PortBackend>> Datapath::remove_bridge(Bridge& b) {
  assert_owner();
  std::vector<std::unique_ptr<PortBackend>> out;
  const std::vector<Port*> ports = b.ports();
  for (Port* p : ports)
    if (auto be = remove_port(*p)) out.push_back(std::move(be));
  std::erase_if(bridges_, [&](const auto& x) { return x.get() == &b; });
  return out;
}

std::unique_ptr<PortBackend> Datapath::swap_backend(Port& p, std::unique_ptr<PortBackend> b) {
  assert_owner();
  changed();
  fast_detach(p);
  if (p.backend) p.backend->detach(p);
  std::swap(p.backend, b);
  if (p.backend) p.backend->attach(p);
  fast_attach(p);
  return b;
}

void Datapath::reconfigure_port(Port& p, const VlanConfig& vlan, uint32_t mtu) {
  assert_owner();
  changed();
  p.vlan = VlanPort(vlan);
  p.mtu = mtu;
  if (p.bridge->fdb()) p.bridge->fdb()->flush_port(p.id);
}

void Datapath::set_firewall(Port& p, std::shared_ptr<const FwPolicy> policy) {
  assert_owner();
  changed();
  install_firewall(p, std::move(policy));  // dp/firewall_install.h
}

void Datapath::add_tap(Port& p, std::shared_ptr<CaptureTap> tap) {
  assert_owner();
  changed();
  if (!p.taps) p.taps = std::make_unique<CaptureTaps>();
  p.taps->taps.push_back(std::move(tap));
}

bool Datapath::remove_tap(Port& p, const CaptureTap* tap) {
  assert_owner();
  changed();
  if (!p.taps) return false;
  const size_t n = std::erase_if(p.taps->taps, [&](const auto& t) { return t.get() == tap; });
  if (p.taps->taps.empty()) p.taps.reset();  // back to one null test per batch
  return n != 0;
}

Bridge* Datapath::find_bridge(std::string_view name) {
  for (auto& b : bridges_)
    if (b->name() == name) return b.get();
  return nullptr;
}

Port* Datapath::find_port(std::string_view name) {
  const auto it = by_name_.find(std::string(name));
  return it == by_name_.end() ? nullptr : port_table_[it->second].get();
}

void Datapath::receive(Port& in, FrameBatch& batch) {
  const bool fast = in.fast && fast_ && !trace_ && fast_in(in);
  for (uint32_t i = 0; i < batch.count; ++i) {
    Frame* f = batch[i];
    f->meta.origin = static_cast<uint16_t>(i);
    f->meta.depth = 0;
    budget_[i] = kFrameBudget;
    if (fast) {  // the tags it arrived with: the key of a fast-path entry
      net::FastMeta& m = f->meta.fast;
      m = net::FastMeta{};
      m.ok = f->len() >= 14;
      // A tag a tunnel port added (a vni_map's) was not on the frame the kernel saw.
      for (size_t off = 12 + 4 * size_t{f->meta.tun.pushed}; m.ok && m.tags <= 2 && off + 6 <= f->len(); off += 4) {
        const uint16_t type = net::load_be16(f->data() + off);
        if (type != net::kEthTypeVlan && type != net::kEthTypeQinQ) break;
        if (m.tags == 2) m.ok = false;  // a third tag: never cached
        else m.tpid[m.tags] = type, m.tci[m.tags++] = net::load_be16(f->data() + off + 2);
      }
    }
  }
  ++round_;
  depth_ = 0;
  deliver(in, batch);
  drain();
}

void Datapath::deliver(Port& in, FrameBatch& batch) {
  if (!dry_run_)
    for (uint32_t i = 0; i < batch.count; ++i) {
      ++in.counters.rx_packets;
      in.counters.rx_bytes += batch[i]->len();
    }
  if (in.taps && !dry_run_) [[unlikely]] in.taps->offer(in, Direction::kIn, batch);
  if (in.mirror_rx || in.mirror_out) [[unlikely]]
    mirror_received(in, batch);
  in.bridge->process(in, batch);
}

[[gnu::always_inline]] inline void Datapath::output_one(Port& out, Frame* f) {
  uint32_t& budget = budget_[f->meta.origin];
  if (budget == 0) [[unlikely]] {
    drop(out, f, Drop::kLoopCut);
    return;
  }
  --budget;
  if (net::mtu_len(*f) > out.mtu) [[unlikely]] {  // a GSO frame: by its segments
    drop(out, f, Drop::kOversize);
    return;
  }
  if (f->meta.fast.ok) [[unlikely]]
    offer_fast(out, f);
  if (trace_) [[unlikely]] {
    if (out.patch) {
      trace_step({.bridge = out.bridge->name(), .port = out.name, .stage = TraceStage::kPatch,
                  .other = out.peer ? out.peer->path() : std::string()});
    } else {
      net::FlowKey k;
      net::parse_flow(f->data(), f->len(), k);
      trace_step({.bridge = out.bridge->name(), .port = out.name, .stage = TraceStage::kOutput, .kind = out.kind});
      if (std::string encap = out.backend->explain(*f); !encap.empty())
        trace_step({.bridge = out.bridge->name(), .port = out.name, .stage = TraceStage::kEncap, .other = encap});
      trace_->outputs.push_back({out.bridge->name(), out.name, k.str(),
                                 std::vector<uint8_t>(f->data(), f->data() + f->len())});
      if (dry_run_) {
        frames_.put(f);
        return;
      }
    }
  }
  out.pending.add(f);
  if (!out.queued) {
    queue_[(q_head_ + q_len_++) % queue_.size()] = &out;
    out.queued = true;
  }
  if (!out.pending.full()) return;
  if (!out.patch) {
    flush(out);
    return;
  }
  if (d_len_ == kMaxDeferred) [[unlikely]] {  // bounded like the work budget: cut and count
    for (uint32_t i = 0; i < out.pending.count; ++i) count_drop(out, Drop::kLoopCut);
    frames_.put(out.pending);
    return;
  }
  Deferred& d = deferred_[(d_head_ + d_len_++) % kMaxDeferred];
  d.port = &out;
  d.batch = out.pending;
  d.bounced = false;
  out.pending.clear();
}

void Datapath::output_copy(Port& out, Frame* f) { output_one(out, f); }

// A frame every step of which was cacheable reaches a port (dp/fast_path.h):
// a patch port passes it on if it may, a port the fast path serves gets it
// offered, any other port ends its candidacy.
void Datapath::offer_fast(Port& out, Frame* f) {
  net::FastMeta& m = f->meta.fast;
  if (!fast_out(out) || m.hops == 0) {
    m.ok = false;
    return;
  }
  if (out.patch) return;  // the peer bridge's ports decide (hand_over)
  m.ok = false;           // offered once
  if (!out.fast || !fast_) return;
  Port* in = port_table_[m.hop_port[0]].get();
  if (!in || !in->fast) return;
  uint32_t mtu = std::min(in->mtu, out.mtu);
  for (uint8_t h = 1; h < m.hops; ++h) {  // where it entered bridge h, and the patch port it left the one before by
    const Port* p = port_table_[m.hop_port[h]].get();
    if (!p) return;
    mtu = std::min(mtu, p->mtu);
    if (p->peer) mtu = std::min(mtu, p->peer->mtu);
  }
  fast_->offer(*in, out, *f, mtu);
}

void Datapath::output(Port& out, FrameBatch& b) {
  if (out.mirror_tx) [[unlikely]]
    mirror_sent(out, b);
  for (uint32_t i = 0; i < b.count; ++i) output_one(out, b[i]);
  b.clear();
}

void Datapath::flush(Port& out) {
  FrameBatch b = out.pending;
  out.pending.clear();
  if (out.patch) {
    hand_over(out, b);
    return;
  }
  for (uint32_t i = 0; i < b.count; ++i) {
    ++out.counters.tx_packets;
    out.counters.tx_bytes += b[i]->len();
  }
  if (out.taps) [[unlikely]] out.taps->offer(out, Direction::kOut, b);
  if (out.backend->accepts_offload()) {
    const uint32_t n = b.count, sent = out.backend->send(b, frames_);
    for (uint32_t i = sent; i < n; ++i) out.counters.drop(Drop::kTxError);
  } else {
    send_finalized(out, b);
  }
  if (out.bounced.count) [[unlikely]]
    defer_bounced(out);
}

// The ICMP errors a backend wrote in place of frames it could not carry go
// back through the bridge as if they had arrived on the port (a router's
// answer comes from where the packet was going), from drain(): a bridge's
// process() is never re-entered.
void Datapath::defer_bounced(Port& out) {
  FrameBatch b = out.bounced;
  out.bounced.clear();
  if (d_len_ == kMaxDeferred) {  // bounded like patch hand-overs: no reply then
    frames_.put(b);
    return;
  }
  Deferred& d = deferred_[(d_head_ + d_len_++) % kMaxDeferred];
  d.port = &out;
  d.batch = b;
  d.bounced = true;
}

void Datapath::hand_over(Port& out, FrameBatch& b) {
  if (!dry_run_)
    for (uint32_t i = 0; i < b.count; ++i) {
      ++out.counters.tx_packets;
      out.counters.tx_bytes += b[i]->len();
    }
  if (out.taps && !dry_run_) [[unlikely]] out.taps->offer(out, Direction::kOut, b);
  if (!out.peer) [[unlikely]] {  // the peer does not exist: like a veth whose other end is gone
    for (uint32_t i = 0; i < b.count; ++i) count_drop(out, Drop::kTxError);
    frames_.put(b);
    return;
  }
  // A patch port hands its frames to the peer, like a veth pair.
  FrameBatch next;
  const bool fast = fast_in(*out.peer);
  for (uint32_t i = 0; i < b.count; ++i) {
    Frame* f = b[i];
    if (!fast) f->meta.fast.ok = false;
    if (++f->meta.depth > kMaxPatchDepth) [[unlikely]] {
      count_drop(*out.peer, Drop::kLoopCut);
      frames_.put(f);
      continue;
    }
    next.add(f);
  }
  b.clear();
  if (next.empty()) return;
  depth_ = next[0]->meta.depth;
  deliver(*out.peer, next);
}

// Fills partial checksums and segments GSO frames for a backend that takes
// neither, then sends in batches.
void Datapath::send_finalized(Port& out, FrameBatch& b) {
  FrameBatch ready;
  net::Frame* segs[512];  // a 64 KiB super-frame down to an MSS of 128 bytes
  auto push = [&](net::Frame* f) {
    ready.add(f);
    if (ready.full()) {
      const uint32_t n = ready.count, sent = out.backend->send(ready, frames_);
      for (uint32_t i = sent; i < n; ++i) out.counters.drop(Drop::kTxError);
    }
  };
  for (uint32_t i = 0; i < b.count; ++i) {
    Frame* f = b[i];
    if (f->meta.vnet.flags == 0 && !net::is_gso(f->meta.vnet)) {
      push(f);
      continue;
    }
    // Segments no larger than gso_size and than the port's MTU allows.
    const int n = net::segment(f, frames_, segs, std::size(segs), out.mtu);
    if (n < 0) [[unlikely]] {
      out.counters.drop(Drop::kTxError);
      continue;
    }
    for (int j = 0; j < n; ++j) push(segs[j]);
  }
  b.clear();
  if (!ready.empty()) {
    const uint32_t n = ready.count, sent = out.backend->send(ready, frames_);
    for (uint32_t i = sent; i < n; ++i) out.counters.drop(Drop::kTxError);
  }
}

void Datapath::drain() {
  while (q_len_ || d_len_) {
    if (d_len_) {
      Deferred& d = deferred_[d_head_];
      FrameBatch b = d.batch;
      Port* p = d.port;
      const bool bounced = d.bounced;
      d_head_ = (d_head_ + 1) % kMaxDeferred;
      --d_len_;
      if (bounced) [[unlikely]] {
        depth_ = b[0]->meta.depth;
        deliver(*p, b);
      } else {
        hand_over(*p, b);
      }
      continue;
    }
    Port* p = queue_[q_head_];
    q_head_ = (q_head_ + 1) % queue_.size();
    --q_len_;
    if (!p) continue;
    p->queued = false;
    if (!p->pending.empty()) flush(*p);
  }
}

}  // namespace kvnet::dp
