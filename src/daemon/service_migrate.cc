// Live migration of a VM between the hosts of a cluster (`vm migrate`).
//
// The hosts speak only through the store: the record migrations/<vm>
// (cluster/records.h) carries the migration from state to state, and each
// side acts on the states that are its turn, from the watch (sync_migrations):
//
//   source: vm migrate V --to H     requested   (create-only: one at a time)
//   dest:   defines V here (its NIC ports wired on br-int, parked), makes its
//           disk, starts QEMU -S -incoming defer, listens  ->  ready (uri)
//   source: [disks mirrored over NBD] RAM precopy over TCP (QMP migrate);
//           on completion, one transaction moves V's bindings (and its
//           addresses' holders) to the destination with a higher sequence
//           number                                         ->  switched
//   dest:   cont, its ports open, announce-self            ->  done
//   source: QEMU quits; V, its ports and its overlay go here; the record goes.
//
// Anything that fails before the switchover leaves V running on the source
// (failed/cancelled, with why); the destination then removes all it made.
// The QMP side of both ends is daemon/migration.h's.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>

#include "base/log.h"
#include "base/text.h"
#include "cluster/ipam.h"
#include "daemon/cluster_host.h"
#include "daemon/cluster_ports.h"
#include "daemon/cluster_wiring.h"
#include "daemon/image_store.h"
#include "daemon/migration.h"
#include "daemon/netns.h"
#include "daemon/service.h"
#include "daemon/service_args.h"
#include "daemon/vm_host.h"
#include "io/ip_addr.h"
#include "ctl/mtu.h"
#include "vm/qemu.h"

namespace kvnet::daemon {

using namespace kvnet::ctl;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kTick = std::chrono::milliseconds(250);
constexpr size_t kMaxError = 200;  // a record's text field holds 256 bytes

int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string short_error(const std::string& e) { return valid_utf8(e.substr(0, kMaxError)); }

const VmSpec* find_vm(const Topology& t, const std::string& name) {
  for (const auto& v : t.vms)
    if (v.name == name) return &v;
  return nullptr;
}

// A VM's QMP, as a migration drives it.
class VmQmp final : public QmpChannel {
 public:
  VmQmp(VmHost& h, std::string vm) : h_(h), vm_(std::move(vm)) {}
  void call(const std::string& execute, const nlohmann::json& arguments, Reply reply) override {
    h_.qmp_call(vm_, execute, arguments, std::move(reply));
  }

 private:
  VmHost& h_;
  std::string vm_;
};

}  // namespace

// A TCP port free on `address` now (the kernel's choice), for a server QEMU
// opens next (QEMU 7.2 cannot say which port it chose for its NBD server).
Result<uint16_t> free_tcp_port(const std::string& address) {
  auto ip = io::IpAddr::parse(address);
  if (!ip) return Error{"underlay address '" + address + "' is not an IP address"};
  sockaddr_storage ss{};
  socklen_t len = 0;
  if (ip->family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    std::memcpy(&a->sin_addr, ip->b.data(), 4);
    len = sizeof(sockaddr_in);
  } else {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    std::memcpy(&a->sin6_addr, ip->b.data(), 16);
    len = sizeof(sockaddr_in6);
  }
  const int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Error{std::string("socket: ") + std::strerror(errno)};
  uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0)
    port = ntohs(ss.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&ss)->sin_port
                                         : reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  const int err = errno;
  ::close(fd);
  if (!port) return Error{"no free TCP port on " + address + ": " + std::strerror(err)};
  return port;
}

struct Service::MigrationOut {
  std::string vm, to;
  std::unique_ptr<VmQmp> qmp;
  std::unique_ptr<SourceMigration> m;
  SourceParams params;
  Clock::time_point t0 = Clock::now();
  int64_t created_rev = 0;  // the store's revision that created the record
  int64_t stop_us = 0;  // the source's STOP event (QEMU's clock)
  MigrationProgress last;
  std::string phase = "requested";
  bool started = false, switched = false, ended = false;
};

struct Service::MigrationIn {
  std::string vm, from;
  std::unique_ptr<VmQmp> qmp;
  std::unique_ptr<DestMigration> m;
  bool autostart = false;  // the VM's own setting, given back once it runs here
  // switched: the record says so (the source completed and moved the
  // bindings). That can come before this QEMU's own MIGRATION completed
  // event; the guest resumes on whichever of the two comes last.
  bool switched = false, resuming = false, resumed = false, ended = false;
};

