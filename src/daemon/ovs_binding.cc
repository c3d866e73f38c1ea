#include "daemon/ovs_binding.h"

#include <algorithm>
#include <set>

#include "base/log.h"
#include "ctl/bridge.h"
#include "ctl/kinds/patch.h"
#include "dp/flow_text.h"
#include "dp/vlan.h"
#include "io/netdev.h"

namespace kvnet::daemon {
namespace {

using ovsdb::Atom;
using ovsdb::Database;
using ovsdb::Datum;
using ovsdb::Row;
using ovsdb::Rows;
using ovsdb::Uuid;
using ovsdb::int_of;
using ovsdb::ints_of;
using ovsdb::smap_of;
using ovsdb::str_of;
using ovsdb::uuids_of;

constexpr const char* kVniRename = "vni";  // kvnet's name of OVS's tunnel option "key" (vxlan, geneve)

// --- reading and writing columns

int col(const Database& db, int table, std::string_view name) {
  const int c = db.schema().tables[static_cast<size_t>(table)].column_index(name);
  if (c < 0) throw std::logic_error("the Open_vSwitch schema has no column " + std::string(name));
  return c;
}

Datum str_datum(const std::string& s) { return Datum::scalar(Atom{s}); }
Datum opt_str(const std::string& s) { return s.empty() ? Datum{} : str_datum(s); }
Datum opt_int(std::optional<int64_t> i) { return i ? Datum::scalar(Atom{*i}) : Datum{}; }
Datum int_set(const std::vector<int64_t>& v) {
  std::vector<Atom> a(v.begin(), v.end());
  return Datum::set_of(std::move(a));
}
Datum uuid_set(const std::vector<Uuid>& v) {
  std::vector<Atom> a(v.begin(), v.end());
  return Datum::set_of(std::move(a));
}
Datum smap(const std::map<std::string, std::string>& m) {
  std::vector<std::pair<Atom, Atom>> p;
  for (const auto& [k, v] : m) p.emplace_back(Atom{k}, Atom{v});
  return Datum::map_of(std::move(p));
}
Datum imap(const std::map<std::string, int64_t>& m) {
  std::vector<std::pair<Atom, Atom>> p;
  for (const auto& [k, v] : m) p.emplace_back(Atom{k}, Atom{v});
  return Datum::map_of(std::move(p));
}

std::vector<int64_t> set_items(const dp::VlanSet& s) {
  std::vector<int64_t> out;
  for (size_t v = 1; v < 4095; ++v)
    if (s.test(v)) out.push_back(static_cast<int64_t>(v));
  return out;
}
bool all_vlans(const dp::VlanSet& s) {
  for (size_t v = 1; v < 4095; ++v)
    if (!s.test(v)) return false;
  return true;
}
std::string list_text(const std::vector<int64_t>& v) {
  std::string out;
  for (int64_t x : v) out += (out.empty() ? "" : ",") + std::to_string(x);
  return out;
}

// A row with every column at its default.
Row default_row(const Database& db, int table, const Uuid& u) {
  Row r;
  r.uuid = u;
  for (const auto& c : db.schema().tables[static_cast<size_t>(table)].columns) r.columns.push_back(Datum::default_of(c.type));
  return r;
}

// A table's rows by their "name" column.
std::map<std::string, const Row*> by_name(const Database& db, int table) {
  std::map<std::string, const Row*> out;
  const int n = col(db, table, "name");
  for (const auto& [u, r] : db.rows(table)) out[str_of(r.columns[static_cast<size_t>(n)])] = &r;
  return out;
}

// A port's settings that its columns other than external_ids stand for.
ctl::Fields column_fields(const ctl::PortSpec& p, dp::BridgeType bt) {
  ctl::Fields f = ctl::port_fields(p, bt);
  std::erase_if(f, [](const ctl::Field& x) { return x.key == "external_ids"; });
  return f;
}

// --- kinds

// The Interface type of a kvnet kind ("" for system, as ovs-vsctl writes it).
std::string iface_type(const ctl::PortSpec& p) {
  const std::string k(p.kind->name());
  return k == "system" ? "" : k;
}

bool is_udp_tunnel(std::string_view type) { return type == "vxlan" || type == "geneve"; }

// The kind's options as Interface options.
std::map<std::string, std::string> iface_options(const ctl::PortSpec& p) {
  ctl::Fields f;
  p.kind->emit(*p.options, f);
  std::map<std::string, std::string> out;
  const std::string type(p.kind->name());
  for (const auto& x : f) {
    if (type == "patch" && x.key == "peer") {
      const auto* po = p.as<ctl::PatchOptions>();
      out["peer"] = po ? po->peer_port : x.value;
    } else if (is_udp_tunnel(type) && x.key == kVniRename) {
      out["key"] = x.value;
    } else {
      out[x.key] = x.value;
    }
  }
  return out;
}

}  // namespace

// --- VLAN columns

OvsVlanColumns vlan_columns(const dp::VlanConfig& v) {
  OvsVlanColumns c;
  const auto trunks = [](const std::optional<dp::VlanSet>& s) {
    return !s || all_vlans(*s) ? std::vector<int64_t>{} : set_items(*s);
  };
  switch (v.mode) {
    case dp::VlanMode::kAccess:
      c.tag = v.pvid;
      break;
    case dp::VlanMode::kTrunk:
      c.vlan_mode = "trunk";
      c.trunks = v.allowed ? trunks(v.allowed) : std::vector<int64_t>{v.pvid};
      break;
    case dp::VlanMode::kNativeUntagged:
      if (v.pvid == 1 && (!v.allowed || all_vlans(*v.allowed))) break;  // OVS's default port
      c.vlan_mode = "native-untagged";
      c.tag = v.pvid;
      c.trunks = trunks(v.allowed);
      break;
    case dp::VlanMode::kNativeTagged:
      c.vlan_mode = "native-tagged";
      c.tag = v.pvid;
      c.trunks = trunks(v.allowed);
      break;
    case dp::VlanMode::kHybrid:  // no OVS mode: shown as the closest (docs/ovs-compat.md)
      c.vlan_mode = "native-untagged";
      c.tag = v.pvid;
      c.trunks = set_items(v.tagged | v.untagged);
      break;
    case dp::VlanMode::kDot1qTunnel:
      c.vlan_mode = "dot1q-tunnel";
      c.tag = v.pvid;
      if (v.cvlans && !all_vlans(*v.cvlans)) c.cvlans = set_items(*v.cvlans);
      if (v.qinq_tpid == 0x8100) c.qinq_ethtype = "802.1q";
      break;
  }
  return c;
}

Result<ctl::Settings> vlan_settings(const OvsVlanColumns& c) {
  std::string mode = c.vlan_mode;
  if (mode.empty()) mode = c.tag ? "access" : !c.trunks.empty() ? "trunk" : "native-untagged";
  const std::string pvid = c.tag ? std::to_string(*c.tag) : "1";
  ctl::Settings s{{"vlan_mode", mode}};
  if (mode == "access") {
    s.push_back({"pvid", pvid});
  } else if (mode == "trunk") {
    if (c.tag)
      return Error{"vlan_mode trunk takes no tag (a native VLAN is vlan_mode native-untagged or native-tagged)"};
    s.push_back({"allowed", c.trunks.empty() ? "1-4094" : list_text(c.trunks)});
  } else if (mode == "native-untagged" || mode == "native-tagged") {
    s.push_back({"pvid", pvid});
    std::vector<int64_t> allowed = c.trunks;
    if (!allowed.empty() && c.tag && std::find(allowed.begin(), allowed.end(), *c.tag) == allowed.end())
      allowed.push_back(*c.tag);  // OVS: the native VLAN is carried whether trunks lists it or not
    if (!allowed.empty()) s.push_back({"allowed", list_text(allowed)});  // kvnet's default: every VLAN
  } else if (mode == "dot1q-tunnel") {
    if (!c.tag) return Error{"vlan_mode dot1q-tunnel needs a tag (the outer VLAN)"};
    s.push_back({"pvid", pvid});
    if (!c.cvlans.empty()) s.push_back({"cvlans", list_text(c.cvlans)});
    if (!c.qinq_ethtype.empty()) s.push_back({"qinq_ethtype", c.qinq_ethtype});
  } else {
    return Error{"vlan_mode '" + mode + "' is unknown"};
  }
  return s;
}

// --- the binding

OvsBinding::OvsBinding(Source src)
    : src_(std::move(src)),
      server_(ovsdb::Server::Hooks{
          .validate = [this](const Database& next, const ovsdb::Changes& ch) { return validate(next, ch); },
          .committed =
              [this](const ovsdb::Changes&) {
                comment_.clear();
                sync();
              },
          .comment = [this](uint64_t, const std::string& c) { comment_ = c; }}) {
  sync();
}

void OvsBinding::sync(bool refresh_all) {
  if (in_txn_) return;  // the transaction's change: synced once it committed
  Database& db = server_.vswitch();
  const ctl::Topology& cfg = src_.config();
  const auto& schema = db.schema();
  const int tO = schema.table_index("Open_vSwitch"), tB = schema.table_index("Bridge"),
            tP = schema.table_index("Port"), tI = schema.table_index("Interface"), tM = schema.table_index("Mirror");
  std::vector<Rows> tables = db.snapshot();
  const auto old_b = by_name(db, tB), old_p = by_name(db, tP), old_i = by_name(db, tI);
  std::map<std::pair<std::string, std::string>, const Row*> old_m;  // (bridge, mirror)
  const auto reuse = [&](const std::map<std::string, const Row*>& old, int t, const std::string& name) {
    auto it = old.find(name);
    return it != old.end() ? *it->second : default_row(db, t, Uuid::random());
  };
  const auto set = [&](Row& r, int t, std::string_view c, Datum d) { r.columns[static_cast<size_t>(col(db, t, c))] = std::move(d); };
  const auto get = [&](const Row& r, int t, std::string_view c) -> const Datum& { return db.get(t, r, c); };
  for (const auto& [n, r] : old_b)
    for (const Uuid& m : uuids_of(get(*r, tB, "mirrors")))
      if (const Row* mr = db.row(tM, m)) old_m[{n, str_of(get(*mr, tM, "name"))}] = mr;

  // The live facts.
  std::map<std::string, const io::PortCountersRow*> live;
  const auto counters = src_.counters ? src_.counters() : std::vector<io::PortCountersRow>{};
  for (const auto& c : counters) live[c.port] = &c;
  const auto detached = src_.detached ? src_.detached() : std::map<std::string, std::string>{};

  Rows bridges, ports, ifaces, mirrors;
  std::set<std::string> facts_seen;
  std::vector<Uuid> bridge_ids;
  std::map<std::string, ctl::Fields> made;
  for (const auto& b : cfg.bridges) {
    Row br = reuse(old_b, tB, b.name);
    set(br, tB, "name", str_datum(b.name));
    std::vector<Uuid> port_ids;
    std::map<std::string, Uuid> port_of;
    for (const auto& p : b.ports) {
      Row pr = reuse(old_p, tP, p.name);
      Row ir = reuse(old_i, tI, p.name);
      set(pr, tP, "name", str_datum(p.name));
      set(ir, tI, "name", str_datum(p.name));
      set(pr, tP, "interfaces", uuid_set({ir.uuid}));
      // Settings made by kvnet (or changed since the rows were made) are
      // written; a port whose settings are as they were keeps the columns
      // a client wrote for them.
      ctl::Fields fields = column_fields(p, b.type);
      auto was = made_.find(p.name);
      const bool reread = refresh_all || was == made_.end() || was->second != fields;
      if (was == made_.end() || was->second != fields || !old_p.count(p.name) || !old_i.count(p.name)) {
        const OvsVlanColumns v = b.type == dp::BridgeType::kSwitch ? vlan_columns(p.vlan) : OvsVlanColumns{};
        set(pr, tP, "tag", opt_int(v.tag));
        set(pr, tP, "trunks", int_set(v.trunks));
        set(pr, tP, "vlan_mode", opt_str(v.vlan_mode));
        set(pr, tP, "cvlans", int_set(v.cvlans));
        auto oc = smap_of(get(pr, tP, "other_config"));
        if (v.qinq_ethtype.empty()) oc.erase("qinq-ethtype");
        else oc["qinq-ethtype"] = v.qinq_ethtype;
        set(pr, tP, "other_config", smap(oc));
        set(ir, tI, "type", str_datum(iface_type(p)));
        set(ir, tI, "options", smap(iface_options(p)));
        set(ir, tI, "mtu_request", opt_int(p.mtu_given ? std::optional<int64_t>(p.mtu) : std::nullopt));
      }
      made[p.name] = std::move(fields);
      set(ir, tI, "external_ids", smap(p.external_ids));
      // Live facts.
      auto l = live.find(p.name);
      auto d = detached.find(p.name);
      const bool attached = l != live.end() && d == detached.end();
      set(ir, tI, "ofport",
          opt_int(l != live.end() ? std::optional<int64_t>(dp::openflow_port(l->second->id)) : std::nullopt));
      std::map<std::string, int64_t> stats;
      if (l != live.end()) {
        const auto& c = l->second->counters;
        stats = {{"rx_packets", static_cast<int64_t>(c.rx_packets)},
                 {"rx_bytes", static_cast<int64_t>(c.rx_bytes)},
                 {"tx_packets", static_cast<int64_t>(c.tx_packets)},
                 {"tx_bytes", static_cast<int64_t>(c.tx_bytes)},
                 {"rx_dropped", static_cast<int64_t>(c.total_drops())}};
      }
      set(ir, tI, "statistics", imap(stats));
      set(ir, tI, "error", opt_str(d != detached.end() ? d->second : ""));
      // A kernel interface's own facts (system, internal, tap ports): read
      // for a port new or changed here, for all at each refresh().
      const bool kernel = attached && !p.kind->offline() && p.kind->name() != "vxlan" &&
                          p.kind->name() != "geneve" && p.kind->name() != "gre";
      std::optional<io::IfFacts> facts;
      if (kernel) {
        auto f = facts_.find(p.name);
        if (f == facts_.end() || !f->second || reread) f = facts_.insert_or_assign(p.name, io::if_facts(p.name)).first;
        facts = f->second;
      }
      facts_seen.insert(p.name);
      set(ir, tI, "mac_in_use", opt_str(facts ? facts->mac : ""));
      set(ir, tI, "ifindex", opt_int(facts ? std::optional<int64_t>(facts->ifindex) : std::nullopt));
      set(ir, tI, "mtu", opt_int(facts ? int64_t{facts->mtu} : int64_t{p.mtu}));
      set(ir, tI, "admin_state", str_datum((facts ? facts->admin_up : attached) ? "up" : "down"));
      set(ir, tI, "link_state", str_datum((facts ? facts->running : attached) ? "up" : "down"));
      port_ids.push_back(pr.uuid);
      port_of[p.name] = pr.uuid;
      ports[pr.uuid] = std::move(pr);
      ifaces[ir.uuid] = std::move(ir);
    }
    set(br, tB, "ports", uuid_set(port_ids));
    std::vector<Uuid> mirror_ids;
    for (const auto& m : b.mirrors) {
      auto it = old_m.find({b.name, m.name});
      Row mr = it != old_m.end() ? *it->second : default_row(db, tM, Uuid::random());
      set(mr, tM, "name", str_datum(m.name));
      set(mr, tM, "select_all", Datum::scalar(Atom{m.select_all}));
      const auto refs = [&](const std::vector<std::string>& names) {
        std::vector<Uuid> out;
        for (const auto& n : names)
          if (auto p = port_of.find(n); p != port_of.end()) out.push_back(p->second);
        return out;
      };
      set(mr, tM, "select_src_port", uuid_set(refs(m.src_ports)));
      set(mr, tM, "select_dst_port", uuid_set(refs(m.dst_ports)));
      set(mr, tM, "select_vlan", int_set(set_items(m.vlans)));
      const auto out = refs(m.output_port.empty() ? std::vector<std::string>{} : std::vector<std::string>{m.output_port});
      set(mr, tM, "output_port", uuid_set(out));
      set(mr, tM, "output_vlan", opt_int(m.output_vlan ? std::optional<int64_t>(m.output_vlan) : std::nullopt));
      mirror_ids.push_back(mr.uuid);
      mirrors[mr.uuid] = std::move(mr);
    }
    set(br, tB, "mirrors", uuid_set(mirror_ids));
    bridge_ids.push_back(br.uuid);
    bridges[br.uuid] = std::move(br);
  }
  made_ = std::move(made);
  std::erase_if(facts_, [&](const auto& kv) { return !facts_seen.count(kv.first); });

  // The one Open_vSwitch row: its bridges, cur_cfg caught up with next_cfg
  // (the configuration is live once a change returns).
  Row o = tables[static_cast<size_t>(tO)].empty() ? default_row(db, tO, Uuid::random())
                                                   : tables[static_cast<size_t>(tO)].begin()->second;
  set(o, tO, "bridges", uuid_set(bridge_ids));
  set(o, tO, "cur_cfg", get(o, tO, "next_cfg"));
  set(o, tO, "ovs_version", str_datum("kvnet " + src_.version));
  set(o, tO, "db_version", str_datum(schema.version));
  set(o, tO, "system_type", str_datum("kvnet"));
  set(o, tO, "system_version", str_datum(src_.version));
  set(o, tO, "datapath_types", Datum::set_of({Atom{std::string("system")}}));
  std::vector<Atom> types;
  for (const ctl::PortKind* k : ctl::port_kinds()) types.push_back(Atom{std::string(k->name())});
  set(o, tO, "iface_types", Datum::set_of(std::move(types)));
  Rows top;
  top[o.uuid] = std::move(o);
  tables[static_cast<size_t>(tO)] = std::move(top);
  tables[static_cast<size_t>(tB)] = std::move(bridges);
  tables[static_cast<size_t>(tP)] = std::move(ports);
  tables[static_cast<size_t>(tI)] = std::move(ifaces);
  tables[static_cast<size_t>(tM)] = std::move(mirrors);
  server_.publish(db.apply_direct(tables));
}

// --- a transaction -> the next configuration

Status OvsBinding::validate(const Database& next, const ovsdb::Changes& changes) {
  last_changes_.clear();
  const auto& schema = next.schema();
  const int tB = schema.table_index("Bridge"), tP = schema.table_index("Port"), tI = schema.table_index("Interface"),
            tM = schema.table_index("Mirror");
  bool touched = false;
  for (const auto& [t, rows] : changes) touched |= t == tB || t == tP || t == tI || t == tM;
  if (!touched) return Ok{};  // Open_vSwitch's own columns (next_cfg, external_ids ...)
  const auto get = [&](const Row& r, int t, std::string_view c) -> const Datum& { return next.get(t, r, c); };
  if (auto it = changes.find(tM); it != changes.end())
    for (const auto& [u, c] : it->second)
      if (c.after)
        return Error{"Mirror: mirror '" + str_of(get(*c.after, tM, "name")) +
                     "': mirrors are made and changed with kvnetctl here (mirror-add); through OVSDB they are read-only"};
  // The rows this transaction changed, by name: their ports are translated
  // again; the others stay as the configuration has them.
  std::set<std::string> changed_ports;
  for (int t : {tP, tI})
    if (auto it = changes.find(t); it != changes.end())
      for (const auto& [u, c] : it->second) {
        if (c.before) changed_ports.insert(str_of(get(*c.before, t, "name")));
        if (c.after) changed_ports.insert(str_of(get(*c.after, t, "name")));
      }

  const ctl::Topology& cur = src_.config();
  ctl::Topology t = cur;
  // Where each port is in the next database (patch peers name ports only).
  std::map<std::string, std::string> bridge_of;
  std::vector<const Row*> brows;
  for (const auto& [u, r] : next.rows(tB)) brows.push_back(&r);
  for (const Row* br : brows)
    for (const Uuid& pu : uuids_of(get(*br, tB, "ports")))
      if (const Row* pr = next.row(tP, pu)) bridge_of[str_of(get(*pr, tP, "name"))] = str_of(get(*br, tB, "name"));
  // Bridges in the configuration's order, then new ones by name.
  std::map<std::string, const Row*> brow_by_name;
  for (const Row* br : brows) brow_by_name[str_of(get(*br, tB, "name"))] = br;

  std::vector<ctl::BridgeSpec> out;
  std::map<std::string, ctl::Fields> translated;  // the ports made from rows: their rows stay as written
  auto translate_bridge = [&](const std::string& name, const Row& br) -> Status {
    ctl::BridgeSpec b;
    if (const ctl::BridgeSpec* old = cur.find_bridge(name)) {
      b = *old;
      b.ports.clear();
    } else {
      auto nb = ctl::make_bridge(name, "switch", {});
      if (!nb) return nb.error();
      b = std::move(*nb);
    }
    const ctl::BridgeSpec* old = cur.find_bridge(name);
    std::vector<std::string> names;
    std::map<std::string, std::pair<const Row*, const Row*>> rows;  // port -> (Port, Interface)
    for (const Uuid& pu : uuids_of(get(br, tB, "ports"))) {
      const Row* pr = next.row(tP, pu);
      if (!pr) continue;
      const std::string pn = str_of(get(*pr, tP, "name"));
      const auto ifs = uuids_of(get(*pr, tP, "interfaces"));
      if (ifs.size() != 1)
        return Error{"port '" + pn + "': has " + std::to_string(ifs.size()) +
                     " interfaces: kvnet's ports have one (bonds are not supported)"};
      const Row* ir = next.row(tI, ifs[0]);
      if (!ir) return Error{"port '" + pn + "': its interface is missing"};
      const std::string in = str_of(get(*ir, tI, "name"));
      if (in != pn)
        return Error{"port '" + pn + "': its interface is named '" + in +
                     "': a kvnet port has one interface of the port's own name"};
      names.push_back(pn);
      rows[pn] = {pr, ir};
    }
    // The configuration's order first, new ports after.
    std::vector<std::string> ordered;
    if (old)
      for (const auto& p : old->ports)
        if (rows.count(p.name)) ordered.push_back(p.name);
    for (const auto& n : names)
      if (std::find(ordered.begin(), ordered.end(), n) == ordered.end()) ordered.push_back(n);
    for (const auto& pn : ordered) {
      const auto [pr, ir] = rows[pn];
      const ctl::PortSpec* was = old ? old->find_port(pn) : nullptr;
      const std::string type = str_of(get(*ir, tI, "type"));
      auto options = smap_of(get(*ir, tI, "options"));
      // A patch's peer names a port; kvnet's names its bridge too, which
      // may change (the peer added in a later transaction).
      std::string peer;
      if (type == "patch" && options.count("peer")) {
        auto pb = bridge_of.find(options["peer"]);
        peer = (pb != bridge_of.end() ? pb->second : "?") + "/" + options["peer"];
      }
      const bool peer_moved = was && was->kind->is_patch() && !peer.empty() && [&] {
        const auto* po = was->as<ctl::PatchOptions>();
        return po->peer_bridge + "/" + po->peer_port != peer;
      }();
      if (was && !changed_ports.count(pn) && !peer_moved) {
        b.ports.push_back(*was);
        continue;
      }
      ctl::Settings s{{"type", type.empty() ? "system" : type}};
      for (const auto& [k, v] : options) {
        if (type == "patch" && k == "peer") s.push_back({"peer", peer});
        else if (is_udp_tunnel(type) && k == "key") s.push_back({kVniRename, v});
        else s.push_back({k, v});
      }
      if (auto m = int_of(get(*ir, tI, "mtu_request"))) s.push_back({"mtu", std::to_string(*m)});
      OvsVlanColumns vc;
      vc.tag = int_of(get(*pr, tP, "tag"));
      vc.trunks = ints_of(get(*pr, tP, "trunks"));
      vc.vlan_mode = str_of(get(*pr, tP, "vlan_mode"));
      vc.cvlans = ints_of(get(*pr, tP, "cvlans"));
      const auto oc = smap_of(get(*pr, tP, "other_config"));
      if (auto q = oc.find("qinq-ethtype"); q != oc.end()) vc.qinq_ethtype = q->second;
      if (b.type == dp::BridgeType::kSwitch) {
        auto vs = vlan_settings(vc);
        if (!vs) return Error{"bridge '" + name + "': port '" + pn + "': " + vs.error().message};
        s.insert(s.end(), vs->begin(), vs->end());
      } else if (vc != OvsVlanColumns{}) {
        return Error{"bridge '" + name + "': port '" + pn + "': VLAN settings apply to ports of switch bridges, not " +
                     std::string(dp::to_string(b.type)) + " bridges"};
      }
      auto p = ctl::make_port(b, pn, s);
      if (!p) return p.error();
      p->external_ids = smap_of(get(*ir, tI, "external_ids"));
      if (was) p->security = was->security;  // kvnet's own settings stay
      translated[pn] = column_fields(*p, b.type);
      b.ports.push_back(std::move(*p));
    }
    // Static entries and mirrors of ports that went.
    std::erase_if(b.fdb, [&](const ctl::FdbSpec& f) { return !b.find_port(f.port); });
    std::set<std::string> kept_mirrors;
    for (const Uuid& mu : uuids_of(get(br, tB, "mirrors")))
      if (const Row* mr = next.row(tM, mu)) kept_mirrors.insert(str_of(get(*mr, tM, "name")));
    std::erase_if(b.mirrors, [&](const ctl::MirrorSpec& m) { return !kept_mirrors.count(m.name); });
    out.push_back(std::move(b));
    return Ok{};
  };
  for (const auto& b : cur.bridges)
    if (auto it = brow_by_name.find(b.name); it != brow_by_name.end())
      if (auto s = translate_bridge(b.name, *it->second); !s) return s;
  for (const auto& [name, br] : brow_by_name)
    if (!cur.find_bridge(name))
      if (auto s = translate_bridge(name, *br); !s) return s;
  t.bridges = std::move(out);

  in_txn_ = true;
  auto r = src_.change(t);
  in_txn_ = false;
  // Logged as the API's changes are (daemon/request_log.h), with the
  // client's own comment (ovs-vsctl puts its command line there).
  const std::string who = "OVSDB client" + (comment_.empty() ? "" : " (" + comment_ + ")");
  comment_.clear();
  if (!r) {
    if (log_) log_warn("refused change by " + who + ": " + r.error().message);
    return r.error();
  }
  last_changes_ = r->text();
  if (log_ && !last_changes_.empty()) {
    std::string lines;
    for (const auto& l : last_changes_) lines += (lines.empty() ? "" : "; ") + l;
    log_info("change by " + who + " => " + lines);
  }
  for (auto& [n, f] : translated) made_[n] = std::move(f);
  return Ok{};
}

}  // namespace kvnet::daemon
