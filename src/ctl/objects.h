// Object types: everything kvnet knows about one type of configuration
// object, in one place.
//
// An `ObjectType` (bridge, mirror, container, security group, VM, gateway)
// describes a type the way a PortKind (ctl/kinds/kind.h) describes a kind of
// port: its section of a topology document (read and write), its rules that
// involve other objects, its lines of a plan and its rows of the store. The
// type's home file pair (ctl/bridge.h, ctl/container.h, ctl/vm_spec.h, ...)
// also holds its spec struct, its single-object checks and the functions
// verbs call. What ctl/topology.cc keeps is the document's skeleton: the
// `hosts:` map, the required `bridges:` list, the order of sections, error
// locations.
//
// Types are registered in one explicit table (ctl/objects.cc), in the order
// documents list their sections, plans list their lines, checks run and the
// store writes its tables; there is no registration by static constructors.
// Recipe for a new type: docs/architecture.md, "Add an object type".
//
// Thread-safety: types are immutable singletons.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <typeindex>
#include <vector>

#include "base/result.h"
#include "ctl/fields.h"

namespace YAML {
class Node;
class Emitter;
}  // namespace YAML

namespace kvnet::ctl {

struct Topology;
struct Plan;
class Scope;
struct PlanLines;
class DocReader;
class DocChecker;

// The store's side of an object type's rows (ctl/store.cc implements it).
// Values are text; SQLite's column affinity stores numbers as numbers.
class RowWriter {
 public:
  virtual ~RowWriter() = default;
  // Runs `insert` (an INSERT with one '?' per value); `what` names the row in
  // an error ("vm 'v1'").
  virtual Status insert(const char* insert, const std::vector<std::string>& values, const std::string& what) = 0;
  // A scoped save (save_scope) runs its own statements, as given: an upsert,
  // a delete. One '?' per value. Not for save(), which compares rows.
  virtual Status exec(const char* sql, const std::vector<std::string>& values, const std::string& what) = 0;
};
class RowReader {
 public:
  virtual ~RowReader() = default;
  using Row = std::vector<std::string>;
  // Runs `select` and hands each row to `each`; an error of `each` says the
  // stored configuration is invalid.
  virtual Status select(const char* select, const std::function<Status(const Row&)>& each) = 0;
};

class ObjectType {
 public:
  virtual ~ObjectType() = default;

  // As plan lines name it: "bridge", "container", "sg", "vm", "gw", "mirror".
  virtual std::string_view name() const = 0;

  // --- the document
  // Its top-level section ("vms"); "" when its objects are written inside
  // another's (a bridge's mirrors).
  virtual std::string_view section() const { return {}; }
  // Reads the section's node (present in the document) into `t`.
  virtual void read(DocReader& /*r*/, const YAML::Node& /*section*/, Topology& /*t*/) const {}
  // Writes the section (nothing when there are no objects).
  virtual void write(YAML::Emitter& /*e*/, const Topology& /*t*/) const {}
  // kvnetd's apply: a document without the section leaves these objects as
  // `from` has them.
  virtual void keep_unlisted(const Topology& /*from*/, Topology& /*to*/) const {}

  // --- checks: the rules that involve other objects (and, for objects that
  // did not come from a document, the object's own). Fails through `c`.
  virtual void check(const DocChecker& c) const = 0;

  // --- the plan: its lines and the lists whoever applies a plan reads.
  virtual void plan(const Topology& cur, const Topology& next, PlanLines& lines, Plan& p) const = 0;

  // --- the store
  virtual std::string_view schema() const = 0;           // CREATE TABLE IF NOT EXISTS ...
  virtual std::vector<const char*> tables() const = 0;  // parents first
  virtual Status save(RowWriter& w, const Topology& t) const = 0;
  virtual Status load(RowReader& r, Topology& t) const = 0;
  // The rows of a scoped edit's objects only (ctl/scope.h), with exec():
  // those of the ports and bridges it names, as `t` has them (a port `t`
  // lacks is deleted). Types whose objects a scope cannot name write nothing.
  virtual Status save_scope(RowWriter& /*w*/, const Topology& /*t*/, const Scope& /*s*/) const { return Ok{}; }
};

// The rows of a type the store keeps as one flow map an object:
// TABLE(name TEXT PRIMARY KEY, position INTEGER NOT NULL, spec TEXT NOT NULL).
template <typename T, typename ToText>
Status save_spec_rows(RowWriter& w, const char* insert, const std::vector<T>& items, const std::string& what,
                      ToText to_text) {
  int pos = 0;
  for (const auto& x : items)
    if (auto s = w.insert(insert, {x.name, std::to_string(pos++), to_text(x)}, what + " '" + x.name + "'"); !s)
      return s;
  return Ok{};
}
// `select` reads the spec column; `parse` returns Result<T>.
template <typename T, typename Parse>
Status load_spec_rows(RowReader& r, const char* select, std::vector<T>& out, Parse parse) {
  return r.select(select, [&](const RowReader::Row& row) -> Status {
    auto x = parse(row[0]);
    if (!x) return x.error();
    out.push_back(std::move(*x));
    return Ok{};
  });
}

// The explicit table of object types, in document order.
std::span<const ObjectType* const> object_types();
const ObjectType* find_object_type(std::string_view name);
// kvnetd's apply of a document: the sections it leaves out keep `from`'s objects.
void keep_unlisted_sections(const Topology& from, Topology& to);

// The lists of object types that keep their objects in a Topology without a
// member of their own (bridges, containers, VMs ... have members): one list
// per spec type, copied with the Topology.
class ObjectLists {
 public:
  ObjectLists() = default;
  ObjectLists(const ObjectLists& o) { *this = o; }
  ObjectLists& operator=(const ObjectLists& o) {
    if (this != &o) {
      lists_.clear();
      for (const auto& [k, v] : o.lists_) lists_.emplace(k, v->clone());
    }
    return *this;
  }
  ObjectLists(ObjectLists&&) = default;
  ObjectLists& operator=(ObjectLists&&) = default;

  // The list of T (made, empty, on first use: has<T>() is true after it).
  template <typename T>
  std::vector<T>& list() {
    auto& slot = lists_[std::type_index(typeid(T))];
    if (!slot) slot = std::make_unique<List<T>>();
    return static_cast<List<T>&>(*slot).items;
  }
  template <typename T>
  const std::vector<T>& list() const {
    static const std::vector<T> kNone;
    auto it = lists_.find(std::type_index(typeid(T)));
    return it == lists_.end() ? kNone : static_cast<const List<T>&>(*it->second).items;
  }
  // Whether the list exists: its section was read, or objects were added.
  template <typename T>
  bool has() const {
    return lists_.count(std::type_index(typeid(T))) != 0;
  }

 private:
  struct Base {
    virtual ~Base() = default;
    virtual std::unique_ptr<Base> clone() const = 0;
  };
  template <typename T>
  struct List final : Base {
    std::vector<T> items;
    std::unique_ptr<Base> clone() const override { return std::make_unique<List<T>>(*this); }
  };
  std::map<std::type_index, std::unique_ptr<Base>> lists_;
};

}  // namespace kvnet::ctl
