// kvnetd's gateway verbs: NAT gateway networks (ctl/gateway_spec.h) go
// through the one configuration path (service.cc: validate, plan, apply,
// store); the kernel side is the GatewayHost's (daemon/gateway_host.h),
// called from apply() once the gateway's internal port exists.
//
// A gateway owns its port: `gw add` adds the internal port named after it,
// `gw del` removes both; `del-port` and `del-br` refuse to take the port or
// its bridge from under it.
#include <chrono>

#include "base/text.h"
#include "daemon/gateway_host.h"
#include "daemon/service.h"
#include "daemon/service_args.h"
#include "daemon/verbs.h"

namespace kvnet::daemon {

using namespace kvnet::ctl;

namespace {

class GwVerbs : VerbContext {
 public:
  using VerbContext::VerbContext;
  Result<json> gw_add(const Args& a);
  Result<json> gw_del(const Args& a);
  json gw_json(const GatewaySpec& gw, bool leases) const;
  Result<json> gw_list(const Args&);
  Result<json> gw_show(const Args& a);
};

}  // namespace

Result<json> GwVerbs::gw_add(const Args& a) {
  TRY(name, a.str("name"));
  TRY(br, a.str("bridge"));
  TRY(ip, a.str("ip"));
  TRY(masquerade, a.flag("masquerade"));
  TRY(dhcp, a.str("dhcp", false));
  TRY(forwards, a.strings("forwards"));
  const std::string ctx = "gateway '" + name + "': ";
  if (auto s = check_name(name); !s) return Error{ctx + s.error().message};
  if (cur_.find_gateway(name)) return Error{"gateway '" + name + "' already exists"};
  const BridgeSpec* b = cur_.find_bridge(br);
  if (!b) return Error{ctx + "bridge '" + br + "' does not exist"};
  if (const BridgeSpec* ob = nullptr; cur_.find_port(name, &ob))
    return Error{ctx + "port '" + name + "' already exists on bridge '" + ob->name +
                 "' (a gateway's internal port takes the gateway's name)"};
  GatewaySpec gw;
  gw.name = name;
  gw.bridge = br;
  gw.ip = ip;
  gw.masquerade = masquerade;
  if (a.has("vlan")) {
    auto v = a.integer("vlan", 1, 4094);
    if (!v) return Error{ctx + "vlan: " + v.error().message};
    gw.vlan = static_cast<uint16_t>(*v);
  }
  if (!dhcp.empty()) {
    auto r = parse_dhcp_range(dhcp);
    if (!r) return Error{ctx + r.error().message};
    gw.dhcp_start = r->first;
    gw.dhcp_end = r->second;
  }
  for (const auto& f : forwards) {
    auto r = parse_forward(f);
    if (!r) return Error{ctx + r.error().message};
    gw.forwards.push_back(*r);
  }
  if (auto s = check_gateway(gw); !s) return s.error();
  TRY(port, gateway_port(*b, gw));
  Topology next = cur_;
  next.find_bridge(br)->ports.push_back(std::move(port));
  next.gateways.push_back(gw);
  TRY(p, commit(next));
  json j = change_result(p);
  j["gateway"] = gw_json(*cur_.find_gateway(name), false);
  return j;
}

Result<json> GwVerbs::gw_del(const Args& a) {
  TRY(name, a.str("name"));
  const GatewaySpec* gw = cur_.find_gateway(name);
  if (!gw) return Error{"gateway '" + name + "' does not exist"};
  Topology next = cur_;
  std::erase_if(next.gateways, [&](const GatewaySpec& g) { return g.name == name; });
  for (auto& b : next.bridges) {
    if (b.find_port(name))
      if (auto s = forget_mirrored_port(b, name); !s) return Error{"gateway '" + name + "': " + s.error().message};
    std::erase_if(b.ports, [&](const PortSpec& p) { return p.name == name; });
    std::erase_if(b.fdb, [&](const FdbSpec& f) { return f.port == name; });
  }
  return commit_json(next);
}

json GwVerbs::gw_json(const GatewaySpec& gw, bool leases) const {
  json fwd = json::array();
  for (const auto& f : gw.forwards) fwd.push_back(f.str());
  const auto net = parse_ipv4_cidr(gw.ip);
  json j{{"name", gw.name},
         {"bridge", gw.bridge},
         {"port", gw.name},
         {"vlan", gw.vlan},
         {"ip", gw.ip},
         {"subnet", net ? net->cidr() : ""},
         {"masquerade", gw.masquerade},
         {"dhcp", gw.dhcp()},
         {"forwards", fwd},
         {"attached", live_.count(gw.name) && !vanished_.count(gw.name)}};
  if (!gws_) {
    j["dnsmasq"] = {{"state", gw.has_dhcp() ? "not run by this kvnetd" : "none"}, {"pid", 0}};
    if (leases) j["leases"] = json::array();
    return j;
  }
  const GatewayStatus st = gws_->status(gw.name);
  j["nft_table"] = gws_->nft_table();
  j["dnsmasq"] = {{"state", st.dnsmasq},   {"pid", st.pid},           {"restarts", st.restarts},
                  {"last_exit", st.last_exit}, {"conf", st.conf_path}, {"leases_file", st.leases_path}};
  if (!st.error.empty()) j["error"] = valid_utf8(st.error);
  if (leases) {
    const int64_t now =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    json ls = json::array();
    for (const auto& l : st.leases)
      ls.push_back({{"mac", l.mac},
                    {"ip", l.ip},
                    {"hostname", valid_utf8(l.hostname)},
                    {"expires", l.expires},
                    {"expires_in", l.expires == 0 ? -1 : std::max<int64_t>(0, l.expires - now)}});
    j["leases"] = ls;
  }
  return j;
}

Result<json> GwVerbs::gw_list(const Args&) {
  json out = json::array();
  for (const auto& g : cur_.gateways) out.push_back(gw_json(g, false));
  return out;
}

Result<json> GwVerbs::gw_show(const Args& a) {
  TRY(name, a.str("name"));
  const GatewaySpec* gw = cur_.find_gateway(name);
  if (!gw) return Error{"gateway '" + name + "' does not exist"};
  return gw_json(*gw, true);
}

std::span<const Verb> gw_verbs() {
  static const Verb kVerbs[] = {
      {"gw-add", true, false, &verb<GwVerbs, &GwVerbs::gw_add>},
      {"gw-del", true, false, &verb<GwVerbs, &GwVerbs::gw_del>},
      {"gw-list", false, false, &verb<GwVerbs, &GwVerbs::gw_list>},
      {"gw-show", false, false, &verb<GwVerbs, &GwVerbs::gw_show>},
  };
  return kVerbs;
}

}  // namespace kvnet::daemon
