// Live migration's QMP side against a fake QMP: the commands in order with
// their exact arguments, QEMU 7.2's answers and events (as two QEMU 7.2.22
// gave them), failures, cancel, the stall watchdog.
#include "daemon/migration.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <memory>
#include <string>
#include <vector>

namespace kvnet::daemon {
namespace {

using json = nlohmann::json;
using TimePoint = SourceMigration::TimePoint;
using Names = std::vector<std::string>;

// Records every call; the test answers each (return or error) by name.
class FakeQmp final : public QmpChannel {
 public:
  struct Call {
    std::string execute;
    json arguments;
    Reply reply;
  };
  void call(const std::string& execute, const json& arguments, Reply reply) override {
    log.push_back(execute);
    pending.push_back({execute, arguments, std::move(reply)});
  }
  // The names of the unanswered calls, oldest first.
  Names names() const {
    Names n;
    for (const Call& c : pending) n.push_back(c.execute);
    return n;
  }
  // The arguments of the oldest unanswered call named `execute`.
  json args(const std::string& execute) const {
    for (const Call& c : pending)
      if (c.execute == execute) return c.arguments;
    ADD_FAILURE() << "no call " << execute << " pending";
    return json();
  }
  // Answers the oldest unanswered call named `execute`; its arguments.
  json answer(const std::string& execute, json ret = json::object()) { return reply(execute, std::move(ret)); }
  json refuse(const std::string& execute, const std::string& error) { return reply(execute, Error{error}); }

  std::deque<Call> pending;
  Names log;  // every call ever made, in order

 private:
  json reply(const std::string& execute, Result<json> r) {
    for (auto it = pending.begin(); it != pending.end(); ++it) {
      if (it->execute != execute) continue;
      Call c = std::move(*it);
      pending.erase(it);
      c.reply(std::move(r));
      return c.arguments;
    }
    ADD_FAILURE() << "no call " << execute << " to answer; pending: " << json(names()).dump();
    return json();
  }
};

// Answers as QEMU 7.2.22 gave them.
const json kActive = json::parse(R"({"expected-downtime": 300, "status": "active", "setup-time": 2, "total-time": 388,
  "ram": {"total": 67641344, "postcopy-requests": 0, "dirty-sync-count": 1, "multifd-bytes": 0,
  "pages-per-second": 36880, "downtime-bytes": 0, "page-size": 4096, "remaining": 11014144, "postcopy-bytes": 0,
  "mbps": 11.306304, "transferred": 390646, "dirty-sync-missed-zero-copy": 0, "precopy-bytes": 390646,
  "duplicate": 13759, "dirty-pages-rate": 250, "skipped": 0, "normal-bytes": 266240, "normal": 65}})");
const json kCompleted = json::parse(R"({"status": "completed", "setup-time": 2, "downtime": 77, "total-time": 538,
  "ram": {"total": 67641344, "postcopy-requests": 0, "dirty-sync-count": 3, "multifd-bytes": 0,
  "pages-per-second": 36880, "downtime-bytes": 16423, "page-size": 4096, "remaining": 0, "postcopy-bytes": 0,
  "mbps": 10.879880597014926, "transferred": 652502, "dirty-sync-missed-zero-copy": 0, "precopy-bytes": 636079,
  "duplicate": 16395, "dirty-pages-rate": 0, "skipped": 0, "normal-bytes": 503808, "normal": 123}})");
const json kBrokenPipe = json::parse(R"({"status": "failed", "error-desc": "Unable to write to socket: Broken pipe"})");
const json kJobRunning = json::parse(R"([{"auto-finalize": true, "io-status": "ok", "device": "mirror-disk0",
  "auto-dismiss": false, "busy": true, "len": 16777216, "offset": 12582912, "status": "running", "paused": false,
  "speed": 0, "ready": false, "type": "mirror"}])");
const json kReady = json::parse(R"({"device": "mirror-disk0", "len": 16777216, "offset": 16777216, "speed": 0, "type": "mirror"})");
const json kJobEnd = kReady;  // BLOCK_JOB_COMPLETED and _CANCELLED carry the same fields
const json kIncoming = json::parse(R"({"socket-address": [{"port": "36553", "ipv4": true, "host": "10.0.0.2", "type": "inet"}]})");

json status(const char* s) { return json{{"status", s}}; }

// ---------------------------------------------------------------- parsing

TEST(MigrationParse, QemuSevenTwoActiveReply) {
  const MigrationProgress p = parse_query_migrate(kActive);
  EXPECT_EQ(p.qemu_status, "active");
  EXPECT_EQ(p.phase, "");
  EXPECT_EQ(p.ram_transferred, 390646u);
  EXPECT_EQ(p.ram_remaining, 11014144u);
  EXPECT_EQ(p.ram_total, 67641344u);
  EXPECT_EQ(p.dirty_rate, 250u * 4096u);
  EXPECT_DOUBLE_EQ(p.mbps, 11.306304);
  EXPECT_EQ(p.expected_downtime_ms, 300);
  EXPECT_EQ(p.downtime_ms, -1);
  EXPECT_EQ(p.total_ms, 388);
  EXPECT_EQ(p.setup_ms, 2);
  EXPECT_EQ(p.error, "");
}

TEST(MigrationParse, CompletedAndFailedReplies) {
  MigrationProgress p = parse_query_migrate(kCompleted);
  EXPECT_EQ(p.qemu_status, "completed");
  EXPECT_EQ(p.downtime_ms, 77);
  EXPECT_EQ(p.expected_downtime_ms, -1);
  EXPECT_EQ(p.ram_transferred, 652502u);
  EXPECT_EQ(p.ram_remaining, 0u);
  EXPECT_EQ(p.dirty_rate, 0u);
  p = parse_query_migrate(kBrokenPipe);
  EXPECT_EQ(p.qemu_status, "failed");
  EXPECT_EQ(p.error, "Unable to write to socket: Broken pipe");
  EXPECT_EQ(p.ram_total, 0u);
  EXPECT_EQ(p.total_ms, -1);
}

