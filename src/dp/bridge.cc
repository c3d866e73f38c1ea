#include "dp/bridge.h"

#include <algorithm>
#include <cassert>

#include "dp/flow_text.h"
#include "dp/stages.h"
#include "net/headers.h"
#include "net/vlan_ops.h"

namespace kvnet::dp {

using net::Frame;
using net::FrameBatch;

std::string_view to_string(BridgeType t) {
  switch (t) {
    case BridgeType::kHub: return "hub";
    case BridgeType::kLearning: return "learning";
    case BridgeType::kSwitch: return "switch";
  }
  return "?";
}

std::string_view forward_summary(BridgeType t) {
  switch (t) {
    case BridgeType::kHub: return "repeat to every other port";
    case BridgeType::kLearning: return "learn source MAC, look up destination (flood if unknown)";
    case BridgeType::kSwitch: return "learn (VLAN, source MAC), look up (VLAN, destination), flood in the VLAN";
  }
  return "?";
}

std::optional<BridgeType> parse_bridge_type(std::string_view s) {
  if (s == "hub") return BridgeType::kHub;
  if (s == "learning") return BridgeType::kLearning;
  if (s == "switch") return BridgeType::kSwitch;
  return std::nullopt;
}

Bridge::Bridge(PipelineContext& ctx, std::string name, BridgeType type, const BridgeSettings& s)
    : ctx_(ctx), name_(std::move(name)), type_(type), settings_(s) {
  if (type != BridgeType::kHub) {
    fdb_ = std::make_unique<Fdb>(s.mac_table_size, uint64_t{s.mac_aging_sec} * 1000000000ULL);
    fdb_->count_changes_in(ctx_.epoch_counter());
  }
}

void Bridge::attach(Port& p) {
  p.index = static_cast<uint32_t>(ports_.size());
  ports_.push_back(&p);
  scratch_.resize(ports_.size());
  out_.resize(ports_.size());
  touched_.resize(ports_.size());
}

void Bridge::detach(Port& p) {
  assert(!busy_);
  std::erase(ports_, &p);
  for (uint32_t i = 0; i < ports_.size(); ++i) ports_[i]->index = i;
  out_.resize(ports_.size());
  touched_.resize(ports_.size());
  if (fdb_) fdb_->forget_port(p.id);
}

Conntrack& Bridge::make_conntrack() {
  if (!ct_)
    ct_ = std::make_unique<Conntrack>(settings_.conntrack_max, settings_.conntrack_timeouts,
                                      std::hash<std::string>{}(name_));
  return *ct_;
}

std::shared_ptr<const NeighborTable> Bridge::set_neighbors(std::shared_ptr<const NeighborTable> t) {
  if (type_ != BridgeType::kSwitch) return t;
  const bool have = std::any_of(ingress_.begin(), ingress_.end(),
                                [](const auto& st) { return st->name() == "arp-suppress"; });
  if (t && !have) ingress_.push_back(make_arp_suppress());  // after vlan-in: it answers in the frame's VLAN
  std::swap(neighbors_, t);
  return t;
}

std::unique_ptr<FlowTables> Bridge::set_flows(std::unique_ptr<FlowTables> t) {
  if (type_ != BridgeType::kSwitch) return t;
  std::swap(flows_, t);
  of_mode_ = flows_ && !flows_->is_normal_only();
  ctx_.changed();  // the fast path's cached decisions no longer hold
  return t;
}

void Bridge::set_settings(const BridgeSettings& s) {
  if (fdb_ && s.mac_table_size != settings_.mac_table_size) {
    auto next = std::make_unique<Fdb>(s.mac_table_size, uint64_t{s.mac_aging_sec} * 1000000000ULL);
    auto all = fdb_->entries();  // static first, then least to most recently seen
    for (const auto& e : all)
      if (e.is_static) next->add_static(e.vlan, e.mac, e.port);
    for (const auto& e : all)
      if (!e.is_static) next->learn(e.vlan, e.mac, e.port, e.last_seen_ns);
    fdb_ = std::move(next);
    fdb_->count_changes_in(ctx_.epoch_counter());
  }
  ctx_.changed();
  if (fdb_) fdb_->set_aging(uint64_t{s.mac_aging_sec} * 1000000000ULL);
  if (ct_) {
    if (s.conntrack_max != settings_.conntrack_max) ct_->resize(s.conntrack_max);
    ct_->set_timeouts(s.conntrack_timeouts);
  }
  settings_ = s;
}

// ---------------------------------------------------------------- skeleton

void Bridge::process(Port& in, FrameBatch& batch) {
  assert(!busy_ && "a bridge's process() was re-entered");
  busy_ = true;
  if (fdb_ && !ctx_.dry_run() && !batch.empty()) fdb_->age(batch[0]->meta.ts_ns);
  admit(in, batch);
  for (auto& s : of_mode_ ? of_ingress_ : ingress_)
    if (!batch.empty()) s->process(ctx_, in, batch);
  for (auto& s : in.ingress)
    if (!batch.empty()) s->process(ctx_, in, batch);
  if (!batch.empty()) forward(in, batch);
  batch.clear();
  run_egress();
  busy_ = false;
}

// Runts, the flow key, the ingress MTU (a GSO frame: by its segments).
void Bridge::admit(Port& in, FrameBatch& batch) {
  keep_if(batch, [&](Frame* f) KVNET_HOT_LAMBDA {
    if (net::parse_flow(f->data(), f->len(), f->key) == net::ParseStatus::kRunt) {
      ctx_.drop(in, f, Drop::kRunt);
      return false;
    }
    f->meta.in_port = in.id;
    if (ctx_.trace()) [[unlikely]]
      trace({.port = in.name, .stage = TraceStage::kIngress, .bridge_type = std::string(to_string(type_)),
             .flow = f->key.str(), .bytes = static_cast<int64_t>(f->len())});
    if (net::mtu_len(*f) > in.mtu) {
      ctx_.drop(in, f, Drop::kOversize);
      return false;
    }
    return true;
  });
}

void Bridge::run_egress() {
  for (uint32_t t = 0; t < n_touched_; ++t) {
    const uint32_t idx = touched_[t];
    Port& p = *ports_[idx];
    FrameBatch& b = out_[idx];
    for (auto& s : p.egress)
      if (!b.empty()) s->process(ctx_, p, b);
    for (auto& s : egress_)
      if (!b.empty()) s->process(ctx_, p, b);
    ctx_.output(p, b);
  }
  n_touched_ = 0;
}

void Bridge::fan_out(Port* const* targets, size_t n, Frame* f) {
  f->meta.fast.ok = false;  // a flood is never cached
  if (n == 0) {
    ctx_.pool().put(f);
    return;
  }
  for (size_t i = 0; i + 1 < n; ++i) {
    Frame* c = ctx_.pool().get();
    if (!c) [[unlikely]] {
      ctx_.count_drop(*targets[i], Drop::kNoBuffer);
      continue;
    }
    c->copy_from(*f);
    to(*targets[i], c);
  }
  to(*targets[n - 1], f);
}

void Bridge::learn(Port& in, Frame* f, uint16_t vlan) {
  if (net::FastMeta& m = f->meta.fast; m.ok) {
    if (m.hops == net::kFastHops) {
      m.ok = false;
    } else {
      m.hop_port[m.hops] = in.id;
      m.hop_vlan[m.hops++] = vlan;
    }
  }
  if (ctx_.dry_run()) [[unlikely]] {
    trace({.port = in.name, .stage = TraceStage::kLearn, .what = TraceWhat::kWouldLearn, .mac = f->key.dl_src.str(),
           .vlan = vlan});
    return;
  }
  uint32_t old = kNoPort;
  const auto r = fdb_->learn(vlan, f->key.dl_src.u64(), in.id, f->meta.ts_ns, &old);
  if (!ctx_.trace()) [[likely]]
    return;
  TraceStep t{.port = in.name, .stage = TraceStage::kLearn, .mac = f->key.dl_src.str(), .vlan = vlan};
  switch (r) {
    case Fdb::Learn::kNew: t.what = TraceWhat::kLearned; break;
    case Fdb::Learn::kRefreshed: t.what = TraceWhat::kRefreshed; break;
    case Fdb::Learn::kMoved:
      t.what = TraceWhat::kMoved;
      t.other = ctx_.port(old).name;
      break;
    case Fdb::Learn::kStatic: t.what = TraceWhat::kStaticEntry; break;
    case Fdb::Learn::kFull: t.what = TraceWhat::kTableFull; break;
  }
  trace(std::move(t));
}

uint32_t Bridge::lookup(const Frame* f, uint16_t vlan) {
  const net::Mac& dst = f->key.dl_dst;
  const uint32_t out = dst.is_multicast() ? kNoPort : fdb_->lookup(vlan, dst.u64(), f->meta.ts_ns);
  if (ctx_.trace()) [[unlikely]] {
    TraceStep t{.stage = TraceStage::kLookup, .mac = dst.str(), .vlan = vlan};
    if (dst.is_multicast()) t.what = dst.is_broadcast() ? TraceWhat::kBroadcast : TraceWhat::kMulticast;
    else if (out == kNoPort) t.what = TraceWhat::kUnknown;
    else t.what = TraceWhat::kKnown, t.other = ctx_.port(out).name;
    trace(std::move(t));
  }
  return out;
}

namespace {

// ---------------------------------------------------------------- hub

class HubBridge final : public Bridge {
 public:
  HubBridge(PipelineContext& ctx, std::string name, const BridgeSettings& s)
      : Bridge(ctx, std::move(name), BridgeType::kHub, s) {}

