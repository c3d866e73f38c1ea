// Live migration of a VM between two hosts with non-shared storage, the QMP
// side: two event-driven state machines, one per end.
//
// SourceMigration, on the host the VM leaves (its QEMU runs):
//   per disk   blockdev-add {driver nbd, node-name mig-D, export, reconnect-delay 0,
//                            server {type inet, host, port, keep-alive true}}
//              blockdev-mirror {job-id mirror-D, device D, target mig-D, sync top,
//                               auto-dismiss false}
//              ... BLOCK_JOB_READY of every mirror-D        (phase "disk")
//   then       migrate-set-capabilities [events], migrate-set-parameters
//              {downtime-limit, max-bandwidth}, migrate {uri}  (phase "memory")
//              ... MIGRATION completed: the source is paused (postmigrate)
//   per disk   block-job-cancel {device mirror-D}   (a READY mirror cancelled
//              = a clean finish: it copies what is still dirty, no pivot)
//              ... BLOCK_JOB_COMPLETED, then job-dismiss, blockdev-del mig-D
//   then the `completed` hook: the owner switches over, then finish() (quit)
//   or, when the switchover failed, rollback() (cont).
//
// DestMigration, on the host the VM comes to (its QEMU started with
// `-S -incoming defer`, so the guest stays paused after the stream):
//   migrate-set-capabilities [events, late-block-activate]
//   with disks  nbd-server-start {addr {type inet, data {host, port}}}
//               block-export-add {type nbd, id exp-D, node-name D, name D, writable}
//   migrate-incoming {uri tcp:ADDR:0}, then query-migrate: the port QEMU
//   chose is in its socket-address; then the `ready` hook
//   ... MIGRATION completed: the `received` hook
//   resume(), once the source's mirrors finished and the owner switched over:
//   nbd-server-stop (with disks), cont (RESUME), announce-self
//   {initial 50, max 550, rounds 5, step 100}: QEMU 7.2 requires all four.
//
// QEMU 7.2 facts these rely on (verified with two QEMU 7.2.22 of Debian 12
// on one host, over 127.0.0.1):
//   - migrate-incoming with port 0 listens on a port of the kernel's choice,
//     and the destination's query-migrate answers only
//     {"socket-address": [{"type": "inet", "host": H, "port": "36553", "ipv4": true}]}
//     (the port is a string; no "status" yet).
//   - nbd-server-start with port "0" is accepted and listens, but no QMP
//     command tells the port (query-block-exports gives node and id only;
//     7.2 has no query-nbd-server): the owner picks the NBD port.
//   - The MIGRATION event carries only the status; why a migration failed
//     is query-migrate's "error-desc" ("Unable to write to socket: Broken
//     pipe" or "... Connection reset by peer" when the destination dies).
//   - After a failed or cancelled migration the source runs on. A silent
//     destination (its QEMU stopped; as a cut network) leaves precopy stuck
//     with ram.transferred unchanged; migrate_cancel still ends it at once.
//     But a force block-job-cancel of a mirror with writes in flight to it
//     never finishes, and blockdev-del of its nbd node blocks QEMU's monitor
//     (the close flushes the export), until TCP gives up. `yank` of the nbd
//     node (type block-node) fails the in-flight requests at once; so the
//     failure path yanks every nbd node before waiting for its job and
//     before deleting it. The success path does not: there the destination
//     answered every write and still has to answer the final flush.
//
// On failure (a QMP error before completion, MIGRATION failed, a mirror's
// error, the stall watchdog, cancel()) the source cleans up and leaves the
// guest running: migrate_cancel (if the RAM was being sent, waiting for
// MIGRATION cancelled/failed), then per nbd node block-job-cancel force,
// yank, BLOCK_JOB_CANCELLED, job-dismiss, blockdev-del; `cont` if the source
// had already been paused by a completed migration; then the `failed` hook.
// The first error is the one reported; the cleanup's own errors are added in
// parentheses. The destination does no cleanup: a failed incoming QEMU ends
// itself (exit 1), and its owner removes what it made.
//
// Neither machine does I/O or owns a timer: the owner (kvnetd's VM host)
// gives each one QmpChannel, feeds it that QEMU's events, and calls the
// source's tick() every ~250 ms (polls, stall watchdog).
//
// Lifetime and re-entrancy: a hook may be called from within start(),
// on_event(), tick(), cancel() or a QMP reply. A hook may destroy the
// migration object (each is called last, from a copy, and nothing of the
// object is touched after it if the object is gone); replies that arrive
// after the object was destroyed are ignored. The channel must not call a
// reply from within call() (VmHost::qmp_call never does).
//
// Thread-safety: one owner (kvnetd's control thread).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/result.h"

