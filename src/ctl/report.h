// Rendering replay results: a human table or JSON.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "ctl/replay.h"

namespace kvnet::ctl {

std::string render_replay_text(const ReplayResult& r, bool show_fdb);
nlohmann::json render_replay_json(const ReplayResult& r);
nlohmann::json counters_json(const dp::PortCounters& c);

}  // namespace kvnet::ctl
