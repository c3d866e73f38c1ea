#include "dp/flow_text.h"

#include <arpa/inet.h>

#include <cctype>
#include <charconv>
#include <cstdio>
#include <vector>

#include "base/text.h"

namespace kvnet::dp {
namespace {

// Splits at commas outside parentheses.
std::vector<std::string_view> split_top(std::string_view s) {
  std::vector<std::string_view> out;
  int depth = 0;
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '(') ++depth;
    else if (s[i] == ')' && depth > 0) --depth;
    else if (s[i] == ',' && depth == 0) {
      out.push_back(trim(s.substr(start, i - start)));
      start = i + 1;
    }
  }
  out.push_back(trim(s.substr(start)));
  return out;
}

// A number, decimal or 0x-hex, at most `max`.
std::optional<uint64_t> number(std::string_view s, uint64_t max) {
  s = trim(s);
  int base = 10;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    s.remove_prefix(2);
    base = 16;
  }
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || v > max) return std::nullopt;
  return v;
}

std::string hex(uint64_t v, int width = 0) {
  char b[24];
  std::snprintf(b, sizeof b, "0x%0*llx", width, static_cast<unsigned long long>(v));
  return b;
}

std::string ipv4(uint32_t a) {
  char b[16];
  std::snprintf(b, sizeof b, "%u.%u.%u.%u", a >> 24, a >> 16 & 255, a >> 8 & 255, a & 255);
  return b;
}

std::optional<uint32_t> parse_ipv4(std::string_view s) {
  in_addr a{};
  const std::string t(s);
  if (inet_pton(AF_INET, t.c_str(), &a) != 1) return std::nullopt;
  return ntohl(a.s_addr);
}

int prefix_of(uint64_t mask, int bits) {  // -1 if not a prefix
  int n = 0;
  while (n < bits && (mask >> (bits - 1 - n) & 1)) ++n;
  const uint64_t want = n == 0 ? 0 : (bits == 64 && n == 64 ? ~uint64_t{0} : ((uint64_t{1} << n) - 1) << (bits - n));
  return mask == want ? n : -1;
}

struct Err {
  std::string msg;
};

class Parser {
 public:
  Parser(const FlowPorts& ports, FlowTextMode mode) : ports_(ports), mode_(mode) {}

  ParsedFlow run(std::string_view text) {
    text = trim(text);
    std::string_view actions;
    bool has_actions = false;
    if (auto a = text.find("actions="); a != std::string_view::npos) {
      actions = text.substr(a + 8);
      text = trim(text.substr(0, a));
      if (!text.empty() && text.back() == ',') text.remove_suffix(1);
      has_actions = true;
    } else if (auto b = text.find("apply_actions("); b != std::string_view::npos) {
      fail("apply_actions(...) is not taken: write actions=...");
    }
    if (!text.empty())
      for (std::string_view item : split_top(text)) field(item);
    check_prerequisites();
    if (mode_ == FlowTextMode::kDelete) {
      if (has_actions) fail("del-flows takes a match, not actions");
    } else {
      if (!has_actions) fail("a flow needs actions=... (actions=drop to drop)");
      p_.flow.actions = actions_of(actions);
    }
    return p_;
  }

  std::vector<FlowAction> actions_of(std::string_view text) {
    std::vector<FlowAction> out;
    text = trim(text);
    if (text.empty()) fail("actions= is empty (actions=drop to drop)");
    const auto items = split_top(text);
    for (size_t i = 0; i < items.size(); ++i) {
      const std::string_view a = items[i];
      if (a == "drop") {
        if (items.size() > 1) fail("'drop' must be the only action");
        return {};
      }
      out.push_back(action(a));
      if (out.back().type == ActionType::kGotoTable && i + 1 != items.size()) fail("goto_table must be the last action");
    }
    return out;
  }

 private:
  [[noreturn]] void fail(const std::string& m) { throw Err{m}; }

