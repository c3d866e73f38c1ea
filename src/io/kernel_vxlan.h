// kvnet's VXLAN endpoint as a kernel vxlan device, when the kernel fast path
// is on (docs/architecture.md, "Fast path"; io/fastpath.h).
//
// A UDP socket of kvnetd's own (io/tunnel.h) puts every tunnel packet through
// user space. With the fast path, the endpoint of a UDP port is instead a
// kernel `vxlan` device in external (collect_md) mode, kvnet-vx<port>, that
// kvnetd creates in its namespace:
//   - receiving, the kernel decapsulates (and merges TCP segments: GRO); the
//     fast path's program on the device's tc ingress forwards what its flow
//     map holds, keyed by the VNI and the remote too; a miss goes to kvnetd
//     through the device's upcall TAP, kvnet-up<port>, with the VNI and the
//     outer addresses in front of the frame (struct kvfp_upcall), and takes
//     the tunnel port's slow path from there (TunnelSocket::deliver_upcall);
//   - sending, an entry's action sets the tunnel key (VNI, remote, TTL, TOS,
//     checksum) and redirects to the device: the kernel encapsulates and
//     segments (UDP-tunnel GSO). The slow path still sends through kvnetd's
//     own send sockets (source ports 49152-65535, never the device's port).
// The device holds the UDP port on every address of the namespace, both
// families: every VXLAN tunnel port of that UDP port shares it. It goes when
// the last of them does; one a crashed kvnetd left behind is replaced.
//
// Without the fast path (or when the device cannot be made: no vxlan in this
// kernel, the port taken by a kernel VTEP or another program), kvnetd keeps
// its own UDP socket and says why once.
//
// Thread-safety: get() and the destructor on the control thread; receive(),
// add() and remove() on the datapath thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "dp/port.h"

namespace kvnet::io {

class TunnelSocket;

// What the fast path lends a kernel tunnel device: its receive program on
// the device's tc ingress, the misses going to the upcall interface.
class KernelTunnelHooks {
 public:
  virtual ~KernelTunnelHooks() = default;
  // Returns a handle for detach_tunnel.
  virtual Result<int> attach_tunnel(int ifindex, int upcall_ifindex) = 0;
  virtual void detach_tunnel(int ifindex, int handle) = 0;
};
// Set before any tunnel port opens (kvnetd, once its fast path is loaded);
// null (the default): tunnels use kvnetd's own UDP sockets.
void set_kernel_tunnel_hooks(KernelTunnelHooks* h);
KernelTunnelHooks* kernel_tunnel_hooks();

class KernelVxlan final : public dp::RxSource {
 public:
  // The device of UDP port `port`, made on first use. Control thread.
  static Result<std::shared_ptr<KernelVxlan>> get(uint16_t port);
  // Removes a device of `port` that an earlier kvnetd left (it crashed:
  // nobody reads its upcall TAP), so that the port is free again.
  static void remove_stale(uint16_t port);
  static std::string device_name(uint16_t port);
  static std::string upcall_name(uint16_t port);
  ~KernelVxlan() override;
  KernelVxlan(const KernelVxlan&) = delete;
  KernelVxlan& operator=(const KernelVxlan&) = delete;

  int fd() const override { return tap_fd_; }
  uint32_t receive(net::FrameBatch& batch, net::FramePool& pool, uint64_t now_ns) override;

  int ifindex() const { return ifindex_; }
  uint16_t port() const { return port_; }
  const std::string& name() const { return name_; }
  // The sockets (one per local address and family) its upcalls go to.
  void add(TunnelSocket* s);
  void remove(TunnelSocket* s);
  uint64_t upcalls() const { return upcalls_.load(std::memory_order_relaxed); }
  uint64_t unclaimed() const { return unclaimed_.load(std::memory_order_relaxed); }

 private:
  KernelVxlan() = default;
  uint16_t port_ = 0;
  std::string name_, upcall_name_;
  int ifindex_ = 0;
  int tap_fd_ = -1;
  int hook_ = -1;          // attach_tunnel's handle (-1 with cls_bpf)
  bool attached_ = false;
  std::vector<TunnelSocket*> sockets_;  // datapath thread
  std::atomic<uint64_t> upcalls_{0}, unclaimed_{0};  // written by the datapath thread, read by describe()
};

}  // namespace kvnet::io
