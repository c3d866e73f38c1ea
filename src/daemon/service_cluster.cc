// kvnetd's cluster verbs (`kvnetctl cluster ...`): the store this host
// belongs to and the hosts it knows (daemon/cluster_host.h).
#include <netinet/in.h>

#include <ctime>

#include <fmt/format.h>

#include "ctl/gateway_spec.h"
#include "base/log.h"
#include "ctl/firewall_build.h"
#include "daemon/cluster_groups.h"
#include "daemon/cluster_host.h"
#include "daemon/cluster_ports.h"
#include "daemon/cluster_wiring.h"
#include "daemon/service.h"
#include "daemon/service_args.h"
#include "daemon/verbs.h"
#include "dp/neighbors.h"
#include "io/ip_addr.h"
#include "net/bytes.h"

namespace kvnet::daemon {

using ctl::SecurityGroupSpec;

namespace {

std::string hex(uint64_t v) { return fmt::format("{:x}", v); }

class ClusterVerbs : VerbContext {
 public:
  using VerbContext::VerbContext;
  Result<json> status(const Args& a);
  Result<json> hosts(const Args& a);
  Result<json> network_add(const Args& a);
  Result<json> network_del(const Args& a);
  Result<json> network_list(const Args& a);
  Result<json> network_show(const Args& a);