  uint32_t port(std::string_view s, const char* what) {
    s = trim(s);
    if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
    if (auto n = number(s, 0xffffffff)) {
      if (!ports_.id_of_number) return static_cast<uint32_t>(*n);
      if (auto id = ports_.id_of_number(static_cast<uint32_t>(*n))) return *id;
      fail(std::string(what) + ": port number " + std::string(s) + " is not a port of this bridge");
    }
    if (ports_.id)
      if (auto id = ports_.id(s)) return *id;
    fail(std::string(what) + ": port '" + std::string(s) + "' does not exist on this bridge");
  }

  uint64_t num(std::string_view key, std::string_view v, uint64_t max) {
    auto n = number(v, max);
    if (!n) fail(std::string(key) + "=" + std::string(v) + ": not a number of 0-" + std::to_string(max));
    return *n;
  }

  // VALUE or VALUE/MASK (numbers).
  std::pair<uint64_t, uint64_t> masked(std::string_view key, std::string_view v, uint64_t max) {
    if (auto slash = v.find('/'); slash != std::string_view::npos)
      return {num(key, v.substr(0, slash), max), num(key, v.substr(slash + 1), max)};
    return {num(key, v, max), max};
  }

  std::pair<uint64_t, uint64_t> mac(std::string_view key, std::string_view v) {
    std::string_view m = v, mm;
    if (auto slash = v.find('/'); slash != std::string_view::npos) {
      m = v.substr(0, slash);
      mm = v.substr(slash + 1);
    }
    auto a = net::Mac::parse(m);
    if (!a) fail(std::string(key) + "=" + std::string(v) + ": not a MAC address");
    uint64_t mask = 0xffffffffffff;
    if (!mm.empty()) {
      auto b = net::Mac::parse(mm);
      if (!b) fail(std::string(key) + "=" + std::string(v) + ": the mask is not a MAC address");
      mask = b->u64();
    }
    return {a->u64(), mask};
  }

  std::pair<uint64_t, uint64_t> ip4(std::string_view key, std::string_view v) {
    std::string_view a = v, m;
    if (auto slash = v.find('/'); slash != std::string_view::npos) {
      a = v.substr(0, slash);
      m = v.substr(slash + 1);
    }
    auto addr = parse_ipv4(a);
    if (!addr) fail(std::string(key) + "=" + std::string(v) + ": not an IPv4 address");
    uint64_t mask = 0xffffffff;
    if (!m.empty()) {
      if (auto len = number(m, 32); len && m.find('.') == std::string_view::npos) {
        mask = *len == 0 ? 0 : (0xffffffffull << (32 - *len)) & 0xffffffff;
      } else if (auto dotted = parse_ipv4(m)) {
        mask = *dotted;
      } else {
        fail(std::string(key) + "=" + std::string(v) + ": the mask is not a prefix length or an address");
      }
    }
    return {*addr, mask};
  }

  void ip6(MatchField f, std::string_view key, std::string_view v) {
    std::string_view a = v;
    int len = 128;
    if (auto slash = v.find('/'); slash != std::string_view::npos) {
      a = v.substr(0, slash);
      auto n = number(v.substr(slash + 1), 128);
      if (!n) fail(std::string(key) + "=" + std::string(v) + ": the prefix is not 0-128");
      len = static_cast<int>(*n);
    }
    in6_addr x{};
    const std::string t(a);
    if (inet_pton(AF_INET6, t.c_str(), &x) != 1) fail(std::string(key) + "=" + std::string(v) + ": not an IPv6 address");
    uint64_t hi = 0, lo = 0;
    for (int i = 0; i < 8; ++i) hi = hi << 8 | x.s6_addr[i];
    for (int i = 8; i < 16; ++i) lo = lo << 8 | x.s6_addr[i];
    const uint64_t mhi = len >= 64 ? ~uint64_t{0} : len == 0 ? 0 : ~uint64_t{0} << (64 - len);
    const uint64_t mlo = len <= 64 ? 0 : len == 128 ? ~uint64_t{0} : ~uint64_t{0} << (128 - len);
    p_.flow.match.set128(f, hi, lo, mhi, mlo);
  }

