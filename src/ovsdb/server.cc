#include "ovsdb/server.h"

#include <algorithm>
#include <utility>

namespace kvnet::ovsdb {

namespace {

constexpr int kVswitchDb = 0, kServerDb = 1;

json error_of(const std::string& tag, const std::string& details) {
  return json{{"error", tag}, {"details", details}};
}

std::string id_key(const json& id) { return to_wire(id); }

// The symmetric difference of two sets, or for maps the pairs that turn
// `a` into `b` (update2's "modify": a pair whose key `a` has with the same
// value is removed, with another value replaced, absent added).
Datum diff(const Type& t, const Datum& a, const Datum& b) {
  Datum d;
  if (t.is_map()) {
    std::vector<std::pair<Atom, Atom>> pairs;
    for (size_t i = 0; i < b.keys.size(); ++i) {
      const Atom* old = a.find(b.keys[i]);
      if (!old || *old != b.values[i]) pairs.emplace_back(b.keys[i], b.values[i]);
    }
    for (size_t i = 0; i < a.keys.size(); ++i)
      if (!b.contains(a.keys[i])) pairs.emplace_back(a.keys[i], a.values[i]);
    return Datum::map_of(std::move(pairs));
  }
  std::vector<Atom> keys;
  for (const Atom& k : a.keys)
    if (!b.contains(k)) keys.push_back(k);
  for (const Atom& k : b.keys)
    if (!a.contains(k)) keys.push_back(k);
  return Datum::set_of(std::move(keys));
}

}  // namespace

Server::Server(Hooks hooks)
    : hooks_(std::move(hooks)),
      vswitch_(std::make_unique<Database>(vswitch_schema())),
      server_(std::make_unique<Database>(server_schema())),
      last_txn_(Uuid::random().str()) {
  fill_server_db();
}

Server::~Server() = default;

void Server::fill_server_db() {
  // Nothing here changes while kvnetd runs (one standalone server, fixed
  // schemas): written once, before any session.
  const int t = server_schema().table_index("Database");
  std::vector<Rows> tables(server_schema().tables.size());
  for (const DatabaseSchema* s : {&vswitch_schema(), &server_schema()}) {
    Row r;
    r.uuid = Uuid::random();
    const TableSchema& ts = server_schema().tables[static_cast<size_t>(t)];
    for (const ColumnSchema& c : ts.columns) r.columns.push_back(Datum::default_of(c.type));
    auto set = [&](const char* col, Datum d) { r.columns[static_cast<size_t>(ts.column_index(col))] = std::move(d); };
    set("name", Datum::scalar(s->name));
    set("model", Datum::scalar(std::string("standalone")));
    set("connected", Datum::scalar(true));
    set("leader", Datum::scalar(true));
    set("schema", Datum::scalar(to_wire(s->to_json())));
    tables[static_cast<size_t>(t)].emplace(r.uuid, std::move(r));
  }
  server_->apply_direct(tables);  // gives the rows their versions
}

uint64_t Server::open(Send send) {
  const uint64_t id = next_session_++;
  sessions_[id].send = std::move(send);
  return id;
}

void Server::close(uint64_t session) {
  if (!sessions_.erase(session)) return;
  waiting_.erase(std::remove_if(waiting_.begin(), waiting_.end(), [&](const Waiting& w) { return w.session == session; }),
                 waiting_.end());
  for (auto it = locks_.begin(); it != locks_.end();) {
    auto& q = it->second;
    const bool owned = !q.empty() && q.front() == session;
    q.erase(std::remove(q.begin(), q.end(), session), q.end());
    if (owned && !q.empty()) {
      auto s = sessions_.find(q.front());
      if (s != sessions_.end()) s->second.send(make_notification("locked", json::array({it->first})));
    }
    it = q.empty() ? locks_.erase(it) : std::next(it);
  }
}

Database* Server::db_named(const json& name, int* index) {
  if (name == vswitch_schema().name) {
    *index = kVswitchDb;
    return vswitch_.get();
  }
  if (name == server_schema().name) {
    *index = kServerDb;
    return server_.get();
  }
  return nullptr;
}

void Server::reply(uint64_t s, const json& id, json result) {
  auto it = sessions_.find(s);
  if (it != sessions_.end()) it->second.send(make_reply(id, std::move(result)));
}

void Server::reply_error(uint64_t s, const json& id, json error) {
  auto it = sessions_.find(s);
  if (it != sessions_.end()) it->second.send(make_error_reply(id, std::move(error)));
}

void Server::receive(uint64_t s, const json& message) {
  if (!sessions_.count(s)) return;
  auto m = Message::parse(message);
  if (!m) {
    if (message.is_object() && message.contains("id") && !message["id"].is_null())
      reply_error(s, message["id"], error_of("syntax error", m.error().message));
    return;
  }
  if (m->kind == Message::Kind::kReply) return;  // kvnetd sends no requests of its own
  if (m->kind == Message::Kind::kNotification) {
    if (m->method == "cancel" && m->params.size() == 1) {
      for (auto it = waiting_.begin(); it != waiting_.end(); ++it) {
        if (it->session == s && it->id == m->params[0]) {
          const json id = it->id;
          waiting_.erase(it);
          reply_error(s, id, error_of("canceled", "the transaction was canceled"));
          break;
        }
      }
    }
    return;
  }
  const json& p = m->params;
  const std::string& method = m->method;
  if (method == "list_dbs") {
    reply(s, m->id, json::array({vswitch_schema().name, server_schema().name}));
  } else if (method == "get_schema") {
    int i;
    const Database* db = p.size() == 1 ? db_named(p[0], &i) : nullptr;
    if (!db) return reply_error(s, m->id, error_of("unknown database", "no database " + (p.empty() ? "" : to_wire(p[0]))));
    reply(s, m->id, db->schema().to_json());
  } else if (method == "echo") {
    reply(s, m->id, p);
  } else if (method == "transact") {
    handle_transact(s, m->id, p, nullptr);
  } else if (method == "monitor") {
    handle_monitor(s, m->id, p, 1);
  } else if (method == "monitor_cond") {
    handle_monitor(s, m->id, p, 2);
  } else if (method == "monitor_cond_since") {
    handle_monitor(s, m->id, p, 3);
  } else if (method == "monitor_cond_change") {
    handle_cond_change(s, m->id, p);
  } else if (method == "monitor_cancel") {
    auto& mons = sessions_[s].monitors;
    if (p.size() != 1 || !mons.erase(id_key(p[0])))
      return reply_error(s, m->id, error_of("unknown monitor", "no monitor " + (p.empty() ? "" : to_wire(p[0]))));
    reply(s, m->id, json::object());
  } else if (method == "lock" || method == "steal" || method == "unlock") {
    handle_lock(s, m->id, p, method);
  } else if (method == "set_db_change_aware") {
    reply(s, m->id, json::object());
  } else if (method == "get_server_id") {
    static const std::string server_id = Uuid::random().str();
    reply(s, m->id, server_id);
  } else {
    reply_error(s, m->id, error_of("unknown method", "kvnet's OVSDB server has no method \"" + method + "\""));
  }
}

void Server::handle_transact(uint64_t s, const json& id, const json& params,
                             const std::optional<Clock::time_point>* retried) {
  int dbi;
  Database* db = params.empty() ? nullptr : db_named(params[0], &dbi);
  if (!db)
    return reply_error(s, id, error_of("unknown database", "no database " + (params.empty() ? "" : to_wire(params[0]))));
  json ops = json::array();
  for (size_t i = 1; i < params.size(); ++i) ops.push_back(params[i]);
  TxnContext ctx;
  ctx.owns_lock = [this, s](const std::string& lock) {
    auto it = locks_.find(lock);
    return it != locks_.end() && !it->second.empty() && it->second.front() == s;
  };
  ctx.comment = [this, s](const std::string& c) {
    if (hooks_.comment) hooks_.comment(s, c);
  };
  Validator v;
  if (dbi == kServerDb)
    v = [](const Database&, const Changes&) -> Status { return Error{"the _Server database is read-only"}; };
  else
    v = hooks_.validate;
  TxnOutcome out = db->transact(ops, ctx, v);
  if (!out.committed && out.wait_ms) {
    Waiting w{s, id, params, out.reply, std::nullopt};
    if (retried)
      w.deadline = *retried;  // a retry keeps the deadline of the first try
    else if (*out.wait_ms > 0)
      w.deadline = Clock::now() + std::chrono::milliseconds(*out.wait_ms);
    waiting_.push_back(std::move(w));
    return;
  }
  if (out.changed) {
    last_txn_ = Uuid::random().str();
    notify_monitors(dbi, out.changes);
  }
  reply(s, id, std::move(out.reply));
  if (out.changed) {
    if (dbi == kVswitchDb && hooks_.committed) hooks_.committed(out.changes);
    retry_waiting();
  }
}

void Server::retry_waiting() {
  // Each waiting transaction once, in order; one that commits may let
  // another go, which the recursion (through handle_transact) retries.
  std::vector<Waiting> now;
  now.swap(waiting_);
  for (size_t i = 0; i < now.size(); ++i) {
    Waiting w = std::move(now[i]);
    if (!sessions_.count(w.session)) continue;
    handle_transact(w.session, w.id, w.params, &w.deadline);
  }
}

void Server::expire(Clock::time_point now) {
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    if (it->deadline && *it->deadline <= now) {
      const uint64_t s = it->session;
      const json id = it->id, r = it->last_reply;
      it = waiting_.erase(it);
      reply(s, id, r);
    } else {
      ++it;
    }
  }
}