// ------------------------------------------------------------ the record

Status Service::update_migration(const std::string& vm, const std::function<bool(cluster::MigrationRecord&)>& change) {
  if (!cluster_) return Error{"not in a cluster"};
  const std::string key = cluster::migration_key(vm, cluster_->options().prefix);
  for (int attempt = 0; attempt < 8; ++attempt) {
    auto got = cluster_->client().get(key);
    if (!got) return got.error();
    if (got->kvs.empty()) return Error{"the migration of vm '" + vm + "' is no longer in the store"};
    auto rec = cluster::parse_migration(key, got->kvs[0].value, cluster_->options().prefix);
    if (!rec) return rec.error();
    if (!change(*rec)) return Ok{};  // nothing to write
    auto t = cluster_->client().txn({cluster::Compare::mod_is(key, got->kvs[0].mod_revision)},
                                    {cluster::TxnOp::put(key, rec->to_json().dump())});
    if (!t) return t.error();
    if (t->succeeded) return Ok{};
  }
  return Error{"the migration record of vm '" + vm + "' keeps changing"};
}

void Service::end_migration_record(const std::string& vm) {
  if (!cluster_) return;
  if (auto d = cluster_->client().del(cluster::migration_key(vm, cluster_->options().prefix)); !d)
    log_warn("migration of vm '" + vm + "': cannot delete its record: " + d.error().message);
}

void Service::fail_migration(const std::string& vm, const std::string& state, const std::string& why) {
  auto s = update_migration(vm, [&](cluster::MigrationRecord& r) {
    if (r.ended() || r.state == "switched") return false;
    r.state = state;
    r.error = short_error(why);
    return true;
  });
  if (!s) log_warn("migration of vm '" + vm + "': cannot record that it " + state + ": " + s.error().message);
}

// ------------------------------------------------------------ the verb

Result<std::string> Service::qemu_facts(const std::string& machine, std::string* version) {
  auto q = vm::find_qemu();
  if (!q) return q.error();
  if (qemu_version_.empty()) {
    auto out = run_command({*q, "--version"});
    if (!out) return Error{"QEMU's version: " + out.error().message};
    auto v = vm::parse_qemu_version(*out);
    if (!v) return Error{"QEMU's version: cannot read it from '" + valid_utf8(out->substr(0, 80)) + "'"};
    qemu_version_ = *v;
  }
  if (version) *version = qemu_version_;
  auto it = machine_types_.find(machine);
  if (it == machine_types_.end()) {
    auto out = run_command({*q, "-M", "help"});
    if (!out) return Error{"QEMU's machine types: " + out.error().message};
    auto m = vm::parse_machine_alias(*out, machine);
    if (!m) return Error{"QEMU does not know machine '" + machine + "'"};
    it = machine_types_.emplace(machine, *m).first;
  }
  return it->second;
}

