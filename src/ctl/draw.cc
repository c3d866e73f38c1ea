#include "ctl/draw.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <optional>
#include <vector>

#include "base/text.h"
#include "ctl/kinds/patch.h"
#include "ctl/kinds/tunnel.h"

namespace kvnet::ctl {

namespace {

// Colours of the marks (ColorBrewer's RdYlBu ends, readable on white).
constexpr const char* kRed = "#d73027";
constexpr const char* kBlue = "#2166ac";
constexpr const char* kGreen = "#1a9850";
constexpr const char* kGrey = "#dddddd";
constexpr size_t kMaxStripes = 8;  // more VLANs than this: grey

std::string quoted(std::string_view s) {
  std::string out = "\"";
  for (const char c : valid_utf8(s)) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') out += "\\n";
    else if (c != '\r') out += c;
  }
  return out + "\"";
}

// One node or edge of the picture, before it is written out.
struct Elem {
  std::string id;
  std::string tail, head;  // edges
  std::string cluster;     // nodes: the bridge it is drawn in ("" none)
  std::vector<std::string> label;
  std::vector<std::string> classes;
  std::vector<std::pair<std::string, std::string>> attrs;
  std::vector<int> steps;  // trace step numbers

  void set(const std::string& k, const std::string& v) {
    for (auto& [key, val] : attrs)
      if (key == k) {
        val = v;
        return;
      }
    attrs.emplace_back(k, v);
  }
  bool has_class(const std::string& c) const { return std::find(classes.begin(), classes.end(), c) != classes.end(); }
  void add_class(const std::string& c) {
    if (!has_class(c)) classes.push_back(c);
  }
};

// The VLANs a port is a member of (the datapath's own rule), or nullopt
// when it carries more than a picture can colour.
std::optional<std::vector<uint16_t>> port_vlans(const PortSpec& p) {
  const dp::VlanPort vp(p.vlan);
  std::vector<uint16_t> out;
  for (uint16_t v = dp::kMinVid; v <= dp::kMaxVid; ++v)
    if (vp.member(v)) {
      if (out.size() == 64) return std::nullopt;
      out.push_back(v);
    }
  return out;
}

// "trunk pvid 1 · allowed 101-102"
std::string vlan_text(const dp::VlanConfig& c) {
  std::string s = fmt::format("{} pvid {}", dp::to_string(c.mode), c.pvid);
  switch (c.mode) {
    case dp::VlanMode::kAccess: break;
    case dp::VlanMode::kTrunk:
    case dp::VlanMode::kNativeTagged:
    case dp::VlanMode::kNativeUntagged:
      s += " · allowed " + (c.allowed ? dp::vlan_set_str(*c.allowed)
                                      : c.mode == dp::VlanMode::kTrunk ? std::to_string(c.pvid) : std::string("all"));
      break;
    case dp::VlanMode::kHybrid:
      if (c.tagged.any()) s += " · tagged " + dp::vlan_set_str(c.tagged);
      if (c.untagged.any()) s += " · untagged " + dp::vlan_set_str(c.untagged);
      break;
    case dp::VlanMode::kDot1qTunnel:
      if (c.cvlans) s += " · cvlans " + dp::vlan_set_str(*c.cvlans);
      break;
  }
  return s;
}

// The remote addresses a tunnel's encap step names ("... -> A, B, UDP ..."),
// empty when it names none.
std::vector<std::string> encap_remotes(const std::string& encap) {
  std::vector<std::string> out;
  const auto arrow = encap.find(" -> ");
  if (arrow == std::string::npos) return out;
  std::string rest = encap.substr(arrow + 4);
  while (!rest.empty()) {
    const auto comma = rest.find(", ");
    std::string word = rest.substr(0, comma);
    if (word.empty() || word.find(' ') != std::string::npos || word.find('(') != std::string::npos) break;
    out.push_back(word);
    if (comma == std::string::npos) break;
    rest = rest.substr(comma + 2);
  }
  return out;
}

class Drawer {
 public:
  Drawer(const Topology& t, const DrawRequest& r) : t_(t), r_(r) {}