TEST(MigrationParse, MissingFieldsReadAsNotGiven) {
  // Before any migrate (source) and right after migrate-incoming (destination): no status.
  for (const json& j : {json::object(), kIncoming, status("setup"), json(), json::array({1}), json("active"), json(3)}) {
    const MigrationProgress p = parse_query_migrate(j);
    EXPECT_EQ(p.ram_transferred, 0u) << j.dump();
    EXPECT_EQ(p.total_ms, -1) << j.dump();
    EXPECT_EQ(p.downtime_ms, -1) << j.dump();
    EXPECT_EQ(p.mbps, 0) << j.dump();
    EXPECT_EQ(p.error, "") << j.dump();
  }
  EXPECT_EQ(parse_query_migrate(status("setup")).qemu_status, "setup");
  EXPECT_EQ(parse_query_migrate(json::object()).qemu_status, "");
}

TEST(MigrationParse, OddTypesNeverThrow) {
  const json odd = json::parse(R"({"status": 7, "total-time": "388", "setup-time": -5, "expected-downtime": 1.5,
    "downtime": 18446744073709551615, "error-desc": ["x"],
    "ram": {"transferred": "12", "remaining": -1, "total": 1e300, "mbps": "fast", "dirty-pages-rate": 18446744073709551615,
            "page-size": {"x": 1}}})");
  MigrationProgress p;
  EXPECT_NO_THROW(p = parse_query_migrate(odd));
  EXPECT_EQ(p.qemu_status, "");
  EXPECT_EQ(p.total_ms, -1);
  EXPECT_EQ(p.setup_ms, -1);
  EXPECT_EQ(p.expected_downtime_ms, -1);
  EXPECT_EQ(p.downtime_ms, -1);
  EXPECT_EQ(p.error, "");
  EXPECT_EQ(p.ram_transferred, 0u);
  EXPECT_EQ(p.ram_remaining, 0u);
  EXPECT_EQ(p.ram_total, 0u);
  EXPECT_EQ(p.mbps, 0);
  EXPECT_EQ(p.dirty_rate, UINT64_MAX);  // saturates; a page-size that is no number counts as 4096
  EXPECT_NO_THROW(p = parse_query_migrate(json::parse(R"({"ram": [1, 2]})")));
  EXPECT_EQ(p.ram_total, 0u);
  p = parse_query_migrate(json::parse(R"({"ram": {"dirty-pages-rate": 10, "transferred": 2.0e3, "mbps": 3}})"));
  EXPECT_EQ(p.dirty_rate, 40960u);
  EXPECT_EQ(p.ram_transferred, 2000u);
  EXPECT_EQ(p.mbps, 3.0);
}

// ---------------------------------------------------------------- the source

class MigrationSource : public ::testing::Test {
 protected:
  TimePoint at(double s) const { return TimePoint{} + std::chrono::hours(1) + std::chrono::milliseconds(int64_t(s * 1000)); }

  SourceParams params(int disks) const {
    SourceParams p;
    p.uri = "tcp:10.0.0.2:49154";
    p.max_downtime_ms = 100;
    p.max_bandwidth = 1 << 30;
    for (int i = 0; i < disks; ++i) {
      const std::string n = "disk" + std::to_string(i);
      p.disks.push_back({n, n, "10.0.0.2", 49153});
    }
    return p;
  }

  void make(SourceParams p) {
    SourceMigration::Hooks h;
    h.progress = [this](const MigrationProgress& x) { polls.push_back(x); };
    h.completed = [this](const MigrationProgress& x) {
      ++completed;
      last = x;
    };
    h.failed = [this](const MigrationProgress& x) {
      ++failed;
      last = x;
    };
    m = std::make_unique<SourceMigration>(q, std::move(p), std::move(h));
  }

  // blockdev-add and blockdev-mirror of each disk, answered.
  void mirror_all(int disks) {
    for (int i = 0; i < disks; ++i) {
      q.answer("blockdev-add");
      q.answer("blockdev-mirror");
    }
  }
  // From start to `migrate` answered (the memory phase), READY for each disk.
  void to_memory(int disks) {
    make(params(disks));
    m->start(at(0));
    mirror_all(disks);
    for (int i = 0; i < disks; ++i) {
      json ready = kReady;
      ready["device"] = "mirror-disk" + std::to_string(i);
      m->on_event("BLOCK_JOB_READY", ready, at(0.2));
    }
    q.answer("migrate-set-capabilities");
    q.answer("migrate-set-parameters");
    m->on_event("MIGRATION", status("setup"), at(0.3));  // QEMU sends it before migrate's answer
    q.answer("migrate");
    ASSERT_TRUE(q.pending.empty()) << json(q.names()).dump();
    EXPECT_EQ(m->progress().phase, "memory");
  }
  // The cleanup of one disk whose mirror runs: force cancel, yank,
  // CANCELLED, job-dismiss, blockdev-del.
  void clean_disk(const std::string& d, double t) {
    EXPECT_EQ(q.answer("block-job-cancel"), (json{{"device", "mirror-" + d}, {"force", true}}));
    EXPECT_EQ(q.answer("yank"),
              json::parse(R"({"instances": [{"type": "block-node", "node-name": "mig-)" + d + R"("}]})"));
    EXPECT_TRUE(q.pending.empty());
    EXPECT_EQ(failed, 0);
    json end = kJobEnd;
    end["device"] = "mirror-" + d;
    m->on_event("BLOCK_JOB_CANCELLED", end, at(t));
    EXPECT_EQ(q.answer("job-dismiss"), (json{{"id", "mirror-" + d}}));
    EXPECT_EQ(failed, 0);
    EXPECT_EQ(q.answer("blockdev-del"), (json{{"node-name", "mig-" + d}}));
  }

