#include "ovsdb/datum.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <random>

namespace kvnet::ovsdb {

namespace {

constexpr std::array<std::string_view, 5> kTypeNames = {"integer", "real", "boolean", "string", "uuid"};

constexpr std::array<std::string_view, 14> kTags = {
    "syntax error",      "constraint violation", "referential integrity violation",
    "resources exhausted", "I/O error",          "duplicate uuid-name",
    "domain error",      "range error",          "timed out",
    "not supported",     "aborted",              "not owner",
    "unknown database",  "permission error"};

Error syntax(const std::string& d) { return ovsdb_error("syntax error", d); }
Error constraint(const std::string& d) { return ovsdb_error("constraint violation", d); }

std::string what_json(const json& j) {
  std::string s = j.dump();
  if (s.size() > 80) s = s.substr(0, 77) + "...";
  return s;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Sorted by key, unique: `keys` (and `values` alongside, when given); the
// first given of two equal keys wins. Returns a key that was given twice.
std::optional<Atom> normalize(std::vector<Atom>& keys, std::vector<Atom>* values) {
  std::vector<size_t> order(keys.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return keys[a] < keys[b]; });
  std::vector<Atom> k, v;
  std::optional<Atom> dup;
  for (size_t i : order) {
    if (!k.empty() && k.back() == keys[i]) {
      if (!dup) dup = keys[i];
      continue;
    }
    k.push_back(std::move(keys[i]));
    if (values) v.push_back(std::move((*values)[i]));
  }
  keys = std::move(k);
  if (values) *values = std::move(v);
  return dup;
}

std::string type_text(const Type& t) {
  std::string s = t.is_map() ? "map" : t.is_scalar() ? "scalar" : "set";
  s += " of " + std::string(atomic_type_name(t.key.type));
  if (t.value) s += " to " + std::string(atomic_type_name(t.value->type));
  return s;
}

}  // namespace

Error ovsdb_error(std::string_view tag, const std::string& details) {
  return Error{std::string(tag) + ": " + details};
}

json error_json(const Error& e) {
  for (std::string_view tag : kTags) {
    if (e.message.size() > tag.size() + 1 && e.message.compare(0, tag.size(), tag) == 0 &&
        e.message.compare(tag.size(), 2, ": ") == 0)
      return json{{"error", std::string(tag)}, {"details", e.message.substr(tag.size() + 2)}};
  }
  return json{{"error", "kvnet error"}, {"details", e.message}};
}

// --- Uuid

std::string Uuid::str() const {
  char b[37];
  std::snprintf(b, sizeof b, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(hi >> 32),
                static_cast<unsigned>((hi >> 16) & 0xffff), static_cast<unsigned>(hi & 0xffff),
                static_cast<unsigned>(lo >> 48), static_cast<unsigned long long>(lo & 0xffffffffffffULL));
  return b;
}

std::optional<Uuid> Uuid::parse(std::string_view s) {
  if (s.size() != 36) return std::nullopt;
  Uuid u;
  int n = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (s[i] != '-') return std::nullopt;
      continue;
    }
    const int v = hex_value(s[i]);
    if (v < 0) return std::nullopt;
    uint64_t& half = n < 16 ? u.hi : u.lo;
    half = (half << 4) | static_cast<uint64_t>(v);
    ++n;
  }
  return u;
}

Uuid Uuid::random() {
  // std::random_device reads the kernel's source (getrandom) on Linux.
  static thread_local std::mt19937_64 gen([] {
    std::random_device rd;
    return (static_cast<uint64_t>(rd()) << 32) ^ rd();
  }());
  Uuid u{gen(), gen()};
  u.hi = (u.hi & ~0xf000ULL) | 0x4000ULL;                              // version 4
  u.lo = (u.lo & ~(0xc000ULL << 48)) | (0x8000ULL << 48);              // variant 10
  return u;
}

// --- atoms

std::string_view atomic_type_name(AtomicType t) { return kTypeNames[static_cast<size_t>(t)]; }

