// kvnetd's VM verbs: definitions go through the one configuration path
// (service.cc: validate, plan, apply, store); running them is VmHost's.
//
// A VM's NIC is a system port on the TAP kvnetd creates when the VM starts.
// While the VM is stopped the port is parked ("vm 'x' is not running");
// start opens it, the VM's exit parks it again. `--nic ...,qbr=yes` builds
// the seed's layout around the TAP: a hub qbr<id>, a patch pair qvb<id> ==
// qvo<id>, and qvo<id> on the named bridge with the NIC's VLAN settings.
#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/log.h"
#include "base/text.h"
#include "ctl/kinds/patch.h"
#include "daemon/cluster_host.h"
#include "daemon/cluster_ports.h"
#include "daemon/cluster_wiring.h"
#include "daemon/image_store.h"
#include "daemon/service.h"

#include "ctl/mtu.h"
#include "ctl/render.h"
#include "daemon/service_args.h"
#include "daemon/vm_host.h"
#include "vm/cloudinit.h"

namespace kvnet::daemon {

using namespace kvnet::ctl;

namespace {

constexpr int64_t kDefaultStopTimeoutMs = 30000;
constexpr size_t kMaxLogBytes = 1 << 20;

const VmSpec* find_vm(const Topology& t, const std::string& name) {
  for (const auto& v : t.vms)
    if (v.name == name) return &v;
  return nullptr;
}

Error no_vm(const std::string& name) { return Error{"vm '" + name + "' does not exist"}; }

// The tail of a file, at most `max` bytes.
std::string file_tail(const std::string& path, size_t max) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return "";
  const auto size = static_cast<size_t>(in.tellg());
  const size_t from = size > max ? size - max : 0;
  in.seekg(static_cast<std::streamoff>(from));
  std::string s(size - from, '\0');
  in.read(s.data(), static_cast<std::streamsize>(s.size()));
  return s;
}

}  // namespace

void Service::set_vm_host(VmHost* h) {
  vms_ = h;
  if (!h) return;
  h->on_exit([this](const std::string& name) { vm_exited(name); });
  h->on_event([this](const std::string& vm, const std::string& event, const json& data, int64_t ts) {
    migration_event(vm, event, data, ts);
  });
}

std::string Service::vm_owning_port(const std::string& port) const {
  const BridgeSpec* pb = nullptr;
  const PortSpec* ps = cur_.find_port(port, &pb);
  if (!ps) return "";
  const auto* patch = ps->as<PatchOptions>();
  for (const auto& v : cur_.vms)
    for (const auto& n : v.nics) {
      if (n.port == port) return v.name;
      if (n.qbr && patch && (pb->name == n.bridge || patch->peer_bridge == n.bridge)) return v.name;
    }
  return "";
}

std::string Service::parked_nic_reason(const Topology& t, const std::string& port) const {
  for (const auto& v : t.vms)
    for (const auto& n : v.nics)
      if (n.port == port) return vms_ && vms_->running(v.name) ? "" : "vm '" + v.name + "' is not running";
  return "";
}

Status Service::check_vms(const Topology& next, const ctl::Plan& p) const {
  for (const auto& name : p.vms_changed) {
    const VmSpec* before = find_vm(cur_, name);
    const VmSpec* after = find_vm(next, name);
    if (vms_ && vms_->running(name) && before && after && before->nics != after->nics)
      return Error{"vm '" + name + "' is running: its NICs can change only while it is stopped"};
    if (before && after &&
        (before->image != after->image || before->disk_size_mb != after->disk_size_mb ||
         (!before->image.empty() && before->disk != after->disk)))
      return Error{"vm '" + name + "': its image, overlay and disk size are fixed once it is defined (delete it and "
                   "add it again)"};
  }
  // cloud-init's inputs, as a file or a request gave them.
  for (const auto* list : {&p.vms_added, &p.vms_changed})
    for (const auto& name : *list) {
      const VmSpec* v = find_vm(next, name);
      if (!v) continue;
      for (const auto& k : v->ssh_keys)
        if (auto r = vm::parse_ssh_public_keys(k); !r || r->size() != 1)
          return Error{"vm '" + name + "': ssh key '" + valid_utf8(k.substr(0, 40)) + "...': " +
                       (r ? std::string("one key per entry") : r.error().message)};
      if (!v->user_data.empty()) {
        if (valid_utf8(v->user_data) != v->user_data)
          return Error{"vm '" + name + "': user_data is not UTF-8 text (kvnet keeps it as text: give it uncompressed)"};
        if (auto st = vm::check_user_data(v->user_data); !st) return Error{"vm '" + name + "': user_data: " + st.error().message};
      }
    }
  if (!vms_) return Ok{};
  // What a start needs (QEMU, accelerator, boot files, memory) is checked
  // when a VM is defined, not first when it is started.
  for (const auto* list : {&p.vms_added, &p.vms_changed})
    for (const auto& name : *list)
      if (auto l = vms_->prepare(*find_vm(next, name)); !l) return l.error();
  return Ok{};
}

