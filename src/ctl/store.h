// The configuration store: kvnet's configuration in SQLite.
//
// Tables: each object type's (ctl/objects.h: its schema(), rows written by
// its save() and read back by its load()): bridges, ports (each port's
// settings as its flow-style YAML map, the same text `export` prints), fdb
// (static entries), mirrors, containers, security_groups, vms and gateways
// (a flow-style YAML map per row). `save()` writes the whole configuration
// in one transaction, touching only the rows that differ from the stored
// ones; a scoped save (an edit of a few named objects) writes only their
// rows, without reading the others. So a crash at any moment leaves
// either the old or the new configuration, never a mix; `load()`
// reads it back into a validated Topology. The database runs in WAL mode with
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
#include "ctl/topology.h"

namespace kvnet::ctl {

class Store {
 public:
  static Result<std::unique_ptr<Store>> open(const std::string& path);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  Result<Topology> load();
  // With a scope (ctl/scope.h), only the rows of the objects it names are
  // written (each type's save_scope), in one transaction as well.
  Status save(const Topology& t, const Scope& scope = Scope::all());
  // Rows this connection inserted, updated or deleted (sqlite3_total_changes).
  int64_t total_changes() const;
  const std::string& path() const { return path_; }

 private:
  class Rows;    // the object types' RowReader
  class Writer;   // the object types' RowWriter: compares, writes what differs
  class Patcher;  // a scoped save's RowWriter: runs the types' statements
  Store() = default;
  Status exec(const char* sql);
  bool has_column(const char* table, const char* column);
  std::string errmsg() const;

  sqlite3* db_ = nullptr;
  std::string path_;
};

}  // namespace kvnet::ctl
