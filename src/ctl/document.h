// The tools object types read, check and write a topology document with
// (ctl/objects.h): a YAML reader whose every failure names the file, line,
// column and object, a checker for rules between objects, and the writer's
// value form. Inside ctl/ only: failures are thrown as DocError and turned
// into an Error at the public boundary (`guarded`), so a home's parser reads
// straight through and a bad value ends the whole parse.
//
// Thread-safety: one parse or check per reader/checker.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "ctl/fields.h"
#include "ctl/scope.h"
#include "dp/vlan.h"

namespace kvnet::ctl {

struct Loc;
struct Topology;
struct ParseOptions;
using Settings = std::vector<std::pair<std::string, std::string>>;

// Thrown inside ctl's document code only, turned into an Error by guarded().
struct DocError {
  std::string msg;
};

// "FILE:LINE:COL: " ("FILE: " without a line, "" without a file).
std::string where(const std::string& file, Loc loc);
Loc loc_of(const YAML::Node& n);
std::string trimmed(const std::string& s);

// Reads a document's objects. Messages read "FILE:LINE:COL: CONTEXT<rule>",
// the context being the object being read ("bridge 'b': port 'p': ").
class DocReader {
 public:
  DocReader(std::string file, std::string base) : file_(std::move(file)), base_(std::move(base)) {}

  void set_context(std::string ctx) { ctx_ = std::move(ctx); }
  const std::string& context() const { return ctx_; }
  const std::string& file() const { return file_; }

  [[noreturn]] void fail(const YAML::Node& n, const std::string& what) const;
  // Fails at `n` with a home's check message, less its "OBJECT 'NAME': " head
  // (the context says it).
  [[noreturn]] void fail_check(const YAML::Node& n, const std::string& msg) const {
    fail(n, msg.substr(std::min(ctx_.size(), msg.size())));
  }
  std::string scalar(const YAML::Node& n, std::string_view key) const;
  int64_t integer(const YAML::Node& n, std::string_view key, int64_t lo, int64_t hi) const;
  bool boolean(const YAML::Node& n, std::string_view key) const;
  // A path resolved against the document's directory.
  std::string path(const std::string& p) const;
  // A list as a YAML sequence or a comma-separated scalar (as on a command line).
  std::vector<std::string> words(const YAML::Node& n, std::string_view key) const;
  // VLAN IDs and ranges; a VLAN listed twice is a warning.
  dp::VlanSet vlan_list(const YAML::Node& n, const char* key) const;
  // A mapping with no keys but `allowed` ("a port", "the topology").
  void check_keys(const YAML::Node& map, const std::vector<std::string>& allowed, const char* what) const;
  // The head of a named object of a top-level list ("bridge", "vm", ...): a
  // mapping with a valid 'name' and no keys but `allowed`. Sets the context
  // of later messages to "WHAT 'NAME': " and returns the name.
  std::string named_object(const YAML::Node& n, const std::string& what, const std::vector<std::string>& allowed);
  // A top-level section's node must be a list ("'vms' must be a list").
  void list(const YAML::Node& n, std::string_view section) const;

  // What is accepted but probably not meant (a VLAN listed twice).
  mutable std::vector<std::string> warnings;

 private:
  std::string file_, base_;
  std::string ctx_;  // "bridge 'x': port 'y': "
};

// Checks rules between the objects of a topology; fail() throws.
class DocChecker {
 public:
  DocChecker(const Topology& t, const ParseOptions& o, const Scope& s) : t_(t), opts_(o), scope_(s) {}
  const Topology& topology() const { return t_; }
  const ParseOptions& options() const { return opts_; }
  // What the edit touched (ctl/scope.h): a type checks the rules that
  // involve those objects; whole: every rule.
  const Scope& scope() const { return scope_; }
  // "FILE:LINE:COL: CTX<what>".
  [[noreturn]] void fail(Loc loc, const std::string& ctx, const std::string& what) const;

 private:
  const Topology& t_;
  const ParseOptions& opts_;
  const Scope& scope_;
};

// A Field's value: a scalar, a flow sequence (list) or a flow map (map).
void emit_value(YAML::Emitter& e, const Field& f);
// Settings as a YAML map a reader step reads (values stay scalars: lists are
// comma-separated, as on a command line); an empty value removes a key.
YAML::Node settings_node(const Fields& base, const Settings& changes);

// Runs a read or check step, turning its DocError (and YAML's exceptions)
// into an Error.
template <typename F>
auto guarded(const std::string& file, F&& f) -> Result<decltype(f())> {
  try {
    return f();
  } catch (const DocError& e) {
    return Error{e.msg};
  } catch (const YAML::Exception& e) {
    if (file.empty()) return Error{"invalid YAML: " + e.msg};
    return Error{file + ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1) +
                 ": invalid YAML: " + e.msg};
  }
}

}  // namespace kvnet::ctl