  std::string dot() {
    for (size_t i = 0; i < t_.bridges.size(); ++i) bridge_index_[t_.bridges[i].name] = i;
    add_endpoints_index();
    for (const auto& b : t_.bridges) add_bridge(b);
    add_vms();
    add_containers();
    add_gateways();
    if (r_.trace) add_trace(*r_.trace);
    return write();
  }

 private:
  // --- building ---

  Elem& node(const std::string& id, const std::string& cluster = "") {
    if (auto it = index_.find(id); it != index_.end()) return nodes_[it->second];
    index_[id] = nodes_.size();
    nodes_.push_back(Elem{.id = id, .cluster = cluster});
    return nodes_.back();
  }
  Elem* find_node(const std::string& id) {
    auto it = index_.find(id);
    return it == index_.end() ? nullptr : &nodes_[it->second];
  }
  Elem& edge(const std::string& id, const std::string& tail, const std::string& head) {
    if (auto it = edge_index_.find(id); it != edge_index_.end()) return edges_[it->second];
    edge_index_[id] = edges_.size();
    edges_.push_back(Elem{.id = id, .tail = tail, .head = head});
    return edges_.back();
  }
  Elem* find_edge(const std::string& id) {
    auto it = edge_index_.find(id);
    return it == edge_index_.end() ? nullptr : &edges_[it->second];
  }

  // Ports with an endpoint on their left (VM NICs, containers): which one.
  void add_endpoints_index() {
    for (const auto& vm : t_.vms)
      for (size_t i = 0; i < vm.nics.size(); ++i)
        endpoint_of_[vm.nics[i].bridge + "/" + vm.nics[i].port] = "vm:" + vm.name;
    for (const auto& c : t_.containers) endpoint_of_[c.bridge + "/" + c.port] = "ct:" + c.name;
  }

  void add_bridge(const BridgeSpec& b) {
    const std::string type(dp::to_string(b.type));
    Elem& fabric = node("bridge:" + b.name, b.name);
    fabric.label = {type};
    if (b.type != dp::BridgeType::kHub && b.settings.mac_aging_sec != dp::BridgeSettings{}.mac_aging_sec)
      fabric.label.push_back(fmt::format("mac_aging {}", b.settings.mac_aging_sec));
    fabric.classes = {"fabric", "bridge-" + type};
    fabric.set("shape", b.type == dp::BridgeType::kHub ? "circle" : "doublecircle");
    fabric.set("fillcolor", "#ffffff");
    fabric.set("width", "0.3");
    for (const auto& p : b.ports) add_port(b, p);
    for (const auto& f : b.fdb)
      if (!f.remote_ip.empty()) add_tunnel_edge(b.name + "/" + f.port, f.remote_ip);
  }

