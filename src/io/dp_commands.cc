#include "io/dp_commands.h"

#include <unordered_map>

#include "base/clock.h"
#include "dp/firewall_install.h"
#include "io/tunnel.h"

namespace kvnet::io {

ChangeResult apply_change(dp::Datapath& dp, Change c, const PortWatch& watch) {
  ChangeResult r;
  std::vector<dp::Port*> added;
  auto port = [&](PortRef ref) -> dp::Port* { return ref.added ? added[ref.v] : dp.ports()[ref.v].get(); };
  auto remove = [&](dp::Port& p) {
    if (watch.unwatch) watch.unwatch(p);
    std::string name = p.name;
    if (auto be = dp.remove_port(p)) r.removed.emplace_back(std::move(name), std::move(be));
  };
  for (const auto& f : c.fdb_remove)
    if (dp::Bridge* b = dp.find_bridge(f.bridge); b && b->fdb()) {
      b->fdb()->remove(f.vlan, f.mac);
      for (dp::Port* p : b->ports())
        if (p->backend) p->backend->set_static_remote(f.vlan, f.mac, "");
    }
  for (uint32_t id : c.remove_ports)
    if (dp::Port* p = dp.ports()[id].get()) remove(*p);
  for (const auto& name : c.remove_bridges)
    if (dp::Bridge* b = dp.find_bridge(name)) {
      const std::vector<dp::Port*> ports = b->ports();
      for (dp::Port* p : ports) remove(*p);
      dp.remove_bridge(*b);
    }
  for (const auto& b : c.add_bridges) dp.add_bridge(b.name, b.type, b.settings);
  for (const auto& [name, s] : c.bridge_settings) dp.find_bridge(name)->set_settings(s);
  for (auto& a : c.add_ports) {
    dp::Port& p = dp.add_port(*dp.find_bridge(a.bridge), a.name, a.kind, a.mtu, a.vlan, std::move(a.backend));
    if (watch.watch) watch.watch(p);
    added.push_back(&p);
    r.added_ids.push_back(p.id);
  }
  for (const auto& x : c.reconfigure) dp.reconfigure_port(*dp.ports()[x.port], x.vlan, x.mtu);
  for (auto& [ref, policy] : c.firewalls) dp.set_firewall(*port(ref), std::move(policy));
  for (const auto& [a, b] : c.patches) dp.connect_patch(*port(a), *port(b));
  for (const auto& f : c.fdb_add) {
    dp::Port* p = port(f.port);
    if (!dp.find_bridge(f.bridge)->fdb()->add_static(f.vlan, f.mac, p->id)) ++r.fdb_refused;
    if (p->backend && !f.remote.empty()) p->backend->set_static_remote(f.vlan, f.mac, f.remote);
  }
  for (const auto& [bridge, list] : c.mirrors) {
    dp::Bridge* b = dp.find_bridge(bridge);
    if (!b) continue;
    std::vector<dp::MirrorConfig> cfgs;
    for (const auto& m : list) {
      dp::MirrorConfig mc{m.name, m.select_all, {}, {}, m.vlans, nullptr, m.out_vlan};
      for (const auto& ref : m.src) mc.src.push_back(port(ref));
      for (const auto& ref : m.dst) mc.dst.push_back(port(ref));
      if (m.out_port) mc.out_port = port(*m.out_port);
      cfgs.push_back(std::move(mc));
    }
    dp.set_mirrors(*b, std::move(cfgs));
  }
  return r;
}

ChangeResult DatapathCommands::apply(Change c) {
  return rt_.call([&](dp::Datapath& dp) {
    return apply_change(dp, std::move(c), {[this](dp::Port& p) { rt_.watch(p); }, [this](dp::Port& p) { rt_.unwatch(p); }});
  });
}

std::unique_ptr<dp::PortBackend> DatapathCommands::swap_backend(uint32_t id, std::unique_ptr<dp::PortBackend> b) {
  return rt_.call([&](dp::Datapath& dp) {
    dp::Port& p = *dp.ports()[id];
    rt_.unwatch(p);
    auto old = dp.swap_backend(p, std::move(b));
    rt_.watch(p);
    return old;
  });
}

std::vector<DatapathCommands::FdbRow> DatapathCommands::fdb_dump(const std::string& bridge) {
  return rt_.call([&](dp::Datapath& dp) {
    if (dp.fast_path()) dp.fast_path()->sync();  // stations heard only in the kernel are fresh
    std::vector<FdbRow> out;
    dp::Bridge* b = dp.find_bridge(bridge);
    if (!b || !b->fdb()) return out;
    for (const auto& e : b->fdb()->entries()) {
      const dp::Port* p = e.port < dp.ports().size() ? dp.ports()[e.port].get() : nullptr;
      out.push_back({e, p && p->backend ? p->backend->remote_of(e.vlan, e.mac) : std::string()});
    }
    return out;
  });
}

uint32_t DatapathCommands::fdb_flush(const std::string& bridge) {
  return rt_.call([&](dp::Datapath& dp) -> uint32_t {
    dp::Bridge* b = dp.find_bridge(bridge);
    if (!b || !b->fdb()) return 0;
    const uint32_t before = b->fdb()->size();
    b->fdb()->flush();
    return before - b->fdb()->size();
  });
}

bool DatapathCommands::set_neighbors(const std::string& bridge, std::shared_ptr<const dp::NeighborTable> t) {
  std::shared_ptr<const dp::NeighborTable> old;
  const bool ok = rt_.call([&](dp::Datapath& dp) -> bool {
    dp::Bridge* b = dp.find_bridge(bridge);
    if (!b) return false;
    old = b->set_neighbors(std::move(t));
    return true;
  });
  return ok;
}

std::optional<size_t> DatapathCommands::flow_mod(const std::string& bridge, dp::FlowModCommand cmd,
                                                 const dp::Flow& flow, const dp::FlowSelector& sel) {
  std::unique_ptr<dp::FlowTables> old;  // freed here, on the control thread
  auto r = rt_.call([&](dp::Datapath& dp) -> std::optional<size_t> {
    dp::Bridge* b = dp.find_bridge(bridge);
    if (!b || b->type() != dp::BridgeType::kSwitch) return std::nullopt;
    // The tables change in place (counters of the flows that stay are
    // kept); set_flows again to re-check whether they are the default.
    std::unique_ptr<dp::FlowTables> t = b->set_flows(nullptr);
    if (!t) t = std::make_unique<dp::FlowTables>();
    const size_t n = dp::flow_mod(*t, cmd, flow, sel, monotonic_ns());
    old = b->set_flows(std::move(t));
    return n;
  });
  return r;
}

size_t DatapathCommands::expire_flows() {
  std::vector<std::unique_ptr<dp::FlowTables>> old;  // freed here, on the control thread
  return rt_.call([&](dp::Datapath& dp) -> size_t {
    size_t n = 0;
    for (const auto& b : dp.bridges()) {
      if (!b->flows()) continue;
      const size_t gone = dp::expire_flows(*b->flows(), monotonic_ns());
      if (gone) old.push_back(b->set_flows(b->set_flows(nullptr)));  // again: still other than the default?
      n += gone;
    }
    return n;
  });
}

std::optional<std::vector<dp::Flow>> DatapathCommands::dump_flows(const std::string& bridge) {
  return rt_.call([&](dp::Datapath& dp) -> std::optional<std::vector<dp::Flow>> {
    dp::Bridge* b = dp.find_bridge(bridge);
    if (!b || b->type() != dp::BridgeType::kSwitch) return std::nullopt;
    std::vector<dp::Flow> out;
    if (!b->flows()) {  // never changed: the default flow (its counters: none, nothing is looked up)
      out.push_back(dp::default_flow());
      return out;
    }
    for (const dp::Flow* f : b->flows()->flows()) out.push_back(*f);
    return out;
  });
}

namespace {

// The port of a firewall zone (dp/firewall_install.h).
const dp::Port* zone_port(dp::Datapath& dp, uint16_t zone) {
  const uint32_t id = dp::fw_zone_port(zone);
  return zone && id < dp.ports().size() ? dp.ports()[id].get() : nullptr;
}

}  // namespace

std::vector<ConntrackRow> DatapathCommands::conntrack_dump(const std::string& bridge, const std::string& port) {
  return rt_.call([&](dp::Datapath& dp) {
    if (dp.fast_path()) dp.fast_path()->sync();  // connections carried in the kernel: counted now
    std::vector<ConntrackRow> out;
    const uint64_t now = monotonic_ns();
    for (const auto& b : dp.bridges()) {
      if ((!bridge.empty() && b->name() != bridge) || !b->conntrack()) continue;
      for (const auto& e : b->conntrack()->entries(now)) {
        const dp::Port* p = zone_port(dp, e.zone());
        const std::string pname = p && p->bridge == b.get() ? p->name : "";
        if (!port.empty() && pname != port) continue;
        out.push_back({b->name(), pname, e, e.seconds_left(now), dp::format_entry(e, now)});
      }
    }
    return out;
  });
}

size_t DatapathCommands::conntrack_flush(const std::string& bridge, const std::string& port) {
  return rt_.call([&](dp::Datapath& dp) -> size_t {
    dp.changed();  // the fast path's entries of those connections die with them
    size_t n = 0;
    for (const auto& b : dp.bridges()) {
      if ((!bridge.empty() && b->name() != bridge) || !b->conntrack()) continue;
      if (port.empty()) {
        n += b->conntrack()->size();
        b->conntrack()->flush();
        continue;
      }
      for (const dp::Port* p : b->ports())
        if (p->name == port) n += b->conntrack()->flush_zone(dp::fw_zone(*p));
    }
    return n;
  });
}

std::vector<PortCountersRow> DatapathCommands::counters() {
  return rt_.call([&](dp::Datapath& dp) {
    if (dp.fast_path()) dp.fast_path()->sync();  // what the kernel forwarded, counted now
    std::vector<PortCountersRow> out;
    for (const auto& p : dp.ports())
      if (p)
        out.push_back({p->id, p->bridge->name(), p->name, p->kind, p->counters,
                       p->taps ? static_cast<uint32_t>(p->taps->taps.size()) : 0u});
    return out;
  });
}

DatapathMetrics DatapathCommands::metrics() {
  return rt_.call([&](dp::Datapath& dp) {
    if (dp.fast_path()) dp.fast_path()->sync();
    DatapathMetrics m;
    for (const auto& p : dp.ports()) {
      if (!p) continue;
      m.ports.push_back({p->id, p->bridge->name(), p->name, p->kind, p->counters});
      if (auto* t = dynamic_cast<TunnelBackend*>(p->backend.get()))
        m.tunnels.push_back({p->bridge->name(), p->name, t->remote_count(), t->learned_count()});
    }
    for (const auto& b : dp.bridges()) {
      DatapathMetrics::Bridge row{b->name(), {}, {}};
      if (b->fdb()) row.fdb_entries = b->fdb()->size();
      if (b->conntrack()) row.conntrack_entries = b->conntrack()->size();
      m.bridges.push_back(std::move(row));
    }
    m.loop = rt_.loop_times();
    return m;
  });
}

size_t DatapathCommands::clear_counters(std::optional<uint32_t> port) {
  return rt_.call([&](dp::Datapath& dp) -> size_t {
    // What the kernel forwarded so far is counted first, so it is cleared
    // too rather than added to the fresh counters at the next revalidation.
    if (dp.fast_path()) dp.fast_path()->sync();
    size_t n = 0;
    for (const auto& p : dp.ports())
      if (p && (!port || p->id == *port)) {
        p->counters = dp::PortCounters{};
        ++n;
      }
    return n;
  });
}

std::vector<MirrorRow> DatapathCommands::mirrors() {
  return rt_.call([&](dp::Datapath& dp) {
    std::vector<MirrorRow> out;
    for (const auto& b : dp.bridges())
      for (const auto& m : b->mirrors().mirrors())
        out.push_back({b->name(), m.cfg.name, m.cfg.out_port || m.cfg.out_vlan, m.counters});
    return out;
  });
}

namespace {
std::vector<StageRow> stage_rows(const std::vector<std::unique_ptr<dp::Stage>>& stages) {
  std::vector<StageRow> out;
  for (const auto& st : stages) {
    StageRow r{std::string(st->name()), {}};
    for (const auto& c : st->counters()) r.counters.emplace_back(std::string(c.name), c.value);
    out.push_back(std::move(r));
  }
  return out;
}
}  // namespace

std::vector<BridgePipelineRow> DatapathCommands::pipeline() {
  return rt_.call([&](dp::Datapath& dp) {
    std::vector<BridgePipelineRow> out;
    std::unordered_map<const dp::Bridge*, size_t> row_of;
    for (const auto& b : dp.bridges()) {
      row_of[b.get()] = out.size();
      out.push_back({b->name(), b->type(), stage_rows(b->ingress_stages()), stage_rows(b->egress_stages()), {}});
    }
    for (const auto& p : dp.ports())
      if (p) out[row_of.at(p->bridge)].ports.push_back({p->name, stage_rows(p->ingress), stage_rows(p->egress)});
    return out;
  });
}

dp::Trace DatapathCommands::trace(uint32_t port, const std::vector<uint8_t>& frame, uint64_t ts_ns) {
  return rt_.call([&](dp::Datapath& dp) {
    dp::Trace t;
    net::Frame* f = dp.pool().get();
    if (!f) return t;
    f->assign(frame.data(), frame.size());
    f->meta.ts_ns = ts_ns;
    dp.set_trace(&t, true);
    net::FrameBatch batch;
    batch.add(f);
    dp.receive(*dp.ports()[port], batch);
    dp.set_trace(nullptr);
    return t;
  });
}

std::vector<std::unique_ptr<dp::PortBackend>> DatapathCommands::remove_all() {
  return rt_.call([&](dp::Datapath& dp) {
    std::vector<std::unique_ptr<dp::PortBackend>> out;
    while (!dp.bridges().empty()) {
      dp::Bridge& b = *dp.bridges().front();
      for (dp::Port* p : b.ports()) rt_.unwatch(*p);
      for (auto& be : dp.remove_bridge(b)) out.push_back(std::move(be));
    }
    return out;
  });
}

void DatapathCommands::tap_add(uint32_t port, std::shared_ptr<dp::CaptureTap> tap) {
  rt_.call([&](dp::Datapath& dp) {
    if (port < dp.ports().size() && dp.ports()[port]) dp.add_tap(*dp.ports()[port], std::move(tap));
  });
}

bool DatapathCommands::tap_remove(uint32_t port, const dp::CaptureTap* tap) {
  return rt_.call([&](dp::Datapath& dp) {
    return port < dp.ports().size() && dp.ports()[port] && dp.remove_tap(*dp.ports()[port], tap);
  });
}

}  // namespace kvnet::io
