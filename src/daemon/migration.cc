// Live migration's QMP side: see migration.h.
#include "daemon/migration.h"

#include <cmath>
#include <cstdio>
#include <initializer_list>
#include <limits>
#include <set>
#include <utility>

namespace kvnet::daemon {

namespace {

using json = nlohmann::json;

// Field readers for JSON another process wrote: a missing field or one of
// another type reads as absent, never as an exception.
const json* field(const json& o, const char* key) {
  if (!o.is_object()) return nullptr;
  auto it = o.find(key);
  return it == o.end() ? nullptr : &*it;
}

uint64_t u64(const json& o, const char* key) {
  const json* v = field(o, key);
  if (!v) return 0;
  if (v->is_number_unsigned()) return v->get<uint64_t>();
  if (v->is_number_integer()) return v->get<int64_t>() < 0 ? 0 : static_cast<uint64_t>(v->get<int64_t>());
  if (v->is_number_float()) {
    const double d = v->get<double>();
    return std::isfinite(d) && d > 0 && d < 1.8e19 ? static_cast<uint64_t>(d) : 0;
  }
  return 0;
}

// A duration in ms; -1 when absent, negative or not an integer.
int64_t ms(const json& o, const char* key) {
  const json* v = field(o, key);
  if (!v || !v->is_number_integer()) return -1;
  if (v->is_number_unsigned())
    return v->get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max()) ? -1 : int64_t(v->get<uint64_t>());
  return v->get<int64_t>() < 0 ? -1 : v->get<int64_t>();
}

double number(const json& o, const char* key) {
  const json* v = field(o, key);
  if (!v || !v->is_number()) return 0;
  const double d = v->get<double>();
  return std::isfinite(d) && d > 0 ? d : 0;
}

std::string text(const json& o, const char* key) {
  const json* v = field(o, key);
  return v && v->is_string() ? v->get<std::string>() : std::string();
}

// "execute: message", unless the channel already named the command (VmHost
// does for its timeouts).
std::string named(const std::string& execute, const std::string& message) {
  if (message.rfind(execute + ":", 0) == 0) return message;
  return execute + ": " + message;
}

std::string seconds(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + " s";
  char b[32];
  std::snprintf(b, sizeof b, "%.1f s", static_cast<double>(d.count()) / 1000.0);
  return b;
}

bool terminal(const std::string& status) {
  return status == "completed" || status == "failed" || status == "cancelled";
}

json capabilities(std::initializer_list<const char*> names) {
  json a = json::array();
  for (const char* n : names) a.push_back(json{{"capability", n}, {"state", true}});
  return json{{"capabilities", a}};
}

}  // namespace

MigrationProgress parse_query_migrate(const json& r) {
  MigrationProgress m;
  if (!r.is_object()) return m;
  m.qemu_status = text(r, "status");
  m.total_ms = ms(r, "total-time");
  m.setup_ms = ms(r, "setup-time");
  m.expected_downtime_ms = ms(r, "expected-downtime");
  m.downtime_ms = ms(r, "downtime");
  m.error = text(r, "error-desc");
  const json* ram = field(r, "ram");
  if (ram && ram->is_object()) {
    m.ram_transferred = u64(*ram, "transferred");
    m.ram_remaining = u64(*ram, "remaining");
    m.ram_total = u64(*ram, "total");
    m.mbps = number(*ram, "mbps");
    const uint64_t pages = u64(*ram, "dirty-pages-rate");  // pages/s
    uint64_t page = u64(*ram, "page-size");
    if (page == 0) page = 4096;
    m.dirty_rate = pages > std::numeric_limits<uint64_t>::max() / page ? std::numeric_limits<uint64_t>::max()
                                                                         : pages * page;
  }
  return m;
}

// ---------------------------------------------------------------------------
// SourceMigration

SourceMigration::SourceMigration(QmpChannel& q, SourceParams p, Hooks h) : q_(q), p_(std::move(p)), h_(std::move(h)) {}

SourceMigration::~SourceMigration() = default;

namespace {

Status check(const SourceParams& p) {
  if (p.uri.empty()) return Error{"migration: no destination uri"};
  std::set<std::string> seen;
  for (const DiskMirror& m : p.disks) {
    if (m.node.empty()) return Error{"migration: a disk without its block node"};
    if (m.export_name.empty() || m.host.empty() || m.port == 0)
      return Error{"migration of disk '" + m.node + "': no NBD export, host or port to mirror to"};
    if (!seen.insert(m.node).second) return Error{"migration: disk '" + m.node + "' is given twice"};
  }
  return Ok{};
}

}  // namespace

