// The objects one edit touched.
//
// A verb that edits a few named objects (`set port P pvid=20`, `add-port`,
// `del-port`) says which. Checks (validate), plans, the store and the
// translation to datapath commands then look at those objects and at the
// objects that refer to them, not at the whole configuration: a one-port
// edit among 10,000 ports does one port's work. `Scope::all()` (the default
// everywhere) is an apply of a whole document, a restore, any other edit.
//
// A scope names ports (added, changed or removed) and bridges whose own
// settings, static FDB entries or mirrors changed (not their other ports).
// Objects of other types (containers, VMs, groups, gateways) are not changed
// by a scoped edit; an edit that changes them is a whole one. That is the
// contract between a verb and the checks: the verb changes nothing outside
// its scope (tests/unit/ctl/scope_test.cc holds the scoped path equal to
// the whole one).
//
// Thread-safety: plain data.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace kvnet::ctl {

struct Topology;

// A port by bridge and name.
struct PortRef {
  std::string bridge;
  std::string port;
  std::string path() const { return bridge + "/" + port; }
  bool operator==(const PortRef&) const = default;
};

class Scope {
 public:
  Scope() = default;  // the whole configuration
  static Scope all() { return {}; }
  static Scope of_port(std::string bridge, std::string port) {
    Scope s;
    s.whole_ = false;
    s.ports_.push_back({std::move(bridge), std::move(port)});
    return s;
  }
  // An edit of a bridge's own settings, FDB entries or mirrors (not its ports).
  static Scope of_bridge(std::string bridge) {
    Scope s;
    s.whole_ = false;
    s.bridges_.push_back(std::move(bridge));
    return s;
  }
  // Adds a bridge whose settings, FDB entries or mirrors the edit changes.
  Scope& with_bridge(std::string bridge) {
    bridges_.push_back(std::move(bridge));
    return *this;
  }

  bool whole() const { return whole_; }
  const std::vector<PortRef>& ports() const { return ports_; }
  const std::vector<std::string>& bridges() const { return bridges_; }
  // Whether the edit may have touched port `name` / bridge `name` (its own
  // settings, FDB entries, mirrors) / anything on bridge `name`.
  bool has_port(std::string_view name) const;
  bool has_bridge(std::string_view name) const;
  bool touches_bridge(std::string_view name) const;

 private:
  bool whole_ = true;
  std::vector<PortRef> ports_;
  std::vector<std::string> bridges_;
};

// Makes the objects `s` names in `to` as they are in `from` (present,
// changed or gone), and the document's own fields; `to` must equal `from`
// outside the scope. What keeps kvnetd's working copy of the configuration
// in step without copying it whole. A whole scope copies everything.
void copy_scope(const Topology& from, Topology& to, const Scope& s);

}  // namespace kvnet::ctl
