#include "daemon/applier.h"

#include <filesystem>
#include <set>
#include <sys/stat.h>

#include "ctl/kinds/pcap.h"
#include "ctl/mtu.h"
#include "ctl/translate.h"
#include "daemon/ct_dhcp.h"
#include "daemon/gateway_host.h"
#include "daemon/netns.h"

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

Applier::Applier(Store& store, io::DatapathCommands& dp, BackendOpener opener, bool manage_containers)
    : store_(store), dp_(dp), opener_(std::move(opener)), manage_containers_(manage_containers) {}

std::optional<uint32_t> Applier::id(const std::string& port) const {
  auto it = live_.find(port);
  if (it == live_.end()) return std::nullopt;
  return it->second.id;
}

// The state of one apply, shared by its steps.
struct Applier::Applying {
  const Topology& cur;
  const Topology& next;
  const ctl::Plan& plan;
  bool restoring;
  io::Change change;  // before txn: backends outlive the undo actions that use them
  ChangeTxn txn;
  std::map<std::string, std::string> parked;  // port -> why it has no backend
  std::set<std::string> added_cts;            // containers created (or re-created)
  std::set<std::string> removed_names;        // ports removed, incl. re-created ones
  std::set<std::string> added;                // ports added (Change::add_ports: plan.ports_added's order)
  std::vector<std::pair<size_t, const PortSpec*>> deferred;  // opened after the datapath let go
};

Status Applier::apply(const Topology& cur, const Topology& next, const ctl::Plan& plan, Mode mode) {
  Applying a{cur, next, plan, mode == Mode::kRestore};
  // The one translation (as offline): refused before anything changes.
  auto change = translate(cur, next, plan, [this](const std::string& port) { return id(port); });
  if (!change) return change.error();
  a.change = std::move(*change);
  if (auto s = create_containers(a); !s) return s;
  if (auto s = open_backends(a); !s) return s;
  if (auto s = apply_gateways(a); !s) return s;
  if (auto s = apply_device_mtus(a); !s) return s;
  // The store: one transaction. Past this point the change happens.
  if (!a.restoring)
    if (auto s = store_.save(next, a.plan.scope); !s) return s;
  a.txn.commit();
  std::vector<dp::PortBackend*> backends;
  for (const auto& p : a.change.add_ports) backends.push_back(p.backend.get());
  io::ChangeResult res = dp_.apply(std::move(a.change));  // between two batches
  finish(a, res, backends);
  return Ok{};
}

