// An OVSDB database in memory: its tables' rows and the `transact` method's
// operations on them (RFC 7047 section 5.2), with the commit-time rules
// (section 3.2 and ovsdb-server's): referential integrity, weak references
// dropped with their rows, garbage collection of unreferenced rows of
// non-root tables, maxRows, and unique indexes.
//
// A transaction runs on a copy of the rows and replaces them only if every
// operation succeeded, the commit rules hold and the owner's validator
// accepted the result: a failed transaction changes nothing. The validator
// is where kvnetd turns the new contents into kvnet's configuration and
// applies it (its error becomes the transaction's).
//
// The reply follows ovsdb-server's: one result per operation; at the first
// failed operation its error, and null for the rest; a failure at commit
// adds one more element, the error.
//
// Thread-safety: one thread (kvnetd's control loop) owns a Database.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/result.h"
#include "ovsdb/datum.h"
#include "ovsdb/schema.h"

namespace kvnet::ovsdb {

struct Row {
  Uuid uuid;
  Uuid version;
  std::vector<Datum> columns;  // in TableSchema::columns' order

  bool operator==(const Row&) const = default;
};

using Rows = std::map<Uuid, Row>;

// One row's change in a transaction: a null `before` is an insert, a null
// `after` a delete.
struct RowChange {
  std::optional<Row> before, after;
};
// Per table (the schema's index), per row.
using Changes = std::map<int, std::map<Uuid, RowChange>>;

class Database;

// What the transaction's session can answer: its locks (for "assert").
struct TxnContext {
  std::function<bool(const std::string& lock)> owns_lock;
  // Called for a "comment" operation (ovs-vsctl puts its command line there).
  std::function<void(const std::string& comment)> comment;
};

// Called with the database as it would be after the transaction and what
// changed; an error refuses the transaction.
using Validator = std::function<Status(const Database& next, const Changes& changes)>;

struct TxnOutcome {
  json reply;          // the "result" array
  bool committed = false;
  bool changed = false;  // committed and changed a row
  Changes changes;
  // A "wait" with a timeout found its condition unmet: ask again later
  // (the reply is what to send if the time runs out).
  std::optional<int64_t> wait_ms;
};

class Database {
 public:
  explicit Database(const DatabaseSchema& schema);

  const DatabaseSchema& schema() const { return *schema_; }
  const Rows& rows(int table) const { return tables_[static_cast<size_t>(table)]; }
  const Rows& rows(std::string_view table) const;
  const Row* row(int table, const Uuid& u) const;
  // The value of `column` in `r` of `table` (the column must exist).
  const Datum& get(int table, const Row& r, std::string_view column) const;

  // Runs the operations of a "transact" request (its params after the
  // database's name).
  TxnOutcome transact(const json& operations, const TxnContext& ctx, const Validator& validate);

  // Replaces the rows of this database without a transaction's rules (the
  // owner's own updates, e.g. ephemeral columns from the live switch); the
  // changes are returned for monitors. Rows are checked against the schema;
  // references are the caller's to keep consistent.
  Changes apply_direct(const std::vector<std::map<Uuid, Row>>& tables);
  // A copy of every table, for apply_direct.
  std::vector<Rows> snapshot() const { return tables_; }

  // A row as JSON (the given columns; all, with _uuid and _version, when
  // `columns` is empty and `all_if_none`; else none: a monitor of no columns).
  json row_json(int table, const Row& r, const std::vector<std::string>& columns = {}, bool all_if_none = true) const;

 private:
  friend class Txn;
  const DatabaseSchema* schema_;
  std::vector<Rows> tables_;
};

// One condition of a "where" clause: [COLUMN, FUNCTION, VALUE], or (in a
// monitor_cond request) a literal true or false.
struct Condition {
  static constexpr int kUuid = -1, kVersion = -2;  // the columns _uuid and _version
  int col;          // the column's index, kUuid, kVersion or kLiteral
  std::string fn;   // "==", "!=", "<", "<=", ">", ">=", "includes", "excludes"; "true"/"false" for literals
  Datum value;
};
inline constexpr int kLiteral = -3;
// A clause's conditions on `t`; `names` resolves named uuids (null:
// none); `literals` allows true and false.
Result<std::vector<Condition>> parse_where(const TableSchema& t, const json& where, const NamedUuids* names,
                                           bool literals);
// Whether `r` meets every condition (an empty clause matches every row).
bool matches(const Row& r, const std::vector<Condition>& conds);

// Rows of `table` in `rows` that match a "where" clause (an array of
// conditions); the error is the clause's syntax error.
Result<std::vector<const Row*>> select_rows(const TableSchema& table, const Rows& rows, const json& where);

// The differences between two versions of a database's tables.
Changes diff_tables(const std::vector<Rows>& before, const std::vector<Rows>& after);

}  // namespace kvnet::ovsdb
