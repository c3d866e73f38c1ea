#include "ctl/container.h"

#include <algorithm>
#include <set>

#include "base/text.h"
#include "ctl/document.h"
#include "ctl/objects.h"
#include "ctl/plan.h"
#include "ctl/topology.h"
#include "net/bytes.h"

namespace kvnet::ctl {
namespace {

ContainerSpec read_container(DocReader& r, const YAML::Node& n) {
  ContainerSpec c;
  c.loc = loc_of(n);
  c.name = r.named_object(n, "container", {"name", "bridge", "port", "ip", "gw", "mac", "network"});
  if (n["network"]) c.network = r.scalar(n["network"], "network");
  // On a cluster network, br-int and the port `ct add --network` would make
  // are the defaults (kvnetd wires them).
  if (c.network.empty() && (!n["bridge"] || !n["port"])) r.fail(n, "a container needs 'bridge' and 'port'");
  c.bridge = n["bridge"] ? r.scalar(n["bridge"], "bridge") : std::string(kClusterBridge);
  c.port = n["port"] ? r.scalar(n["port"], "port") : utf8_prefix("ct-" + c.name, 15);
  if (n["ip"]) c.ip = r.scalar(n["ip"], "ip");
  if (n["gw"]) c.gw = r.scalar(n["gw"], "gw");
  if (n["mac"]) c.mac = r.scalar(n["mac"], "mac");
  std::string key;
  if (auto s = check_container(c, &key); !s) r.fail_check(n[key], s.error().message);
  return c;
}

void emit_container(YAML::Emitter& e, const ContainerSpec& c) {
  e << YAML::Flow << YAML::BeginMap;
  e << YAML::Key << "name" << YAML::Value << c.name;
  e << YAML::Key << "bridge" << YAML::Value << c.bridge;
  e << YAML::Key << "port" << YAML::Value << c.port;
  if (!c.ip.empty()) e << YAML::Key << "ip" << YAML::Value << c.ip;
  if (!c.gw.empty()) e << YAML::Key << "gw" << YAML::Value << YAML::DoubleQuoted << c.gw;
  if (!c.mac.empty()) e << YAML::Key << "mac" << YAML::Value << YAML::DoubleQuoted << c.mac;
  if (!c.network.empty()) e << YAML::Key << "network" << YAML::Value << c.network;
  e << YAML::EndMap;
}

class ContainerObjects final : public ObjectType {
 public:
  std::string_view name() const override { return "container"; }
  std::string_view section() const override { return "containers"; }

  void read(DocReader& r, const YAML::Node& list, Topology& t) const override {
    t.has_containers = true;
    r.list(list, "containers");
    for (const auto& cn : list) t.containers.push_back(read_container(r, cn));
  }
  void write(YAML::Emitter& e, const Topology& t) const override {
    if (t.containers.empty()) return;
    e << YAML::Key << "containers" << YAML::Value << YAML::BeginSeq;
    for (const auto& c : t.containers) emit_container(e, c);
    e << YAML::EndSeq;
  }
  void keep_unlisted(const Topology& from, Topology& to) const override {
    if (!to.has_containers) to.containers = from.containers;
  }

  // Its port: a system port of its bridge (the veth's end), no other
  // container's.
  void check(const DocChecker& c) const override {
    const Topology& t = c.topology();
    std::set<std::string> names;
    for (const auto& ct : t.containers) {
      if (!c.scope().has_port(ct.port)) continue;  // a scoped edit: containers on its ports
      const std::string ctx = "container '" + ct.name + "': ";
      if (auto s = check_container(ct); !s) c.fail(ct.loc, "", s.error().message);
      if (!names.insert(ct.name).second) c.fail(ct.loc, "", "duplicate container name '" + ct.name + "'");
      const BridgeSpec* b = t.find_bridge(ct.bridge);
      // A document's container on a cluster network: kvnetd's apply wires br-int.
      if (!b && !ct.network.empty() && ct.bridge == kClusterBridge) continue;
      if (!b) c.fail(ct.loc, ctx, "bridge '" + ct.bridge + "' does not exist");
      const PortSpec* p = b->find_port(ct.port);
      if (!p) c.fail(ct.loc, ctx, "port '" + ct.port + "' is not a port of bridge '" + ct.bridge + "'");
      if (!p->kind->container_port())
        c.fail(
            ct.loc, ctx,
            "port '" + ct.port + "' must be a system port (the container's veth), not " + std::string(p->kind->name()));
      for (const auto& o : t.containers) {
        if (&o == &ct) break;
        if (o.port == ct.port) c.fail(ct.loc, ctx, "port '" + ct.port + "' belongs to container '" + o.name + "' too");
      }
    }
  }

