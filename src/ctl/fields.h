// The bottom of ctl/: settings in their text form and the reader an object's
// options are parsed through. Port kinds (ctl/kinds/kind.h) and object types
// (ctl/objects.h) both build on it; it depends on base/ only.
//
// Thread-safety: plain data; an OptionReader lives for one parse.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kvnet::ctl {

// Where an object was written (1-based; 0 = not from a file).
struct Loc {
  int line = 0;
  int col = 0;
};

// One setting in its canonical text form, as `export` writes it and
// `KEY=VALUE` sets it. `list` values are comma-separated ("1,10,20-30") and
// written as YAML flow sequences; `map` values are comma-separated K:V pairs
// ("10:5010,20:5020") written as YAML flow maps.
struct Field {
  std::string key;
  std::string value;
  bool list = false;
  bool map = false;
  // A map whose keys or values may hold ',' or ':' (external_ids): its
  // pairs, written as they are; `value` is then for display only.
  std::vector<std::pair<std::string, std::string>> pairs;
  bool operator==(const Field&) const = default;
};
using Fields = std::vector<Field>;

// An option key, with its one-line help (kvnetctl add-port --help).
struct KeyHelp {
  std::string_view key;
  std::string_view help;
};

// What options are read from while an object is parsed. Every accessor
// reports a bad value through fail(), which ends the parse of the whole
// document with a message that names the file, line, column, the object
// and the key.
class OptionReader {
 public:
  virtual ~OptionReader() = default;
  virtual bool has(std::string_view key) const = 0;
  virtual std::string str(std::string_view key) const = 0;  // a non-empty scalar
  virtual bool boolean(std::string_view key) const = 0;    // true/false/yes/no
  virtual int64_t integer(std::string_view key, int64_t lo, int64_t hi) const = 0;
  // A file path resolved against the topology file's directory.
  virtual std::string path(std::string_view key) const = 0;
  // A list: a YAML sequence of scalars or a comma-separated scalar; none empty.
  virtual std::vector<std::string> items(std::string_view key) const = 0;
  // KEY: VALUE pairs: a YAML map of scalars or "K:V,K:V"; none empty.
  virtual std::vector<std::pair<std::string, std::string>> pairs(std::string_view key) const = 0;
  [[noreturn]] virtual void fail(std::string_view key, const std::string& what) const = 0;
};

}  // namespace kvnet::ctl
