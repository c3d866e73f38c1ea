#include "dp/pipeline.h"

#include "dp/bridge.h"

namespace kvnet::dp {

void PipelineContext::drop(Port& p, net::Frame* f, Drop why) {
  count_drop(p, why);
  if (trace_) [[unlikely]]
    trace_step({.bridge = p.bridge->name(), .port = p.name, .stage = TraceStage::kDrop, .reason = why});
  pool_->put(f);
}

}  // namespace kvnet::dp