 protected:
  void forward(Port& in, FrameBatch& batch) override {
    size_t n = 0;
    for (Port* p : ports_)
      if (p != &in && !p->mirror_out) scratch_[n++] = p;  // a mirror's output gets only copies
    for (uint32_t i = 0; i < batch.count; ++i) {
      if (ctx_.trace()) [[unlikely]]
        trace({.port = in.name, .stage = TraceStage::kFlood, .count = static_cast<int64_t>(n)});
      fan_out(scratch_.data(), n, batch[i]);
    }
  }
};

// ---------------------------------------------------------------- learning

class LearningBridge final : public Bridge {
 public:
  LearningBridge(PipelineContext& ctx, std::string name, const BridgeSettings& s)
      : Bridge(ctx, std::move(name), BridgeType::kLearning, s) {
    ingress_.push_back(make_l2_check());
  }

 protected:
  void forward(Port& in, FrameBatch& batch) override {
    size_t n = 0;
    for (Port* p : ports_)
      if (p != &in && !p->mirror_out) scratch_[n++] = p;  // a mirror's output gets only copies
    for (uint32_t i = 0; i < batch.count; ++i) {
      Frame* f = batch[i];
      learn(in, f, 0);
      const uint32_t out = lookup(f, 0);
      if (out == kNoPort) fan_out(scratch_.data(), n, f);
      else if (out == in.id) ctx_.drop(in, f, Drop::kToIngressPort);
      else to(ctx_.port(out), f);
    }
  }
};

// ---------------------------------------------------------------- switch

class SwitchBridge final : public Bridge {
 public:
  SwitchBridge(PipelineContext& ctx, std::string name, const BridgeSettings& s)
      : Bridge(ctx, std::move(name), BridgeType::kSwitch, s) {
    ingress_.push_back(make_l2_check());
    ingress_.push_back(make_vlan_in());
    egress_.push_back(make_vlan_out());
    of_ingress_.push_back(make_l2_check());
  }

