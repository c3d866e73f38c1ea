// kvnetd's API verbs: one table per object type, each in that object's file.
//
// A verb file defines a class derived from VerbContext (what a verb sees of
// kvnetd: the configuration, the datapath commands, the live ports and the
// one change path), its handlers as methods of that class, and a table of
// rows {name, changes_config, changes_state, handler}:
//
//   namespace {
//   class BridgeVerbs : VerbContext {
//    public:
//     using VerbContext::VerbContext;
//     Result<json> add_br(const Args& a);      // edits a copy of cur_, ends with commit_json(next)
//     Result<json> set_port(const Args& a);    // edits edit(scope) (a few named objects), commit_json(next)
//   };
//   }  // namespace
//   std::span<const Verb> bridge_verbs() {
//     static const Verb kVerbs[] = {{"add-br", true, false, &verb<BridgeVerbs, &BridgeVerbs::add_br>}};
//     return kVerbs;
//   }
//
// Service::commands() (service.cc) concatenates the tables in one explicit
// list. A new verb of an object is one method and one row in that object's
// file; a new object's table is one declaration below and one line in that
// list. Nothing registers itself.
//
// Thread-safety: the control thread only (Service::handle).
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"
#include "ctl/plan.h"
#include "ctl/topology.h"
#include "daemon/applier.h"
#include "io/dp_commands.h"
#include "io/fastpath.h"

namespace kvnet::daemon {

using json = nlohmann::json;
class Args;
class Service;
class VmHost;
class GatewayHost;
class CtDhcpClients;
class ClusterHost;
class ImageStore;
class OvsBinding;

// One API verb. changes_state: changes what runs but not the configuration
// (vm-start, fdb-flush, stats-clear): logged like a configuration change.
struct Verb {
  const char* name;
  bool changes_config;
  bool changes_state;
  Result<json> (*handler)(Service& s, const Args& a);
};

// What a verb sees of kvnetd (the Service's facade for verbs).
class VerbContext {
 public:
  explicit VerbContext(Service& s);

 protected:
  const ctl::Topology& cur_;   // the current configuration (a change edits a copy, or edit()'s)
  io::DatapathCommands& dp_;   // reads and runtime commands of the datapath
  const std::map<std::string, Applier::Live>& live_;    // port -> datapath id and backend
  const std::map<std::string, std::string>& vanished_;  // port -> why it has no device
  std::vector<std::string>& warnings_;                  // of the request (ctl/warnings.h)
  VmHost* vms_;                                         // null: VMs are not run here
  GatewayHost* gws_;                                    // null: gateways are configuration only
  CtDhcpClients* ct_dhcp_;                              // null: containers' DHCP clients are not run
  ClusterHost* cluster_;                                // null: standalone (not in a cluster)
  ImageStore* images_;                                  // null: no image store (tests)
  io::FastPath* fast_;                                  // null: no kernel fast path, because of fast_off_
  const std::string& fast_off_;
  bool manage_containers_;
  const std::string& store_path() const;

  // The change path: validate `next`, plan, apply; the answer lists the plan.
  Result<ctl::Plan> commit(const ctl::Topology& next);
  json change_result(const ctl::Plan& p) const;
  Result<json> commit_json(const ctl::Topology& next);
  // An edit of the objects `scope` names (ctl/scope.h): the working copy to
  // change (equal to cur_) and commit; checks, plan and store then look at
  // the scope only. Changing anything outside it is a bug: use a copy of
  // cur_ and a whole commit for such edits.
  ctl::Topology& edit(const ctl::Scope& scope);
  Status check_vms(const ctl::Topology& next, const ctl::Plan& p) const;  // a dry run's check
  std::string vm_owning_port(const std::string& port) const;             // "" none
  // VMs (service_vm.cc): start one now (its TAPs, then its ports open);
  // start it again once it has stopped (or no longer).
  Status start_vm(const ctl::VmSpec& vm);
  void restart_when_stopped(const std::string& vm, bool yes);
  // The next commit keeps the overlays of the image VMs it removes.
  void keep_vm_disks(bool yes);
  // Live migration (service_migrate.cc): starts or cancels one; what `vm
  // show` says of a VM's migration (null: none in flight or ended here).
  Result<json> migrate_vm(const std::string& name, const std::string& to, uint32_t max_downtime_ms,
                          uint64_t bandwidth_mbps, bool cancel);
  json migration_of(const std::string& vm) const;
  // The Open_vSwitch database bound to the configuration (Service::ovs_binding).
  OvsBinding& ovs();
  // Image VMs without an overlay path get theirs (Service::fill_vm_disks).
  bool fill_vm_disks(ctl::Topology& t) const;

 private:
  Service& s_;
};

// A table row's handler from a verb method of a VerbContext class.
template <class V, Result<json> (V::*F)(const Args&)>
Result<json> verb(Service& s, const Args& a) {
  V v(s);
  return (v.*F)(a);
}

// The tables, one per object type (in the file named).
std::span<const Verb> bridge_verbs();   // service_bridge.cc: add-br, del-br, list-br, set-bridge
std::span<const Verb> port_verbs();     // service_port.cc: add-port, del-port, set-port, get, kinds
std::span<const Verb> fdb_verbs();      // service_fdb.cc: fdb-add, fdb-del, fdb-show, fdb-flush
std::span<const Verb> config_verbs();   // service_config.cc: ping, show, apply, export
std::span<const Verb> stats_verbs();    // service_metrics.cc: stats, stats-clear, pipeline
std::span<const Verb> trace_verbs();    // service_draw.cc: trace, draw
std::span<const Verb> sg_verbs();       // service_sg.cc: sg-*, conntrack-*
std::span<const Verb> gw_verbs();       // service_gw.cc: gw-*
std::span<const Verb> mirror_verbs();   // service_mirror.cc: mirror-*
std::span<const Verb> ct_verbs();       // service_ct.cc: ct-add, ct-del, ct-list
std::span<const Verb> vm_verbs();       // service_vm.cc: vm-*
std::span<const Verb> cluster_verbs();  // service_cluster.cc: cluster-status, cluster-hosts, network-*
std::span<const Verb> image_verbs();    // service_image.cc: image-import, image-list, image-show, image-del
std::span<const Verb> migrate_verbs();  // service_migrate.cc: vm-migrate
std::span<const Verb> fastpath_verbs(); // service_fastpath.cc: fastpath-show, fastpath-dump, fastpath-flush
std::span<const Verb> ovs_verbs();      // service_ovs.cc: vsctl (ovs-vsctl's command lines)
std::span<const Verb> flow_verbs();     // service_flows.cc: add-flow, mod-flows, del-flows, dump-flows

// A kernel fast-path entry as fastpath-dump and trace give it
// (service_fastpath.cc).
json fastpath_entry_json(const io::FastPath::Entry& e);

// A mirror as show and mirror-list give it (service_mirror.cc).
json mirror_json(const ctl::BridgeSpec& b, const ctl::MirrorSpec& m);

}  // namespace kvnet::daemon
