#include "daemon/cluster_draw.h"

#include <map>
#include <set>

#include <fmt/format.h>

#include "ctl/draw.h"

namespace kvnet::daemon {

namespace {

// A DOT string: quoted, with quotes and backslashes escaped ("\n" stays a
// line break, as DOT labels want).
std::string q(const std::string& s) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '"' || (s[i] == '\\' && (i + 1 >= s.size() || s[i + 1] != 'n'))) out += '\\';
    out += s[i];
  }
  return out + "\"";
}

std::string net_color(uint32_t vni) { return ctl::vlan_color(static_cast<uint16_t>(vni % 65521)); }

}  // namespace

std::string cluster_dot(const cluster::ClusterState& st, const std::string& this_host) {
  // Every host the store names: registered (members/), published (hosts/)
  // or holding bindings.
  std::map<std::string, const cluster::HostRecord*> hosts;
  for (const auto& [n, h] : st.members()) hosts[n] = &h;
  for (const auto& [n, h] : st.up()) hosts[n] = &h;
  std::map<std::string, std::vector<const cluster::BindingRecord*>> ports;  // by host
  std::map<std::string, std::set<std::string>> carried;                    // host -> networks
  std::map<std::string, size_t> per_network;
  for (const auto& [k, b] : st.bindings()) {
    ports[b.host].push_back(&b);
    carried[b.host].insert(b.network);
    ++per_network[b.network];
    hosts.try_emplace(b.host, nullptr);
  }
  auto color_of = [&](const std::string& net) {
    auto it = st.networks().find(net);
    return it == st.networks().end() ? std::string("#dddddd") : net_color(it->second.vni);
  };
  size_t up = 0;
  for (const auto& [n, h] : hosts) up += st.is_up(n);

  std::string d = "graph kvnet_cluster {\n";
  d += "  graph [rankdir=LR, fontname=\"Helvetica\", fontsize=11, labelloc=t, label=" +
       q(fmt::format("kvnet cluster: {} host(s) up, {} down; {} network(s), {} port(s)", up, hosts.size() - up,
                     st.networks().size(), st.bindings().size())) +
       "];\n";
  d += "  node [fontname=\"Helvetica\", fontsize=10, shape=box, style=rounded];\n";
  d += "  edge [fontname=\"Helvetica\", fontsize=9];\n";
  for (const auto& [name, rec] : hosts) {
    const bool is_up = st.is_up(name);
    const std::string ip = is_up ? st.up().at(name).underlay_ip : rec ? rec->underlay_ip : "";
    d += "  subgraph " + q("cluster_host:" + name) + " {\n";
    d += "    id=" + q("host:" + name) + "; class=" + q(std::string("host ") + (is_up ? "up" : "down")) + ";\n";
    d += "    label=" + q(name + (name == this_host ? " (this host)" : "") + "\n" + (ip.empty() ? "?" : ip) + ", " +
                        (is_up ? "up" : "down")) + ";\n";
    d += std::string("    style=") + (is_up ? "rounded" : "\"rounded,dashed\"") + "; color=" +
         (is_up ? "\"#444444\"" : "\"#aaaaaa\"") + ";\n";
    d += "    " + q("brint:" + name) + " [id=" + q("brint:" + name) + ", label=\"br-int\", shape=ellipse];\n";
    d += "    " + q("vtep:" + name) + " [id=" + q("vtep:" + name) + ", label=" + q("vx-cluster\nVTEP " + ip) +
         ", shape=hexagon];\n";
    d += "    " + q("brint:" + name) + " -- " + q("vtep:" + name) + ";\n";
    for (const auto* b : ports[name]) {
      std::string label = (b->owner.empty() ? b->port : b->owner) + "\n";
      for (const auto& a : b->ips) label += a + " ";
      label += "\n" + b->mac;
      const std::string id = "port:" + name + "/" + b->port;
      d += "    " + q(id) + " [id=" + q(id) + ", class=" + q("port network-" + b->network) + ", label=" + q(label) +
           ", style=\"rounded,filled" + (is_up ? "" : ",dashed") + "\", fillcolor=" +
           q(is_up ? color_of(b->network) : "#eeeeee") + "];\n";
      d += "    " + q(id) + " -- " + q("brint:" + name) + " [color=" + q(color_of(b->network)) + "];\n";
    }
    d += "  }\n";
  }
  // Tunnels: between two hosts that are up and share a network.
  for (auto a = hosts.begin(); a != hosts.end(); ++a) {
    if (!st.is_up(a->first)) continue;
    for (auto b = std::next(a); b != hosts.end(); ++b) {
      if (!st.is_up(b->first)) continue;
      std::string label, color;
      for (const auto& n : carried[a->first])
        if (carried[b->first].count(n)) {
          auto it = st.networks().find(n);
          label += (label.empty() ? "" : "\n") + n + (it == st.networks().end() ? "" : " (VNI " + std::to_string(it->second.vni) + ")");
          if (color.empty()) color = color_of(n);
        }
      if (label.empty()) continue;
      const std::string id = "tunnel:" + a->first + "--" + b->first;
      d += "  " + q("vtep:" + a->first) + " -- " + q("vtep:" + b->first) + " [id=" + q(id) +
           ", class=\"tunnel\", style=dashed, penwidth=2, color=" + q(color) + ", label=" + q(label) + "];\n";
    }
  }
  // The legend: the networks.
  std::string rows;
  for (const auto& [n, net] : st.networks())
    rows += fmt::format("<tr><td bgcolor=\"{}\">  </td><td align=\"left\">{} VNI {}{} &middot; {} port(s)</td></tr>",
                        net_color(net.vni), n, net.vni, net.subnet.empty() ? "" : " " + net.subnet,
                        per_network.count(n) ? per_network.at(n) : 0);
  if (!rows.empty())
    d += "  legend [id=\"legend\", shape=plaintext, label=<<table border=\"0\" cellborder=\"1\" cellspacing=\"0\">"
         "<tr><td colspan=\"2\"><b>networks</b></td></tr>" + rows + "</table>>];\n";
  d += "}\n";
  return d;
}

}  // namespace kvnet::daemon
