// A port: where frames enter and leave a bridge.
//
// A port belongs to one bridge. What it is attached to is its backend (a pcap
// file, later a TAP device or a kernel interface), except for `patch` ports,
// which hand what they send straight to their peer port on another bridge, as
// a veth pair would. Ports of `switch` bridges have a VLAN configuration.
//
// Thread-safety: configuration is immutable while the datapath runs; counters
// and the pending batch belong to the datapath thread.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dp/capture_tap.h"
#include "dp/counters.h"
#include "dp/vlan.h"
#include "net/frame.h"
#include "net/icmp_error.h"

namespace kvnet::dp {

class Bridge;
class Stage;

// What the datapath knows of a port's kind: the name to show (the control
// path's kinds, ctl/kinds/, own everything else) and whether the port is a
// patch port, the one kind the datapath itself implements (it hands frames
// to the peer instead of a backend). dp keeps no list of kinds.
struct KindTag {
  std::string_view name;
  bool patch = false;
};
inline constexpr KindTag kPatchKind{"patch", true};

inline constexpr uint32_t kDefaultMtu = 1500;
inline constexpr uint32_t kMinMtu = 68;
inline constexpr uint32_t kMaxMtu = 9216;

struct Port;
class RxSource;

// How a frame leaving a tunnel port goes out through the kernel fast path
// (PortBackend::fast_tunnel): the outer header's fields.
struct FastTunnel {
  uint32_t vni = 0;
  bool v6 = false;
  bool csum = false;   // outer UDP checksums (always over IPv6)
  uint8_t ttl = 64;
  uint8_t tos = 0;
  uint8_t strip = 0;   // tags the port takes off first (a vni_map's)
  uint32_t mtu = 0;    // the largest inner L3 length the underlay carries whole
  std::array<uint8_t, 16> remote{};  // network order; IPv4: the first 4 bytes
  std::array<uint8_t, 16> local{};   // all zero: the kernel's route picks
};

// Where a non-patch port's frames come from and go to.
class PortBackend {
 public:
  virtual ~PortBackend() = default;
  // Takes every frame of `batch` and returns each to `pool` when done; leaves
  // the batch empty. Returns how many frames were sent successfully.
  virtual uint32_t send(net::FrameBatch& batch, net::FramePool& pool) = 0;
  // Whether send() takes frames with a partial checksum or GSO (meta.vnet).
  // If not, the datapath fills checksums and segments before send().
  virtual bool accepts_offload() const { return false; }
  // A file descriptor that becomes readable when receive() has frames, or -1.
  virtual int rx_fd() const { return -1; }
  // Appends up to `batch` capacity received frames (meta.ts_ns = now_ns).
  // Returns how many were added; 0 when nothing is waiting.
  virtual uint32_t receive(net::FrameBatch& /*batch*/, net::FramePool& /*pool*/, uint64_t /*now_ns*/) { return 0; }
  // One line for `show`/`stats` ("tap vnet0 ifindex 7", "vanished").
  virtual std::string describe() const { return ""; }
  // True once the device is known to be gone (deleted interface): stop polling it.
  virtual bool failed() const { return false; }
  // The change that opened this backend was abandoned: undo what opening
  // did to the system that would outlive the object (a persistent TAP).
  virtual void abandon() {}
  // The configuration removed the port: remove what kvnet keeps only for
  // the port's sake (an internal port's TAP, which outlives kvnetd restarts).
  virtual void removed() {}
  // The port's MTU changed (control thread): a device kvnet owns (a TAP,
  // an internal port) takes it as its kernel MTU. Others keep theirs.
  virtual Status set_device_mtu(uint32_t /*mtu*/) { return Ok{}; }
  // A slower check of the same, run periodically by the control thread
  // (a deleted interface does not always show up as a receive error). It
  // may make system calls; it changes nothing.
  virtual bool check_alive() const { return !failed(); }

