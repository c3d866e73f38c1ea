#include "daemon/cluster_host.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ctime>
#include <fstream>

#include "base/log.h"
#include "ctl/topology.h"
#include "io/ip_addr.h"

namespace kvnet::daemon {

using namespace std::chrono_literals;
using cluster::EtcdClient;

namespace {
constexpr auto kRetry = 1000ms;                   // while etcd is unreachable
constexpr auto kRegistrationRefresh = 30000ms;    // members/<name>'s last_seen
int64_t unix_now() { return static_cast<int64_t>(std::time(nullptr)); }

// The address this host sends from towards `host` (no packet is sent: a
// UDP socket's connect only picks the route).
Result<std::string> route_source(const std::string& host) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), "2379", &hints, &res) != 0 || !res) return Error{"cannot resolve '" + host + "'"};
  std::string out;
  const int fd = socket(res->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  // SAFETY: connect reads getaddrinfo's address; getsockname writes at most `len` bytes into ss.
  if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
    char buf[INET6_ADDRSTRLEN] = {};
    const void* a = ss.ss_family == AF_INET ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(&ss)->sin_addr)
                                            : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr);
    if (inet_ntop(ss.ss_family, a, buf, sizeof buf)) out = buf;
  }
  if (fd >= 0) close(fd);
  freeaddrinfo(res);
  if (out.empty()) return Error{"no route from this host to the store at '" + host + "'"};
  return out;
}
}  // namespace

Result<ClusterOptions> cluster_options(const ClusterFlags& f) {
  ClusterOptions o;
  auto eps = cluster::parse_endpoints(f.urls);
  if (!eps) return Error{"--cluster: " + eps.error().message};
  o.etcd.endpoints = *eps;
  o.etcd.cacert = f.cacert;
  o.etcd.cert = f.cert;
  o.etcd.key = f.key;
  if (!f.user.empty()) {
    const size_t colon = f.user.find(':');
    o.etcd.user = f.user.substr(0, colon);
    if (colon != std::string::npos) o.etcd.password = f.user.substr(colon + 1);
    if (o.etcd.user.empty()) return Error{"--cluster-user: no user name before ':'"};
  }
  if (!f.password_file.empty()) {
    if (o.etcd.user.empty()) return Error{"--cluster-password-file needs --cluster-user"};
    if (!o.etcd.password.empty()) return Error{"give the password in --cluster-user NAME:PASSWORD or --cluster-password-file, not both"};
    std::ifstream in(f.password_file);
    if (!in) return Error{"--cluster-password-file: cannot read '" + f.password_file + "'"};
    std::getline(in, o.etcd.password);
    if (o.etcd.password.empty()) return Error{"--cluster-password-file: '" + f.password_file + "' holds no password"};
  }
  if (!o.etcd.user.empty() && o.etcd.password.empty())
    return Error{"--cluster-user " + o.etcd.user + ": no password (NAME:PASSWORD or --cluster-password-file)"};
  if (auto s = cluster::check_options(o.etcd); !s) return s.error();
  if (f.ttl_s < 2 || f.ttl_s > 3600) return Error{"--cluster-ttl " + std::to_string(f.ttl_s) + " is out of range 2-3600"};
  o.ttl_s = f.ttl_s;
  o.host = f.host;
  if (o.host.empty()) {
    char name[256] = {};
    if (gethostname(name, sizeof name - 1) != 0 || !*name) return Error{"--host: the machine has no name: give one"};
    o.host = name;
    if (const size_t dot = o.host.find('.'); dot != std::string::npos) o.host.resize(dot);
  }
  if (auto s = ctl::check_name(o.host); !s) return Error{"--host '" + o.host + "': " + s.error().message};
  o.underlay_ip = f.underlay_ip;
  if (o.underlay_ip.empty()) {
    auto a = route_source(o.etcd.endpoints.front().host);
    if (!a) return Error{"--underlay-ip: not given, and " + a.error().message};
    o.underlay_ip = *a;
  }
  auto ip = io::IpAddr::parse(o.underlay_ip);
  if (!ip) return Error{"--underlay-ip '" + o.underlay_ip + "' is not an IP address"};
  o.underlay_ip = ip->str();
  o.version = f.version;
  return o;
}

ClusterHost::ClusterHost(EventLoop& loop, ClusterOptions o)
    : loop_(loop), o_(std::move(o)), state_(o_.prefix), watch_(o_.etcd), started_(unix_now()) {}

ClusterHost::~ClusterHost() { stop(); }

