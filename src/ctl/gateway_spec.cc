#include "ctl/gateway_spec.h"

#include <algorithm>
#include <arpa/inet.h>

#include <charconv>
#include <map>
#include <set>

#include "base/text.h"
#include "ctl/document.h"
#include "ctl/objects.h"
#include "ctl/plan.h"
#include "ctl/topology.h"

namespace kvnet::ctl {
namespace {

Result<uint16_t> port_number(const std::string& s, const std::string& what) {
  unsigned v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || v < 1 || v > 65535)
    return Error{what + " '" + s + "' is not a port number (1-65535)"};
  return static_cast<uint16_t>(v);
}

}  // namespace

Result<uint32_t> parse_ipv4(const std::string& text) {
  in_addr a{};
  if (text.empty() || has_control(text) || inet_pton(AF_INET, text.c_str(), &a) != 1)  // NUL: not the end
    return Error{"'" + printable(text) + "' is not an IPv4 address"};
  return ntohl(a.s_addr);
}

std::string ipv4_str(uint32_t addr) {
  in_addr a{htonl(addr)};
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &a, buf, sizeof buf);
  return buf;
}

std::string PortForward::str() const {
  return proto + ":" + std::to_string(host_port) + ":" + ip + ":" + std::to_string(port);
}

Result<PortForward> parse_forward(const std::string& text) {
  const std::string form = "forward '" + text + "' must be tcp|udp:HOSTPORT:IP:PORT (e.g. tcp:8080:10.0.0.5:80)";
  std::vector<std::string> parts;
  size_t pos = 0;
  for (;;) {
    const size_t colon = text.find(':', pos);
    parts.push_back(text.substr(pos, colon == std::string::npos ? std::string::npos : colon - pos));
    if (colon == std::string::npos) break;
    pos = colon + 1;
  }
  if (parts.size() != 4) return Error{form};
  PortForward f;
  f.proto = parts[0];
  if (f.proto != "tcp" && f.proto != "udp")
    return Error{"forward '" + text + "': protocol '" + f.proto + "' is not tcp or udp"};
  auto hp = port_number(parts[1], "host port");
  if (!hp) return Error{"forward '" + text + "': " + hp.error().message};
  f.host_port = *hp;
  auto ip = parse_ipv4(parts[2]);
  if (!ip) return Error{"forward '" + text + "': " + ip.error().message};
  f.ip = ipv4_str(*ip);
  auto p = port_number(parts[3], "port");
  if (!p) return Error{"forward '" + text + "': " + p.error().message};
  f.port = *p;
  return f;
}

Result<Ipv4Net> parse_ipv4_cidr(const std::string& cidr) {
  const auto slash = cidr.find('/');
  if (slash == std::string::npos)
    return Error{"ip '" + cidr + "' must be an IPv4 ADDRESS/PREFIX (e.g. 10.0.0.1/24)"};
  auto a = parse_ipv4(cidr.substr(0, slash));
  if (!a) return Error{"ip '" + cidr + "': " + a.error().message};
  const std::string len = cidr.substr(slash + 1);
  int v = -1;
  auto [p, ec] = std::from_chars(len.data(), len.data() + len.size(), v);
  if (len.empty() || ec != std::errc() || p != len.data() + len.size() || v < 0 || v > 32)
    return Error{"ip '" + cidr + "': prefix length must be 0-32"};
  Ipv4Net n;
  n.addr = *a;
  n.prefix = v;
  n.network = n.addr & n.mask();
  return n;
}

Result<std::pair<std::string, std::string>> parse_dhcp_range(const std::string& text) {
  const auto dash = text.find('-');
  if (dash == std::string::npos) return Error{"dhcp '" + text + "' must be START-END (e.g. 10.0.0.100-10.0.0.199)"};
  auto s = parse_ipv4(text.substr(0, dash));
  auto e = parse_ipv4(text.substr(dash + 1));
  if (!s) return Error{"dhcp '" + text + "': start " + s.error().message};
  if (!e) return Error{"dhcp '" + text + "': end " + e.error().message};
  return std::make_pair(ipv4_str(*s), ipv4_str(*e));
}

