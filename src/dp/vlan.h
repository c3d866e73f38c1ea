// A port's VLAN configuration and the rules it implies on receive and on send.
//
// The rules for access, trunk and hybrid ports are the seed's ("VLAN端口"):
//   access  rx: untagged -> pvid; tagged -> drop.   tx: strip the tag.
//   trunk   rx: untagged -> pvid; tagged -> allowed ? keep : drop.
//           tx: VLAN == pvid -> strip, else keep the tag.
//   hybrid  rx: untagged -> pvid; tagged -> in tagged/untagged lists ? keep : drop.
//           tx: in `untagged` -> strip; in `tagged` -> strip iff VLAN == pvid.
// with these clarifications: an untagged frame is accepted only if the pvid is a
// member of the port; a priority tag (VID 0) counts as untagged; VIDs are
// 1-4094; only TPID 0x8100 is a tag; a port sends only VLANs it is a member of.
//
// Open vSwitch's modes follow vswitchd/vswitch.xml:
//   native-tagged    like trunk, untagged frames join the native VLAN (pvid),
//                    which is always a member and always sent tagged;
//   native-untagged  the same, but the native VLAN is sent untagged;
//   dot1q-tunnel     QinQ: every frame joins service VLAN pvid; a customer
//                    tag (if in `cvlans`, not given = all) stays in the frame as
//                    the inner tag; on send the service tag is removed.
// and the port option priority_tags: frames that leave untagged get a VID-0
// tag carrying their PCP never / if the PCP is nonzero / always.
//
// QinQ follows Open vSwitch 3.x (ofproto/ofproto-dpif-xlate.c). While it is
// switched, a frame has an outer VLAN (meta.vlan, not in the bytes) and maybe
// an inner (customer) tag: a 0x8100 tag still at the front of the bytes. A
// frame without one has inner VLAN 0.
//   - a dot1q-tunnel port with `cvlans` drops untagged and priority-tagged
//     frames on receive (customer VLAN 0 is in no cvlans list) and sends only
//     frames whose inner VLAN is in `cvlans` (input_vid_is_valid,
//     xbundle_includes_vlan);
//   - the service tag a dot1q-tunnel port's ingress adds has PCP 0; the
//     customer tag keeps its own (xvlan_input_translate). A priority tag with
//     a nonzero PCP is a customer tag too and stays; one with PCP 0 is removed;
//   - an access port sends only frames of inner VLAN 0 and removes an inner
//     priority tag: it never sends a frame that still carries an inner tag;
//   - priority_tags never adds a VID-0 tag on top of a remaining customer tag
//     (xvlan_put).
//
// A `VlanPort` is built from a `VlanConfig` once (control path) and answers the
// datapath's questions with bit lookups.
//
// Thread-safety: immutable after construction.
#pragma once

#include <bitset>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace kvnet::dp {

inline constexpr uint16_t kMinVid = 1;
inline constexpr uint16_t kMaxVid = 4094;

enum class VlanMode : uint8_t { kAccess, kTrunk, kHybrid, kNativeTagged, kNativeUntagged, kDot1qTunnel };
enum class PriorityTags : uint8_t { kNever, kIfNonzero, kAlways };

std::string_view to_string(VlanMode m);
std::optional<VlanMode> parse_vlan_mode(std::string_view s);
std::string_view to_string(PriorityTags p);
std::optional<PriorityTags> parse_priority_tags(std::string_view s);

using VlanSet = std::bitset<4096>;

// Parses "10", "20-30" items; the error names the bad item.
Status add_vlan_item(VlanSet& set, std::string_view item);
// "1,10,20-30" (compact ranges) for display.
std::string vlan_set_str(const VlanSet& set);

// What the user configured. Empty optionals mean "not given" so defaults can
// depend on the mode.
struct VlanConfig {
  VlanMode mode = VlanMode::kAccess;
  uint16_t pvid = 1;
  std::optional<VlanSet> allowed;   // trunk: default {pvid}; native-*: default all
  VlanSet tagged;                   // hybrid
  VlanSet untagged;                 // hybrid
  std::optional<VlanSet> cvlans;    // dot1q-tunnel: default all
  uint16_t qinq_tpid = 0x88a8;      // dot1q-tunnel: 802.1ad (0x88a8) or 802.1q (0x8100)
  PriorityTags priority_tags = PriorityTags::kNever;
};

// Checks a config; the error says which rule it breaks ("pvid 4095 is out of range 1-4094").
Status validate(const VlanConfig& c);

