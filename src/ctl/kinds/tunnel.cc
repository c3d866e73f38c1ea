#include "ctl/kinds/tunnel.h"

#include <sys/socket.h>

#include <algorithm>
#include <charconv>

#include "ctl/topology.h"

namespace kvnet::ctl {
namespace {

using io::IpAddr;
using io::TunnelType;

constexpr KeyHelp kUdpKeys[] = {
    {"remote_ip", "remote VTEP address; a comma-separated list floods to each (head-end replication); "
                  "'flow': remotes from static FDB entries and learning"},
    {"local_ip", "underlay address to send from and listen on (default: any, the kernel picks)"},
    {"vni", "VXLAN/Geneve network identifier, 0-16777215 (required unless vni_map)"},
    {"dst_port", "UDP destination port (vxlan 4789, geneve 6081)"},
    {"ttl", "outer TTL / hop limit, 1-255 (default 64)"},
    {"tos", "outer TOS / traffic class, 0-255 (default 0)"},
    {"vni_map", "VLAN:VNI pairs, e.g. 10:5010,20:5020: local VLANs carried in their own VNIs (a trunk of them)"},
    {"csum", "true: outer UDP checksums over IPv4 too (default false: zero, as RFC 7348; IPv6 always has them); "
             "lets the kernel take GSO bursts (faster TCP)"},
    {"learning", "with remote_ip=flow: false: no learning from what arrives; stations only from static entries, and "
                 "each VNI floods only to the remotes of its static entries (EVPN-style; default true)"},
};
constexpr KeyHelp kGreKeys[] = {
    {"remote_ip", "remote endpoint address; a comma-separated list floods to each; 'flow': from the FDB"},
    {"local_ip", "underlay address to send from and listen on (default: any)"},
    {"key", "GRE key, 0-4294967295 (none by default); with nvgre the 24-bit VSID"},
    {"nvgre", "true: NVGRE (RFC 7637): key is the VSID, the key's low 8 bits carry a flow ID"},
    {"ttl", "outer TTL / hop limit, 1-255 (default 64)"},
    {"tos", "outer TOS / traffic class, 0-255 (default 0)"},
    {"vni_map", "VLAN:KEY pairs (VLAN:VSID with nvgre): local VLANs carried in their own keys"},
    {"learning", "with remote_ip=flow: false: stations only from static entries, each key flooding only to their "
                 "remotes (default true)"},
};

uint32_t parse_u32_or_fail(const OptionReader& in, std::string_view key, const std::string& s, uint64_t max) {
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || v > max)
    in.fail(key, std::string(key) + ": '" + s + "' is not a number in 0-" + std::to_string(max));
  return static_cast<uint32_t>(v);
}

class TunnelKind final : public PortKind {
 public:
  explicit TunnelKind(TunnelType t) : type_(t) {}
  std::string_view name() const override { return io::to_string(type_); }
  std::string_view summary() const override {
    switch (type_) {
      case TunnelType::kVxlan: return "a VXLAN tunnel (RFC 7348) over the host's UDP/IP";
      case TunnelType::kGeneve: return "a Geneve tunnel (RFC 8926) over the host's UDP/IP";
      case TunnelType::kGre: return "a GRE tunnel carrying Ethernet (RFC 2784/2890; NVGRE, RFC 7637)";
    }
    return "";
  }
  std::span<const KeyHelp> keys() const override {
    if (type_ == TunnelType::kGre) return kGreKeys;
    return kUdpKeys;
  }

