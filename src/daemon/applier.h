// Carrying out a plan: kvnetd's live ports and the steps of a change.
//
// The Applier owns what the running configuration holds in the kernel and
// the datapath: each port's datapath id and backend (`live()`), the ports
// that have no device now (`vanished()`: parked at restore, gone while
// running, a stopped VM's NIC) and the re-opening of those, and the undo of
// a change that fails half-way. Service (daemon/service.h) keeps the verbs
// and the current configuration and hands it (current, next, plan):
//
//   0 translate the plan into one datapath command (ctl/translate.h):
//     anything it refuses (static FDB overflow) changes nothing
//   1 containers created (a changed one destroyed first)
//   2 backends of new ports opened by their kind (TAP, AF_PACKET, pcap); a
//     device only one holder may open that the old port still holds is
//     opened after step 6
//   3 gateways' kernel side (address, nftables, dnsmasq), as a whole set
//   4 kernel MTUs of devices kvnet owns whose `mtu` changed
//   5 the store: the rows the plan changed, one transaction
//     (a failure in 0-5 undoes 1-4: nothing changed)
//   6 the datapath command, between two batches
//   7 on this thread: removed backends closed, deferred devices opened, gone
//     containers removed, ports without a device parked
// Restore (Mode::kRestore) is the plan from an empty configuration, applied
// the same way but tolerant: a container or device that cannot be made or
// opened is parked and retried (retry_vanished), nothing is written.
//
// Thread-safety: the control thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "base/result.h"
#include "ctl/plan.h"
#include "ctl/store.h"
#include "ctl/topology.h"
#include "io/dp_commands.h"

namespace kvnet::daemon {

class GatewayHost;
class CtDhcpClients;

// Opens the backend of a non-patch port (TAP, AF_PACKET, pcap writer).
using BackendOpener = std::function<Result<std::unique_ptr<dp::PortBackend>>(const ctl::PortSpec&)>;
// The real ones: each port's kind opens it. pcap files are written only
// below `pcap_dir`.
BackendOpener kernel_backends(const std::string& pcap_dir);

class Applier {
 public:
  struct Live {
    uint32_t id;
    dp::PortBackend* backend;  // owned by the datapath; null for patch ports and parked ones
  };
  enum class Mode { kChange, kRestore };
  // Why a port of `next` has no device now though it is configured ("" it
  // should have one): a stopped VM's NIC, whose TAP comes with the VM.
  using ParkedReason = std::function<std::string(const ctl::Topology& next, const std::string& port)>;

  Applier(ctl::Store& store, io::DatapathCommands& dp, BackendOpener opener, bool manage_containers);

  void set_gateway_host(GatewayHost* h) { gws_ = h; }
  // DHCP clients of containers with ip=dhcp (daemon/ct_dhcp.h): stopped
  // before a container's namespace goes.
  void set_ct_dhcp(CtDhcpClients* c) { ct_dhcp_ = c; }
  void set_parked_reason(ParkedReason f) { parked_reason_ = std::move(f); }

  // Turns `cur` (what runs) into `next` by `plan` (see above). On error
  // nothing changed.
  Status apply(const ctl::Topology& cur, const ctl::Topology& next, const ctl::Plan& plan, Mode mode);

  const std::map<std::string, Live>& live() const { return live_; }
  std::optional<uint32_t> id(const std::string& port) const;
  const std::map<std::string, std::string>& vanished() const { return vanished_; }

  // Parks ports whose device failed while running, then retries every port
  // of `cur` whose interface is missing; returns how many came back.
  int retry_vanished(const ctl::Topology& cur);
  // A port's device: parked (with why) or opened again.
  void park_port(const std::string& name, const std::string& why);
  bool reopen_port(const ctl::Topology& cur, const std::string& name);
  // Closes every backend (kvnetd stops; internal ports' TAPs stay).
  void shutdown();

 private:
  struct Applying;  // the state of one apply(), shared by its steps
  Status create_containers(Applying& a);
  Status open_backends(Applying& a);
  Status apply_gateways(Applying& a);
  Status apply_device_mtus(Applying& a);
  void finish(Applying& a, io::ChangeResult& res, const std::vector<dp::PortBackend*>& backends);

  ctl::Store& store_;
  io::DatapathCommands& dp_;
  BackendOpener opener_;
  bool manage_containers_;
  GatewayHost* gws_ = nullptr;
  CtDhcpClients* ct_dhcp_ = nullptr;
  ParkedReason parked_reason_;
  std::map<std::string, Live> live_;             // port name -> datapath id and backend
  std::map<std::string, std::string> vanished_;  // port -> why it has no backend
};

}  // namespace kvnet::daemon
