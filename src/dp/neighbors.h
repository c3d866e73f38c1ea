// ARP and IPv6 neighbour suppression (RFC 9161): a switch answers ARP
// requests and neighbour solicitations for addresses it knows, on the port
// they came in on, instead of flooding them (over a cluster's tunnel: to
// every host with the network).
//
// A NeighborTable maps (VLAN, IPv4 or IPv6 address) to the MAC that holds
// it, with a label for `trace` ("network blue, host h2"). The control
// thread builds it whole (a cluster host: from the store's bindings) and
// hands it to a switch (Datapath::set_neighbors); it is never changed after,
// so the datapath reads it without locks. Lookups happen only for ARP
// requests and neighbour solicitations.
//
// The stage `arp-suppress` (ingress, after vlan-in, on switches that have a
// table) turns a request for a known address into the reply in place and
// sends it back out of the ingress port (tagged as the port sends the
// VLAN); everything else goes on. Not answered, and so flooded as usual:
// unknown targets, gratuitous ARP and probes for one's own address (the
// target is the sender's own MAC or address), duplicate address detection
// (a solicitation from ::), and frames that still carry an inner VLAN tag.
//
// Thread-safety: a NeighborTable is immutable once shared; the stage runs
// on the datapath thread.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

#include "dp/pipeline.h"
#include "net/bytes.h"

namespace kvnet::dp {

class NeighborTable {
 public:
  struct Entry {
    net::Mac mac;
    std::string label;  // where the address is, for trace ("network blue, host h2")
  };
  // Adds (or replaces) an entry; `ip` is 4 or 16 bytes (network order).
  void add(uint16_t vlan, const uint8_t* ip, size_t ip_len, const net::Mac& mac, std::string label = {});
  const Entry* find_v4(uint16_t vlan, uint32_t ip_host_order) const;
  const Entry* find_v6(uint16_t vlan, const uint8_t* ip) const;

 private:
  struct V6Key {
    std::array<uint8_t, 18> b;  // VLAN (2) + address (16)
    bool operator==(const V6Key&) const = default;
  };
  struct V6Hash {
    size_t operator()(const V6Key& k) const;
  };
  std::unordered_map<uint64_t, Entry> v4_;  // vlan << 32 | address
  std::unordered_map<V6Key, Entry, V6Hash> v6_;
};

// Turns the ARP request in `f` (Ethernet header at data(), ARP at l3_ofs)
// into the reply "`tpa` is at `mac`", in place. False (and `f` unchanged)
// if it is not an Ethernet/IPv4 ARP request.
bool make_arp_reply(net::Frame& f, const net::Mac& mac);
// Turns the neighbour solicitation in `f` into the solicited advertisement
// of its target by `mac` (RFC 4861 7.2.4: to the solicitor, Solicited and
// Override set, a target link-layer address option), in place. False (and
// `f` unchanged) if it is not a valid solicitation or there is no room.
bool make_na_reply(net::Frame& f, const net::Mac& mac);

std::unique_ptr<Stage> make_arp_suppress();

}  // namespace kvnet::dp