// Containers: a changed one is destroyed first, new ones are created.
Status Applier::create_containers(Applying& a) {
  for (const auto& c : a.plan.containers_added) a.added_cts.insert(c.name);
  if (!manage_containers_) return Ok{};
  for (const auto& o : a.plan.containers_removed)
    if (a.added_cts.count(o.name)) {
      if (ct_dhcp_) ct_dhcp_->stop(o.name);  // before its namespace goes
      container_destroy(o.name, o.port).ok();
      a.txn.on_undo([this, o, &cur = a.cur] {
        container_ensure(o).ok();
        if (ct_dhcp_) ct_dhcp_->sync(cur.containers);
      });
    }
  // Endpoints get the MTU their bridge can carry (ctl/mtu.h); measured only
  // when a container or a port comes or goes.
  const bool ports_changed = !a.plan.containers_added.empty() ||
                             ((!a.plan.ports_added.empty() || !a.plan.ports_removed.empty() ||
                               !a.plan.ports_reconfigured.empty()) &&
                              ctl::endpoint_mtus_may_change(a.cur, a.next, a.plan.scope));
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
    const auto old_mtus = ctl::bridge_mtus(a.cur);
    for (const auto& c : a.next.containers) {
      if (a.added_cts.count(c.name) || !netns_exists(c.name)) continue;
      const uint32_t before = ctl::endpoint_mtu(a.cur, c.port, old_mtus);
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
Status Applier::open_backends(Applying& a) {
  for (const auto& r : a.plan.ports_removed) a.removed_names.insert(r.port);
  for (const auto& b : a.plan.bridges_removed)
    for (const auto& p : a.cur.find_bridge(b)->ports) a.removed_names.insert(p.name);
  for (size_t i = 0; i < a.plan.ports_added.size(); ++i) {
    const auto& ref = a.plan.ports_added[i];
    const PortSpec& p = *a.next.find_bridge(ref.bridge)->find_port(ref.port);
    std::unique_ptr<dp::PortBackend>& backend = a.change.add_ports[i].backend;
    a.added.insert(p.name);
    const PortSpec* old = a.cur.find_port(p.name);
    std::string why;
    if (p.kind->is_patch()) {
      // no backend: the datapath hands its frames to the peer
    } else if (old && a.removed_names.count(p.name) && old->kind->exclusive_device() && p.kind->exclusive_device()) {
      a.deferred.push_back({i, &p});
      backend = std::make_unique<VanishedBackend>("re-opening");
    } else if (a.parked.count(p.name)) {
      backend = std::make_unique<VanishedBackend>(a.parked[p.name]);
    } else if (parked_reason_ && !(why = parked_reason_(a.next, p.name)).empty()) {
      a.parked[p.name] = why;  // a stopped VM's NIC: its TAP comes with the VM
      backend = std::make_unique<VanishedBackend>(why);
    } else if (auto be = opener_(p); !be) {
      if (!a.restoring) return be.error();
      a.parked[p.name] = be.error().message;
      backend = std::make_unique<VanishedBackend>(be.error().message);
    } else {
      backend = std::move(*be);
      dp::PortBackend* raw = backend.get();
      if (!a.restoring) a.txn.on_undo([raw] { raw->abandon(); });
    }
  }
  return Ok{};
}

// The gateways' kernel side, once their ports' interfaces exist: the whole
// set is applied; a failure (or a later one) applies the old set again.
Status Applier::apply_gateways(Applying& a) {
  if (!gws_) return Ok{};
  if (!a.restoring && !a.plan.gateways_touched()) return Ok{};
  std::map<std::string, uint32_t> mtus;  // DHCP option 26: what the gateway's bridge carries (ctl/mtu.h)
  for (const auto& gw : a.next.gateways)
    if (const auto m = ctl::bridge_mtu(a.next, gw.bridge); m && *m < dp::kDefaultMtu) mtus[gw.name] = *m;
  gws_->set_dhcp_mtus(std::move(mtus));
  if (a.restoring) return gws_->apply(a.next.gateways, true);
  a.txn.on_undo([this, old = a.cur.gateways] { gws_->apply(old, false).ok(); });
  return gws_->apply(a.next.gateways, false);
}

// A changed `mtu` of a port whose device kvnet owns (TAP, internal) is the
// device's kernel MTU too; undone if the change fails later.
Status Applier::apply_device_mtus(Applying& a) {
  for (const auto& r : a.plan.ports_reconfigured) {
    const PortSpec& p = *a.next.find_bridge(r.bridge)->find_port(r.port);
    const PortSpec* old = a.cur.find_port(r.port);
    const auto it = live_.find(r.port);
    if (!old || old->mtu == p.mtu || it == live_.end() || !it->second.backend || vanished_.count(r.port)) continue;
    dp::PortBackend* be = it->second.backend;
    if (auto s = be->set_device_mtu(p.mtu); !s) return Error{"port '" + r.port + "': " + s.error().message};
    a.txn.on_undo([be, m = old->mtu] { be->set_device_mtu(m).ok(); });
  }
  return Ok{};
}

// After the datapath changed: bookkeeping, backends closed here on the
// control thread (a port gone for good removes what it kept: an internal
// port's TAP), deferred devices opened, gone containers removed.
void Applier::finish(Applying& a, io::ChangeResult& res, const std::vector<dp::PortBackend*>& backends) {
  for (const auto& name : a.removed_names) {
    live_.erase(name);
    vanished_.erase(name);
  }
  for (size_t i = 0; i < a.plan.ports_added.size(); ++i) live_[a.plan.ports_added[i].port] = {res.added_ids[i], backends[i]};
  for (auto& [name, be] : res.removed) {
    const PortSpec* before = a.cur.find_port(name);
    const PortSpec* after = a.next.find_port(name);
    if (!a.added.count(name) || !before || !after || before->kind != after->kind) be->removed();
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
  if (manage_containers_)
    for (const auto& o : a.plan.containers_removed)
      if (!a.added_cts.count(o.name)) {
        if (ct_dhcp_) ct_dhcp_->stop(o.name);  // before its namespace goes
        container_destroy(o.name, o.port).ok();
      }
  for (const auto& [name, why] : a.parked) vanished_[name] = why;
}

int Applier::retry_vanished(const Topology& cur) {
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
    const PortSpec* ps = cur.find_port(it->first);
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

void Applier::park_port(const std::string& name, const std::string& why) {
  auto l = live_.find(name);
  if (l == live_.end()) return;
  vanished_[name] = why;
  l->second.backend = nullptr;
  dp_.swap_backend(l->second.id, std::make_unique<VanishedBackend>(why));  // the old one closes here
}

bool Applier::reopen_port(const Topology& cur, const std::string& name) {
  const PortSpec* ps = cur.find_port(name);
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

void Applier::shutdown() {
  dp_.remove_all();  // backends close here, on this thread; internal ports' TAPs stay
  live_.clear();
}

}  // namespace kvnet::daemon
