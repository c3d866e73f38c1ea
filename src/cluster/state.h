// What this host knows of the cluster: the store's records under the
// prefix, as of one revision, built from a full read and kept current by
// the watch's events (in revision order).
//
// A record that does not parse is left out and reported (its key and why)
// to the caller, which logs it; it never reaches the configuration, and
// the rest of the store still applies. A later valid write of the same key
// replaces it; a delete removes whatever was there.
//
// Thread-safety: plain data; kvnetd keeps one on its control thread.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "cluster/etcd.h"
#include "cluster/etcd_watch.h"
#include "cluster/records.h"

namespace kvnet::cluster {

class ClusterState {
 public:
  explicit ClusterState(std::string prefix = kPrefix) : prefix_(std::move(prefix)) {}

  // What a read or a batch of events changed.
  struct Delta {
    std::vector<std::string> up, down;  // hosts that published / whose publication went
    std::vector<std::string> networks;  // networks added, changed or removed
    bool bindings = false;              // a binding came, changed or went
    bool groups = false;                // a security group came, changed or went
    std::vector<std::string> migrations;  // VMs whose migration record came, changed or went
    std::vector<std::string> rejected;  // "cluster key '...': why"
    bool empty() const {
      return up.empty() && down.empty() && networks.empty() && !bindings && !groups && migrations.empty();
    }
  };

  // Replaces everything with a full read (a range of the prefix).
  Delta reset(const RangeResult& all);
  // Applies one watch message's events (older revisions are ignored: a
  // resumed watch may repeat them).
  Delta apply(const WatchMessage& m);

  // The last revision applied: a watch resumes after it.
  int64_t revision() const { return revision_; }
  // Hosts whose publication is in the store (up), by name.
  const std::map<std::string, HostRecord>& up() const { return up_; }
  // Every registered host (up or down), by name.
  const std::map<std::string, HostRecord>& members() const { return members_; }
  bool is_up(const std::string& host) const { return up_.count(host) != 0; }
  // Cluster-wide networks, by name.
  const std::map<std::string, NetworkRecord>& networks() const { return networks_; }
  // Ports bound to networks, by key (bindings/<network>/<host>/<port>).
  const std::map<std::string, BindingRecord>& bindings() const { return bindings_; }
  // Cluster-wide security groups, by name.
  const std::map<std::string, ctl::SecurityGroupSpec>& groups() const { return groups_; }
  // Live migrations in flight, by VM.
  const std::map<std::string, MigrationRecord>& migrations() const { return migrations_; }

 private:
  void put(const KeyValue& kv, Delta* d);
  void erase(const std::string& key, Delta* d);

  std::string prefix_;
  int64_t revision_ = 0;
  std::map<std::string, HostRecord> up_, members_;
  std::map<std::string, NetworkRecord> networks_;
  std::map<std::string, BindingRecord> bindings_;
  std::map<std::string, ctl::SecurityGroupSpec> groups_;
  std::map<std::string, MigrationRecord> migrations_;
};

}  // namespace kvnet::cluster