 private:
  json host_list() const;
  Status need_cluster(const char* what) const;
  // The networks as the store says now, or (unreachable) as this host last
  // saw them, with `stale`.
  Result<std::map<std::string, cluster::NetworkRecord>> networks(bool* stale);
};

Status ClusterVerbs::need_cluster(const char* what) const {
  if (!cluster_)
    return Error{std::string(what) + " are cluster-wide: this kvnetd is standalone (start it with --cluster URL)"};
  return Ok{};
}

json network_json(const cluster::NetworkRecord& n) {
  json j = n.to_json();
  if (!j.contains("subnet")) j["subnet"] = "";
  return j;
}

Result<json> ClusterVerbs::network_add(const Args& a) {
  if (auto s = need_cluster("networks"); !s) return s.error();
  cluster::NetworkRecord n;
  TRY(name, a.str("name"));
  n.name = name;
  TRY(vni, a.integer("vni", 1, cluster::kMaxVni));
  n.vni = static_cast<uint32_t>(vni);
  TRY(subnet, a.str("subnet", false));
  if (!subnet.empty()) {
    // Canonical: what the parser reads back ("10.0.0.0/24").
    auto net = ctl::parse_ipv4_cidr(subnet);
    if (!net) return Error{"network '" + name + "': subnet: " + net.error().message};
    n.subnet = net->addr == net->network ? net->cidr() : subnet;
  }
  if (a.has("mtu")) {
    TRY(mtu, a.integer("mtu", 576, 9000));
    n.mtu = static_cast<uint32_t>(mtu);
  }
  if (auto s = cluster::check_network(n); !s) return s.error();
  TRY(revision, create_network(*cluster_, n));
  std::string line = "+ network " + n.name + " vni " + std::to_string(n.vni);
  if (!n.subnet.empty()) line += " subnet " + n.subnet;
  line += " mtu " + std::to_string(n.mtu);
  return json{{"changed", true}, {"changes", {line}}, {"network", network_json(n)}, {"revision", revision}};
}

Result<json> ClusterVerbs::network_del(const Args& a) {
  if (auto s = need_cluster("networks"); !s) return s.error();
  TRY(name, a.str("name"));
  TRY(if_exists, a.flag("if_exists"));
  const std::string& prefix = cluster_->options().prefix;
  const std::string nk = cluster::network_key(name, prefix);
  auto& c = cluster_->client();
  auto cur = c.get(nk);
  if (!cur) return cur.error();
  if (cur->kvs.empty()) {
    if (if_exists) return json{{"changed", false}, {"changes", json::array()}};
    return Error{"network '" + name + "' does not exist"};
  }
  auto n = cluster::parse_network(nk, cur->kvs[0].value);
  // Only what was read goes, and only while no port is bound to it (one
  // transaction: a binding made meanwhile, which requires the network,
  // keeps it).
  std::vector<cluster::TxnOp> ops = {cluster::TxnOp::del(nk)};
  if (n) ops.push_back(cluster::TxnOp::del(cluster::vni_key(n->vni, prefix)));
  const std::string bindings = prefix + "bindings/" + name + "/";
  auto t = c.txn({cluster::Compare::mod_is(nk, cur->kvs[0].mod_revision), cluster::Compare::none_under(bindings)}, ops,
                 {cluster::TxnOp::get(bindings, true)});
  if (!t) return t.error();
  if (!t->succeeded) {
    if (!t->ranges.empty() && !t->ranges[0].kvs.empty())
      return Error{"network '" + name + "' is in use: " + std::to_string(t->ranges[0].kvs.size()) +
                   " port(s) are bound to it"};
    return Error{"network '" + name + "' changed meanwhile: try again"};
  }
  return json{{"changed", true}, {"changes", {"- network " + name}}, {"revision", t->revision}};
}

Result<std::map<std::string, cluster::NetworkRecord>> ClusterVerbs::networks(bool* stale) {
  const std::string& prefix = cluster_->options().prefix;
  auto r = cluster_->client().get(prefix + "networks/", true);
  if (!r) {
    if (!cluster_->client().last_failure().unreachable) return r.error();
    *stale = true;
    warnings_.push_back(r.error().message + ": the networks as this host last saw them");
    return cluster_->state().networks();
  }
  *stale = false;
  std::map<std::string, cluster::NetworkRecord> out;
  for (const auto& kv : r->kvs)
    if (auto n = cluster::parse_network(kv.key, kv.value); n) out[n->name] = *n;
  return out;
}

Result<json> ClusterVerbs::network_list(const Args&) {
  if (auto s = need_cluster("networks"); !s) return s.error();
  bool stale = false;
  TRY(nets, networks(&stale));
  json out = json::array();
  for (const auto& [name, n] : nets) out.push_back(network_json(n));
  return out;
}

Result<json> ClusterVerbs::network_show(const Args& a) {
  if (auto s = need_cluster("networks"); !s) return s.error();
  TRY(name, a.str("name"));
  bool stale = false;
  TRY(nets, networks(&stale));
  auto it = nets.find(name);
  if (it == nets.end()) return Error{"network '" + name + "' does not exist"};
  json j = network_json(it->second);
  j["stale"] = stale;
  return j;
}

json ClusterVerbs::host_list() const {
  const auto& st = cluster_->state();
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  std::map<std::string, const cluster::HostRecord*> all;
  for (const auto& [n, h] : st.members()) all[n] = &h;
  for (const auto& [n, h] : st.up()) all.emplace(n, &h);
  json out = json::array();
  for (const auto& [name, rec] : all) {
    const bool up = st.is_up(name);
    const cluster::HostRecord& pub = up ? st.up().at(name) : *rec;
    auto m = st.members().find(name);
    const cluster::HostRecord* reg = m == st.members().end() ? nullptr : &m->second;
    int64_t seen = up ? now : cluster_->went_down(name);
    if (!up && reg) seen = std::max(seen, reg->last_seen);
    out.push_back({{"name", name},
                   {"state", up ? "up" : "down"},
                   {"this_host", name == cluster_->options().host},
                   {"underlay_ip", pub.underlay_ip},
                   {"encaps", pub.encaps},
                   {"version", pub.version},
                   {"started", pub.started},
                   {"last_seen", seen},
                   {"last_seen_ago_s", seen ? now - seen : -1},
                   {"ports", reg ? reg->ports : 0},
                   {"vms", reg ? reg->vms : std::vector<std::string>{}},
                   {"containers", reg ? reg->containers : std::vector<std::string>{}}});
  }
  return out;
}

Result<json> ClusterVerbs::status(const Args&) {
  if (!cluster_) return json{{"mode", "standalone"}};
  const auto& o = cluster_->options();
  json eps = json::array();
  for (const auto& e : o.etcd.endpoints) eps.push_back(e.url);
  const ClusterHost::Health h = cluster_->health();
  json j{{"mode", "cluster"},
         {"endpoints", eps},
         {"prefix", o.prefix},
         {"applied_revision", cluster_->state().revision()},
         {"watching", h.watching},
         {"store", {{"round_trips", h.round_trips}, {"errors", h.errors}, {"resyncs", h.resyncs}}}};
  auto ms = cluster_->store_status();
  if (ms) {
    j["reachable"] = true;
    j["member"] = {{"endpoint", ms->endpoint}, {"id", hex(ms->member_id)}, {"leader", hex(ms->leader)},
                   {"version", ms->version}, {"raft_term", ms->raft_term}, {"db_size", ms->db_size}};
    j["revision"] = ms->revision;
  } else {
    j["reachable"] = false;
    j["error"] = ms.error().message;
  }
  const int64_t since = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() -
                                                                          h.last_keepalive).count();
  j["host"] = {{"name", o.host},
               {"underlay_ip", o.underlay_ip},
               {"joined", h.joined},
               {"lease", hex(static_cast<uint64_t>(h.lease))},
               {"ttl", h.lease_ttl},
               {"ttl_left", h.joined ? std::max<int64_t>(0, h.lease_left - since) : 0}};
  if (!h.error.empty()) j["host"]["error"] = h.error;
  const json hosts = host_list();
  int up = 0, down = 0;
  for (const auto& x : hosts) (x["state"] == "up" ? up : down)++;
  j["hosts"] = hosts;
  j["hosts_up"] = up;
  j["hosts_down"] = down;
  return j;
}

Result<json> ClusterVerbs::hosts(const Args&) {
  if (!cluster_) return Error{"this kvnetd is standalone: start it with --cluster URL to join a cluster"};
  return host_list();
}

}  // namespace

