#include "dp/firewall_stage.h"

#include <cstdio>

#include "dp/port.h"
#include "dp/bridge.h"

namespace kvnet::dp {
namespace {

constexpr uint16_t kEthIpv4 = 0x0800, kEthIpv6 = 0x86dd;
constexpr uint8_t kUdp = 17, kIcmpv6 = 58;
constexpr uint8_t kTcpFin = 0x01, kTcpRst = 0x04;

Drop drop_of(SourceVerdict v) {
  switch (v) {
    case SourceVerdict::kBadMac: return Drop::kSpoofedMac;
    case SourceVerdict::kBadIp: return Drop::kSpoofedIp;
    case SourceVerdict::kBadArp: return Drop::kSpoofedArp;
    case SourceVerdict::kDhcpServer: return Drop::kDhcpServer;
    case SourceVerdict::kRouterAdvert: return Drop::kRouterAdvert;
    case SourceVerdict::kBadEtherType: return Drop::kBadEthertype;
    case SourceVerdict::kBadIpv6Headers: return Drop::kBadIpv6Headers;
    case SourceVerdict::kOk: break;
  }
  return Drop::kSpoofedMac;
}

// DHCP between a client behind the port and its server passes unfiltered
// (Neutron's rule: a port may always get its address).
bool dhcp_client_traffic(const net::FlowKey& k, bool from_endpoint) {
  if (k.nw_proto != kUdp || k.l4_ofs == 0) return false;
  const uint16_t c = k.dl_type == kEthIpv4 ? 68 : 546, s = k.dl_type == kEthIpv4 ? 67 : 547;
  return from_endpoint ? (k.tp_src == c && k.tp_dst == s) : (k.tp_src == s && k.tp_dst == c);
}

// What port security refused, for trace.
std::string spoof_text(SourceVerdict v, const net::FlowKey& k) {
  const bool v6 = k.dl_type == kEthIpv6;
  const std::string src = v6 ? net::ipv6_str(k.ipv6_src) : net::ipv4_str(k.nw_src);
  switch (v) {
    case SourceVerdict::kBadMac: return "source MAC " + k.dl_src.str() + " is not one the port may send from";
    case SourceVerdict::kBadIp:
      return "source address " + src + " (MAC " + k.dl_src.str() + ") is not one the port may send from";
    case SourceVerdict::kBadArp:
      if (v6) return "a neighbor advertisement from " + k.dl_src.str() + " for an address the port does not own";
      return "ARP from " + k.arp_sha.str() + " for " + net::ipv4_str(k.nw_src) + ", an address the port does not own";
    case SourceVerdict::kDhcpServer: return "a DHCP server's reply: the port may not act as a DHCP server";
    case SourceVerdict::kRouterAdvert: return "an IPv6 router advertisement: the port may not act as a router";
    case SourceVerdict::kBadEtherType: {
      char t[8];
      std::snprintf(t, sizeof t, "0x%04x", k.dl_type);
      return std::string("EtherType ") + t + ": only IPv4, ARP and IPv6 may be sent";
    }
    case SourceVerdict::kBadIpv6Headers:
      return "IPv6 extension headers that cannot be walked to the upper layer (more than 8, or cut short)";
    case SourceVerdict::kOk: break;
  }
  return "";
}

std::string groups_text(const FwPolicy& p) {
  std::string out;
  for (const auto& g : p.groups) out += (out.empty() ? "" : ", ") + g;
  return out.empty() ? "no group" : out;
}

// IPv6's link-local control traffic, which security groups pass statelessly
// (as Neutron does): neighbor discovery (router and neighbor solicitations and
// advertisements: ICMPv6 133-136; not redirects) and multicast listener
// discovery (ICMPv6 130-132, 143). MLD messages carry a hop-by-hop header,
// which the flow key does not walk: it is read here (the ICMPv6 type after
// one hop-by-hop header). Without them two IPv6 endpoints cannot find each other.
bool ipv6_link_control(const net::FlowKey& k, const uint8_t* f, size_t len) {
  if (k.dl_type != kEthIpv6) return false;
  auto nd = [](uint16_t t) { return t >= 133 && t <= 136; };
  auto mld = [](uint16_t t) { return (t >= 130 && t <= 132) || t == 143; };
  if (k.nw_proto == kIcmpv6)
    return k.l4_ofs != 0 && !(k.flags & net::kFlowL4Truncated) && (nd(k.tp_src) || mld(k.tp_src));
  if (k.nw_proto != 0) return false;  // 0: a hop-by-hop header
  const size_t hbh = size_t{k.l3_ofs} + 40;
  if (len < hbh + 2 || f[hbh] != kIcmpv6) return false;
  const size_t icmp = hbh + (size_t{f[hbh + 1]} + 1) * 8;
  return len > icmp && mld(f[icmp]);
}

}  // namespace

void FirewallStage::trace(PipelineContext& ctx, Port& port, TraceWhat what, std::string other,
                          const Conntrack::Verdict* v, const FwRule* r) const {
  TraceStep t{.bridge = port.bridge->name(), .port = port.name, .stage = TraceStage::kFirewall, .what = what};
  t.mode = from_endpoint_ ? "egress" : "ingress";
  t.other = other.empty() ? groups_text(*policy_) : std::move(other);
  if (v) {
    t.zone = zone_;
    t.ct = std::string(to_string(v->state));
    if (v->conn_state != Conntrack::ConnState::kNone)
      t.conn_state = std::string(to_string(v->conn_state)) +
                     (v->dir == Conntrack::Dir::kOrig ? ", original direction" : ", reply direction");
  }
  if (r) {
    t.group = r->group < policy_->groups.size() ? policy_->groups[r->group] : "?";
    t.rule_id = r->id;
    t.rule = r->text;
  }
  ctx.trace_step(std::move(t));
}

// counters: passed, established, new, denied, invalid, spoofed
bool FirewallStage::pass(PipelineContext& ctx, Port& port, net::Frame* f, uint64_t* d) {
  const net::FlowKey& k = f->key;
  const FwPolicy& pol = *policy_;
  if (from_endpoint_) {
    if (const SourceVerdict v = check_source(pol, k, {f->data(), f->len()}); v != SourceVerdict::kOk) {
      if (ctx.trace()) trace(ctx, port, TraceWhat::kFwSpoofed, spoof_text(v, k), nullptr, nullptr);
      ++d[5];
      ctx.drop(port, f, drop_of(v));
      return false;
    }
  }
  if (!pol.filtered || (k.dl_type != kEthIpv4 && k.dl_type != kEthIpv6) || dhcp_client_traffic(k, from_endpoint_) ||
      ipv6_link_control(k, f->data(), f->len())) {
    if (ctx.trace())
      trace(ctx, port, TraceWhat::kFwUnfiltered,
            !pol.filtered                                        ? "no security group (port security only)"
            : (k.dl_type != kEthIpv4 && k.dl_type != kEthIpv6) ? "not IP (security groups filter IP)"
            : ipv6_link_control(k, f->data(), f->len())         ? "IPv6 neighbor or multicast listener discovery"
                                                                 : "DHCP client traffic",
            nullptr, nullptr);
    ++d[0];
    return true;
  }
  const Conntrack::Packet pk(k, f->data(), f->len(), zone_);
  const uint64_t now = f->meta.ts_ns;
  const Conntrack::Verdict v = ct_.classify(pk, now);
  switch (v.state) {
    case Conntrack::CtState::kEstablished:
    case Conntrack::CtState::kRelated:
      if (!ctx.dry_run() && v.state == Conntrack::CtState::kEstablished) ct_.update(v.conn, v.dir, pk, now);
      if (f->meta.fast.ok || pk.tcp_flags & (kTcpFin | kTcpRst)) [[unlikely]]
        fast_path_note(ctx, port, f, v, pk);
      if (ctx.trace())
        trace(ctx, port, v.state == Conntrack::CtState::kEstablished ? TraceWhat::kFwEstablished : TraceWhat::kFwRelated,
              "", &v, nullptr);
      ++d[1];
      return true;
    case Conntrack::CtState::kInvalid:
      if (!ctx.dry_run()) ct_.count_invalid();
      if (ctx.trace()) trace(ctx, port, TraceWhat::kFwInvalid, "", &v, nullptr);
      ++d[4];
      ctx.drop(port, f, Drop::kCtInvalid);
      return false;
    case Conntrack::CtState::kNew:
      break;
  }
  f->meta.fast.ok = false;  // a new connection: never cached
  const FwRule* r = fw_match(pol, k, /*ingress=*/!from_endpoint_);
  if (ctx.trace()) trace(ctx, port, r ? TraceWhat::kFwAllowed : TraceWhat::kFwDenied, "", &v, r);
  if (!r) {
    ++d[3];
    ctx.drop(port, f, Drop::kFwDenied);
    return false;
  }
  if (!ctx.dry_run()) {
    const auto c = ct_.commit(pk, now, fw_mark(r->group, r->id));
    if (c.result == Conntrack::Commit::kFull) {
      ++d[3];
      ctx.drop(port, f, Drop::kCtFull);
      return false;
    }
  }
  ++d[2];
  return true;
}

// What the kernel fast path may cache of a frame this firewall passed as
// part of a connection (dp/fast_path.h): only a connection established in
// both directions (TCP ESTABLISHED, others replied), and not a packet that
// starts closing it (FIN, RST: the connection's cached frames go now, and
// the programs send FIN and RST to the slow path anyway). The connection is
// noted on the frame so that the kernel's use of it keeps it alive.
void FirewallStage::fast_path_note(PipelineContext& ctx, Port& port, net::Frame* f, const Conntrack::Verdict& v,
                                   const Conntrack::Packet& pk) {
  net::FastMeta& m = f->meta.fast;
  if (pk.tcp_flags & (kTcpFin | kTcpRst)) {
    m.ok = false;
    if (ctx.fast_path() && !ctx.dry_run()) ctx.fast_path()->forget_conn(ct_, v.conn);
    return;
  }
  const bool settled = v.state == Conntrack::CtState::kEstablished &&
                       (v.conn_state == Conntrack::ConnState::kEstablished ||
                        v.conn_state == Conntrack::ConnState::kReplied);
  if (!settled || m.conns == net::kFastConns) {
    m.ok = false;
    return;
  }
  m.conn_port[m.conns] = port.id;
  m.conn[m.conns] = v.conn;
  m.conn_dir[m.conns++] = static_cast<uint8_t>(v.dir);
}

void FirewallStage::process(PipelineContext& ctx, Port& port, net::FrameBatch& batch) {
  std::array<uint64_t, 6> d{};
  keep_if(batch, [&](net::Frame* f) KVNET_HOT_LAMBDA { return pass(ctx, port, f, d.data()); });
  n_.add(ctx, d);
}

}  // namespace kvnet::dp
