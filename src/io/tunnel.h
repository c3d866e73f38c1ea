// Tunnel ports (vxlan, geneve, gre): a VTEP whose underlay is the kernel's
// IP stack.
//
// A TunnelSocket is one underlay endpoint: for VXLAN and Geneve a UDP socket
// bound to (local_ip, dst_port), for GRE a raw IP socket (protocol 47) bound
// to local_ip. Every tunnel port with the same endpoint shares it; received
// packets are told apart by VNI (GRE: key) and outer source address and handed
// to their port (dp::RxSource). The kernel routes what is sent, so the host's
// routing table picks the outer interface, source address and MAC.
//
// With the kernel fast path on, a VXLAN endpoint receives through a kernel
// vxlan device instead of its own UDP socket (io/kernel_vxlan.h): the
// kernel decapsulates, the fast path forwards established flows, and the
// rest reaches the ports here through deliver_upcall. Sending from kvnetd
// (the slow path) stays on the send sockets below.
//
// Sending (VXLAN, Geneve): the outer UDP source port is a hash of the inner
// flow (RFC 7348: 49152-65535). A UDP socket sends from its own port, so the
// endpoint holds a small set of send sockets bound to ports of that range and
// picks one by the hash (kSendSockets of them: as many distinct source ports,
// enough for ECMP and RSS to spread flows). IPv4 outer checksums are zero
// (SO_NO_CHECK), IPv6 ones are computed by the kernel; DF is set and nothing
// is fragmented: a frame that would not fit the path MTU is dropped as
// too_big. sendmmsg/recvmmsg move a batch per system call.
//
// A TunnelBackend is one port: its VNI or key (or a vni_map of local VLANs to
// VNIs), its remotes (a fixed flood list, or `flow`: from static FDB
// entries and learning), and the table it learns on receive (io/tunnel_fdb.h:
// fixed capacity, nothing allocated on the datapath thread): inner source
// MAC -> outer source address, per VNI, with aging. A known unicast goes to
// its remote; broadcast, multicast and unknown unicast go to every remote of
// the flood list (head-end replication).
//
// Thread-safety: open() and describe() on the control thread; everything
// else on the datapath thread.
#pragma once

#include <netinet/in.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/result.h"
#include "dp/port.h"
#include "io/ip_addr.h"
#include "io/kernel_vxlan.h"
#include "io/tunnel_fdb.h"
#include "net/headers.h"
#include "net/tunnel.h"

namespace kvnet::io {

enum class TunnelType : uint8_t { kVxlan, kGeneve, kGre };
std::string_view to_string(TunnelType t);

struct TunnelConfig {
  TunnelType type = TunnelType::kVxlan;
  IpAddr local;                  // unset: the kernel picks (bound to any address)
  std::vector<IpAddr> remotes;   // the flood list
  bool remote_flow = false;      // remotes from static entries and learning
  // remote_flow only: learn stations from what arrives. Off (a cluster's
  // tunnel, programmed from the store): stations come only from static
  // entries, a VNI floods only to the remotes of its static entries, and a
  // known MAC is never flooded.
  bool learning = true;
  uint32_t vni = 0;              // VXLAN/Geneve VNI, GRE key, NVGRE VSID
  bool has_key = false;          // GRE: send (and expect) a key
  bool nvgre = false;            // GRE key = VSID << 8 | FlowID
  uint16_t dst_port = 0;         // UDP tunnels
  int ttl = 64;
  int tos = 0;
  bool csum = false;             // UDP: outer checksums over IPv4 too (always over IPv6)
  std::map<uint16_t, uint32_t> vni_map;  // local VLAN -> VNI (empty: untagged, `vni`)
  uint32_t aging_s = 300;
  uint32_t max_learned = 8192;  // learned stations (io/tunnel_fdb.h: the least recently seen gives way)
  uint32_t max_static = 4096;   // static remotes (fdb-add ... remote_ip=)
  int family() const;  // of the local address or else the first remote (AF_INET if none)
  // Static remotes (fdb-add ... remote_ip=A) reach the backend through
  // PortBackend::set_static_remote, not through the configuration.
};

// A tunnel that does not learn (its stations programmed from a store: a
// cluster's) holds this many static remotes.
inline constexpr uint32_t kProgrammedMaxStatic = 65536;

class TunnelBackend;

// The underlay path MTU to the remotes (the smallest route MTU; else the
// local address's interface MTU; else 1500), measured now through the
// kernel's routes, and the inner MTU that leaves: the largest inner frame
// payload (IP packet) a VM or container behind the tunnel can send whole.
// Control thread (system calls). TunnelBackend::open measures the same.
uint32_t tunnel_path_mtu(const TunnelConfig& c);
uint32_t tunnel_inner_mtu(const TunnelConfig& c);

// Drops of packets that reached no port.
struct TunnelSocketCounters {
  std::atomic<uint64_t> rx_packets{0};
  std::array<std::atomic<uint64_t>, static_cast<size_t>(net::TunnelError::kCount)> malformed{};
  std::atomic<uint64_t> unknown_vni{0};     // no port has this VNI/key
  std::atomic<uint64_t> unknown_remote{0};  // a port has it, but not from this source
  std::atomic<uint64_t> oam{0};             // Geneve control packets (not for the data path)
  std::atomic<uint64_t> no_buffer{0};       // frame pool exhausted
  std::atomic<uint64_t> too_long{0};        // a packet larger than a frame buffer
  std::atomic<uint64_t> coalesced{0};       // TCP segments merged into the one before (not a drop)
  std::atomic<uint64_t> geneve_options{0};  // Geneve option TLVs received (carried, not interpreted)
  std::atomic<uint64_t> csum_completed{0};  // inner checksums a kernel VTEP left partial, filled in
  std::atomic<uint64_t> super_frames{0};    // inner TCP super-frames a kernel VTEP sent whole (GSO again)
};

class TunnelSocket final : public dp::RxSource {
 public:
  // The endpoint's shared socket, opened on first use. Control thread.
  static Result<std::shared_ptr<TunnelSocket>> get(TunnelType type, int family, const IpAddr& local,
                                                   uint16_t port);
  ~TunnelSocket() override;