void ClusterHost::start() {
  lease_ = std::thread([this] { lease_thread(); });
  watcher_ = std::thread([this] { watch_thread(); });
}

void ClusterHost::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  *alive_ = false;
  wake_.notify_all();
  watch_.stop();
  if (watcher_.joinable()) watcher_.join();
  if (lease_.joinable()) lease_.join();
}

bool ClusterHost::pause(std::chrono::milliseconds d, bool or_local_change) {
  std::unique_lock lock(mu_);
  wake_.wait_for(lock, d, [&] { return stopping_ || (or_local_change && local_changed_); });
  return !stopping_;
}

void ClusterHost::set_local(std::vector<std::string> vms, std::vector<std::string> containers, int64_t ports,
                            std::vector<std::string> groups) {
  std::lock_guard lock(mu_);
  if (vms == vms_ && containers == containers_ && ports == ports_ && groups == groups_) return;
  vms_ = std::move(vms);
  containers_ = std::move(containers);
  ports_ = ports;
  groups_ = std::move(groups);
  local_changed_ = true;
  wake_.notify_all();
}

std::optional<bool> ClusterHost::registered_before() const {
  std::lock_guard lock(mu_);
  return registered_before_;
}

ClusterHost::Lag ClusterHost::lag() const {
  std::lock_guard lock(mu_);
  return lag_;
}

ClusterHost::Health ClusterHost::health() const {
  std::lock_guard lock(mu_);
  return health_;
}

cluster::HostRecord ClusterHost::record() const {
  cluster::HostRecord h;
  h.name = o_.host;
  h.underlay_ip = o_.underlay_ip;
  h.encaps = {"vxlan"};
  h.version = o_.version;
  h.started = started_;
  return h;
}

void ClusterHost::note(EtcdClient& c, bool ok) {
  std::lock_guard lock(mu_);
  ++health_.round_trips;
  health_.connected = ok;
  health_.endpoint = c.current().url;
  if (ok) {
    health_.error.clear();
  } else {
    ++health_.errors;
    health_.error = c.last_failure().message;
  }
}

Status ClusterHost::publish(EtcdClient& c) {
  cluster::HostRecord pub = record();
  cluster::HostRecord reg = pub;
  {
    std::lock_guard lock(mu_);
    reg.vms = vms_;
    reg.containers = containers_;
    reg.ports = ports_;
    reg.groups = groups_;
    local_changed_ = false;
  }
  reg.last_seen = unix_now();
  const int64_t lease = health().lease;
  const std::string member = cluster::member_key(o_.host, o_.prefix);
  auto r = c.txn({}, {cluster::TxnOp::get(member),  // what was there: is this host new to the cluster?
                      cluster::TxnOp::put(cluster::host_key(o_.host, o_.prefix), pub.to_json().dump(), lease),
                      cluster::TxnOp::put(member, reg.to_json().dump())});
  note(c, r.ok());
  if (!r) return r.error();
  std::lock_guard lock(mu_);
  if (!registered_before_) registered_before_ = !r->ranges.empty() && !r->ranges[0].kvs.empty();
  return Ok{};
}

