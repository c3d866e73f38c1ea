// The control path's error and result types.
//
// Control-path functions return `Result<T>`: either a value or an `Error`
// whose message names the object and the rule it broke ("port 'a1': pvid 4095
// is out of range 1-4094"). Nothing on the control path throws across a
// module boundary.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace kvnet::ctl {

struct Error {
  std::string message;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T v) : v_(std::move(v)) {}  // NOLINT: implicit by design
  Result(Error e) : v_(std::move(e)) {}  // NOLINT
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  T& operator*() { return value(); }
  T* operator->() { return &value(); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

struct Ok {};
using Status = Result<Ok>;

}  // namespace kvnet::ctl
