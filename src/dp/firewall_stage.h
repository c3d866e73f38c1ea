// The firewall as a port's pipeline stages (Open vSwitch's native firewall
// driver, in kvnet's pipeline): stateful security groups and port security.
//
//   port ingress stage (the frame comes FROM the port's endpoint):
//     port security (check_source), then the groups' egress rules
//   port egress stage (the frame goes TO the endpoint):
//     the groups' ingress rules
//
// Stateful: each bridge has one connection table (dp/conntrack.h), and each
// filtered port its own zone in it (Neutron's per-port zones), so that a
// connection a port let out must still be let in by the port it reaches.
// Per frame: not IP (ARP, ...) -> passes (port security checked it); DHCP
// client traffic and IPv6 neighbor/multicast listener discovery -> pass; conntrack established or related -> passes;
// invalid -> dropped (ct_invalid); new -> the first rule that allows it is
// found (fw_match), the connection committed with that rule as its mark, or
// the frame dropped (fw_denied; ct_full when there is no room). A dry run
// (trace) classifies and matches but commits nothing.
//
// Thread-safety: the datapath thread; the policy is immutable and replaced
// whole (set_policy, through a datapath command).
#pragma once

#include <memory>
#include <string>

#include "dp/conntrack.h"
#include "dp/firewall.h"
#include "dp/pipeline.h"

namespace kvnet::dp {

// A connection's mark: the port's zone and the allowing rule's group and id,
// so that removing a rule can cut what it allowed.
inline uint32_t fw_mark(uint16_t group, uint32_t rule_id) { return (uint32_t{group} << 20) | (rule_id & 0xfffff); }
inline uint32_t fw_mark_group(uint32_t mark) { return mark >> 20; }
inline uint32_t fw_mark_rule(uint32_t mark) { return mark & 0xfffff; }

class FirewallStage final : public Stage {
 public:
  // from_endpoint: the port's ingress stage (frames the endpoint sends).
  FirewallStage(Conntrack& ct, uint16_t zone, bool from_endpoint, std::shared_ptr<const FwPolicy> policy)
      : ct_(ct), zone_(zone), from_endpoint_(from_endpoint), policy_(std::move(policy)) {}
  std::string_view name() const override { return from_endpoint_ ? "firewall-from-endpoint" : "firewall-to-endpoint"; }
  void process(PipelineContext& ctx, Port& port, net::FrameBatch& batch) override;
  std::span<const StageCounter> counters() const override { return n_.c; }
  void set_policy(std::shared_ptr<const FwPolicy> p) { policy_ = std::move(p); }
  const FwPolicy& policy() const { return *policy_; }
  uint16_t zone() const { return zone_; }

 private:
  bool pass(PipelineContext& ctx, Port& port, net::Frame* f, uint64_t* d);
  void fast_path_note(PipelineContext& ctx, Port& port, net::Frame* f, const Conntrack::Verdict& v,
                      const Conntrack::Packet& pk);
  // One trace step (only while tracing): other = what the step is about when
  // it is not the port's groups.
  void trace(PipelineContext& ctx, Port& port, TraceWhat what, std::string other, const Conntrack::Verdict* v,
             const FwRule* r) const;
  Conntrack& ct_;
  uint16_t zone_;
  bool from_endpoint_;
  std::shared_ptr<const FwPolicy> policy_;
  Counters<6> n_{{{{"passed"}, {"established"}, {"new"}, {"denied"}, {"invalid"}, {"spoofed"}}}};
};

}  // namespace kvnet::dp