std::optional<AtomicType> atomic_type_from(std::string_view name) {
  for (size_t i = 0; i < kTypeNames.size(); ++i)
    if (kTypeNames[i] == name) return static_cast<AtomicType>(i);
  return std::nullopt;
}

std::string atom_text(const Atom& a) {
  switch (atom_type(a)) {
    case AtomicType::kInteger:
      return std::to_string(std::get<int64_t>(a));
    case AtomicType::kReal:
      return json(std::get<double>(a)).dump();
    case AtomicType::kBoolean:
      return std::get<bool>(a) ? "true" : "false";
    case AtomicType::kString:
      return json(std::get<std::string>(a)).dump(-1, ' ', false, json::error_handler_t::replace);
    case AtomicType::kUuid:
      return std::get<Uuid>(a).str();
  }
  return "?";
}

json atom_to_json(const Atom& a) {
  switch (atom_type(a)) {
    case AtomicType::kInteger:
      return std::get<int64_t>(a);
    case AtomicType::kReal:
      return std::get<double>(a);
    case AtomicType::kBoolean:
      return std::get<bool>(a);
    case AtomicType::kString:
      return std::get<std::string>(a);
    case AtomicType::kUuid:
      return json::array({"uuid", std::get<Uuid>(a).str()});
  }
  return nullptr;
}