std::optional<Server::Clock::time_point> Server::next_deadline() const {
  std::optional<Clock::time_point> d;
  for (const Waiting& w : waiting_)
    if (w.deadline && (!d || *w.deadline < *d)) d = w.deadline;
  return d;
}

Result<Server::Monitor> Server::parse_monitor(int db, const json& id, const json& requests, int version) {
  const DatabaseSchema& schema = db == kVswitchDb ? vswitch_schema() : server_schema();
  if (!requests.is_object()) return Error{"the monitor requests are not an object"};
  Monitor m;
  m.db = db;
  m.id = id;
  m.version = version;
  for (const auto& [tname, reqs] : requests.items()) {
    const int ti = schema.table_index(tname);
    if (ti < 0) return Error{"no table \"" + tname + "\" in database " + schema.name};
    const TableSchema& ts = schema.tables[static_cast<size_t>(ti)];
    TableMonitor tm;
    tm.table = ti;
    bool any_select = false;
    tm.initial = tm.insert = tm.del = tm.modify = false;
    const json list = reqs.is_array() ? reqs : json::array({reqs});
    for (const json& r : list) {
      if (!r.is_object()) return Error{"table " + tname + ": a monitor request is not an object"};
      if (r.contains("columns")) {
        if (!r["columns"].is_array()) return Error{"table " + tname + ": \"columns\" is not an array"};
        for (const json& c : r["columns"]) {
          const int ci = c.is_string() ? ts.column_index(c.get<std::string>()) : -1;
          if (ci < 0) return Error{"table " + tname + " has no column " + to_wire(c)};
          if (std::find(tm.columns.begin(), tm.columns.end(), ci) == tm.columns.end()) tm.columns.push_back(ci);
        }
      } else {
        for (size_t c = 0; c < ts.columns.size(); ++c)
          if (std::find(tm.columns.begin(), tm.columns.end(), static_cast<int>(c)) == tm.columns.end())
            tm.columns.push_back(static_cast<int>(c));
      }
      const json sel = r.value("select", json::object());
      if (!sel.is_object()) return Error{"table " + tname + ": \"select\" is not an object"};
      tm.initial |= sel.value("initial", true);
      tm.insert |= sel.value("insert", true);
      tm.del |= sel.value("delete", true);
      tm.modify |= sel.value("modify", true);
      any_select = true;
      if (version >= 2 && r.contains("where")) {
        auto w = parse_where(ts, r["where"], nullptr, true);
        if (!w) return w.error();
        tm.where = std::move(*w);
      }
    }
    if (!any_select) tm.initial = tm.insert = tm.del = tm.modify = true;
    m.tables.push_back(std::move(tm));
  }
  return m;
}

