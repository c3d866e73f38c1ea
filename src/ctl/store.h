// The configuration store: kvnet's configuration in SQLite.
//
// Tables: bridges, ports (each port's settings as its flow-style YAML map, the
// same text `export` prints), fdb (static entries), mirrors (a bridge's, one
// flow-style YAML map per row), containers, and security_groups, vms and
// gateways (a flow-style YAML map per row). A save writes, in one
// transaction, only the rows that differ: `save(next, plan)` those of the
// objects the plan changed (kvnetd's changes: a one-port edit writes one
// row), `save(t)` whatever differs from what is stored (read and compared).
// Rows keep their position while the order allows it, so an append, a
// removal or an edit moves no other row. A crash at any moment leaves either
// the old or the new configuration, never a mix; `load()` reads it back into
// a validated Topology. The database runs in WAL mode with
// synchronous=FULL: a change acknowledged to the client survives kill -9 and
// power loss.
//
// Thread-safety: one thread (the control thread).
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>

#include "base/result.h"
#include "ctl/plan.h"
#include "ctl/topology.h"

namespace kvnet::ctl {

struct StoreTable;  // store.cc: how it writes one table
struct StoreRows;   // store.cc: one list of rows as wanted

class Store {
 public:
  static Result<std::unique_ptr<Store>> open(const std::string& path);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  Result<Topology> load();
  // The whole configuration `t`: rows compared with the stored ones.
  Status save(const Topology& t);
  // `next`, reached from the stored configuration by `plan`: only the rows of
  // what the plan changed are written (and moved ones repositioned).
  Status save(const Topology& next, const Plan& plan);
  // Rows this connection inserted, updated or deleted (sqlite3_total_changes).
  int64_t total_changes() const;
  const std::string& path() const { return path_; }

 private:
  Store() = default;
  Status exec(const char* sql);
  Status write(const Topology& next, const Plan* plan);  // one transaction
  Status write_rows(const Topology& next, const Plan* plan);
  Status sync_list(const StoreTable& t, const std::string& list, const StoreRows& want, bool upsert, bool del);
  bool has_column(const char* table, const char* column);
  std::string errmsg() const;

  sqlite3* db_ = nullptr;
  std::string path_;
};

}  // namespace kvnet::ctl
