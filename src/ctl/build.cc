#include "ctl/build.h"

#include "ctl/firewall_build.h"
#include "ctl/kinds/patch.h"

namespace kvnet::ctl {

Status populate_datapath(dp::Datapath& dp, const Topology& t, const BackendFactory& factory) {
  for (const auto& b : t.bridges) {
    dp::Bridge& br = dp.add_bridge(b.name, b.type, b.settings);
    for (const auto& p : b.ports) {
      std::unique_ptr<dp::PortBackend> backend;
      if (!p.kind->is_patch()) {
        auto r = factory(b, p);
        if (!r) return r.error();
        backend = std::move(*r);
      }
      dp.add_port(br, p.name, p.kind->tag(), p.mtu, p.vlan, std::move(backend));
    }
  }
  for (const auto& b : t.bridges)
    for (const auto& p : b.ports)
      if (const auto* o = p.as<PatchOptions>())
        if (dp::Port* z = dp.find_port(o->peer_bridge + "/" + o->peer_port))  // may dangle in the daemon
          dp.connect_patch(*dp.find_port(b.name + "/" + p.name), *z);
  // Security groups and port security (kvnetd installs them through its change set).
  for (const auto& b : t.bridges)
    for (const auto& p : b.ports)
      if (auto fw = build_firewall(t, p.name)) dp.set_firewall(*dp.find_port(b.name + "/" + p.name), std::move(fw));
  for (const auto& b : t.bridges) {
    if (b.mirrors.empty()) continue;
    auto port = [&](const std::string& name) { return dp.find_port(b.name + "/" + name); };
    std::vector<dp::MirrorConfig> mirrors;
    for (const auto& m : b.mirrors) {
      dp::MirrorConfig c{m.name, m.select_all, {}, {}, {}, nullptr, m.output_vlan};
      for (const auto& p : m.src_ports) c.src.push_back(port(p));
      for (const auto& p : m.dst_ports) c.dst.push_back(port(p));
      if (m.vlans.any()) c.vlans = m.vlans;
      if (!m.output_port.empty()) c.out_port = port(m.output_port);
      mirrors.push_back(std::move(c));
    }
    dp.set_mirrors(*dp.find_bridge(b.name), std::move(mirrors));
  }
  for (const auto& b : t.bridges) {
    dp::Bridge* br = dp.find_bridge(b.name);
    for (const auto& f : b.fdb)
      if (!br->fdb()->add_static(f.vlan, f.mac, dp.find_port(b.name + "/" + f.port)->id))
        return Error{"bridge '" + b.name + "': static FDB entries exceed mac_table_size " +
                     std::to_string(b.settings.mac_table_size)};
  }
  return Ok{};
}

Result<std::unique_ptr<dp::Datapath>> build_datapath(const Topology& t, const BackendFactory& factory,
                                                     size_t pool_frames) {
  auto dp = std::make_unique<dp::Datapath>(pool_frames);
  if (auto s = populate_datapath(*dp, t, factory); !s) return s.error();
  return dp;
}

}  // namespace kvnet::ctl
