#include "dp/bridge.h"

#include <fmt/format.h>

#include <cassert>

#include "dp/datapath.h"
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

std::optional<BridgeType> parse_bridge_type(std::string_view s) {
  if (s == "hub") return BridgeType::kHub;
  if (s == "learning") return BridgeType::kLearning;
  if (s == "switch") return BridgeType::kSwitch;
  return std::nullopt;
}

Bridge::Bridge(Datapath& dp, std::string name, BridgeType type, const BridgeSettings& s)
    : dp_(dp), name_(std::move(name)), type_(type), settings_(s) {
  if (type != BridgeType::kHub)
    fdb_ = std::make_unique<Fdb>(s.mac_table_size, uint64_t{s.mac_aging_sec} * 1000000000ULL);
}

void Bridge::attach(Port& p) {
  ports_.push_back(&p);
  scratch_.resize(ports_.size());
}

void Bridge::detach(Port& p) {
  std::erase(ports_, &p);
  if (fdb_) fdb_->forget_port(p.id);
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
  }
  if (fdb_) fdb_->set_aging(uint64_t{s.mac_aging_sec} * 1000000000ULL);
  settings_ = s;
}

void Bridge::drop(Port& p, Frame* f, Drop why, const char* detail) {
  if (!dp_.dry_run()) p.counters.drop(why);
  if (dp_.trace()) [[unlikely]]
    dp_.trace_step(&p, *this, "drop", fmt::format("dropped ({}): {}", to_string(why), detail));
  dp_.pool().put(f);
}

bool Bridge::admit(Port& in, Frame* f) {
  if (net::parse_flow(f->data(), f->len(), f->key) == net::ParseStatus::kRunt) {
    drop(in, f, Drop::kRunt, "shorter than an Ethernet header (14 bytes)");
    return false;
  }
  f->meta.in_port = in.id;
  if (dp_.trace()) [[unlikely]]
    dp_.trace_step(&in, *this, "ingress",
                   fmt::format("port {} of {} bridge {}: {} bytes: {}", in.name, to_string(type_), name_, f->len(),
                               f->key.str()));
  if (net::mtu_len(*f) > in.mtu) {  // a GSO frame: by its segments
    drop(in, f, Drop::kOversize, "payload exceeds the port's MTU");
    return false;
  }
  return true;
}

bool Bridge::admit_l2(Port& in, Frame* f) {
  const net::Mac& src = f->key.dl_src;
  if (src.is_multicast() || src.is_zero()) {
    drop(in, f, Drop::kBadSrcMac, "source MAC is multicast or all-zero");
    return false;
  }
  if (f->key.dl_dst.is_reserved_link_local()) {
    drop(in, f, Drop::kReservedDst, "01:80:c2:00:00:0x link-local groups are never forwarded");
    return false;
  }
  return true;
}

void Bridge::learn(Port& in, const Frame* f, uint16_t vlan) {
  if (dp_.dry_run()) [[unlikely]] {
    dp_.trace_step(&in, *this, "learn",
                   fmt::format("(trace) would learn {} in VLAN {} on {}", f->key.dl_src.str(), vlan, in.name));
    return;
  }
  uint32_t old = kNoPort;
  const auto r = fdb_->learn(vlan, f->key.dl_src.u64(), in.id, f->meta.ts_ns, &old);
  if (!dp_.trace()) [[likely]]
    return;
  const std::string who = fmt::format("{} in VLAN {}", f->key.dl_src.str(), vlan);
  std::string d;
  switch (r) {
    case Fdb::Learn::kNew: d = "learned " + who + " on " + in.name; break;
    case Fdb::Learn::kRefreshed: d = "refreshed " + who + " on " + in.name; break;
    case Fdb::Learn::kMoved: d = "moved " + who + " from " + dp_.port(old).name + " to " + in.name; break;
    case Fdb::Learn::kStatic: d = who + " has a static entry: not learned"; break;
    case Fdb::Learn::kFull: d = "table full of static entries: " + who + " not learned"; break;
  }
  dp_.trace_step(&in, *this, "learn", d);
}

uint32_t Bridge::lookup(const Frame* f, uint16_t vlan) {
  const net::Mac& dst = f->key.dl_dst;
  if (dst.is_multicast()) {
    if (dp_.trace()) [[unlikely]]
      dp_.trace_step(nullptr, *this, "lookup",
                     fmt::format("{} is {}: flood", dst.str(), dst.is_broadcast() ? "broadcast" : "multicast"));
    return kNoPort;
  }
  const uint32_t out = fdb_->lookup(vlan, dst.u64(), f->meta.ts_ns);
  if (dp_.trace()) [[unlikely]] {
    if (out == kNoPort)
      dp_.trace_step(nullptr, *this, "lookup", fmt::format("{} in VLAN {} is unknown: flood", dst.str(), vlan));
    else
      dp_.trace_step(nullptr, *this, "lookup",
                     fmt::format("{} in VLAN {} is on port {}", dst.str(), vlan, dp_.port(out).name));
  }
  return out;
}