Result<json> Service::vm_migrate(const std::string& name, const std::string& to, uint32_t max_downtime_ms,
                                 uint64_t bandwidth_mbps, bool cancel) {
  const std::string ctx = "vm '" + name + "': ";
  if (!cluster_) return Error{"live migration moves VMs between the hosts of a cluster: this kvnetd is standalone "
                              "(start it with --cluster URL)"};
  if (!vms_) return Error{"this kvnetd does not run VMs"};
  const VmSpec* v = find_vm(cur_, name);
  if (cancel) {
    auto it = outgoing_.find(name);
    if (it == outgoing_.end() || it->second->ended) return Error{ctx + "is not migrating from this host"};
    MigrationOut& o = *it->second;
    if (o.switched) return Error{ctx + "too late to cancel: the migration is switching over"};
    if (o.m) {
      if (auto s = o.m->cancel(); !s) return Error{ctx + s.error().message};
    } else {  // the destination is still preparing
      migration_failed_out(name, "cancelled", "cancelled by the user");
    }
    return json{{"vm", name}, {"cancelled", true}};
  }
  if (!v) return Error{"vm '" + name + "' does not exist"};
  const auto& o = cluster_->options();
  if (to == o.host) return Error{ctx + "runs on '" + to + "' already"};
  if (!cluster_->state().members().count(to)) return Error{ctx + "host '" + to + "' is not in the cluster"};
  if (!cluster_->state().is_up(to)) return Error{ctx + "host '" + to + "' is down"};
  const VmStatus st = vms_->status(name);
  if (st.state != VmState::kRunning && st.state != VmState::kPaused)
    return Error{ctx + "is " + to_string(st.state) + ": only a running VM migrates (a stopped one: vm del here, vm add there)"};
  if (outgoing_.count(name) || cluster_->state().migrations().count(name)) return Error{ctx + "is migrating already"};
  for (size_t i = 0; i < v->nics.size(); ++i)
    if (v->nics[i].network.empty())
      return Error{ctx + "nic " + std::to_string(i) + " is on bridge '" + v->nics[i].bridge +
                   "', not on a cluster network: only a VM whose NICs are on networks can move (its network follows it)"};
  if (!v->disk.empty() && v->image.empty())
    return Error{ctx + "boots from its own disk file " + v->disk +
                 ": live migration copies the overlays of store images only (vm add --image)"};
  std::string version;
  auto machine = qemu_facts(v->machine, &version);
  if (!machine) return Error{ctx + machine.error().message};
  cluster::MigrationRecord r;
  r.vm = name;
  r.from = o.host;
  r.to = to;
  r.state = "requested";
  r.spec = vm_to_yaml(*v);
  r.accel = to_string(st.accel);
  r.machine = *machine;
  r.qemu = version;
  for (const auto& n : v->nics) {
    std::string g;
    for (const auto& x : port_groups(cur_, n.port)) g += (g.empty() ? "" : ",") + x;
    r.groups.push_back(g);
  }
  r.started_ms = unix_ms();
  const std::string body = r.to_json().dump();
  if (body.size() > cluster::kMaxRecord)
    return Error{ctx + "its definition (" + std::to_string(r.spec.size()) +
                 " bytes with its user-data) is larger than a migration record can carry (64 KiB)"};
  const std::string key = cluster::migration_key(name, o.prefix);
  auto t = cluster_->client().txn({cluster::Compare::absent(key)}, {cluster::TxnOp::put(key, body)});
  if (!t) return Error{ctx + t.error().message};
  if (!t->succeeded) return Error{ctx + "is migrating already"};
  auto out = std::make_shared<MigrationOut>();
  out->vm = name;
  out->to = to;
  out->created_rev = t->revision;
  out->params.max_downtime_ms = max_downtime_ms;
  // Set every time: QEMU keeps the last migration's cap. Unless asked, 1 GiB/s
  // (QEMU's own default, 128 MiB/s, makes a 1 GiB guest take 8 s at least).
  out->params.max_bandwidth = bandwidth_mbps ? bandwidth_mbps * 1000 * 1000 / 8 : uint64_t{1} << 30;
  // Under TCG the guest is stopped before its memory moves: QEMU 7.2's TCG
  // live precopy lost guest writes (docs/cluster.md, "Live migration").
  out->params.pause_first = r.accel == "tcg";
  outgoing_[name] = out;
  ensure_migration_timer();
  log_info("migration of vm '" + name + "' to host '" + to + "' requested (" + r.accel + ", " + r.machine + ")");
  return migration_json(name);
}

json Service::migration_json(const std::string& vm) const {
  json j{{"vm", vm}};
  if (auto it = outgoing_.find(vm); it != outgoing_.end()) {
    const MigrationOut& o = *it->second;
    const MigrationProgress& p = o.last;
    j.update({{"direction", "out"}, {"to", o.to}, {"phase", o.phase}, {"ended", o.ended},
              {"elapsed_s", std::chrono::duration<double>(Clock::now() - o.t0).count()},
              {"ram_transferred", p.ram_transferred}, {"ram_remaining", p.ram_remaining}, {"ram_total", p.ram_total},
              {"dirty_rate", p.dirty_rate}, {"mbps", p.mbps}, {"expected_downtime_ms", p.expected_downtime_ms},
              {"downtime_ms", p.downtime_ms}, {"disk_done", p.disk_done}, {"disk_total", p.disk_total},
              {"error", p.error}});
  } else if (auto in = incoming_.find(vm); in != incoming_.end()) {
    j.update({{"direction", "in"}, {"from", in->second->from}, {"ended", in->second->ended},
              {"phase", in->second->resumed ? "done" : in->second->resuming ? "resuming" : "receiving"}});
  }
  if (cluster_)
    if (auto r = cluster_->state().migrations().find(vm); r != cluster_->state().migrations().end())
      j.update({{"state", r->second.state}, {"from", r->second.from}, {"to", r->second.to},
                {"record_error", r->second.error}});
  return j;
}

