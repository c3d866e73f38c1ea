// Internal to kvnetd's verbs (daemon/verbs.h, service*.cc): a request's
// arguments and the early-return helper its verbs use.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/result.h"
#include "ctl/topology.h"

namespace kvnet::daemon {

using json = nlohmann::json;
using ctl::Settings;

// A request's arguments, checked at the edge: a wrong type or range is an
// error naming the argument, never a library exception.
class Args {
 public:
  explicit Args(const json& r) : r_(r) {}

  bool has(const char* key) const { return r_.contains(key) && !r_[key].is_null(); }
  const json& raw() const { return r_; }  // for an argument of its own shape
  Result<std::string> str(const char* key, bool required = true) const {
    if (!r_.contains(key) || r_[key].is_null()) {
      if (required) return Error{std::string("missing argument '") + key + "'"};
      return std::string();
    }
    if (!r_[key].is_string()) return Error{std::string("argument '") + key + "' must be a string"};
    return r_[key].get<std::string>();
  }
  Result<bool> flag(const char* key) const {
    if (!r_.contains(key) || r_[key].is_null()) return false;
    if (!r_[key].is_boolean()) return Error{std::string("argument '") + key + "' must be true or false"};
    return r_[key].get<bool>();
  }
  Result<int64_t> integer(const char* key, int64_t lo, int64_t hi) const {
    if (!r_.contains(key) || r_[key].is_null()) return Error{std::string("missing argument '") + key + "'"};
    const json& v = r_[key];
    if (!v.is_number_integer()) return Error{std::string("argument '") + key + "' must be an integer"};
    const bool neg = v.is_number_unsigned() ? false : v.get<int64_t>() < 0;
    if ((neg && v.get<int64_t>() < lo) || (!neg && v.get<uint64_t>() > static_cast<uint64_t>(hi)) ||
        (!neg && static_cast<int64_t>(v.get<uint64_t>()) < lo))
      return Error{std::string("argument '") + key + "' " + v.dump() + " is out of range " + std::to_string(lo) + "-" +
                   std::to_string(hi)};
    return v.get<int64_t>();
  }
  // A list of strings; null or absent = empty.
  Result<std::vector<std::string>> strings(const char* key) const {
    std::vector<std::string> out;
    if (!r_.contains(key) || r_[key].is_null()) return out;
    if (!r_[key].is_array()) return Error{std::string("argument '") + key + "' must be a list of strings"};
    for (const auto& v : r_[key]) {
      if (!v.is_string()) return Error{std::string("argument '") + key + "' must be a list of strings"};
      out.push_back(v.get<std::string>());
    }
    return out;
  }
  // A nested object of arguments (draw's `trace`); null or absent = none.
  Result<const json*> object(const char* key) const {
    if (!r_.contains(key) || r_[key].is_null()) return static_cast<const json*>(nullptr);
    if (!r_[key].is_object()) return Error{std::string("argument '") + key + "' must be an object"};
    return &r_[key];
  }
  // "options": {key: scalar, ...} as settings; null or absent = none.
  Result<Settings> settings(const char* key = "options") const {
    Settings out;
    if (!r_.contains(key) || r_[key].is_null()) return out;
    if (!r_[key].is_object()) return Error{std::string("argument '") + key + "' must be an object of KEY: VALUE"};
    for (auto it = r_[key].begin(); it != r_[key].end(); ++it) {
      const json& v = *it;
      if (v.is_string()) out.emplace_back(it.key(), v.get<std::string>());
      else if (v.is_number_integer()) out.emplace_back(it.key(), v.dump());
      else if (v.is_boolean()) out.emplace_back(it.key(), v.get<bool>() ? "true" : "false");
      else return Error{"option '" + it.key() + "' must be a string or a number"};
    }
    return out;
  }

 private:
  const json& r_;
};

#define TRY(var, expr)            \
  auto var##_r = (expr);          \
  if (!var##_r) return var##_r.error(); \
  auto& var = *var##_r

}  // namespace kvnet::daemon
