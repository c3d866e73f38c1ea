#include "dp/vlan.h"

#include <charconv>

namespace kvnet::dp {
namespace {

struct ModeName {
  VlanMode mode;
  std::string_view name;
};
constexpr ModeName kModes[] = {
    {VlanMode::kAccess, "access"},
    {VlanMode::kTrunk, "trunk"},
    {VlanMode::kHybrid, "hybrid"},
    {VlanMode::kNativeTagged, "native-tagged"},
    {VlanMode::kNativeUntagged, "native-untagged"},
    {VlanMode::kDot1qTunnel, "dot1q-tunnel"},
};

std::optional<uint32_t> parse_u32(std::string_view s) {
  uint32_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

std::string trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return std::string(s);
}

}  // namespace

std::string_view to_string(VlanMode m) {
  for (auto& e : kModes)
    if (e.mode == m) return e.name;
  return "?";
}

std::optional<VlanMode> parse_vlan_mode(std::string_view s) {
  for (auto& e : kModes)
    if (e.name == s) return e.mode;
  return std::nullopt;
}

std::string_view to_string(PriorityTags p) {
  switch (p) {
    case PriorityTags::kNever: return "never";
    case PriorityTags::kIfNonzero: return "if-nonzero";
    case PriorityTags::kAlways: return "always";
  }
  return "?";
}

std::optional<PriorityTags> parse_priority_tags(std::string_view s) {
  if (s == "never") return PriorityTags::kNever;
  if (s == "if-nonzero") return PriorityTags::kIfNonzero;
  if (s == "always") return PriorityTags::kAlways;
  return std::nullopt;
}

Status add_vlan_item(VlanSet& set, std::string_view raw) {
  const std::string item = trim(raw);
  const auto dash = item.find('-');
  std::optional<uint32_t> lo, hi;
  if (dash == std::string::npos) {
    lo = hi = parse_u32(item);
  } else {
    lo = parse_u32(std::string_view(item).substr(0, dash));
    hi = parse_u32(std::string_view(item).substr(dash + 1));
  }
  if (!lo || !hi) return Error{"'" + item + "' is not a VLAN ID or range (expected N or N-M)"};
  if (*lo < kMinVid || *lo > kMaxVid || *hi < kMinVid || *hi > kMaxVid)
    return Error{"VLAN '" + item + "' is out of range 1-4094"};
  if (*lo > *hi) return Error{"VLAN range '" + item + "' is empty (start > end)"};
  for (uint32_t v = *lo; v <= *hi; ++v) set.set(v);
  return Ok{};
}

std::string vlan_set_str(const VlanSet& set) {
  std::string out;
  for (uint32_t v = kMinVid; v <= kMaxVid; ++v) {
    if (!set[v]) continue;
    uint32_t end = v;
    while (end + 1 <= kMaxVid && set[end + 1]) ++end;
    if (!out.empty()) out += ',';
    out += std::to_string(v);
    if (end > v) out += '-' + std::to_string(end);
    v = end;
  }
  return out;
}

Status validate(const VlanConfig& c) {
  if (c.pvid < kMinVid || c.pvid > kMaxVid)
    return Error{"pvid " + std::to_string(c.pvid) + " is out of range 1-4094"};
  auto has_invalid = [](const VlanSet& s) { return s[0] || s[4095]; };
  if ((c.allowed && has_invalid(*c.allowed)) || has_invalid(c.tagged) || has_invalid(c.untagged) ||
      (c.cvlans && has_invalid(*c.cvlans)))
    return Error{"VLAN lists may only hold VIDs 1-4094"};
  const bool trunk_like = c.mode == VlanMode::kTrunk || c.mode == VlanMode::kNativeTagged ||
                          c.mode == VlanMode::kNativeUntagged;
  if (c.allowed && !trunk_like)
    return Error{"'allowed' applies to trunk, native-tagged and native-untagged ports, not " +
           std::string(to_string(c.mode))};
  if ((c.tagged.any() || c.untagged.any()) && c.mode != VlanMode::kHybrid)
    return Error{"'tagged'/'untagged' apply to hybrid ports only, not " + std::string(to_string(c.mode))};
  if ((c.tagged & c.untagged).any())
    return Error{"VLAN(s) " + vlan_set_str(c.tagged & c.untagged) + " are in both 'tagged' and 'untagged'"};
  if (c.cvlans && c.mode != VlanMode::kDot1qTunnel)
    return Error{"'cvlans' applies to dot1q-tunnel ports only, not " + std::string(to_string(c.mode))};
  if (c.qinq_tpid != 0x88a8 && c.qinq_tpid != 0x8100) return Error{"qinq_ethtype must be 802.1ad or 802.1q"};
  return Ok{};
}

VlanPort::VlanPort(const VlanConfig& c) : cfg_(c) {
  switch (c.mode) {
    case VlanMode::kAccess:
    case VlanMode::kDot1qTunnel:
      member_.set(c.pvid);
      untagged_out_.set(c.pvid);
      break;
    case VlanMode::kTrunk:
      member_ = c.allowed.value_or(VlanSet().set(c.pvid));
      if (member_[c.pvid]) untagged_out_.set(c.pvid);
      break;
    case VlanMode::kHybrid:
      member_ = c.tagged | c.untagged;
      untagged_out_ = c.untagged;
      if (c.tagged[c.pvid]) untagged_out_.set(c.pvid);
      break;
    case VlanMode::kNativeTagged:
    case VlanMode::kNativeUntagged:
      if (c.allowed) {
        member_ = *c.allowed;
      } else {
        member_.set();
        member_.reset(0);
        member_.reset(4095);
      }
      member_.set(c.pvid);  // the native VLAN is always carried (OVS: implicitly trunked)
      if (c.mode == VlanMode::kNativeUntagged) untagged_out_.set(c.pvid);
      break;
  }
  if (c.mode == VlanMode::kAccess) inner_rule_ = InnerRule::kNone;
  if (c.mode == VlanMode::kDot1qTunnel && c.cvlans) inner_rule_ = InnerRule::kCvlans;
  if (c.cvlans) {
    cvlans_ = *c.cvlans;
  } else {
    cvlans_.set();
    cvlans_.reset(0);
    cvlans_.reset(4095);
  }
}

}  // namespace kvnet::dp