void SourceMigration::start(TimePoint now) {
  if (stage_ != Stage::kIdle) return;
  now_ = last_change_ = now;
  if (Status s = check(p_); !s) {
    error_ = s.error().message;
    return ended_in(Stage::kFailed);  // nothing was sent: nothing to clean up
  }
  for (const DiskMirror& m : p_.disks) {
    Disk d;
    d.m = m;
    d.nbd_node = "mig-" + m.node;
    d.job = "mirror-" + m.node;
    disks_.push_back(std::move(d));
  }
  stage_ = Stage::kPreparing;
  progress_.phase = "setup";
  if (disks_.empty()) configure();
  else add_node(0);
}

bool SourceMigration::forward() const { return stage_ >= Stage::kPreparing && stage_ <= Stage::kFinishing; }

bool SourceMigration::done() const {
  return stage_ == Stage::kCompleted || stage_ == Stage::kRolledBack || stage_ == Stage::kFinished ||
         stage_ == Stage::kFailed;
}

bool SourceMigration::notify(const std::function<void(const MigrationProgress&)>& hook) {
  if (!hook) return true;
  std::weak_ptr<bool> alive = alive_;
  const auto h = hook;                  // the hook may destroy *this, and hook with it
  const MigrationProgress p = progress_;
  h(p);
  return !alive.expired();
}

void SourceMigration::call(const std::string& execute, json arguments, std::function<void(Result<json>)> then) {
  std::weak_ptr<bool> alive = alive_;
  q_.call(execute, arguments, [alive, then = std::move(then)](Result<json> r) {
    if (alive.expired()) return;  // the migration is gone
    then(std::move(r));
  });
}

void SourceMigration::step(const std::string& execute, json arguments, std::function<void(const json&)> record,
                           std::function<void()> next) {
  ++steps_;
  call(execute, std::move(arguments), [this, execute, record = std::move(record), next = std::move(next)](Result<json> r) {
    --steps_;
    if (r && record) record(*r);
    if (stage_ == Stage::kCleaning) {
      pump_cleanup();
      return;
    }
    if (!forward()) return;
    if (!r) {
      fail(named(execute, r.error().message));
      return;
    }
    made_progress();
    if (next) next();
  });
}

void SourceMigration::cleanup_call(const std::string& execute, json arguments, std::function<void(bool ok)> then) {
  call(execute, std::move(arguments), [this, execute, then = std::move(then)](Result<json> r) {
    if (!r) notes_.push_back(named(execute, r.error().message));
    then(r.ok());
    pump_cleanup();
  });
}

void SourceMigration::add_node(size_t i) {
  const Disk& d = disks_[i];
  json server = {{"type", "inet"}, {"host", d.m.host}, {"port", std::to_string(d.m.port)}, {"keep-alive", true}};
  json args = {{"driver", "nbd"},   {"node-name", d.nbd_node}, {"export", d.m.export_name},
               {"reconnect-delay", 0}, {"server", std::move(server)}};
  step("blockdev-add", std::move(args), [this, i](const json&) { disks_[i].has_node = true; },
       [this, i] { add_mirror(i); });
}

void SourceMigration::add_mirror(size_t i) {
  const Disk& d = disks_[i];
  json args = {{"job-id", d.job}, {"device", d.m.node}, {"target", d.nbd_node}, {"sync", "top"}, {"auto-dismiss", false}};
  step("blockdev-mirror", std::move(args), [this, i](const json&) { disks_[i].has_job = true; },
       [this, i] {
         progress_.phase = "disk";
         if (i + 1 < disks_.size()) {
           add_node(i + 1);
           return;
         }
         stage_ = Stage::kMirroring;
         maybe_all_ready();
       });
}

void SourceMigration::maybe_all_ready() {
  if (stage_ != Stage::kMirroring) return;
  for (const Disk& d : disks_)
    if (!d.ready) return;
  configure();
}

