// The kernel fast path: eBPF programs on the kernel ports that replay the
// slow path's decisions for established flows (docs/architecture.md, "Fast
// path"; the datapath's side is dp/fast_path.h, the programs and their maps
// io/bpf/).
//
// What it is, as Open vSwitch's kernel datapath is for ovs-vswitchd:
//   - an exact-match flow map in the kernel, filled on a miss: the slow path
//     forwards a frame, the datapath offers its decision (offer()), this
//     installs it;
//   - per kernel port (AfPacketBackend: a veth end, a NIC, a VM's TAP) the
//     tc program on ingress (a tcx link, which the kernel removes when
//     kvnetd's fd closes, so a crashed kvnetd leaves no forwarding behind;
//     cls_bpf where the kernel has no tcx) and the socket filter on the
//     port's AF_PACKET socket, which keeps what the map forwards from the
//     slow path (packet sockets see a frame before tc does);
//   - per TAP whose fd kvnetd holds (TapBackend: `tap`, `internal`) the
//     egress program on tc egress: what the interface sends is forwarded
//     there or goes on to the fd; frames into it are redirected as received
//     by the interface (BPF_F_INGRESS), what a write to the fd does;
//   - per VXLAN tunnel port whose VTEP is a kernel vxlan device
//     (io/kernel_vxlan.h): the receive program on the device's tc ingress
//     (attach_tunnel; one device for every tunnel port of a UDP port), keyed
//     also on VNI and remote, its misses handed to kvnetd through an upcall
//     TAP; entries into such a port set the tunnel key and redirect to the
//     device, which encapsulates and segments;
//   - coherence by generation: publish() makes the datapath's epoch the
//     map's generation, so every entry installed before a change is dead at
//     once; revalidate() then reads their last statistics and deletes them;
//   - statistics pushed back (revalidate(), twice a second): packets and
//     bytes into the counters of every port on the way, last use into the
//     FDB of every bridge crossed (a station talking only through the fast
//     path does not age out); entries idle for kIdleNs go, so do those of a
//     removed port (before its ifindex can name a stranger);
//   - a full map: the idlest entries go (their statistics counted first);
//     the slow path never waits for it.
//
// Thread-safety: the datapath thread (the sink's methods, and info()/dump()/
// flush() through the runtime's call()); open() anywhere.
#pragma once

#include <cstdint>
#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/result.h"
#include "dp/conntrack.h"
#include "dp/datapath.h"
#include "dp/fast_path.h"
#include "io/bpf/fastpath_abi.h"
#include "io/kernel_vxlan.h"

struct kvfp;  // the skeleton bpftool generates (fastpath.skel.h)

namespace kvnet::io {

class FastPath final : public dp::FastPathSink, public KernelTunnelHooks {
 public:
  static constexpr uint64_t kIdleNs = 10'000'000'000ULL;  // as OVS's max-idle
  // Loads the programs and creates the maps. Fails naming the cause (no
  // privilege, no BPF in this kernel, the verifier's refusal).
  static Result<std::unique_ptr<FastPath>> open();
  ~FastPath() override;
  FastPath(const FastPath&) = delete;
  FastPath& operator=(const FastPath&) = delete;

  // The datapath whose counters and FDBs the statistics go to. Before
  // Datapath::set_fast_path(this).
  void bind(dp::Datapath& dp) { dp_ = &dp; }

  // dp::FastPathSink
  bool port_added(dp::Port& p) override;
  void port_removed(dp::Port& p) override;
  void offer(const dp::Port& in, const dp::Port& out, const net::Frame& f, uint32_t path_mtu) override;
  void forget_conn(const dp::Conntrack& ct, uint32_t conn) override;
  void publish(uint64_t epoch) override;
  void revalidate(uint64_t now_ns) override;
  void sync() override;

  // KernelTunnelHooks (control thread): the receive program on a kernel
  // vxlan device (io/kernel_vxlan.h), its misses to the upcall TAP.
  Result<int> attach_tunnel(int ifindex, int upcall_ifindex) override;
  void detach_tunnel(int ifindex, int handle) override;

  struct Info {
    uint64_t entries = 0, max_entries = KVFP_MAX_FLOWS;
    uint64_t hits = 0, misses = 0, stale = 0, punts = 0, too_big = 0, errors = 0;
    uint64_t installs = 0, install_failures = 0, evictions = 0, idle_removals = 0, stale_removals = 0;
    uint64_t generation = 0;
    uint32_t ports = 0;
    std::string hook;  // "tcx" or "tc (cls_bpf)"
  };
  Info info() const;