namespace kvnet::daemon {

// One VM's QMP connection as a migration uses it (VmHost gives it; tests
// fake it).
class QmpChannel {
 public:
  // The command's "return" value, or its error: "CLASS: description", or why
  // no answer came (the connection closed, QEMU ended, a timeout).
  using Reply = std::function<void(Result<nlohmann::json>)>;
  virtual ~QmpChannel() = default;
  // Sends one command (`arguments` null: none). `reply` is called exactly
  // once, later, never from within call().
  virtual void call(const std::string& execute, const nlohmann::json& arguments, Reply reply) = 0;
};

// Where a migration is, from QEMU's own figures (query-migrate,
// query-block-jobs) and the machine's phase.
struct MigrationProgress {
  // "setup", "disk" (mirroring), "memory" (precopy), "completed", "failed",
  // "cancelled", "rolled-back" (completed, then resumed on the source).
  std::string phase;
  std::string qemu_status;  // query-migrate's "status" ("setup", "active", "completed", ...; "" none)
  uint64_t ram_transferred = 0, ram_remaining = 0, ram_total = 0;  // bytes
  uint64_t dirty_rate = 0;  // bytes/s: dirty-pages-rate x page-size
  double mbps = 0;          // QEMU's throughput figure, megabits/s
  // QEMU's figures in ms (-1: not given): expected-downtime while active,
  // downtime once completed, total-time, setup-time.
  int64_t expected_downtime_ms = -1, downtime_ms = -1, total_ms = -1, setup_ms = -1;
  uint64_t disk_done = 0, disk_total = 0;  // mirrored bytes of all disks (offset/len of their jobs)
  int64_t stop_us = 0;  // the source's STOP event (the guest paused for the last pass), us since the epoch; 0: none
  std::string error;    // failed/cancelled: why (query-migrate's error-desc for QEMU's own failures)
};

// query-migrate's answer as progress. Reads what another process wrote:
// missing fields and fields of an unexpected type read as not given (0, -1,
// ""); it never throws. `phase` is left empty. A ram.page-size that is
// missing counts as 4096.
MigrationProgress parse_query_migrate(const nlohmann::json& reply);

// A disk copied to the destination's NBD export before the RAM
// (non-shared storage).
struct DiskMirror {
  std::string node;         // the source's block node ("disk0")
  std::string export_name;  // the destination's export ("disk0")
  std::string host;         // the destination's NBD server address
  uint16_t port = 0;
};

struct SourceParams {
  std::string uri;                 // "tcp:HOST:PORT": the destination's incoming QEMU
  uint32_t max_downtime_ms = 300;  // migrate-set-parameters downtime-limit
  uint64_t max_bandwidth = 0;      // bytes/s (0: leave QEMU's default, 128 MiB/s)
  std::vector<DiskMirror> disks;
  // Stop the guest before its memory moves (`stop` once the mirrors are
  // READY, then precopy of a still guest; a failure `cont`s it): for TCG,
  // whose live precopy lost guest writes in our runs (docs/cluster.md).
  bool pause_first = false;
  // No progress (RAM transferred, mirror offsets, a QMP answer) for this long
  // fails the migration: "no progress for 10 s (network between the
  // hosts?)". Also bounds the mirrors' finish after completion and the
  // cleanup's waits for QEMU's events.
  std::chrono::milliseconds stall_timeout{10000};
};

class SourceMigration {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  struct Hooks {
    std::function<void(const MigrationProgress&)> progress;  // after each poll
    // Once: the RAM is sent, the source is paused (postmigrate) and every
    // mirror finished and its nbd node is gone: the owner may switch over.
    std::function<void(const MigrationProgress&)> completed;
    // Once: failed or cancelled (phase says which, error why); the source
    // guest runs, its mirrors are cancelled and their nbd nodes deleted.
    std::function<void(const MigrationProgress&)> failed;
  };
  // What rollback() and finish() report: their command's result.
  using Done = std::function<void(Status)>;

