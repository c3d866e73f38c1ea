// Pushing and popping 802.1Q/802.1ad tags in place, using the frame's headroom.
//
// Both move only the 12 bytes of MAC addresses; the payload stays where it is.
// They keep the flow key's L3/L4 offsets pointing at the same headers.
#pragma once

#include <cstring>

#include "net/frame.h"
#include "net/headers.h"

namespace kvnet::net {

// Offload offsets count from the frame start: a tag push/pop moves them.
inline void shift_offload(VnetHdr& v, int by) {
  if (v.flags & kVnetNeedsCsum) v.csum_start = static_cast<uint16_t>(v.csum_start + by);
  if ((v.gso_type & ~kGsoEcn) != kGsoNone && v.hdr_len) v.hdr_len = static_cast<uint16_t>(v.hdr_len + by);
}

// Inserts a tag (tpid, tci) after the MAC addresses. False without headroom.
inline bool push_vlan(Frame& f, uint16_t tpid, uint16_t tci) {
  uint8_t* p = f.push_front(kVlanTagLen);
  if (!p) return false;
  std::memmove(p, p + kVlanTagLen, 12);
  store_be16(p + 12, tpid);
  store_be16(p + 14, tci);
  if (f.key.l3_ofs) f.key.l3_ofs = static_cast<uint16_t>(f.key.l3_ofs + kVlanTagLen);
  if (f.key.l4_ofs) f.key.l4_ofs = static_cast<uint16_t>(f.key.l4_ofs + kVlanTagLen);
  shift_offload(f.meta.vnet, static_cast<int>(kVlanTagLen));
  return true;
}

// Removes the tag that follows the MAC addresses. The caller has checked that
// the frame has one (len >= 18).
inline void pop_vlan(Frame& f) {
  uint8_t* p = f.data();
  std::memmove(p + kVlanTagLen, p, 12);
  f.pull_front(kVlanTagLen);
  if (f.key.l3_ofs) f.key.l3_ofs = static_cast<uint16_t>(f.key.l3_ofs - kVlanTagLen);
  if (f.key.l4_ofs) f.key.l4_ofs = static_cast<uint16_t>(f.key.l4_ofs - kVlanTagLen);
  shift_offload(f.meta.vnet, -static_cast<int>(kVlanTagLen));
}

// Does the frame start with an 0x8100 tag (room for the tag and the EtherType
// after it)? Inside a switch, after the switching VLAN's own tag was removed,
// this is the inner (customer) tag; its TCI is at data() + 14.
inline bool has_front_tag(const uint8_t* p, size_t len) {
  return len >= kEthHeaderLen + kVlanTagLen && load_be16(p + 12) == kEthTypeVlan;
}

// Bytes after the Ethernet header and up to two leading VLAN tags (0x8100 or
// 0x88a8): what an MTU limits.
inline size_t l2_payload_len(const uint8_t* p, size_t len) {
  size_t hdr = kEthHeaderLen;
  for (int i = 0; i < 2 && len >= hdr + kVlanTagLen; ++i) {
    const uint16_t t = load_be16(p + hdr - 2);
    if (t != kEthTypeVlan && t != kEthTypeQinQ) break;
    hdr += kVlanTagLen;
  }
  return len > hdr ? len - hdr : 0;
}

// What an MTU limits for `f`: the L2 payload of a plain frame; for a GSO frame
// the L3 length of the largest segment it will be cut into (a GSO frame whose
// headers cannot be read is checked whole).
inline size_t mtu_len(const Frame& f) {
  const size_t whole = l2_payload_len(f.data(), f.len());
  if (!is_gso(f.meta.vnet)) [[likely]]
    return whole;
  const size_t seg = gso_segment_l3_len(f.data(), f.len(), f.meta.vnet);
  return seg ? seg : whole;
}

}  // namespace kvnet::net
