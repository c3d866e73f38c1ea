// kvnetd's cluster verbs (`kvnetctl cluster ...`): the store this host
// belongs to and the hosts it knows (daemon/cluster_host.h).
#include <ctime>

#include <fmt/format.h>

#include "daemon/cluster_host.h"
#include "daemon/service_args.h"
#include "daemon/verbs.h"

namespace kvnet::daemon {

namespace {

std::string hex(uint64_t v) { return fmt::format("{:x}", v); }

class ClusterVerbs : VerbContext {
 public:
  using VerbContext::VerbContext;
  Result<json> status(const Args& a);
  Result<json> hosts(const Args& a);

 private:
  json host_list() const;
};

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

std::span<const Verb> cluster_verbs() {
  static const Verb kVerbs[] = {
      {"cluster-status", false, false, &verb<ClusterVerbs, &ClusterVerbs::status>},
      {"cluster-hosts", false, false, &verb<ClusterVerbs, &ClusterVerbs::hosts>},
  };
  return kVerbs;
}

}  // namespace kvnet::daemon
