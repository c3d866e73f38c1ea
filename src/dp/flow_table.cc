#include "dp/flow_table.h"

#include <algorithm>
#include <utility>

namespace kvnet::dp {
namespace {

// Where each field lives in FlowWords.
struct FieldPos {
  uint8_t word;
  uint8_t shift;
  uint8_t bits;
};
constexpr FieldPos kPos[] = {
    {0, 32, 32},  // in_port
    {0, 16, 16},  // dl_type
    {0, 0, 16},   // vlan_tci
    {1, 16, 48},  // dl_dst
    {2, 16, 48},  // dl_src
    {1, 8, 8},    // nw_proto
    {1, 0, 8},    // nw_tos
    {3, 32, 32},  // nw_src
    {3, 0, 32},   // nw_dst
    {2, 0, 16},   // tp_src
    {4, 0, 16},   // tp_dst
    {5, 0, 64},   // ipv6_src (hi; lo in word 6)
    {7, 0, 64},   // ipv6_dst (hi; lo in word 8)
    {9, 0, 64},   // tun_id
};
static_assert(sizeof(kPos) / sizeof(kPos[0]) == static_cast<size_t>(MatchField::kCount));

constexpr uint64_t ones(uint8_t bits) { return bits >= 64 ? ~uint64_t{0} : (uint64_t{1} << bits) - 1; }

uint64_t be64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = v << 8 | p[i];
  return v;
}

}  // namespace

FlowWords flow_words(const net::FlowKey& k, uint32_t in_port, uint64_t tun_id) {
  FlowWords f;
  const uint16_t tci = k.n_tags >= 1 ? static_cast<uint16_t>(k.vlan_tci | kVlanPresent) : 0;
  f.w[0] = uint64_t{in_port} << 32 | uint64_t{k.dl_type} << 16 | tci;
  f.w[1] = k.dl_dst.u64() << 16 | uint64_t{k.nw_proto} << 8 | k.nw_tos;
  f.w[2] = k.dl_src.u64() << 16 | k.tp_src;
  f.w[3] = uint64_t{k.nw_src} << 32 | k.nw_dst;
  f.w[4] = k.tp_dst;
  if (k.dl_type == 0x86dd) {
    f.w[5] = be64(k.ipv6_src);
    f.w[6] = be64(k.ipv6_src + 8);
    f.w[7] = be64(k.ipv6_dst);
    f.w[8] = be64(k.ipv6_dst + 8);
  }
  f.w[9] = tun_id;
  return f;
}

void FlowMatch::set(MatchField field, uint64_t v, uint64_t m) {
  const FieldPos p = kPos[static_cast<size_t>(field)];
  const uint64_t all = ones(p.bits) << p.shift;
  m &= ones(p.bits);
  mask.w[p.word] = (mask.w[p.word] & ~all) | (m << p.shift);
  value.w[p.word] = (value.w[p.word] & ~all) | ((v & m) << p.shift);
}

void FlowMatch::set128(MatchField field, uint64_t hi, uint64_t lo, uint64_t mhi, uint64_t mlo) {
  const FieldPos p = kPos[static_cast<size_t>(field)];
  mask.w[p.word] = mhi;
  mask.w[p.word + 1u] = mlo;
  value.w[p.word] = hi & mhi;
  value.w[p.word + 1u] = lo & mlo;
}

uint64_t FlowMatch::get(MatchField field) const {
  const FieldPos p = kPos[static_cast<size_t>(field)];
  return value.w[p.word] >> p.shift & ones(p.bits);
}

uint64_t FlowMatch::get_mask(MatchField field) const {
  const FieldPos p = kPos[static_cast<size_t>(field)];
  uint64_t m = mask.w[p.word] >> p.shift & ones(p.bits);
  if (field == MatchField::kIpv6Src || field == MatchField::kIpv6Dst) m |= mask.w[p.word + 1u];
  return m;
}

bool FlowMatch::matches(const FlowWords& w) const {
  for (size_t i = 0; i < FlowWords::kWords; ++i)
    if ((w.w[i] & mask.w[i]) != value.w[i]) return false;
  return true;
}

bool FlowSelector::selects(const Flow& f) const {
  if (table && f.table != *table) return false;
  if ((f.cookie & cookie_mask) != (cookie & cookie_mask)) return false;
  if (strict) {
    if (!(f.match == match) || f.priority != priority) return false;
  } else {
    // The flow's match is at least as specific as ours: every bit we
    // care about, it cares about too, with the same value.
    for (size_t i = 0; i < FlowWords::kWords; ++i) {
      if ((f.match.mask.w[i] & match.mask.w[i]) != match.mask.w[i]) return false;
      if ((f.match.value.w[i] & match.mask.w[i]) != match.value.w[i]) return false;
    }
  }
  if (out_port) {
    bool outputs = false;
    for (const auto& a : f.actions) outputs |= a.type == ActionType::kOutput && a.arg == *out_port;
    if (!outputs) return false;
  }
  return true;
}

// --- a table

uint64_t FlowTable::hash(const FlowWords& m) {
  uint64_t h = 0x9e3779b97f4a7c15ull;
  for (uint64_t x : m.w) {
    h ^= x + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    h *= 0xff51afd7ed558ccdull;
  }
  return h ^ (h >> 33);
}

