// OpenFlow flow tables of a switch bridge (issue 21): tables 0-254 of flows,
// each a priority, a cookie, a match on header fields and a list of actions,
// with timeouts and packet/byte counters, as Open vSwitch's ofproto keeps
// them and ovs-ofctl shows them.
//
// The match works on a packed copy of the fields (FlowWords: ten 64-bit
// words built once per frame from the flow key, the input port and the
// tunnel id); a match is a value and a mask of the same shape. A table is
// a tuple-space classifier: one hash map per distinct mask ("subtable"),
// searched from the subtable with the highest priority down, stopping when
// no later subtable can hold a better flow. A bridge whose only flow is
// `priority=0 actions=NORMAL` never looks anything up (is_normal_only()).
//
// Field semantics follow ovs-fields(7): vlan_tci carries the 802.1Q tag
// with bit 0x1000 meaning "a tag is present" (dl_vlan=N is
// vlan_tci=0x1000|N/0x1fff; dl_vlan=0xffff is "no tag", vlan_tci=0/0xffff);
// ARP's spa/tpa are nw_src/nw_dst and its opcode nw_proto; ICMP's type and
// code are tp_src/tp_dst.
//
// Thread-safety: a FlowTables is built and changed by the control thread
// and handed to the datapath whole (an RCU-style swap); lookups and counter
// updates then happen on the datapath thread only.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "net/bytes.h"
#include "net/flow_key.h"

namespace kvnet::dp {

inline constexpr int kFlowTables = 255;                // tables 0-254
inline constexpr uint16_t kDefaultFlowPriority = 32768;  // OFP_DEFAULT_PRIORITY
inline constexpr uint16_t kVlanPresent = 0x1000;         // vlan_tci's "a tag is present" bit

// The fields a flow can match, packed: built once per frame.
struct FlowWords {
  static constexpr size_t kWords = 10;
  std::array<uint64_t, kWords> w{};
  bool operator==(const FlowWords&) const = default;
};

// Which field a part of FlowWords is (for building, printing and masks).
enum class MatchField : uint8_t {
  kInPort,    // 32 bits: the kvnet port id (OpenFlow port number)
  kDlType,    // 16
  kVlanTci,   // 16, with kVlanPresent
  kDlDst,     // 48
  kDlSrc,     // 48
  kNwProto,   // 8 (ARP: opcode)
  kNwTos,     // 8
  kNwSrc,     // 32 (ARP: spa)
  kNwDst,     // 32 (ARP: tpa)
  kTpSrc,     // 16 (ICMP: type)
  kTpDst,     // 16 (ICMP: code)
  kIpv6Src,   // 128
  kIpv6Dst,   // 128
  kTunId,     // 64
  kCount
};

// The words of a frame: its flow key, the port it came in on, its tunnel id
// (the VNI or key it arrived with; 0 if none).
FlowWords flow_words(const net::FlowKey& k, uint32_t in_port, uint64_t tun_id);

// A match: the value of each field and which bits of it count.
struct FlowMatch {
  FlowWords value, mask;  // value has no bits outside mask