  FakeQmp q;
  std::unique_ptr<SourceMigration> m;
  std::vector<MigrationProgress> polls;
  int completed = 0, failed = 0;
  MigrationProgress last;
};

TEST_F(MigrationSource, RamOnlyHappyPath) {
  make(params(0));
  m->start(at(0));
  EXPECT_EQ(m->progress().phase, "setup");
  EXPECT_EQ(q.names(), Names{"migrate-set-capabilities"});
  EXPECT_EQ(q.answer("migrate-set-capabilities"),
            json::parse(R"({"capabilities": [{"capability": "events", "state": true}]})"));
  EXPECT_EQ(q.answer("migrate-set-parameters"), json::parse(R"({"downtime-limit": 100, "max-bandwidth": 1073741824})"));
  EXPECT_EQ(q.answer("migrate"), json::parse(R"({"uri": "tcp:10.0.0.2:49154"})"));
  EXPECT_EQ(m->progress().phase, "memory");

  m->tick(at(0.25));
  ASSERT_EQ(q.names(), Names{"query-migrate"});
  m->tick(at(0.5));  // one poll in flight at a time
  EXPECT_EQ(q.names(), Names{"query-migrate"});
  q.answer("query-migrate", kActive);
  ASSERT_EQ(polls.size(), 1u);
  EXPECT_EQ(polls[0].phase, "memory");
  EXPECT_EQ(polls[0].qemu_status, "active");
  EXPECT_EQ(polls[0].ram_transferred, 390646u);
  EXPECT_EQ(polls[0].dirty_rate, 1024000u);
  EXPECT_EQ(polls[0].expected_downtime_ms, 300);

  m->on_event("STOP", json(), at(0.6), 1796622137683604);
  m->on_event("MIGRATION", status("completed"), at(0.6));
  EXPECT_EQ(completed, 0);  // the final figures first
  q.answer("query-migrate", kCompleted);
  EXPECT_EQ(completed, 1);
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(last.phase, "completed");
  EXPECT_EQ(last.downtime_ms, 77);
  EXPECT_EQ(last.stop_us, 1796622137683604);
  EXPECT_TRUE(m->done());

  // Later events and ticks change nothing.
  m->on_event("MIGRATION", status("completed"), at(0.7));
  m->tick(at(30));
  EXPECT_EQ(completed, 1);
  EXPECT_TRUE(q.pending.empty());
  EXPECT_EQ(q.log, (Names{"migrate-set-capabilities", "migrate-set-parameters", "migrate", "query-migrate",
                          "query-migrate"}));
  Status fin = Error{"not called"};
  EXPECT_TRUE(m->finish([&](Status s) { fin = s; }));
  q.answer("quit");
  EXPECT_TRUE(fin.ok());
  EXPECT_FALSE(m->finish());
}

TEST_F(MigrationSource, NoBandwidthLeavesQemusDefault) {
  SourceParams p = params(0);
  p.max_bandwidth = 0;
  make(p);
  m->start(at(0));
  q.answer("migrate-set-capabilities");
  EXPECT_EQ(q.args("migrate-set-parameters"), json::parse(R"({"downtime-limit": 100})"));
}

TEST_F(MigrationSource, CompletionSeenByAPollNeedsNoOtherQuery) {
  to_memory(0);
  m->tick(at(0.5));
  q.answer("query-migrate", kCompleted);
  EXPECT_EQ(completed, 1);
  EXPECT_EQ(last.downtime_ms, 77);
  m->on_event("MIGRATION", status("completed"), at(0.6));
  EXPECT_TRUE(q.pending.empty());
  EXPECT_EQ(completed, 1);
}

TEST_F(MigrationSource, OneDiskHappyPath) {
  make(params(1));
  m->start(at(0));
  EXPECT_EQ(q.names(), Names{"blockdev-add"});
  EXPECT_EQ(q.answer("blockdev-add"), json::parse(R"({"driver": "nbd", "node-name": "mig-disk0", "export": "disk0",
      "reconnect-delay": 0, "server": {"type": "inet", "host": "10.0.0.2", "port": "49153", "keep-alive": true}})"));
  EXPECT_EQ(q.answer("blockdev-mirror"), json::parse(R"({"job-id": "mirror-disk0", "device": "disk0",
      "target": "mig-disk0", "sync": "top", "auto-dismiss": false})"));
  EXPECT_EQ(m->progress().phase, "disk");
  EXPECT_TRUE(q.pending.empty());

  m->tick(at(0.25));
  q.answer("query-block-jobs", kJobRunning);
  ASSERT_EQ(polls.size(), 1u);
  EXPECT_EQ(polls[0].phase, "disk");
  EXPECT_EQ(polls[0].disk_done, 12582912u);
  EXPECT_EQ(polls[0].disk_total, 16777216u);
  EXPECT_TRUE(q.pending.empty());  // not ready yet: no migrate

  m->on_event("JOB_STATUS_CHANGE", json::parse(R"({"status": "ready", "id": "mirror-disk0"})"), at(0.3));
  m->on_event("BLOCK_JOB_READY", kReady, at(0.3));
  EXPECT_EQ(m->progress().disk_done, 16777216u);
  q.answer("migrate-set-capabilities");
  q.answer("migrate-set-parameters");
  q.answer("migrate");
  EXPECT_EQ(m->progress().phase, "memory");
  m->tick(at(0.5));
  q.answer("query-migrate", kActive);

  m->on_event("MIGRATION", status("completed"), at(0.8));
  // The guest is paused now: the mirror finishes at once (no force), with the last poll alongside.
  EXPECT_EQ(q.names(), (Names{"query-migrate", "block-job-cancel"}));
  EXPECT_EQ(q.answer("block-job-cancel"), (json{{"device", "mirror-disk0"}}));
  q.answer("query-migrate", kCompleted);
  EXPECT_TRUE(q.pending.empty());
  EXPECT_EQ(completed, 0);
  m->on_event("BLOCK_JOB_COMPLETED", kJobEnd, at(0.9));
  EXPECT_EQ(q.answer("job-dismiss"), (json{{"id", "mirror-disk0"}}));
  EXPECT_EQ(completed, 0);
  EXPECT_EQ(q.answer("blockdev-del"), (json{{"node-name", "mig-disk0"}}));
  EXPECT_EQ(completed, 1);
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(last.phase, "completed");
  EXPECT_EQ(last.downtime_ms, 77);
  EXPECT_EQ(q.log, (Names{"blockdev-add", "blockdev-mirror", "query-block-jobs", "migrate-set-capabilities",
                          "migrate-set-parameters", "migrate", "query-migrate", "query-migrate", "block-job-cancel",
                          "job-dismiss", "blockdev-del"}));
}