Status check_gateway(const GatewaySpec& gw) {
  const std::string ctx = "gateway '" + gw.name + "': ";
  if (auto s = check_name(gw.name); !s) return Error{ctx + s.error().message};
  if (gw.bridge.empty()) return Error{ctx + "needs a bridge"};
  if (gw.vlan != 0 && (gw.vlan < 1 || gw.vlan > 4094))
    return Error{ctx + "vlan " + std::to_string(gw.vlan) + " is out of range 1-4094"};
  if (gw.ip.empty()) return Error{ctx + "needs an ip (the gateway's address and subnet, e.g. 10.0.0.1/24)"};
  auto net = parse_ipv4_cidr(gw.ip);
  if (!net) return Error{ctx + net.error().message};
  if (net->prefix < 8 || net->prefix > 30)
    return Error{ctx + "ip '" + gw.ip + "': prefix length " + std::to_string(net->prefix) + " is out of range 8-30"};
  if (net->addr == net->network || net->addr == net->broadcast())
    return Error{ctx + "ip '" + gw.ip + "': " + ipv4_str(net->addr) + " is the subnet's " +
                 (net->addr == net->network ? "network" : "broadcast") + " address, not a host address"};
  const std::string subnet = net->cidr();
  auto host_of_subnet = [&](const std::string& what, const std::string& text) -> Status {
    auto a = parse_ipv4(text);
    if (!a) return Error{ctx + what + ": " + a.error().message};
    if (!net->contains(*a)) return Error{ctx + what + " " + text + " is outside the subnet " + subnet};
    if (*a == net->network || *a == net->broadcast())
      return Error{ctx + what + " " + text + " is not a host address of " + subnet};
    return Ok{};
  };
  if (gw.has_dhcp()) {
    if (auto s = host_of_subnet("dhcp range start", gw.dhcp_start); !s) return s;
    if (auto s = host_of_subnet("dhcp range end", gw.dhcp_end); !s) return s;
    const uint32_t lo = *parse_ipv4(gw.dhcp_start), hi = *parse_ipv4(gw.dhcp_end);
    if (lo > hi) return Error{ctx + "dhcp range " + gw.dhcp() + " ends before it starts"};
    if (net->addr >= lo && net->addr <= hi)
      return Error{ctx + "dhcp range " + gw.dhcp() + " contains the gateway's own address " + ipv4_str(net->addr)};
  } else if (!gw.dhcp_end.empty()) {
    return Error{ctx + "dhcp range has an end but no start"};
  }
  for (size_t i = 0; i < gw.forwards.size(); ++i) {
    const PortForward& f = gw.forwards[i];
    if (auto r = parse_forward(f.str()); !r || !(*r == f))
      return Error{ctx + (r ? "forward '" + f.str() + "' is not in canonical form" : r.error().message)};
    if (auto s = host_of_subnet("forward '" + f.str() + "': address", f.ip); !s) return s;
    if (*parse_ipv4(f.ip) == net->addr)
      return Error{ctx + "forward '" + f.str() + "' points at the gateway itself"};
    for (size_t j = 0; j < i; ++j)
      if (gw.forwards[j].proto == f.proto && gw.forwards[j].host_port == f.host_port)
        return Error{ctx + "host port " + f.proto + "/" + std::to_string(f.host_port) + " is forwarded twice"};
  }
  return Ok{};
}

Fields gateway_fields(const GatewaySpec& gw) {
  Fields f{{"bridge", gw.bridge}};
  if (gw.vlan) f.push_back({"vlan", std::to_string(gw.vlan)});
  f.push_back({"ip", gw.ip});
  if (gw.masquerade) f.push_back({"masquerade", "true"});
  if (gw.has_dhcp()) f.push_back({"dhcp", gw.dhcp()});
  if (!gw.forwards.empty()) {
    std::string v;
    for (const auto& x : gw.forwards) v += (v.empty() ? "" : ",") + x.str();
    f.push_back({"forwards", v, true});
  }
  return f;
}

Result<PortSpec> gateway_port(const BridgeSpec& bridge, const GatewaySpec& gw) {
  Settings s{{"type", "internal"}};
  if (gw.vlan) {
    if (bridge.type != dp::BridgeType::kSwitch)
      return Error{"gateway '" + gw.name + "': vlan applies to switch bridges; bridge '" + bridge.name + "' is a " +
                   std::string(dp::to_string(bridge.type))};
    s.push_back({"vlan_mode", "access"});
    s.push_back({"pvid", std::to_string(gw.vlan)});
  }
  auto p = make_port(bridge, gw.name, s);
  if (!p) return Error{"gateway '" + gw.name + "': " + p.error().message};
  return p;
}