json Service::migration_of(const std::string& vm) const {
  auto out = outgoing_.find(vm);
  auto in = incoming_.find(vm);
  // A record in the store counts until it ends (the source deletes it a
  // moment after `done`; until then this host's summary is the answer).
  bool record_live = false;
  if (cluster_)
    if (auto r = cluster_->state().migrations().find(vm); r != cluster_->state().migrations().end())
      record_live = r->second.state != "done" && r->second.state != "failed" && r->second.state != "cancelled";
  const bool live = (out != outgoing_.end() && !out->second->ended) || (in != incoming_.end() && !in->second->ended) ||
                    record_live;
  if (!live)
    if (auto it = last_migration_.find(vm); it != last_migration_.end()) return it->second;
  if (live || out != outgoing_.end() || in != incoming_.end()) return migration_json(vm);
  return nullptr;
}

bool Service::migrating_in(const std::string& vm) const {
  auto it = incoming_.find(vm);
  return it != incoming_.end() && !it->second->ended;
}

void Service::ensure_migration_timer() {
  if (migration_timer_ || !vms_) return;
  migration_timer_ = vms_->loop().add_periodic(kTick, [this] { migration_tick(); });
}

void Service::migration_tick() {
  const auto now = Clock::now();
  for (auto& [vm, o] : std::map(outgoing_))
    if (o->m && !o->ended) o->m->tick(now);
  std::erase_if(outgoing_, [](const auto& kv) { return kv.second->ended && (!kv.second->m || kv.second->m->done()); });
  std::erase_if(incoming_, [](const auto& kv) { return kv.second->ended; });
  if (outgoing_.empty() && incoming_.empty() && migration_timer_) {
    vms_->loop().cancel_timer(migration_timer_);
    migration_timer_ = 0;
  }
}

void Service::migration_event(const std::string& vm, const std::string& event, const nlohmann::json& data,
                              int64_t timestamp_us) {
  if (auto it = outgoing_.find(vm); it != outgoing_.end() && it->second->m && !it->second->ended) {
    auto keep = it->second;
    if (event == "STOP" && !keep->stop_us) keep->stop_us = timestamp_us;
    keep->m->on_event(event, data, Clock::now(), timestamp_us);
  }
  if (auto it = incoming_.find(vm); it != incoming_.end() && it->second->m && !it->second->ended) {
    auto keep = it->second;
    keep->m->on_event(event, data, timestamp_us);
  }
}

// ------------------------------------------------------------ the watch

void Service::sync_migrations() {
  if (!cluster_) return;
  const std::string& me = cluster_->options().host;
  // Copies: acting may change the state (a record written or deleted).
  const auto records = cluster_->state().migrations();
  for (const auto& [vm, r] : records) {
    if (r.to == me) incoming_step(r);
    if (r.from == me) outgoing_step(r);
  }
  // A migration from here whose record went before it ended (deleted by
  // hand, or its failure missed): it has failed.
  for (const auto& [vm, o] : std::map(outgoing_))
    if (!o->ended && !o->switched && !records.count(vm) && cluster_->state().revision() >= o->created_rev)
      migration_failed_out(vm, "failed", "its record in the store is gone");
  // A migration to here whose record went before the guest ran here (the
  // source gave up and deleted it in one breath): what it made here goes.
  for (const auto& [vm, in] : std::map(incoming_))
    if (!in->ended && !in->resuming && !records.count(vm)) abort_incoming(vm, "its record in the store is gone");
}

