#include "daemon/cluster_ports.h"

#include "base/log.h"
#include "cluster/ipam.h"
#include "daemon/cluster_host.h"
#include "daemon/cluster_wiring.h"

namespace kvnet::daemon {

Result<cluster::NetworkRecord> fetch_network(ClusterHost& c, const std::string& name) {
  auto got = c.client().get(cluster::network_key(name, c.options().prefix));
  if (!got) return got.error();
  if (got->kvs.empty()) return Error{"network '" + name + "' does not exist (network add)"};
  return cluster::parse_network(got->kvs[0].key, got->kvs[0].value);
}

namespace {
std::string holder(ClusterHost& c, const std::string& port) { return c.options().host + "/" + port; }
}  // namespace

Result<std::string> claim_port_address(ClusterHost& c, const cluster::NetworkRecord& net, const std::string& want,
                                       const std::string& port) {
  return cluster::claim_address(c.client(), c.options().prefix, net, want, holder(c, port));
}

void release_port_address(ClusterHost& c, const std::string& network, const std::string& ip, const std::string& port) {
  if (ip.empty()) return;
  if (auto s = cluster::release_address(c.client(), c.options().prefix, network, ip, holder(c, port)); !s)
    log_warn("cluster: could not release " + ip + " on network '" + network + "': " + s.error().message);
}

Status bind_port(ClusterHost& c, const NetworkPort& p) {
  const auto& o = c.options();
  cluster::BindingRecord b{p.network, o.host, p.port, p.mac, {}, p.owner, next_seq(c.state(), p.network, p.mac)};
  if (!p.ip.empty()) b.ips.push_back(p.ip);
  auto put = c.client().put(cluster::binding_key(p.network, o.host, p.port, o.prefix), b.to_json().dump());
  if (!put) return put.error();
  return Ok{};
}

Status unbind_port(ClusterHost& c, const NetworkPort& p) {
  const auto& o = c.options();
  auto d = c.client().del(cluster::binding_key(p.network, o.host, p.port, o.prefix));
  if (!d) return d.error();
  if (!p.ip.empty())
    if (auto s = cluster::release_address(c.client(), o.prefix, p.network, p.ip, holder(c, p.port)); !s) return s;
  return Ok{};
}

}  // namespace kvnet::daemon
