#include "ctl/report.h"

#include <fmt/format.h>

namespace kvnet::ctl {

nlohmann::json counters_json(const dp::PortCounters& c) {
  nlohmann::json drops = nlohmann::json::object();
  for (size_t i = 0; i < c.drops.size(); ++i)
    if (c.drops[i]) drops[std::string(dp::kDropNames[i])] = c.drops[i];
  return {{"rx_packets", c.rx_packets}, {"rx_bytes", c.rx_bytes},     {"tx_packets", c.tx_packets},
          {"tx_bytes", c.tx_bytes},     {"drops_total", c.total_drops()}, {"drops", drops}};
}

std::string render_replay_text(const ReplayResult& r, bool show_fdb) {
  std::string out = fmt::format("replayed {} frame(s) from {} pcap file(s) in {:.3f} s\n\n", r.frames, r.files,
                                r.seconds);
  size_t wb = 6, wp = 4;
  for (const auto& p : r.ports) wb = std::max(wb, p.bridge.size()), wp = std::max(wp, p.port.size());
  out += fmt::format("{:<{}}  {:<{}}  {:<5}  {:>9} {:>11}  {:>9} {:>11}  {:>7}\n", "BRIDGE", wb, "PORT", wp, "TYPE",
                     "RX_PKTS", "RX_BYTES", "TX_PKTS", "TX_BYTES", "DROPS");
  for (const auto& p : r.ports) {
    const auto& c = p.counters;
    out += fmt::format("{:<{}}  {:<{}}  {:<5}  {:>9} {:>11}  {:>9} {:>11}  {:>7}\n", p.bridge, wb, p.port, wp, p.type,
                       c.rx_packets, c.rx_bytes, c.tx_packets, c.tx_bytes, c.total_drops());
  }
  std::string drops;
  for (const auto& p : r.ports)
    for (size_t i = 0; i < p.counters.drops.size(); ++i)
      if (p.counters.drops[i])
        drops += fmt::format("  {}/{}: {} {}\n", p.bridge, p.port, dp::kDropNames[i], p.counters.drops[i]);
  if (!drops.empty()) out += "\ndrops by reason:\n" + drops;
  if (show_fdb) {
    out += "\nFDB (bridge, VLAN, MAC, port):\n";
    for (const auto& e : r.fdb)
      out += fmt::format("  {:<{}} {:>4}  {}  {}{}\n", e.bridge, wb, e.vlan, e.mac, e.port, e.is_static ? "  static" : "");
  }
  return out;
}

nlohmann::json render_replay_json(const ReplayResult& r) {
  nlohmann::json j;
  j["frames"] = r.frames;
  j["files"] = r.files;
  j["seconds"] = r.seconds;
  j["ports"] = nlohmann::json::array();
  for (const auto& p : r.ports) {
    auto c = counters_json(p.counters);
    c["bridge"] = p.bridge;
    c["port"] = p.port;
    c["type"] = p.type;
    j["ports"].push_back(c);
  }
  if (!r.has_fdb) return j;
  j["fdb"] = nlohmann::json::array();
  for (const auto& e : r.fdb)
    j["fdb"].push_back({{"bridge", e.bridge}, {"vlan", e.vlan}, {"mac", e.mac}, {"port", e.port}, {"static", e.is_static}});
  return j;
}

}  // namespace kvnet::ctl
