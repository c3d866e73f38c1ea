// ovs-vsctl's command language over an OVSDB database: what kvnetctl takes
// when users paste an ovs-vsctl command line (`kvnetctl -- --may-exist
// add-br br-int -- set Bridge br-int fail_mode=secure`), run in kvnetd
// against the Open_vSwitch database as one transaction, as ovs-vsctl does.
//
//   global options   --may-exist, --if-exists (for every command), --columns=C,..,
//                    --bare, --timeout=N, --no-wait, --db=... (accepted, no effect here)
//   bridges, ports   add-br BR, del-br BR, list-br, br-exists BR, add-port BR PORT
//                    [COLUMN[:KEY]=VALUE]..., del-port [BR] PORT, list-ports BR,
//                    list-ifaces BR, port-to-br PORT, iface-to-br IFACE
//   database         list TABLE [RECORD]..., find TABLE CONDITION..., get TABLE RECORD
//                    COLUMN[:KEY]..., set TABLE RECORD COLUMN[:KEY]=VALUE..., clear TABLE
//                    RECORD COLUMN..., add TABLE RECORD COLUMN [KEY=]VALUE..., remove
//                    TABLE RECORD COLUMN [KEY=]VALUE|KEY...
// Commands are separated by `--`; per-command options (--may-exist,
// --if-exists) come right after a `--`. Tables: Open_vSwitch (record "."),
// Bridge, Port, Interface, Mirror, by any unique case-insensitive prefix;
// records by name or uuid; column names with '-' for '_' (external-ids).
// Values in OVSDB's text syntax: 10, "quoted string", bare-string, [1,2],
// {k=v,k2=v2}, or a comma list for a set.
//
// Anything else is refused naming the part that is not taken.
//
// Thread-safety: pure functions and one database, the caller's thread.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "base/result.h"
#include "ovsdb/db.h"

namespace kvnet::ovsdb {

// A value of type `t` in OVSDB's text syntax (ovs-vsctl's); errors name the
// value and the type.
Result<Datum> datum_from_text(const Type& t, std::string_view text);
// An atom of `t` ("10", "abc", "\"a b\"").
Result<Atom> atom_from_text(const BaseType& t, std::string_view text);
// As ovs-vsctl prints values: strings bare when they are plain words, else
// quoted; sets [a, b], a set of at most one element as its atom (or []);
// maps {k=v, ...}.
std::string datum_to_text(const Type& t, const Datum& d);
std::string atom_to_text(const Atom& a);
// As --bare prints them: elements separated by spaces, strings unquoted.
std::string datum_to_bare(const Datum& d);

struct VsctlResult {
  std::string output;  // what ovs-vsctl prints on stdout
  bool changed = false;
  int exit_code = 0;   // 2: br-exists found nothing (its only non-error failure)
};

// Runs an ovs-vsctl command line (without "ovs-vsctl") against `db`: reads
// see the earlier commands' effects; the writes are one transaction handed
// to `commit` (its "transact" operations), whose error ends the run.
using VsctlCommit = std::function<Status(const json& operations)>;
Result<VsctlResult> run_vsctl(const Database& db, const std::vector<std::string>& args, const VsctlCommit& commit);

}  // namespace kvnet::ovsdb