void ClusterHost::lease_thread() {
  EtcdClient c(o_.etcd);
  auto last_registration = std::chrono::steady_clock::now();
  bool told_unreachable = false;
  while (true) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) break;
    }
    Health h = health();
    if (!h.joined) {
      auto g = c.grant(o_.ttl_s);
      note(c, g.ok());
      if (g) {
        {
          std::lock_guard lock(mu_);
          health_.lease = g->id;
          health_.lease_ttl = g->ttl;
          health_.lease_left = g->ttl;
          health_.last_keepalive = std::chrono::steady_clock::now();
        }
        if (auto s = publish(c); s) {
          std::lock_guard lock(mu_);
          health_.joined = true;
          last_registration = std::chrono::steady_clock::now();
          log_info("cluster: host '" + o_.host + "' published at " + c.current().url + " (lease " +
                   std::to_string(g->id) + ", TTL " + std::to_string(g->ttl) + " s)");
          told_unreachable = false;
          continue;
        }
        c.revoke(g->id).ok();  // not published: let it go now rather than at its TTL
      }
      if (!told_unreachable) log_warn("cluster: cannot join: " + c.last_failure().message);
      told_unreachable = true;
      watch_.interrupt();  // a stream of a member that stopped answering may hang
      if (!pause(kRetry)) break;
      continue;
    }
    // Joined: keep the lease; register again when what runs here changed.
    const auto every = std::chrono::milliseconds(std::max<int64_t>(o_.ttl_s * 1000 / 3, 500));
    if (!pause(every, true)) break;
    bool changed;
    {
      std::lock_guard lock(mu_);
      changed = local_changed_;
    }
    if (changed || std::chrono::steady_clock::now() - last_registration > kRegistrationRefresh) {
      if (publish(c)) last_registration = std::chrono::steady_clock::now();
    }
    auto k = c.keepalive(h.lease);
    note(c, k.ok());
    std::lock_guard lock(mu_);
    if (!k) {
      if (!told_unreachable) log_warn("cluster: keepalive failed: " + c.last_failure().message);
      told_unreachable = true;
      // The lease may still live (TTL): keep trying it until it is gone.
      if (std::chrono::steady_clock::now() - health_.last_keepalive > std::chrono::seconds(health_.lease_ttl))
        health_.joined = false;
      continue;
    }
    told_unreachable = false;
    health_.last_keepalive = std::chrono::steady_clock::now();
    health_.lease_left = *k;
    if (*k == 0) {
      log_warn("cluster: lease " + std::to_string(h.lease) + " expired: publishing again under a new one");
      health_.joined = false;
    }
  }
  // Leaving: the host goes down at once for the others.
  const int64_t lease = health().lease;
  if (lease && health().joined) c.revoke(lease).ok();
}

void ClusterHost::watch_thread() {
  EtcdClient c(o_.etcd);
  int64_t rev = 0;
  bool full_read = true;
  auto post = [this](std::function<void()> fn) {
    loop_.post([alive = alive_, fn = std::move(fn)] {
      if (*alive) fn();
    });
  };
  auto deliver = [this](const cluster::ClusterState::Delta& d, std::chrono::steady_clock::time_point arrived) {
    for (const auto& why : d.rejected) log_warn("cluster: refused " + why);
    for (const auto& h : d.up) {
      went_down_.erase(h);
      if (h != o_.host) log_info("cluster: host '" + h + "' is up");
    }
    for (const auto& h : d.down) {
      went_down_[h] = unix_now();
      if (h != o_.host) log_warn("cluster: host '" + h + "' is down (its lease is gone)");
    }
    if (on_change_) on_change_(d);
    const double lag = std::chrono::duration<double>(std::chrono::steady_clock::now() - arrived).count();
    std::lock_guard lock(mu_);
    ++lag_.count;
    lag_.sum += lag;
    for (size_t i = 0; i < Lag::kBounds.size(); ++i)
      if (lag <= Lag::kBounds[i]) ++lag_.buckets[i];
  };
  while (true) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) break;
    }
    if (full_read) {
      auto all = c.get(o_.prefix, true);
      note(c, all.ok());
      if (!all) {
        if (!pause(kRetry)) break;
        continue;
      }
      rev = all->revision;
      post([this, deliver, all = std::move(*all), t = std::chrono::steady_clock::now()] {
        deliver(state_.reset(all), t);
      });
      {
        std::lock_guard lock(mu_);
        health_.watch_revision = rev;
        ++health_.resyncs;
      }
      full_read = false;
    }
    {
      std::lock_guard lock(mu_);
      health_.watching = true;
    }
    const cluster::WatchEnd end = watch_.run(o_.prefix, rev + 1, [&](const cluster::WatchMessage& m) {
      for (const auto& e : m.events) rev = std::max(rev, e.kv.mod_revision);
      if (m.events.empty() && !m.created) rev = std::max(rev, m.revision);
      {
        std::lock_guard lock(mu_);
        health_.watch_revision = rev;
      }
      if (!m.events.empty())
        post([this, deliver, m, t = std::chrono::steady_clock::now()] { deliver(state_.apply(m), t); });
      return true;
    });
    {
      std::lock_guard lock(mu_);
      health_.watching = false;
    }
    if (end.stopped) break;
    if (end.compacted) {
      log_warn("cluster: the watch's revision " + std::to_string(rev + 1) + " is compacted: reading everything again");
      full_read = true;
      continue;
    }
    if (!pause(kRetry)) break;
  }
}

cluster::EtcdClient& ClusterHost::client() {
  if (!verbs_client_) verbs_client_ = std::make_unique<EtcdClient>(o_.etcd);
  return *verbs_client_;
}

Result<cluster::MemberStatus> ClusterHost::store_status() { return client().status(); }

}  // namespace kvnet::daemon
