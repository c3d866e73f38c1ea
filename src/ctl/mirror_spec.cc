#include "ctl/mirror_spec.h"

#include <set>

#include "ctl/topology.h"

namespace kvnet::ctl {

std::string MirrorSpec::output() const {
  return output_port.empty() ? "vlan " + std::to_string(output_vlan) : "port " + output_port;
}

Status check_mirror(const MirrorSpec& m) {
  const std::string ctx = "mirror '" + m.name + "': ";
  if (auto s = check_name(m.name); !s) return Error{ctx + s.error().message};
  if (m.output_port.empty() && m.output_vlan == 0)
    return Error{ctx + "needs an output: output_port (a port of its bridge) or output_vlan"};
  if (!m.output_port.empty() && m.output_vlan != 0)
    return Error{ctx + "output_port and output_vlan exclude each other: give one"};
  if (m.output_vlan != 0 && (m.output_vlan < dp::kMinVid || m.output_vlan > dp::kMaxVid))
    return Error{ctx + "output_vlan " + std::to_string(m.output_vlan) + " is out of range 1-4094"};
  if (m.vlans[0] || m.vlans[4095]) return Error{ctx + "select_vlans may only hold VIDs 1-4094"};
  if (m.select_all && (!m.src_ports.empty() || !m.dst_ports.empty()))
    return Error{ctx + "select_all selects every port already: drop select_src_ports/select_dst_ports"};
  if (!m.select_all && m.src_ports.empty() && m.dst_ports.empty())
    return Error{ctx + "selects nothing: set select_all, or list select_src_ports or select_dst_ports"};
  for (const auto* list : {&m.src_ports, &m.dst_ports}) {
    const char* key = list == &m.src_ports ? "select_src_ports" : "select_dst_ports";
    std::set<std::string> seen;
    for (const auto& p : *list)
      if (!seen.insert(p).second) return Error{ctx + key + " lists port '" + p + "' twice"};
  }
  return Ok{};
}

Fields mirror_fields(const MirrorSpec& m) {
  Fields f;
  auto join = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : ",") + x;
    return s;
  };
  if (m.select_all) f.push_back({"select_all", "true"});
  if (!m.src_ports.empty()) f.push_back({"select_src_ports", join(m.src_ports), true});
  if (!m.dst_ports.empty()) f.push_back({"select_dst_ports", join(m.dst_ports), true});
  if (m.vlans.any()) f.push_back({"select_vlans", dp::vlan_set_str(m.vlans), true});
  if (!m.output_port.empty()) f.push_back({"output_port", m.output_port});
  if (m.output_vlan) f.push_back({"output_vlan", std::to_string(m.output_vlan)});
  return f;
}

// A port that goes leaves the selections of the bridge's mirrors (as in
// OVS); the output of a mirror, or the last port a mirror selects, cannot go
// before the mirror.
Status forget_mirrored_port(BridgeSpec& b, const std::string& port) {
  for (auto& m : b.mirrors) {
    if (m.output_port == port)
      return Error{"port '" + port + "' is the output of mirror '" + m.name + "': 'mirror del " + m.name + "' first"};
    std::erase(m.src_ports, port);
    std::erase(m.dst_ports, port);
    if (!m.select_all && m.src_ports.empty() && m.dst_ports.empty())
      return Error{"port '" + port + "' is the last port mirror '" + m.name + "' selects: 'mirror del " + m.name +
                   "' first"};
  }
  return Ok{};
}

}  // namespace kvnet::ctl
