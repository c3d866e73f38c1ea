#include "ctl/security.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <set>

#include "base/text.h"
#include "ctl/document.h"
#include "ctl/firewall_build.h"
#include "ctl/objects.h"
#include "ctl/plan.h"
#include "ctl/topology.h"
#include "net/bytes.h"

namespace kvnet::ctl {
namespace {

Result<long> number(const std::string& key, const std::string& v, long lo, long hi) {
  long n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || p != v.data() + v.size() || v.empty())
    return Error{key + " '" + v + "' is not a number"};
  if (n < lo || n > hi) return Error{key + " " + v + " is out of range " + std::to_string(lo) + "-" + std::to_string(hi)};
  return n;
}

// "10.0.0.5" -> "10.0.0.5/32", "fd00::/64" stays; the family through *v6.
Result<std::string> canonical_cidr(const std::string& text, bool* v6) {
  const auto slash = text.find('/');
  const std::string addr = text.substr(0, slash);
  unsigned char buf[16];
  bool is6 = false;
  if (has_control(text)) return Error{"'" + printable(text) + "' is not an IP address or CIDR"};  // NUL: not the end
  if (inet_pton(AF_INET, addr.c_str(), buf) == 1) is6 = false;
  else if (inet_pton(AF_INET6, addr.c_str(), buf) == 1) is6 = true;
  else return Error{"'" + text + "' is not an IP address or CIDR"};
  const long max = is6 ? 128 : 32;
  long len = max;
  if (slash != std::string::npos) {
    auto n = number("prefix length", text.substr(slash + 1), 0, max);
    if (!n) return Error{"'" + text + "': " + n.error().message};
    len = *n;
  }
  char out[INET6_ADDRSTRLEN];
  inet_ntop(is6 ? AF_INET6 : AF_INET, buf, out, sizeof out);
  if (v6) *v6 = is6;
  return std::string(out) + "/" + std::to_string(len);
}

}  // namespace

const char* to_string(SgDirection d) { return d == SgDirection::kIngress ? "ingress" : "egress"; }
const char* to_string(SgEtherType e) { return e == SgEtherType::kIpv4 ? "ipv4" : "ipv6"; }

std::string protocol_name(int p) {
  switch (p) {
    case kAnyProtocol: return "any";
    case kProtoIcmp: return "icmp";
    case kProtoTcp: return "tcp";
    case kProtoUdp: return "udp";
    case kProtoIcmpv6: return "icmpv6";
    default: return std::to_string(p);
  }
}

uint32_t SecurityGroupSpec::next_rule_id() const {
  uint32_t m = 0;
  for (const auto& r : rules) m = std::max(m, r.id);
  if (m < kMaxSgRuleId) return m + 1;
  auto used = [&](uint32_t id) {
    return std::any_of(rules.begin(), rules.end(), [&](const SgRule& r) { return r.id == id; });
  };
  uint32_t id = 1;
  while (used(id)) ++id;
  return id;
}