  std::shared_ptr<const PortOptions> parse(const OptionReader& in) const override {
    auto o = std::make_shared<TunnelOptions>();
    io::TunnelConfig& c = o->cfg;
    c.type = type_;
    const bool gre = type_ == TunnelType::kGre;
    if (gre && in.has("nvgre")) c.nvgre = in.boolean("nvgre");
    const uint64_t id_max = gre && !c.nvgre ? 0xffffffffULL : net::kMaxVni;
    const char* id_key = gre ? "key" : "vni";
    if (in.has(id_key)) {
      c.vni = static_cast<uint32_t>(in.integer(id_key, 0, static_cast<int64_t>(id_max)));
      c.has_key = true;
    }
    if (in.has("vni_map")) {
      for (const auto& [k, v] : in.pairs("vni_map")) {
        uint32_t vlan = 0;
        auto [end, ec] = std::from_chars(k.data(), k.data() + k.size(), vlan);
        if (k.empty() || end != k.data() + k.size() || (ec != std::errc() && ec != std::errc::result_out_of_range))
          in.fail("vni_map", "vni_map: VLAN '" + k + "' is not a number");
        if (ec == std::errc::result_out_of_range || vlan < dp::kMinVid || vlan > dp::kMaxVid)
          in.fail("vni_map", "vni_map: VLAN " + k + " is out of range 1-4094");
        const uint32_t id = parse_u32_or_fail(in, "vni_map", v, id_max);
        if (!c.vni_map.emplace(static_cast<uint16_t>(vlan), id).second)
          in.fail("vni_map", "vni_map: VLAN " + k + " is mapped twice");
        for (const auto& [vl, other] : c.vni_map)
          if (vl != vlan && other == id) in.fail("vni_map", "vni_map: " + std::string(id_key) + " " + v + " is mapped twice");
      }
      if (c.has_key) in.fail("vni_map", std::string("give either '") + id_key + "' or 'vni_map', not both");
      c.has_key = gre;
    }
    if (!gre && !c.has_key && c.vni_map.empty()) in.fail("", "a " + std::string(name()) + " port needs 'vni' (or 'vni_map')");
    if (c.nvgre && !c.has_key) in.fail("nvgre", "an nvgre port needs 'key' (its VSID) or 'vni_map'");
    if (!in.has("remote_ip")) in.fail("", "a " + std::string(name()) + " port needs 'remote_ip' (an address, a list, or flow)");
    const auto remotes = in.items("remote_ip");
    for (const auto& r : remotes) {
      if (r == "flow") {
        if (remotes.size() > 1) in.fail("remote_ip", "remote_ip 'flow' cannot be combined with addresses");
        c.remote_flow = true;
        continue;
      }
      auto a = IpAddr::parse(r);
      if (!a) in.fail("remote_ip", "remote_ip '" + r + "' is not an IPv4 or IPv6 address");
      if (std::find(c.remotes.begin(), c.remotes.end(), *a) != c.remotes.end())
        in.fail("remote_ip", "remote_ip " + r + " is listed twice");
      c.remotes.push_back(*a);
    }
    if (in.has("local_ip")) {
      const std::string l = in.str("local_ip");
      auto a = IpAddr::parse(l);
      if (!a) in.fail("local_ip", "local_ip '" + l + "' is not an IPv4 or IPv6 address");
      c.local = *a;
    }
    for (const auto& r : c.remotes)
      if (r.family != c.family())
        in.fail("remote_ip", "remote_ip " + r.str() + " is not of the same address family as " +
                                 (c.local.unset() ? "the first remote" : "local_ip " + c.local.str()));
    if (!gre && in.has("dst_port")) c.dst_port = static_cast<uint16_t>(in.integer("dst_port", 1, 65535));
    if (in.has("ttl")) c.ttl = static_cast<int>(in.integer("ttl", 1, 255));
    if (in.has("tos")) c.tos = static_cast<int>(in.integer("tos", 0, 255));
    if (!gre && in.has("csum")) c.csum = in.boolean("csum");
    if (in.has("learning")) {
      c.learning = in.boolean("learning");
      if (!c.learning && !c.remote_flow) in.fail("learning", "learning=false needs remote_ip=flow (stations from static entries)");
      // Programmed from a store (a cluster's): room for its stations.
      if (!c.learning) c.max_static = io::kProgrammedMaxStatic;
    }
    return o;
  }