 protected:
  void forward(Port& in, FrameBatch& batch) override {
    if (of_mode_) [[unlikely]] {
      for (uint32_t i = 0; i < batch.count; ++i) openflow(in, batch[i]);
      return;
    }
    for (uint32_t i = 0; i < batch.count; ++i) normal(in, batch[i]);
  }

 private:
  // Open vSwitch's NORMAL action: learn, then known unicast or a flood to
  // the ports that carry the frame's VLAN (and inner VLAN).
  __attribute__((always_inline)) void normal(Port& in, Frame* f) {
    const uint16_t vlan = f->meta.vlan;
    f->meta.inner_tag = net::has_front_tag(f->data(), f->len());
    f->meta.inner_vid = f->meta.inner_tag ? net::load_be16(f->data() + 14) & 0x0fff : 0;
    f->meta.carried = false;  // (a frame flooded by the bridge before a patch was checked for that bridge)
    learn(in, f, vlan);
    const uint32_t out = lookup(f, vlan);
    if (out != kNoPort) {
      if (out == in.id) ctx_.drop(in, f, Drop::kToIngressPort);
      else to(ctx_.port(out), f);
      return;
    }
    const uint16_t inner = f->meta.inner_vid;
    f->meta.carried = true;  // the flood picks ports that carry it
    size_t n = 0;
    for (Port* p : ports_)
      if (p != &in && p->vlan.includes(vlan, inner) && !p->mirror_out) scratch_[n++] = p;
    if (ctx_.trace()) [[unlikely]]
      trace({.port = in.name, .stage = TraceStage::kFlood, .vlan = vlan, .count = static_cast<int64_t>(n)});
    fan_out(scratch_.data(), n, f);
  }

