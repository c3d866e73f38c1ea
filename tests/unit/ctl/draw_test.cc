// The picture's DOT: a known topology's bridges, ports, edges and colours
// under the documented ids; dangling patches and down ports marked; a traced
// path that highlights exactly what the frame crossed and where it stopped.
#include "ctl/draw.h"

#include <gtest/gtest.h>

#include <regex>
#include <set>

#include "ctl/trace_run.h"

namespace kvnet::ctl {
namespace {

// The seed's compute node, smaller: a VM behind a qbr hub, a container, a
// NAT gateway, a tunnel, and a trunk to a second switch.
const char* kTopo = R"(
bridges:
  - name: qbr-vm01
    type: hub
    ports:
      - {name: vnet0, type: system}
      - {name: qvb-vm01, type: patch, peer: br-int/qvo-vm01}
  - name: br-int
    type: switch
    ports:
      - {name: qvo-vm01, type: patch, peer: qbr-vm01/qvb-vm01, vlan_mode: access, pvid: 101}
      - {name: ct-web, type: system, vlan_mode: access, pvid: 102}
      - {name: t1, type: pcap, vlan_mode: access, pvid: 102}
      - {name: int-br-eth1, type: patch, peer: br-eth1/phy-br-eth1, vlan_mode: trunk, allowed: [101, 102]}
      - {name: vx0, type: vxlan, remote_ip: 10.97.0.2, vni: 42, vlan_mode: access, pvid: 101}
  - name: br-eth1
    type: learning
    ports:
      - {name: phy-br-eth1, type: patch, peer: br-int/int-br-eth1}
      - {name: eth1, type: pcap}
containers:
  - {name: web, bridge: br-int, port: ct-web, ip: 10.0.0.2/24}
vms:
  - name: vm01
    nics:
      - {bridge: qbr-vm01, port: vnet0, mac: "52:54:00:00:01:01"}
gateways:
  - {name: gw0, bridge: br-int, vlan: 101, ip: 10.0.0.1/24, masquerade: true}
)";

Topology topo(const char* yaml = kTopo, bool dangling = false) {
  auto t = parse_topology(yaml, "t.yaml", "/tmp", ParseOptions{.allow_dangling_patches = dangling});
  EXPECT_TRUE(t.ok()) << (t.ok() ? "" : t.error().message);
  return t.ok() ? *t : Topology{};
}

// The statement that declares node or edge `id` (one per line).
std::string line_of(const std::string& dot, const std::string& id) {
  const std::string key = "id=\"" + id + "\"";
  size_t at = dot.find(key);
  if (at == std::string::npos) return "";
  const size_t start = dot.rfind('\n', at) + 1;
  return dot.substr(start, dot.find('\n', at) - start);
}

std::string attr(const std::string& line, const std::string& key) {
  std::smatch m;
  if (std::regex_search(line, m, std::regex("[ ,\\[]" + key + "=\"([^\"]*)\""))) return m[1];
  if (std::regex_search(line, m, std::regex("[ ,\\[]" + key + "=(<.*>)[,\\]]"))) return m[1];
  return "";
}

bool has_class(const std::string& line, const std::string& cls) {
  const std::string c = " " + attr(line, "class") + " ";
  return c.find(" " + cls + " ") != std::string::npos;
}

// Every declared id whose class list has `cls` (the legend's samples aside).
std::set<std::string> ids_with_class(const std::string& dot, const std::string& cls) {
  std::set<std::string> out;
  size_t pos = 0;
  while ((pos = dot.find('\n', pos)) != std::string::npos) {
    const std::string line = dot.substr(pos + 1, dot.find('\n', pos + 1) - pos - 1);
    ++pos;
    if (has_class(line, cls) && attr(line, "id").rfind("legend", 0) != 0) out.insert(attr(line, "id"));
  }
  return out;
}

TEST(Draw, KnownTopologyHasItsBridgesPortsAndEdgesUnderStableIds) {
  const std::string dot = to_dot(topo());
  EXPECT_EQ(dot.rfind("graph kvnet {", 0), 0u);
  // bridges: a cluster and a fabric node labelled with the type
  for (const auto& [br, type] : {std::pair{"qbr-vm01", "hub"}, {"br-int", "switch"}, {"br-eth1", "learning"}}) {
    const std::string cluster = line_of(dot, std::string("cluster:") + br);
    EXPECT_TRUE(has_class(cluster, std::string("bridge-") + type)) << cluster;
    EXPECT_EQ(attr(cluster, "label"), br);
    const std::string fabric = line_of(dot, std::string("bridge:") + br);
    EXPECT_EQ(attr(fabric, "label"), type);
  }
  // ports: kind, VLAN mode and pvid / allowed, colours
  const std::string qvo = line_of(dot, "br-int/qvo-vm01");
  EXPECT_EQ(attr(qvo, "label"), "qvo-vm01\\npatch\\naccess pvid 101");
  EXPECT_EQ(attr(qvo, "fillcolor"), vlan_color(101));
  EXPECT_TRUE(has_class(qvo, "port") && has_class(qvo, "kind-patch") && has_class(qvo, "vlan-101")) << qvo;
  const std::string trunk = line_of(dot, "br-int/int-br-eth1");
  EXPECT_EQ(attr(trunk, "label"), "int-br-eth1\\npatch\\ntrunk pvid 1 · allowed 101-102");
  EXPECT_EQ(attr(trunk, "fillcolor"), vlan_color(101) + ":" + vlan_color(102));
  EXPECT_EQ(attr(trunk, "style"), "striped");
  EXPECT_EQ(attr(line_of(dot, "br-eth1/eth1"), "label"), "eth1\\npcap");  // learning bridge: no VLANs
  EXPECT_EQ(attr(line_of(dot, "br-int/vx0"), "label"), "vx0\\nvxlan vni 42\\naccess pvid 101");
  // edges: patch pairs (once, ids sorted), links, tunnels, endpoints
  EXPECT_NE(line_of(dot, "patch:br-int/qvo-vm01--qbr-vm01/qvb-vm01"), "");
  EXPECT_NE(line_of(dot, "patch:br-eth1/phy-br-eth1--br-int/int-br-eth1"), "");
  EXPECT_EQ(line_of(dot, "patch:qbr-vm01/qvb-vm01--br-int/qvo-vm01"), "");
  EXPECT_EQ(ids_with_class(dot, "patch").size(), 2u);
  EXPECT_EQ(ids_with_class(dot, "link").size(), 10u);  // one per port (gw0 included)
  EXPECT_NE(line_of(dot, "link:br-int/t1").find("\"bridge:br-int\" -- \"br-int/t1\""), std::string::npos);
  EXPECT_NE(line_of(dot, "tunnel:br-int/vx0--10.97.0.2").find("\"br-int/vx0\" -- \"remote:10.97.0.2\""),
            std::string::npos);
  EXPECT_EQ(attr(line_of(dot, "remote:10.97.0.2"), "label"), "10.97.0.2\\nremote VTEP");
  EXPECT_NE(line_of(dot, "ep:qbr-vm01/vnet0").find("\"vm:vm01\" -- \"qbr-vm01/vnet0\""), std::string::npos);
  EXPECT_EQ(attr(line_of(dot, "ep:qbr-vm01/vnet0"), "label"), "eth0");
  EXPECT_NE(line_of(dot, "ep:br-int/ct-web").find("\"ct:web\" -- \"br-int/ct-web\""), std::string::npos);
  EXPECT_NE(line_of(dot, "ep:br-int/gw0").find("\"br-int/gw0\" -- \"gw:gw0\""), std::string::npos);
  EXPECT_EQ(attr(line_of(dot, "gw:gw0"), "label"), "gw0\\nNAT gateway 10.0.0.1/24\\nmasquerade");
  EXPECT_EQ(attr(line_of(dot, "ct:web"), "label"), "web\\ncontainer\\n10.0.0.2/24");
  // the legend: each VLAN used, in its colour
  EXPECT_TRUE(has_class(line_of(dot, "legend"), "legend"));
  for (uint16_t v : {101, 102})
    EXPECT_EQ(attr(line_of(dot, "legend:vlan-" + std::to_string(v)), "fillcolor"), vlan_color(v));
  EXPECT_EQ(line_of(dot, "legend:vlan-1"), "");  // only the VLANs drawn
  // offline: nothing is marked down, no trace
  EXPECT_TRUE(ids_with_class(dot, "down").empty());
  EXPECT_TRUE(ids_with_class(dot, "trace").empty());
  // deterministic
  EXPECT_EQ(dot, to_dot(topo()));
}

TEST(Draw, VlanColoursAreStableAndNeighboursDiffer) {
  EXPECT_EQ(vlan_color(101), vlan_color(101));
  EXPECT_TRUE(std::regex_match(vlan_color(4094), std::regex("#[0-9a-f]{6}")));
  std::set<std::string> seen;
  for (uint16_t v = 1; v <= 12; ++v) seen.insert(vlan_color(v));
  EXPECT_EQ(seen.size(), 12u);
  EXPECT_NE(vlan_color(101), vlan_color(102));
}

TEST(Draw, DanglingPatchIsMarkedWithItsMissingPeer) {
  const char* yaml = R"(
bridges:
  - name: br0
    ports:
      - {name: p0, type: patch, peer: br1/p1}
      - {name: a, type: pcap}
)";
  const std::string dot = to_dot(topo(yaml, true));
  const std::string p0 = line_of(dot, "br0/p0");
  EXPECT_TRUE(has_class(p0, "dangling")) << p0;
  EXPECT_NE(attr(p0, "style").find("dashed"), std::string::npos);
  EXPECT_EQ(attr(p0, "color"), "#d73027");
  EXPECT_NE(attr(p0, "label").find("dangling: peer br1/p1 is gone"), std::string::npos);
  EXPECT_NE(line_of(dot, "dangling:br0/p0").find("\"br0/p0\" -- \"missing:br0/p0\""), std::string::npos);
  EXPECT_NE(line_of(dot, "legend:dangling"), "");
  EXPECT_FALSE(has_class(line_of(dot, "br0/a"), "dangling"));
  EXPECT_EQ(ids_with_class(dot, "dangling"), (std::set<std::string>{"br0/p0", "dangling:br0/p0"}));
}