enum class RxVerdict : uint8_t {
  kAccept,              // vlan = the VLAN to switch in
  kTaggedOnAccess,      // access port received a tagged frame
  kVlanNotAllowed,      // tagged VLAN is not a member
  kUntaggedNotAllowed,  // pvid is not a member
  kInvalidVid,          // VID 4095
  kCvlanNotAllowed,     // dot1q-tunnel: customer VLAN not in cvlans
  kUntaggedNotInCvlans, // dot1q-tunnel with cvlans: untagged or priority-tagged
};

// What to do with the frame's own outer 0x8100 tag on receive.
enum class RxTag : uint8_t { kNone, kPop, kKeep };

struct RxDecision {
  RxVerdict verdict;
  uint16_t vlan;
  RxTag tag;
};

class VlanPort {
 public:
  VlanPort() : VlanPort(VlanConfig{}) {}
  explicit VlanPort(const VlanConfig& c);

  // `tagged`: the frame carries an outer 0x8100 tag with VID `vid` (0 = priority
  // tag) and priority `pcp`.
  [[gnu::always_inline]] RxDecision rx(bool tagged, uint16_t vid, uint8_t pcp = 0) const {
    const bool untagged = !tagged || vid == 0;
    if (cfg_.mode == VlanMode::kDot1qTunnel) {
      if (untagged) {
        if (cfg_.cvlans) return {RxVerdict::kUntaggedNotInCvlans, 0, RxTag::kNone};
        if (!tagged) return {RxVerdict::kAccept, cfg_.pvid, RxTag::kNone};
        return {RxVerdict::kAccept, cfg_.pvid, pcp != 0 ? RxTag::kKeep : RxTag::kPop};
      }
      if (vid > kMaxVid) return {RxVerdict::kInvalidVid, 0, RxTag::kNone};
      if (!cvlans_[vid]) return {RxVerdict::kCvlanNotAllowed, 0, RxTag::kNone};
      return {RxVerdict::kAccept, cfg_.pvid, RxTag::kKeep};
    }
    if (untagged) {
      if (!member_[cfg_.pvid]) return {RxVerdict::kUntaggedNotAllowed, 0, RxTag::kNone};
      return {RxVerdict::kAccept, cfg_.pvid, tagged ? RxTag::kPop : RxTag::kNone};
    }
    if (cfg_.mode == VlanMode::kAccess) return {RxVerdict::kTaggedOnAccess, 0, RxTag::kNone};
    if (vid > kMaxVid) return {RxVerdict::kInvalidVid, 0, RxTag::kNone};
    if (!member_[vid]) return {RxVerdict::kVlanNotAllowed, 0, RxTag::kNone};
    return {RxVerdict::kAccept, vid, RxTag::kPop};
  }
  // Does the port send frames of VLAN `vlan` at all?
  bool member(uint16_t vlan) const { return member_[vlan]; }
  // Does it send a frame of VLAN `vlan` whose inner (customer) VLAN is `inner`
  // (0: no inner tag, or an inner priority tag)? OVS's xbundle_includes_vlan.
  bool includes(uint16_t vlan, uint16_t inner) const {
    if (!member_[vlan]) return false;
    switch (inner_rule_) {
      case InnerRule::kAny: return true;
      case InnerRule::kNone: return inner == 0;
      case InnerRule::kCvlans: return cvlans_[inner];
    }
    return false;
  }
  // Does the port remove an inner priority tag on send? (Access ports: the
  // only inner tag includes() lets them send.)
  bool strips_inner() const { return inner_rule_ == InnerRule::kNone; }
  // Does a frame of `vlan` leave without its VLAN tag?
  bool sends_untagged(uint16_t vlan) const { return untagged_out_[vlan]; }
  // Should a frame leaving untagged with priority `pcp` carry a VID-0 tag?
  bool wants_priority_tag(uint8_t pcp) const {
    return cfg_.priority_tags == PriorityTags::kAlways ||
           (cfg_.priority_tags == PriorityTags::kIfNonzero && pcp != 0);
  }
  const VlanConfig& config() const { return cfg_; }
  const VlanSet& members() const { return member_; }

 private:
  VlanConfig cfg_;
  VlanSet member_;
  VlanSet untagged_out_;
  VlanSet cvlans_;
  // What an inner tag must be for the port to send the frame.
  enum class InnerRule : uint8_t { kAny, kNone, kCvlans } inner_rule_ = InnerRule::kAny;
};

}  // namespace kvnet::dp