  // ---- OpenFlow (dp/flow_table.h)

  static constexpr int kMaxResubmits = 64;  // as ovs-vswitchd's resubmit depth

  // A frame through the tables, from table 0. Its actions change the frame
  // in place; each output sends a copy as the frame is then.
  void openflow(Port& in, Frame* f) {
    f->meta.fast.ok = false;  // decisions of flow tables are not the fast path's to cache
    int work = 0;
    if (!run_table(in, f, in.id, 0, 0, work)) ctx_.count_drop(in, Drop::kNoFlow);
    ctx_.pool().put(f);
  }

  // False: no flow of table `t` matched.
  bool run_table(Port& in, Frame* f, uint32_t in_port, uint8_t t, int depth, int& work) {
    Flow* flow = flows_->table(t).lookup(flow_words(f->key, in_port, f->meta.tun_id));
    if (ctx_.trace()) [[unlikely]]
      trace_table(in, t, flow);
    if (!flow) return false;
    if (!ctx_.dry_run()) {
      ++flow->n_packets;
      flow->n_bytes += f->len();
      flow->used_ns = f->meta.ts_ns;
    }
    for (const FlowAction& a : flow->actions) {
      switch (a.type) {
        case ActionType::kOutput:
          if (a.arg == in_port) break;  // OpenFlow: never back out of the input port but by IN_PORT
          if (Port* p = port_of(static_cast<uint32_t>(a.arg))) emit(in, *p, f);
          break;
        case ActionType::kInPort:
          if (Port* p = port_of(in_port)) emit(in, *p, f);
          break;
        case ActionType::kFlood:
        case ActionType::kAll:
          for (Port* p : ports_)
            if (p->id != in_port && !p->mirror_out) emit(in, *p, f);
          break;
        case ActionType::kNormal: {
          Frame* c = clone(in, f);
          if (!c) break;
          c->meta.raw = false;
          if (classify_vlan(ctx_, in, c)) normal(in, c);
          break;
        }
        case ActionType::kModVlanVid:
        case ActionType::kModVlanPcp: {
          const bool vid = a.type == ActionType::kModVlanVid;
          if (outer_tag(f)) {
            uint8_t* tci = f->data() + 14;
            uint16_t v = net::load_be16(tci);
            v = vid ? static_cast<uint16_t>((v & 0xf000) | a.arg) : static_cast<uint16_t>((v & 0x1fff) | a.arg << 13);
            tci[0] = static_cast<uint8_t>(v >> 8);
            tci[1] = static_cast<uint8_t>(v);
          } else if (!net::push_vlan(*f, net::kEthTypeVlan, static_cast<uint16_t>(vid ? a.arg : a.arg << 13))) {
            ctx_.count_drop(in, Drop::kNoHeadroom);
            return true;
          }
          reparse(f);
          break;
        }
        case ActionType::kStripVlan:
          if (outer_tag(f)) {
            net::pop_vlan(*f);
            reparse(f);
          }
          break;
        case ActionType::kPushVlan: {
          // OpenFlow 1.3: the new tag copies the outer one's VID and PCP, if any.
          const uint16_t tci = outer_tag(f) ? net::load_be16(f->data() + 14) : 0;
          if (!net::push_vlan(*f, static_cast<uint16_t>(a.arg), tci)) {
            ctx_.count_drop(in, Drop::kNoHeadroom);
            return true;
          }
          reparse(f);
          break;
        }
        case ActionType::kModDlSrc:
        case ActionType::kModDlDst: {
          uint8_t* at = f->data() + (a.type == ActionType::kModDlDst ? 0 : 6);
          for (int i = 0; i < 6; ++i) at[i] = static_cast<uint8_t>(a.arg >> (40 - 8 * i));
          reparse(f);
          break;
        }
        case ActionType::kSetTunId:
          f->meta.tun_id = a.arg;
          break;
        case ActionType::kResubmit:
        case ActionType::kGotoTable: {
          if (depth >= kMaxResubmits || ++work > 4 * kMaxResubmits) {
            ctx_.count_drop(in, Drop::kLoopCut);
            return true;
          }
          const uint32_t port = a.type == ActionType::kResubmit && a.port != kResubmitInPort ? a.port : in_port;
          run_table(in, f, port, static_cast<uint8_t>(a.arg), depth + 1, work);
          break;
        }
      }
    }
    return true;
  }