void SourceMigration::configure() {
  stage_ = Stage::kConfiguring;
  if (p_.pause_first && !source_paused_) {
    // Recorded on success whatever happens next: a failure then resumes it.
    step("stop", json::object(), [this](const json&) { source_paused_ = true; }, [this] { configure(); });
    return;
  }
  step("migrate-set-capabilities", capabilities({"events"}), {}, [this] {
    json params = {{"downtime-limit", p_.max_downtime_ms}};
    if (p_.max_bandwidth) params["max-bandwidth"] = p_.max_bandwidth;
    step("migrate-set-parameters", std::move(params), {}, [this] {
      migrate_sent_ = true;
      step("migrate", json{{"uri", p_.uri}}, [this](const json&) { migrate_started_ = true; },
           [this] {
             if (stage_ != Stage::kConfiguring) return;  // an event was quicker than the answer
             stage_ = Stage::kMigrating;
             progress_.phase = "memory";
           });
    });
  });
}

void SourceMigration::on_event(const std::string& event, const json& data, TimePoint now, int64_t timestamp_us) {
  now_ = now;
  if (event == "MIGRATION") {
    const std::string status = text(data, "status");
    if (status.empty() || !migrate_sent_) return;
    progress_.qemu_status = status;
    on_migration_status(status, false, "");
  } else if (event == "STOP") {
    if (migrate_sent_ && !mig_terminal_ && timestamp_us > 0) progress_.stop_us = timestamp_us;
  } else if (event.rfind("BLOCK_JOB_", 0) == 0) {
    on_job_event(event, data);
  }
}

void SourceMigration::on_migration_status(const std::string& status, bool from_poll, const std::string& desc) {
  if (!terminal(status) || mig_terminal_) return;
  mig_terminal_ = true;
  migrate_started_ = true;  // QEMU ran it, whether or not its answer to migrate is in yet
  const bool running_forward = stage_ == Stage::kMigrating || stage_ == Stage::kConfiguring;
  if (status == "completed") source_paused_ = true;
  if (stage_ == Stage::kCleaning) {
    pump_cleanup();
    return;
  }
  if (!running_forward) return;
  if (status == "completed") {
    stage_ = Stage::kFinishing;
    finish_since_ = now_;
    final_poll_done_ = from_poll;  // a poll's answer already holds the final figures
    if (!final_poll_done_) {
      call("query-migrate", json(), [this](Result<json> r) {
        final_poll_done_ = true;
        if (r) apply(parse_query_migrate(*r));  // figures only: an error here fails nothing
        pump_finish();
      });
    }
    pump_finish();
  } else if (status == "cancelled") {
    fail("the migration was cancelled in QEMU, not by kvnet", true);
  } else if (from_poll) {
    fail("the migration failed: " + (desc.empty() ? std::string("QEMU gave no reason") : desc));
  } else {
    // The event carries no reason: query-migrate's error-desc has it.
    call("query-migrate", json(), [this](Result<json> r) {
      std::string why;
      if (r) {
        const MigrationProgress p = parse_query_migrate(*r);
        apply(p);
        why = p.error;
      }
      fail("the migration failed: " + (why.empty() ? std::string("QEMU gave no reason") : why));
    });
  }
}

void SourceMigration::apply(const MigrationProgress& p) {
  if (!p.qemu_status.empty()) progress_.qemu_status = p.qemu_status;
  progress_.ram_transferred = p.ram_transferred;
  progress_.ram_remaining = p.ram_remaining;
  progress_.ram_total = p.ram_total;
  progress_.dirty_rate = p.dirty_rate;
  progress_.mbps = p.mbps;
  progress_.expected_downtime_ms = p.expected_downtime_ms;
  progress_.downtime_ms = p.downtime_ms;
  progress_.total_ms = p.total_ms;
  progress_.setup_ms = p.setup_ms;
}

SourceMigration::Disk* SourceMigration::find_job(const json& data) {
  const std::string job = text(data, "device");
  for (Disk& d : disks_)
    if (d.job == job) return &d;
  return nullptr;
}

void SourceMigration::sum_disks() {
  uint64_t done = 0, total = 0;
  for (const Disk& d : disks_) {
    done += d.offset;
    total += d.len;
  }
  if (done != progress_.disk_done) made_progress();
  progress_.disk_done = done;
  progress_.disk_total = total;
}

