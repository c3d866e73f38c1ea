// The bridges' built-in pipeline stages (dp/pipeline.h).
//
//   l2-check  (learning, switch; ingress) drops frames whose source MAC is
//             multicast or zero, and frames to 01:80:c2:00:00:0x.
//   vlan-in   (switch; ingress) the ingress port's VLAN rule (dp/vlan.h):
//             drop, or classify into a VLAN and remove the tag.
//   vlan-out  (switch; egress) the egress port's rule for the frame's VLAN
//             and inner tag: not carried, sent untagged (maybe with a
//             priority tag) or tagged.
#pragma once

#include <memory>

#include "dp/pipeline.h"

namespace kvnet::dp {

std::unique_ptr<Stage> make_l2_check();
std::unique_ptr<Stage> make_vlan_in();
std::unique_ptr<Stage> make_vlan_out();
// vlan-in's work on one frame: its VLAN from the port's VLAN rule (the
// frame's meta.vlan, pcp, s_tpid; a tag the rule pops, popped). False: the
// rule refused it (dropped and counted). For OpenFlow's NORMAL action.
bool classify_vlan(PipelineContext& ctx, Port& in, net::Frame* f);

}  // namespace kvnet::dp