  void shorthand(uint16_t type, int proto) {
    p_.flow.match.set(MatchField::kDlType, type, 0xffff);
    if (proto >= 0) p_.flow.match.set(MatchField::kNwProto, static_cast<uint64_t>(proto), 0xff);
  }

  void field(std::string_view item) {
    if (item.empty()) fail("an empty field (two commas?)");
    const size_t eq = item.find('=');
    const std::string_view key = trim(item.substr(0, eq));
    const std::string_view v = eq == std::string_view::npos ? std::string_view{} : trim(item.substr(eq + 1));
    FlowMatch& m = p_.flow.match;
    if (eq == std::string_view::npos) {
      if (key == "ip") return shorthand(0x0800, -1);
      if (key == "ipv6") return shorthand(0x86dd, -1);
      if (key == "arp") return shorthand(0x0806, -1);
      if (key == "tcp") return shorthand(0x0800, 6);
      if (key == "udp") return shorthand(0x0800, 17);
      if (key == "sctp") return shorthand(0x0800, 132);
      if (key == "icmp") return shorthand(0x0800, 1);
      if (key == "tcp6") return shorthand(0x86dd, 6);
      if (key == "udp6") return shorthand(0x86dd, 17);
      if (key == "icmp6") return shorthand(0x86dd, 58);
      fail("'" + std::string(key) + "' is not a field kvnet takes (a FIELD=VALUE, or ip, ipv6, arp, tcp, udp, sctp, icmp, tcp6, udp6, icmp6)");
    }
    if (v.empty()) fail(std::string(key) + "= has no value");
    if (key == "table") {
      p_.flow.table = static_cast<uint8_t>(num(key, v, kFlowTables - 1));
      p_.has_table = true;
    } else if (key == "priority") {
      p_.flow.priority = static_cast<uint16_t>(num(key, v, 65535));
      p_.has_priority = true;
    } else if (key == "cookie") {
      if (auto slash = v.find('/'); slash != std::string_view::npos) {
        if (mode_ == FlowTextMode::kAdd) fail("add-flow takes a cookie, not cookie/mask");
        p_.flow.cookie = num(key, v.substr(0, slash), ~uint64_t{0});
        const std::string_view mk = v.substr(slash + 1);
        p_.cookie_mask = mk == "-1" ? ~uint64_t{0} : num(key, mk, ~uint64_t{0});
      } else {
        p_.flow.cookie = num(key, v, ~uint64_t{0});
        p_.cookie_mask = ~uint64_t{0};
      }
    } else if (key == "idle_timeout" || key == "hard_timeout") {
      (key == "idle_timeout" ? p_.flow.idle_timeout : p_.flow.hard_timeout) = static_cast<uint16_t>(num(key, v, 65535));
    } else if (key == "out_port") {
      if (mode_ != FlowTextMode::kDelete) fail("out_port selects flows to delete: del-flows only");
      p_.out_port = port(v, "out_port");
    } else if (key == "in_port") {
      m.set(MatchField::kInPort, port(v, "in_port"), 0xffffffff);
    } else if (key == "dl_src" || key == "dl_dst") {
      auto [a, mk] = mac(key, v);
      m.set(key == "dl_src" ? MatchField::kDlSrc : MatchField::kDlDst, a, mk);
    } else if (key == "dl_type" || key == "eth_type") {
      m.set(MatchField::kDlType, num(key, v, 0xffff), 0xffff);
    } else if (key == "dl_vlan") {
      const uint64_t vid = num(key, v, 0xffff);
      uint64_t tv = m.get(MatchField::kVlanTci), tm = m.get_mask(MatchField::kVlanTci);
      if (vid == 0xffff) {
        tv = 0;
        tm = 0xffff;
      } else {
        if (vid > 4095) fail("dl_vlan=" + std::string(v) + ": a VLAN is 0-4095 (0xffff: no tag)");
        tv = (tv & 0xe000) | kVlanPresent | vid;
        tm |= 0x1fff;
      }
      m.set(MatchField::kVlanTci, tv, tm);
    } else if (key == "dl_vlan_pcp") {
      const uint64_t pcp = num(key, v, 7);
      m.set(MatchField::kVlanTci, (m.get(MatchField::kVlanTci) & 0x0fff) | kVlanPresent | pcp << 13,
            m.get_mask(MatchField::kVlanTci) | 0xf000);
    } else if (key == "vlan_tci") {
      auto [tv, tm] = masked(key, v, 0xffff);
      m.set(MatchField::kVlanTci, tv, tm);
    } else if (key == "nw_src" || key == "nw_dst" || key == "arp_spa" || key == "arp_tpa") {
      auto [a, mk] = ip4(key, v);
      m.set(key == "nw_src" || key == "arp_spa" ? MatchField::kNwSrc : MatchField::kNwDst, a, mk);
      if (key.starts_with("arp")) arp_fields_ = true;
      else nw_fields_ = true;
    } else if (key == "nw_proto" || key == "ip_proto") {
      m.set(MatchField::kNwProto, num(key, v, 255), 0xff);
    } else if (key == "arp_op") {
      m.set(MatchField::kNwProto, num(key, v, 255), 0xff);
      arp_fields_ = true;
    } else if (key == "nw_tos") {
      const uint64_t tos = num(key, v, 255);
      if (tos & 3) fail("nw_tos=" + std::string(v) + ": the ToS byte's low 2 bits (ECN) must be 0");
      m.set(MatchField::kNwTos, tos, 0xfc);
      ip_fields_ = true;
    } else if (key == "tp_src" || key == "tp_dst" || key == "tcp_src" || key == "tcp_dst" || key == "udp_src" ||
               key == "udp_dst") {
      auto [a, mk] = masked(key, v, 0xffff);
      m.set(key.ends_with("src") ? MatchField::kTpSrc : MatchField::kTpDst, a, mk);
      tp_fields_ = true;
    } else if (key == "icmp_type" || key == "icmp_code" || key == "icmpv6_type" || key == "icmpv6_code") {
      m.set(key.ends_with("type") ? MatchField::kTpSrc : MatchField::kTpDst, num(key, v, 255), 0xffff);
      icmp_fields_ = true;
    } else if (key == "ipv6_src" || key == "ipv6_dst") {
      ip6(key == "ipv6_src" ? MatchField::kIpv6Src : MatchField::kIpv6Dst, key, v);
      ip6_fields_ = true;
    } else if (key == "tun_id" || key == "tunnel_id") {
      auto [a, mk] = masked(key, v, ~uint64_t{0});
      m.set(MatchField::kTunId, a, mk);
    } else if (key == "dl_vlan_tci" || key == "metadata" || key.starts_with("reg") || key == "ct_state" ||
               key.starts_with("nd_") || key == "mpls_label" || key == "tun_src" || key == "tun_dst") {
      fail("field '" + std::string(key) + "' is not supported by kvnet's flow tables");
    } else {
      fail("'" + std::string(key) + "' is not a field kvnet takes");
    }
  }