TEST_F(MigrationSource, CompletedHookWaitsForEveryMirror) {
  to_memory(2);
  EXPECT_EQ(q.log[0], "blockdev-add");
  EXPECT_EQ(q.log[2], "blockdev-add");  // disks one after the other
  m->tick(at(0.5));
  q.answer("query-migrate", kCompleted);
  EXPECT_EQ(q.names(), (Names{"block-job-cancel", "block-job-cancel"}));  // both at once
  q.answer("block-job-cancel");
  q.answer("block-job-cancel");
  json end1 = kJobEnd;
  end1["device"] = "mirror-disk1";
  m->on_event("BLOCK_JOB_COMPLETED", end1, at(0.6));
  q.answer("job-dismiss");
  q.answer("blockdev-del");
  EXPECT_EQ(completed, 0);
  m->on_event("BLOCK_JOB_COMPLETED", kJobEnd, at(0.7));
  q.answer("job-dismiss");
  q.answer("blockdev-del");
  EXPECT_EQ(completed, 1);
}

TEST_F(MigrationSource, DestinationKilledFailsWithQemusReason) {
  to_memory(1);
  m->on_event("MIGRATION", status("failed"), at(1));
  EXPECT_EQ(q.names(), Names{"query-migrate"});  // the event has no reason
  m->tick(at(1.25));                              // no poll meanwhile
  EXPECT_EQ(q.names(), Names{"query-migrate"});
  q.answer("query-migrate", kBrokenPipe);
  // The source runs on: no migrate_cancel (it ended), no cont (never paused).
  clean_disk("disk0", 1.3);
  EXPECT_EQ(failed, 1);
  EXPECT_EQ(completed, 0);
  EXPECT_EQ(last.phase, "failed");
  EXPECT_EQ(last.error, "the migration failed: Unable to write to socket: Broken pipe");
  EXPECT_TRUE(m->done());
  EXPECT_TRUE(q.pending.empty());
  EXPECT_EQ(m->cancel().error().message, "the migration has failed already: " + last.error);
}

TEST_F(MigrationSource, FailureSeenByAPoll) {
  to_memory(0);
  m->tick(at(0.5));
  q.answer("query-migrate", kBrokenPipe);
  EXPECT_EQ(failed, 1);
  EXPECT_EQ(last.error, "the migration failed: Unable to write to socket: Broken pipe");
  EXPECT_TRUE(q.pending.empty());
}

TEST_F(MigrationSource, CancelDuringMemoryPhase) {
  to_memory(1);
  ASSERT_TRUE(m->cancel().ok());
  EXPECT_EQ(q.names(), Names{"migrate_cancel"});
  EXPECT_EQ(m->cancel().error().message, "the migration is already being cancelled");
  q.answer("migrate_cancel");
  m->on_event("MIGRATION", status("cancelling"), at(1));
  EXPECT_TRUE(q.pending.empty());  // the mirror waits for the migration's end
  m->on_event("MIGRATION", status("cancelled"), at(1.01));
  clean_disk("disk0", 1.02);
  EXPECT_EQ(failed, 1);
  EXPECT_EQ(last.phase, "cancelled");
  EXPECT_EQ(last.error, "the migration was cancelled");
  EXPECT_EQ(m->cancel().error().message, "the migration was cancelled already");
}

TEST_F(MigrationSource, CancelSeesTheEndThroughPollsWithoutEvents) {
  to_memory(0);
  ASSERT_TRUE(m->cancel().ok());
  q.answer("migrate_cancel");
  m->tick(at(1));
  q.answer("query-migrate", status("cancelled"));
  EXPECT_EQ(failed, 1);
  EXPECT_EQ(last.phase, "cancelled");
}

TEST_F(MigrationSource, CancelDuringDiskPhase) {
  make(params(1));
  m->start(at(0));
  mirror_all(1);
  ASSERT_TRUE(m->cancel().ok());
  clean_disk("disk0", 0.5);  // no migrate_cancel: the RAM was never sent
  EXPECT_EQ(failed, 1);
  EXPECT_EQ(last.phase, "cancelled");
  EXPECT_EQ(q.log, (Names{"blockdev-add", "blockdev-mirror", "block-job-cancel", "yank", "job-dismiss",
                          "blockdev-del"}));
  m->on_event("BLOCK_JOB_READY", kReady, at(0.6));  // late: nothing happens
  EXPECT_TRUE(q.pending.empty());
}

