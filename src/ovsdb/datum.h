// OVSDB's values (RFC 7047 section 5.1): atoms, their types with
// constraints, and datums (a column's value: an atom, a set or a map).
//
// Everything here is what the wire carries and what a schema declares; no
// table, no transaction. A Datum keeps its keys sorted and unique (a map's
// values parallel to them), so two datums are equal exactly when their
// sorted contents are: sets on the wire are unordered.
//
// JSON in both directions follows RFC 7047's <value> notation: an atom as a
// JSON scalar or ["uuid", "..."], a set as an atom (one element) or
// ["set", [...]], a map as ["map", [[k, v], ...]]; inside a transaction a
// uuid may also be ["named-uuid", "NAME"], resolved through a NamedUuids.
//
// Errors carry OVSDB's error tags ("syntax error", "constraint violation",
// ...) as the head of their message: ovsdb_error() makes one, error_json()
// turns one into the {"error": TAG, "details": ...} object a reply carries.
//
// Thread-safety: plain values; nothing shared.
#pragma once

#include <compare>
#include <cstdint>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/result.h"

namespace kvnet::ovsdb {

using json = nlohmann::json;

// --- errors

// Error{"TAG: DETAILS"} for an OVSDB error tag (RFC 7047 section 3.1 and the
// tags ovsdb-server uses: "syntax error", "constraint violation",
// "referential integrity violation", "unknown database", ...).
Error ovsdb_error(std::string_view tag, const std::string& details);
// {"error": TAG, "details": DETAILS}: the tag of an ovsdb_error(), or
// "kvnet error" for any other message (its whole text as the details).
json error_json(const Error& e);

// --- atoms

struct Uuid {
  uint64_t hi = 0, lo = 0;
  auto operator<=>(const Uuid&) const = default;
  bool is_nil() const { return hi == 0 && lo == 0; }
  std::string str() const;  // 8-4-4-4-12 lower-case hex
  // Canonical form, either case; nullopt otherwise.
  static std::optional<Uuid> parse(std::string_view s);
  // A random (version 4) UUID from the kernel's random source.
  static Uuid random();
};

enum class AtomicType { kInteger, kReal, kBoolean, kString, kUuid };
std::string_view atomic_type_name(AtomicType t);
std::optional<AtomicType> atomic_type_from(std::string_view name);

// The variant's index is the AtomicType's value.
using Atom = std::variant<int64_t, double, bool, std::string, Uuid>;
inline AtomicType atom_type(const Atom& a) { return static_cast<AtomicType>(a.index()); }
// The atom as it is written in a condition or an error message (strings quoted).
std::string atom_text(const Atom& a);

// A uuid's name in a transaction ("named-uuid") and the uuid it stands for.
using NamedUuids = std::map<std::string, Uuid>;

// --- types

inline constexpr uint64_t kUnlimited = std::numeric_limits<uint64_t>::max();

struct BaseType {
  AtomicType type = AtomicType::kString;
  std::vector<Atom> enums;  // sorted, unique; empty: any value of the type
  int64_t min_integer = std::numeric_limits<int64_t>::min();
  int64_t max_integer = std::numeric_limits<int64_t>::max();
  double min_real = -std::numeric_limits<double>::infinity();
  double max_real = std::numeric_limits<double>::infinity();
  uint64_t min_length = 0, max_length = kUnlimited;  // strings, in bytes
  std::string ref_table;  // uuids: the table referred to ("" none)
  bool weak = false;      // ... and whether the reference is weak

  bool operator==(const BaseType&) const = default;
  // Whether `a` (of this type) meets the constraints; the error is a
  // "constraint violation" naming the value and the rule.
  Status check(const Atom& a) const;
  Atom default_atom() const;  // 0, 0.0, false, "", the nil uuid (or the smallest enum)
  json to_json() const;
  static Result<BaseType> from_json(const json& j);
};

struct Type {
  BaseType key;
  std::optional<BaseType> value;  // a map's values
  uint64_t min = 1, max = 1;

  bool operator==(const Type&) const = default;
  bool is_map() const { return value.has_value(); }
  bool is_scalar() const { return !value && min == 1 && max == 1; }
  bool is_optional() const { return min == 0 && max == 1; }
  json to_json() const;
  static Result<Type> from_json(const json& j);
};

// --- datums

struct Datum {
  std::vector<Atom> keys;    // sorted, unique
  std::vector<Atom> values;  // a map's, parallel to keys; empty for a set

  bool operator==(const Datum&) const = default;
  bool operator<(const Datum& o) const { return keys != o.keys ? keys < o.keys : values < o.values; }
  size_t size() const { return keys.size(); }
  bool contains(const Atom& k) const;
  // A map's value for `k`, or null.
  const Atom* find(const Atom& k) const;

  // The type's default: min atoms of the key's default (a scalar's 0, "",
  // false ...; an empty set or map when min is 0).
  static Datum default_of(const Type& t);
  static Datum scalar(Atom a);
  // From pairs (a map) or keys (a set) in any order; duplicates keep the
  // first value given for a key.
  static Datum set_of(std::vector<Atom> keys);
  static Datum map_of(std::vector<std::pair<Atom, Atom>> pairs);

  // Checks size (min..max) and every atom against `t`.
  Status check(const Type& t) const;
  // In RFC 7047's notation for type `t`.
  json to_json(const Type& t) const;
};

// An atom of `t` from JSON; a named uuid through `names` (null: not
// allowed). Syntax only: constraints are Datum::check's.
Result<Atom> atom_from_json(const BaseType& t, const json& j, const NamedUuids* names);
// A datum of type `t` from JSON; with `check`, its constraints checked too.
// `names` as for atom_from_json.
Result<Datum> datum_from_json(const Type& t, const json& j, const NamedUuids* names, bool check = true);
json atom_to_json(const Atom& a);

// A datum's atoms of one type (the others skipped), for its readers: the
// first string ("" none), the first integer, every integer, every uuid, a
// map of strings to strings.
std::string str_of(const Datum& d);
std::optional<int64_t> int_of(const Datum& d);
std::vector<int64_t> ints_of(const Datum& d);
std::vector<Uuid> uuids_of(const Datum& d);
std::map<std::string, std::string> smap_of(const Datum& d);

}  // namespace kvnet::ovsdb