json Server::initial_updates(const Monitor& m) const {
  const Database& db = m.db == kVswitchDb ? *vswitch_ : *server_;
  json out = json::object();
  for (const TableMonitor& tm : m.tables) {
    if (!tm.initial) continue;
    const TableSchema& ts = db.schema().tables[static_cast<size_t>(tm.table)];
    std::vector<std::string> cols;
    for (int c : tm.columns) cols.push_back(ts.columns[static_cast<size_t>(c)].name);
    json rows = json::object();
    for (const auto& [u, r] : db.rows(tm.table)) {
      if (!matches(r, tm.where)) continue;
      json row = db.row_json(tm.table, r, cols, false);
      rows[u.str()] = m.version == 1 ? json{{"new", row}} : json{{"initial", row}};
    }
    if (!rows.empty()) out[ts.name] = rows;
  }
  return out;
}

json Server::row_update(const Monitor& m, const TableMonitor& tm, const RowChange& c) const {
  const Database& db = m.db == kVswitchDb ? *vswitch_ : *server_;
  const TableSchema& ts = db.schema().tables[static_cast<size_t>(tm.table)];
  std::vector<std::string> cols;
  for (int ci : tm.columns) cols.push_back(ts.columns[static_cast<size_t>(ci)].name);
  const bool before = c.before && matches(*c.before, tm.where);
  const bool after = c.after && matches(*c.after, tm.where);
  if (!before && after) {
    if (!tm.insert) return nullptr;
    json row = db.row_json(tm.table, *c.after, cols, false);
    return m.version == 1 ? json{{"new", row}} : json{{"insert", row}};
  }
  if (before && !after) {
    if (!tm.del) return nullptr;
    return m.version == 1 ? json{{"old", db.row_json(tm.table, *c.before, cols, false)}} : json{{"delete", nullptr}};
  }
  if (!before || !tm.modify) return nullptr;
  json changed = json::object();
  for (int ci : tm.columns) {
    const ColumnSchema& col = ts.columns[static_cast<size_t>(ci)];
    const Datum& a = c.before->columns[static_cast<size_t>(ci)];
    const Datum& b = c.after->columns[static_cast<size_t>(ci)];
    if (a == b) continue;
    if (m.version == 1) {
      changed[col.name] = a.to_json(col.type);
    } else if (col.type.max <= 1) {  // not composite: the new value, as ovsdb-server sends it
      changed[col.name] = b.to_json(col.type);
    } else {
      Type any = col.type;
      any.min = 0;
      any.max = kUnlimited;
      changed[col.name] = diff(col.type, a, b).to_json(any);
    }
  }
  if (changed.empty()) return nullptr;
  if (m.version == 1) return json{{"old", changed}, {"new", db.row_json(tm.table, *c.after, cols, false)}};
  return json{{"modify", changed}};
}