void add_gateway_ports(Topology& t) {
  for (const auto& gw : t.gateways) {
    BridgeSpec* b = t.find_bridge(gw.bridge);
    if (!b || t.find_port(gw.name)) continue;
    if (auto p = gateway_port(*b, gw)) b->ports.push_back(std::move(*p));
  }
}

const GatewaySpec* gateway_of_port(const Topology& t, const std::string& port) {
  for (const auto& gw : t.gateways)
    if (gw.name == port) return &gw;
  return nullptr;
}


// ------------------------------------------------------------ the object type

namespace {

GatewaySpec read_gateway(DocReader& r, const YAML::Node& n) {
  GatewaySpec g;
  g.name = r.named_object(n, "gateway", {"name", "bridge", "vlan", "ip", "masquerade", "dhcp", "forwards"});
  const Loc loc = loc_of(n);
  g.line = loc.line;
  g.col = loc.col;
  if (!n["bridge"] || !n["ip"]) r.fail(n, "a gateway needs 'bridge' and 'ip'");
  g.bridge = r.scalar(n["bridge"], "bridge");
  if (n["vlan"]) g.vlan = static_cast<uint16_t>(r.integer(n["vlan"], "vlan", dp::kMinVid, dp::kMaxVid));
  g.ip = r.scalar(n["ip"], "ip");
  if (n["masquerade"]) g.masquerade = r.boolean(n["masquerade"], "masquerade");
  if (n["dhcp"]) {
    auto range = parse_dhcp_range(r.scalar(n["dhcp"], "dhcp"));
    if (!range) r.fail(n["dhcp"], range.error().message);
    g.dhcp_start = range->first;
    g.dhcp_end = range->second;
  }
  if (n["forwards"])
    for (const auto& w : r.words(n["forwards"], "forwards")) {
      auto f = parse_forward(w);
      if (!f) r.fail(n["forwards"], f.error().message);
      g.forwards.push_back(*f);
    }
  if (auto s = check_gateway(g); !s) r.fail(n, s.error().message.substr(r.context().size()));
  return g;
}

void emit_gateway(YAML::Emitter& e, const GatewaySpec& g) {
  e << YAML::Flow << YAML::BeginMap;
  e << YAML::Key << "name" << YAML::Value << g.name;
  e << YAML::Key << "bridge" << YAML::Value << g.bridge;
  if (g.vlan) e << YAML::Key << "vlan" << YAML::Value << g.vlan;
  e << YAML::Key << "ip" << YAML::Value << g.ip;
  if (g.masquerade) e << YAML::Key << "masquerade" << YAML::Value << true;
  if (g.has_dhcp()) e << YAML::Key << "dhcp" << YAML::Value << YAML::DoubleQuoted << g.dhcp();
  if (!g.forwards.empty()) {
    e << YAML::Key << "forwards" << YAML::Value << YAML::Flow << YAML::BeginSeq;
    for (const auto& f : g.forwards) e << YAML::DoubleQuoted << f.str();
    e << YAML::EndSeq;
  }
  e << YAML::EndMap;
}

void check_gateways(const DocChecker& c, const Topology& t) {
  std::set<std::string> names;
  std::map<std::string, std::string> host_ports;  // "tcp/8080" -> gateway
  for (const auto& g : t.gateways) {
    const Loc loc{g.line, g.col};
    const std::string ctx = "gateway '" + g.name + "': ";
    if (auto s = check_gateway(g); !s) c.fail(loc, "", s.error().message);
    if (!names.insert(g.name).second) c.fail(loc, "", "duplicate gateway name '" + g.name + "'");
    const BridgeSpec* b = t.find_bridge(g.bridge);
    if (!b) c.fail(loc, ctx, "bridge '" + g.bridge + "' does not exist");
    if (g.vlan && b->type != dp::BridgeType::kSwitch)
      c.fail(loc, ctx,
             "vlan applies to switch bridges; bridge '" + g.bridge + "' is a " + std::string(dp::to_string(b->type)));
    const BridgeSpec* pb = nullptr;
    const PortSpec* p = t.find_port(g.name, &pb);
    if (!p || pb != b) c.fail(loc, ctx, "its port '" + g.name + "' is not a port of bridge '" + g.bridge + "'");
    if (p->kind->name() != "internal")
      c.fail(loc, ctx, "its port '" + g.name + "' must be an internal port, not " + std::string(p->kind->name()));
    if (g.vlan && (p->vlan.mode != dp::VlanMode::kAccess || p->vlan.pvid != g.vlan))
      c.fail(loc, ctx, "its port '" + g.name + "' must be an access port of VLAN " + std::to_string(g.vlan));
    const Ipv4Net net = *parse_ipv4_cidr(g.ip);
    for (const auto& o : t.gateways) {
      if (&o == &g) break;
      const Ipv4Net on = *parse_ipv4_cidr(o.ip);
      if (net.contains(on.network) || on.contains(net.network))
        c.fail(loc, ctx, "subnet " + net.cidr() + " overlaps gateway '" + o.name + "''s " + on.cidr());
    }
    for (const auto& f : g.forwards) {
      const std::string key = f.proto + "/" + std::to_string(f.host_port);
      auto [it, fresh] = host_ports.emplace(key, g.name);
      if (!fresh) c.fail(loc, ctx, "host port " + key + " is forwarded by gateway '" + it->second + "' too");
    }
  }
}

class GatewayObjects final : public ObjectType {
 public:
  std::string_view name() const override { return "gw"; }
  std::string_view section() const override { return "gateways"; }