void Service::outgoing_step(const cluster::MigrationRecord& r) {
  auto it = outgoing_.find(r.vm);
  if (it == outgoing_.end() || it->second->ended) {
    // A record of this host's that no migration here follows (kvnetd
    // restarted meanwhile): the VM stays here; the record goes.
    if (!r.ended() && r.state != "switched") fail_migration(r.vm, "failed", "the source's kvnetd restarted");
    else if (r.ended() && (r.state != "done" || !find_vm(cur_, r.vm))) end_migration_record(r.vm);
    if (r.state == "done" && find_vm(cur_, r.vm)) migrated_away(r.vm, r);
    return;
  }
  auto o = it->second;
  if (r.state == "ready" && !o->started) {
    o->started = true;
    o->phase = "setup";
    o->params.uri = r.uri;
    const VmSpec* v = find_vm(cur_, r.vm);
    if (v && !v->image.empty() && r.nbd_port) {
      const std::string host = r.uri.substr(4, r.uri.rfind(':') - 4);
      o->params.disks.push_back({"disk0", "disk0", host, static_cast<uint16_t>(r.nbd_port)});
    }
    o->qmp = std::make_unique<VmQmp>(*vms_, r.vm);
    const std::string vm = r.vm;
    SourceMigration::Hooks h;
    h.progress = [this, vm](const MigrationProgress& p) {
      if (auto x = outgoing_.find(vm); x != outgoing_.end()) {
        x->second->last = p;
        x->second->phase = p.phase;
      }
    };
    h.completed = [this, vm](const MigrationProgress& p) {
      vms_->loop().post([this, vm, p] { switch_over(vm, p); });
    };
    h.failed = [this, vm](const MigrationProgress& p) {
      vms_->loop().post([this, vm, p] { migration_failed_out(vm, p.phase == "cancelled" ? "cancelled" : "failed", p.error); });
    };
    o->m = std::make_unique<SourceMigration>(*o->qmp, o->params, std::move(h));
    o->m->start(Clock::now());  // a parameter that cannot work: its failed hook
    log_info("migration of vm '" + r.vm + "': host '" + r.to + "' listens on " + r.uri + ": sending");
  } else if (r.state == "failed" || r.state == "cancelled") {
    if (o->m && !o->m->done()) (void)o->m->cancel();  // its failed hook ends it here
    else migration_failed_out(r.vm, r.state, r.error);
  } else if (r.state == "done") {
    migrated_away(r.vm, r);
  }
}

void Service::migration_failed_out(const std::string& vm, const std::string& state, const std::string& why) {
  auto it = outgoing_.find(vm);
  if (it == outgoing_.end() || it->second->ended) return;
  auto o = it->second;
  if (o->switched) return;  // past the point of no return: the destination has the bindings
  o->ended = true;
  o->phase = state;
  fail_migration(vm, state, why);
  // The destination cleans up when it sees the record ended; if it is down,
  // nobody else will delete the record.
  if (cluster_ && !cluster_->state().is_up(o->to)) end_migration_record(vm);
  log_warn("migration of vm '" + vm + "' to host '" + o->to + "' " + state + ": " + why + " (the VM runs here still)");
  last_migration_[vm] = {{"vm", vm}, {"to", o->to}, {"state", state}, {"error", why}, {"ended", true}};
}

void Service::switch_over(const std::string& vm, const MigrationProgress& p) {
  auto it = outgoing_.find(vm);
  if (it == outgoing_.end() || it->second->ended) return;
  auto o = it->second;
  o->last = p;
  o->phase = "switchover";
  const VmSpec* v = find_vm(cur_, vm);
  const auto& opt = cluster_->options();
  const std::string key = cluster::migration_key(vm, opt.prefix);
  Status s = Ok{};
  auto got = cluster_->client().get(key);
  if (!got) s = got.error();
  else if (got->kvs.empty()) s = Error{"its record is gone"};
  std::optional<cluster::MigrationRecord> rec;
  if (s) {
    auto r = cluster::parse_migration(key, got->kvs[0].value, opt.prefix);
    if (!r) s = r.error();
    else if (r->state != "ready") s = Error{"the destination says " + r->state + (r->error.empty() ? "" : ": " + r->error)};
    else rec = *r;
  }
  if (s && v) {
    // One transaction: the record says switched, and every NIC's binding and
    // address belong to the destination (a higher sequence wins the MAC).
    std::vector<cluster::TxnOp> ops;
    for (size_t i = 0; i < v->nics.size(); ++i) {
      const NicSpec& n = v->nics[i];
      cluster::BindingRecord b{n.network, o->to, n.port, n.mac, {}, "vm " + vm + " nic " + std::to_string(i),
                               next_seq(cluster_->state(), n.network, n.mac)};
      if (!n.ip.empty()) b.ips.push_back(n.ip);
      b.groups = port_groups(cur_, n.port);
      ops.push_back(cluster::TxnOp::del(cluster::binding_key(n.network, opt.host, n.port, opt.prefix)));
      ops.push_back(cluster::TxnOp::put(cluster::binding_key(n.network, o->to, n.port, opt.prefix), b.to_json().dump()));
      if (!n.ip.empty()) {
        const std::string addr = n.ip.substr(0, n.ip.find('/'));
        ops.push_back(cluster::TxnOp::put(cluster::ipam_key(n.network, addr, opt.prefix), o->to + "/" + n.port));
      }
    }
    rec->state = "switched";
    ops.push_back(cluster::TxnOp::put(key, rec->to_json().dump()));
    auto t = cluster_->client().txn({cluster::Compare::mod_is(key, got->kvs[0].mod_revision)}, ops);
    if (!t) s = t.error();
    else if (!t->succeeded) s = Error{"the record changed meanwhile"};
  }
  if (!s) {
    // The guest never left: it runs on here.
    (void)o->m->rollback([vm](Status st) {
      if (!st) log_warn("migration of vm '" + vm + "': the source could not resume: " + st.error().message);
    });
    o->switched = false;
    migration_failed_out(vm, "failed", "switchover: " + s.error().message);
    return;
  }
  o->switched = true;
  // Frames for the VM go to the destination now; nothing is delivered to the
  // paused guest here.
  if (v)
    for (const auto& n : v->nics) park_port(n.port, "vm '" + vm + "' has moved to host '" + o->to + "'");
  log_info("migration of vm '" + vm + "': switched over to host '" + o->to + "'");
}

