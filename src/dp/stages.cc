#include "dp/stages.h"

#include "dp/bridge.h"
#include "net/vlan_ops.h"

namespace kvnet::dp {
namespace {

using net::Frame;
using net::FrameBatch;

class L2Check final : public Stage {
 public:
  std::string_view name() const override { return "l2-check"; }
  void process(PipelineContext& ctx, Port& in, FrameBatch& batch) override {
    std::array<uint64_t, 3> d{};
    keep_if(batch, [&](Frame* f) KVNET_HOT_LAMBDA {
      const net::Mac& src = f->key.dl_src;
      if (src.is_multicast() || src.is_zero()) {
        ++d[1];
        ctx.drop(in, f, Drop::kBadSrcMac);
        return false;
      }
      if (f->key.dl_dst.is_reserved_link_local()) {
        ++d[2];
        ctx.drop(in, f, Drop::kReservedDst);
        return false;
      }
      ++d[0];
      return true;
    });
    n_.add(ctx, d);
  }
  std::span<const StageCounter> counters() const override { return n_.c; }

 private:
  Counters<3> n_{{{{"passed"}, {"bad_src_mac"}, {"reserved_dst"}}}};
};

Drop drop_of(RxVerdict v) {
  switch (v) {
    case RxVerdict::kTaggedOnAccess: return Drop::kTaggedOnAccess;
    case RxVerdict::kVlanNotAllowed: return Drop::kVlanNotAllowed;
    case RxVerdict::kUntaggedNotAllowed: return Drop::kUntaggedNotAllowed;
    case RxVerdict::kInvalidVid: return Drop::kInvalidVid;
    case RxVerdict::kCvlanNotAllowed: return Drop::kCvlanNotAllowed;
    case RxVerdict::kUntaggedNotInCvlans: return Drop::kUntaggedNotInCvlans;
    case RxVerdict::kAccept: break;
  }
  return Drop::kCount;
}

// A frame's VLAN on a switch, from its port's VLAN rule (dp/vlan.h): the
// vlan-in stage's per-frame work, inlined there.
__attribute__((always_inline)) inline bool classify(PipelineContext& ctx, Port& in, Frame* f) {
  const VlanPort& vp = in.vlan;
  const bool tunnel = vp.config().mode == VlanMode::kDot1qTunnel;
  const bool tagged = f->key.n_tags > 0;
  const uint16_t vid = f->key.vlan_vid();
  const RxDecision r = vp.rx(tagged, vid, f->key.vlan_pcp());
  if (r.verdict != RxVerdict::kAccept) {
    ctx.drop(in, f, drop_of(r.verdict));
    return false;
  }
  f->meta.vlan = r.vlan;
  // A service tag starts with PCP 0; the customer tag keeps its own (OVS).
  f->meta.pcp = tagged && !tunnel ? f->key.vlan_pcp() : 0;
  f->meta.s_tpid = tunnel ? vp.config().qinq_tpid : net::kEthTypeVlan;
  if (r.tag == RxTag::kPop) net::pop_vlan(*f);
  if (ctx.trace()) [[unlikely]]
    ctx.trace_step({.bridge = in.bridge->name(), .port = in.name, .stage = TraceStage::kVlan,
                    .mode = std::string(to_string(vp.config().mode)), .vlan = r.vlan, .vid = vid,
                    .pcp = f->key.vlan_pcp(), .pvid = vp.config().pvid,
                    .inner = r.tag == RxTag::kKeep ? vid : -1, .tagged = tagged, .tunnel = tunnel});
  return true;
}


class VlanIn final : public Stage {
 public:
  std::string_view name() const override { return "vlan-in"; }
  void process(PipelineContext& ctx, Port& in, FrameBatch& batch) override {
    std::array<uint64_t, 2> d{};
    keep_if(batch, [&](Frame* f) KVNET_HOT_LAMBDA {
      const bool ok = classify(ctx, in, f);
      ++d[ok ? 0 : 1];
      return ok;
    });
    n_.add(ctx, d);
  }
  std::span<const StageCounter> counters() const override { return n_.c; }

 private:
  Counters<2> n_{{{{"accepted"}, {"dropped"}}}};
};

class VlanOut final : public Stage {
 public:
  std::string_view name() const override { return "vlan-out"; }
  void process(PipelineContext& ctx, Port& out, FrameBatch& batch) override {
    std::array<uint64_t, 4> d{};
    const VlanPort& vp = out.vlan;
    keep_if(batch, [&](Frame* f) KVNET_HOT_LAMBDA {
      if (f->meta.raw) [[unlikely]]
        return true;  // an OpenFlow output: leaves as its actions made it
      const uint16_t vlan = f->meta.vlan;
      bool inner_tag = f->meta.inner_tag;  // read by the switch's forward step
      const uint16_t inner = f->meta.inner_vid;
      // Built only when tracing (a TraceStep holds strings).
      auto event = [&](TraceWhat what) {
        return TraceStep{.bridge = out.bridge->name(), .port = out.name, .stage = TraceStage::kEgress, .what = what,
                         .mode = std::string(to_string(vp.config().mode)), .vlan = vlan, .pvid = vp.config().pvid};
      };
      if (!f->meta.carried && !vp.includes(vlan, inner)) {
        // Only known unicast gets here (floods pick including ports): not
        // sent and not counted as a drop, as a switch would not send it.
        ++d[3];
        if (ctx.trace()) [[unlikely]] {
          TraceStep t = event(vp.member(vlan) ? TraceWhat::kInnerNotCarried : TraceWhat::kNotCarried);
          t.inner = inner;
          ctx.trace_step(std::move(t));
        }
        ctx.pool().put(f);
        return false;
      }
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
        ctx.drop(out, f, Drop::kNoHeadroom);
        return false;
      }
      ++d[priority_tag ? 2 : untagged ? 1 : 0];
      if (ctx.trace()) [[unlikely]] {
        TraceStep t =
            event(priority_tag ? TraceWhat::kPriorityTag : untagged ? TraceWhat::kUntagged : TraceWhat::kTagged);
        t.pcp = f->meta.pcp;
        t.tpid = f->meta.s_tpid;
        ctx.trace_step(std::move(t));
      }
      return true;
    });
    n_.add(ctx, d);
  }
  std::span<const StageCounter> counters() const override { return n_.c; }

 private:
  Counters<4> n_{{{{"tagged"}, {"untagged"}, {"priority_tagged"}, {"not_carried"}}}};
};

}  // namespace

bool classify_vlan(PipelineContext& ctx, Port& in, Frame* f) { return classify(ctx, in, f); }

std::unique_ptr<Stage> make_l2_check() { return std::make_unique<L2Check>(); }
std::unique_ptr<Stage> make_vlan_in() { return std::make_unique<VlanIn>(); }
std::unique_ptr<Stage> make_vlan_out() { return std::make_unique<VlanOut>(); }

}  // namespace kvnet::dp
