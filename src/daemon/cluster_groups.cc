#include "daemon/cluster_groups.h"

#include <algorithm>

#include "daemon/cluster_host.h"
#include "daemon/cluster_wiring.h"

namespace kvnet::daemon {

Result<std::optional<StoredGroup>> fetch_group(ClusterHost& c, const std::string& name) {
  const std::string key = cluster::group_key(name, c.options().prefix);
  auto r = c.client().get(key);
  if (!r) return r.error();
  if (r->kvs.empty()) return std::optional<StoredGroup>{};
  auto g = cluster::parse_group(key, r->kvs[0].value, c.options().prefix);
  if (!g) return g.error();
  return std::optional<StoredGroup>{StoredGroup{std::move(*g), r->kvs[0].mod_revision}};
}

namespace {
std::vector<cluster::Compare> unchanged(const std::string& key, int64_t expect) {
  if (expect < 0) return {};
  return {expect ? cluster::Compare::mod_is(key, expect) : cluster::Compare::absent(key)};
}
}  // namespace

Result<bool> put_group(ClusterHost& c, const ctl::SecurityGroupSpec& g, int64_t expect) {
  const std::string key = cluster::group_key(g.name, c.options().prefix);
  const std::string value = cluster::group_to_json(g).dump();
  auto t = c.client().txn(unchanged(key, expect), {cluster::TxnOp::put(key, value)}, {cluster::TxnOp::get(key)});
  if (!t) return t.error();
  if (t->succeeded) {
    c.wrote(t->revision);
    return true;
  }
  // Sent twice (the first answer lost): the record may be this very write.
  if (c.client().last_call_resent() && !t->ranges.empty() && !t->ranges[0].kvs.empty() &&
      t->ranges[0].kvs[0].value == value) {
    c.wrote(t->ranges[0].kvs[0].mod_revision);
    return true;
  }
  return false;
}

Result<bool> delete_group(ClusterHost& c, const std::string& name, int64_t expect) {
  const std::string key = cluster::group_key(name, c.options().prefix);
  auto t = c.client().txn(unchanged(key, expect), {cluster::TxnOp::del(key)}, {cluster::TxnOp::get(key)});
  if (!t) return t.error();
  if (t->succeeded) c.wrote(t->revision);
  // Sent twice (the first answer lost): gone already is this very delete.
  if (!t->succeeded && c.client().last_call_resent() && !t->ranges.empty() && t->ranges[0].kvs.empty()) return true;
  return t->succeeded;
}

void replace_group(ctl::Topology& t, const std::string& name, const std::optional<ctl::SecurityGroupSpec>& g) {
  for (auto it = t.security_groups.begin(); it != t.security_groups.end(); ++it)
    if (it->name == name) {
      if (g) *it = *g;
      else t.security_groups.erase(it);
      return;
    }
  if (g) t.security_groups.push_back(*g);
}

std::string group_used_elsewhere(const cluster::ClusterState& st, const std::string& this_host,
                                 const std::string& group) {
  for (const auto& [key, b] : st.bindings())
    if (b.host != this_host && std::find(b.groups.begin(), b.groups.end(), group) != b.groups.end())
      return "port " + b.port + " on host '" + b.host + "'";
  for (const auto& [name, h] : st.members())
    if (name != this_host && std::find(h.groups.begin(), h.groups.end(), group) != h.groups.end())
      return "host '" + name + "'";
  return "";
}

std::map<std::string, std::vector<std::string>> remote_group_members(const cluster::ClusterState& st,
                                                                     const std::string& this_host) {
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& [nm, b] : binding_winners(st, this_host)) {
    if (b->host == this_host || b->groups.empty()) continue;
    for (const auto& g : b->groups)
      for (const auto& ip : b->ips) out[g].push_back(ip.substr(0, ip.find('/')));
  }
  for (auto& [g, ips] : out) {
    std::sort(ips.begin(), ips.end());
    ips.erase(std::unique(ips.begin(), ips.end()), ips.end());
  }
  return out;
}

}  // namespace kvnet::daemon