void SourceMigration::on_job_event(const std::string& event, const json& data) {
  Disk* d = find_job(data);
  if (!d) return;  // not one of ours
  const std::string where = "mirror of disk '" + d->m.node + "' to " + d->m.host + ":" + std::to_string(d->m.port);
  if (event == "BLOCK_JOB_READY") {
    d->ready = true;
    if (field(data, "len")) d->len = u64(data, "len");
    if (field(data, "offset")) d->offset = u64(data, "offset");
    sum_disks();
    maybe_all_ready();
  } else if (event == "BLOCK_JOB_ERROR") {
    // With the default error action (report) the job ends after this; the
    // failure is known now.
    const std::string op = text(data, "operation");
    if (forward()) fail(where + ": " + (op.empty() ? std::string("an I/O") : op) + " error");
  } else if (event == "BLOCK_JOB_COMPLETED" || event == "BLOCK_JOB_CANCELLED") {
    if (d->ended) return;
    d->ended = true;
    const std::string err = text(data, "error");
    if (stage_ == Stage::kCleaning) {
      pump_cleanup();
    } else if (stage_ == Stage::kFinishing && event == "BLOCK_JOB_COMPLETED" && err.empty()) {
      pump_finish();
    } else if (forward()) {
      fail(where + (!err.empty()                        ? ": " + err
                    : event == "BLOCK_JOB_CANCELLED" ? " was cancelled (not by kvnet)"
                                                     : " ended before the migration completed"));
    }
  }
}

void SourceMigration::tick(TimePoint now) {
  now_ = now;
  const auto stalled = [&] { return now_ - last_change_ >= p_.stall_timeout; };
  const std::string no_progress = "no progress for " + seconds(p_.stall_timeout) + " (network between the hosts?)";
  switch (stage_) {
    case Stage::kPreparing:
    case Stage::kMirroring:
      if (stalled()) return fail(no_progress);
      for (const Disk& d : disks_)
        if (d.has_job) return poll_jobs();
      return;
    case Stage::kConfiguring:
      if (stalled()) return fail(no_progress);
      return;
    case Stage::kMigrating:
      if (mig_terminal_) return;  // its end is being handled
      if (stalled()) return fail(no_progress);
      return poll_migrate();
    case Stage::kFinishing:
      if (now_ - finish_since_ >= p_.stall_timeout)
        return fail("the mirrors did not finish within " + seconds(p_.stall_timeout) + " after the RAM was sent");
      return;
    case Stage::kCleaning:
      if (migrate_started_ && !mig_terminal_) poll_migrate();
      if (now_ - cleanup_since_ >= p_.stall_timeout) give_up_waiting();
      return;
    default:
      return;
  }
}

void SourceMigration::give_up_waiting() {
  bool changed = false;
  if (migrate_started_ && !mig_terminal_ && migrate_cancel_ == Op::kDone) {
    mig_terminal_ = true;
    notes_.push_back("QEMU did not end the migration");
    changed = true;
  }
  for (Disk& d : disks_) {
    if (d.has_job && !d.ended && d.cancel == Op::kDone && d.yank == Op::kDone) {
      d.ended = true;
      notes_.push_back(d.job + " did not stop");
      changed = true;
    }
  }
  if (changed) pump_cleanup();
}

void SourceMigration::poll_migrate() {
  if (poll_in_flight_) return;
  poll_in_flight_ = true;
  call("query-migrate", json(), [this](Result<json> r) {
    poll_in_flight_ = false;
    if (stage_ == Stage::kCleaning) {
      if (!r) return;
      const MigrationProgress p = parse_query_migrate(*r);
      on_migration_status(p.qemu_status, true, p.error);
      return;
    }
    if (stage_ != Stage::kMigrating || mig_terminal_) return;
    if (!r) return fail(named("query-migrate", r.error().message));
    const MigrationProgress p = parse_query_migrate(*r);
    apply(p);
    if (p.ram_transferred != last_ram_) {
      last_ram_ = p.ram_transferred;
      made_progress();
    }
    if (!notify(h_.progress)) return;
    on_migration_status(p.qemu_status, true, p.error);
  });
}

void SourceMigration::poll_jobs() {
  if (poll_in_flight_) return;
  poll_in_flight_ = true;
  call("query-block-jobs", json(), [this](Result<json> r) {
    poll_in_flight_ = false;
    if (stage_ != Stage::kPreparing && stage_ != Stage::kMirroring) return;
    if (!r) return fail(named("query-block-jobs", r.error().message));
    if (r->is_array()) {
      for (const json& j : *r) {
        Disk* d = find_job(j);
        if (!d) continue;
        d->offset = u64(j, "offset");
        d->len = u64(j, "len");
        const json* ready = field(j, "ready");
        if ((ready && ready->is_boolean() && ready->get<bool>()) || text(j, "status") == "ready") d->ready = true;
      }
    }
    sum_disks();
    if (!notify(h_.progress)) return;
    maybe_all_ready();
  });
}

