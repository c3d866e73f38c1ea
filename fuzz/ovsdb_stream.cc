// Fuzz target ovsdb_stream: what OVSDB clients send kvnetd (ovsdb/): the
// JSON-RPC byte stream, split into messages; each message given to a
// Server, alternately from two sessions (monitors, locks, waits see each
// other's transactions), and every "transact" also run directly on a
// second database (datums, conditions, mutations, references, the commit
// rules). The first byte sets the chunk size, so messages straddle reads
// at every position.
//
// Invariants: no crash, no exception; a failed stream stays failed and
// returns nothing more; everything the server sends is a JSON-RPC message
// that serializes; a transaction's reply has one element per operation
// (plus one, an error, when the commit failed); a transaction that did not
// commit changed nothing; committed rows satisfy their column types and
// refer only to rows that exist, in both databases.
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "ovsdb/db.h"
#include "ovsdb/jsonrpc.h"
#include "ovsdb/server.h"

namespace {

using namespace kvnet::ovsdb;

void check_rows(const Database& db) {
  const DatabaseSchema& s = db.schema();
  for (size_t t = 0; t < s.tables.size(); ++t) {
    for (const auto& [u, r] : db.rows(static_cast<int>(t))) {
      FUZZ_CHECK(r.columns.size() == s.tables[t].columns.size(), "a row of %s with the wrong column count",
                 s.tables[t].name.c_str());
      for (size_t c = 0; c < r.columns.size(); ++c) {
        const ColumnSchema& col = s.tables[t].columns[c];
        FUZZ_CHECK(static_cast<bool>(r.columns[c].check(col.type)), "%s.%s breaks its type", s.tables[t].name.c_str(),
                   col.name.c_str());
        for (const BaseType* b : {&col.type.key, col.type.value ? &*col.type.value : nullptr}) {
          if (!b || b->ref_table.empty()) continue;
          const auto& atoms = b == &col.type.key ? r.columns[c].keys : r.columns[c].values;
          for (const Atom& a : atoms)
            FUZZ_CHECK(db.row(s.table_index(b->ref_table), std::get<Uuid>(a)) != nullptr,
                       "%s.%s refers to a row that does not exist", s.tables[t].name.c_str(), col.name.c_str());
        }
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const size_t step = 1 + data[0] % 97;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);

  auto send = [&](const json& m) {
    FUZZ_CHECK(static_cast<bool>(Message::parse(m)), "the server sent a message that is not JSON-RPC");
    (void)to_wire(m);
  };
  int n_validated = 0;
  Server server(Server::Hooks{[&](const Database&, const Changes&) -> kvnet::Status {
                                if (++n_validated % 3 == 0) return kvnet::Error{"refused"};
                                return kvnet::Ok{};
                              },
                              nullptr, nullptr});
  const uint64_t sessions[2] = {server.open(send), server.open(send)};
  int n_msg = 0;

  Database db(vswitch_schema());
  TxnContext ctx;
  ctx.owns_lock = [](const std::string& l) { return l == "held"; };
  // A refusing validator for every third transaction, as kvnet's own checks may refuse.
  int n_txn = 0;
  JsonSplitter split(1 << 16);
  bool failed = false;
  for (size_t i = 0; i < text.size(); i += step) {
    split.feed(text.substr(i, step));
    while (auto m = split.next()) {
      if (!*m) {
        failed = true;
        break;
      }
      FUZZ_CHECK(!failed, "a message after the stream failed");
      server.receive(sessions[n_msg++ % 2], **m);
      check_rows(server.vswitch());
      if (auto d = server.next_deadline(); d && n_msg % 5 == 0) server.expire(*d);
      auto msg = Message::parse(**m);
      if (!msg || msg->method != "transact" || msg->params.empty()) continue;
      json ops(json::value_t::array);
      for (size_t k = 1; k < msg->params.size(); ++k) ops.push_back(msg->params[k]);
      const auto before = db.snapshot();
      const bool refuse = ++n_txn % 3 == 0;
      auto out = db.transact(ops, ctx, [&](const Database&, const Changes&) -> kvnet::Status {
        if (refuse) return kvnet::Error{"refused"};
        return kvnet::Ok{};
      });
      FUZZ_CHECK(out.reply.is_array(), "a reply that is not an array");
      FUZZ_CHECK(out.reply.size() == ops.size() || out.reply.size() == ops.size() + 1 || ops.empty(),
                 "reply of %zu for %zu operations", out.reply.size(), ops.size());
      if (!out.committed) FUZZ_CHECK(db.snapshot() == before, "a failed transaction changed the database");
      if (out.committed) check_rows(db);
      (void)to_wire(out.reply);
    }
    if (failed) {
      auto again = split.next();
      FUZZ_CHECK(again && !*again, "a failed stream recovered");
      break;
    }
  }
  server.close(sessions[0]);
  server.close(sessions[1]);
  FUZZ_CHECK(server.sessions() == 0, "sessions left after closing both");
  return 0;
}