  void add_port(const BridgeSpec& b, const PortSpec& p) {
    const std::string path = b.name + "/" + p.name;
    const std::string kind(p.kind->name());
    Elem& n = node(path, b.name);
    n.label = {p.name};
    std::string kind_line = kind;
    if (const auto* tun = p.as<TunnelOptions>()) kind_line += tunnel_text(tun->cfg);
    if (p.mtu != dp::kDefaultMtu) kind_line += fmt::format(" · mtu {}", p.mtu);
    n.label.push_back(kind_line);
    n.classes = {"port", "kind-" + kind};
    if (b.type == dp::BridgeType::kSwitch) {
      n.label.push_back(vlan_text(p.vlan));
      colour_port(n, port_vlans(p));
    }
    if (r_.status)
      if (auto it = r_.status->port_down.find(p.name); it != r_.status->port_down.end())
        mark_down(n, "down", it->second);

    // Left of the fabric: ports with an endpoint, patches to an earlier
    // bridge, and on a bridge that only leads on to later ones (the seed's
    // qbr) its other ports; right: the rest (tunnels always). dot ranks an
    // edge's tail before its head, so the picture reads in file order.
    bool left = endpoint_of_.count(path) > 0 || (leaf_bridge(b) && !p.as<TunnelOptions>());
    if (const auto* po = p.as<PatchOptions>()) {
      const std::string peer = po->peer_bridge + "/" + po->peer_port;
      if (patch_ok(b, p, *po)) {
        left = bridge_index_.at(po->peer_bridge) < bridge_index_.at(b.name);
        if (!left) {
          Elem& e = edge(patch_id(path, peer), path, peer);
          e.classes = {"patch"};
          e.set("penwidth", "3");
          e.set("color", "#444444");
        }
      } else {
        mark_down(n, "dangling", "peer " + peer + " is gone");
        Elem& missing = node("missing:" + path);
        missing.label = {peer, "(missing)"};
        missing.classes = {"missing"};
        missing.set("shape", "plaintext");
        missing.set("fontcolor", kRed);
        Elem& e = edge("dangling:" + path, path, "missing:" + path);
        e.classes = {"dangling"};
        e.set("style", "dashed");
        e.set("color", kRed);
      }
    }
    Elem& link = left ? edge("link:" + path, path, "bridge:" + b.name) : edge("link:" + path, "bridge:" + b.name, path);
    link.classes = {"link"};
    if (const auto* tun = p.as<TunnelOptions>())
      for (const auto& a : tun->cfg.remotes) add_tunnel_edge(path, a.str());
  }

  // A bridge with patches to later bridges only.
  bool leaf_bridge(const BridgeSpec& b) const {
    bool later = false;
    for (const auto& p : b.ports)
      if (const auto* po = p.as<PatchOptions>(); po && patch_ok(b, p, *po)) {
        if (bridge_index_.at(po->peer_bridge) < bridge_index_.at(b.name)) return false;
        later = true;
      }
    return later;
  }

  static std::string tunnel_text(const io::TunnelConfig& c) {
    std::string s;
    if (!c.vni_map.empty()) {
      s += " vni_map";
      for (const auto& [vlan, vni] : c.vni_map) s += fmt::format(" {}:{}", vlan, vni);
    } else if (c.type == io::TunnelType::kGre) {
      if (c.nvgre) s += fmt::format(" vsid {}", c.vni);
      else if (c.has_key) s += fmt::format(" key {}", c.vni);
    } else {
      s += fmt::format(" vni {}", c.vni);
    }
    if (c.remote_flow) s += " · remotes: flow";
    return s;
  }

  bool patch_ok(const BridgeSpec& b, const PortSpec& p, const PatchOptions& po) const {
    const BridgeSpec* pb = t_.find_bridge(po.peer_bridge);
    const PortSpec* pp = pb ? pb->find_port(po.peer_port) : nullptr;
    const auto* back = pp ? pp->as<PatchOptions>() : nullptr;
    return back && back->peer_bridge == b.name && back->peer_port == p.name;
  }

  static std::string patch_id(const std::string& a, const std::string& b) {
    return "patch:" + (a < b ? a + "--" + b : b + "--" + a);
  }

  void colour_port(Elem& n, const std::optional<std::vector<uint16_t>>& vlans) {
    if (!vlans || vlans->size() > kMaxStripes) {
      n.set("fillcolor", kGrey);
      n.add_class("vlan-many");
      if (vlans)
        for (uint16_t v : *vlans) n.add_class(fmt::format("vlan-{}", v));
      return;
    }
    std::string colours;
    for (uint16_t v : *vlans) {
      n.add_class(fmt::format("vlan-{}", v));
      colours += (colours.empty() ? "" : ":") + vlan_color(v);
      used_vlans_.insert(v);
    }
    if (vlans->size() == 1) n.set("fillcolor", colours);
    else if (vlans->size() > 1) {
      n.set("fillcolor", colours);
      n.set("style", "striped");
    }
  }

