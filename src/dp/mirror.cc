// Port mirrors: the table's configuration and the datapath's two hooks
// (what a port received, what it is given to send). See dp/mirror.h.
#include "dp/mirror.h"

#include <algorithm>
#include <cassert>

#include "dp/bridge.h"
#include "dp/datapath.h"
#include "net/vlan_ops.h"

namespace kvnet::dp {

using net::Frame;
using net::FrameBatch;

void MirrorTable::set(std::vector<MirrorConfig> cfgs) {
  assert(cfgs.size() <= kMaxMirrors);
  std::vector<Mirror> next;
  for (auto& c : cfgs) {
    Mirror m{std::move(c), 0, {}};
    for (const auto& old : mirrors_)
      if (old.cfg.name == m.cfg.name) m.counters = old.counters;
    next.push_back(std::move(m));
  }
  // Mirrors with the same output count as one destination (OVS dup_mirrors).
  for (size_t i = 0; i < next.size(); ++i)
    for (size_t j = 0; j < next.size(); ++j) {
      const MirrorConfig &a = next[i].cfg, &b = next[j].cfg;
      if (a.out_port == b.out_port && a.out_vlan == b.out_vlan) next[i].dup |= 1u << j;
    }
  mirrors_ = std::move(next);
}

void MirrorTable::forget_port(const Port* p) {
  for (auto& m : mirrors_) {
    std::erase(m.cfg.src, p);
    std::erase(m.cfg.dst, p);
    if (m.cfg.out_port == p) {
      m.cfg.out_port = nullptr;
      m.dup = 0;  // sends nothing: shares no destination
    }
  }
}

void MirrorTable::mark_ports(const std::vector<Port*>& ports) const {
  for (Port* p : ports) {
    p->mirror_rx = p->mirror_tx = 0;
    p->mirror_out = false;
  }
  for (size_t i = 0; i < mirrors_.size(); ++i) {
    const MirrorConfig& c = mirrors_[i].cfg;
    const uint32_t bit = 1u << i;
    for (Port* p : c.select_all ? ports : c.src) p->mirror_rx |= bit;
    for (Port* p : c.select_all ? ports : c.dst) p->mirror_tx |= bit;
  }
  for (const auto& m : mirrors_)
    if (m.cfg.out_port) m.cfg.out_port->mirror_out = true;
  for (Port* p : ports)
    if (p->mirror_out) p->mirror_rx = p->mirror_tx = 0;  // it only ever sends copies
}

void Datapath::set_mirrors(Bridge& b, std::vector<MirrorConfig> mirrors) {
  assert_owner();
  changed();
  for (const auto& m : mirrors)
    if (m.out_port && !m.out_port->mirror_out && b.fdb()) b.fdb()->flush_port(m.out_port->id);
  b.mirrors().set(std::move(mirrors));
  b.mirrors().mark_ports(b.ports());
}

void Datapath::mirror_received(Port& in, FrameBatch& batch) {
  if (in.mirror_out) {  // reserved for a mirror's copies: what it receives is dropped (OVS)
    for (uint32_t i = 0; i < batch.count; ++i) drop(in, batch[i], Drop::kMirrorOutput);
    batch.clear();
    return;
  }
  for (uint32_t i = 0; i < batch.count; ++i) mirror_frame(in, *batch[i], in.mirror_rx, true);
}

void Datapath::mirror_sent(Port& out, const FrameBatch& batch) {
  for (uint32_t i = 0; i < batch.count; ++i) mirror_frame(out, *batch[i], out.mirror_tx, false);
}

namespace {

// The frame's VLAN as its bridge switches it, and what the copy must lose
// to be in the bridge's internal form (the VLAN's own tag removed).
struct InVlan {
  bool ok = true;     // false: the port refuses the frame (no VLAN)
  uint16_t vlan = 0;  // 0: hub or learning bridge
  bool strip = false;
  uint16_t tpid = net::kEthTypeVlan;
  uint8_t pcp = 0;
};

InVlan classify(const Port& at, const Frame& f, bool received) {
  InVlan v;
  if (at.bridge->type() != BridgeType::kSwitch) return v;
  if (!received) {  // vlan-out already ran: the frame is as `at` sends it
    v.vlan = f.meta.vlan;
    v.pcp = f.meta.pcp;
    v.tpid = f.meta.s_tpid;
    v.strip = !at.vlan.sends_untagged(v.vlan);
    // A priority tag (VID 0) the port added is no VLAN: the copy loses it too.
    if (!v.strip && net::has_front_tag(f.data(), f.len()) && (net::load_be16(f.data() + 14) & 0x0fff) == 0)
      v.strip = true;
    return v;
  }
  const bool tagged = net::has_front_tag(f.data(), f.len());
  const uint16_t tci = tagged ? net::load_be16(f.data() + 14) : 0;
  const RxDecision r = at.vlan.rx(tagged, tci & 0x0fff, static_cast<uint8_t>(tci >> 13));
  if (r.verdict != RxVerdict::kAccept) {
    v.ok = false;
    return v;
  }
  const bool tunnel = at.vlan.config().mode == VlanMode::kDot1qTunnel;
  v.vlan = r.vlan;
  v.strip = r.tag == RxTag::kPop;
  v.pcp = tagged && !tunnel ? static_cast<uint8_t>(tci >> 13) : 0;
  v.tpid = tunnel ? at.vlan.config().qinq_tpid : net::kEthTypeVlan;
  return v;
}

// The inner (customer) VLAN left once `strip` removed the VLAN's own tag.
uint16_t inner_vid(const Frame& f, bool strip) {
  const size_t off = strip ? net::kVlanTagLen : 0;
  if (f.len() < off || !net::has_front_tag(f.data() + off, f.len() - off)) return 0;
  return net::load_be16(f.data() + off + 14) & 0x0fff;
}

// Does `to` send a copy in `vlan` untagged? As OVS's xvlan_output_translate:
// an access port and a dot1q-tunnel port always (whatever the VLAN), the
// others as they send that VLAN (a trunk's pvid, hybrid's untagged list...).
bool copy_untagged(const Port& to, uint16_t vlan) {
  const VlanMode mode = to.vlan.config().mode;
  return mode == VlanMode::kAccess || mode == VlanMode::kDot1qTunnel || to.vlan.sends_untagged(vlan);
}

bool reserved_dst(const Frame& f) {
  const uint8_t* d = f.data();
  return d[0] == 0x01 && d[1] == 0x80 && d[2] == 0xc2 && d[3] == 0 && d[4] == 0 && (d[5] & 0xf0) == 0;
}

// How many copies mirror `m` makes of `f` (for a trace).
int64_t mirror_targets(const Port& at, const Frame& f, const MirrorTable::Mirror& m, bool strip) {
  if (m.cfg.out_port) return 1;
  const uint16_t inner = inner_vid(f, strip);
  int64_t n = 0;
  for (const Port* p : at.bridge->ports()) n += !p->mirror_out && p->vlan.includes(m.cfg.out_vlan, inner);
  return n;
}

}  // namespace

void Datapath::mirror_frame(Port& at, const Frame& f, uint32_t candidates, bool received) {
  if (f.len() < net::kEthHeaderLen) return;  // a runt: the bridge drops it
  MirrorTable& table = at.bridge->mirrors();
  uint32_t& served = table.served(f.meta.origin, round_);
  uint32_t todo = candidates & ~served;
  if (!todo) return;
  const InVlan v = classify(at, f, received);
  if (!v.ok) return;
  while (todo) {
    const uint32_t i = static_cast<uint32_t>(__builtin_ctz(todo));
    todo &= todo - 1;
    auto& m = table.mirrors()[i];
    if (served & (1u << i)) continue;  // another mirror with this output served it
    if (m.cfg.vlans && !(*m.cfg.vlans)[v.vlan]) continue;
    if (!m.cfg.out_port && (m.cfg.out_vlan == 0 || v.vlan == m.cfg.out_vlan || reserved_dst(f))) continue;
    served |= m.dup;
    if (trace_) [[unlikely]]  // before the copies' own output steps
      trace_step({.bridge = at.bridge->name(), .port = at.name, .stage = TraceStage::kMirror,
                  .mode = received ? "src" : "dst", .other = m.cfg.name, .vlan = v.vlan ? v.vlan : -1,
                  .count = mirror_targets(at, f, m, v.strip),
                  .mirror_output = m.cfg.out_port ? "port " + m.cfg.out_port->name
                                                  : "vlan " + std::to_string(m.cfg.out_vlan)});
    uint64_t bytes = 0;
    const uint32_t n = mirror_copies(at, f, m, v.strip, v.vlan, v.tpid, v.pcp, bytes);
    if (n && !dry_run_) {
      ++m.counters.tx_packets;
      m.counters.tx_bytes += bytes;
    }
  }
}

// Copies of `f` for mirror `m`, each in the VLAN encoding of the port it
// leaves through; returns how many were queued, `bytes` their first's length.
uint32_t Datapath::mirror_copies(Port& at, const Frame& f, const MirrorTable::Mirror& m, bool strip, uint16_t vlan,
                                 uint16_t tpid, uint8_t pcp, uint64_t& bytes) {
  const bool sw = at.bridge->type() == BridgeType::kSwitch;
  const uint16_t out_vlan = m.cfg.out_port ? vlan : m.cfg.out_vlan;
  const uint16_t inner = sw ? inner_vid(f, strip) : 0;
  uint32_t n = 0;
  auto send = [&](Port& to) {
    Frame* c = frames_.get();
    if (!c) [[unlikely]] {
      count_drop(to, Drop::kNoBuffer);
      return;
    }
    c->copy_from(f);
    if (sw) {
      if (strip) net::pop_vlan(*c);
      if (!m.cfg.out_port) bytes = c->len();  // output_vlan: counted untagged
      if (!copy_untagged(to, out_vlan) &&
          !net::push_vlan(*c, m.cfg.out_port ? tpid : net::kEthTypeVlan, static_cast<uint16_t>(pcp << 13 | out_vlan)))
          [[unlikely]] {
        drop(to, c, Drop::kNoHeadroom);
        return;
      }
      c->meta.vlan = out_vlan;
      c->meta.pcp = pcp;
    }
    net::parse_flow(c->data(), c->len(), c->key);  // backends (a tunnel's remote lookup) read it
    if (n++ == 0 && m.cfg.out_port) bytes = c->len();
    output_copy(to, c);
  };
  if (m.cfg.out_port) {
    send(*m.cfg.out_port);
    return n;
  }
  for (Port* p : at.bridge->ports())
    if (!p->mirror_out && p->vlan.includes(out_vlan, inner)) send(*p);
  return n;
}

}  // namespace kvnet::dp
