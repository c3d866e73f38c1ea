#include "ovsdb/vsctl.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <map>
#include <set>

#include "base/text.h"

// The value of a Result, or its error returned.
#define VS_TRY(var, expr)                  \
  auto var##_r = (expr);                   \
  if (!var##_r) return var##_r.error();    \
  auto& var = *var##_r

namespace kvnet::ovsdb {
namespace {

// Splits at top-level `sep` (not inside a quoted string); false if a quote
// is not closed.
bool split_top(std::string_view s, char sep, std::vector<std::string_view>& out) {
  bool quoted = false;
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (quoted) {
      if (c == '\\') ++i;
      else if (c == '"') quoted = false;
    } else if (c == '"') {
      quoted = true;
    } else if (c == sep) {
      out.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  out.push_back(s.substr(start));
  return !quoted;
}

// The first top-level '=' (outside quotes), npos if none.
size_t find_eq(std::string_view s) {
  bool quoted = false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (quoted) {
      if (s[i] == '\\') ++i;
      else if (s[i] == '"') quoted = false;
    } else if (s[i] == '"') {
      quoted = true;
    } else if (s[i] == '=') {
      return i;
    }
  }
  return std::string_view::npos;
}

bool plain_word(const std::string& s) {
  if (s.empty() || !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  for (char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.') return false;
  return s != "true" && s != "false";
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

// --- values

Result<Atom> atom_from_text(const BaseType& t, std::string_view text) {
  text = trim(text);
  const std::string s(text);
  auto bad = [&](const char* what) { return Error{"\"" + s + "\" is not " + what}; };
  switch (t.type) {
    case AtomicType::kInteger: {
      int64_t v = 0;
      auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
      if (s.empty() || ec != std::errc() || p != s.data() + s.size()) return bad("an integer");
      return Atom{v};
    }
    case AtomicType::kReal: {
      char* end = nullptr;
      const double v = std::strtod(s.c_str(), &end);
      if (s.empty() || end != s.c_str() + s.size()) return bad("a real number");
      return Atom{v};
    }
    case AtomicType::kBoolean:
      if (s == "true") return Atom{true};
      if (s == "false") return Atom{false};
      return bad("a boolean (true or false)");
    case AtomicType::kUuid: {
      auto u = Uuid::parse(s);
      if (!u) return bad("a UUID");
      return Atom{*u};
    }
    case AtomicType::kString:
      if (valid_utf8(s) != s) return Error{"\"" + valid_utf8(s) + "\" is not valid UTF-8"};
      if (!s.empty() && s[0] == '"') {
        try {
          const json j = json::parse(s);
          if (!j.is_string()) return bad("a string");
          return Atom{j.get<std::string>()};
        } catch (const json::exception&) {
          return Error{"\"" + s + "\": a quoted string must be closed and escaped as in JSON"};
        }
      }
      return Atom{s};
  }
  return bad("a value");
}

Result<Datum> datum_from_text(const Type& t, std::string_view text) {
  text = trim(text);
  const std::string given(text);
  const bool braced = text.size() >= 2 && ((text.front() == '[' && text.back() == ']') ||
                                           (text.front() == '{' && text.back() == '}'));
  if (braced) {
    if (t.is_map() != (text.front() == '{'))
      return Error{"\"" + std::string(text) + "\": a " + (t.is_map() ? "map is written {KEY=VALUE, ...}" : "set is written [VALUE, ...]")};
    text = trim(text.substr(1, text.size() - 2));
  }
  std::vector<std::string_view> items;
  if (!text.empty() && !split_top(text, ',', items)) return Error{"\"" + std::string(text) + "\": a quote is not closed"};
  Datum d;
  if (t.is_map()) {
    std::vector<std::pair<Atom, Atom>> pairs;
    for (auto item : items) {
      const size_t eq = find_eq(item);
      if (eq == std::string_view::npos) return Error{"\"" + std::string(trim(item)) + "\": a map's item is KEY=VALUE"};
      VS_TRY(k, atom_from_text(t.key, item.substr(0, eq)));
      VS_TRY(v, atom_from_text(*t.value, item.substr(eq + 1)));
      pairs.emplace_back(std::move(k), std::move(v));
    }
    d = Datum::map_of(std::move(pairs));
  } else {
    std::vector<Atom> atoms;
    for (auto item : items) {
      VS_TRY(a, atom_from_text(t.key, item));
      atoms.push_back(std::move(a));
    }
    d = Datum::set_of(std::move(atoms));
  }
  if (auto s = d.check(t); !s) return Error{"\"" + given + "\": " + s.error().message};
  return d;
}

std::string atom_to_text(const Atom& a) {
  if (const auto* s = std::get_if<std::string>(&a))
    return plain_word(*s) ? *s : json(*s).dump(-1, ' ', false, json::error_handler_t::replace);
  return atom_text(a);
}

std::string datum_to_text(const Type& t, const Datum& d) {
  if (t.is_map()) {
    std::string out = "{";
    for (size_t i = 0; i < d.keys.size(); ++i)
      out += (i ? ", " : "") + atom_to_text(d.keys[i]) + "=" + atom_to_text(d.values[i]);
    return out + "}";
  }
  if (t.max == 1 && d.keys.size() == 1) return atom_to_text(d.keys[0]);
  std::string out = "[";
  for (size_t i = 0; i < d.keys.size(); ++i) out += (i ? ", " : "") + atom_to_text(d.keys[i]);
  return out + "]";
}

// --bare: elements separated by spaces, strings as they are.
std::string datum_to_bare(const Datum& d) {
  std::string out;
  for (size_t i = 0; i < d.keys.size(); ++i) {
    const auto bare = [](const Atom& a) {
      const auto* s = std::get_if<std::string>(&a);
      return s ? *s : atom_text(a);
    };
    out += (i ? " " : "") + bare(d.keys[i]);
    if (i < d.values.size()) out += "=" + bare(d.values[i]);
  }
  return out;
}

// --- commands

namespace {

struct Options {
  bool may_exist = false, if_exists = false, bare = false;
  std::vector<std::string> columns;  // --columns
};

class Vsctl {
 public:
  Vsctl(const Database& db, const VsctlCommit& commit) : work_(db), commit_(commit) {}

  Result<VsctlResult> run(const std::vector<std::string>& args);

 private:
  using Args = std::vector<std::string>;
  Status command(const Args& a, const Options& o);
  Status write(json ops);  // applied to the work copy now, committed with the rest at the end

  Result<int> table(const std::string& name) const;
  const TableSchema& ts(int t) const { return work_.schema().tables[static_cast<size_t>(t)]; }
  Result<const Row*> record(int t, const std::string& name, bool must = true) const;
  const Row* by_name(const std::string& table, const std::string& name) const;
  Result<int> column(int t, const std::string& name) const;
  std::string name_of(int t, const Row& r) const;
  json where(int t, const Row& r) const;
  const Row* bridge_of_port(const Row& port) const;
  std::vector<std::string> names(const std::string& table, const std::vector<Uuid>& ids) const;
  void print_rows(int t, const std::vector<const Row*>& rows, const Options& o);
  std::string next_name() { return "row" + std::to_string(++named_); }

  Database work_;
  const VsctlCommit& commit_;
  json ops_ = json::array();
  std::set<std::pair<int, std::string>> inserted_;  // (table, name) added by this command line
  std::string out_;
  int exit_ = 0;
  int named_ = 0;
};

Result<int> Vsctl::table(const std::string& name) const {
  const auto& tables = work_.schema().tables;
  const std::string l = lower(name);
  int found = -1, matches = 0;
  for (size_t i = 0; i < tables.size(); ++i) {
    const std::string tl = lower(tables[i].name);
    if (tl == l) return static_cast<int>(i);
    if (tl.starts_with(l)) {
      found = static_cast<int>(i);
      ++matches;
    }
  }
  if (matches == 1 && !l.empty()) return found;
  if (matches > 1) return Error{"multiple table names match \"" + name + "\""};
  return Error{"unknown table \"" + name + "\""};
}

Result<int> Vsctl::column(int t, const std::string& name) const {
  std::string n = name;
  std::replace(n.begin(), n.end(), '-', '_');
  const int c = ts(t).column_index(n);
  if (c < 0) return Error{ts(t).name + " does not contain a column whose name matches \"" + name + "\""};
  return c;
}

std::string Vsctl::name_of(int t, const Row& r) const {
  const int c = ts(t).column_index("name");
  return c < 0 ? r.uuid.str() : str_of(r.columns[static_cast<size_t>(c)]);
}

const Row* Vsctl::by_name(const std::string& table, const std::string& name) const {
  const int t = work_.schema().table_index(table);
  for (const auto& [u, r] : work_.rows(t))
    if (name_of(t, r) == name) return &r;
  return nullptr;
}

Result<const Row*> Vsctl::record(int t, const std::string& name, bool must) const {
  const auto& rows = work_.rows(t);
  if (ts(t).name == "Open_vSwitch" && name == "." && rows.size() == 1) return &rows.begin()->second;
  if (auto u = Uuid::parse(name)) {
    if (const Row* r = work_.row(t, *u)) return r;
  } else if (ts(t).column_index("name") >= 0) {
    if (const Row* r = by_name(ts(t).name, name)) return r;
  }
  if (!must) return static_cast<const Row*>(nullptr);
  return Error{"no row \"" + name + "\" in table " + ts(t).name};
}

json Vsctl::where(int t, const Row& r) const {
  // By name where the row has one (it may have been inserted by this
  // command line, under another uuid in the real transaction).
  if (ts(t).column_index("name") >= 0) return json::array({json::array({"name", "==", name_of(t, r)})});
  return json::array({json::array({"_uuid", "==", json::array({"uuid", r.uuid.str()})})});
}

const Row* Vsctl::bridge_of_port(const Row& port) const {
  const int tb = work_.schema().table_index("Bridge");
  for (const auto& [u, b] : work_.rows(tb))
    for (const Uuid& p : uuids_of(work_.get(tb, b, "ports")))
      if (p == port.uuid) return &b;
  return nullptr;
}

std::vector<std::string> Vsctl::names(const std::string& table, const std::vector<Uuid>& ids) const {
  const int t = work_.schema().table_index(table);
  std::vector<std::string> out;
  for (const Uuid& u : ids)
    if (const Row* r = work_.row(t, u)) out.push_back(name_of(t, *r));
  std::sort(out.begin(), out.end());
  return out;
}

Status Vsctl::write(json ops) {
  TxnContext ctx;
  const TxnOutcome o = work_.transact(ops, ctx, {});
  if (!o.committed) {
    for (const auto& r : o.reply)
      if (r.is_object() && r.contains("error"))
        return Error{r["error"].get<std::string>() + (r.contains("details") ? ": " + r["details"].get<std::string>() : "")};
    return Error{"the change cannot be made"};
  }
  for (auto& op : ops) ops_.push_back(std::move(op));
  return Ok{};
}

void Vsctl::print_rows(int t, const std::vector<const Row*>& rows, const Options& o) {
  std::vector<std::pair<std::string, int>> cols;  // name, index (-1: _uuid)
  if (o.columns.empty()) {
    cols.push_back({"_uuid", -1});
    std::vector<std::pair<std::string, int>> rest;
    for (size_t i = 0; i < ts(t).columns.size(); ++i) rest.push_back({ts(t).columns[i].name, static_cast<int>(i)});
    std::sort(rest.begin(), rest.end());
    cols.insert(cols.end(), rest.begin(), rest.end());
  } else {
    for (const auto& c : o.columns) {
      if (c == "_uuid") cols.push_back({"_uuid", -1});
      else if (auto ci = column(t, c)) cols.push_back({ts(t).columns[static_cast<size_t>(*ci)].name, *ci});
    }
  }
  bool first = true;
  for (const Row* r : rows) {
    if (!first) out_ += "\n";
    first = false;
    for (const auto& [n, i] : cols) {
      const std::string v = i < 0    ? r->uuid.str()
                            : o.bare ? datum_to_bare(r->columns[static_cast<size_t>(i)])
                                     : datum_to_text(ts(t).columns[static_cast<size_t>(i)].type, r->columns[static_cast<size_t>(i)]);
      if (o.bare) {
        out_ += v + "\n";
      } else {
        std::string name = n;
        name.resize(std::max<size_t>(name.size(), 20), ' ');
        out_ += name + ": " + v + "\n";
      }
    }
  }
}

Result<std::pair<std::string, std::string>> split_setting(const std::string& s) {
  const size_t eq = find_eq(s);
  if (eq == std::string::npos) return Error{"\"" + s + "\": give COLUMN=VALUE or COLUMN:KEY=VALUE"};
  return std::pair{s.substr(0, eq), s.substr(eq + 1)};
}

Status Vsctl::command(const Args& a, const Options& o) {
  const std::string& verb = a[0];
  auto need = [&](size_t lo, size_t hi, const char* usage) -> Status {
    if (a.size() - 1 < lo || a.size() - 1 > hi) return Error{"'" + verb + "' takes " + usage};
    return Ok{};
  };
  const int tB = work_.schema().table_index("Bridge"), tP = work_.schema().table_index("Port");
  if (verb == "add-br") {
    if (a.size() == 4) return Error{"add-br BR PARENT VLAN (a fake bridge) is not taken: kvnet has no fake bridges"};
    if (auto s = need(1, 1, "BRIDGE"); !s) return s;
    if (by_name("Bridge", a[1])) {
      if (o.may_exist) return Ok{};
      return Error{"cannot create a bridge named " + a[1] + " because a bridge named " + a[1] + " already exists"};
    }
    if (by_name("Port", a[1]) || by_name("Interface", a[1]))
      return Error{"cannot create a bridge named " + a[1] + " because a port named " + a[1] + " already exists"};
    const std::string i = next_name(), p = next_name(), b = next_name();
    inserted_.insert({tB, a[1]});
    return write(json::array(
        {{{"op", "insert"}, {"table", "Interface"}, {"uuid-name", i}, {"row", {{"name", a[1]}, {"type", "internal"}}}},
         {{"op", "insert"}, {"table", "Port"}, {"uuid-name", p},
          {"row", {{"name", a[1]}, {"interfaces", json::array({"named-uuid", i})}}}},
         {{"op", "insert"}, {"table", "Bridge"}, {"uuid-name", b},
          {"row", {{"name", a[1]}, {"ports", json::array({"named-uuid", p})}}}},
         {{"op", "mutate"}, {"table", "Open_vSwitch"}, {"where", json::array()},
          {"mutations", json::array({json::array({"bridges", "insert", json::array({"named-uuid", b})})})}}}));
  }
  if (verb == "del-br") {
    if (auto s = need(1, 1, "BRIDGE"); !s) return s;
    const Row* br = by_name("Bridge", a[1]);
    if (!br) return o.if_exists ? Status(Ok{}) : Status(Error{"no bridge named " + a[1]});
    if (inserted_.count({tB, a[1]})) return Error{"del-br of a bridge added by this same command line is not taken"};
    return write(json::array({{{"op", "mutate"}, {"table", "Open_vSwitch"}, {"where", json::array()},
                               {"mutations", json::array({json::array(
                                                 {"bridges", "delete", json::array({"uuid", br->uuid.str()})})})}}}));
  }
  if (verb == "list-br") {
    if (auto s = need(0, 0, "no arguments"); !s) return s;
    std::vector<std::string> n;
    for (const auto& [u, r] : work_.rows(tB)) n.push_back(name_of(tB, r));
    std::sort(n.begin(), n.end());
    for (const auto& x : n) out_ += x + "\n";
    return Ok{};
  }
  if (verb == "br-exists") {
    if (auto s = need(1, 1, "BRIDGE"); !s) return s;
    if (!by_name("Bridge", a[1])) exit_ = 2;
    return Ok{};
  }
  if (verb == "add-port") {
    if (a.size() < 3) return Error{"'add-port' takes BRIDGE PORT [COLUMN[:KEY]=VALUE]..."};
    const Row* br = by_name("Bridge", a[1]);
    if (!br) return Error{"no bridge named " + a[1]};
    if (const Row* p = by_name("Port", a[2])) {
      const Row* on = bridge_of_port(*p);
      if (o.may_exist && on == br) return Ok{};
      return Error{"cannot create a port named " + a[2] + " because a port named " + a[2] + " already exists on bridge " +
                   (on ? name_of(tB, *on) : "(none)")};
    }
    const std::string i = next_name(), p = next_name();
    json port = {{"name", a[2]}, {"interfaces", json::array({"named-uuid", i})}};
    json ops = json::array({{{"op", "insert"}, {"table", "Interface"}, {"uuid-name", i}, {"row", {{"name", a[2]}}}},
                            {{"op", "insert"}, {"table", "Port"}, {"uuid-name", p}, {"row", port}},
                            {{"op", "mutate"}, {"table", "Bridge"}, {"where", where(tB, *br)},
                             {"mutations", json::array({json::array({"ports", "insert", json::array({"named-uuid", p})})})}}});
    inserted_.insert({tP, a[2]});
    if (auto s = write(std::move(ops)); !s) return s;
    if (a.size() > 3) {  // the settings are the Port's, as ovs-vsctl's
      Args set{"set", "Port", a[2]};
      set.insert(set.end(), a.begin() + 3, a.end());
      return command(set, o);
    }
    return Ok{};
  }
  if (verb == "del-port") {
    if (auto s = need(1, 2, "[BRIDGE] PORT"); !s) return s;
    const std::string& pn = a.back();
    const Row* p = by_name("Port", pn);
    if (!p) return o.if_exists ? Status(Ok{}) : Status(Error{"no port named " + pn});
    const Row* br = bridge_of_port(*p);
    if (a.size() == 3 && (!br || name_of(tB, *br) != a[1])) {
      if (!by_name("Bridge", a[1])) return Error{"no bridge named " + a[1]};
      return Error{"bridge " + a[1] + " does not have a port " + pn};
    }
    if (!br) return Error{"port " + pn + " is on no bridge"};
    if (inserted_.count({tP, pn})) return Error{"del-port of a port added by this same command line is not taken"};
    return write(json::array({{{"op", "mutate"}, {"table", "Bridge"}, {"where", where(tB, *br)},
                               {"mutations", json::array({json::array({"ports", "delete", json::array({"uuid", p->uuid.str()})})})}}}));
  }
  if (verb == "list-ports" || verb == "list-ifaces") {
    if (auto s = need(1, 1, "BRIDGE"); !s) return s;
    const Row* br = by_name("Bridge", a[1]);
    if (!br) return Error{"no bridge named " + a[1]};
    std::vector<std::string> n;
    for (const Uuid& pu : uuids_of(work_.get(tB, *br, "ports"))) {
      const Row* p = work_.row(tP, pu);
      if (!p) continue;
      if (verb == "list-ports") n.push_back(name_of(tP, *p));
      else
        for (const auto& x : names("Interface", uuids_of(work_.get(tP, *p, "interfaces")))) n.push_back(x);
    }
    std::sort(n.begin(), n.end());
    for (const auto& x : n)
      if (x != a[1]) out_ += x + "\n";  // the bridge's own port is not listed
    return Ok{};
  }
  if (verb == "port-to-br" || verb == "iface-to-br") {
    if (auto s = need(1, 1, verb == "port-to-br" ? "PORT" : "IFACE"); !s) return s;
    const Row* p = nullptr;
    if (verb == "port-to-br") {
      p = by_name("Port", a[1]);
      if (!p) return Error{"no port named " + a[1]};
    } else {
      const Row* i = by_name("Interface", a[1]);
      if (!i) return Error{"no interface named " + a[1]};
      for (const auto& [u, r] : work_.rows(tP))
        for (const Uuid& iu : uuids_of(work_.get(tP, r, "interfaces")))
          if (iu == i->uuid) p = &r;
    }
    const Row* br = p ? bridge_of_port(*p) : nullptr;
    if (!br) return Error{a[1] + " is on no bridge"};
    out_ += name_of(tB, *br) + "\n";
    return Ok{};
  }
  if (verb == "list" || verb == "find") {
    if (a.size() < 2) return Error{"'" + verb + "' takes TABLE " + (verb == "list" ? "[RECORD]..." : "[CONDITION]...")};
    VS_TRY(t, table(a[1]));
    std::vector<const Row*> rows;
    if (verb == "list" && a.size() > 2) {
      for (size_t i = 2; i < a.size(); ++i) {
        VS_TRY(r, record(t, a[i], !o.if_exists));
        if (r) rows.push_back(r);
      }
    } else {
      for (const auto& [u, r] : work_.rows(t)) rows.push_back(&r);
      std::sort(rows.begin(), rows.end(), [&](const Row* x, const Row* y) { return name_of(t, *x) < name_of(t, *y); });
    }
    if (verb == "find") {
      for (size_t i = 2; i < a.size(); ++i) {
        const std::string& cond = a[i];
        const size_t bang = cond.find("!=");
        const bool neq = bang != std::string::npos && bang + 1 == find_eq(cond);
        const size_t eq = neq ? cond.find("!=") : find_eq(cond);
        if (eq == std::string::npos) return Error{"\"" + cond + "\": find takes COLUMN[:KEY]=VALUE or COLUMN[:KEY]!=VALUE"};
        std::string lhs = cond.substr(0, eq), rhs = cond.substr(eq + (neq ? 2 : 1)), key;
        if (auto colon = lhs.find(':'); colon != std::string::npos) {
          key = lhs.substr(colon + 1);
          lhs = lhs.substr(0, colon);
        }
        VS_TRY(ci, column(t, lhs));
        const Type& ty = ts(t).columns[static_cast<size_t>(ci)].type;
        std::function<bool(const Row*)> keep;
        if (!key.empty()) {
          if (!ty.is_map()) return Error{"\"" + lhs + "\" is not a map: it has no keys"};
          VS_TRY(k, atom_from_text(ty.key, key));
          VS_TRY(v, atom_from_text(*ty.value, rhs));
          keep = [=](const Row* r) {
            const Atom* got = r->columns[static_cast<size_t>(ci)].find(k);
            return (got && *got == v) != neq;
          };
        } else {
          VS_TRY(d, datum_from_text(ty, rhs));
          keep = [=](const Row* r) { return (r->columns[static_cast<size_t>(ci)] == d) != neq; };
        }
        std::erase_if(rows, [&](const Row* r) { return !keep(r); });
      }
    }
    print_rows(t, rows, o);
    return Ok{};
  }
  if (verb == "get") {
    if (a.size() < 4) return Error{"'get' takes TABLE RECORD COLUMN[:KEY]..."};
    VS_TRY(t, table(a[1]));
    VS_TRY(r, record(t, a[2], !o.if_exists));
    if (!r) return Ok{};
    for (size_t i = 3; i < a.size(); ++i) {
      std::string c = a[i], key;
      if (auto colon = c.find(':'); colon != std::string::npos) {
        key = c.substr(colon + 1);
        c = c.substr(0, colon);
      }
      if (c == "_uuid") {
        out_ += r->uuid.str() + "\n";
        continue;
      }
      VS_TRY(ci, column(t, c));
      const Type& ty = ts(t).columns[static_cast<size_t>(ci)].type;
      const Datum& d = r->columns[static_cast<size_t>(ci)];
      if (key.empty()) {
        out_ += datum_to_text(ty, d) + "\n";
        continue;
      }
      if (!ty.is_map()) return Error{"cannot specify key to get for non-map column " + ts(t).columns[static_cast<size_t>(ci)].name};
      VS_TRY(k, atom_from_text(ty.key, key));
      if (const Atom* v = d.find(k)) out_ += atom_to_text(*v) + "\n";
      else if (!o.if_exists)
        return Error{"no key \"" + key + "\" in " + ts(t).name + " record \"" + a[2] + "\" column " +
                     ts(t).columns[static_cast<size_t>(ci)].name};
    }
    return Ok{};
  }
  if (verb == "set" || verb == "clear" || verb == "add" || verb == "remove") {
    if (a.size() < 4) return Error{"'" + verb + "' takes TABLE RECORD " + (verb == "clear" ? "COLUMN..." : verb == "set" ? "COLUMN[:KEY]=VALUE..." : "COLUMN VALUE...")};
    VS_TRY(t, table(a[1]));
    VS_TRY(r, record(t, a[2], !o.if_exists));
    if (!r) return Ok{};
    json ops = json::array();
    const json w = where(t, *r);
    auto mutation = [&](const std::string& c, const char* mutator, json value) {
      ops.push_back({{"op", "mutate"}, {"table", ts(t).name}, {"where", w},
                     {"mutations", json::array({json::array({c, mutator, std::move(value)})})}});
    };
    if (verb == "set") {
      json row = json::object();
      for (size_t i = 3; i < a.size(); ++i) {
        VS_TRY(kv, split_setting(a[i]));
        std::string c = kv.first, key;
        if (auto colon = c.find(':'); colon != std::string::npos) {
          key = c.substr(colon + 1);
          c = c.substr(0, colon);
        }
        VS_TRY(ci, column(t, c));
        const ColumnSchema& cs = ts(t).columns[static_cast<size_t>(ci)];
        if (key.empty()) {
          VS_TRY(d, datum_from_text(cs.type, kv.second));
          row[cs.name] = d.to_json(cs.type);
          continue;
        }
        if (!cs.type.is_map()) return Error{"cannot specify key to set for non-map column " + cs.name};
        VS_TRY(k, atom_from_text(cs.type.key, key));
        VS_TRY(v, atom_from_text(*cs.type.value, kv.second));
        Type any = cs.type;
        any.min = 0;
        any.max = kUnlimited;
        mutation(cs.name, "delete", Datum::set_of({k}).to_json(Type{cs.type.key, std::nullopt, 0, kUnlimited}));
        mutation(cs.name, "insert", Datum::map_of({{k, v}}).to_json(any));
      }
      if (!row.empty())
        ops.insert(ops.begin(), json{{"op", "update"}, {"table", ts(t).name}, {"where", w}, {"row", row}});
    } else if (verb == "clear") {
      json row = json::object();
      for (size_t i = 3; i < a.size(); ++i) {
        VS_TRY(ci, column(t, a[i]));
        const ColumnSchema& cs = ts(t).columns[static_cast<size_t>(ci)];
        if (cs.type.min > 0)
          return Error{"\"clear\" operation cannot be applied to column " + cs.name + " of table " + ts(t).name +
                       ", which is not allowed to be empty"};
        row[cs.name] = Datum{}.to_json(cs.type);
      }
      ops.push_back({{"op", "update"}, {"table", ts(t).name}, {"where", w}, {"row", row}});
    } else {
      VS_TRY(ci, column(t, a[3]));
      const ColumnSchema& cs = ts(t).columns[static_cast<size_t>(ci)];
      Type any = cs.type;
      any.min = 0;
      any.max = kUnlimited;
      for (size_t i = 4; i < a.size(); ++i) {
        if (cs.type.is_map() && verb == "remove" && find_eq(a[i]) == std::string::npos) {
          VS_TRY(k, atom_from_text(cs.type.key, a[i]));  // remove by key
          mutation(cs.name, "delete", Datum::set_of({k}).to_json(Type{cs.type.key, std::nullopt, 0, kUnlimited}));
          continue;
        }
        VS_TRY(d, datum_from_text(any, a[i]));
        if (cs.type.is_map() && verb == "add") {  // add does not replace a key's value
          Datum fresh;
          for (size_t j = 0; j < d.keys.size(); ++j)
            if (!r->columns[static_cast<size_t>(ci)].contains(d.keys[j])) {
              fresh.keys.push_back(d.keys[j]);
              fresh.values.push_back(d.values[j]);
            }
          d = fresh;
        }
        mutation(cs.name, verb == "add" ? "insert" : "delete", d.to_json(any));
      }
    }
    if (ops.empty()) return Ok{};
    return write(std::move(ops));
  }
  return Error{"ovs-vsctl's '" + verb +
               "' is not taken by kvnetctl (it takes add-br, del-br, list-br, br-exists, add-port, del-port, list-ports, "
               "list-ifaces, port-to-br, iface-to-br, list, find, get, set, clear, add, remove)"};
}

Result<VsctlResult> Vsctl::run(const std::vector<std::string>& args) {
  Options global;
  size_t i = 0;
  auto option = [&](const std::string& a, Options& o, bool is_global) -> Status {
    if (a == "--may-exist") o.may_exist = true;
    else if (a == "--if-exists") o.if_exists = true;
    else if (is_global && a == "--bare") o.bare = true;
    else if (is_global && a.starts_with("--columns=")) {
      const std::string list = a.substr(std::string_view("--columns=").size());
      std::vector<std::string_view> cs;
      split_top(list, ',', cs);
      for (auto c : cs) o.columns.emplace_back(trim(c));
    } else if (is_global && (a.starts_with("--timeout=") || a == "--no-wait" || a == "--wait" || a.starts_with("--db=") ||
                             a == "--no-syslog" || a.starts_with("-v") || a == "--oneline" || a == "--dry-run")) {
      if (a == "--dry-run") return Error{"ovs-vsctl's --dry-run is not taken: use kvnetctl apply --dry-run"};
      if (a == "--oneline") return Error{"ovs-vsctl's --oneline is not taken"};
    } else {
      return Error{"ovs-vsctl's option '" + a + "' is not taken by kvnetctl here"};
    }
    return Ok{};
  };
  while (i < args.size() && args[i].starts_with("-") && args[i] != "--") {
    if (auto s = option(args[i], global, true); !s) return s.error();
    ++i;
  }
  // Commands separated by "--", each with its own options first.
  std::vector<std::pair<Options, Args>> cmds;
  while (i < args.size()) {
    if (args[i] == "--") {
      ++i;
      continue;
    }
    Options o = global;
    while (i < args.size() && args[i].starts_with("--") && args[i] != "--") {
      if (auto s = option(args[i], o, false); !s) return s.error();
      ++i;
    }
    Args a;
    while (i < args.size() && args[i] != "--") a.push_back(args[i++]);
    if (a.empty()) return Error{"a '--' is followed by options but no command"};
    cmds.push_back({o, a});
  }
  if (cmds.empty()) return Error{"no command given (ovs-vsctl's commands: add-br, add-port, set, get, list ...)"};
  for (const auto& [o, a] : cmds)
    if (auto s = command(a, o); !s) return s.error();
  VsctlResult r;
  if (!ops_.empty()) {
    if (auto s = commit_(ops_); !s) return s.error();
    r.changed = true;
  }
  r.output = std::move(out_);
  r.exit_code = exit_;
  return r;
}

}  // namespace

Result<VsctlResult> run_vsctl(const Database& db, const std::vector<std::string>& args, const VsctlCommit& commit) {
  Vsctl v(db, commit);
  return v.run(args);
}

}  // namespace kvnet::ovsdb