Result<SgRule> parse_sg_rule(const std::vector<std::pair<std::string, std::string>>& s) {
  SgRule r;
  bool has_direction = false, has_port = false;
  for (const auto& [k, v] : s) {
    if (k == "direction") {
      if (v == "ingress") r.direction = SgDirection::kIngress;
      else if (v == "egress") r.direction = SgDirection::kEgress;
      else return Error{"direction '" + v + "' is not ingress or egress"};
      has_direction = true;
    } else if (k == "ethertype") {
      if (v == "ipv4" || v == "IPv4") r.ethertype = SgEtherType::kIpv4;
      else if (v == "ipv6" || v == "IPv6") r.ethertype = SgEtherType::kIpv6;
      else return Error{"ethertype '" + v + "' is not ipv4 or ipv6"};
    } else if (k == "protocol") {
      if (v == "any") r.protocol = kAnyProtocol;
      else if (v == "tcp") r.protocol = kProtoTcp;
      else if (v == "udp") r.protocol = kProtoUdp;
      else if (v == "icmp") r.protocol = kProtoIcmp;
      else if (v == "icmpv6" || v == "ipv6-icmp") r.protocol = kProtoIcmpv6;
      else {
        auto n = number("protocol", v, 0, 255);
        if (!n) return Error{"protocol '" + v + "' is not tcp, udp, icmp, icmpv6, any or a number 0-255"};
        r.protocol = static_cast<int>(*n);
      }
    } else if (k == "port") {
      const auto dash = v.find('-');
      auto lo = number("port", v.substr(0, dash), 1, 65535);
      if (!lo) return lo.error();
      auto hi = dash == std::string::npos ? lo : number("port", v.substr(dash + 1), 1, 65535);
      if (!hi) return hi.error();
      if (*hi < *lo) return Error{"port range '" + v + "' ends before it starts"};
      r.port_min = static_cast<uint16_t>(*lo);
      r.port_max = static_cast<uint16_t>(*hi);
      has_port = true;
    } else if (k == "icmp_type" || k == "icmp_code") {
      auto n = number(k, v, 0, 255);
      if (!n) return n.error();
      (k == "icmp_type" ? r.icmp_type : r.icmp_code) = static_cast<int>(*n);
    } else if (k == "remote_ip") {
      auto c = canonical_cidr(v, nullptr);
      if (!c) return Error{"remote_ip " + c.error().message};
      r.remote_ip = *c;  // its family is checked against the ethertype below
    } else if (k == "remote_group") {
      r.remote_group = v;
    } else if (k == "id") {
      auto n = number("id", v, 1, kMaxSgRuleId);
      if (!n) return n.error();
      r.id = static_cast<uint32_t>(*n);
    } else {
      return Error{"'" + k + "' is not a rule key (direction, ethertype, protocol, port, icmp_type, icmp_code, "
                   "remote_ip, remote_group)"};
    }
  }
  if (!has_direction) return Error{"a rule needs a direction (ingress or egress)"};
  const bool l4 = r.protocol == kProtoTcp || r.protocol == kProtoUdp;
  const bool icmp = r.protocol == kProtoIcmp || r.protocol == kProtoIcmpv6;
  if (has_port && !l4) return Error{"'port' needs protocol tcp or udp"};
  if ((r.icmp_type >= 0 || r.icmp_code >= 0) && !icmp) return Error{"'icmp_type'/'icmp_code' need protocol icmp or icmpv6"};
  if (r.icmp_code >= 0 && r.icmp_type < 0) return Error{"'icmp_code' needs 'icmp_type'"};
  if (r.protocol == kProtoIcmp && r.ethertype == SgEtherType::kIpv6)
    return Error{"protocol icmp is IPv4's: use icmpv6 with ethertype ipv6"};
  if (r.protocol == kProtoIcmpv6 && r.ethertype == SgEtherType::kIpv4)
    return Error{"protocol icmpv6 needs ethertype ipv6"};
  if (!r.remote_ip.empty() && !r.remote_group.empty()) return Error{"give remote_ip or remote_group, not both"};
  if (!r.remote_ip.empty() && (r.remote_ip.find(':') != std::string::npos) != (r.ethertype == SgEtherType::kIpv6))
    return Error{"remote_ip " + r.remote_ip + " is not an " + to_string(r.ethertype) + " network (ethertype)"};
  return r;
}

Fields sg_rule_fields(const SgRule& r) {
  Fields f{{"direction", to_string(r.direction)}, {"ethertype", to_string(r.ethertype)}};
  if (r.protocol != kAnyProtocol) f.push_back({"protocol", protocol_name(r.protocol)});
  if (r.port_min)
    f.push_back({"port", r.port_min == r.port_max ? std::to_string(r.port_min)
                                                   : std::to_string(r.port_min) + "-" + std::to_string(r.port_max)});
  if (r.icmp_type >= 0) f.push_back({"icmp_type", std::to_string(r.icmp_type)});
  if (r.icmp_code >= 0) f.push_back({"icmp_code", std::to_string(r.icmp_code)});
  if (!r.remote_ip.empty()) f.push_back({"remote_ip", r.remote_ip});
  if (!r.remote_group.empty()) f.push_back({"remote_group", r.remote_group});
  return f;
}

std::string sg_rule_str(const SgRule& r) {
  std::string s = std::string(to_string(r.direction)) + " " + to_string(r.ethertype) + " " + protocol_name(r.protocol);
  for (const auto& f : sg_rule_fields(r))
    if (f.key != "direction" && f.key != "ethertype" && f.key != "protocol") s += " " + f.key + " " + f.value;
  return s;
}

std::vector<SgRule> default_sg_rules() {
  SgRule v4, v6;
  v4.id = 1;
  v4.direction = SgDirection::kEgress;
  v6.id = 2;
  v6.direction = SgDirection::kEgress;
  v6.ethertype = SgEtherType::kIpv6;
  return {v4, v6};
}

