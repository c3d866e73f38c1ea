// Containers as configuration (kvnetd only): a network namespace NAME whose
// eth0 is a veth whose other end is the system port `port` of `bridge`.
// What a topology's `containers:` section and `kvnetctl ct add` describe,
// kept by the store's containers table. The home of the container object
// type (ctl/objects.h); creating the namespace is daemon/netns.h's job, the
// `ct` verbs are daemon/service_ct.cc's.
//
//   containers:
//     - {name: web, bridge: br-int, port: ct-web, ip: 10.0.0.2/24, gw: 10.0.0.1, mac: "52:54:00:00:00:02"}
//     - {name: db, network: blue}   # in a cluster: on br-int, port ct-db, its address allocated
//
// Thread-safety: plain data and pure functions.
#pragma once

#include <string>

#include "base/result.h"
#include "ctl/fields.h"

namespace kvnet::ctl {

class ObjectType;
struct Topology;

// The integration bridge a cluster's networks meet on (docs/cluster.md).
inline constexpr const char* kClusterBridge = "br-int";

struct ContainerSpec {
  std::string name;
  std::string bridge;
  std::string port;
  std::string ip;   // CIDR, "dhcp" (kvnetd runs a DHCP client in it), "" = none
  std::string gw;   // "" = none (always none with dhcp: the lease gives the router)
  std::string mac;  // "" = derived from the name (container_mac)
  // A cluster network ("" none, docs/cluster.md): the port is then an access
  // port of the network's local VLAN on br-int, and the container's address
  // is the network's (allocated cluster-wide).
  std::string network;
  Loc loc;
  bool operator==(const ContainerSpec& o) const {
    return name == o.name && bridge == o.bridge && port == o.port && ip == o.ip && gw == o.gw && mac == o.mac &&
           network == o.network;
  }
};

// The MAC of a container's eth0: its `mac`, or, when none is given, one
// derived from its name: 02 (a locally administered unicast MAC) and the low
// five bytes of the name's 64-bit FNV-1a hash. kvnetd sets it on the veth's
// namespace end, so port security knows it before the kernel does; `export`
// still omits it (it is not configuration, it follows from the name).
std::string container_mac(const ContainerSpec& c);
// A container's `ip` (CIDR or "dhcp") and `gw`, which dhcp excludes.
Status check_container_ip(const std::string& ip, const std::string& gw);

// The container object type.
const ObjectType& container_type();

// The checks of one container on its own: its name, ip (ADDRESS/PREFIX),
// or "dhcp", gw (an address; none with dhcp) and mac (unicast). Errors read "container 'c': <rule>";
// `key` (if given) receives the key at fault. Files, the store and
// `ct add` all go through it.
Status check_container(const ContainerSpec& c, std::string* key = nullptr);
// The settings in canonical form (plan diffs).
Fields container_fields(const ContainerSpec& c);
const ContainerSpec* find_container(const Topology& t, const std::string& name);

}  // namespace kvnet::ctl