TEST(Draw, LiveStatusMarksDownPortsStoppedVmsAndMissingContainers) {
  DrawStatus st;
  st.port_down["vnet0"] = "vm 'vm01' is not running";
  st.vm_state["vm01"] = "stopped";
  st.ct_missing.insert("web");
  const std::string dot = to_dot(topo(), {.status = &st});
  const std::string vnet0 = line_of(dot, "qbr-vm01/vnet0");
  EXPECT_TRUE(has_class(vnet0, "down"));
  EXPECT_NE(attr(vnet0, "label").find("down: vm 'vm01' is not running"), std::string::npos);
  EXPECT_TRUE(has_class(line_of(dot, "vm:vm01"), "vm-stopped"));
  EXPECT_NE(attr(line_of(dot, "vm:vm01"), "label").find("stopped"), std::string::npos);
  EXPECT_TRUE(has_class(line_of(dot, "ct:web"), "down"));
  EXPECT_EQ(ids_with_class(dot, "down"), (std::set<std::string>{"qbr-vm01/vnet0", "vm:vm01", "ct:web"}));
  st.vm_state["vm01"] = "running";
  EXPECT_FALSE(has_class(line_of(to_dot(topo(), {.status = &st}), "vm:vm01"), "down"));
}

TEST(Draw, QuotesAndBackslashesInTextCannotBreakTheDot) {
  DrawStatus st;
  st.port_down["t1"] = "a \"quoted\" \\ reason\nsecond line";
  const std::string dot = to_dot(topo(), {.status = &st, .title = "title \"x\""});
  EXPECT_NE(dot.find("a \\\"quoted\\\" \\\\ reason\\nsecond line"), std::string::npos);
  EXPECT_NE(dot.find("label=\"title \\\"x\\\"\""), std::string::npos);
}