bool Service::fill_vm_disks(Topology& t) const {
  if (!vms_) return false;
  bool filled = false;
  for (auto& v : t.vms)
    if (!v.image.empty() && v.disk.empty()) {
      // The VM's overlay as it is now, else a new one in --disk-dir.
      const VmSpec* had = find_vm(cur_, v.name);
      v.disk = had && had->image == v.image && !had->disk.empty() ? had->disk : vms_->default_disk(v.name);
      filled = true;
    }
  return filled;
}

Result<std::vector<std::string>> Service::make_vm_disks(const Topology& next, const ctl::Plan& p) {
  std::vector<std::string> made;
  if (!vms_) return made;
  for (const auto& name : p.vms_added) {
    const VmSpec* v = find_vm(next, name);
    if (!v || v->image.empty()) continue;
    auto r = vms_->create_disk(*v);
    if (!r) {
      std::error_code ec;
      for (const auto& d : made) std::filesystem::remove(d, ec);
      return r.error();
    }
    if (*r) made.push_back(v->disk);
  }
  return made;
}

void Service::drop_vm_disks(const Topology& before, const ctl::Plan& p) {
  for (const auto& name : p.vms_removed) {
    const VmSpec* v = find_vm(before, name);
    if (!v || v->image.empty() || v->disk.empty()) continue;
    // Another VM's disk now (an apply that renames a VM and keeps its overlay)?
    if (std::any_of(cur_.vms.begin(), cur_.vms.end(), [&](const VmSpec& o) { return o.disk == v->disk; })) continue;
    if (keep_disks_) {
      log_info("vm '" + name + "' deleted; its disk " + v->disk + " (an overlay of image '" + v->image + "') is kept");
      continue;
    }
    std::error_code ec;
    std::filesystem::remove(v->disk, ec);
    if (ec) log_warn("vm '" + name + "': cannot remove its disk " + v->disk + ": " + ec.message());
  }
}

void Service::vms_after_commit(const ctl::Plan& p, json* result) {
  if (!vms_) return;
  for (const auto& name : p.vms_removed) {
    restart_pending_.erase(name);
    // A deleted VM does not run on unseen: its QEMU, and with it its TAPs, are gone when this returns.
    if (auto s = vms_->remove(name); !s) log_warn(s.error().message);
  }
  // Ports a removed VM leaves in the configuration (an apply that drops the
  // VM but keeps its ports) are plain system ports now: try them as such.
  for (const auto& [port, why] : std::map<std::string, std::string>(vanished_))
    if (why.rfind("vm '", 0) == 0 && parked_nic_reason(cur_, port).empty()) reopen_port(port);
  json errors = json::array();
  for (const auto& name : p.vms_added)
    if (const VmSpec* v = find_vm(cur_, name); v && v->autostart)
      if (auto s = start_vm(*v); !s) errors.push_back(s.error().message);
  if (result && !errors.empty()) (*result)["start_errors"] = errors;
}

void Service::restore_vms() {
  if (!vms_) return;
  for (const auto& v : cur_.vms)
    if (v.autostart && !vms_->running(v.name)) start_vm(v).ok();  // a failure shows in `vm list`
}

Status Service::start_vm(const VmSpec& vm) {
  std::vector<uint32_t> mtus;  // what each NIC's bridge can carry (ctl/mtu.h)
  for (const auto& n : vm.nics) mtus.push_back(ctl::endpoint_mtu(cur_, n.port));
  if (auto s = vms_->start(vm, mtus); !s) return s;
  for (const auto& n : vm.nics) reopen_port(n.port);  // the TAP exists now
  return Ok{};
}

