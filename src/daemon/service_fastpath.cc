// kvnetd's verbs of the kernel fast path (io/fastpath.h): what it holds and
// does (fastpath-show), its entries as ovs-appctl dpctl/dump-flows gives a
// datapath's (fastpath-dump), and emptying it (fastpath-flush).
#include <fmt/format.h>
#include <sys/socket.h>

#include "daemon/service_args.h"
#include "daemon/verbs.h"
#include "io/fastpath.h"
#include "net/bytes.h"

namespace kvnet::daemon {

using namespace kvnet::ctl;

namespace {

std::string tags_text(const uint16_t* tpid, const uint16_t* tci, int n) {
  std::string s;
  for (int i = 0; i < n; ++i)
    s += fmt::format("{}vlan(tpid=0x{:04x},vid={},pcp={})", s.empty() ? "" : ",", tpid[i], tci[i] & 0x0fff, tci[i] >> 13);
  return s;
}

std::string tcp_flags_text(uint32_t f) {
  static const char* kNames[] = {"fin", "syn", "rst", "psh", "ack", "urg", "ece", "cwr"};
  std::string s;
  for (int i = 0; i < 8; ++i)
    if (f & (1u << i)) s += std::string(s.empty() ? "" : "|") + kNames[i];
  return s;
}

}  // namespace

json fastpath_entry_json(const io::FastPath::Entry& e) {
  const kvfp_key& k = e.key;
  const kvfp_action& a = e.action;
  const int in_tags = k.tpid[0] ? (k.tpid[1] ? 2 : 1) : 0;
  const std::string src = net::Mac::from_bytes(k.src).str(), dst = net::Mac::from_bytes(k.dst).str();
  std::vector<std::string> actions;
  for (int i = 0; i < a.pop; ++i) actions.push_back("pop_vlan");
  for (int i = a.push - 1; i >= 0; --i)  // outermost first, as they end up on the wire
    actions.push_back(fmt::format("push_vlan(tpid=0x{:04x},vid={},pcp={})", a.push_tpid[i], a.push_tci[i] & 0x0fff,
                                  a.push_tci[i] >> 13));
  auto ip_text = [](const uint32_t* w, bool v6) {
    return v6 ? net::ipv6_str(reinterpret_cast<const uint8_t*>(w)) : net::ipv4_str(net::load_be32(reinterpret_cast<const uint8_t*>(w)));
  };
  json tunnel_out = nullptr;
  if (a.flags & KVFP_TUNNEL) {  // the kernel vxlan device encapsulates
    const bool v6 = a.flags & KVFP_TUN_V6;
    const bool any_src = !a.tun_src[0] && !a.tun_src[1] && !a.tun_src[2] && !a.tun_src[3];
    const std::string dst_ip = ip_text(a.tun_dst, v6), src_ip = any_src ? "" : ip_text(a.tun_src, v6);
    actions.push_back(fmt::format("set(tunnel(tun_id={},{}dst={},ttl={},tos={},flags(df{})))", a.tun_id,
                                  src_ip.empty() ? "" : "src=" + src_ip + ",", dst_ip, a.tun_ttl, a.tun_tos,
                                  a.flags & KVFP_TUN_CSUM ? "|csum" : ""));
    tunnel_out = {{"vni", a.tun_id}, {"remote", dst_ip}, {"local", src_ip.empty() ? json(nullptr) : json(src_ip)},
                  {"ttl", a.tun_ttl}, {"tos", a.tun_tos}, {"csum", (a.flags & KVFP_TUN_CSUM) != 0}};
  }
  actions.push_back(fmt::format("{}({})", a.flags & KVFP_PEER ? "redirect_peer" : "output", e.out_port));
  std::string match = fmt::format("in_port({}),", e.in_port);
  json tunnel_in = nullptr;
  if (e.tun_family) {  // arrived through a kernel vxlan device
    const std::string remote = ip_text(k.tun_src, e.tun_family == AF_INET6);
    match += fmt::format("tunnel(tun_id={},src={}),", k.tun_id, remote);
    tunnel_in = {{"vni", k.tun_id}, {"remote", remote}};
  }
  match += fmt::format("eth(src={},dst={})", src, dst);
  if (in_tags) match += "," + tags_text(k.tpid, k.tci, in_tags);
  match += fmt::format(",eth_type(0x{:04x})", k.ethertype);
  json l4 = nullptr;
  if (k.l4 && (k.ethertype == 0x0800 || k.ethertype == 0x86dd)) {
    const bool v4 = k.ethertype == 0x0800;
    auto addr = [&](const uint32_t* a) {
      return v4 ? net::ipv4_str(net::load_be32(reinterpret_cast<const uint8_t*>(a)))
                : net::ipv6_str(reinterpret_cast<const uint8_t*>(a));
    };
    const std::string src_ip = addr(k.saddr), dst_ip = addr(k.daddr);
    match += fmt::format(",{}(src={},dst={},proto={})", v4 ? "ipv4" : "ipv6", src_ip, dst_ip, k.proto);
    const bool icmp = k.proto == 1 || k.proto == 58;
    if (icmp)
      match += fmt::format(",{}(type={},code={},id={})", v4 ? "icmp" : "icmpv6", k.sport >> 8, k.sport & 0xff, k.dport);
    else if (k.proto == 6 || k.proto == 17)
      match += fmt::format(",{}(src={},dst={})", k.proto == 6 ? "tcp" : "udp", k.sport, k.dport);
    l4 = {{"nw_src", src_ip}, {"nw_dst", dst_ip}, {"nw_proto", k.proto}, {"tp_src", k.sport}, {"tp_dst", k.dport}};
  }
  std::string acts;
  for (const auto& x : actions) acts += (acts.empty() ? "" : ",") + x;
  json tags = json::array();
  for (int i = 0; i < in_tags; ++i) tags.push_back({{"tpid", k.tpid[i]}, {"vid", k.tci[i] & 0x0fff}, {"pcp", k.tci[i] >> 13}});
  const double used_s = static_cast<double>(e.idle_ns) / 1e9;
  json j{{"in_port", e.in_port},
         {"out_port", e.out_port},
         {"bridges", e.bridges},
         {"dl_src", src},
         {"dl_dst", dst},
         {"vlan_tags", tags},
         {"dl_type", fmt::format("0x{:04x}", k.ethertype)},
         {"l4", l4},
         {"tunnel_in", tunnel_in},
         {"tunnel_out", tunnel_out},
         {"actions", acts},
         {"mtu", a.mtu},
         {"packets", a.packets},
         {"bytes", a.bytes},
         {"idle_s", used_s},
         {"live", e.live},
         {"tcp_flags", tcp_flags_text(a.tcp_flags)}};
  j["line"] = fmt::format("{}, packets:{}, bytes:{}, used:{}{}, actions:{}{}", match, a.packets, a.bytes,
                          a.packets ? fmt::format("{:.3f}s", used_s) : "never", a.tcp_flags ? ", flags:" + tcp_flags_text(a.tcp_flags) : "",
                          acts, e.live ? "" : " (dead: an older generation)");
  return j;
}

namespace {

class FastPathVerbs : VerbContext {
 public:
  using VerbContext::VerbContext;
  Result<json> show(const Args& a);
  Result<json> dump(const Args& a);
  Result<json> flush(const Args& a);