  SourceMigration(QmpChannel& q, SourceParams p, Hooks h);
  ~SourceMigration();
  SourceMigration(const SourceMigration&) = delete;
  SourceMigration& operator=(const SourceMigration&) = delete;

  // Begins: the mirrors (if any), then the RAM. Parameters that cannot
  // work (no uri; a disk without node, export, host or port; a node twice)
  // send nothing and end in the `failed` hook at once. A second start does
  // nothing.
  void start(TimePoint now);
  // One QMP event of the source's QEMU: MIGRATION, STOP, BLOCK_JOB_READY,
  // BLOCK_JOB_COMPLETED, BLOCK_JOB_CANCELLED, BLOCK_JOB_ERROR; others are
  // ignored. `timestamp_us`: QEMU's, microseconds since the epoch (0: none).
  void on_event(const std::string& event, const nlohmann::json& data, TimePoint now, int64_t timestamp_us = 0);
  // Every ~250 ms: polls query-block-jobs (disk phase) or query-migrate
  // (memory phase; one poll in flight at most), runs the stall watchdog.
  void tick(TimePoint now);
  // Before completion: stops everything and ends in the `failed` hook with
  // phase "cancelled". After completion: "too late: the migration has
  // completed". Also an error when it has not started or already ended.
  Status cancel();
  // After `completed` (the owner's switchover failed): `cont`, so the
  // source runs again; `done` gets its result. False (nothing sent, `done`
  // not called) in any other state.
  bool rollback(Done done = {});
  // After `completed` and the switchover: `quit` ends the source QEMU
  // (`done` may get an error when QEMU closes the connection first). False
  // (nothing sent) in any other state.
  bool finish(Done done = {});

  const MigrationProgress& progress() const { return progress_; }
  // Completed (also rolled back or finished since), failed or cancelled.
  bool done() const;

 private:
  enum class Stage : uint8_t {
    kIdle, kPreparing, kMirroring, kConfiguring, kMigrating, kFinishing,  // forward
    kCompleted, kRolledBack, kFinished,                                   // after completion
    kCleaning, kFailed,                                                   // failure
  };
  enum class Op : uint8_t { kNot, kSent, kDone };
  struct Disk {
    DiskMirror m;
    std::string nbd_node, job;  // "mig-D", "mirror-D"
    bool has_node = false, has_job = false;  // QEMU holds the nbd node, the job
    bool ready = false;                      // BLOCK_JOB_READY (or the job's status "ready")
    bool ended = false;  // BLOCK_JOB_COMPLETED or _CANCELLED seen (or given up on)
    // complete: the finishing block-job-cancel; cancel: the failure's forced one.
    Op complete = Op::kNot, cancel = Op::kNot, yank = Op::kNot, dismiss = Op::kNot, del = Op::kNot;
    uint64_t offset = 0, len = 0;
  };

  // Sends a command; `then` runs with its reply unless *this is gone.
  void call(const std::string& execute, nlohmann::json arguments, std::function<void(Result<nlohmann::json>)> then);
  // A forward command: `record` notes what a success made (in any stage);
  // then, still going forward, an error fails the migration naming the
  // command, a success runs `next`. While cleaning, the cleanup goes on.
  void step(const std::string& execute, nlohmann::json arguments, std::function<void(const nlohmann::json&)> record,
            std::function<void()> next);
  // A cleanup command: an error is noted; `then` runs either way, then the cleanup goes on.
  void cleanup_call(const std::string& execute, nlohmann::json arguments, std::function<void(bool ok)> then);
  // A finishing command of disk i: `op` is marked sent, then done; an error fails.
  void finish_op(size_t i, Op Disk::*op, const std::string& execute, nlohmann::json arguments, void (*on_ok)(Disk&));
  void add_node(size_t i);
  void add_mirror(size_t i);
  void maybe_all_ready();
  void configure();
  void on_migration_status(const std::string& status, bool from_poll, const std::string& desc);
  void on_job_event(const std::string& event, const nlohmann::json& data);
  void apply(const MigrationProgress& p);  // query-migrate's figures into progress_
  void sum_disks();
  void poll_migrate();
  void poll_jobs();
  void fail(std::string error, bool cancelled = false);
  void pump_finish();
  void pump_cleanup();
  bool cleanup_disk(size_t i);
  void give_up_waiting();
  void ended_in(Stage s);
  void made_progress() { last_change_ = now_; }
  bool forward() const;
  Disk* find_job(const nlohmann::json& data);
  // Calls a hook with a copy of the progress; false if *this is gone after it.
  bool notify(const std::function<void(const MigrationProgress&)>& hook);