TEST_F(MigrationSource, CancelWhileACommandIsInFlightWaitsForItsAnswer) {
  make(params(1));
  m->start(at(0));
  ASSERT_TRUE(m->cancel().ok());
  EXPECT_EQ(q.names(), Names{"blockdev-add"});  // whether the node exists is not known yet
  q.answer("blockdev-add");
  EXPECT_EQ(q.names(), Names{"yank"});  // no mirror: the node only
  q.answer("yank");
  q.answer("blockdev-del");
  EXPECT_EQ(failed, 1);
  EXPECT_EQ(last.phase, "cancelled");

  // The same with the answer an error: nothing to clean up.
  failed = 0;
  q.log.clear();
  make(params(1));
  m->start(at(0));
  ASSERT_TRUE(m->cancel().ok());
  q.refuse("blockdev-add", "GenericError: Failed to connect to '10.0.0.2:49153': Connection refused");
  EXPECT_EQ(failed, 1);
  EXPECT_EQ(last.error, "the migration was cancelled");
  EXPECT_EQ(q.log, Names{"blockdev-add"});
}

TEST_F(MigrationSource, CancelAfterCompletionIsRefusedRollbackResumes) {
  to_memory(1);
  m->on_event("MIGRATION", status("completed"), at(1));
  EXPECT_EQ(m->cancel().error().message, "too late: the migration has completed");  // mirrors finishing
  q.answer("query-migrate", kCompleted);
  q.answer("block-job-cancel");
  m->on_event("BLOCK_JOB_COMPLETED", kJobEnd, at(1.1));
  q.answer("job-dismiss");
  q.answer("blockdev-del");
  ASSERT_EQ(completed, 1);
  EXPECT_EQ(m->cancel().error().message, "too late: the migration has completed");
  EXPECT_TRUE(q.pending.empty());

  Status rolled = Error{"not called"};
  EXPECT_TRUE(m->rollback([&](Status s) { rolled = s; }));
  EXPECT_EQ(q.names(), Names{"cont"});
  q.answer("cont");
  EXPECT_TRUE(rolled.ok());
  EXPECT_EQ(m->progress().phase, "rolled-back");
  EXPECT_FALSE(m->rollback());
  EXPECT_FALSE(m->finish());  // the source runs again: no quit
  EXPECT_EQ(failed, 0);
  EXPECT_TRUE(m->done());
}

TEST_F(MigrationSource, RollbackReportsContsError) {
  to_memory(0);
  m->on_event("MIGRATION", status("completed"), at(1));
  q.answer("query-migrate", kCompleted);
  Status rolled = Ok{};
  EXPECT_TRUE(m->rollback([&](Status s) { rolled = s; }));
  q.refuse("cont", "cont: QEMU did not answer within 15 s");  // VmHost's own words name the command
  ASSERT_FALSE(rolled.ok());
  EXPECT_EQ(rolled.error().message, "cont: QEMU did not answer within 15 s");
}

TEST_F(MigrationSource, StallWatchdogInMemoryPhase) {
  to_memory(0);
  json a = kActive;
  for (int i = 1; i <= 36; ++i) {  // 9 s of polls, every one with progress
    a["ram"]["transferred"] = 390646 + i;
    m->tick(at(i * 0.25));
    q.answer("query-migrate", a);
  }
  for (int i = 37; i <= 75; ++i) {  // then none for 9.5 s: still fine
    m->tick(at(i * 0.25));
    q.answer("query-migrate", a);
  }
  EXPECT_EQ(failed, 0);
  m->tick(at(19.0));  // 10 s since the last change
  EXPECT_EQ(q.names(), Names{"migrate_cancel"});
  q.answer("migrate_cancel");
  m->on_event("MIGRATION", status("cancelling"), at(19.01));
  m->on_event("MIGRATION", status("cancelled"), at(19.02));
  EXPECT_EQ(failed, 1);
  EXPECT_EQ(last.phase, "failed");
  EXPECT_EQ(last.error, "no progress for 10 s (network between the hosts?)");
}

TEST_F(MigrationSource, StallWatchdogInDiskPhase) {
  SourceParams p = params(1);
  p.stall_timeout = std::chrono::milliseconds(2500);
  make(p);
  m->start(at(0));
  mirror_all(1);
  for (int i = 1; i <= 10; ++i) {
    m->tick(at(i * 0.25));
    q.answer("query-block-jobs", kJobRunning);  // the same offset every time after the first
  }
  EXPECT_EQ(failed, 0);
  m->tick(at(2.75));  // 2.5 s after the first poll's offset
  clean_disk("disk0", 2.6);  // the yank fails the writes stuck on the silent destination
  EXPECT_EQ(failed, 1);
  EXPECT_EQ(last.error, "no progress for 2.5 s (network between the hosts?)");
}

TEST_F(MigrationSource, ErrorReplyToMigrate) {
  make(params(1));
  m->start(at(0));
  mirror_all(1);
  m->on_event("BLOCK_JOB_READY", kReady, at(0.2));
  q.answer("migrate-set-capabilities");
  q.answer("migrate-set-parameters");
  q.refuse("migrate", "GenericError: Parameter 'uri' expects a valid migration protocol");
  clean_disk("disk0", 0.3);  // no migrate_cancel: nothing runs
  EXPECT_EQ(failed, 1);
  EXPECT_EQ(last.phase, "failed");
  EXPECT_EQ(last.error, "migrate: GenericError: Parameter 'uri' expects a valid migration protocol");
  EXPECT_EQ(std::count(q.log.begin(), q.log.end(), "migrate_cancel"), 0);
}

// TCG: the guest is stopped once the mirror is READY, before the memory
// phase; a failure after that resumes it (cont), a refused stop does not.
TEST_F(MigrationSource, PauseFirstStopsTheGuestBeforeItsMemoryMoves) {
  SourceParams p = params(1);
  p.pause_first = true;
  make(p);
  m->start(at(0));
  mirror_all(1);
  m->on_event("BLOCK_JOB_READY", kReady, at(0.2));
  EXPECT_EQ(q.names(), Names{"stop"});
  q.answer("stop");
  EXPECT_EQ(q.names(), Names{"migrate-set-capabilities"});
  q.answer("migrate-set-capabilities");
  q.answer("migrate-set-parameters");
  q.refuse("migrate", "GenericError: Parameter 'uri' expects a valid migration protocol");
  clean_disk("disk0", 0.3);
  EXPECT_EQ(failed, 0) << "the guest is still stopped";
  q.answer("cont");
  EXPECT_EQ(failed, 1);
  EXPECT_EQ(last.error, "migrate: GenericError: Parameter 'uri' expects a valid migration protocol");
}