void Service::migrated_away(const std::string& vm, const cluster::MigrationRecord& r) {
  auto it = outgoing_.find(vm);
  std::shared_ptr<MigrationOut> o = it == outgoing_.end() ? nullptr : it->second;
  if (o && o->m) (void)o->m->finish();  // QEMU quits
  if (o) o->ended = true;
  // The VM and its ports go from here without touching the store: its
  // bindings and addresses are the destination's now.
  if (auto s = drop_vm_here(vm); !s) log_warn("migration of vm '" + vm + "': cannot remove it here: " + s.error().message);
  double total = o ? std::chrono::duration<double>(Clock::now() - o->t0).count() : 0;
  const int64_t stop_us = o ? (o->last.stop_us ? o->last.stop_us : o->stop_us) : 0;
  const int64_t measured_ms = stop_us && r.resumed_us > stop_us ? (r.resumed_us - stop_us) / 1000 : -1;
  json last{{"vm", vm}, {"to", r.to}, {"state", "done"}, {"total_s", total}, {"ended", true}};
  if (o) last["qemu_downtime_ms"] = o->last.downtime_ms;
  last["measured_downtime_ms"] = measured_ms;
  last_migration_[vm] = last;
  log_info(fmt_migration_done(vm, r.to, total, o ? o->last.downtime_ms : -1, measured_ms));
  end_migration_record(vm);
}

std::string Service::fmt_migration_done(const std::string& vm, const std::string& to, double total_s,
                                        int64_t qemu_ms, int64_t measured_ms) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "migration of vm '%s' to host '%s' done in %.2f s: downtime %lld ms (QEMU), %lld ms "
                "(source stop to destination resume)", vm.c_str(), to.c_str(), total_s, static_cast<long long>(qemu_ms),
                static_cast<long long>(measured_ms));
  return buf;
}

// V, its NIC ports (and their FDB entries) and the networks no port here
// needs any more, out of this host's configuration (its overlay with it),
// without touching the store: V's bindings are the other host's business.
Status Service::drop_vm_here(const std::string& vm) {
  const VmSpec* v = find_vm(cur_, vm);
  if (!v) return Ok{};
  Topology next = cur_;
  std::set<std::string> ports;
  for (const auto& n : v->nics) ports.insert(n.port);
  std::erase_if(next.vms, [&](const VmSpec& x) { return x.name == vm; });
  for (auto& b : next.bridges) {
    std::erase_if(b.ports, [&](const PortSpec& p) { return ports.count(p.name) != 0; });
    std::erase_if(b.fdb, [&](const FdbSpec& f) { return ports.count(f.port) != 0; });
  }
  if (auto s = unwire_unused(next, cluster_->options().underlay_ip); !s) return s;
  auto c = commit(next);
  if (!c) return c.error();
  return Ok{};
}

// ------------------------------------------------------------ the destination