Result<AllowedAddress> parse_allowed_address(const std::string& text) {
  AllowedAddress a;
  std::string rest = text;
  // A leading MAC: six hex pairs, then ':' and the address.
  if (text.size() > 18 && text[17] == ':') {
    if (auto m = net::Mac::parse(text.substr(0, 17))) {
      if (m->is_multicast() || m->is_zero())
        return Error{"allowed address '" + text + "': " + m->str() + " is not a unicast MAC"};
      a.mac = m->str();
      rest = text.substr(18);
    }
  }
  auto c = canonical_cidr(rest, nullptr);
  if (!c) return Error{"allowed address '" + text + "' is not MAC:IP, MAC:CIDR, IP or CIDR"};
  a.cidr = *c;
  return a;
}

std::string allowed_address_str(const AllowedAddress& a) { return a.mac.empty() ? a.cidr : a.mac + ":" + a.cidr; }

// ------------------------------------------------------------ conntrack timeouts

namespace {

struct TimeoutField {
  std::string_view name;
  uint64_t dp::ConntrackTimeouts::*member;
};
constexpr TimeoutField kTimeoutFields[] = {
    {"tcp_syn_sent", &dp::ConntrackTimeouts::tcp_syn_sent_ns},
    {"tcp_syn_recv", &dp::ConntrackTimeouts::tcp_syn_recv_ns},
    {"tcp_established", &dp::ConntrackTimeouts::tcp_established_ns},
    {"tcp_fin_wait", &dp::ConntrackTimeouts::tcp_fin_wait_ns},
    {"tcp_close_wait", &dp::ConntrackTimeouts::tcp_close_wait_ns},
    {"tcp_last_ack", &dp::ConntrackTimeouts::tcp_last_ack_ns},
    {"tcp_time_wait", &dp::ConntrackTimeouts::tcp_time_wait_ns},
    {"tcp_close", &dp::ConntrackTimeouts::tcp_close_ns},
    {"udp", &dp::ConntrackTimeouts::udp_unreplied_ns},
    {"udp_stream", &dp::ConntrackTimeouts::udp_replied_ns},
    {"icmp", &dp::ConntrackTimeouts::icmp_ns},
    {"generic", &dp::ConntrackTimeouts::other_ns},
};

}  // namespace

Status set_conntrack_timeout(dp::ConntrackTimeouts& t, std::string_view name, int64_t seconds) {
  for (const auto& f : kTimeoutFields) {
    if (f.name != name) continue;
    if (seconds < 1 || seconds > kMaxConntrackTimeoutSec)
      return Error{"conntrack timeout '" + std::string(name) + "' must be 1-" +
                   std::to_string(kMaxConntrackTimeoutSec) + " seconds"};
    t.*f.member = static_cast<uint64_t>(seconds) * dp::kSecondNs;
    return Ok{};
  }
  std::string names;
  for (const auto& f : kTimeoutFields) names += (names.empty() ? "" : ", ") + std::string(f.name);
  return Error{"conntrack timeout '" + std::string(name) + "' is unknown (" + names + ")"};
}

Result<dp::ConntrackTimeouts> parse_conntrack_timeouts(std::string_view text) {
  dp::ConntrackTimeouts t;
  while (!text.empty()) {
    const auto comma = text.find(',');
    const std::string item(text.substr(0, comma));
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
    if (item.empty()) continue;
    const auto colon = item.find(':');
    if (colon == std::string::npos)
      return Error{"conntrack timeout '" + item + "' must be NAME:SECONDS, e.g. udp:30"};
    const std::string name = item.substr(0, colon), value = item.substr(colon + 1);
    int64_t v = 0;
    auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
    if (ec != std::errc{} || ptr != value.data() + value.size() || value.empty())
      return Error{"conntrack timeout '" + name + "': '" + value + "' is not a number of seconds"};
    if (auto s = set_conntrack_timeout(t, name, v); !s) return s.error();
  }
  return t;
}

std::string conntrack_timeouts_str(const dp::ConntrackTimeouts& t) {
  std::string out;
  for (const auto& [name, sec] : conntrack_timeout_values(t, true))
    out += (out.empty() ? "" : ",") + std::string(name) + ":" + std::to_string(sec);
  return out;
}

