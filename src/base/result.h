// Errors and results: the one error style of kvnet's control path.
//
// Every layer above this one (net, dp, io, ctl, daemon, app) returns
// `Result<T>` from anything that can fail: either a value or an `Error` whose
// message names the object and the rule it broke ("port 'a1': pvid 4095 is
// out of range 1-4094"). `Status` is a Result without a value. Nothing throws
// across a module boundary; the data path does not use these at all (it
// counts drops instead).
//
// Two narrow exceptions, both kept inside one .cc file: a parser built on a
// library that throws (yaml-cpp, nlohmann-json) may throw its own error type
// internally and turns it into an Error at its public function; a
// record-at-a-time reader or writer (net::PcapReader/Writer) returns bool per
// record, as a stream does, and its status() holds the Error.
//
// This header depends on nothing of kvnet's, so every layer may include it.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace kvnet {

struct Error {
  std::string message;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T v) : v_(std::move(v)) {}      // NOLINT: implicit by design
  Result(Error e) : v_(std::move(e)) {}  // NOLINT
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

struct Ok {};
using Status = Result<Ok>;

}  // namespace kvnet