  Port* port_of(uint32_t id) {
    for (Port* p : ports_)
      if (p->id == id) return p;
    return nullptr;  // not a port of this bridge (gone since the flow was added)
  }

  Frame* clone(Port& in, const Frame* f) {
    Frame* c = ctx_.pool().get();
    if (!c) [[unlikely]] {
      ctx_.count_drop(in, Drop::kNoBuffer);
      return nullptr;
    }
    c->copy_from(*f);
    return c;
  }

  // An output action: a copy as the frame is now, sent as it is.
  void emit(Port& in, Port& out, const Frame* f) {
    Frame* c = clone(in, f);
    if (!c) return;
    c->meta.raw = true;
    to(out, c);
  }

  void reparse(Frame* f) { (void)net::parse_flow(f->data(), f->len(), f->key); }
  // Whether the frame starts with a VLAN tag, 802.1Q or 802.1ad (the tag
  // actions work on either; matches see 802.1Q tags, as the flow key does).
  static bool outer_tag(const Frame* f) {
    if (f->len() < 18) return false;
    const uint16_t tpid = net::load_be16(f->data() + 12);
    return tpid == net::kEthTypeVlan || tpid == 0x88a8;
  }

  void trace_table(Port& in, uint8_t t, const Flow* flow) {
    TraceStep s{.port = in.name, .stage = TraceStage::kFlowTable};
    s.table = t;
    FlowPorts names;
    names.name = [this](uint32_t id) -> std::string {
      Port* p = port_of(id);
      return p ? p->name : "";
    };
    if (flow) {
      s.priority = flow->priority;
      s.cookie = flow->cookie;
      s.flow = match_text(flow->match, names);
      s.rule = actions_text(flow->actions, names);
    } else {
      s.rule = t == 0 ? "a table miss: dropped" : "nothing done";
    }
    trace(std::move(s));
  }
};

}  // namespace

std::unique_ptr<Bridge> make_bridge(PipelineContext& ctx, std::string name, BridgeType type,
                                    const BridgeSettings& s) {
  switch (type) {
    case BridgeType::kHub: return std::make_unique<HubBridge>(ctx, std::move(name), s);
    case BridgeType::kLearning: return std::make_unique<LearningBridge>(ctx, std::move(name), s);
    case BridgeType::kSwitch: return std::make_unique<SwitchBridge>(ctx, std::move(name), s);
  }
  return nullptr;
}

}  // namespace kvnet::dp
