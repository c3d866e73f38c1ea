// The forwarding database of a learning bridge or switch: (VLAN, MAC) -> port.
//
// Fixed capacity (`mac_table_size`), allocated once: learning never allocates.
// Entries live in an open-addressing table (linear probing, load <= 1/2,
// backward-shift deletion) and, when dynamic, in an LRU list so that a full
// table evicts the least recently seen station. An entry not seen for
// `aging` nanoseconds is gone: lookups treat it as absent and `age()` sweeps
// expired entries from the LRU head. Static entries never age, are never
// evicted, and are not moved by learning.
//
// Time is whatever clock the caller passes (`now`, ns): the daemon passes its
// receive time, replay passes capture timestamps, so aging is reproducible.
//
// VLAN-unaware bridges use VLAN 0.
//
// Thread-safety: owned by the datapath thread. The control thread reads or
// changes it only through the datapath's command queue.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "dp/lru_list.h"

namespace kvnet::dp {

inline constexpr uint32_t kNoPort = UINT32_MAX;

class Fdb {
 public:
  enum class Learn : uint8_t { kNew, kRefreshed, kMoved, kStatic, kFull };

  struct Entry {
    uint16_t vlan;
    uint64_t mac;  // 48 bits, first wire byte most significant
    uint32_t port;
    uint64_t last_seen_ns;
    bool is_static;
  };

  struct Stats {
    uint64_t learned = 0;
    uint64_t moved = 0;
    uint64_t evicted = 0;
    uint64_t aged = 0;
    uint64_t full = 0;  // learn attempts refused: table full of static entries
  };

  Fdb(uint32_t max_entries, uint64_t aging_ns);

  // Learns that `mac` in `vlan` was seen on `port` at `now`. For kMoved,
  // *old_port (if given) receives the previous port.
  Learn learn(uint16_t vlan, uint64_t mac, uint32_t port, uint64_t now, uint32_t* old_port = nullptr);
  // The port of (vlan, mac), or kNoPort. Expired dynamic entries are removed.
  uint32_t lookup(uint16_t vlan, uint64_t mac, uint64_t now);

  // Adds or replaces a static entry. Returns false if the table is full.
  bool add_static(uint16_t vlan, uint64_t mac, uint32_t port);
  bool remove(uint16_t vlan, uint64_t mac);
  void flush();                 // removes dynamic entries
  void flush_port(uint32_t port);  // removes dynamic entries of one port
  void forget_port(uint32_t port);  // removes every entry of a port being removed (its id is reused)
  // Removes every dynamic entry not seen since now - aging. Returns how many.
  size_t age(uint64_t now);

  // Refreshes a dynamic entry that still names `port` (the kernel fast path
  // forwarded the station's frames); changes nothing else.
  void touch(uint16_t vlan, uint64_t mac, uint32_t port, uint64_t now);
  // Every change that could alter a lookup's answer (a move, a removal, a
  // static entry) increments *counter (the datapath's epoch: the fast path's
  // cached decisions go stale). Null: none.
  void count_changes_in(uint64_t* counter) { changes_ = counter; }

  void set_aging(uint64_t aging_ns) { aging_ns_ = aging_ns; }
  uint64_t aging_ns() const { return aging_ns_; }
  uint32_t capacity() const { return max_entries_; }
  uint32_t size() const { return used_; }
  const Stats& stats() const { return stats_; }
  std::vector<Entry> entries() const;  // control path: a copy, static first then LRU order

 private:
  static constexpr uint32_t kNil = UINT32_MAX;
  struct Node {
    uint64_t key;  // vlan << 48 | mac
    uint64_t last_seen;
    uint32_t port;
    uint32_t prev, next;  // LRU links (dynamic) or free-list link (next)
    bool is_static;
    bool in_use;
  };

  static uint64_t make_key(uint16_t vlan, uint64_t mac) { return (uint64_t{vlan} << 48) | mac; }
  uint32_t slot_of(uint64_t key) const {
    return static_cast<uint32_t>((key * 0x9E3779B97F4A7C15ULL) >> shift_);
  }
  uint32_t find_slot(uint64_t key) const;  // slot holding key, or kNil
  uint32_t insert(uint64_t key, uint64_t now, uint32_t port, bool is_static);
  void erase(uint32_t node);
  bool expired(const Node& n, uint64_t now) const {
    return !n.is_static && now >= n.last_seen && now - n.last_seen > aging_ns_;
  }

  uint32_t max_entries_;
  uint64_t aging_ns_;
  uint32_t mask_;
  uint32_t shift_;
  std::vector<uint32_t> slots_;  // node index or kNil
  std::vector<Node> nodes_;
  uint32_t free_ = kNil;
  LruList lru_;  // the dynamic entries, head = least recently seen
  uint64_t* changes_ = nullptr;
  void changed() {
    if (changes_) ++*changes_;
  }
  uint32_t used_ = 0;
  Stats stats_;
};

}  // namespace kvnet::dp