void Service::cluster_changed() {
  if (!cluster_) return;
  sync_groups();
  sync_members();
  sync_cluster(false);
  sync_bindings();
  sync_migrations();
}

void Service::cluster_tick() {
  if (cluster_ && groups_unsettled_) sync_groups();
}

void Service::sync_groups() {
  if (!cluster_ || syncing_groups_) return;
  const auto& st = cluster_->state();
  if (st.revision() == 0) return;  // the store not read yet
  // This host wrote a group the watch has not brought yet: the state is
  // older than the configuration, which it would otherwise take back.
  if (st.revision() < cluster_->written()) return;
  const auto& store = st.groups();
  const std::optional<bool> known_before = cluster_->registered_before();
  std::set<std::string> used;  // by ports here
  for (const auto& b : cur_.bridges)
    for (const auto& p : b.ports) used.insert(p.security.groups.begin(), p.security.groups.end());
  // What this host has that the store has not: a host new to the cluster
  // brings its groups; one that was away keeps only those its ports use
  // (sg del refuses a group in use, so the others were deleted meanwhile).
  std::vector<const SecurityGroupSpec*> publish;
  std::vector<std::string> drop;
  groups_unsettled_ = false;
  for (const auto& g : cur_.security_groups) {
    if (store.count(g.name)) continue;
    if (!known_before) {
      groups_unsettled_ = true;  // until this host's first publication
    } else if ((!*known_before && !groups_adopted_) || used.count(g.name)) {
      publish.push_back(&g);
    } else {
      drop.push_back(g.name);
    }
  }
  bool published = true;
  for (const SecurityGroupSpec* g : publish) {
    auto w = put_group(*cluster_, *g, 0);  // only if still absent: the store's wins
    if (!w) {
      published = false;
      groups_unsettled_ = true;
      if (told_.insert("publish " + g->name).second)
        log_warn("cluster: security group '" + g->name + "' not published yet: " + w.error().message);
    } else if (*w) {
      log_info("cluster: security group '" + g->name + "' published (this host's, not in the cluster's store)");
    }
  }
  // A new host's groups are adopted once; after that, a group only this
  // host has was deleted elsewhere.
  if (known_before && published) groups_adopted_ = true;
  if (!publish.empty()) return;  // the watch brings them back: taken as the store has them then
  // The changes to this host's groups: the store's, and those dropped.
  std::vector<std::pair<std::string, std::optional<SecurityGroupSpec>>> changes;
  for (const auto& [name, g] : store) {
    const SecurityGroupSpec* mine = cur_.find_group(name);
    if (!mine || !(*mine == g)) changes.push_back({name, g});
  }
  for (const auto& name : drop) changes.push_back({name, std::nullopt});
  if (changes.empty()) return;
  syncing_groups_ = true;
  Topology next = cur_;
  for (const auto& [name, g] : changes) replace_group(next, name, g);
  auto r = commit(next);
  if (!r) {
    // One group that does not fit here (a rule naming a group the store
    // does not have) holds back no other: each on its own.
    for (const auto& [name, g] : changes) {
      Topology one = cur_;
      replace_group(one, name, g);
      if (auto r1 = commit(one); !r1 && told_.insert(name + ": " + r1.error().message).second)
        log_warn("cluster: security group '" + name + "' from the store not taken here: " + r1.error().message);
    }
  }
  syncing_groups_ = false;
  std::string names;
  for (const auto& [name, g] : changes) names += (names.empty() ? "" : ", ") + std::string(g ? "" : "-") + name;
  log_info("cluster: security groups from the store (revision " + std::to_string(st.revision()) + "): " + names);
}

