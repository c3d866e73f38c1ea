#include "ctl/network.h"

#include <set>

#include "ctl/document.h"
#include "ctl/gateway_spec.h"
#include "ctl/objects.h"
#include "ctl/topology.h"

namespace kvnet::ctl {

Status check_network_spec(const NetworkSpec& n) {
  const std::string ctx = "network '" + n.name + "': ";
  if (auto s = check_name(n.name); !s) return Error{ctx + s.error().message};
  if (n.vni < 1 || n.vni > kMaxNetworkVni)
    return Error{ctx + "VNI " + std::to_string(n.vni) + " is out of range 1-" + std::to_string(kMaxNetworkVni)};
  if (n.mtu < 576 || n.mtu > 9000) return Error{ctx + "mtu " + std::to_string(n.mtu) + " is out of range 576-9000"};
  if (!n.subnet.empty()) {
    auto net = parse_ipv4_cidr(n.subnet);
    if (!net) return Error{ctx + "subnet: " + net.error().message};
    if (net->prefix < 8 || net->prefix > 30) return Error{ctx + "subnet " + n.subnet + ": the prefix must be 8-30"};
    if (net->addr != net->network)
      return Error{ctx + "subnet " + n.subnet + " is not a network address (did you mean " + net->cidr() + "?)"};
  }
  return Ok{};
}

const std::vector<NetworkSpec>& declared_networks(const Topology& t) { return t.lists.list<NetworkSpec>(); }

namespace {

class NetworkObjects final : public ObjectType {
 public:
  std::string_view name() const override { return "network"; }
  std::string_view section() const override { return "networks"; }

  void read(DocReader& r, const YAML::Node& list, Topology& t) const override {
    r.list(list, "networks");
    auto& out = t.lists.list<NetworkSpec>();
    for (const auto& n : list) {
      NetworkSpec s;
      s.loc = loc_of(n);
      s.name = r.named_object(n, "network", {"name", "vni", "subnet", "mtu"});
      if (!n["vni"]) r.fail(n, "a network needs 'vni'");
      s.vni = static_cast<uint32_t>(r.integer(n["vni"], "vni", 1, kMaxNetworkVni));
      if (n["subnet"]) {
        s.subnet = r.scalar(n["subnet"], "subnet");
        auto net = parse_ipv4_cidr(s.subnet);
        if (net && net->addr == net->network) s.subnet = net->cidr();  // canonical
      }
      if (n["mtu"]) s.mtu = static_cast<uint32_t>(r.integer(n["mtu"], "mtu", 576, 9000));
      if (auto st = check_network_spec(s); !st) r.fail_check(n["subnet"] ? n["subnet"] : n, st.error().message);
      out.push_back(std::move(s));
    }
  }

  // Names and VNIs once in a document (the store checks them cluster-wide).
  void check(const DocChecker& c) const override {
    std::set<std::string> names;
    std::set<uint32_t> vnis;
    for (const auto& n : declared_networks(c.topology())) {
      if (auto s = check_network_spec(n); !s) c.fail(n.loc, "", s.error().message);
      if (!names.insert(n.name).second) c.fail(n.loc, "", "duplicate network name '" + n.name + "'");
      if (!vnis.insert(n.vni).second)
        c.fail(n.loc, "network '" + n.name + "': ", "VNI " + std::to_string(n.vni) + " is another network's too");
    }
  }

  // Cluster-wide: not a host's configuration (kvnetd's apply puts them in the store).
  void plan(const Topology&, const Topology&, PlanLines&, Plan&) const override {}
  std::string_view schema() const override { return ""; }
  std::vector<const char*> tables() const override { return {}; }
  Status save(RowWriter&, const Topology&) const override { return Ok{}; }
  Status load(RowReader&, Topology&) const override { return Ok{}; }
};

}  // namespace

const ObjectType& network_type() {
  static const NetworkObjects kType;
  return kType;
}

}  // namespace kvnet::ctl
