#include "daemon/service.h"

#include <yaml-cpp/yaml.h>

#include <set>

#include "ctl/build.h"
#include "ctl/flow_spec.h"
#include "daemon/netns.h"
#include "ctl/report.h"
#include "ctl/trace_run.h"
#include "io/af_packet.h"
#include "io/pcap_port.h"
#include "io/tap.h"

namespace kvnet::daemon {

using namespace kvnet::ctl;
namespace {

// A port whose kernel interface is missing: configured, but nothing moves.
class VanishedBackend final : public dp::PortBackend {
 public:
  explicit VanishedBackend(std::string why) : why_(std::move(why)) {}
  bool accepts_offload() const override { return true; }
  uint32_t send(net::FrameBatch& b, net::FramePool& pool) override {
    pool.put(b);
    return 0;
  }
  std::string describe() const override { return "vanished: " + why_; }

 private:
  std::string why_;
};

Result<std::string> str_arg(const json& r, const char* key, bool required = true) {
  if (!r.contains(key) || r[key].is_null()) {
    if (required) return Error{std::string("missing argument '") + key + "'"};
    return std::string();
  }
  if (!r[key].is_string()) return Error{std::string("argument '") + key + "' must be a string"};
  return r[key].get<std::string>();
}

YAML::Node doc_of(const Topology& t) { return YAML::Load(to_yaml(t)); }

YAML::Node find_named(YAML::Node seq, const std::string& name) {
  if (seq && seq.IsSequence())
    for (auto n : seq)
      if (n["name"] && n["name"].Scalar() == name) return n;
  return YAML::Node(YAML::NodeType::Undefined);
}

// Applies key=value options to a port's YAML map; "" removes a key. Changing
// vlan_mode drops list keys the new mode does not use, unless also given.
Status apply_options(YAML::Node port, const json& opts) {
  if (opts.is_null()) return Ok{};
  if (!opts.is_object()) return Error{"options must be an object of key: value strings"};
  if (opts.contains("vlan_mode")) {
    const std::string mode = opts["vlan_mode"].is_string() ? opts["vlan_mode"].get<std::string>() : "";
    const bool trunk_like = mode == "trunk" || mode == "native-tagged" || mode == "native-untagged";
    auto drop = [&](const char* k, bool keep) {
      if (!keep && !opts.contains(k)) port.remove(k);
    };
    drop("allowed", trunk_like);
    drop("tagged", mode == "hybrid");
    drop("untagged", mode == "hybrid");
    drop("cvlans", mode == "dot1q-tunnel");
    drop("qinq_ethtype", mode == "dot1q-tunnel");
  }
  for (auto it = opts.begin(); it != opts.end(); ++it) {
    if (it.key() == "name") return Error{"a port's name cannot be changed; delete and add it"};
    std::string v;
    if (it->is_string()) v = it->get<std::string>();
    else if (it->is_number_integer()) v = std::to_string(it->get<int64_t>());
    else return Error{"option '" + it.key() + "' must be a string or a number"};
    // Lists stay scalars ("10,20-30"): the loader splits them on commas.
    if (v.empty()) port.remove(it.key());
    else port[it.key()] = v;
  }
  return Ok{};
}

bool same_container(const ContainerSpec& a, const ContainerSpec& b) {
  return a.name == b.name && a.port == b.port && a.ip == b.ip && a.gw == b.gw && a.mac == b.mac;
}

bool same_backend(const PortSpec& a, const PortSpec& b) {
  return a.type == b.type && a.rx == b.rx && a.tx == b.tx && a.peer_bridge == b.peer_bridge &&
         a.peer_port == b.peer_port && a.persistent == b.persistent;
}

bool same_vlan(const dp::VlanConfig& a, const dp::VlanConfig& b) {
  return a.mode == b.mode && a.pvid == b.pvid && a.allowed == b.allowed && a.tagged == b.tagged &&
         a.untagged == b.untagged && a.cvlans == b.cvlans && a.qinq_tpid == b.qinq_tpid &&
         a.priority_tags == b.priority_tags;
}

}  // namespace

BackendOpener kernel_backends() {
  return [](const PortSpec& p) -> Result<std::unique_ptr<dp::PortBackend>> {
    const std::string who = "port '" + p.name + "': ";
    switch (p.type) {
      case dp::PortType::kTap:
      case dp::PortType::kInternal: {
        auto t = io::TapBackend::open(p.name, p.persistent);
        if (!t) return Error{who + t.error().message};
        return std::unique_ptr<dp::PortBackend>(std::move(*t));
      }
      case dp::PortType::kSystem: {
        auto s = io::AfPacketBackend::open(p.name);
        if (!s) return Error{who + s.error().message};
        return std::unique_ptr<dp::PortBackend>(std::move(*s));
      }
      case dp::PortType::kPcap: {
        if (!p.rx.empty()) return Error{who + "kvnetd records pcap ports (tx); 'rx' replay is for 'kvnet replay'"};
        if (p.tx.empty()) return std::unique_ptr<dp::PortBackend>(std::make_unique<dp::DiscardBackend>());
        auto w = io::PcapTxBackend::open(p.tx, true);
        if (!w) return Error{who + w.error().message};
        return std::unique_ptr<dp::PortBackend>(std::move(*w));
      }
      case dp::PortType::kPatch: break;
    }
    return Error{who + "patch ports have no backend"};
  };
}

Service::Service(std::unique_ptr<Store> store, dp::Datapath& dp, io::Runtime& rt, BackendOpener opener,
                 ServiceOptions opts)
    : store_(std::move(store)), dp_(dp), rt_(rt), opener_(std::move(opener)), opts_(opts) {}

Result<Topology> Service::candidate(const std::string& yaml) const {
  return parse_topology(yaml, "", "/", ParseOptions{.allow_dangling_patches = true});
}

Result<json> Service::change(const std::string& yaml) {
  auto next = candidate(yaml);
  if (!next) return next.error();
  if (auto s = commit(*next); !s) return s.error();
  return json{{"changed", true}};
}

Status Service::restore() {
  auto t = store_->load();
  if (!t) return t.error();
  Topology next = std::move(*t);
  // Build from nothing, tolerating vanished interfaces; the DB already holds it.
  if (opts_.manage_containers)
    for (const auto& c : next.containers)
      if (auto s = container_ensure(c); !s) vanished_[c.port] = s.error().message;
  auto open_or_park = [&](const BridgeSpec&, const PortSpec& p) -> Result<std::unique_ptr<dp::PortBackend>> {
    auto r = opener_(p);
    if (r) return r;
    vanished_[p.name] = r.error().message;
    return std::unique_ptr<dp::PortBackend>(std::make_unique<VanishedBackend>(r.error().message));
  };
  auto built = rt_.call([&](dp::Datapath& dp) -> Status {
    auto s = populate_datapath(dp, next, open_or_park);
    for (const auto& p : dp.ports())
      if (p) rt_.watch(*p);
    return s;
  });
  if (!built) return built.error();
  cur_ = std::move(next);
  return Ok{};
}

int Service::retry_vanished() {
  // Ports whose device went away while running: park them like at restore.
  std::vector<std::string> failed = rt_.take_failed();
  rt_.call([&](dp::Datapath& dp) {
    for (const auto& p : dp.ports())
      if (p && p->backend && !vanished_.count(p->name) && !p->backend->failed() && !p->backend->check_alive()) {
        rt_.unwatch(*p);
        failed.push_back(p->name);
      }
    return 0;
  });
  for (const auto& name : failed) {
    const std::string why = "interface '" + name + "' went away";
    vanished_[name] = why;
    rt_.call([&](dp::Datapath& dp) {
      if (dp::Port* p = dp.find_port(name)) p->backend = std::make_unique<VanishedBackend>(why);
      return 0;
    });
  }
  int back = 0;
  for (auto it = vanished_.begin(); it != vanished_.end();) {
    const BridgeSpec* bs = nullptr;
    const PortSpec* ps = cur_.find_port(it->first, &bs);
    if (!ps) {
      it = vanished_.erase(it);
      continue;
    }
    auto r = opener_(*ps);
    if (!r) {
      ++it;
      continue;
    }
    std::unique_ptr<dp::PortBackend> backend = std::move(*r);
    rt_.call([&](dp::Datapath& dp) {
      dp::Port* p = dp.find_port(bs->name + "/" + ps->name);
      if (!p) return 0;
      rt_.unwatch(*p);
      p->backend = std::move(backend);
      rt_.watch(*p);
      return 0;
    });
    it = vanished_.erase(it);
    ++back;
  }
  return back;
}

Status Service::commit(const Topology& next) {
  // 1. What changes.
  std::set<std::string> gone_bridges, new_bridges, gone_ports, new_ports, reconf_ports, reset_bridges;
  for (const auto& b : cur_.bridges) {
    const BridgeSpec* nb = next.find_bridge(b.name);
    if (!nb || nb->type != b.type) {
      gone_bridges.insert(b.name);
      for (const auto& p : b.ports) gone_ports.insert(p.name);
      continue;
    }
    if (nb->settings.mac_aging_sec != b.settings.mac_aging_sec ||
        nb->settings.mac_table_size != b.settings.mac_table_size)
      reset_bridges.insert(b.name);
    for (const auto& p : b.ports) {
      const PortSpec* np = nullptr;
      for (const auto& q : nb->ports)
        if (q.name == p.name) np = &q;
      if (!np || !same_backend(p, *np)) gone_ports.insert(p.name);
      else if (!same_vlan(p.vlan, np->vlan) || p.mtu != np->mtu) reconf_ports.insert(p.name);
    }
  }
  for (const auto& b : next.bridges) {
    if (!cur_.find_bridge(b.name) || gone_bridges.count(b.name)) new_bridges.insert(b.name);
    for (const auto& p : b.ports) {
      const BridgeSpec* ob = nullptr;
      const PortSpec* op = cur_.find_port(p.name, &ob);
      if (!op || ob->name != b.name || gone_ports.count(p.name) || new_bridges.count(b.name)) new_ports.insert(p.name);
    }
  }
  // A port that moved bridges is gone from the old one.
  for (const auto& b : cur_.bridges)
    for (const auto& p : b.ports)
      if (new_ports.count(p.name)) gone_ports.insert(p.name);
  std::vector<const ContainerSpec*> new_cts;
  std::vector<ContainerSpec> gone_cts;
  for (const auto& c : next.containers) {
    bool had = false;
    for (const auto& o : cur_.containers) had = had || same_container(o, c);
    if (!had) new_cts.push_back(&c);
  }
  for (const auto& o : cur_.containers) {
    bool kept = false;
    for (const auto& c : next.containers) kept = kept || same_container(o, c);
    if (!kept) gone_cts.push_back(o);
  }

  // A container re-created with other settings gets a new veth: its port
  // must be re-opened even though the port itself did not change.
  for (const auto* c : new_cts)
    if (cur_.find_port(c->port) && !new_ports.count(c->port)) {
      gone_ports.insert(c->port);
      new_ports.insert(c->port);
    }

  // 2. Kernel resources the change adds. Undo all of them on any failure.
  std::vector<const ContainerSpec*> made_cts;
  std::vector<ContainerSpec> replaced_cts;
  auto undo_cts = [&] {
    for (const auto* c : made_cts) container_destroy(c->name, c->port).ok();
    for (const auto& o : replaced_cts) container_ensure(o).ok();  // put the old ones back
  };
  if (opts_.manage_containers) {
    // A container being re-created with other settings is destroyed first.
    for (const auto& o : gone_cts)
      for (const auto* c : new_cts)
        if (c->name == o.name) {
          container_destroy(o.name, o.port).ok();
          replaced_cts.push_back(o);
        }
    for (const auto* c : new_cts) {
      if (auto s = container_create(*c); !s) {
        undo_cts();
        return s;
      }
      made_cts.push_back(c);
    }
  }
  std::map<std::string, std::unique_ptr<dp::PortBackend>> opened;
  for (const auto& b : next.bridges)
    for (const auto& p : b.ports) {
      if (!new_ports.count(p.name) || p.type == dp::PortType::kPatch) continue;
      // A TAP that is being replaced is still held by the old port: reopen after removal.
      const PortSpec* old = cur_.find_port(p.name);
      if (old && (old->type == dp::PortType::kTap || old->type == dp::PortType::kInternal) &&
          (p.type == dp::PortType::kTap || p.type == dp::PortType::kInternal))
        continue;
      auto r = opener_(p);
      if (!r) {
        for (auto& [name, be] : opened) be->abandon();
        undo_cts();
        return r.error();
      }
      opened[p.name] = std::move(*r);
    }

  // 3. The store: one transaction.
  if (auto s = store_->save(next); !s) {
    for (auto& [name, be] : opened) be->abandon();
    undo_cts();
    return s;
  }

  // 4. The datapath, between two batches.
  std::map<std::string, std::string> reopen_failed;
  rt_.call([&](dp::Datapath& dp) {
    for (const auto& name : gone_ports)
      if (dp::Port* p = dp.find_port(name)) {
        rt_.unwatch(*p);
        dp.remove_port(*p);
      }
    for (const auto& name : gone_bridges)
      if (dp::Bridge* br = dp.find_bridge(name)) dp.remove_bridge(*br);
    for (const auto& b : next.bridges) {
      dp::Bridge* br = dp.find_bridge(b.name);
      if (!br) br = &dp.add_bridge(b.name, b.type, b.settings);
      else if (reset_bridges.count(b.name)) br->set_settings(b.settings);
      for (const auto& p : b.ports) {
        if (new_ports.count(p.name)) {
          std::unique_ptr<dp::PortBackend> be;
          if (p.type != dp::PortType::kPatch) {
            if (opened.count(p.name)) {
              be = std::move(opened[p.name]);
            } else {
              auto r = opener_(p);  // a TAP re-opened after its old port released it
              if (r) {
                be = std::move(*r);
              } else {
                reopen_failed[p.name] = r.error().message;
                be = std::make_unique<VanishedBackend>(r.error().message);
              }
            }
          }
          dp::Port& port = dp.add_port(*br, p.name, p.type, p.mtu, p.vlan, std::move(be));
          rt_.watch(port);
        } else if (reconf_ports.count(p.name)) {
          dp.reconfigure_port(*dp.find_port(p.name), p.vlan, p.mtu);
        }
      }
    }
    for (const auto& b : next.bridges)
      for (const auto& p : b.ports)
        if (p.type == dp::PortType::kPatch) {
          dp::Port* me = dp.find_port(p.name);
          dp::Port* peer = dp.find_port(p.peer_bridge + "/" + p.peer_port);
          if (peer && me->peer != peer) dp.connect_patch(*me, *peer);
        }
    for (const auto& b : next.bridges) {
      dp::Fdb* fdb = dp.find_bridge(b.name)->fdb();
      if (!fdb) continue;
      if (const BridgeSpec* ob = cur_.find_bridge(b.name); ob && !new_bridges.count(b.name))
        for (const auto& f : ob->fdb) fdb->remove(f.vlan, f.mac);
      for (const auto& f : b.fdb) fdb->add_static(f.vlan, f.mac, dp.find_port(f.port)->id);
    }
    return 0;
  });

  // 5. What the change removed from the kernel.
  if (opts_.manage_containers)
    for (const auto& o : gone_cts) {
      bool recreated = false;
      for (const auto* c : new_cts) recreated = recreated || c->name == o.name;
      if (!recreated) container_destroy(o.name, o.port).ok();
    }
  for (const auto& name : gone_ports) vanished_.erase(name);
  for (const auto& [name, why] : reopen_failed) vanished_[name] = why;  // reported by show, retried
  cur_ = next;
  return Ok{};
}

json Service::handle(const json& req) {
  try {
    if (!req.is_object() || !req.contains("cmd") || !req["cmd"].is_string())
      return {{"ok", false}, {"error", "request must be a JSON object with a string 'cmd'"}};
    auto r = dispatch(req["cmd"].get<std::string>(), req);
    if (!r) return {{"ok", false}, {"error", r.error().message}};
    return {{"ok", true}, {"result", *r}};
  } catch (const std::exception& e) {
    return {{"ok", false}, {"error", std::string("internal error: ") + e.what()}};
  }
}

Result<json> Service::dispatch(const std::string& cmd, const json& r) {
  if (cmd == "ping") return json{{"version", "0.1.0"}};
  if (cmd == "add-br") return add_br(r);
  if (cmd == "del-br") return del_br(r);
  if (cmd == "list-br") {
    json out = json::array();
    for (const auto& b : cur_.bridges) out.push_back(b.name);
    return out;
  }
  if (cmd == "add-port") return add_port(r);
  if (cmd == "del-port") return del_port(r);
  if (cmd == "set-port") return set_port(r);
  if (cmd == "set-bridge") return set_bridge(r);
  if (cmd == "fdb-add") return fdb_add(r, false);
  if (cmd == "fdb-del") return fdb_add(r, true);
  if (cmd == "fdb-show") return fdb_show(r);
  if (cmd == "fdb-flush") return fdb_flush(r);
  if (cmd == "show") return show();
  if (cmd == "stats") return stats(r);
  if (cmd == "trace") return trace(r);
  if (cmd == "apply") return apply(r);
  if (cmd == "export") return json{{"yaml", to_yaml(cur_)}};
  if (cmd == "ct-add") return ct_add(r);
  if (cmd == "ct-del") return ct_del(r);
  if (cmd == "ct-list") {
    json out = json::array();
    for (const auto& c : cur_.containers)
      out.push_back({{"name", c.name}, {"bridge", c.bridge}, {"port", c.port}, {"ip", c.ip}, {"gw", c.gw},
                     {"mac", c.mac}, {"netns", netns_exists(c.name)}});
    return out;
  }
  return Error{"unknown command '" + cmd + "'"};
}

Result<json> Service::add_br(const json& r) {
  auto name = str_arg(r, "bridge");
  if (!name) return name.error();
  if (cur_.find_bridge(*name)) {
    if (r.value("may_exist", false)) return json{{"changed", false}};
    return Error{"bridge '" + *name + "' already exists"};
  }
  auto type = str_arg(r, "type", false);
  if (!type) return type.error();
  YAML::Node doc = doc_of(cur_);
  YAML::Node b;
  b["name"] = *name;
  b["type"] = type->empty() ? "switch" : *type;
  b["ports"] = YAML::Node(YAML::NodeType::Sequence);
  if (r.contains("options") && r["options"].is_object())
    for (auto it = r["options"].begin(); it != r["options"].end(); ++it)
      b[it.key()] = it->is_string() ? it->get<std::string>() : it->dump();
  doc["bridges"].push_back(b);
  return change(YAML::Dump(doc));
}

Result<json> Service::del_br(const json& r) {
  auto name = str_arg(r, "bridge");
  if (!name) return name.error();
  if (!cur_.find_bridge(*name)) {
    if (r.value("if_exists", false)) return json{{"changed", false}};
    return Error{"bridge '" + *name + "' does not exist"};
  }
  Topology next = cur_;
  std::erase_if(next.bridges, [&](const BridgeSpec& b) { return b.name == *name; });
  std::erase_if(next.containers, [&](const ContainerSpec& c) { return c.bridge == *name; });
  // Patch ports elsewhere that pointed into this bridge now dangle: allowed.
  return change(to_yaml(next));
}

Result<json> Service::add_port(const json& r) {
  auto br = str_arg(r, "bridge");
  if (!br) return br.error();
  auto port = str_arg(r, "port");
  if (!port) return port.error();
  if (!cur_.find_bridge(*br)) return Error{"bridge '" + *br + "' does not exist"};
  if (const BridgeSpec* ob = nullptr; cur_.find_port(*port, &ob)) {
    if (r.value("may_exist", false) && ob->name == *br) return json{{"changed", false}};
    return Error{"port '" + *port + "' already exists on bridge '" + ob->name + "'"};
  }
  YAML::Node doc = doc_of(cur_);
  YAML::Node b = find_named(doc["bridges"], *br);
  YAML::Node p;
  p["name"] = *port;
  p["type"] = "system";  // ovs-vsctl's default: an existing kernel interface
  if (auto s = apply_options(p, r.value("options", json())); !s) return s.error();
  if (!b["ports"] || !b["ports"].IsSequence()) b["ports"] = YAML::Node(YAML::NodeType::Sequence);
  b["ports"].push_back(p);
  return change(YAML::Dump(doc));
}

Result<json> Service::del_port(const json& r) {
  auto port = str_arg(r, "port");
  if (!port) return port.error();
  auto br = str_arg(r, "bridge", false);
  const BridgeSpec* ob = nullptr;
  if (!cur_.find_port(*port, &ob) || (!br->empty() && ob->name != *br)) {
    if (r.value("if_exists", false)) return json{{"changed", false}};
    return Error{"port '" + *port + "' does not exist" + (br->empty() ? "" : " on bridge '" + *br + "'")};
  }
  for (const auto& c : cur_.containers)
    if (c.port == *port) return Error{"port '" + *port + "' belongs to container '" + c.name + "': use 'ct del " + c.name + "'"};
  Topology next = cur_;
  BridgeSpec* nb = next.find_bridge(ob->name);
  std::erase_if(nb->ports, [&](const PortSpec& p) { return p.name == *port; });
  std::erase_if(nb->fdb, [&](const FdbSpec& f) { return f.port == *port; });
  return change(to_yaml(next));
}

Result<json> Service::set_port(const json& r) {
  auto port = str_arg(r, "port");
  if (!port) return port.error();
  const BridgeSpec* ob = nullptr;
  if (!cur_.find_port(*port, &ob)) return Error{"port '" + *port + "' does not exist"};
  if (r.contains("options") && r["options"].contains("type"))
    return Error{"port '" + *port + "': the type cannot be changed; delete the port and add it again"};
  YAML::Node doc = doc_of(cur_);
  YAML::Node p = find_named(find_named(doc["bridges"], ob->name)["ports"], *port);
  if (auto s = apply_options(p, r.value("options", json())); !s) return Error{"port '" + *port + "': " + s.error().message};
  return change(YAML::Dump(doc));
}

Result<json> Service::set_bridge(const json& r) {
  auto br = str_arg(r, "bridge");
  if (!br) return br.error();
  if (!cur_.find_bridge(*br)) return Error{"bridge '" + *br + "' does not exist"};
  YAML::Node doc = doc_of(cur_);
  YAML::Node b = find_named(doc["bridges"], *br);
  const json opts = r.value("options", json::object());
  for (auto it = opts.begin(); it != opts.end(); ++it) {
    if (it.key() != "mac_aging" && it.key() != "mac_table_size")
      return Error{"bridge '" + *br + "': '" + it.key() + "' cannot be set (mac_aging, mac_table_size)"};
    b[it.key()] = it->is_string() ? it->get<std::string>() : it->dump();
  }
  return change(YAML::Dump(doc));
}

Result<json> Service::fdb_add(const json& r, bool del) {
  auto br = str_arg(r, "bridge");
  if (!br) return br.error();
  auto mac = str_arg(r, "mac");
  if (!mac) return mac.error();
  const BridgeSpec* b = cur_.find_bridge(*br);
  if (!b) return Error{"bridge '" + *br + "' does not exist"};
  auto m = net::Mac::parse(*mac);
  if (!m) return Error{"mac '" + *mac + "' is not a MAC address (aa:bb:cc:dd:ee:ff)"};
  const int vlan = r.value("vlan", 0);
  Topology next = cur_;
  auto& fdb = next.find_bridge(*br)->fdb;
  const size_t before = fdb.size();
  std::erase_if(fdb, [&](const FdbSpec& f) { return f.vlan == vlan && f.mac == m->u64(); });
  if (del) {
    if (fdb.size() == before) return Error{"bridge '" + *br + "': no static entry for " + *mac + " in VLAN " + std::to_string(vlan)};
  } else {
    auto port = str_arg(r, "port");
    if (!port) return port.error();
    fdb.push_back({static_cast<uint16_t>(vlan), m->u64(), *port, 0});
  }
  return change(to_yaml(next));
}

Result<json> Service::fdb_show(const json& r) {
  auto br = str_arg(r, "bridge");
  if (!br) return br.error();
  if (!cur_.find_bridge(*br)) return Error{"bridge '" + *br + "' does not exist"};
  const uint64_t now = io::now_ns();
  return rt_.call([&](dp::Datapath& dp) -> Result<json> {
    dp::Bridge* b = dp.find_bridge(*br);
    if (!b->fdb()) return Error{"bridge '" + *br + "' is a hub: it has no FDB"};
    json out = json::array();
    for (const auto& e : b->fdb()->entries()) {
      json j{{"vlan", e.vlan}, {"mac", net::Mac::from_u64(e.mac).str()}, {"port", dp.port(e.port).name},
             {"static", e.is_static}};
      if (!e.is_static) j["age"] = now > e.last_seen_ns ? (now - e.last_seen_ns) / 1000000000ULL : 0;
      out.push_back(j);
    }
    return out;
  });
}

Result<json> Service::fdb_flush(const json& r) {
  auto br = str_arg(r, "bridge");
  if (!br) return br.error();
  if (!cur_.find_bridge(*br)) return Error{"bridge '" + *br + "' does not exist"};
  return rt_.call([&](dp::Datapath& dp) -> Result<json> {
    dp::Bridge* b = dp.find_bridge(*br);
    if (!b->fdb()) return Error{"bridge '" + *br + "' is a hub: it has no FDB"};
    const uint32_t before = b->fdb()->size();
    b->fdb()->flush();
    return json{{"flushed", before - b->fdb()->size()}};
  });
}

Result<json> Service::show() {
  json bridges = json::array();
  auto described = rt_.call([&](dp::Datapath& dp) {
    std::map<std::string, std::string> d;
    for (const auto& p : dp.ports())
      if (p && p->backend) d[p->name] = p->backend->describe();
    return d;
  });
  for (const auto& b : cur_.bridges) {
    json ports = json::array();
    for (const auto& p : b.ports) {
      json j{{"name", p.name}, {"type", std::string(dp::to_string(p.type))}, {"mtu", p.mtu}};
      if (p.type == dp::PortType::kPatch) j["peer"] = p.peer_bridge + "/" + p.peer_port;
      if (!p.tx.empty()) j["tx"] = p.tx;
      if (b.type == dp::BridgeType::kSwitch) {
        j["vlan_mode"] = std::string(dp::to_string(p.vlan.mode));
        j["pvid"] = p.vlan.pvid;
        if (p.vlan.allowed) j["allowed"] = dp::vlan_set_str(*p.vlan.allowed);
        if (p.vlan.tagged.any()) j["tagged"] = dp::vlan_set_str(p.vlan.tagged);
        if (p.vlan.untagged.any()) j["untagged"] = dp::vlan_set_str(p.vlan.untagged);
      }
      if (described.count(p.name)) j["backend"] = described[p.name];
      if (vanished_.count(p.name)) j["error"] = vanished_[p.name];
      ports.push_back(j);
    }
    json bj{{"name", b.name}, {"type", std::string(dp::to_string(b.type))}, {"ports", ports}};
    if (b.type != dp::BridgeType::kHub) {
      bj["mac_aging"] = b.settings.mac_aging_sec;
      bj["mac_table_size"] = b.settings.mac_table_size;
    }
    bridges.push_back(bj);
  }
  json cts = json::array();
  for (const auto& c : cur_.containers)
    cts.push_back({{"name", c.name}, {"bridge", c.bridge}, {"port", c.port}, {"ip", c.ip}, {"gw", c.gw}});
  return json{{"db", store_->path()}, {"bridges", bridges}, {"containers", cts}};
}

Result<json> Service::stats(const json& r) {
  auto only = str_arg(r, "port", false);
  if (!only) return only.error();
  if (!only->empty() && !cur_.find_port(*only)) return Error{"port '" + *only + "' does not exist"};
  return rt_.call([&](dp::Datapath& dp) {
    json out = json::array();
    for (const auto& p : dp.ports()) {
      if (!p || (!only->empty() && p->name != *only)) continue;
      json c = counters_json(p->counters);
      c["bridge"] = p->bridge->name();
      c["port"] = p->name;
      c["type"] = std::string(dp::to_string(p->type));
      out.push_back(c);
    }
    return out;
  });
}

Result<json> Service::trace(const json& r) {
  auto br = str_arg(r, "bridge");
  if (!br) return br.error();
  auto in = str_arg(r, "in_port");
  if (!in) return in.error();
  auto flow = str_arg(r, "flow", false);
  const BridgeSpec* b = nullptr;
  const PortSpec* p = cur_.find_port(*in, &b);
  if (!cur_.find_bridge(*br)) return Error{"bridge '" + *br + "' does not exist"};
  if (!p || b->name != *br) return Error{"in_port '" + *in + "' is not a port of bridge '" + *br + "'"};
  auto bytes = build_frame_from_flow(*flow);
  if (!bytes) return bytes.error();
  TraceResult tr;
  tr.in_port = *br + "/" + *in;
  net::FlowKey k;
  net::parse_flow(bytes->data(), bytes->size(), k);
  tr.flow = k.str();
  rt_.call([&](dp::Datapath& dp) {
    net::Frame* f = dp.pool().get();
    if (!f) return 0;
    f->assign(bytes->data(), bytes->size());
    f->meta.ts_ns = io::now_ns();
    dp.set_trace(&tr.trace, true);
    net::FrameBatch batch;
    batch.add(f);
    dp.receive(*dp.find_port(tr.in_port), batch);
    dp.set_trace(nullptr);
    return 0;
  });
  json j = render_trace_json(tr);
  j["text"] = render_trace_text(tr);
  return j;
}

Result<json> Service::apply(const json& r) {
  auto yaml = str_arg(r, "yaml");
  if (!yaml) return yaml.error();
  auto file = str_arg(r, "file", false);
  auto base = str_arg(r, "base_dir", false);
  auto next = parse_topology(*yaml, file->empty() ? "<apply>" : *file, base->empty() ? "/" : *base);
  if (!next) return next.error();
  if (to_yaml(*next) == to_yaml(cur_)) return json{{"changed", false}};
  std::set<std::string> before, after;
  for (const auto& b : cur_.bridges)
    for (const auto& p : b.ports) before.insert(b.name + "/" + p.name);
  for (const auto& b : next->bridges)
    for (const auto& p : b.ports) after.insert(b.name + "/" + p.name);
  if (auto s = commit(*next); !s) return s.error();
  json added = json::array(), removed = json::array();
  for (const auto& p : after)
    if (!before.count(p)) added.push_back(p);
  for (const auto& p : before)
    if (!after.count(p)) removed.push_back(p);
  return json{{"changed", true}, {"ports_added", added}, {"ports_removed", removed}};
}

Result<json> Service::ct_add(const json& r) {
  auto name = str_arg(r, "name");
  if (!name) return name.error();
  auto br = str_arg(r, "bridge");
  if (!br) return br.error();
  auto port = str_arg(r, "port", false);
  std::string pname = port->empty() ? ("ct-" + *name).substr(0, 15) : *port;
  for (const auto& c : cur_.containers)
    if (c.name == *name) return Error{"container '" + *name + "' already exists"};
  if (!cur_.find_bridge(*br)) return Error{"container '" + *name + "': bridge '" + *br + "' does not exist"};
  if (cur_.find_port(pname)) return Error{"container '" + *name + "': port '" + pname + "' already exists"};
  YAML::Node doc = doc_of(cur_);
  YAML::Node b = find_named(doc["bridges"], *br);
  YAML::Node p;
  p["name"] = pname;
  p["type"] = "system";
  json opts = r.value("options", json::object());
  if (opts.contains("type")) return Error{"container '" + *name + "': the port of a container is always a system port"};
  if (auto s = apply_options(p, opts); !s) return Error{"container '" + *name + "': " + s.error().message};
  if (!b["ports"] || !b["ports"].IsSequence()) b["ports"] = YAML::Node(YAML::NodeType::Sequence);
  b["ports"].push_back(p);
  YAML::Node c;
  c["name"] = *name;
  c["bridge"] = *br;
  c["port"] = pname;
  for (const char* k : {"ip", "gw", "mac"}) {
    auto v = str_arg(r, k, false);
    if (!v) return v.error();
    if (!v->empty()) c[k] = *v;
  }
  if (!doc["containers"]) doc["containers"] = YAML::Node(YAML::NodeType::Sequence);
  doc["containers"].push_back(c);
  auto next = candidate(YAML::Dump(doc));
  if (!next) return next.error();
  if (auto s = commit(*next); !s) return s.error();
  return json{{"changed", true}, {"port", pname}};
}

Result<json> Service::ct_del(const json& r) {
  auto name = str_arg(r, "name");
  if (!name) return name.error();
  Topology next = cur_;
  std::string port;
  for (const auto& c : next.containers)
    if (c.name == *name) port = c.port;
  if (port.empty()) return Error{"container '" + *name + "' does not exist"};
  std::erase_if(next.containers, [&](const ContainerSpec& c) { return c.name == *name; });
  for (auto& b : next.bridges) {
    std::erase_if(b.ports, [&](const PortSpec& p) { return p.name == port; });
    std::erase_if(b.fdb, [&](const FdbSpec& f) { return f.port == port; });
  }
  if (auto s = commit(next); !s) return s.error();
  return json{{"changed", true}};
}

void Service::shutdown() {
  rt_.call([&](dp::Datapath& dp) {
    while (!dp.bridges().empty()) dp.remove_bridge(*dp.bridges().front());
    return 0;
  });
}

}  // namespace kvnet::daemon