void Service::sync_members() {
  if (!cluster_) return;
  // Only rules naming a remote_group need them (none: no walk of the bindings).
  bool named = false;
  for (const auto& g : cur_.security_groups)
    for (const auto& r : g.rules) named |= !r.remote_group.empty();
  auto want = named ? remote_group_members(cluster_->state(), cluster_->options().host)
                    : std::map<std::string, std::vector<std::string>>{};
  if (want == cur_.remote_members) return;
  std::set<std::string> changed;
  for (const auto& [g, ips] : want)
    if (auto it = cur_.remote_members.find(g); it == cur_.remote_members.end() || it->second != ips) changed.insert(g);
  for (const auto& [g, ips] : cur_.remote_members)
    if (!want.count(g)) changed.insert(g);
  cur_.remote_members = want;
  if (work_) work_->remote_members = std::move(want);
  // The ports whose rules name one of those groups get their policy again.
  std::set<std::string> naming;
  for (const auto& g : cur_.security_groups)
    for (const auto& r : g.rules)
      if (changed.count(r.remote_group)) naming.insert(g.name);
  io::Change c;
  for (const auto& b : cur_.bridges)
    for (const auto& p : b.ports) {
      if (std::none_of(p.security.groups.begin(), p.security.groups.end(),
                       [&](const std::string& g) { return naming.count(g) != 0; }))
        continue;
      auto lv = live_.find(p.name);
      if (lv == live_.end()) continue;  // parked: built whole when it opens
      c.firewalls.push_back({{false, lv->second.id}, ctl::build_firewall(cur_, p)});
    }
  std::string groups;
  for (const auto& g : changed) groups += (groups.empty() ? "" : ", ") + g;
  if (c.firewalls.empty()) return;
  const size_t n = c.firewalls.size();
  dp_.apply(std::move(c));
  log_info("cluster: members of security group(s) " + groups + " on other hosts changed: " + std::to_string(n) +
           " port firewall(s) here updated");
}

void Service::sync_bindings() {
  if (!cluster_) return;
  const auto& o = cluster_->options();
  std::vector<cluster::BindingRecord> stale;
  for (const auto& [key, b] : cluster_->state().bindings()) {
    if (b.host != o.host) continue;
    const PortSpec* p = cur_.find_port(b.port);
    if (!p || p->security.groups == b.groups) continue;
    stale.push_back(b);
    stale.back().groups = p->security.groups;
  }
  for (const auto& b : stale) {
    const std::string key = cluster::binding_key(b.network, b.host, b.port, o.prefix);
    auto t = cluster_->client().txn({cluster::Compare::present(key)}, {cluster::TxnOp::put(key, b.to_json().dump())});
    if (!t) {
      log_warn("cluster: the binding of " + b.owner + " keeps its old security groups for now: " + t.error().message);
      return;  // again at the next change
    }
  }
}

void Service::sync_cluster(bool force) {
  if (!cluster_) return;
  sync_remotes(force);
  sync_neighbors(force);
}

