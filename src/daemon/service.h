// kvnetd's control logic: the configuration and its changes. The API
// server hands every request to `handle()`; tests call it directly.
//
// Every change follows one path:
//   1. the verb (daemon/verbs.h: one table per object type, each in its own
//      file) builds the next configuration (a ctl::Topology, edited
//      directly) and ctl::validate() checks it whole;
//   2. ctl::plan(current, next) lists the changes (what `apply` prints);
//   3. the Applier (daemon/applier.h) carries the plan out: translated into
//      one datapath command first (ctl/translate.h), then containers,
//      backends, gateways, device MTUs, the store's changed rows and the
//      datapath command; any failure before the last step undoes what the
//      change created. The Applier owns the live and the parked ports.
// Restore at start is the plan from an empty configuration, applied the same
// way but tolerant: a port whose interface is missing is kept, parked, listed
// and retried.
//
// Requests are checked at the edge (types, ranges) and every answer is
// valid UTF-8.
//
// Thread-safety: the control thread only.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <nlohmann/json.hpp>
#include <string>

#include "base/result.h"
#include "ctl/plan.h"
#include "ctl/store.h"
#include "ctl/topology.h"
#include "ctl/trace_run.h"
#include "daemon/api.h"
#include "daemon/applier.h"
#include "daemon/cluster_wiring.h"
#include "daemon/verbs.h"
#include "daemon/metrics.h"
#include "io/dp_commands.h"
#include "io/runtime.h"

namespace kvnet::daemon {

using ctl::BridgeSpec;
using ctl::PortSpec;
using ctl::Store;
using ctl::Topology;
using json = nlohmann::json;

struct ServiceOptions {
  bool manage_containers = true;  // create/destroy namespaces for containers
};

class Args;
class VmHost;
class GatewayHost;
class CtDhcpClients;
class ClusterHost;
class ImageStore;
class OvsBinding;
struct MigrationProgress;
}  // namespace kvnet::daemon
namespace kvnet::io {
class FastPath;
}  // namespace kvnet::io
namespace kvnet::daemon {

class Service {
 public:
  Service(std::unique_ptr<Store> store, io::Runtime& rt, BackendOpener opener, ServiceOptions opts = {});
  ~Service();

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
  void set_gateway_host(GatewayHost* h);
  // DHCP clients of containers with ip=dhcp (daemon/ct_dhcp.h). None: no
  // client runs (tests). Set before restore().
  void set_ct_dhcp(CtDhcpClients* c);
  // The cluster on etcd this host belongs to (daemon/cluster_host.h);
  // none: standalone. Set before restore().
  void set_cluster(ClusterHost* c) { cluster_ = c; }
  // The image store (daemon/image_store.h); none: the image verbs answer
  // that images are not kept here.
  void set_image_store(ImageStore* s) { images_ = s; }
  // The kernel fast path (io/fastpath.h), already attached to the datapath;
  // null: there is none, for the reason `off` gives.
  void set_fast_path(io::FastPath* f, std::string off) {
    fast_ = f;
    fast_off_ = std::move(off);
  }
  // The cluster's state changed (a binding, a group, a host up or down):
  // mirrors the store's security groups into the configuration (a change
  // like any other), programs br-int's remote stations and the remote
  // members of security groups from it (logged; a failure is logged and
  // retried at the next change).
  void cluster_changed();
  // Periodic: finishes what cluster_changed() had to leave for later (this
  // host's own security groups, until its first publication says whether
  // it is new to the cluster).
  void cluster_tick();

  // A whole next configuration from another front end (OVSDB's
  // transactions: daemon/ovs_binding.h), validated, planned and applied as
  // one change, like a verb's; returns the plan.
  Result<ctl::Plan> change(const Topology& next);
  // The Open_vSwitch database bound to the configuration (daemon/ovs_binding.h),
  // made at the first use (kvnetd --ovsdb, kvnetctl's ovs-vsctl forms) and
  // kept in step with every change from then on.
  OvsBinding& ovs_binding();
  bool has_ovs_binding() const { return ovs_ != nullptr; }

