#include "daemon/service.h"

#include <filesystem>
#include <set>
#include <sys/stat.h>

#include "base/text.h"
#include "ctl/firewall_build.h"
#include "ctl/flow_spec.h"
#include "ctl/kinds/patch.h"
#include "ctl/kinds/pcap.h"
#include "ctl/report.h"
#include "ctl/trace_run.h"
#include "ctl/warnings.h"
#include "daemon/gateway_host.h"
#include "ctl/mtu.h"
#include "daemon/netns.h"
#include "daemon/service_args.h"
#include "daemon/vm_host.h"

namespace kvnet::daemon {

using namespace kvnet::ctl;

namespace {

// A port whose kernel interface is missing: configured, but nothing moves.
class VanishedBackend final : public dp::PortBackend {
 public:
  explicit VanishedBackend(std::string why) : why_(std::move(why)) {}
  bool accepts_offload() const override { return true; }
  uint32_t send(net::FrameBatch& b, net::FramePool& pool) override {
    pool.put(b);
    return 0;
  }
  std::string describe() const override { return "vanished: " + why_; }

 private:
  std::string why_;
};

// Undo actions of a change: run in reverse unless the change is committed.
class ChangeTxn {
 public:
  ~ChangeTxn() {
    if (!committed_)
      for (auto it = undo_.rbegin(); it != undo_.rend(); ++it) (*it)();
  }
  void on_undo(std::function<void()> f) { undo_.push_back(std::move(f)); }
  void commit() { committed_ = true; }

