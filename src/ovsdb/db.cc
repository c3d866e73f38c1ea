#include "ovsdb/db.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "ovsdb/jsonrpc.h"

namespace kvnet::ovsdb {

namespace {

Error syntax(const std::string& d) { return ovsdb_error("syntax error", d); }
Error constraint(const std::string& d) { return ovsdb_error("constraint violation", d); }

std::string short_json(const json& j) {
  std::string s = to_wire(j);
  return s.size() > 80 ? s.substr(0, 77) + "..." : s;
}

// The column types of _uuid and _version.
const Type& uuid_type() {
  static const Type t = [] {
    Type u;
    u.key.type = AtomicType::kUuid;
    return u;
  }();
  return t;
}

// A type with any number of values (what conditions and set mutations take).
Type any_size(const Type& t) {
  Type r = t;
  r.min = 0;
  r.max = kUnlimited;
  return r;
}

// Column `name` of `t`: its index, or Condition::kUuid, Condition::kVersion.
Result<int> column_of(const TableSchema& t, const std::string& name) {
  if (name == "_uuid") return Condition::kUuid;
  if (name == "_version") return Condition::kVersion;
  const int i = t.column_index(name);
  if (i < 0) return syntax("table " + t.name + " has no column \"" + name + "\"");
  return i;
}

const Type& type_of(const TableSchema& t, int col) {
  return col < 0 ? uuid_type() : t.columns[static_cast<size_t>(col)].type;
}

// The value of column `col` (as column_of gives it) in `r`; _uuid and
// _version are made in `tmp`, the others are the row's own (no copy).
const Datum& value_of(const Row& r, int col, Datum& tmp) {
  if (col >= 0) return r.columns[static_cast<size_t>(col)];
  tmp = Datum::scalar(col == Condition::kUuid ? r.uuid : r.version);
  return tmp;
}

bool includes(const Datum& a, const Datum& b) {  // every element (pair) of b is in a
  for (size_t i = 0; i < b.keys.size(); ++i) {
    if (b.values.empty()) {
      if (!a.contains(b.keys[i])) return false;
    } else {
      const Atom* v = a.find(b.keys[i]);
      if (!v || *v != b.values[i]) return false;
    }
  }
  return true;
}

bool excludes(const Datum& a, const Datum& b) {  // no element (pair) of b is in a
  for (size_t i = 0; i < b.keys.size(); ++i) {
    if (b.values.empty()) {
      if (a.contains(b.keys[i])) return false;
    } else {
      const Atom* v = a.find(b.keys[i]);
      if (v && *v == b.values[i]) return false;
    }
  }
  return true;
}

}  // namespace

Result<std::vector<Condition>> parse_where(const TableSchema& t, const json& where, const NamedUuids* names,
                                           bool literals) {
  if (!where.is_array()) return syntax("\"where\" is not an array of conditions");
  std::vector<Condition> out;
  for (const json& c : where) {
    if (literals && c.is_boolean()) {
      out.push_back({kLiteral, c.get<bool>() ? "true" : "false", Datum{}});
      continue;
    }
    if (!c.is_array() || c.size() != 3 || !c[0].is_string() || !c[1].is_string())
      return syntax(short_json(c) + " is not a condition [COLUMN, FUNCTION, VALUE]");
    auto col = column_of(t, c[0].get<std::string>());
    if (!col) return col.error();
    const std::string fn = c[1].get<std::string>();
    const Type& ty = type_of(t, *col);
    const bool ordered = fn == "<" || fn == "<=" || fn == ">" || fn == ">=";
    if (!ordered && fn != "==" && fn != "!=" && fn != "includes" && fn != "excludes")
      return syntax("unknown function \"" + fn + "\" in a condition");
    const bool single = ty.is_scalar() || ty.is_optional();
    const bool numeric = ty.key.type == AtomicType::kInteger || ty.key.type == AtomicType::kReal;
    if (ordered && (!single || !numeric || ty.is_map()))
      return syntax("function \"" + fn + "\" needs an integer or real column, not " + c[0].get<std::string>());
    Type vt = ordered ? Type{ty.key, std::nullopt, 1, 1} : any_size(ty);
    auto d = datum_from_json(vt, c[2], names, false);
    if (!d) return d.error();
    out.push_back({*col, fn, std::move(*d)});
  }
  return out;
}

bool matches(const Row& r, const std::vector<Condition>& conds) {
  for (const Condition& c : conds) {
    if (c.col == kLiteral) {
      if (c.fn == "false") return false;
      continue;
    }
    Datum tmp;
    const Datum& v = value_of(r, c.col, tmp);
    bool ok;
    if (c.fn == "==") {
      ok = v == c.value;
    } else if (c.fn == "!=") {
      ok = v != c.value;
    } else if (c.fn == "includes") {
      ok = includes(v, c.value);
    } else if (c.fn == "excludes") {
      ok = excludes(v, c.value);
    } else {
      // An optional column without a value matches no ordering.
      if (v.keys.empty()) return false;
      const Atom& a = v.keys.front();
      const Atom& b = c.value.keys.front();
      ok = c.fn == "<" ? a < b : c.fn == "<=" ? a <= b : c.fn == ">" ? a > b : a >= b;
    }
    if (!ok) return false;
  }
  return true;
}

namespace {

// --- mutations

Result<Atom> arith(const std::string& m, const Atom& a, const Atom& b) {
  if (atom_type(a) == AtomicType::kInteger) {
    const int64_t x = std::get<int64_t>(a), y = std::get<int64_t>(b);
    int64_t r = 0;
    if (m == "+=") {
      if (__builtin_add_overflow(x, y, &r)) return ovsdb_error("range error", "integer overflow in \"+=\"");
    } else if (m == "-=") {
      if (__builtin_sub_overflow(x, y, &r)) return ovsdb_error("range error", "integer overflow in \"-=\"");
    } else if (m == "*=") {
      if (__builtin_mul_overflow(x, y, &r)) return ovsdb_error("range error", "integer overflow in \"*=\"");
    } else if (m == "/=" || m == "%=") {
      if (y == 0) return ovsdb_error("domain error", "division by zero");
      if (x == std::numeric_limits<int64_t>::min() && y == -1)
        return ovsdb_error("range error", "integer overflow in \"" + m + "\"");
      r = m == "/=" ? x / y : x % y;
    }
    return Atom{r};
  }
  const double x = std::get<double>(a), y = std::get<double>(b);
  double r = 0;
  if (m == "+=") r = x + y;
  if (m == "-=") r = x - y;
  if (m == "*=") r = x * y;
  if (m == "/=") {
    if (y == 0) return ovsdb_error("domain error", "division by zero");
    r = x / y;
  }
  if (m == "%=") return syntax("\"%=\" is only for integers");
  if (!std::isfinite(r)) return ovsdb_error("range error", "result of \"" + m + "\" is not finite");
  return Atom{r};
}

Status mutate_datum(const TableSchema& t, int col, Datum& d, const std::string& m, const json& arg,
                    const NamedUuids& names) {
  const ColumnSchema& c = t.columns[static_cast<size_t>(col)];
  const Type& ty = c.type;
  if (m == "+=" || m == "-=" || m == "*=" || m == "/=" || m == "%=") {
    if (ty.is_map() || (ty.key.type != AtomicType::kInteger && ty.key.type != AtomicType::kReal))
      return syntax("mutator \"" + m + "\" needs an integer or real column, not " + c.name);
    if (m == "%=" && ty.key.type != AtomicType::kInteger) return syntax("\"%=\" is only for integers");
    BaseType plain;
    plain.type = ty.key.type;
    auto b = atom_from_json(plain, arg, &names);
    if (!b) return b.error();
    std::vector<Atom> out;
    for (const Atom& a : d.keys) {
      auto r = arith(m, a, *b);
      if (!r) return r.error();
      out.push_back(std::move(*r));
    }
    d = Datum::set_of(std::move(out));
  } else if (m == "insert") {
    if (ty.is_scalar()) return syntax("mutator \"insert\" needs a set or map column, not " + c.name);
    auto v = datum_from_json(any_size(ty), arg, &names, false);
    if (!v) return v.error();
    if (ty.is_map()) {
      std::vector<std::pair<Atom, Atom>> pairs;
      for (size_t i = 0; i < d.keys.size(); ++i) pairs.emplace_back(d.keys[i], d.values[i]);
      for (size_t i = 0; i < v->keys.size(); ++i) pairs.emplace_back(v->keys[i], v->values[i]);  // existing keys win
      d = Datum::map_of(std::move(pairs));
    } else {
      std::vector<Atom> keys = d.keys;
      keys.insert(keys.end(), v->keys.begin(), v->keys.end());
      d = Datum::set_of(std::move(keys));
    }
  } else if (m == "delete") {
    if (ty.is_scalar()) return syntax("mutator \"delete\" needs a set or map column, not " + c.name);
    Datum v;
    if (ty.is_map()) {
      // A map (delete pairs that match) or a set of keys (delete by key).
      auto as_map = datum_from_json(any_size(ty), arg, &names, false);
      if (as_map) {
        v = std::move(*as_map);
      } else {
        auto as_set = datum_from_json(Type{ty.key, std::nullopt, 0, kUnlimited}, arg, &names, false);
        if (!as_set) return as_map.error();
        v = std::move(*as_set);
      }
    } else {
      auto s = datum_from_json(any_size(ty), arg, &names, false);
      if (!s) return s.error();
      v = std::move(*s);
    }
    Datum out;
    for (size_t i = 0; i < d.keys.size(); ++i) {
      bool drop;
      if (v.values.empty()) {
        drop = v.contains(d.keys[i]);
      } else {
        const Atom* w = v.find(d.keys[i]);
        drop = w && *w == d.values[i];
      }
      if (drop) continue;
      out.keys.push_back(d.keys[i]);
      if (!d.values.empty()) out.values.push_back(d.values[i]);
    }
    d = std::move(out);
  } else {
    return syntax("unknown mutator \"" + m + "\"");
  }
  if (auto s = d.check(ty); !s)
    return constraint("column " + c.name + " of table " + t.name + " after \"" + m + "\": " +
                      s.error().message.substr(s.error().message.find(": ") + 2));
  return Ok{};
}

}  // namespace

// --- Database

Database::Database(const DatabaseSchema& schema) : schema_(&schema), tables_(schema.tables.size()) {}

const Rows& Database::rows(std::string_view table) const {
  static const Rows kNone;
  const int i = schema_->table_index(table);
  return i < 0 ? kNone : tables_[static_cast<size_t>(i)];
}

const Row* Database::row(int table, const Uuid& u) const {
  const Rows& r = tables_[static_cast<size_t>(table)];
  auto it = r.find(u);
  return it == r.end() ? nullptr : &it->second;
}

const Datum& Database::get(int table, const Row& r, std::string_view column) const {
  return r.columns[static_cast<size_t>(schema_->tables[static_cast<size_t>(table)].column_index(column))];
}

json Database::row_json(int table, const Row& r, const std::vector<std::string>& columns, bool all_if_none) const {
  const TableSchema& t = schema_->tables[static_cast<size_t>(table)];
  json j = json::object();
  if (columns.empty() && all_if_none) {
    j["_uuid"] = atom_to_json(r.uuid);
    j["_version"] = atom_to_json(r.version);
    for (size_t i = 0; i < t.columns.size(); ++i) j[t.columns[i].name] = r.columns[i].to_json(t.columns[i].type);
    return j;
  }
  for (const std::string& c : columns) {
    auto i = column_of(t, c);
    if (!i) continue;  // callers checked the names
    Datum tmp;
    j[c] = value_of(r, *i, tmp).to_json(type_of(t, *i));
  }
  return j;
}

Result<std::vector<const Row*>> select_rows(const TableSchema& table, const Rows& rows, const json& where) {
  auto conds = parse_where(table, where, nullptr, false);
  if (!conds) return conds.error();
  std::vector<const Row*> out;
  for (const auto& [u, r] : rows)
    if (matches(r, *conds)) out.push_back(&r);
  return out;
}

Changes diff_tables(const std::vector<Rows>& before, const std::vector<Rows>& after) {
  Changes ch;
  for (size_t t = 0; t < before.size() && t < after.size(); ++t) {
    for (const auto& [u, r] : before[t]) {
      auto it = after[t].find(u);
      if (it == after[t].end())
        ch[static_cast<int>(t)][u] = RowChange{r, std::nullopt};
      else if (it->second.columns != r.columns)
        ch[static_cast<int>(t)][u] = RowChange{r, it->second};
    }
    for (const auto& [u, r] : after[t])
      if (!before[t].count(u)) ch[static_cast<int>(t)][u] = RowChange{std::nullopt, r};
  }
  return ch;
}

Changes Database::apply_direct(const std::vector<Rows>& tables) {
  Changes ch = diff_tables(tables_, tables);
  tables_ = tables;
  // A modified row gets a new version, an inserted one a version if it has none.
  for (auto& [t, rows] : ch)
    for (auto& [u, c] : rows)
      if (c.after && (c.before || c.after->version.is_nil())) {
        tables_[static_cast<size_t>(t)][u].version = Uuid::random();
        c.after->version = tables_[static_cast<size_t>(t)][u].version;
      }
  return ch;
}

// --- transactions

class Txn {
 public:
  Txn(Database& db, const TxnContext& ctx) : db_(db), s_(db.schema()), ctx_(ctx), work_(db.tables_) {}