void Server::notify_monitors(int db, const Changes& changes) {
  const DatabaseSchema& schema = db == kVswitchDb ? vswitch_schema() : server_schema();
  for (auto& [sid, session] : sessions_) {
    for (const auto& [key, m] : session.monitors) {
      if (m.db != db) continue;
      json updates = json::object();
      for (const TableMonitor& tm : m.tables) {
        auto it = changes.find(tm.table);
        if (it == changes.end()) continue;
        json rows = json::object();
        for (const auto& [u, c] : it->second) {
          json ru = row_update(m, tm, c);
          if (!ru.is_null()) rows[u.str()] = std::move(ru);
        }
        if (!rows.empty()) updates[schema.tables[static_cast<size_t>(tm.table)].name] = std::move(rows);
      }
      if (updates.empty()) continue;
      if (m.version == 1)
        session.send(make_notification("update", json::array({m.id, updates})));
      else if (m.version == 2)
        session.send(make_notification("update2", json::array({m.id, updates})));
      else
        session.send(make_notification("update3", json::array({m.id, last_txn_, updates})));
    }
  }
}

void Server::handle_monitor(uint64_t s, const json& id, const json& params, int version) {
  if (params.size() != (version == 3 ? 4u : 3u))
    return reply_error(s, id,
                       error_of("syntax error", version == 3 ? "monitor_cond_since: [DB, ID, REQUESTS, LAST-TXN-ID]"
                                                             : "monitor: [DB, ID, REQUESTS]"));
  int dbi;
  if (!db_named(params[0], &dbi))
    return reply_error(s, id, error_of("unknown database", "no database " + to_wire(params[0])));
  auto m = parse_monitor(dbi, params[1], params[2], version);
  if (!m) return reply_error(s, id, error_of("syntax error", m.error().message));
  auto& mons = sessions_[s].monitors;
  const std::string key = id_key(params[1]);
  if (mons.count(key)) return reply_error(s, id, error_of("duplicate monitor ID", "monitor " + key + " exists already"));
  json initial = initial_updates(*m);
  mons.emplace(key, std::move(*m));
  if (version == 3)
    reply(s, id, json::array({false, last_txn_, std::move(initial)}));
  else
    reply(s, id, std::move(initial));
}