Result<Atom> atom_from_json(const BaseType& t, const json& j, const NamedUuids* names) {
  const std::string want(atomic_type_name(t.type));
  auto wrong = [&] { return syntax(what_json(j) + " is not " + (t.type == AtomicType::kInteger ? "an " : "a ") + want); };
  switch (t.type) {
    case AtomicType::kInteger:
      if (j.is_number_integer()) {
        if (j.is_number_unsigned() && j.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
          return syntax(what_json(j) + " is out of an integer's range");
        return Atom{j.get<int64_t>()};
      }
      return wrong();
    case AtomicType::kReal:
      if (j.is_number()) return Atom{j.get<double>()};
      return wrong();
    case AtomicType::kBoolean:
      if (j.is_boolean()) return Atom{j.get<bool>()};
      return wrong();
    case AtomicType::kString:
      if (j.is_string()) return Atom{j.get<std::string>()};
      return wrong();
    case AtomicType::kUuid: {
      if (!j.is_array() || j.size() != 2 || !j[0].is_string() || !j[1].is_string()) return wrong();
      const std::string& tag = j[0].get_ref<const std::string&>();
      const std::string& v = j[1].get_ref<const std::string&>();
      if (tag == "uuid") {
        auto u = Uuid::parse(v);
        if (!u) return syntax("\"" + v + "\" is not a UUID");
        return Atom{*u};
      }
      if (tag == "named-uuid") {
        if (!names) return syntax("a named-uuid (\"" + v + "\") is only valid inside a transaction");
        auto it = names->find(v);
        if (it == names->end()) return syntax("unknown named-uuid \"" + v + "\"");
        return Atom{it->second};
      }
      return wrong();
    }
  }
  return wrong();
}

// --- BaseType

Status BaseType::check(const Atom& a) const {
  if (atom_type(a) != type)
    return constraint(atom_text(a) + " is not " + (type == AtomicType::kInteger ? "an " : "a ") +
                      std::string(atomic_type_name(type)));
  if (!enums.empty() && !std::binary_search(enums.begin(), enums.end(), a)) {
    std::string list;
    for (const Atom& e : enums) list += (list.empty() ? "" : ", ") + atom_text(e);
    return constraint(atom_text(a) + " is not one of the allowed values (" + list + ")");
  }
  switch (type) {
    case AtomicType::kInteger: {
      const int64_t v = std::get<int64_t>(a);
      if (v < min_integer || v > max_integer) {
        std::string range = min_integer == std::numeric_limits<int64_t>::min() ? "<= " + std::to_string(max_integer)
                            : max_integer == std::numeric_limits<int64_t>::max()
                                ? ">= " + std::to_string(min_integer)
                                : std::to_string(min_integer) + " to " + std::to_string(max_integer);
        return constraint(std::to_string(v) + " is not in the valid range " + range);
      }
      break;
    }
    case AtomicType::kReal: {
      const double v = std::get<double>(a);
      if (!std::isfinite(v) || v < min_real || v > max_real)
        return constraint(atom_text(a) + " is not in the valid range " + json(min_real).dump() + " to " +
                          json(max_real).dump());
      break;
    }
    case AtomicType::kString: {
      const size_t n = std::get<std::string>(a).size();
      if (n < min_length || n > max_length)
        return constraint(atom_text(a) + " is " + std::to_string(n) + " bytes long, not " +
                          std::to_string(min_length) + " to " +
                          (max_length == kUnlimited ? std::string("unlimited") : std::to_string(max_length)));
      break;
    }
    default:
      break;
  }
  return Ok{};
}

Atom BaseType::default_atom() const {
  if (!enums.empty()) return enums.front();
  switch (type) {
    case AtomicType::kInteger:
      return int64_t{0};
    case AtomicType::kReal:
      return 0.0;
    case AtomicType::kBoolean:
      return false;
    case AtomicType::kString:
      return std::string();
    case AtomicType::kUuid:
      return Uuid{};
  }
  return int64_t{0};
}

json BaseType::to_json() const {
  const bool plain = enums.empty() && min_integer == std::numeric_limits<int64_t>::min() &&
                     max_integer == std::numeric_limits<int64_t>::max() && std::isinf(min_real) &&
                     std::isinf(max_real) && min_length == 0 && max_length == kUnlimited && ref_table.empty();
  if (plain) return std::string(atomic_type_name(type));
  json j = {{"type", std::string(atomic_type_name(type))}};
  if (!enums.empty()) {
    if (enums.size() == 1) {
      j["enum"] = atom_to_json(enums.front());
    } else {
      json list = json::array();
      for (const Atom& e : enums) list.push_back(atom_to_json(e));
      j["enum"] = json::array({"set", list});
    }
  }
  if (type == AtomicType::kInteger) {
    if (min_integer != std::numeric_limits<int64_t>::min()) j["minInteger"] = min_integer;
    if (max_integer != std::numeric_limits<int64_t>::max()) j["maxInteger"] = max_integer;
  }
  if (type == AtomicType::kReal) {
    if (!std::isinf(min_real)) j["minReal"] = min_real;
    if (!std::isinf(max_real)) j["maxReal"] = max_real;
  }
  if (type == AtomicType::kString) {
    if (min_length != 0) j["minLength"] = min_length;
    if (max_length != kUnlimited) j["maxLength"] = max_length;
  }
  if (!ref_table.empty()) {
    j["refTable"] = ref_table;
    if (weak) j["refType"] = "weak";
  }
  return j;
}

Result<BaseType> BaseType::from_json(const json& j) {
  BaseType b;
  if (j.is_string()) {
    auto t = atomic_type_from(j.get<std::string>());
    if (!t) return syntax("unknown atomic type " + what_json(j));
    b.type = *t;
    return b;
  }
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string()) return syntax("bad base type " + what_json(j));
  auto t = atomic_type_from(j["type"].get<std::string>());
  if (!t) return syntax("unknown atomic type " + what_json(j["type"]));
  b.type = *t;
  for (const auto& [k, v] : j.items()) {
    if (k == "type") continue;
    if (k == "enum") {
      BaseType plain;
      plain.type = b.type;
      Type set{plain, std::nullopt, 0, kUnlimited};
      auto d = datum_from_json(set, v, nullptr, false);
      if (!d) return d.error();
      b.enums = d->keys;
    } else if (k == "minInteger" || k == "maxInteger") {
      if (!v.is_number_integer()) return syntax(k + " is not an integer");
      (k == "minInteger" ? b.min_integer : b.max_integer) = v.get<int64_t>();
    } else if (k == "minReal" || k == "maxReal") {
      if (!v.is_number()) return syntax(k + " is not a number");
      (k == "minReal" ? b.min_real : b.max_real) = v.get<double>();
    } else if (k == "minLength" || k == "maxLength") {
      if (!v.is_number_unsigned()) return syntax(k + " is not a non-negative integer");
      (k == "minLength" ? b.min_length : b.max_length) = v.get<uint64_t>();
    } else if (k == "refTable") {
      if (!v.is_string()) return syntax("refTable is not a string");
      b.ref_table = v.get<std::string>();
    } else if (k == "refType") {
      if (v != "strong" && v != "weak") return syntax("refType is neither \"strong\" nor \"weak\"");
      b.weak = v == "weak";
    } else {
      return syntax("unknown member \"" + k + "\" of a base type");
    }
  }
  return b;
}