void SourceMigration::fail(std::string error, bool cancelled) {
  if (!forward()) return;  // the first error is the one reported
  error_ = std::move(error);
  cancelled_ = cancelled;
  stage_ = Stage::kCleaning;
  cleanup_since_ = now_;
  pump_cleanup();
}

// After completion, per disk: block-job-cancel (a READY mirror finishes),
// BLOCK_JOB_COMPLETED, job-dismiss, blockdev-del; all disks at once, since
// the guest is paused meanwhile.
void SourceMigration::pump_finish() {
  if (stage_ != Stage::kFinishing) return;
  bool all = true;
  for (size_t i = 0; i < disks_.size(); ++i) {
    Disk& d = disks_[i];
    if (d.complete == Op::kNot) {
      finish_op(i, &Disk::complete, "block-job-cancel", json{{"device", d.job}}, nullptr);
    } else if (!d.ended) {
      // waiting for BLOCK_JOB_COMPLETED
    } else if (d.has_job) {
      if (d.dismiss == Op::kNot)
        finish_op(i, &Disk::dismiss, "job-dismiss", json{{"id", d.job}}, [](Disk& x) { x.has_job = false; });
    } else if (d.has_node) {
      if (d.del == Op::kNot)
        finish_op(i, &Disk::del, "blockdev-del", json{{"node-name", d.nbd_node}}, [](Disk& x) { x.has_node = false; });
    } else {
      continue;  // this disk is done
    }
    all = false;
  }
  if (!all || !final_poll_done_) return;
  ended_in(Stage::kCompleted);
}

void SourceMigration::finish_op(size_t i, Op Disk::*op, const std::string& execute, json arguments,
                                void (*on_ok)(Disk&)) {
  disks_[i].*op = Op::kSent;
  call(execute, std::move(arguments), [this, i, op, execute, on_ok](Result<json> r) {
    Disk& d = disks_[i];
    d.*op = Op::kDone;
    if (r && on_ok) on_ok(d);
    if (stage_ == Stage::kCleaning) return pump_cleanup();
    if (stage_ != Stage::kFinishing) return;
    if (!r) return fail(named(execute, r.error().message));
    pump_finish();
  });
}

void SourceMigration::pump_cleanup() {
  if (stage_ != Stage::kCleaning || steps_ > 0) return;  // a forward command's answer decides what exists
  if (migrate_started_ && !mig_terminal_) {
    if (migrate_cancel_ == Op::kNot) {
      migrate_cancel_ = Op::kSent;
      cleanup_call("migrate_cancel", json(), [this](bool) { migrate_cancel_ = Op::kDone; });
    }
    return;  // until MIGRATION cancelled (or failed, completed)
  }
  bool clean = true;
  for (size_t i = 0; i < disks_.size(); ++i) clean = cleanup_disk(i) && clean;
  if (!clean) return;
  if (source_paused_ && cont_ != Op::kDone) {
    if (cont_ == Op::kNot) {
      cont_ = Op::kSent;
      cleanup_call("cont", json(), [this](bool) { cont_ = Op::kDone; });
    }
    return;
  }
  ended_in(Stage::kFailed);
}