  void read(DocReader& r, const YAML::Node& list, Topology& t) const override {
    t.has_gateways = true;
    r.list(list, "gateways");
    for (const auto& gn : list) t.gateways.push_back(read_gateway(r, gn));
    r.set_context("");
    add_gateway_ports(t);  // a file does not list them
  }
  void write(YAML::Emitter& e, const Topology& t) const override {
    if (t.gateways.empty()) return;
    e << YAML::Key << "gateways" << YAML::Value << YAML::BeginSeq;
    for (const auto& g : t.gateways) emit_gateway(e, g);
    e << YAML::EndSeq;
  }
  void keep_unlisted(const Topology& from, Topology& to) const override {
    if (to.has_gateways) return;
    to.gateways = from.gateways;
    add_gateway_ports(to);  // the document's bridges do not list their ports
  }

  // Its port: the internal port of its bridge named after it; subnets and
  // forwarded host ports unique.
  // A scoped edit (ctl/scope.h) involves the gateways only through their ports.
  void check(const DocChecker& c) const override {
    const auto& gws = c.topology().gateways;
    if (c.scope().whole() ||
        std::any_of(gws.begin(), gws.end(), [&](const GatewaySpec& g) { return c.scope().has_port(g.name); }))
      check_gateways(c, c.topology());
  }

  // Their ports are ports of the plan like any other; the kernel side
  // (address, nftables, dnsmasq) follows the whole set of gateways.
  void plan(const Topology& cur, const Topology& next, PlanLines& lines, Plan& p) const override {
    if (!p.scope.whole()) return;  // a scoped edit changes ports and bridges only (ctl/scope.h)
    plan_named(
        cur.gateways, next.gateways, "gw",
        [](const GatewaySpec& a, const GatewaySpec& b) { return diff(gateway_fields(a), gateway_fields(b)); }, lines,
        &p.gateways_removed, &p.gateways_added, &p.gateways_changed);
  }

  std::string_view schema() const override {
    return "CREATE TABLE IF NOT EXISTS gateways(name TEXT PRIMARY KEY, position INTEGER NOT NULL, spec TEXT NOT "
           "NULL);\n";
  }
  std::vector<const char*> tables() const override { return {"gateways"}; }
  Status save(RowWriter& w, const Topology& t) const override {
    return save_spec_rows(w, "INSERT INTO gateways VALUES(?,?,?)", t.gateways, "gateway", gateway_to_yaml);
  }
  Status load(RowReader& r, Topology& t) const override {
    return load_spec_rows(r, "SELECT spec FROM gateways ORDER BY position", t.gateways, parse_gateway);
  }
};

}  // namespace

const ObjectType& gateway_type() {
  static const GatewayObjects kType;
  return kType;
}

std::string gateway_to_yaml(const GatewaySpec& g) {
  YAML::Emitter e;
  emit_gateway(e, g);
  return e.c_str();
}

Result<GatewaySpec> parse_gateway(const std::string& yaml) {
  return guarded("", [&] {
    DocReader reader("", "/");
    GatewaySpec g = read_gateway(reader, YAML::Load(yaml));
    g.line = g.col = 0;
    return g;
  });
}

}  // namespace kvnet::ctl
