// The cluster's records in etcd: the key layout and each record's JSON,
// read and checked. What another host wrote is input like any other: a
// record that does not parse or breaks a rule is refused with a message
// naming its key, and the rest of the store still applies.
//
// Key layout (every key under the prefix, "/kvnet/" by default):
//   hosts/<name>     a host's publication, under its lease: gone when the
//                    host stops or its lease expires (the host is down)
//   members/<name>   a host's registration, kept: what `cluster hosts`
//                    shows of a host that is down (last seen, its VMs and
//                    containers)
//   networks/<name>  a cluster-wide network: its VNI, subnet and MTU
//   vnis/<vni>       the name of the network that holds the VNI: written
//                    with the network in one transaction, so that two
//                    hosts racing for a name or a VNI cannot both win
//   ipam/<network>/<address>
//                    "<host>/<port>": who holds the address (created only
//                    if absent: never the same address twice)
//   bindings/<network>/<host>/<port>
//                    a port on the network: its MAC, addresses, host, its
//                    security groups and a sequence number (the highest
//                    wins for a MAC)
//   sgs/<name>       a cluster-wide security group: its description and
//                    rules (ids included); every host mirrors them into its
//                    configuration
//   migrations/<vm>  a live migration in flight: from, to, its state, the
//                    VM's definition and what the destination's QEMU must
//                    match (daemon/service_migrate.cc); created only if
//                    absent (one migration per VM at a time)
//
// Thread-safety: plain data and pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/result.h"
#include "ctl/security.h"

namespace kvnet::cluster {

constexpr const char* kPrefix = "/kvnet/";
constexpr size_t kMaxRecord = 64 * 1024;  // bytes of one record's JSON
constexpr int64_t kMaxVni = 0xffffff;      // 24 bits

// A host as it publishes itself (hosts/<name>, under its lease) and
// registers (members/<name>, with last_seen and what it runs).
struct HostRecord {
  std::string name;
  std::string underlay_ip;             // its VTEP's address
  std::vector<std::string> encaps;     // "vxlan"
  std::string version;                 // kvnet's
  int64_t started = 0;                 // unix seconds
  int64_t last_seen = 0;               // members/: unix seconds of the last publication
  std::vector<std::string> vms, containers;  // members/: what runs there
  int64_t ports = 0;                   // members/: its ports
  std::vector<std::string> groups;     // members/: the security groups its ports use

  nlohmann::json to_json() const;
  bool operator==(const HostRecord&) const = default;
};
// Parses and checks a record stored at `key` (the name in the key must be
// the record's).
Result<HostRecord> parse_host(const std::string& key, const std::string& value);

// A cluster-wide network (networks/<name>).
struct NetworkRecord {
  std::string name;
  uint32_t vni = 0;    // 1-16777215
  std::string subnet;  // IPv4 CIDR of the network's addresses ("" none: no allocation)
  uint32_t mtu = kDefaultNetworkMtu;  // what its endpoints get: the underlay's 1500 less VXLAN's 50

  static constexpr uint32_t kDefaultNetworkMtu = 1450;
  nlohmann::json to_json() const;
  bool operator==(const NetworkRecord&) const = default;
};
// A network's own rules: a name, a VNI in range, a subnet that is a network
// address (prefix 8-30), an MTU of 576-9000. Errors read "network 'n': ...".
Status check_network(const NetworkRecord& n);
Result<NetworkRecord> parse_network(const std::string& key, const std::string& value);

// A port bound to a network (bindings/<network>/<host>/<port>).
struct BindingRecord {
  std::string network, host, port;
  std::string mac;                 // aa:bb:cc:dd:ee:ff
  std::vector<std::string> ips;    // A/LEN
  std::string owner;               // "container web", "vm v1 nic 0"
  int64_t seq = 1;                 // MAC mobility: the highest binding of a MAC wins
  std::vector<std::string> groups; // the port's security groups (remote_group members)
  nlohmann::json to_json() const;
  bool operator==(const BindingRecord&) const = default;
};
Result<BindingRecord> parse_binding(const std::string& key, const std::string& value, const std::string& prefix = kPrefix);
// A cluster-wide security group (sgs/<name>): the name in the key, a
// description of printable text, at most 1000 rules, each with an id of its
// own (1-1000000) and the settings ctl::parse_sg_rule reads.
constexpr size_t kMaxGroupRules = 1000;
nlohmann::json group_to_json(const ctl::SecurityGroupSpec& g);
Result<ctl::SecurityGroupSpec> parse_group(const std::string& key, const std::string& value,
                                           const std::string& prefix = kPrefix);
std::string group_key(const std::string& name, const std::string& prefix = kPrefix);

// A live migration (migrations/<vm>). The source writes it (requested),
// the destination answers (ready, with the address its QEMU listens on),
// the source switches over (switched: the VM's bindings moved to the
// destination in the same transaction), the destination resumes the guest
// (done); either side may end it (failed, cancelled, with why).
struct MigrationRecord {
  std::string vm, from, to;
  std::string state;          // requested | ready | switched | done | failed | cancelled
  std::string spec;           // the VM's definition (ctl::vm_to_yaml)
  std::string accel;          // what the source runs it with: kvm | tcg (the destination must match)
  std::string machine;        // the machine type the source resolved ("pc-q35-7.2")
  std::string qemu;           // the source's QEMU version ("7.2.22")
  std::vector<std::string> groups;  // security groups of the VM's NIC ports, in NIC order ("a,b" per NIC)
  std::string uri;            // ready: "tcp:ADDR:PORT" of the destination's incoming QEMU
  int64_t nbd_port = 0;       // ready: the destination's NBD server for the disks (0: none)
  std::string error;          // failed, cancelled: why
  int64_t started_ms = 0;     // unix milliseconds, when the source asked
  int64_t resumed_us = 0;     // done: when the guest ran again at the destination (QEMU's clock)
  nlohmann::json to_json() const;
  bool operator==(const MigrationRecord&) const = default;
  bool ended() const { return state == "done" || state == "failed" || state == "cancelled"; }
};
Result<MigrationRecord> parse_migration(const std::string& key, const std::string& value,
                                        const std::string& prefix = kPrefix);
std::string migration_key(const std::string& vm, const std::string& prefix = kPrefix);

std::string binding_key(const std::string& network, const std::string& host, const std::string& port,
                        const std::string& prefix = kPrefix);
std::string ipam_key(const std::string& network, const std::string& address, const std::string& prefix = kPrefix);

// The kind and name of a key under the prefix ("hosts", "h1"); empty kind:
// not a key of kvnet's.
struct KeyName {
  std::string kind, name;
};
KeyName split_key(const std::string& key, const std::string& prefix = kPrefix);
std::string host_key(const std::string& name, const std::string& prefix = kPrefix);
std::string member_key(const std::string& name, const std::string& prefix = kPrefix);
std::string network_key(const std::string& name, const std::string& prefix = kPrefix);
std::string vni_key(uint32_t vni, const std::string& prefix = kPrefix);

}  // namespace kvnet::cluster