  void check_prerequisites() {
    const FlowMatch& m = p_.flow.match;
    const bool has_type = m.get_mask(MatchField::kDlType) == 0xffff;
    const uint64_t type = m.get(MatchField::kDlType);
    const bool has_proto = m.get_mask(MatchField::kNwProto) == 0xff;
    const uint64_t proto = m.get(MatchField::kNwProto);
    const bool ip = has_type && type == 0x0800, ip6 = has_type && type == 0x86dd, arp = has_type && type == 0x0806;
    if (arp_fields_ && !arp) fail("arp_spa, arp_tpa and arp_op need arp (dl_type=0x0806)");
    if (nw_fields_ && !ip && !arp) fail("nw_src and nw_dst need ip or arp (dl_type=0x0800 or 0x0806)");
    if (m.has(MatchField::kNwProto) && !ip && !ip6 && !arp) fail("nw_proto needs ip, ipv6 or arp");
    if (ip_fields_ && !ip && !ip6) fail("nw_tos needs ip or ipv6");
    if (ip6_fields_ && !ip6) fail("ipv6_src and ipv6_dst need ipv6 (dl_type=0x86dd)");
    if (tp_fields_ && !((ip || ip6) && has_proto && (proto == 6 || proto == 17 || proto == 132)))
      fail("tp_src and tp_dst need tcp, udp or sctp (or their IPv6 forms)");
    if (icmp_fields_ && !((ip && has_proto && proto == 1) || (ip6 && has_proto && proto == 58)))
      fail("icmp_type and icmp_code need icmp or icmp6");
  }