  void mark_down(Elem& n, const std::string& cls, const std::string& why) {
    n.add_class(cls);
    n.label.push_back(cls + ": " + why);
    n.set("style", "dashed,rounded");
    n.set("color", kRed);
    n.set("fontcolor", kRed);
    n.set("fillcolor", "#ffffff");
    marks_.insert(cls);
  }

  void add_tunnel_edge(const std::string& port_path, const std::string& addr) {
    Elem& r = node("remote:" + addr);
    r.label = {addr, "remote VTEP"};
    r.classes = {"remote"};
    r.set("shape", "ellipse");
    r.set("style", "dashed");
    Elem& e = edge("tunnel:" + port_path + "--" + addr, port_path, "remote:" + addr);
    e.classes = {"tunnel"};
    e.set("style", "dashed");
    e.set("penwidth", "2");
  }

  // An endpoint joined to a port (if the port exists).
  void attach(const std::string& endpoint, const std::string& bridge, const std::string& port, bool left,
              const std::string& label) {
    const BridgeSpec* b = t_.find_bridge(bridge);
    if (!b || !b->find_port(port)) return;
    const std::string path = bridge + "/" + port;
    ep_node_[path] = endpoint;
    Elem& e = left ? edge("ep:" + path, endpoint, path) : edge("ep:" + path, path, endpoint);
    e.classes = {"endpoint"};
    if (!label.empty()) e.label = {label};
  }

  void add_vms() {
    for (const auto& vm : t_.vms) {
      Elem& n = node("vm:" + vm.name);
      n.label = {vm.name, "VM · " + format_memory(vm.memory_mb)};
      n.classes = {"vm"};
      n.set("shape", "box3d");
      if (r_.status) {
        auto it = r_.status->vm_state.find(vm.name);
        const std::string state = it == r_.status->vm_state.end() ? "stopped" : it->second;
        n.label.back() += " · " + state;
        n.add_class("vm-" + state);
        if (state != "running") {
          n.add_class("down");
          n.set("style", "dashed");
          n.set("color", kRed);
          marks_.insert("down");
        }
      }
      for (size_t i = 0; i < vm.nics.size(); ++i)
        attach("vm:" + vm.name, vm.nics[i].bridge, vm.nics[i].port, true, fmt::format("eth{}", i));
    }
  }

  void add_containers() {
    for (const auto& c : t_.containers) {
      Elem& n = node("ct:" + c.name);
      n.label = {c.name, "container"};
      if (!c.ip.empty()) n.label.push_back(c.ip);
      n.classes = {"container"};
      n.set("shape", "component");
      if (r_.status && r_.status->ct_missing.count(c.name)) {
        n.add_class("down");
        n.label.push_back("down: no namespace");
        n.set("style", "dashed");
        n.set("color", kRed);
        marks_.insert("down");
      }
      attach("ct:" + c.name, c.bridge, c.port, true, "eth0");
    }
  }

  void add_gateways() {
    for (const auto& g : t_.gateways) {
      Elem& n = node("gw:" + g.name);
      n.label = {g.name, "NAT gateway " + g.ip};
      std::string extra;
      if (g.masquerade) extra = "masquerade";
      if (g.has_dhcp()) extra += (extra.empty() ? "" : " · ") + std::string("DHCP ") + g.dhcp();
      if (!extra.empty()) n.label.push_back(extra);
      n.classes = {"gateway"};
      n.set("shape", "house");
      attach("gw:" + g.name, g.bridge, g.name, false, "");
    }
  }

  // --- the traced frame ---

  void step(Elem* e, int n, const std::string& cls) {
    if (!e) return;
    e->add_class("trace");
    if (!cls.empty()) e->add_class(cls);
    if (n > 0) e->steps.push_back(n);
  }