std::vector<std::pair<std::string_view, uint64_t>> conntrack_timeout_values(const dp::ConntrackTimeouts& t,
                                                                            bool changed_only) {
  const dp::ConntrackTimeouts d;
  std::vector<std::pair<std::string_view, uint64_t>> out;
  for (const auto& f : kTimeoutFields)
    if (!changed_only || t.*f.member != d.*f.member) out.emplace_back(f.name, t.*f.member / dp::kSecondNs);
  return out;
}


// ------------------------------------------------------------ the object type

namespace {

SecurityGroupSpec read_sg(DocReader& r, const YAML::Node& n) {
  SecurityGroupSpec g;
  g.name = r.named_object(n, "security group", {"name", "description", "rules"});
  const Loc loc = loc_of(n);
  g.line = loc.line;
  g.col = loc.col;
  if (n["description"]) g.description = r.scalar(n["description"], "description");
  if (n["rules"]) {
    if (!n["rules"].IsSequence()) r.fail(n["rules"], "'rules' must be a list");
    for (const auto& rn : n["rules"]) {
      if (!rn.IsMap()) r.fail(rn, "a rule must be a mapping");
      Settings st;
      for (const auto& kv : rn) st.emplace_back(r.scalar(kv.first, "key"), r.scalar(kv.second, r.scalar(kv.first, "key")));
      auto rule = parse_sg_rule(st);
      if (!rule) r.fail(rn, "rule " + std::to_string(g.rules.size() + 1) + ": " + rule.error().message);
      for (const auto& o : g.rules)
        if (rule->id != 0 && o.id == rule->id) r.fail(rn, "rule id " + std::to_string(rule->id) + " is used twice");
      g.rules.push_back(*rule);
    }
    // A rule without an id takes the next after the rules before it, skipping
    // the ids the file gives (later rules' too), within 1-kMaxSgRuleId.
    auto used = [&](uint32_t id) {
      return std::any_of(g.rules.begin(), g.rules.end(), [&](const SgRule& o) { return o.id == id; });
    };
    for (size_t i = 0; i < g.rules.size(); ++i) {
      if (g.rules[i].id != 0) continue;
      uint32_t id = 0;
      for (size_t j = 0; j < i; ++j) id = std::max(id, g.rules[j].id);
      do {
        ++id;
      } while (used(id));
      if (id > kMaxSgRuleId) {
        id = 1;
        while (used(id)) ++id;
      }
      g.rules[i].id = id;
    }
  }
  return g;
}

void emit_sg(YAML::Emitter& e, const SecurityGroupSpec& g) {
  e << YAML::BeginMap << YAML::Key << "name" << YAML::Value << g.name;
  if (!g.description.empty()) e << YAML::Key << "description" << YAML::Value << YAML::DoubleQuoted << g.description;
  e << YAML::Key << "rules" << YAML::Value;
  if (g.rules.empty()) e << YAML::Flow;
  e << YAML::BeginSeq;
  for (const auto& r : g.rules) {
    e << YAML::Flow << YAML::BeginMap << YAML::Key << "id" << YAML::Value << r.id;
    for (const auto& f : sg_rule_fields(r)) {
      e << YAML::Key << f.key << YAML::Value;
      if (f.key == "port") e << YAML::DoubleQuoted;
      e << f.value;
    }
    e << YAML::EndMap;
  }
  e << YAML::EndSeq << YAML::EndMap;
}

void check_groups(const DocChecker& c, const Topology& t) {
  std::set<std::string> names;
  // A scoped edit changes no group (ctl/scope.h): only its ports' references.
  for (const auto& g : t.security_groups) {
    if (!c.scope().whole()) break;
    const Loc loc{g.line, g.col};
    if (!names.insert(g.name).second) c.fail(loc, "", "duplicate security group name '" + g.name + "'");
    for (const auto& r : g.rules)
      if (!r.remote_group.empty() && !t.find_group(r.remote_group))
        c.fail(loc, "security group '" + g.name + "': ",
               "rule " + std::to_string(r.id) + ": remote_group '" + r.remote_group + "' does not exist");
  }
  for (const auto& b : t.bridges) {
    if (!c.scope().touches_bridge(b.name)) continue;
    for (const auto& p : b.ports) {
      if (p.security.empty() || !c.scope().has_port(p.name)) continue;
      const std::string ctx = "bridge '" + b.name + "': port '" + p.name + "': ";
      for (const auto& g : p.security.groups)
        if (!t.find_group(g)) c.fail(p.loc, ctx, "security group '" + g + "' does not exist");
      // Port security compares sources with the endpoint's MAC, which kvnet
      // always knows (a VM NIC's and a container's are set by kvnet). A port
      // without an endpoint, an interface kvnet did not create, has only the
      // MACs its allowed addresses name.
      if (!p.security.port_security || !endpoint_mac(t, p.name).empty()) continue;
      // A MAC-less allowed address goes with the MACs the others name; with none
      // named, it would allow nothing.
      const bool named = std::any_of(p.security.allowed.begin(), p.security.allowed.end(),
                                     [](const AllowedAddress& a) { return !a.mac.empty(); });
      if (!named && !p.security.allowed.empty())
        c.fail(p.loc, ctx,
               "allowed address '" + allowed_address_str(p.security.allowed[0]) +
                   "' has no MAC and the port has no endpoint whose MAC kvnet knows: write it as MAC:" +
                   allowed_address_str(p.security.allowed[0]));
    }
  }
}

std::string rules_text(const SecurityGroupSpec& g) {
  std::string out;
  for (const auto& r : g.rules) out += (out.empty() ? "" : "; ") + std::to_string(r.id) + ": " + sg_rule_str(r);
  return out;
}

class SgObjects final : public ObjectType {
 public:
  std::string_view name() const override { return "sg"; }
  std::string_view section() const override { return "security_groups"; }