  FlowAction action(std::string_view a) {
    auto arg_of = [&](std::string_view name) -> std::optional<std::string_view> {
      if (a.starts_with(name) && a.size() > name.size() && a[name.size()] == ':') return trim(a.substr(name.size() + 1));
      return std::nullopt;
    };
    if (a == "NORMAL" || a == "normal") return {ActionType::kNormal};
    if (a == "FLOOD" || a == "flood") return {ActionType::kFlood};
    if (a == "ALL" || a == "all") return {ActionType::kAll};
    if (a == "IN_PORT" || a == "in_port") return {ActionType::kInPort};
    if (a == "strip_vlan" || a == "pop_vlan") return {ActionType::kStripVlan};
    if (auto v = arg_of("output")) return {ActionType::kOutput, port(*v, "output")};
    if (auto v = arg_of("mod_vlan_vid")) return {ActionType::kModVlanVid, num("mod_vlan_vid", *v, 4095)};
    if (auto v = arg_of("mod_vlan_pcp")) return {ActionType::kModVlanPcp, num("mod_vlan_pcp", *v, 7)};
    if (auto v = arg_of("push_vlan")) {
      const uint64_t t = num("push_vlan", *v, 0xffff);
      if (t != 0x8100 && t != 0x88a8) fail("push_vlan:" + std::string(*v) + ": the ethertype is 0x8100 or 0x88a8");
      return {ActionType::kPushVlan, t};
    }
    if (auto v = arg_of("mod_dl_src")) return {ActionType::kModDlSrc, mac("mod_dl_src", *v).first};
    if (auto v = arg_of("mod_dl_dst")) return {ActionType::kModDlDst, mac("mod_dl_dst", *v).first};
    if (auto v = arg_of("goto_table")) return {ActionType::kGotoTable, num("goto_table", *v, kFlowTables - 1)};
    if (auto v = arg_of("set_field")) {
      const auto arrow = v->find("->");
      if (arrow == std::string_view::npos) fail("set_field:" + std::string(*v) + ": write set_field:VALUE->FIELD");
      const std::string_view field = trim(v->substr(arrow + 2));
      if (field != "tun_id" && field != "tunnel_id")
        fail("set_field:...->" + std::string(field) + " is not supported by kvnet (set_field:N->tun_id is)");
      return {ActionType::kSetTunId, num("set_field", v->substr(0, arrow), ~uint64_t{0})};
    }
    if (auto v = arg_of("resubmit")) return {ActionType::kResubmit, p_.flow.table, port(*v, "resubmit")};
    if (a.starts_with("resubmit(") && a.ends_with(")")) {
      const std::string_view in = a.substr(9, a.size() - 10);
      const auto comma = in.find(',');
      if (comma == std::string_view::npos) fail("resubmit(" + std::string(in) + "): write resubmit(PORT,TABLE) or resubmit(,TABLE)");
      const std::string_view p = trim(in.substr(0, comma)), t = trim(in.substr(comma + 1));
      if (in.find(',', comma + 1) != std::string_view::npos) fail("resubmit(...): ct and other options are not supported");
      const uint32_t port_id = p.empty() ? kResubmitInPort : port(p, "resubmit");
      const uint64_t table = t.empty() ? p_.flow.table : num("resubmit", t, kFlowTables - 1);
      return {ActionType::kResubmit, table, port_id};
    }
    if (!a.empty() && std::isdigit(static_cast<unsigned char>(a[0]))) return {ActionType::kOutput, port(a, "output")};
    if (ports_.id && ports_.id(a)) return {ActionType::kOutput, *ports_.id(a)};
    fail("action '" + std::string(a) +
         "' is not supported by kvnet (output, NORMAL, FLOOD, ALL, IN_PORT, drop, mod_vlan_vid, mod_vlan_pcp, strip_vlan, "
         "push_vlan, mod_dl_src, mod_dl_dst, set_field:N->tun_id, resubmit, goto_table)");
  }