// One disk's cleanup: block-job-cancel force and yank (so that writes stuck
// on a silent destination fail), the job's end, job-dismiss, blockdev-del.
// True once nothing of it is left to do.
bool SourceMigration::cleanup_disk(size_t i) {
  Disk& d = disks_[i];
  auto op = [this, i](Op Disk::*which, const std::string& execute, json arguments, void (*after)(Disk&, bool)) {
    disks_[i].*which = Op::kSent;
    cleanup_call(execute, std::move(arguments), [this, i, which, after](bool ok) {
      disks_[i].*which = Op::kDone;
      if (after) after(disks_[i], ok);
    });
  };
  const json yank = {{"instances", json::array({json{{"type", "block-node"}, {"node-name", d.nbd_node}}})}};
  if (d.has_job && !d.ended) {
    if (d.cancel == Op::kNot) {
      op(&Disk::cancel, "block-job-cancel", json{{"device", d.job}, {"force", true}}, [](Disk& x, bool ok) {
        if (!ok) x.ended = true;  // it ended already, or cannot be cancelled: no event to wait for
      });
    } else if (d.cancel == Op::kDone && d.yank == Op::kNot) {
      op(&Disk::yank, "yank", yank, nullptr);
    }
    return false;  // until BLOCK_JOB_CANCELLED (or COMPLETED)
  }
  if (d.has_job && d.dismiss != Op::kDone) {
    if (d.dismiss == Op::kNot)
      op(&Disk::dismiss, "job-dismiss", json{{"id", d.job}}, [](Disk& x, bool ok) { x.has_job = !ok; });
    return false;
  }
  if (d.has_node && d.yank != Op::kDone) {
    if (d.yank == Op::kNot) op(&Disk::yank, "yank", yank, nullptr);
    return false;
  }
  if (d.has_node && d.del != Op::kDone) {
    if (d.del == Op::kNot)
      op(&Disk::del, "blockdev-del", json{{"node-name", d.nbd_node}}, [](Disk& x, bool ok) { x.has_node = !ok; });
    return false;
  }
  return true;
}

void SourceMigration::ended_in(Stage s) {
  stage_ = s;
  if (s == Stage::kCompleted) {
    progress_.phase = "completed";
    progress_.error.clear();
    notify(h_.completed);
    return;
  }
  progress_.phase = cancelled_ ? "cancelled" : "failed";
  progress_.error = error_;
  if (!notes_.empty()) {
    progress_.error += " (cleanup: ";
    for (size_t i = 0; i < notes_.size(); ++i) progress_.error += (i ? "; " : "") + notes_[i];
    progress_.error += ")";
  }
  notify(h_.failed);
}

Status SourceMigration::cancel() {
  switch (stage_) {
    case Stage::kIdle:
      return Error{"migration: not started"};
    case Stage::kPreparing:
    case Stage::kMirroring:
    case Stage::kConfiguring:
    case Stage::kMigrating:
      fail("the migration was cancelled", true);  // may call the failed hook (and so destroy *this)
      return Ok{};
    case Stage::kFinishing:
    case Stage::kCompleted:
    case Stage::kRolledBack:
    case Stage::kFinished:
      return Error{"too late: the migration has completed"};
    case Stage::kCleaning:
      return Error{cancelled_ ? "the migration is already being cancelled" : "the migration is failing already: " + error_};
    case Stage::kFailed:
      return Error{cancelled_ ? "the migration was cancelled already" : "the migration has failed already: " + error_};
  }
  return Error{"migration: unknown state"};
}

bool SourceMigration::rollback(Done done) {
  if (stage_ != Stage::kCompleted) return false;
  stage_ = Stage::kRolledBack;
  progress_.phase = "rolled-back";
  // Not through call(): `done` is the owner's and runs even if *this is gone.
  q_.call("cont", nlohmann::json(), [done = std::move(done)](Result<json> r) {
    if (done) done(r ? Status{Ok{}} : Status{Error{named("cont", r.error().message)}});
  });
  return true;
}

bool SourceMigration::finish(Done done) {
  if (stage_ != Stage::kCompleted) return false;
  stage_ = Stage::kFinished;
  q_.call("quit", nlohmann::json(), [done = std::move(done)](Result<json> r) {
    if (done) done(r ? Status{Ok{}} : Status{Error{named("quit", r.error().message)}});
  });
  return true;
}

// ---------------------------------------------------------------------------
// DestMigration

DestMigration::DestMigration(QmpChannel& q, Params p, Hooks h) : q_(q), p_(std::move(p)), h_(std::move(h)) {}

DestMigration::~DestMigration() = default;

void DestMigration::start() {
  if (stage_ != Stage::kIdle) return;
  if (p_.address.empty()) return fail("incoming migration: no address to listen on");
  if (!p_.export_nodes.empty() && p_.nbd_port == 0)
    return fail("incoming migration: disks to export, but no NBD port to export them on");
  stage_ = Stage::kPreparing;
  call("migrate-set-capabilities", capabilities({"events", "late-block-activate"}), [this](const json&) {
    if (p_.export_nodes.empty()) return listen();
    json addr = {{"type", "inet"}, {"data", {{"host", p_.address}, {"port", std::to_string(p_.nbd_port)}}}};
    call("nbd-server-start", json{{"addr", std::move(addr)}}, [this](const json&) { export_node(0); });
  });
}