  TxnOutcome run(const json& ops, const Validator& validate);

 private:
  Result<json> op(const json& o);
  Result<const TableSchema*> table_of(const json& o, int* index);
  // The table an operation names and its "where" clause, parsed.
  struct Target {
    int table;
    const TableSchema* schema;
    std::vector<Condition> conds;
  };
  Result<Target> target(const json& o);
  Result<std::vector<std::pair<int, Datum>>> parse_assignments(const TableSchema& t, const json& row, bool insert);
  Result<json> do_insert(const json& o);
  Result<json> do_select(const json& o);
  Result<json> do_update(const json& o);
  Result<json> do_mutate(const json& o);
  Result<json> do_delete(const json& o);
  Result<json> do_wait(const json& o);
  Status commit_checks();
  void collect_garbage();

  Database& db_;
  const DatabaseSchema& s_;
  const TxnContext& ctx_;
  std::vector<Rows> work_;
  NamedUuids names_;
  std::optional<int64_t> wait_ms_;
};

Result<const TableSchema*> Txn::table_of(const json& o, int* index) {
  auto it = o.find("table");
  if (it == o.end() || !it->is_string()) return syntax("operation \"" + o.value("op", "") + "\" has no \"table\"");
  const int i = s_.table_index(it->get<std::string>());
  if (i < 0) return syntax("no table \"" + it->get<std::string>() + "\" in database " + s_.name);
  *index = i;
  return &s_.tables[static_cast<size_t>(i)];
}

Result<Txn::Target> Txn::target(const json& o) {
  int ti;
  auto t = table_of(o, &ti);
  if (!t) return t.error();
  auto conds = parse_where(**t, o.value("where", json()), &names_, false);
  if (!conds) return conds.error();
  return Target{ti, *t, std::move(*conds)};
}

Result<std::vector<std::pair<int, Datum>>> Txn::parse_assignments(const TableSchema& t, const json& row, bool insert) {
  if (!row.is_object()) return syntax("\"row\" is not an object");
  std::vector<std::pair<int, Datum>> out;
  for (const auto& [name, v] : row.items()) {
    if (name == "_uuid" || name == "_version") return constraint("column " + name + " cannot be written");
    const int i = t.column_index(name);
    if (i < 0) return syntax("table " + t.name + " has no column \"" + name + "\"");
    const ColumnSchema& c = t.columns[static_cast<size_t>(i)];
    if (!insert && !c.mutable_)
      return constraint("cannot update immutable column " + name + " in table " + t.name);
    auto d = datum_from_json(c.type, v, &names_, false);
    if (!d) return Error{d.error().message + " (column " + name + " of table " + t.name + ")"};
    if (auto s = d->check(c.type); !s) return Error{s.error().message + " (column " + name + " of table " + t.name + ")"};
    out.emplace_back(i, std::move(*d));
  }
  return out;
}

Result<json> Txn::do_insert(const json& o) {
  int ti;
  auto t = table_of(o, &ti);
  if (!t) return t.error();
  Row r;
  if (o.contains("uuid-name")) {
    r.uuid = names_.at(o["uuid-name"].get<std::string>());  // assigned before the operations ran
  } else if (o.contains("uuid")) {
    auto u = o["uuid"].is_array() && o["uuid"].size() == 2 && o["uuid"][0] == "uuid" && o["uuid"][1].is_string()
                 ? Uuid::parse(o["uuid"][1].get<std::string>())
                 : std::nullopt;
    if (!u) return syntax("\"uuid\" is not [\"uuid\", UUID]");
    r.uuid = *u;
  } else {
    r.uuid = Uuid::random();
  }
  for (const Rows& rows : work_)
    if (rows.count(r.uuid)) return ovsdb_error("duplicate uuid", "row " + r.uuid.str() + " exists already");
  r.version = Uuid::random();
  for (const ColumnSchema& c : (*t)->columns) r.columns.push_back(Datum::default_of(c.type));
  auto as = parse_assignments(**t, o.value("row", json::object()), true);
  if (!as) return as.error();
  for (auto& [i, d] : *as) r.columns[static_cast<size_t>(i)] = std::move(d);
  const Uuid u = r.uuid;
  work_[static_cast<size_t>(ti)].emplace(u, std::move(r));
  return json{{"uuid", atom_to_json(u)}};
}

Result<json> Txn::do_select(const json& o) {
  auto w = target(o);
  if (!w) return w.error();
  const int ti = w->table;
  const TableSchema& ts = *w->schema;
  const std::vector<Condition>& conds = w->conds;
  std::vector<std::string> cols;
  if (o.contains("columns")) {
    if (!o["columns"].is_array()) return syntax("\"columns\" is not an array");
    for (const json& c : o["columns"]) {
      if (!c.is_string()) return syntax("a column name is not a string");
      if (auto i = column_of(ts, c.get<std::string>()); !i) return i.error();
      cols.push_back(c.get<std::string>());
    }
  }
  json rows = json::array();
  for (const auto& [u, r] : work_[static_cast<size_t>(ti)])
    if (matches(r, conds)) rows.push_back(db_.row_json(ti, r, cols));
  return json{{"rows", rows}};
}

Result<json> Txn::do_update(const json& o) {
  auto w = target(o);
  if (!w) return w.error();
  const int ti = w->table;
  const TableSchema& ts = *w->schema;
  const std::vector<Condition>& conds = w->conds;
  auto as = parse_assignments(ts, o.value("row", json::object()), false);
  if (!as) return as.error();
  int64_t n = 0;
  for (auto& [u, r] : work_[static_cast<size_t>(ti)]) {
    if (!matches(r, conds)) continue;
    for (const auto& [i, d] : *as) r.columns[static_cast<size_t>(i)] = d;
    ++n;
  }
  return json{{"count", n}};
}

Result<json> Txn::do_mutate(const json& o) {
  auto w = target(o);
  if (!w) return w.error();
  const int ti = w->table;
  const TableSchema& ts = *w->schema;
  const std::vector<Condition>& conds = w->conds;
  const json muts = o.value("mutations", json());
  if (!muts.is_array()) return syntax("\"mutations\" is not an array");
  struct Mut {
    int col;
    std::string m;
    json arg;
  };
  std::vector<Mut> ms;
  for (const json& m : muts) {
    if (!m.is_array() || m.size() != 3 || !m[0].is_string() || !m[1].is_string())
      return syntax(short_json(m) + " is not a mutation [COLUMN, MUTATOR, VALUE]");
    const std::string name = m[0].get<std::string>();
    if (name == "_uuid" || name == "_version") return constraint("column " + name + " cannot be mutated");
    const int i = ts.column_index(name);
    if (i < 0) return syntax("table " + ts.name + " has no column \"" + name + "\"");
    if (!ts.columns[static_cast<size_t>(i)].mutable_)
      return constraint("cannot mutate immutable column " + name + " in table " + ts.name);
    ms.push_back({i, m[1].get<std::string>(), m[2]});
  }
  int64_t n = 0;
  for (auto& [u, r] : work_[static_cast<size_t>(ti)]) {
    if (!matches(r, conds)) continue;
    for (const Mut& m : ms)
      if (auto s = mutate_datum(ts, m.col, r.columns[static_cast<size_t>(m.col)], m.m, m.arg, names_); !s)
        return s.error();
    ++n;
  }
  return json{{"count", n}};
}

Result<json> Txn::do_delete(const json& o) {
  auto w = target(o);
  if (!w) return w.error();
  const std::vector<Condition>& conds = w->conds;
  Rows& rows = work_[static_cast<size_t>(w->table)];
  int64_t n = 0;
  for (auto it = rows.begin(); it != rows.end();) {
    if (matches(it->second, conds)) {
      it = rows.erase(it);
      ++n;
    } else {
      ++it;
    }
  }
  return json{{"count", n}};
}

Result<json> Txn::do_wait(const json& o) {
  auto w = target(o);
  if (!w) return w.error();
  const int ti = w->table;
  const TableSchema& ts = *w->schema;
  const std::vector<Condition>& conds = w->conds;
  const json until = o.value("until", json());
  if (until != "==" && until != "!=") return syntax("\"until\" is neither \"==\" nor \"!=\"");
  const json cols = o.value("columns", json());
  const json want = o.value("rows", json());
  if (!cols.is_array() || !want.is_array()) return syntax("a wait has \"columns\" and \"rows\" arrays");
  std::vector<int> ci;
  for (const json& c : cols) {
    if (!c.is_string()) return syntax("a column name is not a string");
    auto i = column_of(ts, c.get<std::string>());
    if (!i) return i.error();
    ci.push_back(*i);
  }
  // Both sides as sets of projected rows.
  std::set<std::vector<Datum>> expected, actual;
  for (const json& w : want) {
    if (!w.is_object()) return syntax("a row of a wait is not an object");
    std::vector<Datum> p;
    for (size_t k = 0; k < ci.size(); ++k) {
      const std::string& name = cols[k].get_ref<const std::string&>();
      if (!w.contains(name)) return syntax("a row of a wait lacks column " + name);
      auto d = datum_from_json(type_of(ts, ci[k]), w[name], &names_, false);
      if (!d) return d.error();
      p.push_back(std::move(*d));
    }
    if (w.size() != ci.size()) return syntax("a row of a wait has columns that \"columns\" does not list");
    expected.insert(std::move(p));
  }
  for (const auto& [u, r] : work_[static_cast<size_t>(ti)]) {
    if (!matches(r, conds)) continue;
    std::vector<Datum> p;
    Datum tmp;
    for (int c : ci) p.push_back(value_of(r, c, tmp));
    actual.insert(std::move(p));
  }
  const bool equal = expected == actual;
  if (equal == (until == "==")) return json::object();
  const int64_t timeout = o.contains("timeout") && o["timeout"].is_number_integer() ? o["timeout"].get<int64_t>() : -1;
  if (timeout != 0) wait_ms_ = timeout;  // -1: no timeout given (forever)
  return ovsdb_error("timed out", "\"wait\" timed out");
}

Result<json> Txn::op(const json& o) {
  if (!o.is_object() || !o.contains("op") || !o["op"].is_string())
    return syntax(short_json(o) + " is not an operation (an object with \"op\")");
  const std::string name = o["op"].get<std::string>();
  if (name == "insert") return do_insert(o);
  if (name == "select") return do_select(o);
  if (name == "update") return do_update(o);
  if (name == "mutate") return do_mutate(o);
  if (name == "delete") return do_delete(o);
  if (name == "wait") return do_wait(o);
  if (name == "commit") {
    if (!o.contains("durable") || !o["durable"].is_boolean()) return syntax("\"commit\" has a boolean \"durable\"");
    return json::object();  // every committed change is stored by kvnet's own store
  }
  if (name == "abort") return ovsdb_error("aborted", "aborted by request");
  if (name == "comment") {
    if (ctx_.comment && o.contains("comment") && o["comment"].is_string()) ctx_.comment(o["comment"].get<std::string>());
    return json::object();
  }
  if (name == "assert") {
    if (!o.contains("lock") || !o["lock"].is_string()) return syntax("\"assert\" has a string \"lock\"");
    const std::string lock = o["lock"].get<std::string>();
    if (!ctx_.owns_lock || !ctx_.owns_lock(lock)) return ovsdb_error("not owner", "asserted lock " + lock + " not held");
    return json::object();
  }
  return syntax("unknown operation \"" + name + "\"");
}

void Txn::collect_garbage() {
  // Rows of root tables live; so does every row they reach by strong
  // references (transitively). The rest of the non-root tables' rows go.
  std::set<std::pair<int, Uuid>> live;
  std::vector<std::pair<int, const Row*>> todo;
  for (size_t t = 0; t < s_.tables.size(); ++t)
    if (s_.tables[t].is_root)
      for (const auto& [u, r] : work_[t]) {
        live.insert({static_cast<int>(t), u});
        todo.emplace_back(static_cast<int>(t), &r);
      }
  while (!todo.empty()) {
    auto [t, r] = todo.back();
    todo.pop_back();
    const TableSchema& ts = s_.tables[static_cast<size_t>(t)];
    for (size_t c = 0; c < ts.columns.size(); ++c) {
      const Type& ty = ts.columns[c].type;
      auto visit = [&](const BaseType& b, const std::vector<Atom>& atoms) {
        if (b.ref_table.empty() || b.weak) return;
        const int rt = s_.table_index(b.ref_table);
        for (const Atom& a : atoms) {
          const Uuid u = std::get<Uuid>(a);
          auto it = work_[static_cast<size_t>(rt)].find(u);
          if (it != work_[static_cast<size_t>(rt)].end() && live.insert({rt, u}).second) todo.emplace_back(rt, &it->second);
        }
      };
      visit(ty.key, r->columns[c].keys);
      if (ty.value) visit(*ty.value, r->columns[c].values);
    }
  }
  for (size_t t = 0; t < s_.tables.size(); ++t) {
    if (s_.tables[t].is_root) continue;
    for (auto it = work_[t].begin(); it != work_[t].end();)
      it = live.count({static_cast<int>(t), it->first}) ? std::next(it) : work_[t].erase(it);
  }
}

Status Txn::commit_checks() {
  // References to rows that do not exist: weak ones are dropped, strong
  // ones refuse the transaction.
  for (size_t t = 0; t < s_.tables.size(); ++t) {
    const TableSchema& ts = s_.tables[t];
    for (auto& [u, r] : work_[t]) {
      for (size_t c = 0; c < ts.columns.size(); ++c) {
        const Type& ty = ts.columns[c].type;
        Datum& d = r.columns[c];
        for (const BaseType* b : {&ty.key, ty.value ? &*ty.value : nullptr}) {
          if (!b || b->ref_table.empty()) continue;
          const bool is_key = b == &ty.key;
          const Rows& target = work_[static_cast<size_t>(s_.table_index(b->ref_table))];
          Datum kept;
          bool dropped = false;
          for (size_t i = 0; i < d.keys.size(); ++i) {
            const Uuid ref = std::get<Uuid>(is_key ? d.keys[i] : d.values[i]);
            if (target.count(ref)) {
              kept.keys.push_back(d.keys[i]);
              if (!d.values.empty()) kept.values.push_back(d.values[i]);
              continue;
            }
            if (!b->weak)
              return ovsdb_error("referential integrity violation",
                                 "table " + ts.name + " column " + ts.columns[c].name + " row " + u.str() +
                                     " references nonexistent row " + ref.str() + " in table " + b->ref_table);
            dropped = true;
          }
          if (dropped) d = std::move(kept);
        }
        if (auto s = d.check(ty); !s)
          return constraint("table " + ts.name + " column " + ts.columns[c].name + " row " + u.str() + ": " +
                            s.error().message.substr(s.error().message.find(": ") + 2));
      }
    }
    if (work_[t].size() > ts.max_rows)
      return constraint("transaction causes table " + ts.name + " to have " + std::to_string(work_[t].size()) +
                        " rows, more than its maximum of " + std::to_string(ts.max_rows));
    for (const auto& idx : ts.indexes) {
      std::map<std::vector<Datum>, Uuid> seen;
      for (const auto& [u, r] : work_[t]) {
        std::vector<Datum> key;
        std::string text;
        for (const std::string& c : idx) {
          const int ci = ts.column_index(c);
          key.push_back(r.columns[static_cast<size_t>(ci)]);
          text += (text.empty() ? "" : ", ") +
                  to_wire(r.columns[static_cast<size_t>(ci)].to_json(ts.columns[static_cast<size_t>(ci)].type));
        }
        auto [it, fresh] = seen.emplace(std::move(key), u);
        if (!fresh) {
          std::string cols;
          for (const std::string& c : idx) cols += (cols.empty() ? "" : ", ") + c;
          return constraint("transaction causes multiple rows in table " + ts.name + " to have identical values (" +
                            text + ") for index on column(s) " + cols + ": rows " + it->second.str() + " and " +
                            u.str());
        }
      }
    }
  }
  return Ok{};
}

TxnOutcome Txn::run(const json& ops, const Validator& validate) {
  TxnOutcome out;
  out.reply = json::array();
  if (!ops.is_array()) {
    out.reply.push_back(error_json(syntax("the operations are not an array")));
    return out;
  }
  // Named uuids first: an operation may refer to a row inserted later.
  size_t failed = ops.size();
  for (size_t i = 0; i < ops.size(); ++i) {
    const json& o = ops[i];
    if (!o.is_object() || o.value("op", "") != "insert" || !o.contains("uuid-name")) continue;
    if (!o["uuid-name"].is_string() || o["uuid-name"].get<std::string>().empty()) {
      failed = i;
      break;
    }
    if (!names_.emplace(o["uuid-name"].get<std::string>(), Uuid::random()).second) {
      failed = i;
      break;
    }
  }
  for (size_t i = 0; i < ops.size(); ++i) {
    if (i == failed) {
      const json& n = ops[i]["uuid-name"];
      out.reply.push_back(error_json(n.is_string() && !n.get<std::string>().empty()
                                         ? ovsdb_error("duplicate uuid-name", "uuid-name " + n.get<std::string>() +
                                                                                  " is used by two inserts")
                                         : syntax("\"uuid-name\" is not a name")));
      break;
    }
    auto r = op(ops[i]);
    if (!r) {
      out.reply.push_back(error_json(r.error()));
      failed = i;
      break;
    }
    out.reply.push_back(std::move(*r));
  }
  if (failed < ops.size()) {
    while (out.reply.size() < ops.size()) out.reply.push_back(nullptr);
    out.wait_ms = wait_ms_;
    return out;
  }
  collect_garbage();
  Status st = commit_checks();
  Changes ch;
  if (st) {
    ch = diff_tables(db_.tables_, work_);
    for (auto& [t, rows] : ch)
      for (auto& [u, c] : rows)
        if (c.before && c.after) {
          Row& r = work_[static_cast<size_t>(t)][u];
          r.version = Uuid::random();
          c.after->version = r.version;
        }
    if (validate && !ch.empty()) {
      Database next(s_);
      next.tables_ = std::move(work_);
      st = validate(next, ch);
      work_ = std::move(next.tables_);
    }
  }
  if (!st) {
    out.reply.push_back(error_json(st.error()));
    return out;
  }
  out.committed = true;
  out.changed = !ch.empty();
  out.changes = std::move(ch);
  db_.tables_ = std::move(work_);
  return out;
}

TxnOutcome Database::transact(const json& operations, const TxnContext& ctx, const Validator& validate) {
  Txn txn(*this, ctx);
  return txn.run(operations, validate);
}

}  // namespace kvnet::ovsdb
