#include "ctl/build.h"

#include "ctl/plan.h"
#include "ctl/translate.h"
#include "io/dp_commands.h"

namespace kvnet::ctl {

Status populate_datapath(dp::Datapath& dp, const Topology& t, const BackendFactory& factory) {
  const Topology empty;
  auto change = translate(empty, t, plan(empty, t), [](const std::string&) { return std::optional<uint32_t>(); });
  if (!change) return change.error();
  // Every backend first: a factory that fails leaves the datapath untouched.
  for (auto& add : change->add_ports) {
    const BridgeSpec& b = *t.find_bridge(add.bridge);
    const PortSpec& p = *b.find_port(add.name);
    if (p.kind->is_patch()) continue;
    auto r = factory(b, p);
    if (!r) return r.error();
    add.backend = std::move(*r);
  }
  const io::ChangeResult res = io::apply_change(dp, std::move(*change));
  if (res.fdb_refused) return Error{"static FDB entries did not fit (translate checks them first)"};
  return Ok{};
}

Result<std::unique_ptr<dp::Datapath>> build_datapath(const Topology& t, const BackendFactory& factory,
                                                     size_t pool_frames) {
  auto dp = std::make_unique<dp::Datapath>(pool_frames);
  if (auto s = populate_datapath(*dp, t, factory); !s) return s.error();
  return dp;
}

}  // namespace kvnet::ctl