  // The datapath installed this backend as `p`'s (attach) or took it out
  // (detach), on the datapath thread. A backend that counts its own drops
  // (a tunnel's too_big) keeps the port; one that shares a receive source
  // with other ports registers the port's id with it.
  virtual void attach(Port& /*p*/) {}
  virtual void detach(Port& /*p*/) {}
  // The kernel interface behind the port, for the fast path
  // (dp/fast_path.h): its ifindex and the socket the slow path reads it
  // through (the fast path filters what it forwards out of it); 0 / -1: not
  // a kernel interface. A TAP whose fd kvnetd holds has no such socket:
  // what its interface sends reaches kvnet through the fd (the fast path
  // hooks tc egress there), and what kvnet delivers the interface receives.
  virtual int kernel_ifindex() const { return 0; }
  virtual int kernel_socket() const { return -1; }
  virtual bool kernel_tap() const { return false; }
  // A tunnel port whose VTEP is a kernel vxlan device (io/kernel_vxlan.h):
  // the device's ifindex (frames it decapsulates carry meta.tun), else 0.
  virtual int kernel_tunnel() const { return 0; }
  // Whether `f`, leaving this tunnel port now, goes to exactly one remote
  // the way the fast path can replay (known unicast); fills `t`.
  virtual bool fast_tunnel(const net::Frame& /*f*/, uint64_t /*now_ns*/, FastTunnel& /*t*/) const { return false; }
  // The fast path forwarded frames from `mac` that arrived through this
  // tunnel port with `tun`: the remote it learned for the station stays.
  virtual void fast_touch(const net::TunMeta& /*tun*/, uint64_t /*mac*/, uint64_t /*now_ns*/) {}
  // A receive source shared with other ports (a tunnel socket), polled once
  // for all of them instead of rx_fd(); null if none.
  virtual RxSource* shared_rx() { return nullptr; }
  // A static FDB entry of the port names the endpoint behind (vlan, mac)
  // (a tunnel's remote VTEP; "" removes it). Datapath thread; the control
  // thread checked the address. Other backends ignore it.
  virtual void set_static_remote(uint16_t /*vlan*/, uint64_t /*mac*/, const std::string& /*remote*/) {}
  // The endpoint behind (vlan, mac) beyond the port, for fdb-show (a
  // tunnel: the remote VTEP it learned or was given); "" if none.
  virtual std::string remote_of(uint16_t /*vlan*/, uint64_t /*mac*/) const { return ""; }
  // For a trace: what the backend would do with `f` beyond the port (a
  // tunnel: the outer headers and remotes). "" when there is nothing to add.
  virtual std::string explain(const net::Frame& /*f*/) const { return ""; }
};

// Frames for several ports from one fd (a tunnel socket shared by every
// tunnel port with the same local address and UDP port). receive() sets
// each frame's meta.in_port to the id of the port it is for; the poller
// runs each port's frames through that port. Datapath thread only.
class RxSource {
 public:
  virtual ~RxSource() = default;
  virtual int fd() const = 0;
  // Appends up to `batch` capacity frames (meta.ts_ns = now_ns, meta.in_port
  // set); returns how many. Drops what belongs to no port (and counts it).
  virtual uint32_t receive(net::FrameBatch& batch, net::FramePool& pool, uint64_t now_ns) = 0;
  // Frames already read from the fd are waiting (the batch filled up): call
  // receive() again before polling, the fd will not say so.
  virtual bool more() const { return false; }
};

// A backend that discards what it is given (a port with nowhere to send).
class DiscardBackend final : public PortBackend {
 public:
  bool accepts_offload() const override { return true; }  // nothing to segment for a sink
  uint32_t send(net::FrameBatch& batch, net::FramePool& pool) override {
    const uint32_t n = batch.count;
    pool.put(batch);
    return n;
  }
};

struct Port {
  uint32_t id = 0;  // index in the datapath's port table; the FDB stores it
  std::string name;
  std::string kind;     // the kind's name, for display ("tap", "patch", ...)
  bool patch = false;   // a patch port: frames go to `peer`, there is no backend
  Bridge* bridge = nullptr;
  uint32_t index = 0;    // position among the bridge's ports
  Port* peer = nullptr;  // patch ports only
  VlanPort vlan;         // used by switch bridges
  uint32_t mtu = kDefaultMtu;
  std::unique_ptr<PortBackend> backend;  // null for patch ports
  PortCounters counters;
  // The port's own pipeline stages (dp/pipeline.h): run after the bridge's
  // ingress stages on what enters, before its egress stages on what leaves.
  std::vector<std::unique_ptr<Stage>> ingress;
  std::vector<std::unique_ptr<Stage>> egress;
  // Live captures of the port (dp/capture_tap.h); null when nobody captures.
  std::unique_ptr<CaptureTaps> taps;
  // The bridge's mirrors (dp/mirror.h) that select what this port receives
  // (bit i: mirror i) and what it sends; whether it is a mirror's output
  // (reserved: floods skip it, what it receives is dropped).
  uint32_t mirror_rx = 0;
  uint32_t mirror_tx = 0;
  bool mirror_out = false;
  // The kernel fast path serves the port (dp/fast_path.h): its backend is a
  // kernel interface with the fast path's programs attached.
  bool fast = false;

  // Datapath scratch: frames waiting to be sent or handed to the peer.
  net::FrameBatch pending;
  bool queued = false;
  // ICMP "fragmentation needed" / "packet too big" replies the backend made
  // of frames it could not carry (a tunnel's too_big, net/icmp_error.h):
  // the datapath runs them through the bridge as received on this port,
  // after the send. At most a batch per send; the limiter is the port's.
  net::FrameBatch bounced;
  net::IcmpRateLimit icmp_limit;

  std::string path() const;  // "bridge/port"
};

}  // namespace kvnet::dp