void Service::vm_exited(const std::string& name) {
  const VmSpec* v = find_vm(cur_, name);
  if (!v) return;
  if (migrating_in(name)) {
    // A QEMU waiting for a migration that ended (the stream broke, or it was killed).
    const VmStatus st = vms_ ? vms_->status(name) : VmStatus{};
    const std::string why = "QEMU ended (" + st.last_exit + (st.error.empty() ? "" : ": " + st.error) + ")";
    fail_migration(name, "failed", "host '" + (cluster_ ? cluster_->options().host : std::string()) + "': " + why);
    abort_incoming(name, why);
    return;
  }
  if (vms_) {
    const VmStatus st = vms_->status(name);
    log_at(st.state == VmState::kCrashed ? LogLevel::kWarn : LogLevel::kInfo,
           "vm '" + name + "' " + to_string(st.state) + (st.last_exit.empty() ? "" : ": " + st.last_exit) +
               (st.error.empty() ? "" : ": " + st.error));
  }
  for (const auto& n : v->nics) park_port(n.port, "vm '" + name + "' is not running");
  if (restart_pending_.erase(name)) start_vm(*v).ok();
}

// ------------------------------------------------------------ verbs

namespace {

class VmVerbs : VerbContext {
 public:
  using VerbContext::VerbContext;
  Result<json> vm_add(const Args& a);
  Result<json> vm_del(const Args& a);
  Result<json> vm_start(const Args& a);
  Result<json> vm_stop(const Args& a);
  Result<json> vm_kill(const Args& a);
  Result<json> vm_restart(const Args& a);
  Result<json> vm_list(const Args& a);
  Result<json> vm_show(const Args& a);
  Result<json> vm_console(const Args& a);
  Result<json> vm_exec(const Args& a);
  Result<json> vm_exec_status(const Args& a);