void Service::incoming_step(const cluster::MigrationRecord& r) {
  auto it = incoming_.find(r.vm);
  if (it == incoming_.end() || it->second->ended) {
    if (r.state == "requested" && it == incoming_.end()) {
      if (auto s = prepare_incoming(r); !s) {
        log_warn("migration of vm '" + r.vm + "' from host '" + r.from + "': " + s.error().message);
        fail_migration(r.vm, "failed", s.error().message);
      }
    } else if (r.state == "failed" || r.state == "cancelled") {
      end_migration_record(r.vm);  // the destination has the last word on a failure
    }
    return;
  }
  auto in = it->second;
  if (r.state == "switched" && !in->resuming) {
    in->switched = true;
    in->resuming = in->m->resume();  // false until QEMU here has the whole stream (h.received then)
  } else if (r.state == "failed" || r.state == "cancelled") {
    abort_incoming(r.vm, r.state + (r.error.empty() ? "" : ": " + r.error));
    end_migration_record(r.vm);
  }
}

Status Service::prepare_incoming(const cluster::MigrationRecord& r) {
  const std::string from = "host '" + cluster_->options().host + "'";
  if (!vms_) return Error{from + " does not run VMs"};
  if (find_vm(cur_, r.vm)) return Error{from + " has a vm named '" + r.vm + "' already"};
  auto spec = parse_vm(r.spec);
  if (!spec) return Error{from + ": the VM's definition: " + spec.error().message};
  if (spec->name != r.vm) return Error{from + ": the record's definition names another VM"};
  auto accel = vm::resolve_accel(spec->accel, vms_->kvm());
  if (!accel) return Error{from + ": " + accel.error().message};
  if (to_string(*accel) != r.accel)
    return Error{from + " would run the VM with " + to_string(*accel) + ", the source runs it with " + r.accel +
                 ": both sides must use the same accelerator"};
  std::string version;
  auto machine = qemu_facts(spec->machine, &version);
  if (!machine) return Error{from + ": " + machine.error().message};
  if (!r.qemu.empty() && vm::compare_versions(version, r.qemu) < 0)
    return Error{from + " has QEMU " + version + ", older than the source's " + r.qemu};
  if (!spec->image.empty()) {
    if (!images_ || !images_->base(spec->image))
      return Error{from + " has no image '" + spec->image + "' (import it there first: kvnetctl image import " +
                   spec->image + " FILE)"};
    spec->disk = vms_->default_disk(spec->name);
  }
  const bool autostart = spec->autostart;
  spec->autostart = false;  // started here as the migration's target, not as a new VM
  DestMigration::Params params;
  params.address = cluster_->options().underlay_ip;
  if (!spec->image.empty()) {  // its overlay comes over NBD while the guest runs there
    params.export_nodes = {"disk0"};
    auto port = free_tcp_port(params.address);
    if (!port) return Error{from + ": " + port.error().message};
    params.nbd_port = *port;
  }
  // Its NICs on br-int in their networks' local VLANs, parked until the guest runs here.
  Topology next = cur_;
  for (size_t i = 0; i < spec->nics.size(); ++i) {
    const NicSpec& n = spec->nics[i];
    if (n.network.empty()) return Error{from + ": nic " + std::to_string(i) + " is on no network"};
    auto net = fetch_network(*cluster_, n.network);
    if (!net) return Error{from + ": " + net.error().message};
    Settings settings;
    if (i < r.groups.size() && !r.groups[i].empty()) settings.push_back({"security_groups", r.groups[i]});
    auto w = wire_port(next, *net, cluster_->options().underlay_ip, n.port, settings);
    if (!w) return Error{from + ": nic " + std::to_string(i) + ": " + w.error().message};
  }
  next.vms.push_back(*spec);
  auto c = commit(next);
  if (!c) return Error{from + ": " + c.error().message};
  auto undo = [&] { (void)drop_vm_here(r.vm); };
  std::vector<uint32_t> mtus;
  for (const auto& n : spec->nics) mtus.push_back(ctl::endpoint_mtu(cur_, n.port));
  if (auto s = vms_->start(*find_vm(cur_, r.vm), mtus, {.incoming = true, .machine = *machine}); !s) {
    undo();
    return Error{from + ": " + s.error().message};
  }
  auto in = std::make_shared<MigrationIn>();
  in->vm = r.vm;
  in->from = r.from;
  in->autostart = autostart;
  in->qmp = std::make_unique<VmQmp>(*vms_, r.vm);
  const std::string vm = r.vm;
  DestMigration::Hooks h;
  h.ready = [this, vm](const std::string& uri, uint16_t nbd_port) {
    vms_->loop().post([this, vm, uri, nbd_port] {
      auto s = update_migration(vm, [&](cluster::MigrationRecord& x) {
        if (x.state != "requested") return false;
        x.state = "ready";
        x.uri = uri;
        x.nbd_port = nbd_port;
        return true;
      });
      if (!s) abort_incoming(vm, s.error().message);
    });
  };
  h.received = [this, vm] {
    vms_->loop().post([this, vm] {
      auto it = incoming_.find(vm);
      if (it == incoming_.end() || it->second->ended || !it->second->switched || it->second->resuming) return;
      it->second->resuming = it->second->m->resume();
    });
  };
  h.resumed = [this, vm](int64_t resume_ms) {
    vms_->loop().post([this, vm, resume_ms] { resumed_here(vm, resume_ms * 1000); });
  };
  h.failed = [this, vm](const std::string& why) {
    vms_->loop().post([this, vm, why] {
      fail_migration(vm, "failed", "host '" + cluster_->options().host + "': " + why);
      abort_incoming(vm, why);
    });
  };
  in->m = std::make_unique<DestMigration>(*in->qmp, params, std::move(h));
  incoming_[vm] = in;
  in->m->start();  // ready or failed follows
  ensure_migration_timer();
  log_info("migration of vm '" + vm + "' from host '" + r.from + "': QEMU waits for it here");
  return Ok{};
}

