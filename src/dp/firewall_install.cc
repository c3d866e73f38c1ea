#include "dp/firewall_install.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "dp/bridge.h"
#include "dp/firewall_stage.h"

namespace kvnet::dp {
namespace {

FirewallStage* find_stage(std::vector<std::unique_ptr<Stage>>& stages) {
  FirewallStage* found = nullptr;
  for (auto& s : stages)
    if (auto* f = dynamic_cast<FirewallStage*>(s.get())) found = f;
  return found;
}

void erase_stages(std::vector<std::unique_ptr<Stage>>& stages) {
  std::erase_if(stages, [](const auto& s) { return dynamic_cast<FirewallStage*>(s.get()) != nullptr; });
}

// Cuts the connections of `zone` that `keep` does not keep, and the same
// connections in the other ports' zones (the peer's view of them), so they
// do not linger as ESTABLISHED for days.
template <typename Keep>
void cut_connections(Conntrack& ct, uint16_t zone, Keep keep) {
  std::vector<Conntrack::Tuple> cut;
  auto zoneless = [](Conntrack::Tuple t) {
    t.zone = 0;
    return t;
  };
  ct.remove_if([&](const Conntrack::Entry& e) {
    if (e.zone() != zone || keep(e.mark)) return false;
    cut.push_back(zoneless(e.orig));
    return true;
  });
  if (cut.empty()) return;
  auto less = [](const Conntrack::Tuple& a, const Conntrack::Tuple& b) { return std::memcmp(&a, &b, sizeof a) < 0; };
  std::sort(cut.begin(), cut.end(), less);
  ct.remove_if([&](const Conntrack::Entry& e) {
    return e.zone() != zone && std::binary_search(cut.begin(), cut.end(), zoneless(e.orig), less);
  });
}

}  // namespace

bool still_allowed(const FwPolicy& old, const FwPolicy& next, uint32_t mark) {
  const uint32_t gi = fw_mark_group(mark), id = fw_mark_rule(mark);
  if (gi >= old.groups.size()) return false;
  const FwRule* before = nullptr;
  for (const auto& r : old.rules)
    if (r.group == gi && r.id == id) before = &r;
  if (!before) return false;
  for (const auto& r : next.rules) {
    if (r.group >= next.groups.size() || next.groups[r.group] != old.groups[gi]) continue;
    FwRule same = r;
    same.group = before->group;  // group indexes may shift between policies
    if (same == *before) return true;
  }
  return false;
}

void install_firewall(Port& p, std::shared_ptr<const FwPolicy> policy) {
  const uint16_t zone = fw_zone(p);
  FirewallStage* out = find_stage(p.ingress);  // from the endpoint
  FirewallStage* in = find_stage(p.egress);    // to the endpoint
  if (!policy) {
    erase_stages(p.ingress);
    erase_stages(p.egress);
    if (Conntrack* ct = p.bridge->conntrack()) ct->flush_zone(zone);
    return;
  }
  if (!out || !in) {
    Conntrack& c = p.bridge->make_conntrack();
    c.flush_zone(zone);  // a port id is reused: nothing of an earlier port may remain
    p.ingress.push_back(std::make_unique<FirewallStage>(c, zone, true, policy));
    p.egress.push_back(std::make_unique<FirewallStage>(c, zone, false, policy));
    return;
  }
  const FwPolicy& old = out->policy();
  cut_connections(*p.bridge->conntrack(), zone, [&](uint32_t mark) { return still_allowed(old, *policy, mark); });
  out->set_policy(policy);
  in->set_policy(std::move(policy));
}

}  // namespace kvnet::dp
