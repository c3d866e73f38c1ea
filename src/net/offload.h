// Checksum and segmentation offload metadata (the virtio-net header), and the
// software fallbacks for ports that cannot take offloaded frames.
//
// The kernel hands TAP (IFF_VNET_HDR) and AF_PACKET (PACKET_VNET_HDR) readers
// frames whose transport checksum is not filled in yet (CHECKSUM_PARTIAL:
// `kNeedsCsum`, with csum_start/csum_offset) and TCP "super-frames" of up to
// 64 KiB that are still to be cut into MSS-sized segments (gso_type/gso_size).
// kvnet carries that header with the frame, end to end, to egress ports that
// accept it; for the others (pcap files) `finish_checksum()` fills the
// checksum and `segment()` cuts the super-frame, as a NIC would.
//
// Layout and constants follow the virtio specification (struct
// virtio_net_hdr, 10 bytes, little-endian fields on x86).
#pragma once

#include <cstddef>
#include <cstdint>

namespace kvnet::net {

class Frame;
class FramePool;
struct FrameBatch;

struct VnetHdr {
  uint8_t flags = 0;
  uint8_t gso_type = 0;
  uint16_t hdr_len = 0;      // length of headers to copy into every segment
  uint16_t gso_size = 0;     // payload bytes per segment (MSS)
  uint16_t csum_start = 0;   // checksum covers [csum_start, end)
  uint16_t csum_offset = 0;  // checksum field is at csum_start + csum_offset
};
static_assert(sizeof(VnetHdr) == 10);

inline constexpr uint8_t kVnetNeedsCsum = 1;  // VIRTIO_NET_HDR_F_NEEDS_CSUM
inline constexpr uint8_t kVnetDataValid = 2;  // VIRTIO_NET_HDR_F_DATA_VALID
inline constexpr uint8_t kGsoNone = 0;
inline constexpr uint8_t kGsoTcpV4 = 1;
inline constexpr uint8_t kGsoUdp = 3;  // UFO (IPv4 fragmentation): not produced by current kernels
inline constexpr uint8_t kGsoTcpV6 = 4;
inline constexpr uint8_t kGsoUdpL4 = 5;
inline constexpr uint8_t kGsoEcn = 0x80;

// The GSO type without the ECN flag, which only qualifies a TCP type: a frame
// whose base type is kGsoNone is not a GSO frame, whatever the flag says.
inline constexpr uint8_t gso_base_type(uint8_t gso_type) { return static_cast<uint8_t>(gso_type & ~kGsoEcn); }
inline constexpr bool is_gso(const VnetHdr& v) { return gso_base_type(v.gso_type) != kGsoNone; }

// The L3 length (IP header + transport header + payload) of the largest
// segment the GSO frame `p`/`len` will be cut into: what an MTU limits for it.
// Looks past up to two 0x8100/0x88a8 tags; IPv4 or IPv6 without extension
// headers. 0 if the headers are not those of a well-formed frame of its GSO
// type (the caller then checks the whole frame instead).
size_t gso_segment_l3_len(const uint8_t* p, size_t len, const VnetHdr& v);

// Fills the partial checksum described by f.meta.vnet (if kVnetNeedsCsum) and
// clears the flag. Returns false if the offsets do not fit the frame.
bool finish_checksum(Frame& f);

// Cuts a GSO super-frame into segments of at most gso_size payload bytes
// (fewer if `max_l3_len`, when nonzero, allows less: each segment's IP header,
// transport header and payload then fit in it, as an egress MTU demands),
// each with correct IPv4/IPv6 lengths, IPv4 ids and checksums, TCP sequence
// numbers, flags (FIN/PSH only on the last) and checksums, or UDP lengths and
// checksums for UDP_L4. Appends the segments to `out` (frames from `pool`),
// returns the original to the pool. Non-GSO frames are only checksummed and
// appended. Returns the number of frames appended, or -1 if the frame is
// malformed (a TCP data offset below 5, headers beyond the frame, ...), its
// headers alone exceed `max_l3_len`, or the pool ran out (the frame is then
// freed).
int segment(Frame* f, FramePool& pool, Frame** out, size_t out_cap, size_t max_l3_len = 0);

// The offload state of an Ethernet frame that is one IPv4/IPv6 TCP
// super-frame, to be cut into segments whose IP packets are at most
// `max_l3_len` bytes (what a kernel VTEP's TSO frame carries inside its one
// tunnel header): partial checksum (the field holds the pseudo-header sum
// over the whole segment, as the kernel leaves it), TCP GSO type, segment
// size, header length. False, `v` untouched, if it is not one (its IP packet
// does not span the frame exactly, IPv6 extension headers, its payload fits
// one segment, ...). UDP is never guessed at: its segment size is the
// sender's datagram size, which the packet does not carry.
bool describe_tcp_gso(const uint8_t* p, size_t len, size_t max_l3_len, VnetHdr& v);

// A frame that went through a UDP tunnel from a kernel VTEP may carry a
// partial transport checksum: over a veth underlay the sender's skb stays
// CHECKSUM_PARTIAL (a NIC would have filled it), and a UDP socket hands the
// payload over as it is. For an IPv4/IPv6 TCP or UDP packet without offload
// state (f.meta.vnet clear) whose checksum does not verify but whose field
// holds exactly the folded pseudo-header sum (what the kernel leaves there),
// fills the checksum in. Only a frame whose field holds that sum costs a
// pass over the segment (every other one: a compare). Returns true if it did;
// a correct checksum, or a wrong one that is not a partial one, is left as is.
bool complete_partial_checksum(Frame& f);

// Software GRO for IPv4 TCP, as the kernel's GRO merges what a NIC received:
// appends the segment `p`/`len` (an Ethernet frame) to `f` when it continues
// f's flow: the same L2 header, IPv4 without options or fragments with the
// same addresses, TOS, TTL and flags; TCP with the same ports, ack, window
// and options; its sequence number right after f's data; only ACK set on f so
// far (the segment may add PSH, which ends the merge); a correct TCP checksum,
// or a partial one as a kernel VTEP leaves it (f's correct, when it is still
// a single segment); a payload no larger than f's
// segment size (a shorter one is the last); and room in f. `f` then is a GSO
// TCPv4 frame with a partial checksum, as a TAP or AF_PACKET reader gets one.
// Returns false, having changed nothing, otherwise.
bool tcp_coalesce(Frame& f, const uint8_t* p, size_t len);

}  // namespace kvnet::net