  int fd() const override { return rx_fd_; }
  uint32_t receive(net::FrameBatch& batch, net::FramePool& pool, uint64_t now_ns) override;
  bool more() const override { return pend_i_ < pend_n_; }

  void add_port(TunnelBackend* b);
  void remove_port(TunnelBackend* b);
  // Where its ports' packets come from: the socket itself, or (VXLAN with
  // the fast path on) the kernel vxlan device's upcalls (io/kernel_vxlan.h).
  dp::RxSource* rx_source() { return kernel_ ? static_cast<dp::RxSource*>(kernel_.get()) : this; }
  const KernelVxlan* kernel() const { return kernel_.get(); }
  // A frame the kernel vxlan device decapsulated and the fast path did not
  // take, from `src` with `vni`: demultiplexed and added to the batch (or
  // dropped, counted). Takes `f`. Datapath thread.
  bool deliver_upcall(net::Frame* f, uint32_t vni, const IpAddr& src, net::FramePool& pool, net::FrameBatch& batch,
                      uint64_t now_ns);
  // Sends `n` prepared messages on send socket `sock` (an index from
  // send_socket()); returns how many went.
  uint32_t send(size_t sock, struct mmsghdr* msgs, uint32_t n);
  // The send socket for a flow: over IPv4, `csum` picks the set that
  // computes UDP checksums (and so takes GSO bursts).
  size_t send_socket(uint32_t hash, bool csum) const {
    if (send_fds_.size() == 1) return 0;  // GRE
    const size_t base = csum && family_ == AF_INET ? kSendSockets : 0;
    return base + hash % kSendSockets;
  }
  // Whether the kernel takes UDP_SEGMENT bursts on sockets of this kind.
  bool gso(bool csum) const { return type_ != TunnelType::kGre && (csum || family_ == AF_INET6); }
  uint16_t src_port(size_t sock) const { return src_ports_[sock]; }
  TunnelType type() const { return type_; }
  int family() const { return family_; }
  uint16_t port() const { return port_; }
  const IpAddr& local() const { return local_; }
  const TunnelSocketCounters& counters() const { return counters_; }
  std::string describe() const;

  static constexpr size_t kSendSockets = 8;

 private:
  TunnelSocket() = default;
  TunnelType type_ = TunnelType::kVxlan;
  int family_ = AF_INET;
  IpAddr local_;
  uint16_t port_ = 0;
  int rx_fd_ = -1;
  std::vector<int> send_fds_;  // GRE: the rx socket itself
  std::vector<uint16_t> src_ports_;
  std::vector<TunnelBackend*> ports_;  // datapath thread
  TunnelSocketCounters counters_;