void Service::resumed_here(const std::string& vm, int64_t resume_us) {
  auto it = incoming_.find(vm);
  if (it == incoming_.end() || it->second->ended) return;
  auto in = it->second;
  in->resumed = true;
  in->ended = true;
  const VmSpec* v = find_vm(cur_, vm);
  if (v)
    for (const auto& n : v->nics)
      if (!reopen_port(n.port))
        log_warn("migration of vm '" + vm + "': its port '" + n.port + "' does not open: " +
                 (vanished_.count(n.port) ? vanished_.at(n.port) : std::string("not on the switch")));
  auto s = update_migration(vm, [&](cluster::MigrationRecord& x) {
    x.state = "done";
    x.resumed_us = resume_us;
    return true;
  });
  if (!s) log_warn("migration of vm '" + vm + "': cannot record that it runs here: " + s.error().message);
  if (v && in->autostart) {
    Topology next = cur_;
    for (auto& x : next.vms)
      if (x.name == vm) x.autostart = true;
    (void)commit(next);
  }
  last_migration_[vm] = {{"vm", vm}, {"from", in->from}, {"state", "done"}, {"ended", true}};
  log_info("migration of vm '" + vm + "' from host '" + in->from + "': the guest runs here");
}

void Service::abort_incoming(const std::string& vm, const std::string& why) {
  auto it = incoming_.find(vm);
  if (it == incoming_.end() || it->second->ended) return;
  it->second->ended = true;
  if (!find_vm(cur_, vm)) return;
  if (auto s = vms_->remove(vm); !s) log_warn(s.error().message);
  if (auto s = drop_vm_here(vm); !s)
    log_warn("migration of vm '" + vm + "': cannot remove what it made here: " + s.error().message);
  log_warn("migration of vm '" + vm + "' here ended: " + why + " (what it made here is gone)");
}

// ------------------------------------------------------------ the verbs

namespace {

class MigrateVerbs : VerbContext {
 public:
  using VerbContext::VerbContext;
  Result<json> migrate(const Args& a) {
    TRY(name, a.str("name"));
    TRY(cancel, a.flag("cancel"));
    TRY(to, a.str("to", !cancel));
    int64_t downtime = 300, mbps = 0;
    if (a.has("max_downtime_ms")) {
      TRY(d, a.integer("max_downtime_ms", 1, 60000));
      downtime = d;
    }
    if (a.has("bandwidth_mbps")) {
      TRY(b, a.integer("bandwidth_mbps", 1, 1000000));
      mbps = b;
    }
    return migrate_vm(name, to, static_cast<uint32_t>(downtime), static_cast<uint64_t>(mbps), cancel);
  }
  // The migration of a VM as this host knows it (also once the VM has left).
  Result<json> status(const Args& a) {
    TRY(name, a.str("name"));
    json m = migration_of(name);
    if (m.is_null()) return Error{"no migration of vm '" + name + "' is known here"};
    return m;
  }
};

}  // namespace

std::span<const Verb> migrate_verbs() {
  static const Verb kVerbs[] = {
      {"vm-migrate", false, true, &verb<MigrateVerbs, &MigrateVerbs::migrate>},
      {"vm-migration", false, false, &verb<MigrateVerbs, &MigrateVerbs::status>},
  };
  return kVerbs;
}

}  // namespace kvnet::daemon