  const Topology& config() const { return cur_; }
  // Removes OpenFlow flows whose idle or hard timeout has passed (kvnetd:
  // once a second); returns how many.
  size_t expire_flows() { return dp_.expire_flows(); }
  // Each port's datapath id and counters (one datapath command).
  std::vector<io::PortCountersRow> port_counters() { return dp_.counters(); }
  const std::map<std::string, std::string>& vanished() const { return vanished_; }

  // What the metrics endpoint reports (daemon/metrics.h): one datapath
  // command's copy plus the control plane's state. The process's own
  // figures and the version are the caller's to add.
  MetricsSnapshot metrics_snapshot();

  // The API's verbs: every object's table (daemon/verbs.h), in one list.
  static const std::vector<Verb>& commands();

  // The `capture` stream command (service_capture.cc; ApiServer::add_stream):
  // installs a capture tap on the port and returns the stream that sends
  // what it takes (daemon/capture_stream.h).
  Result<ApiStreamStart> capture(const json& req);
  static constexpr size_t kMaxCaptures = 32;  // at once, in all: each holds a 4 MiB ring

 private:
  friend class VerbContext;  // the verbs' facade (daemon/verbs.h)
  using Live = Applier::Live;
  using Mode = Applier::Mode;

  // Plans and applies `next`; returns the plan (empty: nothing to do). When
  // `next` is the working copy edit() handed out, only its scope is
  // checked, planned and written.
  Result<ctl::Plan> commit(const Topology& next);
  // A scoped edit (ctl/scope.h): the working copy, equal to cur_, for the
  // verb to change what `scope` names and commit. No copy of the whole
  // configuration per edit: the working copy is cur_'s twin, kept in step
  // by the scope of each change (and put back if the verb fails).
  Topology& edit(const ctl::Scope& scope);
  void settle_work();  // puts back an edit that was not committed
  void make_work();
  // The applier carries the plan out (daemon/applier.h); cur_ follows.
  Status apply(const Topology& next, const ctl::Plan& plan, Mode mode);
  json change_result(const ctl::Plan& p) const;  // with the request's warnings
  Result<json> commit_json(const Topology& next);

  // VMs' lifecycle (service_vm.cc); their verbs are vm_verbs().
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
  // Image VMs' overlays: their default path for a definition that names
  // none (true if one was filled in); made for VMs a plan adds (the paths
  // made, to remove again if the change fails); a removed VM's removed
  // after the change unless keep_disks_ (vm del --keep-disk).
  bool fill_vm_disks(Topology& t) const;
  Result<std::vector<std::string>> make_vm_disks(const Topology& next, const ctl::Plan& p);
  void drop_vm_disks(const Topology& before, const ctl::Plan& p);
  void restore_vms();
  // What br-int has from the store (service_cluster.cc), given to the
  // datapath, not kept in the configuration: vx-cluster's remote stations
  // (changes only) and the table ARP suppression answers from
  // (dp/neighbors.h, when it differs). `force`: br-int or vx-cluster was
  // made or opened again, without them.
  void sync_cluster(bool force);
  void sync_remotes(bool force);
  void sync_neighbors(bool force);
  // Security groups in a cluster (service_cluster.cc, daemon/cluster_groups.h):
  // the store's groups become this host's (a host new to the cluster
  // publishes its own; one that was away drops those deleted meanwhile,
  // unless a port here uses them); the addresses of other hosts' members
  // (Topology::remote_members) and the firewalls naming their groups; this
  // host's bindings carrying their ports' groups.
  void sync_groups();
  void sync_members();
  void sync_bindings();
  // A port's device: parked (with why) or opened again.
  void park_port(const std::string& name, const std::string& why);
  bool reopen_port(const std::string& name);