  void drop_at(Elem* e, int n, const std::string& why) {
    if (!e) return;
    step(e, n, "trace-drop");
    e->label.push_back(why);
  }

  // Walks the events in order. Numbered: each ingress, patch crossing,
  // output and drop. The link between a port and its fabric is crossed when
  // the frame moves on from an ingress port, or reaches an egress port.
  void add_trace(const dp::Trace& tr) {
    int n = 0;
    std::string pending_link;  // the ingress port's link, until the frame moves on
    auto moved_on = [&] {
      if (!pending_link.empty()) step(find_edge("link:" + pending_link), 0, "");
      pending_link.clear();
    };
    for (const auto& s : tr.steps) {
      const std::string path = s.bridge + "/" + s.port;
      if (s.stage != dp::TraceStage::kEncap && s.stage != dp::TraceStage::kOutput) all_tunnels();
      switch (s.stage) {
        case dp::TraceStage::kIngress:
          step(find_node(path), ++n, s.depth == 0 ? "trace-in" : "");
          if (s.depth == 0) endpoint_step(path);
          pending_link = s.port.empty() ? "" : path;
          break;
        case dp::TraceStage::kEgress:
          moved_on();
          step(find_node(path), 0, "");
          step(find_edge("link:" + path), 0, "");
          if (s.what == dp::TraceWhat::kNotCarried || s.what == dp::TraceWhat::kInnerNotCarried)
            drop_at(find_node(path), ++n, "not sent: " + dp::describe(s));
          break;
        case dp::TraceStage::kPatch:
          moved_on();
          step(find_node(path), 0, "");
          step(find_edge("link:" + path), 0, "");
          step(find_edge(patch_id(path, s.other)), ++n, "");
          break;
        case dp::TraceStage::kOutput:
          moved_on();
          all_tunnels();
          step(find_node(path), ++n, "trace-out");
          step(find_edge("link:" + path), 0, "");
          endpoint_step(path);
          pending_tunnel_ = path;
          break;
        case dp::TraceStage::kEncap:
          pending_tunnel_.clear();
          trace_encap(path, s.other, n);
          break;
        case dp::TraceStage::kDrop: {
          const bool at_ingress = !pending_link.empty() && path == pending_link;
          if (at_ingress) pending_link.clear();
          else moved_on();
          if (!s.port.empty() && !at_ingress) step(find_edge("link:" + path), 0, "");
          drop_at(s.port.empty() ? find_node("bridge:" + s.bridge) : find_node(path), ++n, dp::describe(s));
          break;
        }
        case dp::TraceStage::kLookup:
        case dp::TraceStage::kFlood:
          moved_on();
          step(find_node("bridge:" + s.bridge), 0, "");
          break;
        case dp::TraceStage::kVlan:
        case dp::TraceStage::kLearn:
        case dp::TraceStage::kFirewall:
        case dp::TraceStage::kMirror:  // the copies' own output steps follow
        case dp::TraceStage::kSuppress:  // an answer: its output step follows
        case dp::TraceStage::kFlowTable:  // its actions' steps follow
          break;  // decisions at a port; a refusal is followed by its drop step
      }
    }
    all_tunnels();
  }

  // The endpoint behind a port the frame enters from or leaves to.
  void endpoint_step(const std::string& path) {
    step(find_edge("ep:" + path), 0, "");
    if (auto it = ep_node_.find(path); it != ep_node_.end()) step(find_node(it->second), 0, "");
  }

  // An output to a tunnel port that no encap step explained (offline: no
  // backend): the frame goes to each of the port's remotes.
  void all_tunnels() {
    if (pending_tunnel_.empty()) return;
    const std::string prefix = "tunnel:" + pending_tunnel_ + "--";
    for (auto& e : edges_)
      if (e.id.rfind(prefix, 0) == 0) {
        step(&e, 0, "");
        step(find_node(e.head), 0, "trace-out");
      }
    pending_tunnel_.clear();
  }