// --- Type

json Type::to_json() const {
  if (is_scalar()) {
    json k = key.to_json();
    if (k.is_string()) return k;
    return json{{"key", k}};
  }
  json j = {{"key", key.to_json()}};
  if (value) j["value"] = value->to_json();
  if (min != 1) j["min"] = min;
  if (max != 1) j["max"] = max == kUnlimited ? json("unlimited") : json(max);
  return j;
}

Result<Type> Type::from_json(const json& j) {
  Type t;
  if (j.is_string()) {
    auto b = BaseType::from_json(j);
    if (!b) return b.error();
    t.key = *b;
    return t;
  }
  if (!j.is_object() || !j.contains("key")) return syntax("bad type " + what_json(j));
  for (const auto& [k, v] : j.items()) {
    if (k == "key" || k == "value") {
      auto b = BaseType::from_json(v);
      if (!b) return b.error();
      if (k == "key")
        t.key = *b;
      else
        t.value = *b;
    } else if (k == "min") {
      if (!v.is_number_unsigned() || v.get<uint64_t>() > 1) return syntax("min is not 0 or 1");
      t.min = v.get<uint64_t>();
    } else if (k == "max") {
      if (v == "unlimited")
        t.max = kUnlimited;
      else if (v.is_number_unsigned() && v.get<uint64_t>() >= 1)
        t.max = v.get<uint64_t>();
      else
        return syntax("max is not a positive integer or \"unlimited\"");
    } else {
      return syntax("unknown member \"" + k + "\" of a type");
    }
  }
  if (t.min > t.max) return syntax("min is over max");
  return t;
}

// --- Datum

bool Datum::contains(const Atom& k) const { return std::binary_search(keys.begin(), keys.end(), k); }

const Atom* Datum::find(const Atom& k) const {
  auto it = std::lower_bound(keys.begin(), keys.end(), k);
  if (it == keys.end() || *it != k || values.empty()) return nullptr;
  return &values[static_cast<size_t>(it - keys.begin())];
}

Datum Datum::default_of(const Type& t) {
  Datum d;
  if (t.min == 1) {
    d.keys.push_back(t.key.default_atom());
    if (t.value) d.values.push_back(t.value->default_atom());
  }
  return d;
}

Datum Datum::scalar(Atom a) {
  Datum d;
  d.keys.push_back(std::move(a));
  return d;
}

Datum Datum::set_of(std::vector<Atom> keys) {
  Datum d;
  d.keys = std::move(keys);
  normalize(d.keys, nullptr);
  return d;
}

Datum Datum::map_of(std::vector<std::pair<Atom, Atom>> pairs) {
  Datum d;
  for (auto& [k, v] : pairs) {
    d.keys.push_back(std::move(k));
    d.values.push_back(std::move(v));
  }
  normalize(d.keys, &d.values);
  return d;
}