TEST_F(MigrationSource, PauseFirstRefusedStopFailsWithoutCont) {
  SourceParams p = params(0);
  p.pause_first = true;
  make(p);
  m->start(at(0));
  q.refuse("stop", "GenericError: nope");
  EXPECT_EQ(failed, 1);
  EXPECT_EQ(last.error, "stop: GenericError: nope");
  EXPECT_EQ(std::count(q.log.begin(), q.log.end(), "cont"), 0);
  EXPECT_EQ(std::count(q.log.begin(), q.log.end(), "migrate"), 0);
}

TEST_F(MigrationSource, ErrorReplyToBlockdevMirror) {
  make(params(1));
  m->start(at(0));
  q.answer("blockdev-add");
  q.refuse("blockdev-mirror", "GenericError: Cannot find device='disk0' nor node-name='disk0'");
  EXPECT_EQ(q.names(), Names{"yank"});  // the node, no job
  q.answer("yank");
  q.answer("blockdev-del");
  EXPECT_EQ(failed, 1);
  EXPECT_EQ(last.error, "blockdev-mirror: GenericError: Cannot find device='disk0' nor node-name='disk0'");
}

TEST_F(MigrationSource, MirrorErrorFails) {
  to_memory(1);
  m->on_event("BLOCK_JOB_ERROR", json::parse(R"({"device": "mirror-disk0", "operation": "write", "action": "report"})"),
              at(1));
  q.answer("migrate_cancel");
  m->on_event("MIGRATION", status("cancelled"), at(1.1));
  // The job ends by itself too; more errors come meanwhile: neither changes the reason.
  q.answer("block-job-cancel");
  m->on_event("BLOCK_JOB_ERROR", json::parse(R"({"device": "mirror-disk0", "operation": "write", "action": "report"})"),
              at(1.2));
  q.answer("yank");
  m->on_event("BLOCK_JOB_COMPLETED", json::parse(R"({"device": "mirror-disk0", "len": 1, "offset": 0,
      "speed": 0, "type": "mirror", "error": "Input/output error"})"), at(1.3));
  q.answer("job-dismiss");
  q.answer("blockdev-del");
  EXPECT_EQ(failed, 1);
  EXPECT_EQ(last.phase, "failed");
  EXPECT_EQ(last.error, "mirror of disk 'disk0' to 10.0.0.2:49153: write error");
}

TEST_F(MigrationSource, MirrorsThatDoNotFinishResumeTheSource) {
  to_memory(1);
  m->on_event("MIGRATION", status("completed"), at(1));
  q.answer("query-migrate", kCompleted);
  q.answer("block-job-cancel");
  m->tick(at(5));
  EXPECT_EQ(failed, 0);
  m->tick(at(11));  // no BLOCK_JOB_COMPLETED within 10 s: the destination is silent
  clean_disk("disk0", 11.1);
  EXPECT_EQ(q.names(), Names{"cont"});  // QEMU paused the source at completion
  EXPECT_EQ(failed, 0);
  q.answer("cont");
  EXPECT_EQ(failed, 1);
  EXPECT_EQ(completed, 0);
  EXPECT_EQ(last.error, "the mirrors did not finish within 10 s after the RAM was sent");
}

TEST_F(MigrationSource, CompletedWhileCancellingResumesTheSource) {
  to_memory(0);
  ASSERT_TRUE(m->cancel().ok());
  m->on_event("MIGRATION", status("completed"), at(1));  // quicker than migrate_cancel
  q.answer("migrate_cancel");
  EXPECT_EQ(q.names(), Names{"cont"});
  q.answer("cont");
  EXPECT_EQ(failed, 1);
  EXPECT_EQ(completed, 0);
  EXPECT_EQ(last.phase, "cancelled");
}

TEST_F(MigrationSource, CleanupGivesUpOnASilentQemu) {
  to_memory(1);
  ASSERT_TRUE(m->cancel().ok());
  q.answer("migrate_cancel");
  m->on_event("MIGRATION", status("cancelled"), at(1));
  q.refuse("block-job-cancel", "GenericError: Job 'mirror-disk0' in state 'concluded' cannot accept command verb 'cancel'");
  // It ended already: no yank while waiting for it, straight to its dismissal.
  q.answer("job-dismiss");
  q.answer("yank");
  q.refuse("blockdev-del", "GenericError: Node mig-disk0 is in use");
  EXPECT_EQ(failed, 1);
  EXPECT_EQ(last.error, "the migration was cancelled (cleanup: block-job-cancel: GenericError: Job 'mirror-disk0' in "
                        "state 'concluded' cannot accept command verb 'cancel'; blockdev-del: GenericError: Node "
                        "mig-disk0 is in use)");

  // A mirror that never reports its end: given up after the stall timeout.
  failed = 0;
  to_memory(1);
  ASSERT_TRUE(m->cancel().ok());
  q.answer("migrate_cancel");
  m->tick(at(2));
  q.answer("query-migrate", status("cancelling"));
  m->tick(at(12));  // and QEMU never says cancelled either
  q.answer("query-migrate", status("cancelling"));
  q.answer("block-job-cancel");
  q.answer("yank");
  m->tick(at(13));
  q.refuse("job-dismiss", "GenericError: Job 'mirror-disk0' in state 'running' cannot accept command verb 'dismiss'");
  q.answer("blockdev-del");
  EXPECT_EQ(failed, 1);
  EXPECT_EQ(last.error, "the migration was cancelled (cleanup: QEMU did not end the migration; mirror-disk0 did not "
                        "stop; job-dismiss: GenericError: Job 'mirror-disk0' in state 'running' cannot accept command "
                        "verb 'dismiss')");
}