  QmpChannel& q_;
  SourceParams p_;
  Hooks h_;
  std::vector<Disk> disks_;
  Stage stage_ = Stage::kIdle;
  MigrationProgress progress_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // replies hold it weakly
  TimePoint now_{}, last_change_{}, finish_since_{}, cleanup_since_{};
  uint64_t last_ram_ = 0;        // ram.transferred at the last poll
  int steps_ = 0;                // forward commands in flight (the cleanup waits for them)
  bool poll_in_flight_ = false;  // one query-migrate / query-block-jobs at a time
  bool migrate_sent_ = false, migrate_started_ = false, mig_terminal_ = false;
  bool source_paused_ = false;   // paused by QEMU (completed: postmigrate) or by pause_first
  bool final_poll_done_ = false; // completed: query-migrate's last figures read
  bool cancelled_ = false;
  Op migrate_cancel_ = Op::kNot, cont_ = Op::kNot;
  std::string error_;
  std::vector<std::string> notes_;  // the cleanup's own errors
};

class DestMigration {
 public:
  struct Hooks {
    // Incoming listens: `uri` "tcp:ADDR:PORT" with the port QEMU chose, and
    // the NBD server's port (0: no disks).
    std::function<void(const std::string& uri, uint16_t nbd_port)> ready;
    // MIGRATION completed on this side: the guest is here, paused (-S).
    std::function<void()> received;
    // After resume(): nbd-server-stop, cont, announce-self done; the RESUME
    // event's timestamp, ms since the epoch (0: not seen; on_event not given
    // timestamps).
    std::function<void(int64_t resumed_ms_since_epoch)> resumed;
    // Before resumed: why it failed (naming the command, or the incoming
    // stream's failure; QEMU then ends itself).
    std::function<void(const std::string& error)> failed;
  };
  struct Params {
    std::string address;                    // the underlay address to listen on (IPv4 or IPv6, no brackets)
    std::vector<std::string> export_nodes;  // block nodes exported writable over NBD (export name = node)
    // The NBD server's port, chosen by the owner (QEMU 7.2 cannot tell a
    // port it chose); needed with export_nodes.
    uint16_t nbd_port = 0;
  };

  DestMigration(QmpChannel& q, Params p, Hooks h);
  ~DestMigration();
  DestMigration(const DestMigration&) = delete;
  DestMigration& operator=(const DestMigration&) = delete;

  // Exports the disks and listens; `ready` or `failed` follows. Parameters
  // that cannot work (no address, disks without an NBD port) send nothing
  // and end in `failed` at once. A second start does nothing.
  void start();
  // One QMP event of the destination's QEMU: MIGRATION (completed, failed),
  // RESUME; others are ignored. `timestamp_us` as SourceMigration's.
  void on_event(const std::string& event, const nlohmann::json& data, int64_t timestamp_us = 0);
  // After `received` and the owner's switchover: the guest runs here
  // (`resumed` or `failed` follows). False (nothing sent) before `received`,
  // after a failure or after an earlier resume().
  bool resume();

  const std::string& error() const { return error_; }
  // A non-fatal problem after cont (announce-self failed: the guest runs,
  // but switches learn its MACs only from its own traffic).
  const std::string& warning() const { return warning_; }

 private:
  enum class Stage : uint8_t { kIdle, kPreparing, kListening, kReceived, kResuming, kResumed, kFailed };
  // Sends a command; on success `ok`, on error `on_error` (none: the
  // migration fails, naming the command). Nothing once failed or gone.
  void call(const std::string& execute, nlohmann::json arguments, std::function<void(const nlohmann::json&)> ok,
            std::function<void(const std::string&)> on_error = {});
  void export_node(size_t i);
  void listen();
  void fail(std::string error);

  QmpChannel& q_;
  Params p_;
  Hooks h_;
  Stage stage_ = Stage::kIdle;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  int64_t resume_us_ = 0;
  std::string error_, warning_;
};

}  // namespace kvnet::daemon