 private:
  Result<std::string> bridge_arg(const Args& a) {
    TRY(br, a.str("bridge", false));
    if (!br.empty() && !cur_.find_bridge(br)) return Error{"bridge '" + br + "' does not exist"};
    return br;
  }
  static bool crosses(const io::FastPath::Entry& e, const std::string& br) {
    return br.empty() || std::find(e.bridges.begin(), e.bridges.end(), br) != e.bridges.end();
  }
};

Result<json> FastPathVerbs::show(const Args& a) {
  TRY(br, bridge_arg(a));
  json bridges = json::array();
  if (!fast_) {
    for (const auto& b : cur_.bridges)
      if (br.empty() || b.name == br) bridges.push_back({{"name", b.name}, {"fast_path", b.settings.fast_path}});
    return json{{"enabled", false}, {"reason", fast_off_}, {"bridges", bridges}};
  }
  auto [info, entries] = dp_.on_fast_path([&](dp::Datapath&) { return std::make_pair(fast_->info(), fast_->dump()); });
  json j{{"enabled", true},
         {"hook", info.hook},
         {"ports", info.ports},
         {"generation", info.generation},
         {"entries", info.entries},
         {"max_entries", info.max_entries},
         {"hits", info.hits},
         {"misses", info.misses},
         {"stale", info.stale},
         {"punted", info.punts},
         {"too_big", info.too_big},
         {"errors", info.errors},
         {"installs", info.installs},
         {"install_failures", info.install_failures},
         {"evictions", info.evictions},
         {"idle_removals", info.idle_removals},
         {"stale_removals", info.stale_removals}};
  for (const auto& b : cur_.bridges) {
    if (!br.empty() && b.name != br) continue;
    uint64_t n = 0, packets = 0, bytes = 0;
    for (const auto& e : entries)
      if (crosses(e, b.name) && e.live) ++n, packets += e.action.packets, bytes += e.action.bytes;
    bridges.push_back({{"name", b.name}, {"fast_path", b.settings.fast_path}, {"entries", n}, {"packets", packets},
                       {"bytes", bytes}});
  }
  j["bridges"] = bridges;
  return j;
}

Result<json> FastPathVerbs::dump(const Args& a) {
  TRY(br, bridge_arg(a));
  if (!fast_) return Error{"the fast path is off: " + fast_off_};
  const auto entries = dp_.on_fast_path([&](dp::Datapath&) { return fast_->dump(); });
  json out = json::array();
  for (const auto& e : entries)
    if (crosses(e, br)) out.push_back(fastpath_entry_json(e));
  return json{{"entries", out}};
}

Result<json> FastPathVerbs::flush(const Args&) {
  if (!fast_) return Error{"the fast path is off: " + fast_off_};
  const size_t n = dp_.on_fast_path([&](dp::Datapath&) { return fast_->flush(); });
  return json{{"flushed", n}};
}

}  // namespace

std::span<const Verb> fastpath_verbs() {
  static const Verb kVerbs[] = {
      {"fastpath-show", false, false, &verb<FastPathVerbs, &FastPathVerbs::show>},
      {"fastpath-dump", false, false, &verb<FastPathVerbs, &FastPathVerbs::dump>},
      {"fastpath-flush", false, true, &verb<FastPathVerbs, &FastPathVerbs::flush>},
  };
  return kVerbs;
}

}  // namespace kvnet::daemon
