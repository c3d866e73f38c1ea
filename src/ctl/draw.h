// The picture of a topology (`kvnetctl draw`, `kvnet draw`, the API's
// `draw`, `trace --draw`): a Graphviz DOT graph of the bridges, their ports,
// patch pairs, tunnels, endpoints and gateways, optionally with the live
// state of each port and the path of one traced frame. ctl/render.h lays it
// out and renders it (SVG, PNG) with libgvc.
//
// What is drawn:
//   bridge       a cluster labelled with its name; inside it a fabric node
//                labelled with the type (hub, learning, switch) and the
//                bridge's ports around it
//   port         a box: name, kind (patch, tunnel VNI/key, mtu), and on a
//                switch its VLAN mode, pvid and allowed/tagged/untagged VLANs;
//                filled with its VLANs' colours (one: plain; 2-8: stripes;
//                more or "all": grey)
//   patch pair   a thick edge between the two ports
//   tunnel       an edge from the port to each remote VTEP (a node per
//                address, shared by the ports that reach it); static FDB
//                remotes count, and with a trace the remotes it names
//   endpoint     VMs, containers and NAT gateways: nodes joined to their ports
//   down         a port without a device (vanished, parked, a stopped VM's
//                NIC: live status only), a stopped VM, a missing container
//                namespace: dashed red, the reason in the label
//   dangling     a patch port whose peer is gone: dashed red, with an edge
//                to a "missing" node naming the peer
//   legend       the VLANs used, each with its colour, and the marks
//
// Stable ids (the DOT node name is the id; SVG elements carry it as `id`,
// plus `class`), so a page can find and highlight elements:
//   BR/PORT             port node              class "port kind-K vlan-N... [down] [dangling]"
//   bridge:BR           bridge fabric node     class "fabric bridge-TYPE"
//   cluster:BR          bridge cluster         class "bridge bridge-TYPE"
//   vm:NAME ct:NAME gw:NAME remote:ADDR missing:BR/PORT   endpoint nodes
//   link:BR/PORT        edge port - its bridge's fabric
//   patch:A--B          edge of a patch pair, A < B (the two port paths)
//   ep:BR/PORT          edge endpoint (VM NIC, container, gateway) - port
//   tunnel:BR/PORT--ADDR  edge tunnel port - remote VTEP
//   dangling:BR/PORT    edge dangling patch - missing peer
//   legend              the legend node (its rows: legend:vlan-N, legend:down, ...)
// A traced frame adds classes: "trace" (crossed), "trace-in" (the ingress
// port), "trace-out" (a port the frame leaves through), "trace-drop" (where
// it is dropped or not carried); crossed elements get their step numbers
// (xlabel), the drop point its reason.
//
// VLAN colours come from vlan_color(): the same VLAN id has the same colour
// in every picture (golden-ratio hues, so neighbouring ids differ).
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>

#include "ctl/topology.h"
#include "dp/trace.h"

namespace kvnet::ctl {

// What only the live daemon knows. Empty: the picture shows configuration only.
struct DrawStatus {
  std::map<std::string, std::string> port_down;  // port name -> why it has no device
  std::map<std::string, std::string> vm_state;   // VM name -> running, stopped, crashed, ...
  std::set<std::string> ct_missing;              // containers whose namespace is gone
};

struct DrawRequest {
  const DrawStatus* status = nullptr;  // null: offline, no live state
  const dp::Trace* trace = nullptr;    // null: no path highlighted
  std::string title;                   // the picture's caption ("" none)
};

// The topology as a DOT `graph` (undirected, laid out left to right in the
// order of the bridges).
std::string to_dot(const Topology& t, const DrawRequest& r = {});

// The fill colour of a VLAN, "#rrggbb".
std::string vlan_color(uint16_t vid);

}  // namespace kvnet::ctl
