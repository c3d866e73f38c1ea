#include "ovsdb/schema.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <sstream>

namespace kvnet::ovsdb {

namespace {

Error syntax(const std::string& d) { return ovsdb_error("syntax error", d); }

bool valid_id(std::string_view s) {
  if (s.empty() || !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

Result<int64_t> to_int(std::string_view s) {
  std::string t(s);
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(t.c_str(), &end, 10);
  if (t.empty() || *end != '\0' || errno != 0) return Error{"\"" + t + "\" is not an integer"};
  return static_cast<int64_t>(v);
}

Result<double> to_real(std::string_view s) {
  std::string t(s);
  char* end = nullptr;
  const double v = std::strtod(t.c_str(), &end);
  if (t.empty() || *end != '\0' || !std::isfinite(v)) return Error{"\"" + t + "\" is not a number"};
  return v;
}

// BASE: TYPE[{a|b}][[LO..HI]][->TABLE[(weak)]]
Result<BaseType> parse_base(std::string_view s) {
  size_t i = 0;
  while (i < s.size() && std::isalpha(static_cast<unsigned char>(s[i]))) ++i;
  auto t = atomic_type_from(s.substr(0, i));
  if (!t) return Error{"unknown atomic type \"" + std::string(s.substr(0, i)) + "\""};
  BaseType b;
  b.type = *t;
  while (i < s.size()) {
    if (s[i] == '{') {
      const size_t end = s.find('}', i);
      if (end == std::string_view::npos) return Error{"an enum without its '}'"};
      std::string_view list = s.substr(i + 1, end - i - 1);
      std::vector<Atom> vals;
      while (!list.empty()) {
        const size_t bar = list.find('|');
        std::string_view v = list.substr(0, bar);
        switch (b.type) {
          case AtomicType::kString:
            vals.emplace_back(std::string(v));
            break;
          case AtomicType::kInteger: {
            auto n = to_int(v);
            if (!n) return n.error();
            vals.emplace_back(*n);
            break;
          }
          default:
            return Error{"enums of " + std::string(atomic_type_name(b.type)) + " are not supported"};
        }
        list = bar == std::string_view::npos ? std::string_view() : list.substr(bar + 1);
      }
      b.enums = Datum::set_of(std::move(vals)).keys;
      i = end + 1;
    } else if (s[i] == '[') {
      const size_t end = s.find(']', i);
      const size_t dots = s.find("..", i);
      if (end == std::string_view::npos || dots == std::string_view::npos || dots > end)
        return Error{"a range is [LO..HI]"};
      std::string_view lo = s.substr(i + 1, dots - i - 1), hi = s.substr(dots + 2, end - dots - 2);
      // Either end may be left out; `to` converts, `out` receives.
      auto ends = [&](auto to, auto& min, auto& max) -> Status {
        for (auto [text, out] : {std::pair{lo, &min}, std::pair{hi, &max}}) {
          if (text.empty()) continue;
          auto v = to(text);
          if (!v) return v.error();
          *out = *v;
        }
        return Ok{};
      };
      Status st = Ok{};
      if (b.type == AtomicType::kInteger) {
        st = ends(to_int, b.min_integer, b.max_integer);
      } else if (b.type == AtomicType::kReal) {
        st = ends(to_real, b.min_real, b.max_real);
      } else {
        return Error{"a range on a " + std::string(atomic_type_name(b.type))};
      }
      if (!st) return st.error();
      i = end + 1;
    } else if (s.substr(i, 2) == "->") {
      if (b.type != AtomicType::kUuid) return Error{"a reference from a " + std::string(atomic_type_name(b.type))};
      std::string_view rest = s.substr(i + 2);
      if (rest.size() > 6 && rest.substr(rest.size() - 6) == "(weak)") {
        b.weak = true;
        rest.remove_suffix(6);
      }
      if (!valid_id(rest)) return Error{"bad table name \"" + std::string(rest) + "\""};
      b.ref_table = std::string(rest);
      i = s.size();
    } else {
      return Error{"unexpected \"" + std::string(s.substr(i)) + "\""};
    }
  }
  return b;
}

Result<Type> parse_type(std::string_view s) {
  Type t;
  if (s.substr(0, 4) == "map<") {
    if (s.back() != '>') return Error{"a map type ends with '>'"};
    std::string_view inner = s.substr(4, s.size() - 5);
    // The comma between the two base types: the first one outside braces.
    size_t comma = std::string_view::npos;
    int depth = 0;
    for (size_t i = 0; i < inner.size(); ++i) {
      if (inner[i] == '{' || inner[i] == '[') ++depth;
      if (inner[i] == '}' || inner[i] == ']') --depth;
      if (inner[i] == ',' && depth == 0) {
        comma = i;
        break;
      }
    }
    if (comma == std::string_view::npos) return Error{"a map type is map<KEY,VALUE>"};
    auto k = parse_base(inner.substr(0, comma));
    if (!k) return k.error();
    auto v = parse_base(inner.substr(comma + 1));
    if (!v) return v.error();
    t.key = *k;
    t.value = *v;
    t.min = 0;
    t.max = kUnlimited;  // the usual map; a count given after it says otherwise
    return t;
  }
  auto k = parse_base(s);
  if (!k) return k.error();
  t.key = *k;
  return t;
}

Result<std::pair<uint64_t, uint64_t>> parse_count(std::string_view s) {
  const size_t dots = s.find("..");
  if (dots == std::string_view::npos) return Error{"a count is MIN..MAX"};
  auto lo = to_int(s.substr(0, dots));
  if (!lo || *lo < 0 || *lo > 1) return Error{"a count's MIN is 0 or 1"};
  std::string_view hi = s.substr(dots + 2);
  if (hi == "*") return std::pair<uint64_t, uint64_t>{static_cast<uint64_t>(*lo), kUnlimited};
  auto h = to_int(hi);
  if (!h || *h < 1 || *h < *lo) return Error{"a count's MAX is a positive integer or *"};
  return std::pair<uint64_t, uint64_t>{static_cast<uint64_t>(*lo), static_cast<uint64_t>(*h)};
}

Status check_schema(const DatabaseSchema& s) {
  for (const TableSchema& t : s.tables) {
    if (!valid_id(t.name) || t.name[0] == '_') return syntax("bad table name \"" + t.name + "\"");
    if (std::count_if(s.tables.begin(), s.tables.end(), [&](const TableSchema& o) { return o.name == t.name; }) > 1)
      return syntax("table \"" + t.name + "\" is defined twice");
    for (const ColumnSchema& c : t.columns) {
      if (!valid_id(c.name) || c.name[0] == '_') return syntax("table " + t.name + ": bad column name \"" + c.name + "\"");
      if (t.column_index(c.name) != &c - t.columns.data())
        return syntax("table " + t.name + ": column \"" + c.name + "\" is defined twice");
      for (const BaseType* b : {&c.type.key, c.type.value ? &*c.type.value : nullptr}) {
        if (b && !b->ref_table.empty() && !s.table(b->ref_table))
          return syntax("table " + t.name + " column " + c.name + ": refTable \"" + b->ref_table + "\" is not a table");
      }
    }
    for (const auto& idx : t.indexes) {
      if (idx.empty()) return syntax("table " + t.name + ": an empty index");
      for (const std::string& c : idx)
        if (!t.column(c)) return syntax("table " + t.name + ": index column \"" + c + "\" is not a column");
    }
  }
  return Ok{};
}

}  // namespace

int TableSchema::column_index(std::string_view name) const {
  for (size_t i = 0; i < columns.size(); ++i)
    if (columns[i].name == name) return static_cast<int>(i);
  return -1;
}

const ColumnSchema* TableSchema::column(std::string_view name) const {
  const int i = column_index(name);
  return i < 0 ? nullptr : &columns[static_cast<size_t>(i)];
}

const TableSchema* DatabaseSchema::table(std::string_view name) const {
  const int i = table_index(name);
  return i < 0 ? nullptr : &tables[static_cast<size_t>(i)];
}

int DatabaseSchema::table_index(std::string_view name) const {
  for (size_t i = 0; i < tables.size(); ++i)
    if (tables[i].name == name) return static_cast<int>(i);
  return -1;
}

json DatabaseSchema::to_json() const {
  json tj = json::object();
  for (const TableSchema& t : tables) {
    json cols = json::object();
    for (const ColumnSchema& c : t.columns) {
      json cj = {{"type", c.type.to_json()}};
      if (c.ephemeral) cj["ephemeral"] = true;
      if (!c.mutable_) cj["mutable"] = false;
      cols[c.name] = cj;
    }
    json j = {{"columns", cols}, {"isRoot", t.is_root}};
    if (t.max_rows != kUnlimited) j["maxRows"] = t.max_rows;
    if (!t.indexes.empty()) j["indexes"] = t.indexes;
    tj[t.name] = j;
  }
  return json{{"name", name}, {"version", version}, {"tables", tj}};
}

Result<DatabaseSchema> DatabaseSchema::from_json(const json& j) {
  if (!j.is_object() || !j.contains("name") || !j["name"].is_string() || !j.contains("tables") ||
      !j["tables"].is_object())
    return syntax("a schema is an object with \"name\" and \"tables\"");
  DatabaseSchema s;
  s.name = j["name"].get<std::string>();
  if (j.contains("version")) {
    if (!j["version"].is_string()) return syntax("a schema's version is a string");
    s.version = j["version"].get<std::string>();
  }
  for (const auto& [tname, tj] : j["tables"].items()) {
    if (!tj.is_object() || !tj.contains("columns") || !tj["columns"].is_object())
      return syntax("table " + tname + ": no \"columns\" object");
    TableSchema t;
    t.name = tname;
    for (const auto& [cname, cj] : tj["columns"].items()) {
      if (!cj.is_object() || !cj.contains("type")) return syntax("table " + tname + " column " + cname + ": no type");
      auto ty = Type::from_json(cj["type"]);
      if (!ty) return syntax("table " + tname + " column " + cname + ": " + ty.error().message);
      ColumnSchema c{cname, *ty};
      if (cj.contains("ephemeral")) c.ephemeral = cj["ephemeral"] == true;
      if (cj.contains("mutable")) c.mutable_ = cj["mutable"] != false;
      t.columns.push_back(std::move(c));
    }
    if (tj.contains("isRoot")) t.is_root = tj["isRoot"] == true;
    if (tj.contains("maxRows")) {
      if (!tj["maxRows"].is_number_unsigned() || tj["maxRows"].get<uint64_t>() == 0)
        return syntax("table " + tname + ": maxRows is not a positive integer");
      t.max_rows = tj["maxRows"].get<uint64_t>();
    }
    if (tj.contains("indexes")) {
      if (!tj["indexes"].is_array()) return syntax("table " + tname + ": indexes is not an array");
      for (const json& idx : tj["indexes"]) {
        if (!idx.is_array()) return syntax("table " + tname + ": an index is not an array");
        std::vector<std::string> cols;
        for (const json& c : idx) {
          if (!c.is_string()) return syntax("table " + tname + ": an index column is not a string");
          cols.push_back(c.get<std::string>());
        }
        t.indexes.push_back(std::move(cols));
      }
    }
    s.tables.push_back(std::move(t));
  }
  if (auto st = check_schema(s); !st) return st.error();
  return s;
}

Result<DatabaseSchema> parse_schema_text(std::string_view text) {
  DatabaseSchema s;
  std::istringstream in{std::string(text)};
  std::string line;
  int n = 0;
  auto at = [&](const std::string& m) { return Error{"schema line " + std::to_string(n) + ": " + m}; };
  while (std::getline(in, line)) {
    ++n;
    const size_t hash = line.find('#');
    if (hash != std::string::npos) line.resize(hash);
    std::istringstream words(line);
    std::vector<std::string> w;
    for (std::string x; words >> x;) w.push_back(x);
    if (w.empty()) continue;
    const bool indented = std::isspace(static_cast<unsigned char>(line[0]));
    if (!indented && w[0] == "database") {
      if (w.size() != 3) return at("database NAME VERSION");
      s.name = w[1];
      s.version = w[2];
    } else if (!indented && w[0] == "table") {
      if (w.size() < 2) return at("table NAME [root] [maxRows=N] [index=COL[+COL]]");
      TableSchema t;
      t.name = w[1];
      for (size_t i = 2; i < w.size(); ++i) {
        if (w[i] == "root") {
          t.is_root = true;
        } else if (w[i].rfind("maxRows=", 0) == 0) {
          auto v = to_int(w[i].substr(8));
          if (!v || *v < 1) return at("maxRows is a positive integer");
          t.max_rows = static_cast<uint64_t>(*v);
        } else if (w[i].rfind("index=", 0) == 0) {
          std::vector<std::string> cols;
          std::string_view rest = std::string_view(w[i]).substr(6);
          while (!rest.empty()) {
            const size_t plus = rest.find('+');
            cols.emplace_back(rest.substr(0, plus));
            rest = plus == std::string_view::npos ? std::string_view() : rest.substr(plus + 1);
          }
          t.indexes.push_back(std::move(cols));
        } else {
          return at("unknown table attribute \"" + w[i] + "\"");
        }
      }
      s.tables.push_back(std::move(t));
    } else if (indented) {
      if (s.tables.empty()) return at("a column before any table");
      if (w.size() < 2) return at("COLUMN TYPE [MIN..MAX] [ephemeral] [immutable]");
      auto ty = parse_type(w[1]);
      if (!ty) return at("column " + w[0] + ": " + ty.error().message);
      ColumnSchema c{w[0], *ty};
      for (size_t i = 2; i < w.size(); ++i) {
        if (w[i] == "ephemeral") {
          c.ephemeral = true;
        } else if (w[i] == "immutable") {
          c.mutable_ = false;
        } else if (w[i].find("..") != std::string::npos) {
          auto count = parse_count(w[i]);
          if (!count) return at("column " + w[0] + ": " + count.error().message);
          c.type.min = count->first;
          c.type.max = count->second;
        } else {
          return at("column " + w[0] + ": unknown attribute \"" + w[i] + "\"");
        }
      }
      s.tables.back().columns.push_back(std::move(c));
    } else {
      return at("expected \"database\", \"table\" or an indented column");
    }
  }
  if (s.name.empty()) return Error{"schema: no \"database\" line"};
  if (auto st = check_schema(s); !st) return Error{"schema " + s.name + ": " + st.error().message};
  return s;
}

}  // namespace kvnet::ovsdb