  const FlowPorts& ports_;
  FlowTextMode mode_;
  ParsedFlow p_;
  bool arp_fields_ = false, nw_fields_ = false, ip_fields_ = false, ip6_fields_ = false, tp_fields_ = false,
       icmp_fields_ = false;
};

std::string port_text(uint32_t id, const FlowPorts& ports) {
  if (id == kResubmitInPort) return "";
  if (ports.name) {
    const std::string n = ports.name(id);
    if (!n.empty()) return n;
  }
  return std::to_string(ports.number_of_id ? ports.number_of_id(id) : id);
}

std::string mac_text(uint64_t v, uint64_t m) {
  std::string s = net::Mac::from_u64(v).str();
  if (m != 0xffffffffffff) s += "/" + net::Mac::from_u64(m).str();
  return s;
}

std::string ip4_text(uint64_t v, uint64_t m) {
  std::string s = ipv4(static_cast<uint32_t>(v));
  if (m == 0xffffffff) return s;
  const int len = prefix_of(m, 32);
  return s + "/" + (len >= 0 ? std::to_string(len) : ipv4(static_cast<uint32_t>(m)));
}

std::string ip6_text(const FlowMatch& m, MatchField f) {
  const int w = f == MatchField::kIpv6Src ? 5 : 7;
  in6_addr x{};
  for (int i = 0; i < 8; ++i) {
    x.s6_addr[i] = static_cast<uint8_t>(m.value.w[static_cast<size_t>(w)] >> (56 - 8 * i));
    x.s6_addr[8 + i] = static_cast<uint8_t>(m.value.w[static_cast<size_t>(w + 1)] >> (56 - 8 * i));
  }
  char b[INET6_ADDRSTRLEN];
  inet_ntop(AF_INET6, &x, b, sizeof b);
  const uint64_t hi = m.mask.w[static_cast<size_t>(w)], lo = m.mask.w[static_cast<size_t>(w + 1)];
  int len = prefix_of(hi, 64);
  if (len == 64) {
    const int l2 = prefix_of(lo, 64);
    len = l2 < 0 ? -1 : 64 + l2;
  } else if (lo != 0) {
    len = -1;
  }
  std::string s = b;
  if (len == 128) return s;
  return s + "/" + (len >= 0 ? std::to_string(len) : "?");
}

}  // namespace

Result<ParsedFlow> parse_flow_text(std::string_view text, const FlowPorts& ports, FlowTextMode mode) {
  try {
    Parser p(ports, mode);
    return p.run(text);
  } catch (const Err& e) {
    return Error{e.msg};
  }
}

Result<std::vector<FlowAction>> parse_actions_text(std::string_view text, const FlowPorts& ports) {
  try {
    Parser p(ports, FlowTextMode::kAdd);
    return p.actions_of(text);
  } catch (const Err& e) {
    return Error{e.msg};
  }
}