  // Sets `field` to `v` under `m` (all ones: exact). 128-bit fields take
  // two halves (hi, lo).
  void set(MatchField f, uint64_t v, uint64_t m);
  void set128(MatchField f, uint64_t hi, uint64_t lo, uint64_t mhi, uint64_t mlo);
  uint64_t get(MatchField f) const;
  uint64_t get_mask(MatchField f) const;
  bool has(MatchField f) const { return get_mask(f) != 0; }
  bool matches(const FlowWords& w) const;
  bool operator==(const FlowMatch&) const = default;
};

enum class ActionType : uint8_t {
  kOutput,       // port
  kNormal,       // the switch's own forwarding (VLANs, learning)
  kFlood,        // every port but the input port (and those not flooded to)
  kAll,          // every port but the input port
  kInPort,       // back out of the input port
  kModVlanVid,   // set (or push) the 802.1Q VID
  kModVlanPcp,   // set (or push) the priority
  kStripVlan,    // pop the outer tag
  kPushVlan,     // push a tag (ethertype 0x8100 or 0x88a8), VID 0
  kModDlSrc,
  kModDlDst,
  kSetTunId,     // set_field:N->tun_id
  kResubmit,     // resubmit(,TABLE) (port: none) or resubmit(PORT,TABLE)
  kGotoTable,    // goto_table:TABLE (last of a list)
};

struct FlowAction {
  ActionType type;
  uint64_t arg = 0;      // port, VID, PCP, ethertype, MAC (u64), tunnel id, table
  uint32_t port = 0;     // resubmit's port (kResubmitInPort: the frame's own)
  bool operator==(const FlowAction&) const = default;
};
inline constexpr uint32_t kResubmitInPort = 0xfff8;  // OFPP_IN_PORT: resubmit(,T)

struct Flow {
  uint8_t table = 0;
  uint16_t priority = kDefaultFlowPriority;
  uint64_t cookie = 0;
  FlowMatch match;
  std::vector<FlowAction> actions;  // empty: drop
  uint16_t idle_timeout = 0, hard_timeout = 0;  // seconds; 0: none
  // Counters and times (the datapath's; copied out by dump).
  uint64_t n_packets = 0, n_bytes = 0;
  uint64_t created_ns = 0, used_ns = 0;  // steady clock
};

// A flow_mod's selection of flows (OpenFlow's "delete"/"modify"): by match
// (strict: the same match and priority; else every flow whose match is at
// least as specific), by table (none: all), by cookie under a mask, by an
// action that outputs to a port.
struct FlowSelector {
  std::optional<uint8_t> table;
  FlowMatch match;
  bool strict = false;
  uint16_t priority = kDefaultFlowPriority;  // strict only
  uint64_t cookie = 0, cookie_mask = 0;
  std::optional<uint32_t> out_port;
  bool selects(const Flow& f) const;
};

// One table's classifier.
class FlowTable {
 public:
  // The highest-priority flow whose match holds for `w`, or null.
  const Flow* lookup(const FlowWords& w) const;
  Flow* lookup(const FlowWords& w) { return const_cast<Flow*>(std::as_const(*this).lookup(w)); }
  // Adds `f` (replacing a flow of the same match and priority: returns true
  // then, its counters reset as OpenFlow's add does).
  bool add(Flow f);
  // Removes the flows `sel` selects; returns how many.
  size_t remove(const FlowSelector& sel);
  // Removes the flows for which `gone` is true; returns how many.
  template <typename F>
  size_t remove_if(F&& gone);
  // Gives the flows `sel` selects these actions (their counters stay);
  // returns how many.
  size_t modify(const FlowSelector& sel, const std::vector<FlowAction>& actions);
  // Every flow, highest priority first, then by match.
  std::vector<const Flow*> flows() const;
  std::vector<Flow*> flows();
  size_t size() const { return n_; }

 private:
  struct Subtable {
    FlowWords mask;
    uint16_t max_priority = 0;
    // Masked value -> flows of that match, highest priority first.
    std::unordered_map<uint64_t, std::vector<Flow>> by_hash;
  };
  static uint64_t hash(const FlowWords& masked);
  void resort();
  std::vector<Subtable> subs_;  // by max_priority, highest first
  size_t n_ = 0;
};

// A bridge's tables.
class FlowTables {
 public:
  FlowTables();  // the default: table 0 holds priority=0 actions=NORMAL
  FlowTable& table(uint8_t t) { return tables_[t]; }
  const FlowTable& table(uint8_t t) const { return tables_[t]; }
  // Whether the only flow is the default (priority 0, empty match,
  // NORMAL): the bridge then switches as it would without tables.
  bool is_normal_only() const;
  size_t size() const;
  // Every flow of every table (tables in order).
  std::vector<const Flow*> flows() const;

 private:
  std::array<FlowTable, kFlowTables> tables_;
};

// The default flow: table 0, priority 0, matching everything, NORMAL.
Flow default_flow();

// An OpenFlow flow_mod (OpenFlow 1.3 semantics, as ovs-ofctl sends them):
// add (replacing a flow of the same table, match and priority: counters
// start again), modify and delete (strict: the same match and priority;
// else every flow at least as specific; in `table`, or every table when
// the selector has none). A modify that selects nothing changes nothing.
enum class FlowModCommand : uint8_t { kAdd, kModify, kModifyStrict, kDelete, kDeleteStrict };
// Applies it to `t`; returns the flows added, changed or removed.
size_t flow_mod(FlowTables& t, FlowModCommand cmd, const Flow& flow, const FlowSelector& sel, uint64_t now_ns);
// Removes the flows whose hard_timeout has passed since they were added, or
// whose idle_timeout has passed since a frame last matched them (since they
// were added, if none did); returns how many.
size_t expire_flows(FlowTables& t, uint64_t now_ns);

template <typename F>
size_t FlowTable::remove_if(F&& gone) {
  size_t n = 0;
  for (Subtable& s : subs_) {
    for (auto it = s.by_hash.begin(); it != s.by_hash.end();) {
      const size_t before = it->second.size();
      std::erase_if(it->second, gone);
      n += before - it->second.size();
      it = it->second.empty() ? s.by_hash.erase(it) : std::next(it);
    }
    s.max_priority = 0;
    for (const auto& [h, b] : s.by_hash)
      if (!b.empty()) s.max_priority = std::max(s.max_priority, b.front().priority);
  }
  std::erase_if(subs_, [](const Subtable& s) { return s.by_hash.empty(); });
  n_ -= n;
  resort();
  return n;
}

}  // namespace kvnet::dp