TraceResult traced(const Topology& t, const std::string& in, const std::string& flow) {
  auto r = run_trace(t, {.in_port = in, .flow = flow});
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return r.ok() ? *r : TraceResult{};
}

TEST(Draw, TracedFloodHighlightsExactlyTheCrossedPortsInOrder) {
  const Topology t = topo();
  const TraceResult r = traced(t, "qbr-vm01/vnet0", "dl_src=02:00:00:00:00:01,dl_dst=ff:ff:ff:ff:ff:ff,arp");
  const std::string dot = to_dot(t, {.trace = &r.trace});
  // VLAN 101 from vm01: through qbr-vm01 into br-int, flooded to the trunk
  // (into br-eth1 and out of eth1), the tunnel and the gateway; not to the
  // VLAN 102 ports.
  std::set<std::string> ports;
  for (const auto& id : ids_with_class(dot, "trace"))
    if (id.find(':') == std::string::npos) ports.insert(id);
  EXPECT_EQ(ports, (std::set<std::string>{"qbr-vm01/vnet0", "qbr-vm01/qvb-vm01", "br-int/qvo-vm01",
                                          "br-int/int-br-eth1", "br-int/vx0", "br-int/gw0", "br-eth1/phy-br-eth1",
                                          "br-eth1/eth1"}));
  EXPECT_EQ(ids_with_class(dot, "trace-in"), (std::set<std::string>{"qbr-vm01/vnet0"}));
  EXPECT_EQ(ids_with_class(dot, "trace-out"),
            (std::set<std::string>{"br-int/vx0", "br-int/gw0", "br-eth1/eth1", "remote:10.97.0.2"}));
  EXPECT_TRUE(ids_with_class(dot, "trace-drop").empty());
  EXPECT_FALSE(has_class(line_of(dot, "br-int/t1"), "trace"));
  EXPECT_FALSE(has_class(line_of(dot, "link:br-int/t1"), "trace"));
  EXPECT_TRUE(has_class(line_of(dot, "tunnel:br-int/vx0--10.97.0.2"), "trace"));
  EXPECT_TRUE(has_class(line_of(dot, "ep:qbr-vm01/vnet0"), "trace"));
  EXPECT_TRUE(has_class(line_of(dot, "vm:vm01"), "trace"));  // where the frame came from
  EXPECT_TRUE(has_class(line_of(dot, "gw:gw0"), "trace"));   // and where it goes
  EXPECT_FALSE(has_class(line_of(dot, "ct:web"), "trace"));
  // numbered: 1 in at vnet0, 2 the patch to br-int, 3 in at qvo-vm01
  EXPECT_NE(attr(line_of(dot, "qbr-vm01/vnet0"), "xlabel").find("<b>1</b>"), std::string::npos);
  EXPECT_NE(attr(line_of(dot, "patch:br-int/qvo-vm01--qbr-vm01/qvb-vm01"), "xlabel").find("<b>2</b>"),
            std::string::npos);
  EXPECT_NE(attr(line_of(dot, "br-int/qvo-vm01"), "xlabel").find("<b>3</b>"), std::string::npos);
  EXPECT_NE(line_of(dot, "legend:trace"), "");
}

TEST(Draw, TracedDropMarksTheDropPointWithItsReason) {
  const Topology t = topo();
  const TraceResult r = traced(t, "br-int/t1", "dl_src=02:00:00:00:00:01,dl_dst=ff:ff:ff:ff:ff:ff,dl_vlan=55,arp");
  const std::string dot = to_dot(t, {.trace = &r.trace});
  EXPECT_EQ(ids_with_class(dot, "trace"), (std::set<std::string>{"br-int/t1"}));
  EXPECT_EQ(ids_with_class(dot, "trace-drop"), (std::set<std::string>{"br-int/t1"}));
  const std::string t1 = line_of(dot, "br-int/t1");
  EXPECT_NE(attr(t1, "label").find("dropped (tagged_on_access)"), std::string::npos) << t1;
  EXPECT_EQ(attr(t1, "color"), "#d73027");
  EXPECT_FALSE(has_class(line_of(dot, "link:br-int/t1"), "trace"));  // it never reached the bridge
}

}  // namespace
}  // namespace kvnet::ctl
