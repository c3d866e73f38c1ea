#include "daemon/gateway_config.h"

#include <charconv>
#include <sstream>

namespace kvnet::daemon {
namespace {

std::string quoted(const std::string& s) { return "\"" + s + "\""; }
std::string comment(const ctl::GatewaySpec& gw) { return " comment \"gw " + gw.name + "\""; }

}  // namespace

std::string nft_ruleset(const std::vector<ctl::GatewaySpec>& gws, const std::string& table) {
  std::ostringstream pre, post, fwd;
  for (const auto& gw : gws) {
    const auto net = ctl::parse_ipv4_cidr(gw.ip);
    if (!net) continue;  // validated before; never half a rule
    const std::string dev = quoted(gw.name), subnet = net->cidr();
    for (const auto& f : gw.forwards)
      pre << "\t\tiifname != " << dev << " fib daddr type local " << f.proto << " dport " << f.host_port
          << " dnat to " << f.ip << ":" << f.port << comment(gw) << "\n";
    if (gw.masquerade)
      post << "\t\tip saddr " << subnet << " ip daddr != " << subnet << " oifname != " << dev
           << " ip daddr != { 224.0.0.0/4, 255.255.255.255 } masquerade" << comment(gw) << "\n";
    fwd << "\t\tiifname " << dev << " ip saddr " << subnet << " accept" << comment(gw) << "\n";
    if (gw.masquerade) {
      fwd << "\t\toifname " << dev << " ip daddr " << subnet << " ct state established,related accept" << comment(gw)
          << "\n";
      for (const auto& f : gw.forwards)
        fwd << "\t\toifname " << dev << " ip daddr " << f.ip << " " << f.proto << " dport " << f.port
            << " ct status dnat accept" << comment(gw) << "\n";
    } else {
      fwd << "\t\toifname " << dev << " ip daddr " << subnet << " accept" << comment(gw) << "\n";
    }
    fwd << "\t\tiifname " << dev << " reject" << comment(gw) << "\n";
    fwd << "\t\toifname " << dev << " reject" << comment(gw) << "\n";
  }
  std::ostringstream out;
  // Create (if missing), delete and re-create: one transaction, so the
  // table is replaced whole.
  out << "table ip " << table << "\n";
  out << "delete table ip " << table << "\n";
  out << "table ip " << table << " {\n";
  out << "\tchain prerouting {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n" << pre.str() << "\t}\n";
  out << "\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n" << post.str()
      << "\t}\n";
  out << "\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n" << fwd.str() << "\t}\n";
  out << "}\n";
  return out.str();
}

std::string nft_delete(const std::string& table) {
  return "table ip " + table + "\ndelete table ip " + table + "\n";
}

DnsmasqPaths DnsmasqPaths::under(const std::string& root, const std::string& gateway) {
  DnsmasqPaths p;
  p.dir = root + "/" + gateway;
  p.conf = p.dir + "/dnsmasq.conf";
  p.pidfile = p.dir + "/dnsmasq.pid";
  p.leases = p.dir + "/leases";
  p.log = p.dir + "/dnsmasq.log";
  return p;
}

std::string dnsmasq_conf(const ctl::GatewaySpec& gw, const DnsmasqPaths& paths, uint32_t mtu) {
  const auto net = ctl::parse_ipv4_cidr(gw.ip);
  const std::string addr = net ? ctl::ipv4_str(net->addr) : "";
  std::ostringstream c;
  c << "# gateway " << gw.name << ": written by kvnetd, which starts this dnsmasq with --conf-file\n";
  c << "# and rewrites this file when the gateway changes.\n";
  c << "pid-file=" << paths.pidfile << "\n";
  c << "interface=" << gw.name << "\n";
  c << "except-interface=lo\n";
  c << "bind-interfaces\n";
  c << "no-hosts\n";
  c << "dhcp-range=" << gw.dhcp_start << "," << gw.dhcp_end << "," << (net ? net->netmask() : "") << ","
    << kDhcpLeaseSeconds << "\n";
  c << "dhcp-option=option:router," << addr << "\n";
  c << "dhcp-option=option:dns-server," << addr << "\n";
  // The MTU the bridge can carry (a tunnel's inner MTU), sent even to a
  // client that did not ask for it, as Neutron does.
  if (mtu) c << "dhcp-option-force=option:mtu," << mtu << "\n";
  c << "dhcp-authoritative\n";
  c << "dhcp-leasefile=" << paths.leases << "\n";
  c << "log-facility=" << paths.log << "\n";
  c << "log-dhcp\n";
  return c.str();
}

std::vector<Lease> parse_leases(const std::string& text) {
  std::vector<Lease> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string expiry, mac, ip, host;
    if (!(ls >> expiry >> mac >> ip >> host)) continue;
    if (expiry == "duid" || ip.find(':') != std::string::npos) continue;  // DHCPv6
    Lease l;
    auto [p, ec] = std::from_chars(expiry.data(), expiry.data() + expiry.size(), l.expires);
    if (ec != std::errc() || p != expiry.data() + expiry.size() || l.expires < 0) continue;
    if (!ctl::parse_ipv4(ip)) continue;
    l.mac = mac;
    l.ip = ip;
    l.hostname = host == "*" ? "" : host;
    out.push_back(std::move(l));
  }
  return out;
}

}  // namespace kvnet::daemon