  struct Entry {
    std::string in_port, out_port;  // "bridge/port"
    std::vector<std::string> bridges;
    kvfp_key key;
    kvfp_action action;
    bool live = false;  // of the current generation
    uint64_t idle_ns = 0;
    int tun_family = 0;  // arrived through a kernel vxlan device (key.tun_*): AF_INET or AF_INET6
  };
  // Every entry with the kernel's statistics (read now).
  std::vector<Entry> dump() const;
  // The entry that frames like `frame` arriving on `in` would hit now
  // (trace: are this flow's live frames in the kernel?); none if no entry.
  std::optional<Entry> lookup(const dp::Port& in, const uint8_t* frame, size_t len) const;
  // Removes every entry (its statistics counted first). Returns how many.
  size_t flush();

 private:
  struct KeyHash {
    size_t operator()(const kvfp_key& k) const;
  };
  struct KeyEq {
    bool operator()(const kvfp_key& a, const kvfp_key& b) const;
  };
  struct Flow {
    kvfp_action action{};  // as installed (its statistics: what was counted so far)
    uint32_t out_port = 0;
    uint8_t hops = 0;
    uint32_t hop_port[net::kFastHops] = {};
    uint16_t hop_vlan[net::kFastHops] = {};
    uint64_t src_mac = 0;
    int32_t len_delta = 0;     // bytes a frame gains (tags pushed minus popped)
    net::TunMeta tun;          // it arrives through a tunnel port: from where (its remote's learning stays)
    uint32_t l2_len = 14;      // bytes before the IP header as it arrived
    uint64_t installed_ns = 0;
    // The firewalls' connections that passed it: kept alive by its use; the
    // entry goes when one of them ends.
    struct Conn {
      dp::Conntrack* ct;
      uint32_t id;
      dp::Conntrack::Dir dir;
      dp::Conntrack::Tuple tuple;
    };
    std::vector<Conn> conns;
    bool dead = false;  // a connection of it ended
  };
  struct Hooked {
    int ifindex = 0;
    int link_fd = -1;  // tcx: the link; -1 with cls_bpf
    int sock = -1;
    bool l4 = false;   // as kvfp_ports says
    bool up = true;    // IFF_UP when last looked at
    bool peer = false; // a veth whose other end is in another namespace (bpf_redirect_peer)
    bool egress = false;  // a TAP whose fd kvnetd holds: the program is on tc egress
    bool tunnel = false;  // a tunnel port: ifindex is its kernel vxlan device (hooked by attach_tunnel, shared)
    std::string name;     // the interface's name when hooked
  };
  using ConnRef = std::pair<const dp::Conntrack*, uint32_t>;
  struct ConnRefHash {
    size_t operator()(const ConnRef& r) const {
      return std::hash<const void*>()(r.first) ^ (size_t{r.second} * 0x9E3779B97F4A7C15ULL);
    }
  };
  using Flows = std::unordered_map<kvfp_key, Flow, KeyHash, KeyEq>;

  FastPath() = default;
  // Reads the kernel's statistics of `it` and adds what is new to the
  // counters and FDBs on its way. Returns false if the kernel lost it.
  bool account(Flows::iterator it, uint64_t now_ns, bool live);
  void remove(Flows::iterator it);
  // An entry goes for good: its last statistics counted, then removed.
  // Returns the next entry.
  Flows::iterator retire(Flows::iterator it, uint64_t now_ns);
  // Makes room in a full map: accounts and removes the idlest quarter.
  void evict(uint64_t now_ns);
  bool veth_to_elsewhere(int ifindex) const;
  bool hook(Hooked& h);
  bool elsewhere(const Hooked& h) const;
  void unhook(const Hooked& h);
  uint64_t kernel_stat(uint32_t slot) const;
  // Which ports' frames may meet a firewall (kvfp_ports): any port of a
  // bridge in their patch-connected group has one.
  void update_port_modes();
  Entry entry_of(const kvfp_key& k, const Flow& f, uint64_t now) const;

  kvfp* skel_ = nullptr;
  int flows_fd_ = -1, state_fd_ = -1, stats_fd_ = -1, tc_fd_ = -1, filter_fd_ = -1, tc_egress_fd_ = -1,
      tun_rx_fd_ = -1;
  std::atomic<bool> tcx_{true};  // until the kernel refuses a tcx link (attach_tunnel runs on the control thread)
  dp::Datapath* dp_ = nullptr;
  Flows flows_;
  std::unordered_map<uint32_t, Hooked> hooked_;  // port id -> its hooks
  std::unordered_map<ConnRef, std::vector<kvfp_key>, ConnRefHash> by_conn_;
  int ports_fd_ = -1;
  uint32_t gen_ = 0;
  uint64_t epoch_ = 0;
  bool published_ = false;
  uint64_t last_reval_ns_ = 0;
  uint64_t installs_ = 0, install_failures_ = 0, evictions_ = 0, idle_removals_ = 0, stale_removals_ = 0;
};

}  // namespace kvnet::io
