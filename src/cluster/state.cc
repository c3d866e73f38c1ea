#include "cluster/state.h"

#include <algorithm>

namespace kvnet::cluster {

namespace {
void note(std::vector<std::string>& v, const std::string& name) {
  if (std::find(v.begin(), v.end(), name) == v.end()) v.push_back(name);
}
void unnote(std::vector<std::string>& v, const std::string& name) { std::erase(v, name); }
}  // namespace

void ClusterState::put(const KeyValue& kv, Delta* d) {
  const KeyName k = split_key(kv.key, prefix_);
  if (k.kind == "hosts" || k.kind == "members") {
    auto h = parse_host(kv.key, kv.value);
    if (!h) {
      d->rejected.push_back(h.error().message);
      erase(kv.key, d);  // what was there before is no longer what the store says
      return;
    }
    if (k.kind == "hosts") {
      const bool was = up_.count(k.name) != 0;
      up_[k.name] = *h;
      if (!was) {
        unnote(d->down, k.name);
        note(d->up, k.name);
      }
    } else {
      members_[k.name] = *h;
    }
  }
  if (k.kind == "networks") {
    auto n = parse_network(kv.key, kv.value);
    if (!n) {
      d->rejected.push_back(n.error().message);
      erase(kv.key, d);
      return;
    }
    networks_[k.name] = *n;
    note(d->networks, k.name);
  }
  if (k.kind == "bindings") {
    auto b = parse_binding(kv.key, kv.value, prefix_);
    if (!b) {
      d->rejected.push_back(b.error().message);
      erase(kv.key, d);
      return;
    }
    bindings_[kv.key] = *b;
    d->bindings = true;
  }
  if (k.kind == "sgs") {
    auto g = parse_group(kv.key, kv.value, prefix_);
    if (!g) {
      d->rejected.push_back(g.error().message);
      erase(kv.key, d);
      return;
    }
    groups_[k.name] = *g;
    d->groups = true;
  }
  if (k.kind == "migrations") {
    auto m = parse_migration(kv.key, kv.value, prefix_);
    if (!m) {
      d->rejected.push_back(m.error().message);
      erase(kv.key, d);
      return;
    }
    migrations_[k.name] = *m;
    note(d->migrations, k.name);
  }
  // Other kinds (vnis/ and ipam/: indexes) or another tool's keys.
}

void ClusterState::erase(const std::string& key, Delta* d) {
  const KeyName k = split_key(key, prefix_);
  if (k.kind == "hosts") {
    if (up_.erase(k.name)) {
      unnote(d->up, k.name);
      note(d->down, k.name);
    }
  } else if (k.kind == "members") {
    members_.erase(k.name);
  } else if (k.kind == "networks") {
    if (networks_.erase(k.name)) note(d->networks, k.name);
  } else if (k.kind == "bindings") {
    if (bindings_.erase(key)) d->bindings = true;
  } else if (k.kind == "sgs") {
    if (groups_.erase(k.name)) d->groups = true;
  } else if (k.kind == "migrations") {
    if (migrations_.erase(k.name)) note(d->migrations, k.name);
  }
}

ClusterState::Delta ClusterState::reset(const RangeResult& all) {
  Delta d;
  const auto before = up_;
  const auto nets_before = networks_;
  const auto bindings_before = bindings_;
  const auto groups_before = groups_;
  const auto migrations_before = migrations_;
  migrations_.clear();
  up_.clear();
  members_.clear();
  networks_.clear();
  bindings_.clear();
  groups_.clear();
  Delta scratch;
  for (const auto& kv : all.kvs) put(kv, &scratch);
  d.rejected = std::move(scratch.rejected);
  for (const auto& [name, h] : up_)
    if (!before.count(name)) d.up.push_back(name);
  for (const auto& [name, h] : before)
    if (!up_.count(name)) d.down.push_back(name);
  for (const auto& [name, n] : networks_)
    if (!nets_before.count(name) || !(nets_before.at(name) == n)) d.networks.push_back(name);
  for (const auto& [name, n] : nets_before)
    if (!networks_.count(name)) d.networks.push_back(name);
  d.bindings = bindings_ != bindings_before;
  d.groups = groups_ != groups_before;
  for (const auto& [name, m] : migrations_)
    if (!migrations_before.count(name) || !(migrations_before.at(name) == m)) d.migrations.push_back(name);
  for (const auto& [name, m] : migrations_before)
    if (!migrations_.count(name)) d.migrations.push_back(name);
  revision_ = all.revision;
  return d;
}

ClusterState::Delta ClusterState::apply(const WatchMessage& m) {
  Delta d;
  int64_t last = revision_;
  for (const auto& e : m.events) {
    if (e.kv.mod_revision <= revision_) continue;  // seen (a resumed watch)
    if (e.deleted) erase(e.kv.key, &d);
    else put(e.kv, &d);
    last = std::max(last, e.kv.mod_revision);
  }
  // A message without events (a progress notice) says everything up to
  // its header's revision has come; the header of one with events may be
  // newer than they are (a watch catching up), so only they count.
  if (m.events.empty() && !m.created) last = std::max(last, m.revision);
  revision_ = last;
  return d;
}

}  // namespace kvnet::cluster