const Flow* FlowTable::lookup(const FlowWords& w) const {
  const Flow* best = nullptr;
  for (const Subtable& s : subs_) {
    if (best && best->priority >= s.max_priority) break;  // nothing better further down
    FlowWords m;
    for (size_t i = 0; i < FlowWords::kWords; ++i) m.w[i] = w.w[i] & s.mask.w[i];
    auto it = s.by_hash.find(hash(m));
    if (it == s.by_hash.end()) continue;
    for (const Flow& f : it->second) {
      if (!(f.match.value == m)) continue;
      if (!best || f.priority > best->priority) best = &f;
      break;  // highest priority first
    }
  }
  return best;
}

bool FlowTable::add(Flow f) {
  auto sub = std::find_if(subs_.begin(), subs_.end(), [&](const Subtable& s) { return s.mask == f.match.mask; });
  if (sub == subs_.end()) {
    subs_.push_back(Subtable{f.match.mask, 0, {}});
    sub = subs_.end() - 1;
  }
  auto& bucket = sub->by_hash[hash(f.match.value)];
  for (Flow& x : bucket)
    if (x.match == f.match && x.priority == f.priority) {
      x = std::move(f);
      return true;
    }
  const auto at = std::find_if(bucket.begin(), bucket.end(), [&](const Flow& x) { return x.priority < f.priority; });
  sub->max_priority = std::max(sub->max_priority, f.priority);
  bucket.insert(at, std::move(f));
  ++n_;
  resort();
  return false;
}

size_t FlowTable::remove(const FlowSelector& sel) {
  return remove_if([&](const Flow& f) { return sel.selects(f); });
}

size_t FlowTable::modify(const FlowSelector& sel, const std::vector<FlowAction>& actions) {
  size_t n = 0;
  for (Subtable& s : subs_)
    for (auto& [h, b] : s.by_hash)
      for (Flow& f : b)
        if (sel.selects(f)) {
          f.actions = actions;
          ++n;
        }
  return n;
}

void FlowTable::resort() {
  std::stable_sort(subs_.begin(), subs_.end(),
                   [](const Subtable& a, const Subtable& b) { return a.max_priority > b.max_priority; });
}

namespace {
template <typename P>
void order(std::vector<P>& out) {
  std::sort(out.begin(), out.end(), [](auto* a, auto* b) {
    if (a->priority != b->priority) return a->priority > b->priority;
    if (a->match.mask.w != b->match.mask.w) return a->match.mask.w > b->match.mask.w;
    return a->match.value.w < b->match.value.w;
  });
}
}  // namespace

std::vector<const Flow*> FlowTable::flows() const {
  std::vector<const Flow*> out;
  for (const Subtable& s : subs_)
    for (const auto& [h, b] : s.by_hash)
      for (const Flow& f : b) out.push_back(&f);
  order(out);
  return out;
}

std::vector<Flow*> FlowTable::flows() {
  std::vector<Flow*> out;
  for (Subtable& s : subs_)
    for (auto& [h, b] : s.by_hash)
      for (Flow& f : b) out.push_back(&f);
  order(out);
  return out;
}

// --- a bridge's tables

Flow default_flow() {
  Flow f;
  f.priority = 0;
  f.actions = {FlowAction{ActionType::kNormal}};
  return f;
}

FlowTables::FlowTables() { tables_[0].add(default_flow()); }

size_t expire_flows(FlowTables& t, uint64_t now) {
  size_t n = 0;
  for (int i = 0; i < kFlowTables; ++i) {
    FlowTable& x = t.table(static_cast<uint8_t>(i));
    if (x.size() == 0) continue;
    n += x.remove_if([now](const Flow& f) {
      const uint64_t hard = uint64_t{f.hard_timeout} * 1000000000ULL, idle = uint64_t{f.idle_timeout} * 1000000000ULL;
      const uint64_t last = std::max(f.used_ns, f.created_ns);
      return (hard && now >= f.created_ns + hard) || (idle && now >= last + idle);
    });
  }
  return n;
}

size_t flow_mod(FlowTables& t, FlowModCommand cmd, const Flow& flow, const FlowSelector& sel, uint64_t now_ns) {
  size_t n = 0;
  auto each_table = [&](auto&& fn) {
    if (sel.table) return fn(t.table(*sel.table));
    for (int i = 0; i < kFlowTables; ++i) fn(t.table(static_cast<uint8_t>(i)));
  };
  switch (cmd) {
    case FlowModCommand::kAdd: {
      Flow f = flow;
      f.n_packets = f.n_bytes = 0;
      f.created_ns = f.used_ns = now_ns;
      t.table(f.table).add(std::move(f));
      return 1;
    }
    case FlowModCommand::kModify:
    case FlowModCommand::kModifyStrict:
      each_table([&](FlowTable& x) { n += x.modify(sel, flow.actions); });
      return n;
    case FlowModCommand::kDelete:
    case FlowModCommand::kDeleteStrict:
      each_table([&](FlowTable& x) { n += x.remove(sel); });
      return n;
  }
  return 0;
}

bool FlowTables::is_normal_only() const {
  if (size() != 1 || tables_[0].size() != 1) return false;
  const Flow& f = *tables_[0].flows().front();
  const Flow d = default_flow();
  return f.priority == 0 && f.match == d.match && f.actions == d.actions && f.idle_timeout == 0 && f.hard_timeout == 0;
}

size_t FlowTables::size() const {
  size_t n = 0;
  for (const auto& t : tables_) n += t.size();
  return n;
}

std::vector<const Flow*> FlowTables::flows() const {
  std::vector<const Flow*> out;
  for (const auto& t : tables_) {
    auto f = t.flows();
    out.insert(out.end(), f.begin(), f.end());
  }
  return out;
}

}  // namespace kvnet::dp