void Server::handle_cond_change(uint64_t s, const json& id, const json& params) {
  if (params.size() != 3 || !params[2].is_object())
    return reply_error(s, id, error_of("syntax error", "monitor_cond_change: [OLD-ID, NEW-ID, REQUESTS]"));
  auto& mons = sessions_[s].monitors;
  auto it = mons.find(id_key(params[0]));
  if (it == mons.end() || it->second.version < 2)
    return reply_error(s, id, error_of("unknown monitor", "no conditional monitor " + to_wire(params[0])));
  const std::string new_key = id_key(params[1]);
  if (new_key != it->first && mons.count(new_key))
    return reply_error(s, id, error_of("duplicate monitor ID", "monitor " + new_key + " exists already"));
  Monitor m = it->second;
  const Database& db = m.db == kVswitchDb ? *vswitch_ : *server_;
  // New conditions first (all or nothing), then what they let in or out.
  std::vector<std::vector<Condition>> next;
  std::vector<TableMonitor*> which;
  for (const auto& [tname, reqs] : params[2].items()) {
    const int ti = db.schema().table_index(tname);
    auto tm = std::find_if(m.tables.begin(), m.tables.end(), [&](const TableMonitor& t) { return t.table == ti; });
    if (ti < 0 || tm == m.tables.end())
      return reply_error(s, id, error_of("syntax error", "table " + tname + " is not monitored"));
    const json list = reqs.is_array() ? reqs : json::array({reqs});
    std::vector<Condition> where;
    for (const json& r : list) {
      if (!r.is_object() || !r.contains("where")) continue;
      auto w = parse_where(db.schema().tables[static_cast<size_t>(ti)], r["where"], nullptr, true);
      if (!w) return reply_error(s, id, error_of("syntax error", w.error().message));
      where = std::move(*w);
    }
    next.push_back(std::move(where));
    which.push_back(&*tm);
  }
  json updates = json::object();
  for (size_t k = 0; k < which.size(); ++k) {
    TableMonitor& tm = *which[k];
    const TableSchema& ts = db.schema().tables[static_cast<size_t>(tm.table)];
    std::vector<std::string> cols;
    for (int ci : tm.columns) cols.push_back(ts.columns[static_cast<size_t>(ci)].name);
    json rows = json::object();
    for (const auto& [u, r] : db.rows(tm.table)) {
      const bool was = matches(r, tm.where), is = matches(r, next[k]);
      if (!was && is) rows[u.str()] = json{{"insert", db.row_json(tm.table, r, cols, false)}};
      if (was && !is) rows[u.str()] = json{{"delete", nullptr}};
    }
    tm.where = std::move(next[k]);
    if (!rows.empty()) updates[ts.name] = std::move(rows);
  }
  m.id = params[1];
  mons.erase(it);
  const int version = m.version;
  mons.emplace(new_key, std::move(m));
  reply(s, id, json::object());
  if (!updates.empty()) {
    if (version == 2)
      sessions_[s].send(make_notification("update2", json::array({params[1], updates})));
    else
      sessions_[s].send(make_notification("update3", json::array({params[1], last_txn_, updates})));
  }
}

void Server::handle_lock(uint64_t s, const json& id, const json& params, const std::string& method) {
  if (params.size() != 1 || !params[0].is_string())
    return reply_error(s, id, error_of("syntax error", method + ": params are [LOCK-NAME]"));
  const std::string name = params[0].get<std::string>();
  if (method == "unlock") {
    auto l = locks_.find(name);
    if (l == locks_.end() || std::find(l->second.begin(), l->second.end(), s) == l->second.end())
      return reply_error(s, id, error_of("unknown lock", "lock " + name + " is not held or requested"));
  }
  auto& q = locks_[name];
  const bool queued = std::find(q.begin(), q.end(), s) != q.end();
  if (method == "lock") {
    if (queued) return reply_error(s, id, error_of("duplicate lock", "lock " + name + " was requested already"));
    q.push_back(s);
    reply(s, id, json{{"locked", q.front() == s}});
  } else if (method == "steal") {
    if (!q.empty() && q.front() != s) {
      const uint64_t old = q.front();
      q.pop_front();
      auto o = sessions_.find(old);
      if (o != sessions_.end()) o->second.send(make_notification("stolen", json::array({name})));
    }
    q.erase(std::remove(q.begin(), q.end(), s), q.end());
    q.push_front(s);
    reply(s, id, json{{"locked", true}});
  } else {  // unlock (of a lock this session holds or waits for: checked above)
    const bool owned = q.front() == s;
    q.erase(std::remove(q.begin(), q.end(), s), q.end());
    reply(s, id, json::object());
    if (owned && !q.empty()) {
      auto o = sessions_.find(q.front());
      if (o != sessions_.end()) o->second.send(make_notification("locked", json::array({name})));
    }
  }
  if (q.empty()) locks_.erase(name);
}

json Server::transact_local(const json& operations) {
  TxnContext ctx;
  ctx.owns_lock = [](const std::string&) { return false; };
  TxnOutcome out = vswitch_->transact(operations, ctx, hooks_.validate);
  if (out.changed) {
    last_txn_ = Uuid::random().str();
    notify_monitors(kVswitchDb, out.changes);
    if (hooks_.committed) hooks_.committed(out.changes);
    retry_waiting();
  }
  return out.reply;
}

void Server::publish(const Changes& changes) {
  if (changes.empty()) return;
  last_txn_ = Uuid::random().str();
  notify_monitors(kVswitchDb, changes);
  retry_waiting();
}

}  // namespace kvnet::ovsdb