  // A changed container is re-created (listed as removed and added).
  void plan(const Topology& cur, const Topology& next, PlanLines& lines, Plan& p) const override {
    if (!p.scope.whole()) return;  // a scoped edit changes ports and bridges only (ctl/scope.h)
    for (const auto& c : cur.containers) {
      const ContainerSpec* nc = find_container(next, c.name);
      if (nc && *nc == c) continue;
      p.containers_removed.push_back(c);
      if (!nc) lines.minus.push_back({'-', "container", c.name, {}});
    }
    for (const auto& c : next.containers) {
      const ContainerSpec* oc = find_container(cur, c.name);
      if (oc && *oc == c) continue;
      p.containers_added.push_back(c);
      if (oc) lines.tilde.push_back({'~', "container", c.name, diff(container_fields(*oc), container_fields(c))});
      else lines.plus.push_back({'+', "container", c.name, {}});
    }
    // A container re-created with other settings gets a new veth: its port is
    // re-opened even though the port itself did not change.
    for (const auto& c : p.containers_added) {
      const PortRef r{c.bridge, c.port};
      const bool in_cur = cur.find_bridge(c.bridge) && cur.find_bridge(c.bridge)->find_port(c.port);
      if (in_cur && std::find(p.ports_added.begin(), p.ports_added.end(), r) == p.ports_added.end()) {
        p.ports_removed.push_back(r);
        p.ports_added.push_back(r);
        std::erase(p.ports_reconfigured, r);
      }
    }
  }

  std::string_view schema() const override {
    return "CREATE TABLE IF NOT EXISTS containers(\n"
           "  name TEXT PRIMARY KEY, position INTEGER NOT NULL, bridge TEXT NOT NULL, port TEXT NOT NULL,\n"
           "  ip TEXT NOT NULL, gw TEXT NOT NULL, mac TEXT NOT NULL, network TEXT NOT NULL DEFAULT '');\n";
  }
  std::vector<const char*> tables() const override { return {"containers"}; }
  Status save(RowWriter& w, const Topology& t) const override {
    int pos = 0;
    for (const auto& c : t.containers)
      if (auto s = w.insert("INSERT INTO containers(name, position, bridge, port, ip, gw, mac, network) "
                            "VALUES(?,?,?,?,?,?,?,?)",
                            {c.name, std::to_string(pos++), c.bridge, c.port, c.ip, c.gw, c.mac, c.network},
                            "container '" + c.name + "'");
          !s)
        return s;
    return Ok{};
  }
  Status load(RowReader& r, Topology& t) const override {
    return r.select("SELECT name, bridge, port, ip, gw, mac, network FROM containers ORDER BY position",
                    [&](const RowReader::Row& row) -> Status {
                      t.containers.push_back({row[0], row[1], row[2], row[3], row[4], row[5], row[6], {}});
                      return Ok{};
                    });
  }
};

}  // namespace

const ObjectType& container_type() {
  static const ContainerObjects kType;
  return kType;
}

Status check_container(const ContainerSpec& c, std::string* key) {
  auto fail = [&](const char* k, const std::string& what) -> Status {
    if (key) *key = k;
    return Error{"container '" + c.name + "': " + what};
  };
  if (auto s = check_name(c.name); !s) return fail("name", s.error().message);
  // On a network, an address may come without its length: the subnet's
  // (kvnetd claims it, docs/cluster.md).
  const bool plain = !c.network.empty() && c.ip.find('/') == std::string::npos && !c.ip.empty() && c.ip != "dhcp";
  if (plain) {
    if (auto s = check_ip(c.ip); !s) return fail("ip", s.error().message);
  } else if (auto s = check_container_ip(c.ip, ""); !s) {
    return fail("ip", s.error().message);
  }
  if (auto s = check_container_ip(plain ? "" : c.ip, c.gw); !s) return fail("gw", s.error().message);
  if (!c.mac.empty()) {
    auto m = net::Mac::parse(c.mac);
    if (!m) return fail("mac", "mac '" + c.mac + "' is not a MAC address (aa:bb:cc:dd:ee:ff)");
    if (m->is_multicast() || m->is_zero()) return fail("mac", "mac '" + c.mac + "' must be a unicast MAC");
  }
  if (!c.network.empty())
    if (auto s = check_name(c.network); !s) return fail("network", "network: " + s.error().message);
  return Ok{};
}

std::string container_mac(const ContainerSpec& c) {
  if (!c.mac.empty()) return c.mac;
  uint64_t h = 14695981039346656037ULL;  // FNV-1a: stable across builds (never std::hash)
  for (unsigned char ch : c.name) h = (h ^ ch) * 1099511628211ULL;
  return net::Mac::from_u64(0x020000000000ULL | (h & 0xffffffffffULL)).str();
}

Status check_container_ip(const std::string& ip, const std::string& gw) {
  if (!ip.empty() && ip != "dhcp")
    if (auto s = check_cidr(ip); !s) return s;
  if (gw.empty()) return Ok{};
  if (ip == "dhcp") return Error{"'gw' cannot go with ip=dhcp: the DHCP lease gives the default route"};
  return check_ip(gw);
}

Fields container_fields(const ContainerSpec& c) {
  Fields f{{"bridge", c.bridge}, {"port", c.port}};
  if (!c.ip.empty()) f.push_back({"ip", c.ip});
  if (!c.gw.empty()) f.push_back({"gw", c.gw});
  if (!c.mac.empty()) f.push_back({"mac", c.mac});
  if (!c.network.empty()) f.push_back({"network", c.network});
  return f;
}

const ContainerSpec* find_container(const Topology& t, const std::string& name) {
  for (const auto& c : t.containers)
    if (c.name == name) return &c;
  return nullptr;
}

}  // namespace kvnet::ctl