TEST_F(MigrationSource, BadParametersFailAtOnce) {
  SourceParams p = params(1);
  p.disks.push_back(p.disks[0]);
  make(p);
  m->start(at(0));
  EXPECT_EQ(failed, 1);
  EXPECT_EQ(last.error, "migration: disk 'disk0' is given twice");
  EXPECT_TRUE(q.log.empty());
  p = params(1);
  p.disks[0].port = 0;
  make(p);
  m->start(at(0));
  EXPECT_EQ(last.error, "migration of disk 'disk0': no NBD export, host or port to mirror to");
  p = params(0);
  p.uri.clear();
  make(p);
  EXPECT_EQ(m->cancel().error().message, "migration: not started");
  m->start(at(0));
  EXPECT_EQ(last.error, "migration: no destination uri");
  EXPECT_EQ(failed, 3);
  EXPECT_TRUE(q.log.empty());
}

TEST_F(MigrationSource, HooksMayDestroyTheMigration) {
  SourceMigration::Hooks h;
  h.progress = [this](const MigrationProgress&) { m.reset(); };
  m = std::make_unique<SourceMigration>(q, params(0), std::move(h));
  m->start(at(0));
  q.answer("migrate-set-capabilities");
  q.answer("migrate-set-parameters");
  q.answer("migrate");
  m->tick(at(0.25));
  q.answer("query-migrate", kBrokenPipe);  // progress hook destroys it; the failure is not acted on
  EXPECT_TRUE(m == nullptr);
  EXPECT_TRUE(q.pending.empty());

  h = {};
  h.failed = [this](const MigrationProgress&) { m.reset(); };
  m = std::make_unique<SourceMigration>(q, params(0), std::move(h));
  m->start(at(0));
  ASSERT_TRUE(m->cancel().ok());  // migrate-set-capabilities in flight
  q.answer("migrate-set-capabilities");
  EXPECT_TRUE(m == nullptr);

  // Answers that come after the migration is gone are dropped.
  m = std::make_unique<SourceMigration>(q, params(0), SourceMigration::Hooks{});
  m->start(at(0));
  m.reset();
  q.answer("migrate-set-capabilities");
  EXPECT_TRUE(q.pending.empty());
}

// ---------------------------------------------------------------- the destination

class MigrationDest : public ::testing::Test {
 protected:
  void make(DestMigration::Params p) {
    DestMigration::Hooks h;
    h.ready = [this](const std::string& u, uint16_t port) {
      uri = u;
      nbd_port = port;
      ++ready;
    };
    h.received = [this] { ++received; };
    h.resumed = [this](int64_t ms) { resumed.push_back(ms); };
    h.failed = [this](const std::string& e) { errors.push_back(e); };
    m = std::make_unique<DestMigration>(q, std::move(p), std::move(h));
  }
  DestMigration::Params with_disk() const { return {"10.0.0.2", {"disk0"}, 49153}; }

  FakeQmp q;
  std::unique_ptr<DestMigration> m;
  std::string uri;
  uint16_t nbd_port = 0;
  int ready = 0, received = 0;
  std::vector<int64_t> resumed;
  std::vector<std::string> errors;
};

TEST_F(MigrationDest, HappyPathWithADisk) {
  make(with_disk());
  m->start();
  EXPECT_EQ(q.answer("migrate-set-capabilities"), json::parse(R"({"capabilities": [
      {"capability": "events", "state": true}, {"capability": "late-block-activate", "state": true}]})"));
  EXPECT_EQ(q.answer("nbd-server-start"),
            json::parse(R"({"addr": {"type": "inet", "data": {"host": "10.0.0.2", "port": "49153"}}})"));
  EXPECT_EQ(q.answer("block-export-add"), json::parse(R"({"type": "nbd", "id": "exp-disk0", "node-name": "disk0",
      "name": "disk0", "writable": true})"));
  EXPECT_EQ(q.answer("migrate-incoming"), json::parse(R"({"uri": "tcp:10.0.0.2:0"})"));
  m->on_event("MIGRATION", status("setup"));
  EXPECT_EQ(ready, 0);
  q.answer("query-migrate", kIncoming);
  EXPECT_EQ(ready, 1);
  EXPECT_EQ(uri, "tcp:10.0.0.2:36553");
  EXPECT_EQ(nbd_port, 49153);
  EXPECT_FALSE(m->resume());  // nothing received yet
  EXPECT_TRUE(q.pending.empty());

  m->on_event("MIGRATION", status("active"));
  m->on_event("MIGRATION", status("completed"));
  EXPECT_EQ(received, 1);
  ASSERT_TRUE(m->resume());
  EXPECT_FALSE(m->resume());
  EXPECT_EQ(q.answer("nbd-server-stop"), json());
  m->on_event("BLOCK_EXPORT_DELETED", json{{"id", "exp-disk0"}});
  m->on_event("RESUME", json(), 1796622138382879);  // before cont's answer, as QEMU sends it
  EXPECT_EQ(q.answer("cont"), json());
  EXPECT_TRUE(resumed.empty());
  EXPECT_EQ(q.answer("announce-self"), json::parse(R"({"initial": 50, "max": 550, "rounds": 5, "step": 100})"));
  EXPECT_EQ(resumed, std::vector<int64_t>{1796622138382});
  EXPECT_TRUE(errors.empty());
  EXPECT_EQ(m->warning(), "");
  EXPECT_EQ(q.log, (Names{"migrate-set-capabilities", "nbd-server-start", "block-export-add", "migrate-incoming",
                          "query-migrate", "nbd-server-stop", "cont", "announce-self"}));
}

