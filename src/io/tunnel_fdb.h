// A tunnel port's learning table: (VNI, inner MAC) -> the remote VTEP
// (outer address) it was last seen behind, or a static entry's remote.
//
// The design of the bridge's FDB (dp/fdb.h): fixed capacity, allocated once
// (`max_learned` dynamic entries, `max_static` static ones); learning,
// lookups, moves and evictions never allocate. Entries live in an
// open-addressing table (linear probing, load <= 1/2, backward-shift
// deletion) and, when dynamic, in an LRU list: a full table evicts the
// least recently seen station (counted), and when only static entries are
// left a new station is not learned (counted as `full`). An entry not seen
// for `aging` ns is absent to lookups; it stays (and its remote stays in the
// flood list: the last known VTEP) until it is seen again, replaced, or
// evicted.
//
// The remotes that entries name are kept once each, with a count of the
// entries naming them, in a table of their own (same design); the flood
// list of `remote_ip=flow` (every remote an entry names) is a dense array
// kept up to date as entries come and go, never rebuilt.
//
// For a tunnel that does not learn (a cluster's: its stations come from
// the store), the flood list is per VNI: the remotes its static entries in
// that VNI name (EVPN's type-3 routes, implied by the type-2 ones): a VNI's
// broadcast goes only to the VTEPs that have a station in it. These lists
// are one array sorted by (VNI, remote) with a count of the static entries
// naming each pair, of fixed capacity (max_static): kept up to date as
// static entries come and go, never allocating.
//
// Time is the caller's clock (ns), as for the FDB.
//
// Thread-safety: owned by the datapath thread (the tunnel backend's).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "dp/lru_list.h"
#include "io/ip_addr.h"

namespace kvnet::io {

class TunnelFdb {
 public:
  enum class Learn : uint8_t { kNew, kRefreshed, kMoved, kStatic, kFull };

  struct Stats {
    uint64_t learned = 0;
    uint64_t moved = 0;    // a station seen behind another remote
    uint64_t evicted = 0;  // a dynamic entry pushed out by a new station (table full)
    uint64_t full = 0;     // a new station not learned: only static entries left
    uint64_t static_full = 0;  // a static entry refused: max_static are there
  };

  struct Entry {
    uint32_t vni;
    uint64_t mac;
    IpAddr remote;
    uint64_t seen_ns;
    bool is_static;
  };

  TunnelFdb(uint32_t max_learned, uint32_t max_static, uint64_t aging_ns);

  // `mac` in `vni` was seen behind `remote` at `now`.
  Learn learn(uint32_t vni, uint64_t mac, const IpAddr& remote, uint64_t now);
  // The remote of (vni, mac), or null (unknown or aged).
  const IpAddr* lookup(uint32_t vni, uint64_t mac, uint64_t now) const;
  // Any entry's remote, aged or not (fdb-show), or null.
  const IpAddr* find(uint32_t vni, uint64_t mac) const;
  // Adds or replaces a static entry; false if max_static are there already.
  bool set_static(uint32_t vni, uint64_t mac, const IpAddr& remote);
  // Removes a static entry (a learned one stays); false if there is none.
  bool remove_static(uint32_t vni, uint64_t mac);

  // Every remote an entry names, each once (remote_ip=flow's flood list).
  std::span<const IpAddr> flood() const { return {flood_.data(), flood_n_}; }
  // The remotes the static entries of `vni` name, each once (a tunnel that
  // does not learn floods `vni` to these).
  std::span<const IpAddr> static_flood(uint32_t vni) const;

  uint32_t size() const { return used_; }
  uint32_t learned() const { return used_ - statics_; }
  uint32_t capacity() const { return max_learned_; }
  uint64_t aging_ns() const { return aging_ns_; }
  const Stats& stats() const { return stats_; }
  std::vector<Entry> entries() const;  // control path: a copy, static first then LRU order

 private:
  static constexpr uint32_t kNil = UINT32_MAX;
  // An open-addressing index of node numbers (linear probing, backward-shift
  // deletion); a slot keeps its node's home so that deletion rehashes nothing.
  class Index {
   public:
    explicit Index(uint32_t capacity);
    template <class Match>
    uint32_t find(uint64_t hash, Match match) const {  // the slot whose node matches, or kNil
      for (uint32_t s = home(hash);; s = (s + 1) & mask_) {
        if (slots_[s].node == kNil) return kNil;
        if (match(slots_[s].node)) return s;
      }
    }
    uint32_t node(uint32_t slot) const { return slots_[slot].node; }
    void insert(uint64_t hash, uint32_t node);
    void erase(uint32_t slot);

   private:
    struct Slot {
      uint32_t node = kNil;
      uint32_t home = 0;
    };
    uint32_t home(uint64_t hash) const { return static_cast<uint32_t>((hash * 0x9E3779B97F4A7C15ULL) >> shift_); }
    std::vector<Slot> slots_;
    uint32_t mask_ = 0, shift_ = 0;
  };

  struct Node {
    uint64_t mac;
    uint64_t seen;
    uint32_t vni;
    uint32_t remote;      // index into remotes_
    uint32_t prev, next;  // LRU links (dynamic) or free-list link (next)
    bool is_static;
    bool in_use;
  };
  struct Remote {
    IpAddr addr;
    uint32_t refs = 0;       // entries naming it; 0: free (next_free links it)
    uint32_t flood_pos = 0;  // its index in flood_
    uint32_t next_free = kNil;
  };

  static uint64_t key_hash(uint32_t vni, uint64_t mac) { return mac ^ (uint64_t{vni} << 40) ^ vni; }
  static uint64_t addr_hash(const IpAddr& a);
  uint32_t find_slot(uint32_t vni, uint64_t mac) const;
  uint32_t take_remote(const IpAddr& a);  // its index, refs + 1; kNil never (capacity = entries)
  void drop_remote(uint32_t r);           // refs - 1; gone from flood_ at 0
  void add_vni_remote(uint32_t vni, const IpAddr& a);   // a static entry names (vni, a)
  void drop_vni_remote(uint32_t vni, const IpAddr& a);  // one fewer does
  uint32_t insert(uint32_t vni, uint64_t mac, uint32_t remote, uint64_t now, bool is_static);
  void erase(uint32_t node);
  bool expired(const Node& n, uint64_t now) const {
    return !n.is_static && now >= n.seen && now - n.seen > aging_ns_;
  }

  uint32_t max_learned_, max_static_;
  uint64_t aging_ns_;
  Index index_;
  std::vector<Node> nodes_;
  uint32_t free_ = kNil;
  dp::LruList lru_;  // the dynamic entries, head = least recently seen
  uint32_t used_ = 0, statics_ = 0;
  Index remote_index_;
  std::vector<Remote> remotes_;
  uint32_t free_remote_ = kNil;
  std::vector<IpAddr> flood_;
  uint32_t flood_n_ = 0;
  // Per-VNI static flood lists: (vni_flood_vni_[i], vni_flood_[i]) sorted,
  // vni_flood_refs_[i] static entries naming the pair; vni_flood_n_ used.
  std::vector<uint32_t> vni_flood_vni_, vni_flood_refs_;
  std::vector<IpAddr> vni_flood_;
  uint32_t vni_flood_n_ = 0;
  Stats stats_;
};

}  // namespace kvnet::io