 private:
  std::vector<std::function<void()>> undo_;
  bool committed_ = false;
};

bool contains(const std::vector<PortRef>& v, const PortRef& r) { return std::find(v.begin(), v.end(), r) != v.end(); }


}  // namespace

BackendOpener kernel_backends(const std::string& pcap_dir) {
  namespace fs = std::filesystem;
  return [pcap_dir](const PortSpec& p) -> Result<std::unique_ptr<dp::PortBackend>> {
    if (const auto* o = p.as<PcapOptions>(); o && !o->tx.empty()) {
      // kvnetd runs as root: it writes captures only into its own directory,
      // and never through a symbolic link.
      const fs::path dir = fs::path(pcap_dir).lexically_normal();
      const fs::path file = fs::path(o->tx).lexically_normal();
      const auto rel = file.lexically_relative(dir);
      if (!file.is_absolute() || rel.empty() || *rel.begin() == ".." || rel.has_parent_path())
        return Error{"port '" + p.name + "': tx '" + o->tx + "' is outside kvnetd's capture directory '" +
                     dir.string() + "' (kvnetd writes pcap files only there)"};
      std::error_code ec;
      fs::create_directories(dir, ec);
      struct stat st{};
      if (lstat(file.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
        return Error{"port '" + p.name + "': tx '" + o->tx + "' exists and is not a regular file"};
    }
    return p.kind->open(p);
  };
}

Service::Service(std::unique_ptr<Store> store, io::Runtime& rt, BackendOpener opener, ServiceOptions opts)
    : store_(std::move(store)), dp_(rt), opener_(std::move(opener)), opts_(opts) {}

const std::vector<Service::Command>& Service::commands() {
  static const std::vector<Command> kCommands = {
      {"ping", false, &Service::ping},
      {"add-br", true, &Service::add_br},
      {"del-br", true, &Service::del_br},
      {"list-br", false, &Service::list_br},
      {"add-port", true, &Service::add_port},
      {"del-port", true, &Service::del_port},
      {"set-port", true, &Service::set_port},
      {"set-bridge", true, &Service::set_bridge},
      {"fdb-add", true, &Service::fdb_add},
      {"fdb-del", true, &Service::fdb_del},
      {"fdb-show", false, &Service::fdb_show},
      {"fdb-flush", false, &Service::fdb_flush, true},
      {"show", false, &Service::show},
      {"get", false, &Service::get},
      {"stats", false, &Service::stats},
      {"stats-clear", false, &Service::stats_clear, true},
      {"pipeline", false, &Service::pipeline},
      {"trace", false, &Service::trace},
      {"draw", false, &Service::draw},
      {"apply", true, &Service::apply_file},
      {"export", false, &Service::export_yaml},
      {"ct-add", true, &Service::ct_add},
      {"ct-del", true, &Service::ct_del},
      {"ct-list", false, &Service::ct_list},
      {"kinds", false, &Service::kinds},
      {"sg-add", true, &Service::sg_add},
      {"sg-del", true, &Service::sg_del},
      {"sg-rule-add", true, &Service::sg_rule_add},
      {"sg-rule-del", true, &Service::sg_rule_del},
      {"sg-list", false, &Service::sg_list},
      {"sg-show", false, &Service::sg_show},
      {"conntrack-list", false, &Service::conntrack_list},
      {"conntrack-flush", false, &Service::conntrack_flush, true},
      {"vm-add", true, &Service::vm_add},
      {"vm-del", true, &Service::vm_del},
      {"vm-start", false, &Service::vm_start, true},
      {"vm-stop", false, &Service::vm_stop, true},
      {"vm-kill", false, &Service::vm_kill, true},
      {"vm-restart", false, &Service::vm_restart, true},
      {"vm-list", false, &Service::vm_list},
      {"vm-show", false, &Service::vm_show},
      {"vm-console", false, &Service::vm_console},
      {"gw-add", true, &Service::gw_add},
      {"gw-del", true, &Service::gw_del},
      {"gw-list", false, &Service::gw_list},
      {"gw-show", false, &Service::gw_show},
      {"mirror-add", true, &Service::mirror_add},
      {"mirror-del", true, &Service::mirror_del},
      {"mirror-list", false, &Service::mirror_list},
  };
  return kCommands;
}

json Service::handle(const json& req) {
  json answer;
  try {
    if (!req.is_object() || !req.contains("cmd") || !req["cmd"].is_string()) {
      answer = {{"ok", false}, {"error", "request must be a JSON object with a string 'cmd'"}};
    } else {
      const std::string cmd = req["cmd"].get<std::string>();
      const Command* c = nullptr;
      for (const auto& x : commands())
        if (cmd == x.name) c = &x;
      if (!c) {
        answer = {{"ok", false}, {"error", "unknown command '" + valid_utf8(cmd) + "'"}};
      } else {
        warnings_.clear();
        auto r = (this->*(c->handler))(Args(req));
        if (r) answer = {{"ok", true}, {"result", std::move(*r)}};
        else answer = {{"ok", false}, {"error", valid_utf8(r.error().message)}};
      }
    }
  } catch (const std::exception& e) {
    answer = {{"ok", false}, {"error", valid_utf8(std::string("internal error: ") + e.what())}};
  }
  return answer;
}

// ------------------------------------------------------------ applying

Result<ctl::Plan> Service::commit(const Topology& next) {
  if (auto s = validate(next, ParseOptions{.allow_dangling_patches = true}); !s) return s.error();
  ctl::Plan p = plan(cur_, next);
  if (p.empty()) return p;
  if (auto s = check_vms(next, p); !s) return s.error();
  for (auto& w : new_warnings(cur_, next)) warnings_.push_back(std::move(w));
  if (auto s = apply(next, p, Mode::kChange); !s) return s.error();
  vms_after_commit(p, nullptr);
  return p;
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
  const ctl::Plan p = plan(Topology{}, *t);
  if (auto s = apply(*t, p, Mode::kRestore); !s) return s;
  restore_vms();
  return Ok{};
}

// The state of one apply, shared by its steps.
struct Service::Applying {
  const Topology& next;
  const ctl::Plan& plan;
  bool restoring;
  io::Change change;  // before txn: backends outlive the undo actions that use them
  ChangeTxn txn;
  std::map<std::string, std::string> parked;  // port -> why it has no backend
  std::set<std::string> added_cts;            // containers created (or re-created)
  std::set<std::string> removed_names;        // ports removed, incl. re-created ones
  std::map<std::string, size_t> added_index;  // port -> index in change.add_ports
  std::vector<std::pair<size_t, const PortSpec*>> deferred;  // opened after the datapath let go

  io::PortRef ref(const std::string& port, const std::map<std::string, Live>& live) const {
    if (auto it = added_index.find(port); it != added_index.end()) return {true, static_cast<uint32_t>(it->second)};
    return {false, live.at(port).id};
  }
};

Status Service::apply(const Topology& next, const ctl::Plan& plan, Mode mode) {
  Applying a{next, plan, mode == Mode::kRestore};
  if (auto s = create_containers(a); !s) return s;
  if (auto s = open_backends(a); !s) return s;
  if (auto s = apply_gateways(a); !s) return s;
  if (auto s = apply_device_mtus(a); !s) return s;
  // The store: one transaction. Past this point the change happens.
  if (!a.restoring)
    if (auto s = store_->save(next); !s) return s;
  a.txn.commit();
  fill_change(a);
  std::vector<dp::PortBackend*> backends;
  for (const auto& p : a.change.add_ports) backends.push_back(p.backend.get());
  io::ChangeResult res = dp_.apply(std::move(a.change));  // between two batches
  finish(a, res, backends);
  return Ok{};
}

// Containers: a changed one is destroyed first, new ones are created.
Status Service::create_containers(Applying& a) {
  for (const auto& c : a.plan.containers_added) a.added_cts.insert(c.name);
  if (!opts_.manage_containers) return Ok{};
  for (const auto& o : a.plan.containers_removed)
    if (a.added_cts.count(o.name)) {
      container_destroy(o.name, o.port).ok();
      a.txn.on_undo([o] { container_ensure(o).ok(); });
    }
  // Endpoints get the MTU their bridge can carry (ctl/mtu.h); measured only
  // when a container or a port comes or goes.
  const bool ports_changed = !a.plan.containers_added.empty() || !a.plan.ports_added.empty() ||
                             !a.plan.ports_removed.empty() || !a.plan.ports_reconfigured.empty();
  const auto mtus = ports_changed ? ctl::bridge_mtus(a.next) : std::map<std::string, uint32_t>{};
  for (const auto& c : a.plan.containers_added) {
    const uint32_t mtu = ctl::endpoint_mtu(a.next, c.port, mtus);
    auto s = a.restoring ? container_ensure(c, mtu) : container_create(c, mtu);
    if (!s) {
      if (!a.restoring) return s;
      a.parked[c.port] = s.error().message;
      continue;
    }
    if (!a.restoring) a.txn.on_undo([c] { container_destroy(c.name, c.port).ok(); });
  }
  // Containers that stay: a tunnel came or went on their bridge.
  if (ports_changed && !a.restoring && !a.next.containers.empty()) {
    const auto old_mtus = ctl::bridge_mtus(cur_);
    for (const auto& c : a.next.containers) {
      if (a.added_cts.count(c.name) || !netns_exists(c.name)) continue;
      const uint32_t before = ctl::endpoint_mtu(cur_, c.port, old_mtus);
      const uint32_t after = ctl::endpoint_mtu(a.next, c.port, mtus);
      if (before == after) continue;
      if (auto s = container_set_mtu(c, after); !s) return s;
      a.txn.on_undo([c, before] { container_set_mtu(c, before).ok(); });
    }
  }
  return Ok{};
}

// Backends of new ports, opened by their kind. A device only one holder may
// open (a TAP) that the old port still holds is opened after the datapath
// let it go. Restoring, a backend that cannot be opened is parked.
Status Service::open_backends(Applying& a) {
  for (const auto& r : a.plan.ports_removed) a.removed_names.insert(r.port);
  for (const auto& b : a.plan.bridges_removed)
    for (const auto& p : cur_.find_bridge(b)->ports) a.removed_names.insert(p.name);
  for (const auto& ref : a.plan.ports_added) {
    const PortSpec& p = *a.next.find_bridge(ref.bridge)->find_port(ref.port);
    io::Change::AddPort add{ref.bridge, p.name, p.kind->tag(), p.mtu, p.vlan, nullptr};
    a.added_index[p.name] = a.change.add_ports.size();
    const PortSpec* old = cur_.find_port(p.name);
    if (p.kind->is_patch()) {
      // no backend: the datapath hands its frames to the peer
    } else if (old && a.removed_names.count(p.name) && old->kind->exclusive_device() && p.kind->exclusive_device()) {
      a.deferred.push_back({a.change.add_ports.size(), &p});
      add.backend = std::make_unique<VanishedBackend>("re-opening");
    } else if (a.parked.count(p.name)) {
      add.backend = std::make_unique<VanishedBackend>(a.parked[p.name]);
    } else if (auto why = parked_nic_reason(a.next, p.name); !why.empty()) {
      a.parked[p.name] = why;  // a stopped VM's NIC: its TAP comes with the VM
      add.backend = std::make_unique<VanishedBackend>(why);
    } else if (auto be = opener_(p); !be) {
      if (!a.restoring) return be.error();
      a.parked[p.name] = be.error().message;
      add.backend = std::make_unique<VanishedBackend>(be.error().message);
    } else {
      add.backend = std::move(*be);
      dp::PortBackend* raw = add.backend.get();
      if (!a.restoring) a.txn.on_undo([raw] { raw->abandon(); });
    }
    a.change.add_ports.push_back(std::move(add));
  }
  return Ok{};
}

// The gateways' kernel side, once their ports' interfaces exist: the whole
// set is applied; a failure (or a later one) applies the old set again.
Status Service::apply_gateways(Applying& a) {
  if (!gws_) return Ok{};
  if (!a.restoring && !a.plan.gateways_touched()) return Ok{};
  std::map<std::string, uint32_t> mtus;  // DHCP option 26: what the gateway's bridge carries (ctl/mtu.h)
  for (const auto& gw : a.next.gateways)
    if (const auto m = ctl::bridge_mtu(a.next, gw.bridge); m && *m < dp::kDefaultMtu) mtus[gw.name] = *m;
  gws_->set_dhcp_mtus(std::move(mtus));
  if (a.restoring) return gws_->apply(a.next.gateways, true);
  a.txn.on_undo([this, old = cur_.gateways] { gws_->apply(old, false).ok(); });
  return gws_->apply(a.next.gateways, false);
}

// A changed `mtu` of a port whose device kvnet owns (TAP, internal) is the
// device's kernel MTU too; undone if the change fails later.
Status Service::apply_device_mtus(Applying& a) {
  for (const auto& r : a.plan.ports_reconfigured) {
    const PortSpec& p = *a.next.find_bridge(r.bridge)->find_port(r.port);
    const PortSpec* old = cur_.find_port(r.port);
    const auto it = live_.find(r.port);
    if (!old || old->mtu == p.mtu || it == live_.end() || !it->second.backend || vanished_.count(r.port)) continue;
    dp::PortBackend* be = it->second.backend;
    if (auto s = be->set_device_mtu(p.mtu); !s) return Error{"port '" + r.port + "': " + s.error().message};
    a.txn.on_undo([be, m = old->mtu] { be->set_device_mtu(m).ok(); });
  }
  return Ok{};
}

// The rest of the datapath command: what goes, what changes, patch links and
// static entries (the plan's, and those of re-created ports: removing a port
// forgets its entries).
void Service::fill_change(Applying& a) {
  const ctl::Plan& plan = a.plan;
  io::Change& c = a.change;
  for (const auto& [bridge, f] : plan.fdb_removed) c.fdb_remove.push_back({bridge, f.vlan, f.mac, {}, {}});
  for (const auto& r : plan.ports_removed)
    if (auto it = live_.find(r.port); it != live_.end()) c.remove_ports.push_back(it->second.id);
  c.remove_bridges = plan.bridges_removed;
  for (const auto& name : plan.bridges_added) {
    const BridgeSpec& b = *a.next.find_bridge(name);
    c.add_bridges.push_back({b.name, b.type, b.settings});
  }
  for (const auto& name : plan.bridges_changed) c.bridge_settings.push_back({name, a.next.find_bridge(name)->settings});
  for (const auto& r : plan.ports_reconfigured) {
    const PortSpec& p = *a.next.find_bridge(r.bridge)->find_port(r.port);
    c.reconfigure.push_back({live_.at(r.port).id, p.vlan, p.mtu});
  }
  for (const auto& ref : plan.ports_added) {
    const auto* o = a.next.find_bridge(ref.bridge)->find_port(ref.port)->as<PatchOptions>();
    if (!o) continue;
    const BridgeSpec* pb = a.next.find_bridge(o->peer_bridge);
    const bool peer_there = a.added_index.count(o->peer_port) ||
                            (live_.count(o->peer_port) && !a.removed_names.count(o->peer_port));
    if (pb && pb->find_port(o->peer_port) && peer_there)
      c.patches.push_back({a.ref(ref.port, live_), a.ref(o->peer_port, live_)});
  }
  // Firewalls: ports whose policy changed (rules, membership, addresses),
  // and every added port that has one (a re-created port starts bare).
  std::set<std::string> fw_ports = ctl::affected_ports(cur_, a.next);
  for (const auto& ref : plan.ports_added)
    if (ctl::build_firewall(a.next, ref.port)) fw_ports.insert(ref.port);
  for (const auto& name : fw_ports) {
    if (!a.added_index.count(name) && (!live_.count(name) || a.removed_names.count(name))) continue;
    c.firewalls.push_back({a.ref(name, live_), ctl::build_firewall(a.next, name)});
  }
  std::set<std::tuple<std::string, uint16_t, uint64_t>> seen;
  auto add_fdb = [&](const std::string& bridge, const FdbSpec& f) {
    if (seen.insert({bridge, f.vlan, f.mac}).second)
      c.fdb_add.push_back({bridge, f.vlan, f.mac, a.ref(f.port, live_), f.remote_ip});
  };
  for (const auto& [bridge, f] : plan.fdb_added) add_fdb(bridge, f);
  for (const auto& b : a.next.bridges)
    for (const auto& f : b.fdb)
      if (contains(plan.ports_added, {b.name, f.port})) add_fdb(b.name, f);
  // Mirrors: each bridge's whole list, with every change (a port they name
  // may have been re-created under a new id); the datapath keeps counters by name.
  for (const auto& b : a.next.bridges) {
    const BridgeSpec* ob = cur_.find_bridge(b.name);
    if (b.mirrors.empty() && (!ob || ob->mirrors.empty())) continue;
    std::vector<io::Change::Mirror> list;
    for (const auto& m : b.mirrors) {
      io::Change::Mirror x{m.name, m.select_all, {}, {}, {}, {}, m.output_vlan};
      for (const auto& p : m.src_ports) x.src.push_back(a.ref(p, live_));
      for (const auto& p : m.dst_ports) x.dst.push_back(a.ref(p, live_));
      if (m.vlans.any()) x.vlans = m.vlans;
      if (!m.output_port.empty()) x.out_port = a.ref(m.output_port, live_);
      list.push_back(std::move(x));
    }
    c.mirrors.emplace_back(b.name, std::move(list));
  }
}

// After the datapath changed: bookkeeping, backends closed here on the
// control thread (a port gone for good removes what it kept: an internal
// port's TAP), deferred devices opened, gone containers removed.
void Service::finish(Applying& a, io::ChangeResult& res, const std::vector<dp::PortBackend*>& backends) {
  for (const auto& name : a.removed_names) {
    live_.erase(name);
    vanished_.erase(name);
  }
  for (size_t i = 0; i < a.plan.ports_added.size(); ++i) live_[a.plan.ports_added[i].port] = {res.added_ids[i], backends[i]};
  for (auto& [name, be] : res.removed) {
    const PortSpec* before = cur_.find_port(name);
    const PortSpec* after = a.next.find_port(name);
    if (!a.added_index.count(name) || !before || !after || before->kind != after->kind) be->removed();
  }
  res.removed.clear();
  for (const auto& [i, p] : a.deferred) {
    auto be = opener_(*p);
    Live& l = live_[p->name];
    if (!be) {
      a.parked[p->name] = be.error().message;
      l.backend = nullptr;
      dp_.swap_backend(l.id, std::make_unique<VanishedBackend>(be.error().message));
      continue;
    }
    l.backend = be->get();
    dp_.swap_backend(l.id, std::move(*be));
  }
  if (opts_.manage_containers)
    for (const auto& o : a.plan.containers_removed)
      if (!a.added_cts.count(o.name)) container_destroy(o.name, o.port).ok();
  for (const auto& [name, why] : a.parked) vanished_[name] = why;
  cur_ = a.next;
  cur_.warnings.clear();  // told once, with the change that brought them
}

int Service::retry_vanished() {
  // Ports whose device went away while running: park them like at restore.
  // The liveness check (a syscall) runs here, on the control thread.
  std::vector<std::string> failed = dp_.failed_ports();
  for (const auto& [name, l] : live_)
    if (l.backend && !vanished_.count(name) && !l.backend->check_alive()) failed.push_back(name);
  for (const auto& name : failed) {
    auto it = live_.find(name);
    if (it == live_.end() || vanished_.count(name)) continue;
    const std::string why = "interface '" + name + "' went away";
    vanished_[name] = why;
    it->second.backend = nullptr;
    dp_.swap_backend(it->second.id, std::make_unique<VanishedBackend>(why));  // the old one closes here
  }
  int back = 0;
  for (auto it = vanished_.begin(); it != vanished_.end();) {
    const PortSpec* ps = cur_.find_port(it->first);
    auto l = live_.find(it->first);
    if (!ps || l == live_.end()) {
      it = vanished_.erase(it);
      continue;
    }
    auto r = opener_(*ps);
    if (!r) {
      ++it;
      continue;
    }
    l->second.backend = r->get();
    dp_.swap_backend(l->second.id, std::move(*r));
    it = vanished_.erase(it);
    ++back;
  }
  return back;
}

void Service::park_port(const std::string& name, const std::string& why) {
  auto l = live_.find(name);
  if (l == live_.end()) return;
  vanished_[name] = why;
  l->second.backend = nullptr;
  dp_.swap_backend(l->second.id, std::make_unique<VanishedBackend>(why));  // the old one closes here
}

bool Service::reopen_port(const std::string& name) {
  const PortSpec* ps = cur_.find_port(name);
  auto l = live_.find(name);
  if (!ps || l == live_.end()) return false;
  auto r = opener_(*ps);
  if (!r) {
    vanished_[name] = r.error().message;
    return false;
  }
  l->second.backend = r->get();
  dp_.swap_backend(l->second.id, std::move(*r));
  vanished_.erase(name);
  return true;
}

void Service::shutdown() {
  dp_.remove_all();  // backends close here, on this thread; internal ports' TAPs stay
  live_.clear();
}

// ------------------------------------------------------------ verbs

Result<json> Service::add_br(const Args& a) {
  TRY(name, a.str("bridge"));
  TRY(may_exist, a.flag("may_exist"));
  if (cur_.find_bridge(name)) {
    if (may_exist) return json{{"changed", false}, {"changes", json::array()}};
    return Error{"bridge '" + name + "' already exists"};
  }
  TRY(type, a.str("type", false));
  TRY(settings, a.settings());
  TRY(b, make_bridge(name, type, settings));
  Topology next = cur_;
  next.bridges.push_back(std::move(b));
  return commit_json(next);
}

Result<json> Service::del_br(const Args& a) {
  TRY(name, a.str("bridge"));
  TRY(if_exists, a.flag("if_exists"));
  if (!cur_.find_bridge(name)) {
    if (if_exists) return json{{"changed", false}, {"changes", json::array()}};
    return Error{"bridge '" + name + "' does not exist"};
  }
  for (const auto& g : cur_.gateways)
    if (g.bridge == name) return Error{"bridge '" + name + "' has gateway '" + g.name + "': 'gw del " + g.name + "' first"};
  for (const auto& p : cur_.find_bridge(name)->ports)
    if (auto owner = vm_owning_port(p.name); !owner.empty())
      return Error{"bridge '" + name + "' has port '" + p.name + "' of vm '" + owner + "': 'vm del " + owner + "' first"};
  TRY(with_containers, a.flag("with_containers"));
  std::string cts;
  for (const auto& c : cur_.containers)
    if (c.bridge == name) cts += (cts.empty() ? "'" : ", '") + c.name + "'";
  if (!cts.empty() && !with_containers)
    return Error{"bridge '" + name + "' has containers " + cts + ": 'del-br " + name +
                 " --with-containers' deletes them too (or 'ct del' them first)"};
  Topology next = cur_;
  std::erase_if(next.bridges, [&](const BridgeSpec& b) { return b.name == name; });
  std::erase_if(next.containers, [&](const ContainerSpec& c) { return c.bridge == name; });
  // Patch ports elsewhere that pointed into this bridge now dangle: allowed.
  return commit_json(next);
}

Result<json> Service::ping(const Args&) { return json{{"version", "0.1.0"}}; }

Result<json> Service::list_br(const Args&) {
  json out = json::array();
  for (const auto& b : cur_.bridges) out.push_back(b.name);
  return out;
}

Result<json> Service::add_port(const Args& a) {
  TRY(br, a.str("bridge"));
  TRY(port, a.str("port"));
  TRY(may_exist, a.flag("may_exist"));
  TRY(settings, a.settings());
  BridgeSpec* b = cur_.find_bridge(br);
  if (!b) return Error{"bridge '" + br + "' does not exist"};
  if (const BridgeSpec* ob = nullptr; cur_.find_port(port, &ob)) {
    if (may_exist && ob->name == br) return json{{"changed", false}, {"changes", json::array()}};
    return Error{"port '" + port + "' already exists on bridge '" + ob->name + "'"};
  }
  TRY(p, make_port(*b, port, settings, &warnings_));
  Topology next = cur_;
  next.find_bridge(br)->ports.push_back(std::move(p));
  return commit_json(next);
}

Result<json> Service::del_port(const Args& a) {
  TRY(port, a.str("port"));
  TRY(br, a.str("bridge", false));
  TRY(if_exists, a.flag("if_exists"));
  const BridgeSpec* ob = nullptr;
  if (!cur_.find_port(port, &ob) || (!br.empty() && ob->name != br)) {
    if (if_exists) return json{{"changed", false}, {"changes", json::array()}};
    return Error{"port '" + port + "' does not exist" + (br.empty() ? "" : " on bridge '" + br + "'")};
  }
  for (const auto& c : cur_.containers)
    if (c.port == port) return Error{"port '" + port + "' belongs to container '" + c.name + "': use 'ct del " + c.name + "'"};
  if (auto owner = vm_owning_port(port); !owner.empty())
    return Error{"port '" + port + "' belongs to vm '" + owner + "' (its NIC or qbr patch pair): use 'vm del " + owner + "'"};
  if (gateway_of_port(cur_, port)) return Error{"port '" + port + "' is gateway '" + port + "''s port: use 'gw del " + port + "'"};
  Topology next = cur_;
  BridgeSpec* nb = next.find_bridge(ob->name);
  if (auto s = forget_mirrored_port(*nb, port); !s) return s.error();
  std::erase_if(nb->ports, [&](const PortSpec& p) { return p.name == port; });
  std::erase_if(nb->fdb, [&](const FdbSpec& f) { return f.port == port; });
  return commit_json(next);
}

Result<json> Service::set_port(const Args& a) {
  TRY(port, a.str("port"));
  TRY(settings, a.settings());
  const BridgeSpec* ob = nullptr;
  const PortSpec* op = cur_.find_port(port, &ob);
  if (!op) return Error{"port '" + port + "' does not exist"};
  for (const auto& [k, v] : settings)
    if (k == "type") return Error{"port '" + port + "': the type cannot be changed; delete the port and add it again"};
  TRY(p, update_port(*ob, *op, settings, &warnings_));
  Topology next = cur_;
  BridgeSpec* nb = next.find_bridge(ob->name);
  for (auto& q : nb->ports)
    if (q.name == port) q = std::move(p);
  return commit_json(next);
}

Result<json> Service::set_bridge(const Args& a) {
  TRY(br, a.str("bridge"));
  TRY(settings, a.settings());
  const BridgeSpec* b = cur_.find_bridge(br);
  if (!b) return Error{"bridge '" + br + "' does not exist"};
  for (const auto& [k, v] : settings)
    if (k == "type")
      return Error{"bridge '" + br + "': 'type' cannot be changed (mac_aging, mac_table_size, conntrack_max, conntrack_timeouts)"};
  TRY(nb, update_bridge(*b, settings));
  Topology next = cur_;
  *next.find_bridge(br) = std::move(nb);
  return commit_json(next);
}

namespace {

// The (bridge, VLAN, MAC) a static FDB verb names, checked.
struct FdbKey {
  std::string bridge, mac_text;
  uint16_t vlan;
  uint64_t mac;
};

Result<FdbKey> fdb_key(const Args& a, const Topology& t) {
  TRY(br, a.str("bridge"));
  TRY(mac, a.str("mac"));
  TRY(vlan, a.integer("vlan", 0, dp::kMaxVid));
  if (!t.find_bridge(br)) return Error{"bridge '" + br + "' does not exist"};
  auto m = net::Mac::parse(mac);
  if (!m) return Error{"mac '" + mac + "' is not a MAC address (aa:bb:cc:dd:ee:ff)"};
  return FdbKey{br, mac, static_cast<uint16_t>(vlan), m->u64()};
}

// Removes the entry of `k` from `t`; returns whether there was one.
bool erase_fdb(Topology& t, const FdbKey& k) {
  auto& fdb = t.find_bridge(k.bridge)->fdb;
  return std::erase_if(fdb, [&](const FdbSpec& f) { return f.vlan == k.vlan && f.mac == k.mac; }) > 0;
}

}  // namespace

Result<json> Service::fdb_add(const Args& a) {
  TRY(k, fdb_key(a, cur_));
  TRY(port, a.str("port"));
  TRY(remote, a.str("remote_ip", false));
  Topology next = cur_;
  erase_fdb(next, k);
  next.find_bridge(k.bridge)->fdb.push_back({k.vlan, k.mac, port, {}, remote});
  return commit_json(next);
}

Result<json> Service::fdb_del(const Args& a) {
  TRY(k, fdb_key(a, cur_));
  Topology next = cur_;
  if (!erase_fdb(next, k))
    return Error{"bridge '" + k.bridge + "': no static entry for " + k.mac_text + " in VLAN " + std::to_string(k.vlan)};
  return commit_json(next);
}

Result<json> Service::fdb_show(const Args& a) {
  TRY(br, a.str("bridge"));
  const BridgeSpec* b = cur_.find_bridge(br);
  if (!b) return Error{"bridge '" + br + "' does not exist"};
  if (b->type == dp::BridgeType::kHub) return Error{"bridge '" + br + "' is a hub: it has no FDB"};
  const auto entries = dp_.fdb_dump(br);
  std::map<uint32_t, std::string> names;
  for (const auto& [name, l] : live_) names[l.id] = name;
  const uint64_t now = io::now_ns();
  json out = json::array();
  for (const auto& [e, remote] : entries) {
    json j{{"vlan", e.vlan}, {"mac", net::Mac::from_u64(e.mac).str()}, {"port", names[e.port]}, {"static", e.is_static}};
    if (!e.is_static) j["age"] = now > e.last_seen_ns ? (now - e.last_seen_ns) / 1000000000ULL : 0;
    if (!remote.empty()) j["remote"] = remote;
    out.push_back(j);
  }
  return out;
}

Result<json> Service::fdb_flush(const Args& a) {
  TRY(br, a.str("bridge"));
  const BridgeSpec* b = cur_.find_bridge(br);
  if (!b) return Error{"bridge '" + br + "' does not exist"};
  if (b->type == dp::BridgeType::kHub) return Error{"bridge '" + br + "' is a hub: it has no FDB"};
  return json{{"flushed", dp_.fdb_flush(br)}};
}

Result<json> Service::show(const Args&) {
  json bridges = json::array();
  const auto mtus = ctl::bridge_mtus(cur_);  // what each bridge carries (ctl/mtu.h: tunnels measured)
  for (const auto& b : cur_.bridges) {
    json ports = json::array();
    for (const auto& p : b.ports) {
      json j{{"name", p.name}, {"type", std::string(p.kind->name())}, {"mtu", p.mtu}};
      Fields own;  // the kind's own settings (peer, tx, persistent ...)
      p.kind->emit(*p.options, own);
      for (const auto& f : own) j[f.key] = f.value;
      if (b.type == dp::BridgeType::kSwitch) {
        j["vlan_mode"] = std::string(dp::to_string(p.vlan.mode));
        j["pvid"] = p.vlan.pvid;
        if (p.vlan.allowed) j["allowed"] = dp::vlan_set_str(*p.vlan.allowed);
        if (p.vlan.tagged.any()) j["tagged"] = dp::vlan_set_str(p.vlan.tagged);
        if (p.vlan.untagged.any()) j["untagged"] = dp::vlan_set_str(p.vlan.untagged);
        // kvnet's default (documented): an access port of VLAN 1, as a
        // physical switch's port and a Linux bridge port (OVS: a trunk of all).
        j["vlan_default"] = p.vlan.mode == dp::VlanMode::kAccess && p.vlan.pvid == 1;
      }
      if (const auto* o = p.as<PatchOptions>()) {
        const BridgeSpec* pb = cur_.find_bridge(o->peer_bridge);
        const PortSpec* peer = pb ? pb->find_port(o->peer_port) : nullptr;
        if (!peer || !peer->as<PatchOptions>()) j["dangling"] = true;
      }
      if (auto it = live_.find(p.name); it != live_.end() && it->second.backend)
        j["backend"] = valid_utf8(it->second.backend->describe());  // syscalls: here, not on the datapath
      if (vanished_.count(p.name)) j["error"] = valid_utf8(vanished_[p.name]);
      ports.push_back(j);
    }
    json bj{{"name", b.name}, {"type", std::string(dp::to_string(b.type))}, {"ports", ports}};
    if (auto it = mtus.find(b.name); it != mtus.end()) bj["carried_mtu"] = it->second;
    if (b.type != dp::BridgeType::kHub) {
      bj["mac_aging"] = b.settings.mac_aging_sec;
      bj["mac_table_size"] = b.settings.mac_table_size;
    }
    bj["conntrack_max"] = b.settings.conntrack_max;
    json timeouts = json::object();
    for (const auto& [name, sec] : conntrack_timeout_values(b.settings.conntrack_timeouts)) timeouts[name] = sec;
    bj["conntrack_timeouts"] = timeouts;
    if (auto t = conntrack_timeouts_str(b.settings.conntrack_timeouts); !t.empty()) bj["conntrack_timeouts_changed"] = t;
    json mirrors = json::array();
    for (const auto& m : b.mirrors) mirrors.push_back(mirror_json(b, m));
    bj["mirrors"] = mirrors;
    bridges.push_back(bj);
  }
  json cts = json::array();
  for (const auto& c : cur_.containers) {
    const uint32_t m = ctl::endpoint_mtu(cur_, c.port, mtus);
    cts.push_back({{"name", c.name}, {"bridge", c.bridge}, {"port", c.port}, {"ip", c.ip}, {"gw", c.gw},
                   {"mtu", m ? m : dp::kDefaultMtu}});
  }
  return json{{"db", store_->path()}, {"bridges", bridges}, {"containers", cts}};
}

// ovs-vsctl's `get`: one key of a port or a bridge, as `show`/`export` name
// it; a key the object could have but does not is "" (or its default).
Result<json> Service::get(const Args& a) {
  TRY(table, a.str("table"));
  TRY(name, a.str("name"));
  TRY(key, a.str("key"));
  std::vector<std::pair<std::string, std::string>> values;  // in the order `show` gives them
  auto put = [&](const std::string& k, const std::string& v) {
    for (auto& kv : values)
      if (kv.first == k) return void(kv.second = v);
    values.push_back({k, v});
  };
  if (table == "port") {
    const BridgeSpec* b = nullptr;
    const PortSpec* p = cur_.find_port(name, &b);
    if (!p) return Error{"port '" + name + "' does not exist"};
    for (const char* k : {"name", "type", "bridge", "mtu", "security_groups", "port_security", "allowed_addresses"})
      put(k, "");
    for (const auto& kh : p->kind->keys()) put(std::string(kh.key), "");
    if (b->type == dp::BridgeType::kSwitch)
      for (const char* k : {"vlan_mode", "pvid", "allowed", "tagged", "untagged"}) put(k, "");
    put("bridge", b->name);
    put("mtu", std::to_string(p->mtu));
    put("port_security", "false");
    for (const auto& f : port_fields(*p, b->type)) put(f.key, f.value);
  } else if (table == "bridge") {
    const BridgeSpec* b = cur_.find_bridge(name);
    if (!b) return Error{"bridge '" + name + "' does not exist"};
    put("name", b->name);
    put("type", std::string(dp::to_string(b->type)));
    if (b->type != dp::BridgeType::kHub) {
      put("mac_aging", std::to_string(b->settings.mac_aging_sec));
      put("mac_table_size", std::to_string(b->settings.mac_table_size));
    }
    put("conntrack_max", std::to_string(b->settings.conntrack_max));
    std::string t;
    for (const auto& [n, sec] : conntrack_timeout_values(b->settings.conntrack_timeouts))
      t += (t.empty() ? "" : ",") + std::string(n) + ":" + std::to_string(sec);
    put("conntrack_timeouts", t);
    std::string ports;
    for (const auto& p : b->ports) ports += (ports.empty() ? "" : ",") + p.name;
    put("ports", ports);
  } else {
    return Error{"'" + table + "' is not a table (port, bridge)"};
  }
  for (const auto& [k, v] : values)
    if (k == key) return json{{"table", table}, {"name", name}, {"key", key}, {"value", v}};
  std::string keys;
  for (const auto& kv : values) keys += (keys.empty() ? "" : ", ") + kv.first;
  return Error{table + " '" + name + "' has no key '" + key + "' (" + keys + ")"};
}

Result<json> Service::stats(const Args& a) {
  TRY(only, a.str("port", false));
  if (!only.empty() && !cur_.find_port(only)) return Error{"port '" + only + "' does not exist"};
  json out = json::array();
  for (const auto& row : dp_.counters()) {
    if (!only.empty() && row.port != only) continue;
    json c = counters_json(row.counters);
    c["bridge"] = row.bridge;
    c["port"] = row.port;
    c["type"] = row.kind;
    c["captures"] = row.captures;
    out.push_back(c);
  }
  return out;
}

Result<json> Service::pipeline(const Args& a) {
  TRY(only, a.str("bridge", false));
  if (!only.empty() && !cur_.find_bridge(only)) return Error{"bridge '" + only + "' does not exist"};
  auto stages = [](const std::vector<io::StageRow>& rows) {
    json out = json::array();
    for (const auto& r : rows) {
      json c = json::object();
      for (const auto& [k, v] : r.counters) c[k] = v;
      out.push_back({{"name", r.name}, {"counters", c}});
    }
    return out;
  };
  json out = json::array();
  for (const auto& b : dp_.pipeline()) {
    if (!only.empty() && b.bridge != only) continue;
    json ports = json::array();
    for (const auto& p : b.ports)
      ports.push_back({{"port", p.port}, {"ingress", stages(p.ingress)}, {"egress", stages(p.egress)}});
    out.push_back({{"bridge", b.bridge},
                   {"type", std::string(dp::to_string(b.type))},
                   {"ingress", stages(b.ingress)},
                   {"forward", std::string(dp::forward_summary(b.type))},
                   {"egress", stages(b.egress)},
                   {"ports", ports}});
  }
  return out;
}

Result<json> Service::trace(const Args& a) {
  TRY(tr, live_trace(a));
  json j = render_trace_json(tr);
  j["text"] = render_trace_text(tr);
  return j;
}

Result<TraceResult> Service::live_trace(const Args& a) {
  TRY(br, a.str("bridge"));
  TRY(in, a.str("in_port"));
  TRY(flow, a.str("flow", false));
  if (!cur_.find_bridge(br)) return Error{"bridge '" + br + "' does not exist"};
  // in_port is PORT or BRIDGE/PORT (the form `kvnet trace` takes).
  const BridgeSpec* b = nullptr;
  const PortSpec* p = cur_.find_port(in, &b);
  if (!p || b->name != br) return Error{"in_port '" + in + "' is not a port of bridge '" + br + "'"};
  if (p->kind->is_patch())
    return Error{"in_port '" + in + "' is a patch port; trace from the port a frame enters on"};
  TRY(bytes, build_frame_from_flow(flow));
  TraceResult tr;
  tr.in_port = br + "/" + p->name;
  net::FlowKey k;
  net::parse_flow(bytes.data(), bytes.size(), k);
  tr.flow = k.str();
  tr.trace = dp_.trace(live_.at(p->name).id, bytes, io::now_ns());
  return tr;
}

Result<json> Service::apply_file(const Args& a) {
  TRY(yaml, a.str("yaml"));
  TRY(file, a.str("file", false));
  TRY(base, a.str("base_dir", false));
  TRY(dry_run, a.flag("dry_run"));
  TRY(host, a.str("host", false));
  TRY(next, parse_document(yaml, file.empty() ? "<apply>" : file, base.empty() ? "/" : base, host));
  // A section the file leaves out is not managed by it.
  if (!next.has_containers) next.containers = cur_.containers;
  if (!next.has_vms) next.vms = cur_.vms;
  if (!next.has_security_groups) next.security_groups = cur_.security_groups;
  if (!next.has_gateways) {
    next.gateways = cur_.gateways;
    add_gateway_ports(next);  // the file's bridges do not list their ports
  }
  if (auto s = validate(next); !s) return s.error();
  next.file.clear();
  if (dry_run) {
    const ctl::Plan p = plan(cur_, next);
    if (auto s = check_vms(next, p); !s) return s.error();
    warnings_ = new_warnings(cur_, next);
    json j = change_result(p);
    j["dry_run"] = true;
    return j;
  }
  return commit_json(next);
}

Result<json> Service::export_yaml(const Args&) { return json{{"yaml", to_yaml(cur_)}}; }

Result<json> Service::ct_add(const Args& a) {
  TRY(name, a.str("name"));
  TRY(br, a.str("bridge"));
  TRY(port, a.str("port", false));
  TRY(settings, a.settings());
  if (auto s = check_name(name); !s) return Error{"container '" + name + "': " + s.error().message};
  const std::string pname = port.empty() ? utf8_prefix("ct-" + name, 15) : port;
  // The default port name is cut to the kernel's 15 characters: say so.
  const std::string cut = port.empty() && pname.size() < 3 + name.size()
                              ? " (the default port name 'ct-" + name + "' is cut to 15 characters: name one with --port)"
                              : "";
  for (const auto& c : cur_.containers)
    if (c.name == name) return Error{"container '" + name + "' already exists"};
  const BridgeSpec* b = cur_.find_bridge(br);
  if (!b) return Error{"container '" + name + "': bridge '" + br + "' does not exist"};
  if (cur_.find_port(pname)) return Error{"container '" + name + "': port '" + pname + "' already exists" + cut};
  for (const auto& [k, v] : settings)
    if (k == "type") return Error{"container '" + name + "': the port of a container is always a system port"};
  auto p = make_port(*b, pname, settings, &warnings_);
  if (!p) return Error{"container '" + name + "': " + p.error().message};
  ContainerSpec c{name, br, pname, "", "", "", {}};
  TRY(ip, a.str("ip", false));
  TRY(gw, a.str("gw", false));
  TRY(mac, a.str("mac", false));
  c.ip = ip;
  c.gw = gw;
  c.mac = mac;
  if (!ip.empty())
    if (auto s = check_cidr(ip); !s) return Error{"container '" + name + "': " + s.error().message};
  if (!gw.empty())
    if (auto s = check_ip(gw); !s) return Error{"container '" + name + "': " + s.error().message};
  if (!mac.empty()) {
    auto m = net::Mac::parse(mac);
    if (!m) return Error{"container '" + name + "': mac '" + mac + "' is not a MAC address (aa:bb:cc:dd:ee:ff)"};
    if (m->is_multicast() || m->is_zero()) return Error{"container '" + name + "': mac '" + mac + "' must be a unicast MAC"};
  }
  Topology next = cur_;
  next.find_bridge(br)->ports.push_back(std::move(*p));
  next.containers.push_back(std::move(c));
  TRY(pl, commit(next));
  json j = change_result(pl);
  j["port"] = pname;
  if (!cut.empty()) {
    j["warnings"].push_back("container '" + name + "': its port is '" + pname + "'" + cut);
  }
  return j;
}

Result<json> Service::ct_del(const Args& a) {
  TRY(name, a.str("name"));
  Topology next = cur_;
  std::string port;
  for (const auto& c : next.containers)
    if (c.name == name) port = c.port;
  if (port.empty()) return Error{"container '" + name + "' does not exist"};
  std::erase_if(next.containers, [&](const ContainerSpec& c) { return c.name == name; });
  for (auto& b : next.bridges) {
    if (b.find_port(port))
      if (auto s = forget_mirrored_port(b, port); !s) return Error{"container '" + name + "': " + s.error().message};
    std::erase_if(b.ports, [&](const PortSpec& p) { return p.name == port; });
    std::erase_if(b.fdb, [&](const FdbSpec& f) { return f.port == port; });
  }
  return commit_json(next);
}

Result<json> Service::ct_list(const Args&) {
  json out = json::array();
  const auto mtus = ctl::bridge_mtus(cur_);
  for (const auto& c : cur_.containers) {
    const uint32_t m = ctl::endpoint_mtu(cur_, c.port, mtus);  // what its eth0 was given
    out.push_back({{"name", c.name}, {"bridge", c.bridge}, {"port", c.port}, {"ip", c.ip}, {"gw", c.gw},
                   {"mac", c.mac}, {"mtu", m ? m : dp::kDefaultMtu}, {"netns", netns_exists(c.name)}});
  }
  return out;
}

Result<json> Service::kinds(const Args&) {
  json out = json::array();
  for (const PortKind* k : port_kinds()) {
    json keys = json::array();
    for (const auto& kh : k->keys()) keys.push_back({{"key", kh.key}, {"help", kh.help}});
    out.push_back({{"name", k->name()}, {"summary", k->summary()}, {"keys", keys}});
  }
  return out;
}

}  // namespace kvnet::daemon