 private:
  Result<GuestAgent*> agent_of(const std::string& name) const;
  json vm_json(const VmSpec& vm) const;  // as vm list and vm show give it
};

Result<json> VmVerbs::vm_add(const Args& a) {
  TRY(name, a.str("name"));
  if (auto s = check_name(name); !s) return Error{"vm '" + name + "': " + s.error().message};
  if (find_vm(cur_, name)) return Error{"vm '" + name + "' already exists"};
  VmSpec vm;
  vm.name = name;
  TRY(memory, a.str("memory", false));
  if (!memory.empty()) {
    auto m = parse_memory(memory);
    if (!m) return Error{"vm '" + name + "': " + m.error().message};
    vm.memory_mb = *m;
  }
  if (a.has("vcpus")) {
    TRY(vcpus, a.integer("vcpus", 1, kMaxVcpus));
    vm.vcpus = static_cast<uint32_t>(vcpus);
  }
  TRY(accel, a.str("accel", false));
  if (!accel.empty()) {
    auto ac = parse_accel(accel);
    if (!ac) return Error{"vm '" + name + "': " + ac.error().message};
    vm.accel = *ac;
  }
  TRY(machine, a.str("machine", false));
  if (!machine.empty()) vm.machine = machine;
  TRY(kernel, a.str("kernel", false));
  TRY(initrd, a.str("initrd", false));
  TRY(cmdline, a.str("cmdline", false));
  TRY(disk, a.str("disk", false));
  TRY(image, a.str("image", false));
  TRY(disk_size, a.str("disk_size", false));
  TRY(ssh_keys, a.strings("ssh_keys"));
  TRY(user_data, a.str("user_data", false));
  TRY(autostart, a.flag("autostart"));
  vm.kernel = kernel;
  vm.initrd = initrd;
  vm.cmdline = cmdline;
  vm.disk = disk;
  vm.image = image;
  if (!disk_size.empty()) {
    auto sz = parse_disk_size(disk_size);
    if (!sz) return Error{"vm '" + name + "': " + sz.error().message};
    vm.disk_size_mb = *sz;
  }
  vm.ssh_keys = ssh_keys;
  vm.user_data = user_data;
  if (!image.empty() && !disk.empty()) return Error{"vm '" + name + "': give --image or --disk, not both"};
  if (!image.empty() && !images_) return Error{"vm '" + name + "': this kvnetd keeps no images"};
  if (!image.empty() && !images_->find(image)) return Error{"vm '" + name + "': image '" + image + "' does not exist (kvnetctl image list)"};
  vm.autostart = autostart;
  TRY(nics, a.strings("nics"));
  Topology next = cur_;
  // NICs on cluster networks: their addresses, claimed cluster-wide as they
  // are met (released again if the VM is not added after all).
  std::vector<NetworkPort> bound;
  struct Release {
    ClusterHost* c;
    std::vector<NetworkPort>* ports;
    bool keep = false;
    ~Release() {
      if (!keep)
        for (const auto& p : *ports) release_port_address(*c, p.network, p.ip, p.port);
    }
  } release{cluster_, &bound};
  for (size_t i = 0; i < nics.size(); ++i) {
    const std::string ctx = "vm '" + name + "': nic " + std::to_string(i) + ": ";
    auto r = parse_nic_arg(nics[i]);
    if (!r) return Error{ctx + r.error().message};
    NicSpec nic = r->nic;
    const std::string id = nic_id(name, i);
    if (nic.port.empty()) nic.port = "tap" + id;
    if (nic.mac.empty()) nic.mac = default_mac(name, i);
    std::optional<cluster::NetworkRecord> net;
    uint16_t vlan = 0;
    if (!nic.network.empty()) {
      if (!cluster_) return Error{ctx + "networks are cluster-wide: this kvnetd is standalone (start it with --cluster URL)"};
      if (!nic.bridge.empty() && nic.bridge != kIntegrationBridge)
        return Error{ctx + "a NIC on a network meets " + kIntegrationBridge + ": leave out the bridge"};
      if (nic.ip == "dhcp") return Error{ctx + "a network's addresses are allocated cluster-wide: leave out ip=dhcp"};
      for (const auto& [k, v] : r->port_settings)
        if (k == "vlan_mode" || k == "pvid" || k == "tag" || k == "allowed" || k == "trunks" || k == "tagged" ||
            k == "untagged")
          return Error{ctx + "'" + k + "': a network's NIC is an access port of the network's local VLAN"};
      auto got = fetch_network(*cluster_, nic.network);
      if (!got) return Error{ctx + got.error().message};
      net = *got;
      auto v = wire_network(next, *net, cluster_->options().underlay_ip);
      if (!v) return Error{ctx + v.error().message};
      vlan = *v;
      nic.bridge = kIntegrationBridge;
      r->port_settings.push_back({"vlan_mode", "access"});
      r->port_settings.push_back({"pvid", std::to_string(vlan)});
    }
    if (!next.find_bridge(nic.bridge)) return Error{ctx + "bridge '" + nic.bridge + "' does not exist"};
    if (next.find_port(nic.port)) return Error{ctx + "port '" + nic.port + "' already exists"};
    if (net) {  // last of the checks: the claim is undone by `release` from here on
      auto addr = claim_port_address(*cluster_, *net, nic.ip, nic.port);
      if (!addr) return Error{ctx + addr.error().message};
      nic.ip = *addr;
      bound.push_back({nic.network, nic.port, nic.mac, nic.ip, "vm " + name + " nic " + std::to_string(i)});
    }
    // Security keys filter the TAP's port (the endpoint's own); with qbr the
    // VLAN keys go to qvo, where the NIC meets the switch.
    Settings tap_settings, link_settings;
    for (const auto& kv : r->port_settings)
      (kv.first == "security_groups" || kv.first == "port_security" || kv.first == "allowed_addresses" ? tap_settings
                                                                                                        : link_settings)
          .push_back(kv);
    if (nic.qbr) {
      const std::string qbr = "qbr" + id, qvb = "qvb" + id, qvo = "qvo" + id;
      if (next.find_bridge(qbr)) return Error{ctx + "bridge '" + qbr + "' already exists"};
      for (const auto& pn : {qvb, qvo})
        if (next.find_port(pn)) return Error{ctx + "port '" + pn + "' already exists"};
      Settings qvo_settings = link_settings;
      qvo_settings.insert(qvo_settings.begin(), {{"type", "patch"}, {"peer", qbr + "/" + qvb}});
      auto o = make_port(*next.find_bridge(nic.bridge), qvo, qvo_settings);
      if (!o) return Error{ctx + o.error().message};
      auto hub = make_bridge(qbr, "hub", {});
      if (!hub) return Error{ctx + hub.error().message};
      auto tap = make_port(*hub, nic.port, tap_settings);
      auto b = make_port(*hub, qvb, {{"type", "patch"}, {"peer", nic.bridge + "/" + qvo}});
      if (!tap) return Error{ctx + tap.error().message};
      if (!b) return Error{ctx + b.error().message};
      hub->ports.push_back(std::move(*tap));
      hub->ports.push_back(std::move(*b));
      next.find_bridge(nic.bridge)->ports.push_back(std::move(*o));
      next.bridges.push_back(std::move(*hub));
      nic.bridge = qbr;
    } else {
      Settings all = link_settings;
      all.insert(all.end(), tap_settings.begin(), tap_settings.end());
      auto port = make_port(*next.find_bridge(nic.bridge), nic.port, all);
      if (!port) return Error{ctx + port.error().message};
      next.find_bridge(nic.bridge)->ports.push_back(std::move(*port));
    }
    vm.nics.push_back(std::move(nic));
  }
  if (auto s = check_vm(vm); !s) return s.error();
  next.vms.push_back(vm);
  const Topology before = cur_;
  TRY(p, commit(next));
  // The NICs' bindings: what the other hosts program from. Nothing
  // half-applied: if one cannot be written, the VM goes again.
  for (size_t i = 0; i < bound.size(); ++i)
    if (auto s = bind_port(*cluster_, bound[i], cur_); !s) {
      for (size_t j = 0; j < i; ++j) (void)unbind_port(*cluster_, bound[j]);
      (void)commit(before);
      return Error{"vm '" + name + "': nic on network '" + bound[i].network + "': " + s.error().message};
    }
  release.keep = true;
  json j = change_result(p);
  j["vm"] = vm_json(*find_vm(cur_, name));
  return j;
}

Result<json> VmVerbs::vm_del(const Args& a) {
  TRY(name, a.str("name"));
  TRY(force, a.flag("force"));
  TRY(keep_disk, a.flag("keep_disk"));
  const VmSpec* v = find_vm(cur_, name);
  if (!v) return no_vm(name);
  if (vms_ && vms_->running(name) && !force)
    return Error{"vm '" + name + "' is running: stop or kill it first (or vm del --force)"};
  Topology next = cur_;
  std::set<std::string> ports, bridges;
  for (const auto& n : v->nics) {
    ports.insert(n.port);
    if (!n.qbr) continue;
    bridges.insert(n.bridge);
    // The qvo end: a patch port elsewhere whose peer is a port of the qbr.
    for (const auto& b : cur_.bridges)
      for (const auto& op : b.ports)
        if (const auto* o = op.as<PatchOptions>(); o && o->peer_bridge == n.bridge) ports.insert(op.name);
  }
  std::erase_if(next.vms, [&](const VmSpec& x) { return x.name == name; });
  std::erase_if(next.bridges, [&](const BridgeSpec& b) { return bridges.count(b.name) != 0; });
  for (auto& b : next.bridges) {
    for (const auto& port : ports)
      if (b.find_port(port))
        if (auto s = forget_mirrored_port(b, port); !s) return Error{"vm '" + name + "': " + s.error().message};
    std::erase_if(b.ports, [&](const PortSpec& p) { return ports.count(p.name) != 0; });
    std::erase_if(b.fdb, [&](const FdbSpec& f) { return ports.count(f.port) != 0; });
  }
  // NICs on networks: their bindings and addresses leave the store first
  // (a store that cannot be reached keeps the VM: nothing half-done).
  std::vector<NetworkPort> unbound;
  auto put_back = [&] {  // what the store had
    for (const auto& u : unbound) rebind_port(*cluster_, u, cur_);
  };
  for (const auto& n : v->nics) {
    if (n.network.empty()) continue;
    if (!cluster_) return Error{"vm '" + name + "' has a NIC on network '" + n.network + "' but this kvnetd is standalone"};
    NetworkPort np{n.network, n.port, n.mac, n.ip, "vm " + name + " nic " + std::to_string(&n - v->nics.data())};
    if (auto s = unbind_port(*cluster_, np); !s) {
      put_back();
      return Error{"vm '" + name + "': " + s.error().message};
    }
    unbound.push_back(std::move(np));
  }
  if (!unbound.empty())
    if (auto s = unwire_unused(next, cluster_->options().underlay_ip); !s) return s.error();
  const std::string overlay = v->image.empty() ? "" : v->disk;
  keep_vm_disks(keep_disk);
  auto r = commit_json(next);
  if (!r) put_back();
  else if (!overlay.empty()) (*r)["disk"] = {{"path", overlay}, {"kept", keep_disk}};
  return r;
}

Result<json> VmVerbs::vm_start(const Args& a) {
  TRY(name, a.str("name"));
  if (!vms_) return Error{"this kvnetd does not run VMs"};
  const VmSpec* v = find_vm(cur_, name);
  if (!v) return no_vm(name);
  if (vms_->running(name)) return Error{"vm '" + name + "' is already running"};
  if (auto s = start_vm(*v); !s) return s.error();
  return vm_json(*v);
}

Result<json> VmVerbs::vm_stop(const Args& a) {
  TRY(name, a.str("name"));
  if (!vms_) return Error{"this kvnetd does not run VMs"};
  if (!find_vm(cur_, name)) return no_vm(name);
  int64_t timeout = kDefaultStopTimeoutMs;
  if (a.has("timeout_ms")) {
    TRY(t, a.integer("timeout_ms", 0, 3600 * 1000));
    timeout = t;
  }
  if (auto s = vms_->stop(name, std::chrono::milliseconds(timeout)); !s) return s.error();
  return vm_json(*find_vm(cur_, name));
}

Result<json> VmVerbs::vm_kill(const Args& a) {
  TRY(name, a.str("name"));
  if (!vms_) return Error{"this kvnetd does not run VMs"};
  if (!find_vm(cur_, name)) return no_vm(name);
  restart_when_stopped(name, false);
  if (auto s = vms_->kill(name); !s) return s.error();
  return vm_json(*find_vm(cur_, name));
}

Result<json> VmVerbs::vm_restart(const Args& a) {
  TRY(name, a.str("name"));
  if (!vms_) return Error{"this kvnetd does not run VMs"};
  const VmSpec* v = find_vm(cur_, name);
  if (!v) return no_vm(name);
  if (!vms_->running(name)) {
    if (auto s = start_vm(*v); !s) return s.error();
    return vm_json(*v);
  }
  int64_t timeout = kDefaultStopTimeoutMs;
  if (a.has("timeout_ms")) {
    TRY(t, a.integer("timeout_ms", 0, 3600 * 1000));
    timeout = t;
  }
  if (auto s = vms_->stop(name, std::chrono::milliseconds(timeout)); !s) return s.error();
  restart_when_stopped(name, true);
  return vm_json(*v);
}

json VmVerbs::vm_json(const VmSpec& vm) const {
  VmStatus st;
  if (vms_) st = vms_->status(vm.name);
  std::string accel = to_string(vm.accel);
  if (st.pid) accel = to_string(st.accel);
  else if (vms_)
    if (auto r = vm::resolve_accel(vm.accel, vms_->kvm()); r) accel = to_string(*r);
  json nics = json::array();
  for (size_t i = 0; i < vm.nics.size(); ++i) {
    const NicSpec& n = vm.nics[i];
    nics.push_back({{"index", i}, {"bridge", n.bridge}, {"port", n.port}, {"mac", n.mac}, {"ip", n.ip}, {"gw", n.gw},
                    {"qbr", n.qbr}, {"network", n.network}, {"attached", live_.count(n.port) && !vanished_.count(n.port)}});
  }
  std::string boot = "guest image";
  if (!vm.image.empty()) boot = "image " + vm.image;
  else if (!vm.disk.empty()) boot = "disk " + vm.disk;
  else if (!vm.kernel.empty()) boot = "kernel " + vm.kernel;
  json j{{"name", vm.name},
         {"state", to_string(st.state)},
         {"accel", accel},
         {"accel_setting", to_string(vm.accel)},
         {"machine", vm.machine},
         {"memory", format_memory(vm.memory_mb)},
         {"memory_mb", vm.memory_mb},
         {"vcpus", vm.vcpus},
         {"rss_mb", static_cast<double>(st.rss_kb) / 1024.0},
         {"uptime_s", st.pid ? st.uptime_s : 0.0},
         {"pid", st.pid},
         {"ready", st.ready},
         {"boot_s", st.boot_s},
         {"last_exit", st.last_exit},
         {"error", st.error},
         {"autostart", vm.autostart},
         {"boot", boot},
         // Its console shows "kvnet-guest: ready" when booted: kvnet's guest
         // image, and cloud-init's final message from kvnet's seed.
         {"ready_marker", vm.uses_guest_image() || vm.has_seed()},
         {"nics", nics},
         {"restart_pending", false}};
  // A definition changed while QEMU runs takes effect at the next start:
  // until then, what runs and what is configured both show.
  if (st.pid && st.shape.memory_mb) {
    // A VM that arrived by migration runs the versioned type its alias
    // stood for on the source (q35: pc-q35-7.2): the same machine.
    const std::string& m = st.shape.machine;
    const bool same_machine = m == vm.machine || (vm.machine == "q35" && m.rfind("pc-q35-", 0) == 0) ||
                              (vm.machine == "pc" && m.rfind("pc-i440fx-", 0) == 0);
    j["running"] = {{"memory", format_memory(st.shape.memory_mb)},
                    {"memory_mb", st.shape.memory_mb},
                    {"vcpus", st.shape.vcpus},
                    {"machine", same_machine ? vm.machine : m}};
    j["restart_pending"] = st.shape.memory_mb != vm.memory_mb || st.shape.vcpus != vm.vcpus || !same_machine;
  }
  return j;
}

Result<json> VmVerbs::vm_list(const Args&) {
  json out = json::array();
  for (const auto& v : cur_.vms) out.push_back(vm_json(v));
  return out;
}

Result<json> VmVerbs::vm_show(const Args& a) {
  TRY(name, a.str("name"));
  const VmSpec* v = find_vm(cur_, name);
  if (!v) return no_vm(name);
  json j = vm_json(*v);
  if (v->kernel.size()) j["kernel"] = v->kernel;
  if (v->initrd.size()) j["initrd"] = v->initrd;
  if (v->cmdline.size()) j["cmdline"] = v->cmdline;
  if (v->disk.size()) j["disk"] = v->disk;
  if (json m = migration_of(name); !m.is_null()) j["migration"] = m;
  if (v->image.size()) {
    j["image"] = v->image;
    j["disk_size"] = v->disk_size_mb ? format_memory(v->disk_size_mb) : "the image's";
  }
  j["ssh_keys"] = v->ssh_keys.size();
  j["user_data_bytes"] = v->user_data.size();
  if (GuestAgent* ag = vms_ ? vms_->agent(name) : nullptr) {
    // The guest's own view of its NICs, matched to kvnet's by MAC.
    const GuestView& gv = ag->view();
    json g{{"agent", gv.answered}, {"error", gv.error}};
    if (gv.when.time_since_epoch().count() != 0) {
      g["age_s"] = std::chrono::duration<double>(std::chrono::system_clock::now() - gv.when).count();
      json ifs = json::array();
      for (const auto& i : gv.interfaces) {
        json x{{"name", i.name}, {"mac", i.mac}, {"addresses", i.addresses}, {"link_local", i.link_local}};
        for (size_t n = 0; n < v->nics.size(); ++n)
          if (!i.mac.empty() && v->nics[n].mac == i.mac) x["nic"] = n;
        ifs.push_back(std::move(x));
      }
      g["interfaces"] = std::move(ifs);
    }
    j["guest"] = std::move(g);
  }
  if (vms_) {
    const auto st = vms_->status(name);
    j["command"] = st.command;
    const auto p = vms_->paths(name);
    j["console_socket"] = p.console;
    j["console_log"] = p.log;
    j["qemu_log"] = p.qemu_log;
    j["qmp_socket"] = p.qmp;
    j["agent_socket"] = p.qga;
    if (!vms_->kvm().usable) j["kvm"] = "not usable: " + vms_->kvm().reason;
    else j["kvm"] = "usable";
  }
  return j;
}

Result<json> VmVerbs::vm_console(const Args& a) {
  TRY(name, a.str("name"));
  TRY(log, a.flag("log"));
  if (!vms_) return Error{"this kvnetd does not run VMs"};
  if (!find_vm(cur_, name)) return no_vm(name);
  const auto p = vms_->paths(name);
  json j{{"socket", p.console}, {"log_path", p.log}, {"running", vms_->running(name)}};
  if (log) {
    std::string text = file_tail(p.log, kMaxLogBytes);
    if (text.empty() && !std::filesystem::exists(p.log))
      return Error{"vm '" + name + "' has no boot log yet (it has not been started)"};
    j["log"] = valid_utf8(text);
  } else if (!vms_->running(name)) {
    return Error{"vm '" + name + "' is not running (its boot log: vm console " + name + " --log)"};
  }
  return j;
}

Result<GuestAgent*> VmVerbs::agent_of(const std::string& name) const {
  if (!vms_) return Error{"this kvnetd does not run VMs"};
  if (!find_vm(cur_, name)) return no_vm(name);
  GuestAgent* ag = vms_->agent(name);
  if (!ag) return Error{"vm '" + name + "' is not running"};
  return ag;
}

Result<json> VmVerbs::vm_exec(const Args& a) {
  TRY(name, a.str("name"));
  TRY(command, a.strings("command"));
  TRY(input_b64, a.str("input_b64", false));
  int64_t timeout_ms = 300000;
  if (a.has("timeout_ms")) {
    TRY(t, a.integer("timeout_ms", 1, 24 * 3600 * 1000));
    timeout_ms = t;
  }
  if (command.empty()) return Error{"vm '" + name + "': no command to run"};
  auto input = ctl::base64_decode(input_b64);
  if (!input) return Error{"input_b64: " + input.error().message};
  TRY(ag, agent_of(name));
  auto id = ag->exec(command[0], std::vector<std::string>(command.begin() + 1, command.end()), *input,
                     std::chrono::milliseconds(timeout_ms));
  if (!id) return Error{"vm '" + name + "': " + id.error().message};
  return json{{"id", *id}};
}

Result<json> VmVerbs::vm_exec_status(const Args& a) {
  TRY(name, a.str("name"));
  TRY(id, a.integer("id", 1, INT64_MAX));
  TRY(ag, agent_of(name));
  auto e = ag->exec_status(static_cast<uint64_t>(id));
  if (!e) return Error{"vm '" + name + "': no command " + std::to_string(id) + " (it was reported already, or never run)"};
  json j{{"id", id}, {"state", to_string(e->state)}, {"pid", e->pid}};
  if (e->state == GuestExec::State::kFailed) j["error"] = e->error;
  if (e->state == GuestExec::State::kExited) {
    const auto& r = e->result;
    j["exitcode"] = r.exitcode ? json(*r.exitcode) : json(nullptr);
    j["signal"] = r.signal ? json(*r.signal) : json(nullptr);
    j["stdout_b64"] = ctl::base64_encode(r.out);
    j["stderr_b64"] = ctl::base64_encode(r.err);
    j["stdout_truncated"] = r.out_truncated;
    j["stderr_truncated"] = r.err_truncated;
  }
  return j;
}

}  // namespace

std::span<const Verb> vm_verbs() {
  static const Verb kVerbs[] = {
      {"vm-add", true, false, &verb<VmVerbs, &VmVerbs::vm_add>},
      {"vm-del", true, false, &verb<VmVerbs, &VmVerbs::vm_del>},
      {"vm-start", false, true, &verb<VmVerbs, &VmVerbs::vm_start>},
      {"vm-stop", false, true, &verb<VmVerbs, &VmVerbs::vm_stop>},
      {"vm-kill", false, true, &verb<VmVerbs, &VmVerbs::vm_kill>},
      {"vm-restart", false, true, &verb<VmVerbs, &VmVerbs::vm_restart>},
      {"vm-list", false, false, &verb<VmVerbs, &VmVerbs::vm_list>},
      {"vm-show", false, false, &verb<VmVerbs, &VmVerbs::vm_show>},
      {"vm-console", false, false, &verb<VmVerbs, &VmVerbs::vm_console>},
      {"vm-exec", false, true, &verb<VmVerbs, &VmVerbs::vm_exec>},
      {"vm-exec-status", false, false, &verb<VmVerbs, &VmVerbs::vm_exec_status>},
  };
  return kVerbs;
}

}  // namespace kvnet::daemon
