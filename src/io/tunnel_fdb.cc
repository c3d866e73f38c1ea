#include "io/tunnel_fdb.h"

#include <algorithm>
#include <bit>
#include <cstring>

namespace kvnet::io {

// ---------------------------------------------------------------- the index

TunnelFdb::Index::Index(uint32_t capacity) {
  const uint32_t want = std::bit_ceil(std::max<uint32_t>(capacity, 1) * 2);
  mask_ = want - 1;
  shift_ = 64 - static_cast<uint32_t>(std::countr_zero(want));
  slots_.assign(want, Slot{});
}

void TunnelFdb::Index::insert(uint64_t hash, uint32_t node) {
  const uint32_t h = home(hash);
  uint32_t s = h;
  while (slots_[s].node != kNil) s = (s + 1) & mask_;
  slots_[s] = {node, h};
}

void TunnelFdb::Index::erase(uint32_t slot) {
  // Backward-shift deletion keeps every probe chain unbroken without tombstones.
  uint32_t hole = slot;
  for (uint32_t s = (hole + 1) & mask_; slots_[s].node != kNil; s = (s + 1) & mask_) {
    const uint32_t h = slots_[s].home;
    const bool between = hole <= s ? (h > hole && h <= s) : (h > hole || h <= s);
    if (!between) {
      slots_[hole] = slots_[s];
      hole = s;
    }
  }
  slots_[hole] = Slot{};
}

// ---------------------------------------------------------------- the table

TunnelFdb::TunnelFdb(uint32_t max_learned, uint32_t max_static, uint64_t aging_ns)
    : max_learned_(max_learned),
      max_static_(max_static),
      aging_ns_(aging_ns),
      index_(max_learned + max_static),
      remote_index_(max_learned + max_static + 1) {
  const uint32_t n = max_learned + max_static;
  nodes_.resize(n);
  for (uint32_t i = 0; i < n; ++i) {
    nodes_[i].in_use = false;
    nodes_[i].next = i + 1 < n ? i + 1 : kNil;
  }
  free_ = n ? 0 : kNil;
  // One remote per entry at most, plus the one a moving entry takes before
  // it lets its old one go: the remote table never runs out first.
  remotes_.resize(n + 1);
  for (uint32_t i = 0; i <= n; ++i) remotes_[i].next_free = i < n ? i + 1 : kNil;
  free_remote_ = 0;
  flood_.resize(n + 1);
  // One pair per static entry at most, plus the one a replaced entry takes
  // before it lets its old one go.
  vni_flood_vni_.resize(max_static + 1);
  vni_flood_refs_.resize(max_static + 1);
  vni_flood_.resize(max_static + 1);
}

namespace {
// Orders (vni, address) pairs: by VNI, then by the address's bytes.
bool pair_less(uint32_t va, const IpAddr& a, uint32_t vb, const IpAddr& b) {
  if (va != vb) return va < vb;
  if (a.family != b.family) return a.family < b.family;
  return a.b < b.b;
}
}  // namespace

void TunnelFdb::add_vni_remote(uint32_t vni, const IpAddr& a) {
  uint32_t i = 0;
  while (i < vni_flood_n_ && pair_less(vni_flood_vni_[i], vni_flood_[i], vni, a)) ++i;
  if (i < vni_flood_n_ && vni_flood_vni_[i] == vni && vni_flood_[i] == a) {
    ++vni_flood_refs_[i];
    return;
  }
  for (uint32_t j = vni_flood_n_; j > i; --j) {
    vni_flood_vni_[j] = vni_flood_vni_[j - 1];
    vni_flood_[j] = vni_flood_[j - 1];
    vni_flood_refs_[j] = vni_flood_refs_[j - 1];
  }
  vni_flood_vni_[i] = vni;
  vni_flood_[i] = a;
  vni_flood_refs_[i] = 1;
  ++vni_flood_n_;
}

void TunnelFdb::drop_vni_remote(uint32_t vni, const IpAddr& a) {
  for (uint32_t i = 0; i < vni_flood_n_; ++i) {
    if (vni_flood_vni_[i] != vni || !(vni_flood_[i] == a)) continue;
    if (--vni_flood_refs_[i]) return;
    for (uint32_t j = i; j + 1 < vni_flood_n_; ++j) {
      vni_flood_vni_[j] = vni_flood_vni_[j + 1];
      vni_flood_[j] = vni_flood_[j + 1];
      vni_flood_refs_[j] = vni_flood_refs_[j + 1];
    }
    --vni_flood_n_;
    return;
  }
}

std::span<const IpAddr> TunnelFdb::static_flood(uint32_t vni) const {
  // Binary search: the first pair of `vni`, then the first of a later one.
  auto first_at_least = [&](uint32_t v) {
    uint32_t lo = 0, hi = vni_flood_n_;
    while (lo < hi) {
      const uint32_t mid = (lo + hi) / 2;
      if (vni_flood_vni_[mid] < v) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const uint32_t lo = first_at_least(vni);
  const uint32_t hi = vni == UINT32_MAX ? vni_flood_n_ : first_at_least(vni + 1);
  return {vni_flood_.data() + lo, hi - lo};
}

uint64_t TunnelFdb::addr_hash(const IpAddr& a) {
  uint64_t x, y;
  std::memcpy(&x, a.b.data(), 8);
  std::memcpy(&y, a.b.data() + 8, 8);
  return x ^ (y * 0xff51afd7ed558ccdULL) ^ static_cast<uint64_t>(a.family);
}

uint32_t TunnelFdb::find_slot(uint32_t vni, uint64_t mac) const {
  return index_.find(key_hash(vni, mac), [&](uint32_t n) { return nodes_[n].mac == mac && nodes_[n].vni == vni; });
}

uint32_t TunnelFdb::take_remote(const IpAddr& a) {
  const uint64_t h = addr_hash(a);
  const uint32_t s = remote_index_.find(h, [&](uint32_t r) { return remotes_[r].addr == a; });
  if (s != kNil) {
    const uint32_t r = remote_index_.node(s);
    ++remotes_[r].refs;
    return r;
  }
  const uint32_t r = free_remote_;  // never kNil: see the constructor
  free_remote_ = remotes_[r].next_free;
  Remote& x = remotes_[r];
  x.addr = a;
  x.refs = 1;
  x.flood_pos = flood_n_;
  flood_[flood_n_++] = a;
  remote_index_.insert(h, r);
  return r;
}

void TunnelFdb::drop_remote(uint32_t r) {
  Remote& x = remotes_[r];
  if (--x.refs) return;
  // Out of the flood list: the last one takes its place.
  const uint32_t pos = x.flood_pos, last = --flood_n_;
  if (pos != last) {
    flood_[pos] = flood_[last];
    const uint32_t s = remote_index_.find(addr_hash(flood_[pos]), [&](uint32_t o) { return remotes_[o].addr == flood_[pos]; });
    remotes_[remote_index_.node(s)].flood_pos = pos;
  }
  remote_index_.erase(remote_index_.find(addr_hash(x.addr), [&](uint32_t o) { return o == r; }));
  x.next_free = free_remote_;
  free_remote_ = r;
}

uint32_t TunnelFdb::insert(uint32_t vni, uint64_t mac, uint32_t remote, uint64_t now, bool is_static) {
  const uint32_t n = free_;
  free_ = nodes_[n].next;
  nodes_[n] = Node{mac, now, vni, remote, kNil, kNil, is_static, true};
  if (!is_static) lru_.append(nodes_, n);
  index_.insert(key_hash(vni, mac), n);
  ++used_;
  statics_ += is_static;
  return n;
}

void TunnelFdb::erase(uint32_t n) {
  Node& x = nodes_[n];
  index_.erase(find_slot(x.vni, x.mac));
  if (!x.is_static) lru_.unlink(nodes_, n);
  drop_remote(x.remote);
  statics_ -= x.is_static;
  x.in_use = false;
  x.next = free_;
  free_ = n;
  --used_;
}

TunnelFdb::Learn TunnelFdb::learn(uint32_t vni, uint64_t mac, const IpAddr& remote, uint64_t now) {
  const uint32_t s = find_slot(vni, mac);
  if (s != kNil) {
    const uint32_t n = index_.node(s);
    Node& x = nodes_[n];
    if (x.is_static) return Learn::kStatic;
    const bool was_expired = expired(x, now);
    x.seen = now;
    lru_.touch(nodes_, n);
    if (remotes_[x.remote].addr == remote) return was_expired ? Learn::kNew : Learn::kRefreshed;
    const uint32_t r = take_remote(remote);
    drop_remote(x.remote);
    x.remote = r;
    if (was_expired) return Learn::kNew;
    ++stats_.moved;
    return Learn::kMoved;
  }
  if (learned() >= max_learned_) {
    if (lru_.head() == kNil) {  // max_learned 0
      ++stats_.full;
      return Learn::kFull;
    }
    erase(lru_.head());
    ++stats_.evicted;
  }
  insert(vni, mac, take_remote(remote), now, false);
  ++stats_.learned;
  return Learn::kNew;
}

const IpAddr* TunnelFdb::find(uint32_t vni, uint64_t mac) const {
  const uint32_t s = find_slot(vni, mac);
  return s == kNil ? nullptr : &remotes_[nodes_[index_.node(s)].remote].addr;
}

const IpAddr* TunnelFdb::lookup(uint32_t vni, uint64_t mac, uint64_t now) const {
  const uint32_t s = find_slot(vni, mac);
  if (s == kNil) return nullptr;
  const Node& x = nodes_[index_.node(s)];
  return expired(x, now) ? nullptr : &remotes_[x.remote].addr;
}

bool TunnelFdb::set_static(uint32_t vni, uint64_t mac, const IpAddr& remote) {
  const uint32_t s = find_slot(vni, mac);
  if (s != kNil) {
    const uint32_t n = index_.node(s);
    if (nodes_[n].is_static) {
      const uint32_t r = take_remote(remote);
      add_vni_remote(vni, remote);
      drop_vni_remote(vni, remotes_[nodes_[n].remote].addr);
      drop_remote(nodes_[n].remote);
      nodes_[n].remote = r;
      return true;
    }
  }
  if (statics_ >= max_static_) {
    ++stats_.static_full;
    return false;
  }
  if (s != kNil) erase(index_.node(s));  // a learned entry gives way
  insert(vni, mac, take_remote(remote), 0, true);
  add_vni_remote(vni, remote);
  return true;
}

bool TunnelFdb::remove_static(uint32_t vni, uint64_t mac) {
  const uint32_t s = find_slot(vni, mac);
  if (s == kNil || !nodes_[index_.node(s)].is_static) return false;
  const Node& x = nodes_[index_.node(s)];
  drop_vni_remote(x.vni, remotes_[x.remote].addr);
  erase(index_.node(s));
  return true;
}

std::vector<TunnelFdb::Entry> TunnelFdb::entries() const {
  std::vector<Entry> out;
  out.reserve(used_);
  for (const Node& x : nodes_)
    if (x.in_use && x.is_static) out.push_back({x.vni, x.mac, remotes_[x.remote].addr, 0, true});
  for (uint32_t n = lru_.head(); n != kNil; n = nodes_[n].next) {
    const Node& x = nodes_[n];
    out.push_back({x.vni, x.mac, remotes_[x.remote].addr, x.seen, false});
  }
  return out;
}

}  // namespace kvnet::io