std::string match_text(const FlowMatch& m, const FlowPorts& ports) {
  std::vector<std::string> out;
  const bool has_type = m.get_mask(MatchField::kDlType) == 0xffff;
  const uint64_t type = m.get(MatchField::kDlType);
  const bool has_proto = m.get_mask(MatchField::kNwProto) == 0xff;
  const uint64_t proto = m.get(MatchField::kNwProto);
  const bool arp = has_type && type == 0x0806;
  const bool icmp = has_type && has_proto && ((type == 0x0800 && proto == 1) || (type == 0x86dd && proto == 58));
  bool proto_shown = false;
  if (has_type) {
    const char* name = nullptr;
    if (type == 0x0800 || type == 0x86dd) {
      const bool v6 = type == 0x86dd;
      if (!has_proto) name = v6 ? "ipv6" : "ip";
      else if (proto == 6) name = v6 ? "tcp6" : "tcp";
      else if (proto == 17) name = v6 ? "udp6" : "udp";
      else if (proto == 132) name = v6 ? "sctp6" : "sctp";
      else if (proto == 1 && !v6) name = "icmp";
      else if (proto == 58 && v6) name = "icmp6";
      else name = v6 ? "ipv6" : "ip";
      proto_shown = has_proto && std::string_view(name) != "ip" && std::string_view(name) != "ipv6";
    } else if (arp) {
      name = "arp";
    }
    if (name) out.emplace_back(name);
    else out.push_back("dl_type=" + hex(type, 4));
  }
  if (m.has(MatchField::kInPort)) out.push_back("in_port=" + port_text(static_cast<uint32_t>(m.get(MatchField::kInPort)), ports));
  if (m.has(MatchField::kVlanTci)) {
    const uint64_t v = m.get(MatchField::kVlanTci), mk = m.get_mask(MatchField::kVlanTci);
    if (mk == 0xffff && v == 0) out.push_back("vlan_tci=0x0000");
    else if ((mk == 0x1fff || mk == 0xffff) && (v & kVlanPresent)) {
      out.push_back("dl_vlan=" + std::to_string(v & 0x0fff));
      if (mk == 0xffff) out.push_back("dl_vlan_pcp=" + std::to_string(v >> 13));
    } else if (mk == 0xf000 && (v & kVlanPresent)) {
      out.push_back("dl_vlan_pcp=" + std::to_string(v >> 13));
    } else {
      out.push_back("vlan_tci=" + hex(v, 4) + "/" + hex(mk, 4));
    }
  }
  if (m.has(MatchField::kDlSrc)) out.push_back("dl_src=" + mac_text(m.get(MatchField::kDlSrc), m.get_mask(MatchField::kDlSrc)));
  if (m.has(MatchField::kDlDst)) out.push_back("dl_dst=" + mac_text(m.get(MatchField::kDlDst), m.get_mask(MatchField::kDlDst)));
  if (m.has(MatchField::kNwSrc))
    out.push_back(std::string(arp ? "arp_spa=" : "nw_src=") + ip4_text(m.get(MatchField::kNwSrc), m.get_mask(MatchField::kNwSrc)));
  if (m.has(MatchField::kNwDst))
    out.push_back(std::string(arp ? "arp_tpa=" : "nw_dst=") + ip4_text(m.get(MatchField::kNwDst), m.get_mask(MatchField::kNwDst)));
  if (m.has(MatchField::kIpv6Src)) out.push_back("ipv6_src=" + ip6_text(m, MatchField::kIpv6Src));
  if (m.has(MatchField::kIpv6Dst)) out.push_back("ipv6_dst=" + ip6_text(m, MatchField::kIpv6Dst));
  if (has_proto && !proto_shown) out.push_back(std::string(arp ? "arp_op=" : "nw_proto=") + std::to_string(proto));
  if (m.has(MatchField::kNwTos)) out.push_back("nw_tos=" + std::to_string(m.get(MatchField::kNwTos)));
  for (MatchField f : {MatchField::kTpSrc, MatchField::kTpDst}) {
    if (!m.has(f)) continue;
    const uint64_t v = m.get(f), mk = m.get_mask(f);
    std::string name = icmp ? (f == MatchField::kTpSrc ? "icmp_type=" : "icmp_code=") : (f == MatchField::kTpSrc ? "tp_src=" : "tp_dst=");
    out.push_back(name + std::to_string(v) + (mk == 0xffff ? "" : "/" + hex(mk, 4)));
  }
  if (m.has(MatchField::kTunId)) {
    const uint64_t mk = m.get_mask(MatchField::kTunId);
    out.push_back("tun_id=" + hex(m.get(MatchField::kTunId)) + (mk == ~uint64_t{0} ? "" : "/" + hex(mk)));
  }
  std::string s;
  for (const auto& x : out) s += (s.empty() ? "" : ",") + x;
  return s;
}