  void trace_encap(const std::string& path, const std::string& encap, int& n) {
    if (encap.find("would drop it") != std::string::npos) {
      drop_at(find_node(path), ++n, "dropped: " + encap.substr(encap.find("would drop it") + 15));
      return;
    }
    for (const auto& addr : encap_remotes(encap)) {
      if (!find_edge("tunnel:" + path + "--" + addr)) add_tunnel_edge(path, addr);
      step(find_edge("tunnel:" + path + "--" + addr), 0, "");
      step(find_node("remote:" + addr), 0, "trace-out");
    }
  }

  // --- writing ---

  std::string attrs(const Elem& e, bool is_edge) const {
    std::string s = "id=" + quoted(e.id);
    std::vector<std::pair<std::string, std::string>> a = e.attrs;
    if (!e.label.empty()) {
      std::string l;
      for (const auto& line : e.label) l += (l.empty() ? "" : "\n") + line;
      a.emplace_back("label", l);
    }
    std::string cls;
    for (const auto& c : e.classes) cls += (cls.empty() ? "" : " ") + c;
    if (!cls.empty()) a.emplace_back("class", cls);
    if (e.has_class("trace")) highlight(e, is_edge, a);
    for (const auto& [k, v] : a) s += ", " + k + "=" + (k == "xlabel" ? v : quoted(v));
    return s;
  }

  static void highlight(const Elem& e, bool is_edge, std::vector<std::pair<std::string, std::string>>& a) {
    auto put = [&](const std::string& k, const std::string& v) {
      for (auto& [key, val] : a)
        if (key == k) {
          val = v;
          return;
        }
      a.emplace_back(k, v);
    };
    const bool drop = e.has_class("trace-drop");
    put("color", drop ? kRed : e.has_class("trace-out") ? kGreen : kBlue);
    put("penwidth", is_edge ? "4" : "3");
    if (drop) put("fontcolor", kRed);
    if (e.has_class("trace-out") && !is_edge) put("peripheries", "2");
    if (!e.steps.empty()) {
      std::string n;
      for (int x : e.steps) n += (n.empty() ? "" : ",") + std::to_string(x);
      put("xlabel", fmt::format("<<font point-size=\"13\" color=\"{}\"><b>{}</b></font>>", drop ? kRed : kBlue, n));
    }
  }

  // A cluster of sample nodes, one per VLAN used and per mark present.
  std::string legend() const {
    std::string rows;
    auto entry = [&](const std::string& id, const std::string& cls, const std::string& label, const std::string& more) {
      rows += "    " + quoted("legend:" + id) + " [id=" + quoted("legend:" + id) + ", class=" +
              quoted("legend-entry " + cls) + ", label=" + quoted(label) + ", shape=box, " + more + "];\n";
    };
    for (uint16_t v : used_vlans_)
      entry(fmt::format("vlan-{}", v), fmt::format("vlan-{}", v), fmt::format("VLAN {}", v),
            "style=filled, fillcolor=" + quoted(vlan_color(v)));
    const std::string red = quoted(kRed);
    if (marks_.count("down"))
      entry("down", "down", "down (no device, stopped)", "style=\"dashed,rounded\", color=" + red + ", fontcolor=" + red);
    if (marks_.count("dangling"))
      entry("dangling", "dangling", "dangling patch (peer gone)",
            "style=\"dashed,rounded\", color=" + red + ", fontcolor=" + red);
    if (r_.trace) {
      entry("trace", "trace", "traced path (bold: step)", "style=rounded, penwidth=3, color=" + quoted(kBlue));
      entry("trace-out", "trace-out", "the frame leaves here",
            "style=rounded, penwidth=3, peripheries=2, color=" + quoted(kGreen));
      entry("trace-drop", "trace-drop", "dropped / not sent here",
            "style=rounded, penwidth=3, color=" + red + ", fontcolor=" + red);
    }
    if (rows.empty()) return "";
    return "  subgraph cluster_legend {\n    graph [id=\"legend\", class=\"legend\", label=\"legend\", "
           "style=rounded, color=\"#888888\"];\n    node [fontsize=9, height=0.2];\n" +
           rows + "  }\n";
  }

