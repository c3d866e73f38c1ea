// Fuzz target vsctl_command: ovs-vsctl command lines as kvnetctl passes
// them to kvnetd (ovsdb/vsctl.h): the input is split at NUL bytes into
// arguments and run against a database that already has a bridge and a
// port; its transaction is committed to that database. Also each argument
// parsed as a value of a few column types (OVSDB's text syntax).
//
// Invariants: no crash, no exception; a value that parses prints as text
// that parses back to the same value; the committed database keeps its
// column types.
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_check.h"
#include "ovsdb/schema.h"
#include "ovsdb/vsctl.h"

namespace {

using namespace kvnet::ovsdb;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string in(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> args;
  size_t start = 0;
  for (size_t i = 0; i <= in.size(); ++i)
    if (i == in.size() || in[i] == '\0') {
      args.push_back(in.substr(start, i - start));
      start = i + 1;
    }
  if (args.size() > 64) return 0;
  const DatabaseSchema& s = vswitch_schema();
  for (const auto& a : args) {
    for (const Type& t : {s.table("Port")->column("trunks")->type, s.table("Port")->column("tag")->type,
                          s.table("Interface")->column("external_ids")->type,
                          s.table("Interface")->column("statistics")->type}) {
      auto d = datum_from_text(t, a);
      if (!d) continue;
      const std::string text = datum_to_text(t, *d);
      auto back = datum_from_text(t, text);
      FUZZ_CHECK(back && *back == *d, "'%s' prints as '%s', which does not parse back", a.c_str(), text.c_str());
    }
  }
  Database db(s);
  TxnContext ctx;
  db.transact(kvnet::ovsdb::json::parse(R"([{"op":"insert","table":"Open_vSwitch","row":{}}])"), ctx, {});
  auto commit = [&](const json& ops) -> kvnet::Status {
    const TxnOutcome o = db.transact(ops, ctx, {});
    if (!o.committed) return kvnet::Error{"not committed"};
    return kvnet::Ok{};
  };
  (void)run_vsctl(db, {"add-br", "br0", "--", "add-port", "br0", "p1"}, commit);
  (void)run_vsctl(db, args, commit);
  for (size_t t = 0; t < s.tables.size(); ++t)
    for (const auto& [u, r] : db.rows(static_cast<int>(t)))
      for (size_t c = 0; c < r.columns.size(); ++c)
        FUZZ_CHECK(static_cast<bool>(r.columns[c].check(s.tables[t].columns[c].type)), "%s.%s breaks its type",
                   s.tables[t].name.c_str(), s.tables[t].columns[c].name.c_str());
  return 0;
}
