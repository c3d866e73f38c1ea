// kvnetd's container verbs (`kvnetctl ct ...`). A container is configuration
// like a bridge (ctl/container.h): every change goes through the one path
// (validate, plan, apply, store); its namespace and veth are made when the
// plan is applied (Applier::create_containers, daemon/netns.h).
#include "base/text.h"
#include "ctl/mtu.h"
#include "daemon/cluster_host.h"
#include "daemon/cluster_ports.h"
#include "daemon/cluster_wiring.h"
#include "daemon/ct_dhcp.h"
#include "daemon/netns.h"
#include "daemon/service_args.h"
#include "daemon/verbs.h"

namespace kvnet::daemon {

using namespace kvnet::ctl;

namespace {

class CtVerbs : VerbContext {
 public:
  using VerbContext::VerbContext;
  Result<json> ct_add(const Args& a);
  Result<json> ct_del(const Args& a);
  Result<json> ct_list(const Args& a);

 private:
  // ct add --network: the port on br-int in the network's local VLAN, the
  // address claimed cluster-wide, the binding published.
  Result<json> ct_add_on_network(const Args& a, const std::string& name, const std::string& network);
  // ct del of a container on a network: its binding and address go first.
  Status unbind(const ContainerSpec& c);
};

Result<json> CtVerbs::ct_add_on_network(const Args& a, const std::string& name, const std::string& network) {
  if (!cluster_) return Error{"networks are cluster-wide: this kvnetd is standalone (start it with --cluster URL)"};
  TRY(br, a.str("bridge", false));
  TRY(port, a.str("port", false));
  TRY(settings, a.settings());
  TRY(ip, a.str("ip", false));
  TRY(gw, a.str("gw", false));
  TRY(mac, a.str("mac", false));
  const std::string ctx = "container '" + name + "': ";
  if (!br.empty() && br != kIntegrationBridge)
    return Error{ctx + "a container on a network is plugged into " + kIntegrationBridge + ": leave out the bridge"};
  if (ip == "dhcp") return Error{ctx + "a network's addresses are allocated cluster-wide: leave out ip=dhcp"};
  for (const auto& [k, v] : settings)
    if (k == "type" || k == "vlan_mode" || k == "pvid" || k == "tag" || k == "allowed" || k == "trunks" ||
        k == "tagged" || k == "untagged")
      return Error{ctx + "'" + k + "': the port of a network's container is an access port of the network's local VLAN"};
  const std::string pname = port.empty() ? utf8_prefix("ct-" + name, 15) : port;
  ContainerSpec c{name, kIntegrationBridge, pname, "", gw, mac, network, {}};
  if (auto s = check_container(c); !s) return s.error();
  if (find_container(cur_, name)) return Error{"container '" + name + "' already exists"};
  if (cur_.find_port(pname)) return Error{ctx + "port '" + pname + "' already exists"};
  const auto& o = cluster_->options();
  auto net = fetch_network(*cluster_, network);
  if (!net) return Error{ctx + net.error().message};
  Topology next = cur_;
  auto vlan = wire_port(next, *net, o.underlay_ip, pname, settings, &warnings_);
  if (!vlan) return Error{ctx + vlan.error().message};
  // The address: claimed cluster-wide before anything changes here.
  auto addr = claim_port_address(*cluster_, *net, ip, pname);
  if (!addr) return Error{ctx + addr.error().message};
  c.ip = *addr;
  next.containers.push_back(c);
  const Topology before = cur_;
  auto pl = commit(next);
  if (!pl) {
    release_port_address(*cluster_, network, *addr, pname);
    return pl.error();
  }
  // The binding: what the other hosts program from.
  if (auto s = bind_port(*cluster_, {network, pname, container_mac(c), c.ip, "container " + name}, cur_); !s) {
    (void)commit(before);  // nothing half-applied: the container goes again, the address too
    release_port_address(*cluster_, network, *addr, pname);
    return Error{ctx + s.error().message};
  }
  json j = change_result(*pl);
  j["port"] = pname;
  j["ip"] = c.ip;
  j["network"] = network;
  j["local_vlan"] = *vlan;
  return j;
}

Status CtVerbs::unbind(const ContainerSpec& c) {
  if (c.network.empty()) return Ok{};
  if (!cluster_) return Error{"container '" + c.name + "' is on network '" + c.network + "' but this kvnetd is standalone"};
  if (auto s = unbind_port(*cluster_, {c.network, c.port, container_mac(c), c.ip, ""}); !s)
    return Error{"container '" + c.name + "': " + s.error().message};
  return Ok{};
}

Result<json> CtVerbs::ct_add(const Args& a) {
  TRY(name, a.str("name"));
  TRY(network, a.str("network", false));
  if (!network.empty()) return ct_add_on_network(a, name, network);
  TRY(br, a.str("bridge"));
  TRY(port, a.str("port", false));
  TRY(settings, a.settings());
  TRY(ip, a.str("ip", false));
  TRY(gw, a.str("gw", false));
  TRY(mac, a.str("mac", false));
  const std::string pname = port.empty() ? utf8_prefix("ct-" + name, 15) : port;
  ContainerSpec c{name, br, pname, ip, gw, mac, {}};
  if (auto s = check_container(c); !s) return s.error();  // the container's own checks (ctl/container.h)
  // The default port name is cut to the kernel's 15 characters: say so.
  const std::string cut = port.empty() && pname.size() < 3 + name.size()
                              ? " (the default port name 'ct-" + name + "' is cut to 15 characters: name one with --port)"
                              : "";
  if (find_container(cur_, name)) return Error{"container '" + name + "' already exists"};
  const BridgeSpec* b = cur_.find_bridge(br);
  if (!b) return Error{"container '" + name + "': bridge '" + br + "' does not exist"};
  if (cur_.find_port(pname)) return Error{"container '" + name + "': port '" + pname + "' already exists" + cut};
  for (const auto& [k, v] : settings)
    if (k == "type") return Error{"container '" + name + "': the port of a container is always a system port"};
  auto p = make_port(*b, pname, settings, &warnings_);
  if (!p) return Error{"container '" + name + "': " + p.error().message};
  Topology next = cur_;
  next.find_bridge(br)->ports.push_back(std::move(*p));
  next.containers.push_back(std::move(c));
  TRY(pl, commit(next));
  json j = change_result(pl);
  j["port"] = pname;
  if (!cut.empty()) {
    j["warnings"].push_back("container '" + name + "': its port is '" + pname + "'" + cut);
  }
  return j;
}

Result<json> CtVerbs::ct_del(const Args& a) {
  TRY(name, a.str("name"));
  Topology next = cur_;
  std::string port;
  for (const auto& c : next.containers)
    if (c.name == name) port = c.port;
  if (port.empty()) return Error{"container '" + name + "' does not exist"};
  std::erase_if(next.containers, [&](const ContainerSpec& c) { return c.name == name; });
  for (auto& b : next.bridges) {
    if (b.find_port(port))
      if (auto s = forget_mirrored_port(b, port); !s) return Error{"container '" + name + "': " + s.error().message};
    std::erase_if(b.ports, [&](const PortSpec& p) { return p.name == port; });
    std::erase_if(b.fdb, [&](const FdbSpec& f) { return f.port == port; });
  }
  if (cluster_) {
    if (auto s = unwire_unused(next, cluster_->options().underlay_ip); !s) return s.error();
  }
  // On a network: its binding and address leave the store first (an
  // unreachable store fails the verb before anything changes here), and
  // come back if the change then fails.
  const ContainerSpec c = *find_container(cur_, name);
  if (auto s = unbind(c); !s) return s.error();
  auto r = commit_json(next);
  if (!r && !c.network.empty()) rebind_port(*cluster_, {c.network, c.port, container_mac(c), c.ip, "container " + c.name}, cur_);
  return r;
}

Result<json> CtVerbs::ct_list(const Args&) {
  json out = json::array();
  const auto mtus = ctl::bridge_mtus(cur_);
  for (const auto& c : cur_.containers) {
    const uint32_t m = ctl::endpoint_mtu(cur_, c.port, mtus);  // what its eth0 was given
    json j{{"name", c.name}, {"bridge", c.bridge}, {"port", c.port}, {"ip", c.ip},
           {"gw", c.gw}, {"mac", container_mac(c)}, {"mtu", m ? m : dp::kDefaultMtu}, {"netns", netns_exists(c.name)},
           {"network", c.network}};
    if (c.ip == "dhcp" && ct_dhcp_) {
      const CtDhcpStatus s = ct_dhcp_->status(c.name);
      json d{{"client", s.client}, {"pid", s.pid}, {"restarts", s.restarts}};
      if (!s.last_exit.empty()) d["last_exit"] = s.last_exit;
      if (!s.error.empty()) d["error"] = s.error;
      if (!s.lease.ip.empty())
        d["lease"] = {{"ip", s.lease.ip},   {"router", s.lease.router},   {"server", s.lease.server},
                      {"dns", s.lease.dns}, {"lease_s", s.lease.lease_s}, {"obtained", s.lease.obtained}};
      j["dhcp"] = d;
    }
    out.push_back(j);
  }
  return out;
}

}  // namespace

std::span<const Verb> ct_verbs() {
  static const Verb kVerbs[] = {
      {"ct-add", true, false, &verb<CtVerbs, &CtVerbs::ct_add>},
      {"ct-del", true, false, &verb<CtVerbs, &CtVerbs::ct_del>},
      {"ct-list", false, false, &verb<CtVerbs, &CtVerbs::ct_list>},
  };
  return kVerbs;
}

}  // namespace kvnet::daemon