  std::string write() const {
    std::string out = "graph kvnet {\n";
    out += "  graph [id=\"kvnet\", class=\"topology\", rankdir=LR, newrank=true, nodesep=0.2, ranksep=0.5, "
           "fontname=\"Helvetica,Arial,sans-serif\", fontsize=11";
    if (!r_.title.empty()) out += ", labelloc=t, label=" + quoted(r_.title);
    out += "];\n";
    out += "  node [fontname=\"Helvetica,Arial,sans-serif\", fontsize=10, shape=box, style=\"rounded,filled\", "
           "fillcolor=\"#ffffff\"];\n";
    out += "  edge [fontname=\"Helvetica,Arial,sans-serif\", fontsize=9];\n";
    for (const auto& b : t_.bridges) {
      out += "  subgraph " + quoted("cluster_" + b.name) + " {\n";
      const std::string type(dp::to_string(b.type));
      out += "    graph [id=" + quoted("cluster:" + b.name) + ", class=" + quoted("bridge bridge-" + type) +
             ", label=" + quoted(b.name) + ", style=\"rounded,filled\", fillcolor=\"#f5f5f5\", color=\"#888888\"];\n";
      for (const auto& n : nodes_)
        if (n.cluster == b.name) out += "    " + quoted(n.id) + " [" + attrs(n, false) + "];\n";
      out += "  }\n";
    }
    for (const auto& n : nodes_)
      if (n.cluster.empty()) out += "  " + quoted(n.id) + " [" + attrs(n, false) + "];\n";
    for (const auto& e : edges_)
      out += "  " + quoted(e.tail) + " -- " + quoted(e.head) + " [" + attrs(e, true) + "];\n";
    out += legend();
    return out + "}\n";
  }

  const Topology& t_;
  const DrawRequest& r_;
  std::map<std::string, size_t> bridge_index_;
  std::map<std::string, std::string> endpoint_of_;  // "BR/PORT" -> endpoint node on its left
  std::map<std::string, std::string> ep_node_;      // "BR/PORT" -> endpoint node drawn
  std::deque<Elem> nodes_, edges_;  // references stay valid as elements are added
  std::map<std::string, size_t> index_, edge_index_;
  std::set<uint16_t> used_vlans_;
  std::set<std::string> marks_;  // "down", "dangling"
  std::string pending_tunnel_;   // trace: a tunnel port output, its remotes not yet known
};

}  // namespace

std::string vlan_color(uint16_t vid) {
  // Hue by the golden ratio: neighbouring ids land far apart on the wheel.
  const double h = std::fmod(vid * 0.6180339887498949, 1.0) * 6.0;
  const double s = 0.45, v = 1.0;
  const int i = static_cast<int>(h);
  const double f = h - i, p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
  double r = v, g = t, b = p;
  switch (i % 6) {
    case 0: r = v, g = t, b = p; break;
    case 1: r = q, g = v, b = p; break;
    case 2: r = p, g = v, b = t; break;
    case 3: r = p, g = q, b = v; break;
    case 4: r = t, g = p, b = v; break;
    default: r = v, g = p, b = q; break;
  }
  auto byte = [](double x) { return static_cast<int>(std::lround(x * 255)); };
  return fmt::format("#{:02x}{:02x}{:02x}", byte(r), byte(g), byte(b));
}

std::string to_dot(const Topology& t, const DrawRequest& r) { return Drawer(t, r).dot(); }

}  // namespace kvnet::ctl
