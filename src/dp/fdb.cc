#include "dp/fdb.h"

#include <algorithm>
#include <bit>

namespace kvnet::dp {

Fdb::Fdb(uint32_t max_entries, uint64_t aging_ns) : max_entries_(max_entries), aging_ns_(aging_ns) {
  const uint32_t want = std::bit_ceil(std::max<uint32_t>(max_entries, 1) * 2);
  const uint32_t bits = static_cast<uint32_t>(std::countr_zero(want));
  mask_ = want - 1;
  shift_ = 64 - bits;
  slots_.assign(want, kNil);
  nodes_.resize(max_entries);
  for (uint32_t i = 0; i < max_entries; ++i) {
    nodes_[i].in_use = false;
    nodes_[i].next = i + 1 < max_entries ? i + 1 : kNil;
  }
  free_ = max_entries ? 0 : kNil;
}

uint32_t Fdb::find_slot(uint64_t key) const {
  for (uint32_t s = slot_of(key) & mask_;; s = (s + 1) & mask_) {
    const uint32_t n = slots_[s];
    if (n == kNil) return kNil;
    if (nodes_[n].key == key) return s;
  }
}

uint32_t Fdb::insert(uint64_t key, uint64_t now, uint32_t port, bool is_static) {
  if (free_ == kNil) {
    if (lru_.head() == kNil) return kNil;  // everything is static
    erase(lru_.head());
    ++stats_.evicted;
  }
  const uint32_t n = free_;
  free_ = nodes_[n].next;
  nodes_[n] = Node{key, now, port, kNil, kNil, is_static, true};
  if (!is_static) lru_.append(nodes_, n);
  uint32_t s = slot_of(key) & mask_;
  while (slots_[s] != kNil) s = (s + 1) & mask_;
  slots_[s] = n;
  ++used_;
  return n;
}

void Fdb::erase(uint32_t n) {
  const uint32_t s0 = find_slot(nodes_[n].key);
  // Backward-shift deletion keeps every probe chain unbroken without tombstones.
  uint32_t hole = s0;
  for (uint32_t s = (hole + 1) & mask_; slots_[s] != kNil; s = (s + 1) & mask_) {
    const uint32_t home = slot_of(nodes_[slots_[s]].key) & mask_;
    // Move the entry at s into the hole if its home is not in (hole, s].
    const bool between = hole <= s ? (home > hole && home <= s) : (home > hole || home <= s);
    if (!between) {
      slots_[hole] = slots_[s];
      hole = s;
    }
  }
  slots_[hole] = kNil;
  changed();
  if (!nodes_[n].is_static) lru_.unlink(nodes_, n);
  nodes_[n].in_use = false;
  nodes_[n].next = free_;
  free_ = n;
  --used_;
}

Fdb::Learn Fdb::learn(uint16_t vlan, uint64_t mac, uint32_t port, uint64_t now, uint32_t* old_port) {
  const uint64_t key = make_key(vlan, mac);
  const uint32_t s = find_slot(key);
  if (s != kNil) {
    const uint32_t n = slots_[s];
    Node& x = nodes_[n];
    if (x.is_static) return Learn::kStatic;
    const bool was_expired = expired(x, now);
    x.last_seen = now;
    lru_.touch(nodes_, n);
    if (x.port == port) return was_expired ? Learn::kNew : Learn::kRefreshed;
    if (old_port) *old_port = x.port;
    x.port = port;
    changed();
    if (was_expired) return Learn::kNew;
    ++stats_.moved;
    return Learn::kMoved;
  }
  if (insert(key, now, port, false) == kNil) {
    ++stats_.full;
    return Learn::kFull;
  }
  ++stats_.learned;
  return Learn::kNew;
}

uint32_t Fdb::lookup(uint16_t vlan, uint64_t mac, uint64_t now) {
  const uint32_t s = find_slot(make_key(vlan, mac));
  if (s == kNil) return kNoPort;
  const uint32_t n = slots_[s];
  if (expired(nodes_[n], now)) {
    erase(n);
    ++stats_.aged;
    return kNoPort;
  }
  return nodes_[n].port;
}

bool Fdb::add_static(uint16_t vlan, uint64_t mac, uint32_t port) {
  const uint64_t key = make_key(vlan, mac);
  const uint32_t s = find_slot(key);
  if (s != kNil) erase(slots_[s]);
  changed();
  return insert(key, 0, port, true) != kNil;
}

void Fdb::touch(uint16_t vlan, uint64_t mac, uint32_t port, uint64_t now) {
  const uint32_t s = find_slot(make_key(vlan, mac));
  if (s == kNil) return;
  Node& x = nodes_[slots_[s]];
  if (x.is_static || x.port != port || now <= x.last_seen || expired(x, now)) return;
  x.last_seen = now;
  lru_.touch(nodes_, slots_[s]);
}

bool Fdb::remove(uint16_t vlan, uint64_t mac) {
  const uint32_t s = find_slot(make_key(vlan, mac));
  if (s == kNil) return false;
  erase(slots_[s]);
  return true;
}

void Fdb::flush() {
  while (lru_.head() != kNil) erase(lru_.head());
}

void Fdb::flush_port(uint32_t port) {
  for (uint32_t n = lru_.head(); n != kNil;) {
    const uint32_t next = nodes_[n].next;
    if (nodes_[n].port == port) erase(n);
    n = next;
  }
}

void Fdb::forget_port(uint32_t port) {
  for (uint32_t n = 0; n < nodes_.size(); ++n)
    if (nodes_[n].in_use && nodes_[n].port == port) erase(n);
}

size_t Fdb::age(uint64_t now) {
  size_t removed = 0;
  while (lru_.head() != kNil && expired(nodes_[lru_.head()], now)) {
    erase(lru_.head());
    ++removed;
  }
  stats_.aged += removed;
  return removed;
}

std::vector<Fdb::Entry> Fdb::entries() const {
  std::vector<Entry> out;
  out.reserve(used_);
  for (const Node& x : nodes_)
    if (x.in_use && x.is_static)
      out.push_back({static_cast<uint16_t>(x.key >> 48), x.key & 0xffffffffffffULL, x.port, 0, true});
  for (uint32_t n = lru_.head(); n != kNil; n = nodes_[n].next) {
    const Node& x = nodes_[n];
    out.push_back({static_cast<uint16_t>(x.key >> 48), x.key & 0xffffffffffffULL, x.port, x.last_seen, false});
  }
  return out;
}

}  // namespace kvnet::dp