  void emit(const PortOptions& base, Fields& out) const override {
    const io::TunnelConfig& c = static_cast<const TunnelOptions&>(base).cfg;
    const bool gre = type_ == TunnelType::kGre;
    std::string remotes;
    if (c.remote_flow) remotes = "flow";
    for (const auto& r : c.remotes) remotes += (remotes.empty() ? "" : ",") + r.str();
    out.push_back({"remote_ip", remotes, c.remotes.size() > 1});
    if (!c.local.unset()) out.push_back({"local_ip", c.local.str()});
    if (gre && c.nvgre) out.push_back({"nvgre", "true"});
    if (c.vni_map.empty() && c.has_key) out.push_back({gre ? "key" : "vni", std::to_string(c.vni)});
    if (!c.vni_map.empty()) {
      std::string m;
      for (const auto& [vlan, id] : c.vni_map) m += (m.empty() ? "" : ",") + std::to_string(vlan) + ":" + std::to_string(id);
      out.push_back({"vni_map", m, false, true});
    }
    if (!gre && c.dst_port) out.push_back({"dst_port", std::to_string(c.dst_port)});
    if (c.ttl != 64) out.push_back({"ttl", std::to_string(c.ttl)});
    if (c.tos != 0) out.push_back({"tos", std::to_string(c.tos)});
    if (c.csum) out.push_back({"csum", "true"});
    if (!c.learning) out.push_back({"learning", "false"});
  }

  Status validate(const PortSpec& p, const BridgeSpec& b, const Topology& t, bool) const override {
    const io::TunnelConfig& c = p.as<TunnelOptions>()->cfg;
    if (!c.vni_map.empty()) {
      if (b.type != dp::BridgeType::kSwitch) return Error{"vni_map needs a switch bridge (VLANs), not a " +
                                                          std::string(dp::to_string(b.type)) + " bridge"};
      dp::VlanSet keys;
      for (const auto& [vlan, id] : c.vni_map) keys.set(vlan);
      if (p.vlan.mode != dp::VlanMode::kTrunk || !p.vlan.allowed || *p.vlan.allowed != keys || keys[p.vlan.pvid])
        return Error{"a port with vni_map is a trunk of exactly its VLANs, with a pvid not among them: "
                     "vlan_mode trunk, allowed " + dp::vlan_set_str(keys) + " (or leave the VLAN keys out)"};
    }
    // Two ports of one endpoint must not both claim a packet, and two
    // kinds cannot share one UDP port (each needs its own socket there).
    const uint16_t port = effective_port(c);
    for (const auto& ob : t.bridges)
      for (const auto& q : ob.ports) {
        if (&q == &p) continue;
        if (q.kind != p.kind) {
          const auto* qo = q.as<TunnelOptions>();
          if (!qo || type_ == TunnelType::kGre || qo->cfg.type == TunnelType::kGre) continue;
          const io::TunnelConfig& d = qo->cfg;
          if (udp_port(d) == port && d.local == c.local && d.family() == c.family())
            return Error{"UDP port " + std::to_string(port) + " on this address is taken by port '" + q.name + "' (" +
                         std::string(io::to_string(d.type)) + "): give one of them another dst_port"};
          continue;
        }
        const io::TunnelConfig& d = q.as<TunnelOptions>()->cfg;
        if (effective_port(d) != port || !(d.local == c.local) || d.family() != c.family()) continue;
        bool shared_id = false;
        for (uint32_t a : ids(c))
          for (uint32_t b2 : ids(d)) shared_id |= a == b2;
        if (!shared_id) continue;
        bool shared_remote = c.remote_flow || d.remote_flow;
        for (const auto& r : c.remotes) shared_remote |= std::find(d.remotes.begin(), d.remotes.end(), r) != d.remotes.end();
        if (shared_remote)
          return Error{"port '" + q.name + "' already receives the same " +
                       std::string(type_ == TunnelType::kGre ? "key" : "VNI") +
                       " from the same remote on this endpoint (give them different VNIs or remotes)"};
      }
    return Ok{};
  }

