// Security groups in a cluster: cluster-wide objects in the store
// (sgs/<name>, cluster/records.h), mirrored by every host into its
// configuration, so that ports refer to them, the firewall compiles them and
// `sg list` shows them as on a standalone host.
//
// The sg verbs write the store first, with compare-and-swap on the record
// read (two hosts adding rules to one group at once: both land, one after
// the other), and then this host's copy; the other hosts take the change
// from the watch (Service::sync_groups). A port's groups travel with its
// binding, so that a `remote_group` rule includes the addresses of ports on
// every host (remote_group_members).
//
// Thread-safety: the service's thread (store round trips block it).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "cluster/state.h"
#include "ctl/security.h"
#include "ctl/topology.h"

namespace kvnet::daemon {

class ClusterHost;

struct StoredGroup {
  ctl::SecurityGroupSpec group;
  int64_t mod_revision = 0;
};

// The group as the store has it now (none: no such group). A record that
// does not parse is an error naming its key.
Result<std::optional<StoredGroup>> fetch_group(ClusterHost& c, const std::string& name);

// Writes `g` if the store's record is still the one read: `expect` is its
// mod revision, 0 for "no record", -1 for whatever is there (putting back
// what a failed change replaced). False: it changed meanwhile (read again).
// A write is noted (ClusterHost::wrote): the configuration follows it.
Result<bool> put_group(ClusterHost& c, const ctl::SecurityGroupSpec& g, int64_t expect);
// Deletes the group if its record is still the one read (as put_group).
Result<bool> delete_group(ClusterHost& c, const std::string& name, int64_t expect);

// `t` with group `name` set to `g` (replaced, or added at the end), or
// without it (nullopt).
void replace_group(ctl::Topology& t, const std::string& name, const std::optional<ctl::SecurityGroupSpec>& g);

// Where `group` is in use on a host other than `this_host`: "port web1 on
// host 'h2'" from the bindings, "host 'h2'" from a registration (which
// lists the groups its ports use, also while it is down); "" nowhere.
std::string group_used_elsewhere(const cluster::ClusterState& st, const std::string& this_host,
                                 const std::string& group);

// The addresses (without prefix length) of the ports of other hosts by the
// security groups they are in: every winning binding (MAC mobility) of a
// host that is up, other than `this_host`. Sorted, without duplicates.
std::map<std::string, std::vector<std::string>> remote_group_members(const cluster::ClusterState& st,
                                                                     const std::string& this_host);

}  // namespace kvnet::daemon