Status Datum::check(const Type& t) const {
  if (keys.size() < t.min || keys.size() > t.max) {
    return constraint(std::to_string(keys.size()) + " value" + (keys.size() == 1 ? "" : "s") + " where the type (" +
                      type_text(t) + ") takes " + std::to_string(t.min) + " to " +
                      (t.max == kUnlimited ? std::string("unlimited") : std::to_string(t.max)));
  }
  if (t.is_map() != !values.empty() && !keys.empty()) return constraint("a map where a set is expected, or the reverse");
  for (const Atom& k : keys)
    if (auto s = t.key.check(k); !s) return s;
  if (t.value)
    for (const Atom& v : values)
      if (auto s = t.value->check(v); !s) return s;
  return Ok{};
}

json Datum::to_json(const Type& t) const {
  if (t.is_map()) {
    json pairs = json::array();
    for (size_t i = 0; i < keys.size(); ++i)
      pairs.push_back(json::array({atom_to_json(keys[i]), i < values.size() ? atom_to_json(values[i]) : json()}));
    return json::array({"map", pairs});
  }
  if (keys.size() == 1) return atom_to_json(keys.front());
  json list = json::array();
  for (const Atom& k : keys) list.push_back(atom_to_json(k));
  return json::array({"set", list});
}

Result<Datum> datum_from_json(const Type& t, const json& j, const NamedUuids* names, bool check) {
  Datum d;
  if (t.is_map()) {
    if (!j.is_array() || j.size() != 2 || j[0] != "map" || !j[1].is_array())
      return syntax(what_json(j) + " is not a map ([\"map\", [[KEY, VALUE], ...]])");
    for (const json& p : j[1]) {
      if (!p.is_array() || p.size() != 2) return syntax(what_json(p) + " is not a [KEY, VALUE] pair");
      auto k = atom_from_json(t.key, p[0], names);
      if (!k) return k.error();
      auto v = atom_from_json(*t.value, p[1], names);
      if (!v) return v.error();
      d.keys.push_back(std::move(*k));
      d.values.push_back(std::move(*v));
    }
    if (auto dup = normalize(d.keys, &d.values)) return syntax("map has duplicate key " + atom_text(*dup));
  } else if (j.is_array() && j.size() == 2 && j[0] == "set") {
    if (!j[1].is_array()) return syntax(what_json(j) + " is not a set ([\"set\", [...]])");
    for (const json& e : j[1]) {
      auto k = atom_from_json(t.key, e, names);
      if (!k) return k.error();
      d.keys.push_back(std::move(*k));
    }
    if (auto dup = normalize(d.keys, nullptr)) return syntax("set has duplicate value " + atom_text(*dup));
  } else {
    auto k = atom_from_json(t.key, j, names);
    if (!k) return k.error();
    d = Datum::scalar(std::move(*k));
  }
  if (check)
    if (auto s = d.check(t); !s) return s.error();
  return d;
}

// --- readers

std::string str_of(const Datum& d) {
  if (d.keys.empty()) return "";
  const auto* s = std::get_if<std::string>(&d.keys[0]);
  return s ? *s : "";
}
std::optional<int64_t> int_of(const Datum& d) {
  if (d.keys.empty()) return std::nullopt;
  const auto* i = std::get_if<int64_t>(&d.keys[0]);
  return i ? std::optional<int64_t>(*i) : std::nullopt;
}
std::vector<int64_t> ints_of(const Datum& d) {
  std::vector<int64_t> out;
  for (const auto& a : d.keys)
    if (const auto* i = std::get_if<int64_t>(&a)) out.push_back(*i);
  return out;
}
std::vector<Uuid> uuids_of(const Datum& d) {
  std::vector<Uuid> out;
  for (const auto& a : d.keys)
    if (const auto* u = std::get_if<Uuid>(&a)) out.push_back(*u);
  return out;
}
std::map<std::string, std::string> smap_of(const Datum& d) {
  std::map<std::string, std::string> out;
  for (size_t i = 0; i < d.keys.size() && i < d.values.size(); ++i) {
    const auto* k = std::get_if<std::string>(&d.keys[i]);
    const auto* v = std::get_if<std::string>(&d.values[i]);
    if (k && v) out[*k] = *v;
  }
  return out;
}

}  // namespace kvnet::ovsdb
