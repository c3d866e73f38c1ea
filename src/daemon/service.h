// kvnetd's control logic: the configuration, its changes and their
// application to the kernel, the store and the running datapath. The API
// server hands every request to `handle()`; tests call it directly.
//
// Every change follows one path:
//   1. the verb builds the next configuration (a ctl::Topology, edited
//      directly) and ctl::validate() checks it whole;
//   2. ctl::plan(current, next) lists the changes (what `apply` prints);
//   3. apply(plan) inside a change transaction: create containers, open the
//      backends of new ports, program the gateways (address, nftables,
//      dnsmasq), write SQLite in one transaction, then one typed
//      datapath command (io/dp_commands.h) between two batches; any failure
//      before the last step undoes the kernel resources the change created.
// Restore at start is the plan from an empty configuration, applied the same
// way but tolerant: a port whose interface is missing is kept, parked, listed
// and retried.
//
// API commands live in one table (service.cc): name, handler, whether the
// command changes the configuration. Requests are checked at the edge
// (types, ranges) and every answer is valid UTF-8.
//
// Thread-safety: the control thread only.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <nlohmann/json.hpp>
#include <string>

#include "base/result.h"
#include "ctl/plan.h"
#include "ctl/store.h"
#include "ctl/topology.h"
#include "ctl/trace_run.h"
#include "daemon/api.h"
#include "daemon/metrics.h"
#include "io/dp_commands.h"
#include "io/runtime.h"

namespace kvnet::daemon {

using ctl::BridgeSpec;
using ctl::PortSpec;
using ctl::Store;
using ctl::Topology;
using json = nlohmann::json;

// Opens the backend of a non-patch port (TAP, AF_PACKET, pcap writer).
using BackendOpener = std::function<Result<std::unique_ptr<dp::PortBackend>>(const PortSpec&)>;
// The real ones: each port's kind opens it. pcap files are written only
// below `pcap_dir`.
BackendOpener kernel_backends(const std::string& pcap_dir);

struct ServiceOptions {
  bool manage_containers = true;  // create/destroy namespaces for containers
};

class Args;
class VmHost;
class GatewayHost;
class CtDhcpClients;

class Service {
 public:
  Service(std::unique_ptr<Store> store, io::Runtime& rt, BackendOpener opener, ServiceOptions opts = {});

  // Loads the stored configuration and builds it. Ports whose kernel
  // interface is gone are kept (configured, not forwarding) and listed.
  Status restore();
  // Dispatches one API request ({"cmd": ..., ...}); never throws; the answer
  // is valid UTF-8.
  json handle(const json& req);
  // Closes everything kvnetd holds when it stops (internal ports stay).
  void shutdown();
  // Parks ports whose device failed while running, then retries every port
  // whose interface is missing; returns how many came back.
  int retry_vanished();

  // VMs: kvnetd's VM host (none: the VM verbs answer that VMs are not run
  // here). Set before restore(), which re-attaches VMs still running and
  // starts those marked autostart.
  void set_vm_host(VmHost* h);
  // NAT gateways: the kernel side (address, nftables, dnsmasq). None: the
  // gateways are configuration only (tests). Set before restore().
  void set_gateway_host(GatewayHost* h) { gws_ = h; }
  // DHCP clients of containers with ip=dhcp (daemon/ct_dhcp.h). None: no
  // client runs (tests). Set before restore().
  void set_ct_dhcp(CtDhcpClients* c) { ct_dhcp_ = c; }

  const Topology& config() const { return cur_; }
  const std::map<std::string, std::string>& vanished() const { return vanished_; }

  // What the metrics endpoint reports (daemon/metrics.h): one datapath
  // command's copy plus the control plane's state. The process's own
  // figures and the version are the caller's to add.
  MetricsSnapshot metrics_snapshot();

  // The API's commands.
  struct Command {
    const char* name;
    bool changes_config;
    Result<json> (Service::*handler)(const Args&);
    // Changes what runs but not the configuration (vm-start, fdb-flush,
    // stats-clear): logged like a configuration change.
    bool changes_state = false;
  };
  static const std::vector<Command>& commands();

  // The `capture` stream command (service_capture.cc; ApiServer::add_stream):
  // installs a capture tap on the port and returns the stream that sends
  // what it takes (daemon/capture_stream.h).
  Result<ApiStreamStart> capture(const json& req);
  static constexpr size_t kMaxCaptures = 32;  // at once, in all: each holds a 4 MiB ring

 private:
  struct Live {
    uint32_t id;
    dp::PortBackend* backend;  // owned by the datapath; null for patch ports
  };
  enum class Mode { kChange, kRestore };

