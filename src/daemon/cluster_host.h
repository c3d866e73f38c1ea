// This kvnetd as a host of a cluster on etcd (kvnetd --cluster URL ...).
//
// Two threads of its own talk to the store, so that the control loop never
// waits for it except in a verb that needs it:
//   - the lease thread publishes the host (hosts/<name>, under a lease of
//     --cluster-ttl seconds) and registers it (members/<name>: what it runs,
//     when it was last seen), then keeps the lease alive (a keepalive every
//     TTL/3). A lease that expired while etcd was unreachable is granted
//     again and the host published again.
//   - the watch thread reads everything under the prefix once, then watches
//     from the revision after; every message goes to the control loop
//     (EventLoop::post), which applies it to the ClusterState
//     (cluster/state.h) in revision order. A watch that ends resumes from
//     the last revision applied; one whose revision was compacted reads
//     everything again.
// While etcd is unreachable both retry every second; forwarding goes on
// with the last state, and `cluster status` says what fails and why.
//
// Thread-safety: start(), stop(), state(), on_change() and set_local() on
// the control loop's thread; health() from any thread.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/result.h"
#include "cluster/etcd.h"
#include "cluster/etcd_watch.h"
#include "cluster/records.h"
#include "cluster/state.h"
#include "daemon/event_loop.h"

namespace kvnet::daemon {

struct ClusterOptions {
  cluster::EtcdOptions etcd;
  std::string host;         // this host's name
  std::string underlay_ip;  // its VTEP's address
  int64_t ttl_s = 10;       // of its lease
  std::string version;      // kvnet's
  std::string prefix = cluster::kPrefix;
};

// kvnetd's --cluster* flags as given.
struct ClusterFlags {
  std::string urls, host, underlay_ip, cacert, cert, key, user, password_file;
  int64_t ttl_s = 10;
  std::string version;
};
// Checks the flags and fills what they leave out: the host's name (the
// machine's), the underlay address (the one this host reaches the first
// endpoint from). Errors name the flag.
Result<ClusterOptions> cluster_options(const ClusterFlags& f);

class ClusterHost {
 public:
  ClusterHost(EventLoop& loop, ClusterOptions o);
  ~ClusterHost();  // stop()
  ClusterHost(const ClusterHost&) = delete;
  ClusterHost& operator=(const ClusterHost&) = delete;

  // Starts the two threads; joining goes on in the background (etcd may
  // be unreachable now and answer later).
  void start();
  // Revokes the lease (other hosts see this one go at once) and ends the
  // threads; waits at most a request timeout for etcd.
  void stop();

  // The cluster as this host knows it (control thread).
  const cluster::ClusterState& state() const { return state_; }
  // Called on the control thread after each change of the state.
  void on_change(std::function<void(const cluster::ClusterState::Delta&)> cb) { on_change_ = std::move(cb); }
  // When this host saw `host`'s publication go (unix seconds; 0: not seen
  // going: down since before this kvnetd watched, or up).
  int64_t went_down(const std::string& host) const {
    auto it = went_down_.find(host);
    return it == went_down_.end() ? 0 : it->second;
  }
  // What this host runs, for its registration (written when it changes):
  // its VMs, containers, number of ports and the security groups its ports
  // use (a group in use on a host cannot be deleted: sg del reads them).
  void set_local(std::vector<std::string> vms, std::vector<std::string> containers, int64_t ports,
                 std::vector<std::string> groups = {});
  // Whether the store had this host's registration (members/<name>) before
  // this kvnetd first published it: false for a host joining the cluster for
  // the first time, whose own security groups the cluster then adopts.
  // Unknown (nullopt) until the first publication.
  std::optional<bool> registered_before() const;

  // The connection as the threads last saw it (any thread).
  struct Health {
    bool connected = false;     // the last call to the store succeeded
    bool joined = false;        // published under a live lease
    std::string error;          // why the last call failed ("" none)
    std::string endpoint;       // the member that answered last
    int64_t lease = 0;
    int64_t lease_ttl = 0;      // granted
    int64_t lease_left = 0;     // at the last keepalive
    std::chrono::steady_clock::time_point last_keepalive{};
    int64_t watch_revision = 0; // the last revision the watch delivered
    bool watching = false;
    uint64_t round_trips = 0, errors = 0, resyncs = 0;
  };
  Health health() const;
  // Watch lag: from a change's arrival from the store to the end of its
  // programming here (on_change returned), per watch message or full read.
  struct Lag {
    static constexpr std::array<double, 10> kBounds{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
    std::array<uint64_t, 10> buckets{};  // cumulative
    uint64_t count = 0;
    double sum = 0;
  };
  Lag lag() const;
  // The member answering now (a round trip on the caller's thread).
  Result<cluster::MemberStatus> store_status();
  const ClusterOptions& options() const { return o_; }
  // A new client of the store for a verb on the control thread.
  cluster::EtcdClient& client();
  // The revision of this host's last write that its configuration follows
  // (a security group): until the watch has brought the state up to it, the
  // state is older than the configuration (control thread).
  void wrote(int64_t revision) { written_ = std::max(written_, revision); }
  int64_t written() const { return written_; }

 private:
  void lease_thread();
  void watch_thread();
  Status publish(cluster::EtcdClient& c);  // the host's two keys
  void note(cluster::EtcdClient& c, bool ok);  // health after a call
  bool pause(std::chrono::milliseconds d, bool or_local_change = false);  // false: stopping
  cluster::HostRecord record() const;       // guarded by mu_

  EventLoop& loop_;
  ClusterOptions o_;
  cluster::ClusterState state_;
  std::function<void(const cluster::ClusterState::Delta&)> on_change_;
  std::map<std::string, int64_t> went_down_;  // control thread
  int64_t written_ = 0;                        // control thread
  std::unique_ptr<cluster::EtcdClient> verbs_client_;  // control thread
  cluster::EtcdWatch watch_;
  std::shared_ptr<std::atomic<bool>> alive_ = std::make_shared<std::atomic<bool>>(true);  // posted work checks it

  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;            // guarded by mu_
  bool local_changed_ = false;       // guarded by mu_
  std::vector<std::string> vms_, containers_, groups_;  // guarded by mu_
  int64_t ports_ = 0;                // guarded by mu_
  std::optional<bool> registered_before_;  // guarded by mu_
  Health health_;                    // guarded by mu_
  Lag lag_;                          // guarded by mu_
  int64_t started_ = 0;
  std::thread lease_, watcher_;
};

}  // namespace kvnet::daemon