void Service::sync_remotes(bool force) {
  if (force) remotes_.clear();  // a new vx-cluster (or br-int) starts without them
  auto lv = live_.find(kClusterTunnel);
  if (lv == live_.end() || !lv->second.backend) {  // no tunnel (or parked): nothing programmed
    remotes_.clear();
    return;
  }
  RemoteEntries want = remote_entries(cur_, cluster_->state(), cluster_->options().host);
  io::Change c;
  // The log names the first few changes (a full read may bring thousands).
  std::vector<std::string> lines;
  size_t unnamed = 0;
  auto line = [&](char op, const std::pair<uint16_t, uint64_t>& k, const std::string& ip) {
    if (lines.size() == 20) return (void)++unnamed;
    lines.push_back(std::string(1, op) + " fdb " + kIntegrationBridge + " " + std::to_string(k.first) + " " +
                    net::Mac::from_u64(k.second).str() + " " + kClusterTunnel + " remote " + ip);
  };
  for (const auto& [k, ip] : remotes_)
    if (auto it = want.find(k); it == want.end() || it->second != ip) {
      c.fdb_remove.push_back({kIntegrationBridge, k.first, k.second, {}, {}});
      line('-', k, ip);
    }
  for (const auto& [k, ip] : want)
    if (auto it = remotes_.find(k); it == remotes_.end() || it->second != ip) {
      c.fdb_add.push_back({kIntegrationBridge, k.first, k.second, {false, lv->second.id}, ip});
      line('+', k, ip);
    }
  if (c.fdb_add.empty() && c.fdb_remove.empty()) return;
  const size_t added = c.fdb_add.size(), removed = c.fdb_remove.size();
  const io::ChangeResult r = dp_.apply(std::move(c));
  std::string text;
  for (const auto& l : lines) text += "\n  " + l;
  if (unnamed) text += "\n  (and " + std::to_string(unnamed) + " more)";
  log_info("cluster: programmed from the store (revision " + std::to_string(cluster_->state().revision()) + "): +" +
           std::to_string(added) + " -" + std::to_string(removed) + " remote station(s) on " + kClusterTunnel + text);
  if (r.fdb_refused)
    log_warn("cluster: " + std::to_string(r.fdb_refused) + " remote station(s) did not fit br-int's MAC table");
  remotes_ = std::move(want);
}

void Service::sync_neighbors(bool force) {
  if (!cluster_) return;
  std::vector<NeighborEntry> want = neighbor_entries(cur_, cluster_->state(), cluster_->options().host);
  if (!force && want == neighbors_) return;
  if (!cur_.find_bridge(kIntegrationBridge)) {
    neighbors_.clear();
    return;
  }
  auto t = std::make_shared<dp::NeighborTable>();
  for (const auto& e : want) {
    auto ip = io::IpAddr::parse(e.ip);
    auto mac = net::Mac::parse(e.mac);
    if (!ip || !mac) continue;  // records are checked on the way in; never reaches the datapath
    t->add(e.vlan, ip->b.data(), ip->family == AF_INET ? 4 : 16, *mac, e.label);
  }
  if (!dp_.set_neighbors(kIntegrationBridge, std::move(t))) return;
  log_info("cluster: br-int answers ARP/ND for " + std::to_string(want.size()) + " address(es)");
  neighbors_ = std::move(want);
}

std::span<const Verb> cluster_verbs() {
  static const Verb kVerbs[] = {
      {"cluster-status", false, false, &verb<ClusterVerbs, &ClusterVerbs::status>},
      {"cluster-hosts", false, false, &verb<ClusterVerbs, &ClusterVerbs::hosts>},
      {"network-add", true, false, &verb<ClusterVerbs, &ClusterVerbs::network_add>},
      {"network-del", true, false, &verb<ClusterVerbs, &ClusterVerbs::network_del>},
      {"network-list", false, false, &verb<ClusterVerbs, &ClusterVerbs::network_list>},
      {"network-show", false, false, &verb<ClusterVerbs, &ClusterVerbs::network_show>},
  };
  return kVerbs;
}

}  // namespace kvnet::daemon