  Status check_remote(const PortSpec& p, const std::string& ip) const override {
    const io::TunnelConfig& c = p.as<TunnelOptions>()->cfg;
    auto a = IpAddr::parse(ip);
    if (!a) return Error{"remote_ip '" + ip + "' is not an IPv4 or IPv6 address"};
    if (a->family != c.family())
      return Error{"remote_ip " + ip + " is not of the address family of port '" + p.name + "'"};
    return Ok{};
  }

  std::optional<dp::VlanConfig> implied_vlan(const PortOptions& base) const override {
    const io::TunnelConfig& c = static_cast<const TunnelOptions&>(base).cfg;
    if (c.vni_map.empty()) return std::nullopt;
    dp::VlanConfig v;
    v.mode = dp::VlanMode::kTrunk;
    dp::VlanSet keys;
    for (const auto& [vlan, id] : c.vni_map) keys.set(vlan);
    // Every mapped VLAN leaves tagged (a trunk strips the pvid's tag), so
    // the pvid is one that is not mapped (and untagged frames are dropped).
    v.pvid = 1;
    while (keys[v.pvid]) ++v.pvid;
    v.allowed = keys;
    return v;
  }

  std::optional<uint32_t> carried_mtu(const PortSpec& p, const BridgeSpec& b) const override {
    const io::TunnelConfig& c = p.as<TunnelOptions>()->cfg;
    uint32_t m = io::tunnel_inner_mtu(c);
    // Tags a frame keeps inside the tunnel count against it: a switch port
    // that sends tagged frames (no vni_map to pop the tag) carries 4 bytes
    // less, a dot1q-tunnel port (service and customer tag) 8.
    if (b.type == dp::BridgeType::kSwitch && c.vni_map.empty() && p.vlan.mode != dp::VlanMode::kAccess)
      m -= std::min<uint32_t>(m, p.vlan.mode == dp::VlanMode::kDot1qTunnel ? 8 : 4);
    return m;
  }

  bool same_backend(const PortOptions& a, const PortOptions& b) const override {
    // Any change re-opens the tunnel (its socket is shared and cheap to re-join).
    const io::TunnelConfig& x = static_cast<const TunnelOptions&>(a).cfg;
    const io::TunnelConfig& y = static_cast<const TunnelOptions&>(b).cfg;
    return x.type == y.type && x.local == y.local && x.remotes == y.remotes && x.remote_flow == y.remote_flow &&
           x.vni == y.vni && x.has_key == y.has_key && x.nvgre == y.nvgre && x.dst_port == y.dst_port &&
           x.ttl == y.ttl && x.tos == y.tos && x.csum == y.csum && x.vni_map == y.vni_map && x.learning == y.learning;
  }

  Result<std::unique_ptr<dp::PortBackend>> open(const PortSpec& p) const override {
    auto b = io::TunnelBackend::open(p.name, p.as<TunnelOptions>()->cfg);
    if (!b) return b.error();
    return std::unique_ptr<dp::PortBackend>(std::move(*b));
  }

 private:
  uint16_t effective_port(const io::TunnelConfig& c) const { return udp_port(c); }
  static uint16_t udp_port(const io::TunnelConfig& c) {
    if (c.type == TunnelType::kGre) return 0;
    if (c.dst_port) return c.dst_port;
    return c.type == TunnelType::kGeneve ? net::kGenevePort : net::kVxlanPort;
  }
  static std::vector<uint32_t> ids(const io::TunnelConfig& c) {
    std::vector<uint32_t> out;
    if (c.vni_map.empty()) out.push_back(c.vni);
    for (const auto& [vlan, id] : c.vni_map) out.push_back(id);
    return out;
  }
  TunnelType type_;
};

}  // namespace

const PortKind& vxlan_kind() {
  static const TunnelKind k(TunnelType::kVxlan);
  return k;
}
const PortKind& geneve_kind() {
  static const TunnelKind k(TunnelType::kGeneve);
  return k;
}
const PortKind& gre_kind() {
  static const TunnelKind k(TunnelType::kGre);
  return k;
}

}  // namespace kvnet::ctl