  // UDP: packets are read with UDP_GRO into these buffers (a GSO burst of a
  // peer arrives as one), then cut into datagrams; what does not fit the
  // caller's batch waits here (more()). Datapath thread.
  static constexpr size_t kRxBufs = 8;
  static constexpr size_t kRxBufLen = 65536;
  uint32_t receive_udp(net::FrameBatch& batch, net::FramePool& pool, uint64_t now_ns);
  uint32_t receive_raw(net::FrameBatch& batch, net::FramePool& pool, uint64_t now_ns);
  // One datagram (tunnel header + inner frame) from `src`: demultiplexed,
  // copied into a frame (or `f` used in place if given), added to the batch.
  // A kernel VTEP's inner checksums left partial are filled, its inner TSO
  // super-frames made GSO frames again.
  bool deliver(const uint8_t* p, size_t len, const IpAddr& src, net::Frame* f, net::FramePool& pool,
               net::FrameBatch& batch, uint64_t now_ns);
  // The port a packet with `vni` from `src` is for; null (counted) if none.
  TunnelBackend* port_for(uint32_t vni, const IpAddr& src);
  std::shared_ptr<KernelVxlan> kernel_;
  std::vector<uint8_t> rx_buf_;
  uint32_t pend_n_ = 0, pend_i_ = 0;  // messages read, next to cut
  size_t pend_off_ = 0;               // offset in message pend_i_
  uint32_t pend_len_[kRxBufs] = {};
  uint16_t pend_seg_[kRxBufs] = {};   // UDP_GRO segment size (0: one datagram)
  IpAddr pend_src_[kRxBufs];
  net::Frame* last_ = nullptr;  // the frame added last in this receive(), for TCP merging
  TunnelBackend* last_port_ = nullptr;
};

class TunnelBackend final : public dp::PortBackend {
 public:
  // Opens (or shares) the endpoint's socket and measures the path MTU to the
  // remotes. Control thread. `name` is the port's, for messages.
  static Result<std::unique_ptr<TunnelBackend>> open(const std::string& name, const TunnelConfig& c);
  ~TunnelBackend() override;

  uint32_t send(net::FrameBatch& batch, net::FramePool& pool) override;
  dp::RxSource* shared_rx() override { return sock_->rx_source(); }
  int kernel_tunnel() const override { return sock_->kernel() ? sock_->kernel()->ifindex() : 0; }
  bool fast_tunnel(const net::Frame& f, uint64_t now_ns, dp::FastTunnel& t) const override;
  void fast_touch(const net::TunMeta& tun, uint64_t mac, uint64_t now_ns) override;
  void attach(dp::Port& p) override;
  void detach(dp::Port& p) override;
  std::string explain(const net::Frame& f) const override;
  std::string remote_of(uint16_t vlan, uint64_t mac) const override;
  void set_static_remote(uint16_t vlan, uint64_t mac, const std::string& remote) override;
  std::string describe() const override;

  // The largest inner frame payload (the MTU a VM or container behind the
  // tunnel should use): underlay path MTU - outer headers - 14.
  uint32_t inner_mtu() const { return inner_mtu_; }
  const TunnelConfig& config() const { return cfg_; }
  size_t learned_count() const { return learned_count_.load(std::memory_order_relaxed); }
  // The remote VTEPs it floods to: the configured list, or (remote_ip=flow)
  // every one known from static and learned entries. Datapath thread.
  size_t remote_count() const { return flood_list().size(); }
  const TunnelFdb::Stats& learning_stats() const { return table_->stats(); }

  // --- for TunnelSocket::receive (datapath thread) ---
  // Whether a packet with this VNI/key from `src` is this port's.
  bool accepts(uint32_t vni, const IpAddr& src) const;
  // Learns the inner source MAC; maps the VNI to a VLAN tag (vni_map).
  // Returns false (and counts) if the frame must be dropped.
  bool admit(net::Frame& f, uint32_t vni, const IpAddr& src, uint64_t now_ns);
  uint32_t port_id() const { return port_id_; }


 private:
  TunnelBackend() = default;
  // The VNI a frame leaving this port carries (pops the VLAN tag with a
  // vni_map); nullopt: drop (counted).
  std::optional<uint32_t> egress_vni(net::Frame& f);
  // The VNI of a frame leaving this port, the frame untouched (a vni_map's
  // tag stays); nullopt: it has none.
  std::optional<uint32_t> vni_of(const net::Frame& f) const;
  const IpAddr* lookup(uint32_t vni, const net::Mac& dst, uint64_t now_ns) const;
  size_t header_len() const;
  size_t build_header(uint8_t* out, uint32_t vni, uint32_t hash) const;

  std::string name_;
  TunnelConfig cfg_;
  std::shared_ptr<TunnelSocket> sock_;
  uint32_t path_mtu_ = 1500;
  uint32_t inner_mtu_ = 1450;
  dp::Port* port_ = nullptr;  // while attached
  uint32_t port_id_ = 0;
  std::span<const IpAddr> flood_list() const;  // the configured remotes, or (remote_flow) every one known
  std::span<const IpAddr> flood_list(uint32_t vni) const;  // where `vni`'s broadcast goes
  std::unique_ptr<TunnelFdb> table_;            // datapath thread
  std::atomic<size_t> learned_count_{0};
  // The datapath's epoch (while attached): a station that moves to another
  // remote, or a static remote set or removed, outdates the fast path's
  // entries (they hold the remote).
  uint64_t* epoch_ = nullptr;
  void changed() {
    if (epoch_) ++*epoch_;
  }
};

}  // namespace kvnet::io