template <typename Out>
void Bridge::fan_out(Port* const* targets, size_t n, Frame* f, Out&& out) {
  if (n == 0) {
    dp_.pool().put(f);
    return;
  }
  for (size_t i = 0; i + 1 < n; ++i) {
    Frame* c = dp_.pool().get();
    if (!c) [[unlikely]] {
      if (!dp_.dry_run()) targets[i]->counters.drop(Drop::kNoBuffer);
      continue;
    }
    c->copy_from(*f);
    out(*targets[i], c);
  }
  out(*targets[n - 1], f);
}

// ---------------------------------------------------------------- hub

void HubBridge::process(Port& in, FrameBatch& batch) {
  assert(!busy_ && "a bridge's process() was re-entered");
  busy_ = true;
  for (uint32_t i = 0; i < batch.count; ++i) {
    Frame* f = batch[i];
    if (!admit(in, f)) continue;
    size_t n = 0;
    for (Port* p : ports_)
      if (p != &in) scratch_[n++] = p;
    if (dp_.trace()) [[unlikely]]
      dp_.trace_step(&in, *this, "flood", fmt::format("hub: repeat to every other port ({})", n));
    fan_out(scratch_.data(), n, f, [this](Port& p, Frame* c) { dp_.enqueue(p, c); });
  }
  batch.clear();
  busy_ = false;
}

// ---------------------------------------------------------------- learning

void LearningBridge::process(Port& in, FrameBatch& batch) {
  assert(!busy_ && "a bridge's process() was re-entered");
  busy_ = true;
  if (batch.count && !dp_.dry_run()) fdb_->age(batch[0]->meta.ts_ns);
  for (uint32_t i = 0; i < batch.count; ++i) {
    Frame* f = batch[i];
    if (!admit(in, f) || !admit_l2(in, f)) continue;
    learn(in, f, 0);
    const uint32_t out = lookup(f, 0);
    if (out != kNoPort) {
      if (out == in.id) drop(in, f, Drop::kToIngressPort, "destination is on the ingress port");
      else dp_.enqueue(dp_.port(out), f);
      continue;
    }
    size_t n = 0;
    for (Port* p : ports_)
      if (p != &in) scratch_[n++] = p;
    fan_out(scratch_.data(), n, f, [this](Port& p, Frame* c) { dp_.enqueue(p, c); });
  }
  batch.clear();
  busy_ = false;
}

// ---------------------------------------------------------------- switch

bool SwitchBridge::classify(Port& in, Frame* f) {
  const VlanPort& vp = in.vlan;
  const bool tagged = f->key.n_tags > 0;
  const uint16_t vid = f->key.vlan_vid();
  const RxDecision d = vp.rx(tagged, vid, f->key.vlan_pcp());
  switch (d.verdict) {
    case RxVerdict::kAccept: break;
    case RxVerdict::kTaggedOnAccess:
      drop(in, f, Drop::kTaggedOnAccess, "access port: tagged frames are dropped");
      return false;
    case RxVerdict::kVlanNotAllowed:
      drop(in, f, Drop::kVlanNotAllowed, "tagged VLAN is not allowed on this port");
      return false;
    case RxVerdict::kUntaggedNotAllowed:
      drop(in, f, Drop::kUntaggedNotAllowed, "untagged frame, but the pvid is not a member of this port");
      return false;
    case RxVerdict::kInvalidVid:
      drop(in, f, Drop::kInvalidVid, "VID 4095 is reserved");
      return false;
    case RxVerdict::kCvlanNotAllowed:
      drop(in, f, Drop::kCvlanNotAllowed, "customer VLAN is not in cvlans");
      return false;
    case RxVerdict::kUntaggedNotInCvlans:
      drop(in, f, Drop::kUntaggedNotInCvlans, "dot1q-tunnel with cvlans: untagged frame (customer VLAN 0)");
      return false;
  }
  const bool tunnel = vp.config().mode == VlanMode::kDot1qTunnel;
  f->meta.vlan = d.vlan;
  // A service tag starts with PCP 0; the customer tag keeps its own (OVS).
  f->meta.pcp = tagged && !tunnel ? f->key.vlan_pcp() : 0;
  f->meta.s_tpid = tunnel ? vp.config().qinq_tpid : net::kEthTypeVlan;
  if (d.tag == RxTag::kPop) net::pop_vlan(*f);
  if (dp_.trace()) [[unlikely]] {
    const auto& c = vp.config();
    std::string how;
    if (!tagged) how = "untagged";
    else if (vid == 0) how = fmt::format("priority-tagged (pcp {}), counts as untagged", f->meta.pcp);
    else how = fmt::format("tagged VLAN {}", vid);
    std::string what;
    if (tunnel)
      what = fmt::format("dot1q-tunnel: joins service VLAN {}{}", d.vlan,
                         d.tag != RxTag::kKeep ? std::string()
                         : vid == 0       ? std::string(", priority tag kept as inner tag")
                                          : fmt::format(", customer VLAN {} kept as inner tag", vid));
    else if (!tagged || vid == 0)
      what = fmt::format("{} pvid {} -> VLAN {}", to_string(c.mode), c.pvid, d.vlan);
    else
      what = fmt::format("{}: VLAN {} is allowed, tag removed for switching", to_string(c.mode), vid);
    dp_.trace_step(&in, *this, "vlan", how + "; " + what);
  }
  return true;
}