std::string actions_text(const std::vector<FlowAction>& actions, const FlowPorts& ports) {
  if (actions.empty()) return "drop";
  std::string s;
  for (const FlowAction& a : actions) {
    std::string t;
    switch (a.type) {
      case ActionType::kOutput: t = "output:" + port_text(static_cast<uint32_t>(a.arg), ports); break;
      case ActionType::kNormal: t = "NORMAL"; break;
      case ActionType::kFlood: t = "FLOOD"; break;
      case ActionType::kAll: t = "ALL"; break;
      case ActionType::kInPort: t = "IN_PORT"; break;
      case ActionType::kModVlanVid: t = "mod_vlan_vid:" + std::to_string(a.arg); break;
      case ActionType::kModVlanPcp: t = "mod_vlan_pcp:" + std::to_string(a.arg); break;
      case ActionType::kStripVlan: t = "strip_vlan"; break;
      case ActionType::kPushVlan: t = "push_vlan:" + hex(a.arg, 4); break;
      case ActionType::kModDlSrc: t = "mod_dl_src:" + net::Mac::from_u64(a.arg).str(); break;
      case ActionType::kModDlDst: t = "mod_dl_dst:" + net::Mac::from_u64(a.arg).str(); break;
      case ActionType::kSetTunId: t = "set_field:" + hex(a.arg) + "->tun_id"; break;
      case ActionType::kResubmit: t = "resubmit(" + port_text(a.port, ports) + "," + std::to_string(a.arg) + ")"; break;
      case ActionType::kGotoTable: t = "goto_table:" + std::to_string(a.arg); break;
    }
    s += (s.empty() ? "" : ",") + t;
  }
  return s;
}

std::string flow_line(const Flow& f, uint64_t now_ns, const FlowPorts& ports) {
  char dur[32];
  const uint64_t age = now_ns > f.created_ns ? now_ns - f.created_ns : 0;
  std::snprintf(dur, sizeof dur, "%.3fs", static_cast<double>(age) / 1e9);
  std::string s = " cookie=" + hex(f.cookie) + ", duration=" + dur + ", table=" + std::to_string(f.table) +
                  ", n_packets=" + std::to_string(f.n_packets) + ", n_bytes=" + std::to_string(f.n_bytes) + ", ";
  if (f.idle_timeout) s += "idle_timeout=" + std::to_string(f.idle_timeout) + ", ";
  if (f.hard_timeout) s += "hard_timeout=" + std::to_string(f.hard_timeout) + ", ";
  std::string head = f.priority != kDefaultFlowPriority ? "priority=" + std::to_string(f.priority) : "";
  const std::string m = match_text(f.match, ports);
  if (!m.empty()) head += (head.empty() ? "" : ",") + m;
  return s + head + (head.empty() ? "" : " ") + "actions=" + actions_text(f.actions, ports);
}

}  // namespace kvnet::dp