void DestMigration::call(const std::string& execute, json arguments, std::function<void(const json&)> ok,
                         std::function<void(const std::string&)> on_error) {
  std::weak_ptr<bool> alive = alive_;
  q_.call(execute, arguments, [this, alive, execute, ok = std::move(ok), on_error = std::move(on_error)](Result<json> r) {
    if (alive.expired() || stage_ == Stage::kFailed) return;
    if (!r) {
      if (on_error) return on_error(named(execute, r.error().message));
      return fail(named(execute, r.error().message));
    }
    ok(*r);
  });
}

void DestMigration::export_node(size_t i) {
  if (i == p_.export_nodes.size()) return listen();
  const std::string& node = p_.export_nodes[i];
  json args = {{"type", "nbd"}, {"id", "exp-" + node}, {"node-name", node}, {"name", node}, {"writable", true}};
  call("block-export-add", std::move(args), [this, i](const json&) { export_node(i + 1); });
}

namespace {

// "HOST:PORT" for a URI, with an IPv6 host in brackets.
std::string host_port(const std::string& host, const std::string& port) {
  return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + port;
}

// The port of the first inet address of query-migrate's socket-address (a
// string in QEMU 7.2; a number accepted too), 0 if none.
uint16_t listening_port(const json& r, std::string& host) {
  const json* list = field(r, "socket-address");
  if (!list || !list->is_array()) return 0;
  for (const json& a : *list) {
    const json* port = field(a, "port");
    if (!port || (text(a, "type") != "inet" && !text(a, "type").empty())) continue;
    uint64_t v = 0;
    if (port->is_string()) {
      const std::string& s = port->get_ref<const std::string&>();
      if (s.empty() || s.size() > 5 || s.find_first_not_of("0123456789") != std::string::npos) continue;
      v = std::stoul(s);
    } else if (port->is_number_unsigned()) {
      v = port->get<uint64_t>();
    }
    if (v == 0 || v > 65535) continue;
    host = text(a, "host");
    return static_cast<uint16_t>(v);
  }
  return 0;
}

}  // namespace

void DestMigration::listen() {
  call("migrate-incoming", json{{"uri", "tcp:" + host_port(p_.address, "0")}}, [this](const json&) {
    call("query-migrate", json(), [this](const json& r) {
      std::string host;
      const uint16_t port = listening_port(r, host);
      if (port == 0) return fail("query-migrate: no listening port in its answer: " + r.dump().substr(0, 200));
      if (host.empty()) host = p_.address;
      stage_ = Stage::kListening;
      const auto h = h_.ready;
      const std::string uri = "tcp:" + host_port(host, std::to_string(port));
      if (h) h(uri, p_.export_nodes.empty() ? uint16_t{0} : p_.nbd_port);
    });
  });
}

void DestMigration::on_event(const std::string& event, const json& data, int64_t timestamp_us) {
  if (event == "RESUME") {
    if (stage_ == Stage::kResuming) resume_us_ = timestamp_us;
    return;
  }
  if (event != "MIGRATION" || stage_ != Stage::kListening) return;
  const std::string status = text(data, "status");
  if (status == "completed") {
    stage_ = Stage::kReceived;
    const auto h = h_.received;
    if (h) h();
  } else if (status == "failed" || status == "cancelled") {
    fail("the incoming migration failed (the stream from the source broke or was cancelled; QEMU ends itself)");
  }
}

bool DestMigration::resume() {
  if (stage_ != Stage::kReceived) return false;
  stage_ = Stage::kResuming;
  auto run = [this] {
    call("cont", json(), [this](const json&) {
      const json announce = {{"initial", 50}, {"max", 550}, {"rounds", 5}, {"step", 100}};
      auto resumed = [this] {
        stage_ = Stage::kResumed;
        const auto h = h_.resumed;
        if (h) h(resume_us_ / 1000);
      };
      call("announce-self", announce, [resumed](const json&) { resumed(); },
           [this, resumed](const std::string& e) {
             warning_ = e;  // the guest runs: this is no failure
             resumed();
           });
    });
  };
  if (p_.export_nodes.empty()) run();
  else call("nbd-server-stop", json(), [run](const json&) { run(); });
  return true;
}

void DestMigration::fail(std::string error) {
  stage_ = Stage::kFailed;
  error_ = std::move(error);
  const auto h = h_.failed;
  const std::string e = error_;
  if (h) h(e);
}

}  // namespace kvnet::daemon
