// OVSDB schemas (RFC 7047 section 3.2): a database's tables, their columns
// and the columns' types; JSON both ways (get_schema answers with
// to_json()), and the two databases kvnetd serves:
//
//   Open_vSwitch: the schema of Open vSwitch's configuration database as
//     the clients in Debian 12 know it (ovs-vsctl, ovsdbapp, libvirt through
//     ovs-vsctl): every table and column they read, with its type, so their
//     IDL finds nothing missing. Which columns kvnet gives a meaning is
//     docs/ovs-compat.md's; the rest hold what clients write.
//   _Server: the server's own database, whose Database table clients
//     monitor to learn that Open_vSwitch is there and connected.
//
// Both are written in kvnet's compact notation (parse_schema_text), one
// line per table and per column:
//
//   database NAME VERSION
//   table NAME [root] [maxRows=N] [index=COL[+COL...]]...
//     COLUMN TYPE [MIN..MAX] [ephemeral] [immutable]
//
// TYPE is BASE or map<BASE,BASE>; BASE is an atomic type (integer, real,
// boolean, string, uuid) with optional suffixes: {a|b|c} (an enum),
// [LO..HI] (an integer or real range; either end may be left out),
// ->TABLE (a strong reference) or ->TABLE(weak). MIN..MAX is the number of
// values (default 1..1; MAX may be *, unlimited).
//
// Thread-safety: schemas are immutable once built; the two built-in ones
// are made on first use (thread-safe statics).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "ovsdb/datum.h"

namespace kvnet::ovsdb {

struct ColumnSchema {
  std::string name;
  Type type;
  bool ephemeral = false;
  bool mutable_ = true;  // false: set at insert, never updated
};

struct TableSchema {
  std::string name;
  std::vector<ColumnSchema> columns;  // in the schema's order, without _uuid and _version
  bool is_root = false;
  uint64_t max_rows = kUnlimited;
  std::vector<std::vector<std::string>> indexes;  // column sets unique across rows

  // The column's index in `columns`, -1 if there is none of that name.
  int column_index(std::string_view name) const;
  const ColumnSchema* column(std::string_view name) const;
};

struct DatabaseSchema {
  std::string name;
  std::string version;
  std::vector<TableSchema> tables;

  const TableSchema* table(std::string_view name) const;
  int table_index(std::string_view name) const;
  json to_json() const;
  // Parses and checks a schema (references name tables that exist, index
  // columns exist).
  static Result<DatabaseSchema> from_json(const json& j);
};

// A schema in kvnet's compact notation (above); errors name the line.
Result<DatabaseSchema> parse_schema_text(std::string_view text);

// The built-in databases.
const DatabaseSchema& vswitch_schema();
const DatabaseSchema& server_schema();

}  // namespace kvnet::ovsdb
