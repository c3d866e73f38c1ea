#include "daemon/service.h"

#include "daemon/ovs_binding.h"

#include <algorithm>

#include "base/text.h"
#include "ctl/warnings.h"
#include "daemon/cluster_host.h"
#include "daemon/ct_dhcp.h"
#include "daemon/netns.h"
#include "daemon/ovs_binding.h"
#include "daemon/service_args.h"
#include "daemon/vm_host.h"

namespace kvnet::daemon {

using namespace kvnet::ctl;

Service::~Service() = default;

Service::Service(std::unique_ptr<Store> store, io::Runtime& rt, BackendOpener opener, ServiceOptions opts)
    : store_(std::move(store)),
      dp_(rt),
      opts_(opts),
      applier_(*store_, dp_, std::move(opener), opts.manage_containers),
      live_(applier_.live()),
      vanished_(applier_.vanished()) {
  applier_.set_parked_reason([this](const Topology& next, const std::string& port) { return parked_nic_reason(next, port); });
}

void Service::set_ct_dhcp(CtDhcpClients* c) {
  ct_dhcp_ = c;
  applier_.set_ct_dhcp(c);
}

void Service::set_gateway_host(GatewayHost* h) {
  gws_ = h;
  applier_.set_gateway_host(h);
}

// Every verb kvnetd answers: the objects' tables, in one explicit list.
const std::vector<Verb>& Service::commands() {
  static const std::vector<Verb> kAll = [] {
    std::vector<Verb> all;
    for (std::span<const Verb> t : {config_verbs(), bridge_verbs(), port_verbs(), fdb_verbs(), stats_verbs(),
                                    trace_verbs(), sg_verbs(), gw_verbs(), mirror_verbs(), ct_verbs(), vm_verbs(), cluster_verbs(), image_verbs(),
                                    migrate_verbs(), fastpath_verbs(), ovs_verbs(), flow_verbs()})
      all.insert(all.end(), t.begin(), t.end());
    return all;
  }();
  return kAll;
}

// ------------------------------------------------------------ the verbs' facade

VerbContext::VerbContext(Service& s)
    : cur_(s.cur_),
      dp_(s.dp_),
      live_(s.live_),
      vanished_(s.vanished_),
      warnings_(s.warnings_),
      vms_(s.vms_),
      gws_(s.gws_),
      ct_dhcp_(s.ct_dhcp_),
      cluster_(s.cluster_),
      images_(s.images_),
      fast_(s.fast_),
      fast_off_(s.fast_off_),
      manage_containers_(s.opts_.manage_containers),
      s_(s) {}

const std::string& VerbContext::store_path() const { return s_.store_->path(); }
Result<ctl::Plan> VerbContext::commit(const Topology& next) { return s_.commit(next); }
json VerbContext::change_result(const ctl::Plan& p) const { return s_.change_result(p); }
Result<json> VerbContext::commit_json(const Topology& next) { return s_.commit_json(next); }
Topology& VerbContext::edit(const ctl::Scope& scope) { return s_.edit(scope); }
Status VerbContext::check_vms(const Topology& next, const ctl::Plan& p) const { return s_.check_vms(next, p); }
std::string VerbContext::vm_owning_port(const std::string& port) const { return s_.vm_owning_port(port); }
Status VerbContext::start_vm(const ctl::VmSpec& vm) { return s_.start_vm(vm); }
void VerbContext::keep_vm_disks(bool yes) { s_.keep_disks_ = yes; }
bool VerbContext::fill_vm_disks(ctl::Topology& t) const { return s_.fill_vm_disks(t); }
OvsBinding& VerbContext::ovs() { return s_.ovs_binding(); }

OvsBinding& Service::ovs_binding() {
  if (!ovs_)
    ovs_ = std::make_unique<OvsBinding>(OvsBinding::Source{
        .config = [this]() -> const Topology& { return cur_; },
        .change = [this](const Topology& next) { return change(next); },
        .counters = [this] { return dp_.counters(); },
        .detached = [this] { return vanished_; },
        .version = "0.1.0"});
  return *ovs_;
}
Result<json> VerbContext::migrate_vm(const std::string& name, const std::string& to, uint32_t max_downtime_ms,
                                     uint64_t bandwidth_mbps, bool cancel) {
  return s_.vm_migrate(name, to, max_downtime_ms, bandwidth_mbps, cancel);
}
json VerbContext::migration_of(const std::string& vm) const { return s_.migration_of(vm); }
void VerbContext::restart_when_stopped(const std::string& vm, bool yes) {
  if (yes) s_.restart_pending_.insert(vm);
  else s_.restart_pending_.erase(vm);
}

json Service::handle(const json& req) {
  json answer;
  try {
    if (!req.is_object() || !req.contains("cmd") || !req["cmd"].is_string()) {
      answer = {{"ok", false}, {"error", "request must be a JSON object with a string 'cmd'"}};
    } else {
      const std::string cmd = req["cmd"].get<std::string>();
      const Verb* c = nullptr;
      for (const auto& x : commands())
        if (cmd == x.name) c = &x;
      if (!c) {
        answer = {{"ok", false}, {"error", "unknown command '" + valid_utf8(cmd) + "'"}};
      } else {
        warnings_.clear();
        auto r = c->handler(*this, Args(req));
        if (r) {
          // Warnings of an answer that is not an object (a list read from
          // the last known state, say) travel beside it.
          const bool in_result = r->is_object() && r->contains("warnings");
          answer = {{"ok", true}, {"result", std::move(*r)}};
          if (!warnings_.empty() && !in_result) answer["warnings"] = warnings_;
        } else {
          answer = {{"ok", false}, {"error", valid_utf8(r.error().message)}};
        }
      }
    }
  } catch (const std::exception& e) {
    answer = {{"ok", false}, {"error", valid_utf8(std::string("internal error: ") + e.what())}};
  }
  settle_work();  // an edit the verb did not commit (it failed) is put back
  return answer;
}

// ------------------------------------------------------------ applying

Topology& Service::edit(const ctl::Scope& scope) {
  settle_work();
  if (!work_) make_work();
  work_out_ = scope;
  return *work_;
}

// The working copy, made after each whole change (whose cost follows the
// configuration anyway), so that the next scoped edit does not pay for it.
// Both copies' port lists get room to grow: a port added to a full list
// would move the whole list (and fault its pages in) in both.
void Service::make_work() {
  work_ = cur_;
  for (size_t i = 0; i < cur_.bridges.size(); ++i) {
    const size_t room = cur_.bridges[i].ports.size() + cur_.bridges[i].ports.size() / 4 + 16;
    cur_.bridges[i].ports.reserve(room);
    work_->bridges[i].ports.reserve(room);
  }
}

void Service::settle_work() {
  if (!work_out_) return;
  if (work_) ctl::copy_scope(cur_, *work_, *work_out_);
  work_out_.reset();
}

Result<ctl::Plan> Service::commit(const Topology& given) {
  // The store's remote members are not in a file: a configuration read from
  // one gets this host's (the working copy has them).
  struct KeepOnce {  // keep_disks_ holds for this commit only
    bool& b;
    ~KeepOnce() { b = false; }
  } keep_once{keep_disks_};
  std::optional<Topology> own;  // a copy only when `given` needs one (configurations can be large)
  const bool needs_disk = vms_ && std::any_of(given.vms.begin(), given.vms.end(), [](const ctl::VmSpec& v) {
                            return !v.image.empty() && v.disk.empty();
                          });
  if (!(work_ && &given == &*work_) && (needs_disk || given.remote_members != cur_.remote_members)) {
    own = given;
    fill_vm_disks(*own);
    own->remote_members = cur_.remote_members;
  }
  const Topology& next = own ? *own : given;
  const bool scoped = work_ && &next == &*work_ && work_out_;
  const ctl::Scope scope = scoped ? *work_out_ : ctl::Scope::all();
  if (auto s = validate(next, ParseOptions{.allow_dangling_patches = true}, scope); !s) return s.error();
  ctl::Plan p = plan(cur_, next, scope);
  if (p.empty()) return p;
  if (auto s = check_vms(next, p); !s) return s.error();
  TRY(made, make_vm_disks(next, p));
  for (auto& w : new_warnings(cur_, next)) warnings_.push_back(std::move(w));
  const Topology before = p.vms_removed.empty() ? Topology{} : cur_;
  if (auto s = apply(next, p, Mode::kChange); !s) {
    std::error_code ec;
    for (const auto& d : made) std::filesystem::remove(d, ec);
    return s.error();
  }
  vms_after_commit(p, nullptr);
  drop_vm_disks(before, p);
  return p;
}

Result<ctl::Plan> Service::change(const Topology& next) {
  settle_work();
  warnings_.clear();
  try {
    return commit(next);
  } catch (const std::exception& e) {
    return Error{std::string("internal error: ") + e.what()};
  }
}

json Service::change_result(const ctl::Plan& p) const {
  json added = json::array(), removed = json::array();
  for (const auto& l : p.lines) {
    if (l.what != "port") continue;
    if (l.op == '+') added.push_back(l.object);
    if (l.op == '-') removed.push_back(l.object);
  }
  json j{{"changed", !p.empty()}, {"changes", p.text()}, {"ports_added", added}, {"ports_removed", removed}};
  if (!warnings_.empty()) j["warnings"] = warnings_;
  return j;
}

Result<json> Service::commit_json(const Topology& next) {
  TRY(p, commit(next));
  return change_result(p);
}

Status Service::restore() {
  auto t = store_->load();
  if (!t) return t.error();
  // VMs still running from before have their TAPs: re-attach them first, so
  // that their ports open instead of being parked.
  if (vms_)
    for (const auto& v : t->vms) vms_->reattach(v);
  // vx-cluster's stations come from the store, not from here (a database
  // of an earlier kvnet may hold some as static entries).
  if (BridgeSpec* br = t->find_bridge(kIntegrationBridge))
    std::erase_if(br->fdb, [](const FdbSpec& f) { return f.port == kClusterTunnel; });
  const ctl::Plan p = plan(Topology{}, *t);
  if (auto s = apply(*t, p, Mode::kRestore); !s) return s;
  restore_vms();
  return Ok{};
}

Status Service::apply(const Topology& next, const ctl::Plan& plan, Mode mode) {
  if (auto s = applier_.apply(cur_, next, plan, mode); !s) return s;
  if (work_ && &next == &*work_ && work_out_) {
    // A scoped edit: the working copy becomes the configuration, and the
    // old configuration the working copy, brought up to date by the scope.
    std::swap(cur_, *work_);
    cur_.warnings.clear();
    ctl::copy_scope(cur_, *work_, plan.scope);
    work_out_.reset();
  } else {
    cur_ = next;
    make_work();
  }
  if (ct_dhcp_ && opts_.manage_containers && (mode == Mode::kRestore || !plan.containers_added.empty()))
    ct_dhcp_->sync(cur_.containers);
  cur_.warnings.clear();  // told once, with the change that brought them
  if (work_) work_->warnings.clear();
  if (cluster_) {  // a network new or gone here changes what br-int has from the store
    const auto& added = plan.bridges_added;
    bool fresh = std::find(added.begin(), added.end(), kIntegrationBridge) != added.end();
    for (const auto& r : plan.ports_added) fresh |= r.port == kClusterTunnel;
    sync_cluster(fresh);
    sync_bindings();  // a port's groups changed: its binding says so
  }
  if (ovs_) ovs_->sync();  // OVSDB's monitors see every change
  return Ok{};
}

int Service::retry_vanished() {
  const int n = applier_.retry_vanished(cur_);
  if (n && cluster_) sync_cluster(true);  // a vx-cluster that came back knows none of its stations
  return n;
}
void Service::park_port(const std::string& name, const std::string& why) { applier_.park_port(name, why); }
bool Service::reopen_port(const std::string& name) { return applier_.reopen_port(cur_, name); }
void Service::shutdown() { applier_.shutdown(); }

// ------------------------------------------------------------ verbs

}  // namespace kvnet::daemon