// VID of the inner (customer) tag a frame being switched still carries; 0 if none.
static uint16_t inner_vid(const Frame* f) {
  return net::has_front_tag(f->data(), f->len()) ? net::load_be16(f->data() + 14) & 0x0fff : 0;
}

void SwitchBridge::egress(Port& out, Frame* f) {
  const uint16_t vlan = f->meta.vlan;
  const VlanPort& vp = out.vlan;
  const uint16_t inner = inner_vid(f);
  if (!vp.includes(vlan, inner)) {
    // Only reached for known unicast: floods pick including ports only.
    if (dp_.trace()) [[unlikely]]
      dp_.trace_step(&out, *this, "egress",
                     vp.member(vlan) ? fmt::format("{} {}: inner VLAN {} is not carried: not sent",
                                                   to_string(vp.config().mode), out.name, inner)
                                     : fmt::format("{} {}: VLAN {} is not carried: not sent",
                                                   to_string(vp.config().mode), out.name, vlan));
    dp_.pool().put(f);
    return;
  }
  bool inner_tag = net::has_front_tag(f->data(), f->len());
  if (inner_tag && vp.strips_inner()) {  // access: an inner priority tag goes too
    net::pop_vlan(*f);
    inner_tag = false;
  }
  const uint16_t pcp_bits = static_cast<uint16_t>(f->meta.pcp << 13);
  const bool untagged = vp.sends_untagged(vlan);
  // Never a VID-0 tag on top of a remaining customer tag (OVS xvlan_put).
  const bool priority_tag = untagged && !inner_tag && vp.wants_priority_tag(f->meta.pcp);
  bool ok = true;
  if (priority_tag) ok = net::push_vlan(*f, net::kEthTypeVlan, pcp_bits);
  else if (!untagged) ok = net::push_vlan(*f, f->meta.s_tpid, static_cast<uint16_t>(pcp_bits | vlan));
  if (!ok) [[unlikely]] {
    drop(out, f, Drop::kNoHeadroom, "no headroom to push a tag");
    return;
  }
  if (dp_.trace()) [[unlikely]] {
    const std::string what =
        priority_tag ? fmt::format("untagged with a priority tag (VID 0, pcp {})", f->meta.pcp)
        : untagged   ? std::string("tag stripped, sent untagged")
                     : fmt::format("sent tagged VLAN {} (tpid 0x{:04x})", vlan, f->meta.s_tpid);
    dp_.trace_step(&out, *this, "egress", fmt::format("{} port {} (pvid {}): VLAN {}: {}", to_string(vp.config().mode),
                                                     out.name, vp.config().pvid, vlan, what));
  }
  dp_.enqueue(out, f);
}

void SwitchBridge::process(Port& in, FrameBatch& batch) {
  assert(!busy_ && "a bridge's process() was re-entered");
  busy_ = true;
  if (batch.count && !dp_.dry_run()) fdb_->age(batch[0]->meta.ts_ns);
  for (uint32_t i = 0; i < batch.count; ++i) {
    Frame* f = batch[i];
    if (!admit(in, f) || !admit_l2(in, f) || !classify(in, f)) continue;
    const uint16_t vlan = f->meta.vlan;
    learn(in, f, vlan);
    const uint32_t out = lookup(f, vlan);
    if (out != kNoPort) {
      if (out == in.id) drop(in, f, Drop::kToIngressPort, "destination is on the ingress port");
      else egress(dp_.port(out), f);
      continue;
    }
    const uint16_t inner = inner_vid(f);
    size_t n = 0;
    for (Port* p : ports_)
      if (p != &in && p->vlan.includes(vlan, inner)) scratch_[n++] = p;
    if (dp_.trace()) [[unlikely]]
      dp_.trace_step(&in, *this, "flood", fmt::format("flood in VLAN {} to {} member port(s)", vlan, n));
    fan_out(scratch_.data(), n, f, [this](Port& p, Frame* c) { egress(p, c); });
  }
  batch.clear();
  busy_ = false;
}

std::unique_ptr<Bridge> make_bridge(Datapath& dp, std::string name, BridgeType type, const BridgeSettings& s) {
  switch (type) {
    case BridgeType::kHub: return std::make_unique<HubBridge>(dp, std::move(name), s);
    case BridgeType::kLearning: return std::make_unique<LearningBridge>(dp, std::move(name), s);
    case BridgeType::kSwitch: return std::make_unique<SwitchBridge>(dp, std::move(name), s);
  }
  return nullptr;
}

}  // namespace kvnet::dp