  // Plans and applies `next`; returns the plan (empty: nothing to do).
  Result<ctl::Plan> commit(const Topology& next);
  Status apply(const Topology& next, const ctl::Plan& plan, Mode mode);
  struct Applying;  // the steps of apply():
  Status create_containers(Applying& a);
  Status open_backends(Applying& a);
  Status apply_gateways(Applying& a);
  Status apply_device_mtus(Applying& a);
  void fill_change(Applying& a);
  void finish(Applying& a, io::ChangeResult& res, const std::vector<dp::PortBackend*>& backends);
  json change_result(const ctl::Plan& p) const;  // with the request's warnings
  Result<json> commit_json(const Topology& next);

  Result<json> ping(const Args& a);
  Result<json> add_br(const Args& a);
  Result<json> del_br(const Args& a);
  Result<json> list_br(const Args& a);
  Result<json> add_port(const Args& a);
  Result<json> del_port(const Args& a);
  Result<json> set_port(const Args& a);
  Result<json> set_bridge(const Args& a);
  Result<json> fdb_add(const Args& a);
  Result<json> fdb_del(const Args& a);
  Result<json> fdb_show(const Args& a);
  Result<json> fdb_flush(const Args& a);
  Result<json> show(const Args& a);
  Result<json> get(const Args& a);
  Result<json> stats(const Args& a);
  Result<json> stats_clear(const Args& a);  // service_metrics.cc
  Result<json> pipeline(const Args& a);
  Result<json> trace(const Args& a);
  Result<ctl::TraceResult> live_trace(const Args& a);  // trace's arguments: one frame through the live datapath
  // The picture (service_draw.cc)
  Result<json> draw(const Args& a);
  Result<json> apply_file(const Args& a);
  Result<json> export_yaml(const Args& a);
  Result<json> ct_add(const Args& a);  // containers: service_ct.cc
  Result<json> ct_del(const Args& a);
  Result<json> ct_list(const Args& a);
  Result<json> kinds(const Args& a);
  // Security groups (service_sg.cc)
  Result<json> sg_add(const Args& a);
  Result<json> sg_del(const Args& a);
  Result<json> sg_rule_add(const Args& a);
  Result<json> sg_rule_del(const Args& a);
  Result<json> sg_list(const Args& a);
  Result<json> sg_show(const Args& a);
  json sg_json(const ctl::SecurityGroupSpec& g) const;
  Result<json> conntrack_list(const Args& a);
  Result<json> conntrack_flush(const Args& a);
  // VMs (service_vm.cc)
  Result<json> vm_add(const Args& a);
  Result<json> vm_del(const Args& a);
  Result<json> vm_start(const Args& a);
  Result<json> vm_stop(const Args& a);
  Result<json> vm_kill(const Args& a);
  Result<json> vm_restart(const Args& a);
  Result<json> vm_list(const Args& a);
  Result<json> vm_show(const Args& a);
  Result<json> vm_console(const Args& a);
  json vm_json(const ctl::VmSpec& vm) const;
  // Gateways (service_gw.cc)
  Result<json> gw_add(const Args& a);
  Result<json> gw_del(const Args& a);
  Result<json> gw_list(const Args& a);
  Result<json> gw_show(const Args& a);
  json gw_json(const ctl::GatewaySpec& gw, bool leases) const;
  // Mirrors (service_mirror.cc)
  Result<json> mirror_add(const Args& a);
  Result<json> mirror_del(const Args& a);
  Result<json> mirror_list(const Args& a);
  json mirror_json(const ctl::BridgeSpec& b, const ctl::MirrorSpec& m) const;
  Status start_vm(const ctl::VmSpec& vm);
  void vm_exited(const std::string& name);
  // Why a VM's NIC port has no device now ("" if it is not a NIC of a
  // stopped VM).
  // The VM a port belongs to: its NIC's port, or the qbr patch pair of a
  // qbr NIC ("" none).
  std::string vm_owning_port(const std::string& port) const;
  std::string parked_nic_reason(const Topology& t, const std::string& port) const;
  Status check_vms(const Topology& next, const ctl::Plan& p) const;  // before a commit
  void vms_after_commit(const ctl::Plan& p, json* result);           // kills removed, starts autostart
  void restore_vms();
  // A port's device: parked (with why) or opened again.
  void park_port(const std::string& name, const std::string& why);
  bool reopen_port(const std::string& name);

  std::unique_ptr<Store> store_;
  io::DatapathCommands dp_;  // the only way to the datapath
  BackendOpener opener_;
  ServiceOptions opts_;
  Topology cur_;
  std::map<std::string, Live> live_;             // port name -> datapath id and backend
  std::map<std::string, std::string> vanished_;  // port -> why it has no backend
  VmHost* vms_ = nullptr;
  GatewayHost* gws_ = nullptr;
  CtDhcpClients* ct_dhcp_ = nullptr;
  std::set<std::string> restart_pending_;  // VMs to start again once they stopped
  std::vector<std::string> warnings_;      // of the request being handled (ctl/warnings.h)
  std::shared_ptr<size_t> captures_ = std::make_shared<size_t>(0);  // live capture streams
};

}  // namespace kvnet::daemon