  void read(DocReader& r, const YAML::Node& list, Topology& t) const override {
    t.has_security_groups = true;
    r.list(list, "security_groups");
    for (const auto& gn : list) t.security_groups.push_back(read_sg(r, gn));
  }
  void write(YAML::Emitter& e, const Topology& t) const override {
    if (t.security_groups.empty()) return;
    e << YAML::Key << "security_groups" << YAML::Value << YAML::BeginSeq;
    for (const auto& g : t.security_groups) emit_sg(e, g);
    e << YAML::EndSeq;
  }
  void keep_unlisted(const Topology& from, Topology& to) const override {
    if (!to.has_security_groups) to.security_groups = from.security_groups;
  }

  // Remote groups and ports' groups exist; port security knows the MACs it
  // compares with.
  void check(const DocChecker& c) const override { check_groups(c, c.topology()); }

  // A changed group lists its rules as they were and are. Their rules reach
  // the datapath with the ports that use them.
  void plan(const Topology& cur, const Topology& next, PlanLines& lines, Plan& p) const override {
    if (!p.scope.whole()) return;  // a scoped edit changes ports and bridges only (ctl/scope.h)
    plan_named(
        cur.security_groups, next.security_groups, "sg",
        [](const SecurityGroupSpec& og, const SecurityGroupSpec& g) {
          std::vector<KeyChange> keys;
          if (og.description != g.description) keys.push_back({"description", og.description, g.description});
          if (og.rules != g.rules) keys.push_back({"rules", rules_text(og), rules_text(g)});
          return keys;
        },
        lines, &p.groups_removed, &p.groups_added, &p.groups_changed);
  }

  std::string_view schema() const override {
    return "CREATE TABLE IF NOT EXISTS security_groups(name TEXT PRIMARY KEY, position INTEGER NOT NULL, spec TEXT NOT "
           "NULL);\n";
  }
  std::vector<const char*> tables() const override { return {"security_groups"}; }
  Status save(RowWriter& w, const Topology& t) const override {
    return save_spec_rows(w, "INSERT INTO security_groups VALUES(?,?,?)", t.security_groups, "security group",
                          sg_to_yaml);
  }
  Status load(RowReader& r, Topology& t) const override {
    return load_spec_rows(r, "SELECT spec FROM security_groups ORDER BY position", t.security_groups, parse_sg);
  }
};

}  // namespace

const ObjectType& sg_type() {
  static const SgObjects kType;
  return kType;
}

std::string sg_to_yaml(const SecurityGroupSpec& g) {
  YAML::Emitter e;
  e << YAML::Flow;
  emit_sg(e, g);
  return e.c_str();
}

Result<SecurityGroupSpec> parse_sg(const std::string& yaml) {
  return guarded("", [&] {
    DocReader reader("", "/");
    SecurityGroupSpec g = read_sg(reader, YAML::Load(yaml));
    g.line = g.col = 0;
    return g;
  });
}

}  // namespace kvnet::ctl