  std::unique_ptr<Store> store_;
  io::DatapathCommands dp_;  // the only way to the datapath
  ServiceOptions opts_;
  Applier applier_;  // live ports, parked ports, the steps of a change
  Topology cur_;
  std::optional<Topology> work_;        // cur_'s twin for scoped edits (edit())
  std::optional<ctl::Scope> work_out_;  // the scope of the edit handed out and not yet committed
  const std::map<std::string, Live>& live_;             // applier_'s: port name -> datapath id and backend
  const std::map<std::string, std::string>& vanished_;  // applier_'s: port -> why it has no backend
  VmHost* vms_ = nullptr;
  GatewayHost* gws_ = nullptr;
  CtDhcpClients* ct_dhcp_ = nullptr;
  ClusterHost* cluster_ = nullptr;
  ImageStore* images_ = nullptr;
  io::FastPath* fast_ = nullptr;
  std::string fast_off_;
  std::vector<NeighborEntry> neighbors_;  // the table br-int answers ARP/ND from (sync_neighbors)
  RemoteEntries remotes_;                 // vx-cluster's static entries from the store (sync_remotes)
  bool syncing_groups_ = false;           // sync_groups is committing (no re-entry)
  bool groups_unsettled_ = false;         // sync_groups left this host's own groups for later
  bool groups_adopted_ = false;           // this host's own groups, new to the cluster, published
  std::set<std::string> told_;            // warnings of sync_groups already logged
  // Live migration (service_migrate.cc): what this host drives of the
  // migrations in flight, as source (outgoing_) or destination (incoming_),
  // from the store's records (sync_migrations, after every change the
  // watch brings) and QEMU's events (migration_event); a timer polls QEMU's
  // progress while any runs.
  struct MigrationOut;
  struct MigrationIn;
  Result<json> vm_migrate(const std::string& name, const std::string& to, uint32_t max_downtime_ms,
                          uint64_t bandwidth_mbps, bool cancel);
  json migration_json(const std::string& vm) const;
  json migration_of(const std::string& vm) const;  // in flight, else the last that ended here; null: none
  bool migrating_in(const std::string& vm) const;  // a QEMU here waits for it
  void sync_migrations();
  void migration_event(const std::string& vm, const std::string& event, const json& data, int64_t timestamp_us);
  Status update_migration(const std::string& vm, const std::function<bool(cluster::MigrationRecord&)>& change);
  void end_migration_record(const std::string& vm);
  void fail_migration(const std::string& vm, const std::string& state, const std::string& why);
  Result<std::string> qemu_facts(const std::string& machine, std::string* version);
  void ensure_migration_timer();
  void migration_tick();
  void outgoing_step(const cluster::MigrationRecord& r);
  void incoming_step(const cluster::MigrationRecord& r);
  void migration_failed_out(const std::string& vm, const std::string& state, const std::string& why);
  void switch_over(const std::string& vm, const MigrationProgress& p);
  void migrated_away(const std::string& vm, const cluster::MigrationRecord& r);
  static std::string fmt_migration_done(const std::string& vm, const std::string& to, double total_s, int64_t qemu_ms,
                                        int64_t measured_ms);
  Status prepare_incoming(const cluster::MigrationRecord& r);
  void resumed_here(const std::string& vm, int64_t ts_ms);
  void abort_incoming(const std::string& vm, const std::string& why);
  Status drop_vm_here(const std::string& vm);
  std::map<std::string, std::shared_ptr<MigrationOut>> outgoing_;
  std::map<std::string, std::shared_ptr<MigrationIn>> incoming_;
  uint64_t migration_timer_ = 0;
  std::string qemu_version_;                          // this host's QEMU ("7.2.22"), read once
  std::map<std::string, std::string> machine_types_;  // "q35" -> "pc-q35-7.2", read once
  std::map<std::string, int64_t> resumed_us_;         // RESUME of a VM arriving here (QEMU's clock)
  std::map<std::string, json> last_migration_;        // the last one of each VM that ended here (vm show)

  std::unique_ptr<OvsBinding> ovs_;        // ovs_binding()
  std::set<std::string> restart_pending_;  // VMs to start again once they stopped
  bool keep_disks_ = false;                // the change being made keeps removed VMs' overlays
  std::vector<std::string> warnings_;      // of the request being handled (ctl/warnings.h)
  std::shared_ptr<size_t> captures_ = std::make_shared<size_t>(0);  // live capture streams
};

}  // namespace kvnet::daemon