TEST_F(MigrationDest, RamOnly) {
  make({"10.0.0.2", {}, 0});
  m->start();
  q.answer("migrate-set-capabilities");
  EXPECT_EQ(q.names(), Names{"migrate-incoming"});
  q.answer("migrate-incoming");
  q.answer("query-migrate", kIncoming);
  EXPECT_EQ(uri, "tcp:10.0.0.2:36553");
  EXPECT_EQ(nbd_port, 0);
  m->on_event("MIGRATION", status("completed"));
  ASSERT_TRUE(m->resume());
  EXPECT_EQ(q.names(), Names{"cont"});
  q.answer("cont");
  q.answer("announce-self");
  EXPECT_EQ(resumed, std::vector<int64_t>{0});  // no RESUME timestamp given
}

TEST_F(MigrationDest, Ipv6Address) {
  make({"fd00::2", {}, 0});
  m->start();
  q.answer("migrate-set-capabilities");
  EXPECT_EQ(q.answer("migrate-incoming"), json::parse(R"({"uri": "tcp:[fd00::2]:0"})"));
  q.answer("query-migrate",
           json::parse(R"({"socket-address": [{"port": "40001", "ipv6": true, "host": "fd00::2", "type": "inet"}]})"));
  EXPECT_EQ(uri, "tcp:[fd00::2]:40001");
}

TEST_F(MigrationDest, MigrationFailed) {
  make(with_disk());
  m->start();
  q.answer("migrate-set-capabilities");
  q.answer("nbd-server-start");
  q.answer("block-export-add");
  q.answer("migrate-incoming");
  q.answer("query-migrate", kIncoming);
  m->on_event("MIGRATION", status("active"));
  m->on_event("MIGRATION", status("failed"));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], "the incoming migration failed (the stream from the source broke or was cancelled; QEMU ends itself)");
  EXPECT_EQ(m->error(), errors[0]);
  EXPECT_EQ(received, 0);
  EXPECT_FALSE(m->resume());
  m->on_event("MIGRATION", status("completed"));
  EXPECT_EQ(received, 0);
  EXPECT_TRUE(q.pending.empty());
}

TEST_F(MigrationDest, ErrorReplyNamesTheCommand) {
  make(with_disk());
  m->start();
  q.answer("migrate-set-capabilities");
  q.refuse("nbd-server-start", "GenericError: Failed to find an available port: Address already in use");
  EXPECT_EQ(errors, std::vector<std::string>{
                        "nbd-server-start: GenericError: Failed to find an available port: Address already in use"});
  EXPECT_TRUE(q.pending.empty());
  EXPECT_EQ(ready, 0);
}

TEST_F(MigrationDest, NoListeningPortInTheAnswer) {
  make({"10.0.0.2", {}, 0});
  m->start();
  q.answer("migrate-set-capabilities");
  q.answer("migrate-incoming");
  q.answer("query-migrate", json::parse(R"({"socket-address": [{"type": "inet", "host": "10.0.0.2", "port": "x"}]})"));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].rfind("query-migrate: no listening port in its answer: ", 0), 0u) << errors[0];
  EXPECT_EQ(ready, 0);
}

TEST_F(MigrationDest, AnnounceErrorIsAWarning) {
  make({"10.0.0.2", {}, 0});
  m->start();
  q.answer("migrate-set-capabilities");
  q.answer("migrate-incoming");
  q.answer("query-migrate", kIncoming);
  m->on_event("MIGRATION", status("completed"));
  ASSERT_TRUE(m->resume());
  m->on_event("RESUME", json(), 2000000);
  q.answer("cont");
  q.refuse("announce-self", "GenericError: Parameter 'max' is missing");
  EXPECT_EQ(resumed, std::vector<int64_t>{2000});
  EXPECT_TRUE(errors.empty());
  EXPECT_EQ(m->warning(), "announce-self: GenericError: Parameter 'max' is missing");
}

TEST_F(MigrationDest, ContErrorFails) {
  make(with_disk());
  m->start();
  q.answer("migrate-set-capabilities");
  q.answer("nbd-server-start");
  q.answer("block-export-add");
  q.answer("migrate-incoming");
  q.answer("query-migrate", kIncoming);
  m->on_event("MIGRATION", status("completed"));
  ASSERT_TRUE(m->resume());
  q.answer("nbd-server-stop");
  q.refuse("cont", "GenericError: Could not reopen qcow2 layer");
  EXPECT_EQ(errors, std::vector<std::string>{"cont: GenericError: Could not reopen qcow2 layer"});
  EXPECT_TRUE(resumed.empty());
  EXPECT_TRUE(q.pending.empty());
}

TEST_F(MigrationDest, DisksNeedAnNbdPort) {
  make({"10.0.0.2", {"disk0"}, 0});
  m->start();
  EXPECT_EQ(errors, std::vector<std::string>{"incoming migration: disks to export, but no NBD port to export them on"});
  EXPECT_TRUE(q.log.empty());
}

TEST_F(MigrationDest, HooksMayDestroyTheMigration) {
  DestMigration::Hooks h;
  h.ready = [this](const std::string&, uint16_t) { m.reset(); };
  m = std::make_unique<DestMigration>(q, DestMigration::Params{"10.0.0.2", {}, 0}, std::move(h));
  m->start();
  q.answer("migrate-set-capabilities");
  q.answer("migrate-incoming");
  q.answer("query-migrate", kIncoming);
  EXPECT_TRUE(m == nullptr);
  m = std::make_unique<DestMigration>(q, DestMigration::Params{"10.0.0.2", {}, 0}, DestMigration::Hooks{});
  m->start();
  m.reset();
  q.refuse("migrate-set-capabilities", "GenericError: gone");  // dropped
  EXPECT_TRUE(q.pending.empty());
}

}  // namespace
}  // namespace kvnet::daemon
