// An OVSDB server's protocol (RFC 7047 section 4 and ovsdb-server's
// extensions), apart from any socket: sessions, each with a way to send it
// JSON, and the methods the clients in Debian 12 use:
//
//   list_dbs, get_schema, echo, transact (deferred while a "wait" with a
//   timeout is unmet), cancel; monitor ("update"), monitor_cond
//   ("update2", conditions, monitor_cond_change), monitor_cond_since
//   ("update3"; the history is not kept, so the reply always starts from
//   the whole contents), monitor_cancel; lock, steal, unlock ("locked" and
//   "stolen" notifications); set_db_change_aware.
//
// Two databases: Open_vSwitch (its transactions go through the owner's
// validator, kvnetd's configuration) and _Server (read-only; one Database
// row per database, so that clients find Open_vSwitch standalone and
// connected).
//
// The owner (daemon/ovsdb_*) reads the sockets, gives each complete message
// to receive(), and publishes its own changes of Open_vSwitch's rows
// (ephemeral columns, changes made through kvnetctl) with publish(), which
// every monitor sees like a transaction's.
//
// Thread-safety: one thread (kvnetd's control loop) owns a Server; the
// session's send function is called on it, inside receive() and publish(),
// and must not call back into the Server (queue the bytes; close a broken
// connection later, from the loop).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ovsdb/db.h"
#include "ovsdb/jsonrpc.h"

namespace kvnet::ovsdb {

class Server {
 public:
  using Clock = std::chrono::steady_clock;
  using Send = std::function<void(const json& message)>;

  struct Hooks {
    Validator validate;                                                  // Open_vSwitch transactions
    std::function<void(const Changes&)> committed;                      // after one changed rows
    std::function<void(uint64_t session, const std::string&)> comment;  // "comment" operations
  };

  explicit Server(Hooks hooks);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  Database& vswitch() { return *vswitch_; }
  const Database& vswitch() const { return *vswitch_; }

  uint64_t open(Send send);
  // Forgets the session: its monitors, its waiting transactions; its locks
  // go to the next session waiting for them.
  void close(uint64_t session);
  size_t sessions() const { return sessions_.size(); }

  // One message from a session. Bad requests get error replies; nothing
  // here closes a session (the owner closes on a stream error).
  void receive(uint64_t session, const json& message);

  // A transaction of the owner's own (kvnetctl's ovs-vsctl forms,
  // ovsdb/vsctl.h) on Open_vSwitch, through the validator like a client's;
  // monitors see it. Returns the "transact" reply's result array.
  json transact_local(const json& operations);

  // The owner changed Open_vSwitch's rows (Database::apply_direct): every
  // monitor sees it, waiting transactions are tried again.
  void publish(const Changes& changes);

  // Waiting transactions whose timeout has passed get their "timed out"
  // reply. next_deadline(): when to call expire() next (nullopt: no timeout
  // pending).
  void expire(Clock::time_point now);
  std::optional<Clock::time_point> next_deadline() const;

 private:
  struct TableMonitor {
    int table = 0;
    std::vector<int> columns;
    bool initial = true, insert = true, del = true, modify = true;
    std::vector<Condition> where;  // monitor_cond: empty matches every row
  };
  struct Monitor {
    int db = 0;  // 0: Open_vSwitch, 1: _Server
    json id;
    int version = 1;  // 1: monitor, 2: monitor_cond, 3: monitor_cond_since
    std::vector<TableMonitor> tables;
  };
  struct Session {
    Send send;
    std::map<std::string, Monitor> monitors;  // by the monitor id's JSON text
  };
  struct Waiting {
    uint64_t session;
    json id;
    json params;
    json last_reply;
    std::optional<Clock::time_point> deadline;
  };

  Database* db_named(const json& name, int* index);
  void reply(uint64_t s, const json& id, json result);
  void reply_error(uint64_t s, const json& id, json error);
  // `retried`: the deadline of a waiting transaction tried again (null: a new one).
  void handle_transact(uint64_t s, const json& id, const json& params, const std::optional<Clock::time_point>* retried);
  void handle_monitor(uint64_t s, const json& id, const json& params, int version);
  void handle_cond_change(uint64_t s, const json& id, const json& params);
  void handle_lock(uint64_t s, const json& id, const json& params, const std::string& method);
  Result<Monitor> parse_monitor(int db, const json& id, const json& requests, int version);
  json initial_updates(const Monitor& m) const;
  json row_update(const Monitor& m, const TableMonitor& tm, const RowChange& c) const;
  void notify_monitors(int db, const Changes& changes);
  void fill_server_db();
  void retry_waiting();

  Hooks hooks_;
  std::unique_ptr<Database> vswitch_;
  std::unique_ptr<Database> server_;
  std::map<uint64_t, Session> sessions_;
  uint64_t next_session_ = 1;
  std::map<std::string, std::deque<uint64_t>> locks_;  // front: the owner
  std::vector<Waiting> waiting_;
  std::string last_txn_;  // monitor_cond_since's transaction id
};

}  // namespace kvnet::ovsdb
