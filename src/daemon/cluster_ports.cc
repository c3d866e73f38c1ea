#include "daemon/cluster_ports.h"

#include "base/log.h"
#include "cluster/ipam.h"
#include "daemon/cluster_host.h"
#include "daemon/cluster_wiring.h"

namespace kvnet::daemon {

Result<int64_t> create_network(ClusterHost& host, const cluster::NetworkRecord& n) {
  const std::string& prefix = host.options().prefix;
  const std::string nk = cluster::network_key(n.name, prefix), vk = cluster::vni_key(n.vni, prefix);
  auto t = host.client().txn({cluster::Compare::absent(nk), cluster::Compare::absent(vk)},
                             {cluster::TxnOp::put(nk, n.to_json().dump()), cluster::TxnOp::put(vk, n.name)},
                             {cluster::TxnOp::get(nk), cluster::TxnOp::get(vk)});
  if (!t) return t.error();
  if (t->succeeded) return t->revision;
  // Sent twice (the first answer lost): what the store holds may be this
  // very write.
  if (host.client().last_call_resent() && t->ranges.size() == 2 && !t->ranges[0].kvs.empty() &&
      !t->ranges[1].kvs.empty() && t->ranges[1].kvs[0].value == n.name)
    if (auto had = cluster::parse_network(nk, t->ranges[0].kvs[0].value); had && *had == n)
      return t->ranges[0].kvs[0].mod_revision;
  if (t->ranges.size() == 2 && !t->ranges[0].kvs.empty()) {
    auto old = cluster::parse_network(nk, t->ranges[0].kvs[0].value);
    return Error{"network '" + n.name + "' already exists" + (old ? " (VNI " + std::to_string(old->vni) + ")" : "")};
  }
  if (t->ranges.size() == 2 && !t->ranges[1].kvs.empty())
    return Error{"network '" + n.name + "': VNI " + std::to_string(n.vni) + " is taken by network '" +
                 t->ranges[1].kvs[0].value + "'"};
  return Error{"network '" + n.name + "': the store changed meanwhile: try again"};
}

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

std::vector<std::string> port_groups(const ctl::Topology& t, const std::string& port) {
  const ctl::PortSpec* p = t.find_port(port);  // a qbr NIC's: on its qbr bridge
  return p ? p->security.groups : std::vector<std::string>{};
}

Status bind_port(ClusterHost& c, const NetworkPort& p, const ctl::Topology& t) {
  const auto& o = c.options();
  cluster::BindingRecord b{p.network, o.host, p.port, p.mac, {}, p.owner, next_seq(c.state(), p.network, p.mac)};
  if (!p.ip.empty()) b.ips.push_back(p.ip);
  b.groups = port_groups(t, p.port);
  // Only while the network exists (network del requires no binding: of the
  // two racing, one fails).
  auto w = c.client().txn({cluster::Compare::present(cluster::network_key(p.network, o.prefix))},
                          {cluster::TxnOp::put(cluster::binding_key(p.network, o.host, p.port, o.prefix), b.to_json().dump())});
  if (!w) return w.error();
  if (!w->succeeded) return Error{"network '" + p.network + "' was deleted meanwhile"};
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

void rebind_port(ClusterHost& c, const NetworkPort& p, const ctl::Topology& t) {
  Status s = Ok{};
  if (auto net = fetch_network(c, p.network); !net) {
    s = net.error();
  } else if (!p.ip.empty()) {
    if (auto a = claim_port_address(c, *net, p.ip, p.port); !a) s = a.error();
  }
  if (s) s = bind_port(c, p, t);
  if (!s) log_warn("cluster: could not put back the binding of " + p.owner + ": " + s.error().message);
}

}  // namespace kvnet::daemon
