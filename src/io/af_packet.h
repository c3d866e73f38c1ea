// The `system` port backend: an existing kernel interface (a veth end, a NIC,
// a TAP's host side) attached through an AF_PACKET socket, promiscuous.
//
// Receives with recvmmsg() and sends with sendmmsg(), a batch per system call.
// PACKET_VNET_HDR carries the kernel's checksum-offload and GSO state with each
// frame both ways, so TCP between namespaces works with the interfaces' default
// offloads on (no ethtool needed) and super-frames cross kvnet unsegmented.
// PACKET_AUXDATA returns the 802.1Q tag that VLAN-accelerating drivers keep
// out of the frame; kvnet puts it back in. PACKET_IGNORE_OUTGOING keeps kvnet's
// own transmissions from coming back.
//
// Thread-safety: the datapath thread calls receive()/send().
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "base/result.h"
#include "dp/port.h"

namespace kvnet::io {

class AfPacketBackend final : public dp::PortBackend {
 public:
  static Result<std::unique_ptr<AfPacketBackend>> open(const std::string& ifname);
  ~AfPacketBackend() override;

  uint32_t send(net::FrameBatch& batch, net::FramePool& pool) override;
  bool accepts_offload() const override { return true; }
  int rx_fd() const override { return fd_; }
  uint32_t receive(net::FrameBatch& batch, net::FramePool& pool, uint64_t now_ns) override;
  std::string describe() const override;
  bool failed() const override { return failed_; }
  int kernel_ifindex() const override { return ifindex_; }
  int kernel_socket() const override { return fd_; }
  // Control thread: the interface still has the index we bound to.
  bool check_alive() const override { return !failed_ && if_index_of_name() == ifindex_; }

 private:
  std::atomic<bool> failed_{false};  // set by the datapath thread, read by the control thread
  AfPacketBackend() = default;
  int if_index_of_name() const;
  int fd_ = -1;
  int ifindex_ = 0;
  std::string name_;
};

}  // namespace kvnet::io
