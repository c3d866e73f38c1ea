// The `tap` and `internal` port backends: a kernel TAP interface whose
// character-device side (/dev/net/tun) kvnetd holds. What the kernel sends
// out of the interface, kvnet receives; what kvnet sends, the kernel
// receives on the interface. The interface itself may be used by the host
// stack, moved into a network namespace, or be the one a VM's NIC stands for.
//
// Opened with IFF_TAP | IFF_NO_PI | IFF_VNET_HDR and TUNSETOFFLOAD(CSUM, TSO4,
// TSO6, TSO_ECN): the kernel hands over partial-checksum and TSO super-frames,
// which kvnet carries to egress ports that take them (net/offload.h).
// A TAP that kvnetd created disappears when the port is removed, unless it
// was made `persistent`; an existing TAP is attached to and left in place.
//
// `open_tap` is the one place kvnet binds /dev/net/tun to an interface
// (TUNSETIFF): the `tap`/`internal` backends here and a VM's NICs
// (vm/qemu.h, whose fd QEMU inherits) both go through it.
//
// Thread-safety: the datapath thread calls receive()/send(); open_tap from
// any thread.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <memory>
#include <string>

#include "base/result.h"
#include "dp/port.h"

namespace kvnet::io {

// /dev/net/tun bound to the TAP interface `name` (IFF_TAP | IFF_NO_PI |
// IFF_VNET_HDR), the interface created if it does not exist yet.
struct TapOpen {
  bool must_create = false;  // an existing interface of that name is an error
  bool nonblock = false;     // O_NONBLOCK (kvnet's own backends poll it)
};
struct TapFd {
  int fd = -1;           // close-on-exec; the caller owns it
  bool created = false;  // the interface did not exist before
};
Result<TapFd> open_tap(const std::string& name, const TapOpen& o);
// Reads one frame from a TAP fd opened so (its virtio-net header into
// f.meta.vnet, the frame after it) and sets f's length. Returns the frame's
// length; -1 with errno (EAGAIN: nothing waits) if none was read.
ssize_t read_tap_frame(int fd, net::Frame& f);

// How long the kernel interface lives.
enum class TapLife : uint8_t {
  kWithPort,     // `tap`: a TAP kvnetd created goes when the port is closed
  kPersistent,   // `tap persistent=true`: outlives the port and kvnetd
  kWithConfig,   // `internal`: survives kvnetd restarts (addresses stay);
                 // removed when the configuration removes the port
};

class TapBackend final : public dp::PortBackend {
 public:
  static Result<std::unique_ptr<TapBackend>> open(const std::string& name, TapLife life);
  ~TapBackend() override;

  uint32_t send(net::FrameBatch& batch, net::FramePool& pool) override;
  bool accepts_offload() const override { return true; }
  int rx_fd() const override { return fd_; }
  uint32_t receive(net::FrameBatch& batch, net::FramePool& pool, uint64_t now_ns) override;
  std::string describe() const override;
  bool failed() const override { return failed_; }
  Status set_device_mtu(uint32_t mtu) override;
  // The interface's ifindex in kvnetd's namespace when it was opened (0 if
  // it was elsewhere then); the fast path notices when it leaves.
  int kernel_ifindex() const override { return ifindex_; }
  bool kernel_tap() const override { return ifindex_ > 0; }
  void abandon() override {
    if (created_) persistent_ = false;  // the destructor then lets the TAP go
  }
  void removed() override {
    if (life_ == TapLife::kWithConfig) persistent_ = false;
  }

 private:
  TapBackend() = default;
  std::atomic<bool> failed_{false};  // set by the datapath thread, read by the control thread
  int fd_ = -1;
  int ifindex_ = 0;
  std::string name_;
  bool created_ = false;
  bool persistent_ = false;  // TUNSETPERSIST is on; cleared on close if false by then
  TapLife life_ = TapLife::kWithPort;
};

}  // namespace kvnet::io
