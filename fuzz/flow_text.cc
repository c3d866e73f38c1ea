// Fuzz target flow_text: flows in ovs-ofctl's syntax (dp/flow_text.h), as
// kvnetctl add-flow/del-flows, YAML `flows:` and OpenFlow's text forms take
// them. The input is one line per flow; the first byte picks the mode (add,
// modify, delete). Each flow that parses is printed and parsed again, and
// added to a table; then the rest of the input is used as frame fields
// looked up in that table and in a linear scan.
//
// Invariants: no crash, no exception; what parses prints as text that
// parses back to the same match and actions; the classifier's answer is the
// linear scan's (the highest priority among the flows whose match holds).
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "dp/flow_table.h"
#include "dp/flow_text.h"
#include "fuzz_check.h"

using namespace kvnet;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1 || size > 8192) return 0;
  const auto mode = static_cast<dp::FlowTextMode>(data[0] % 3);
  const std::string in(reinterpret_cast<const char*>(data + 1), size - 1);
  dp::FlowPorts ports;
  ports.id = [](std::string_view n) -> std::optional<uint32_t> {
    if (n == "p1") return 1;
    if (n == "p2") return 2;
    return std::nullopt;
  };
  ports.name = [](uint32_t id) -> std::string { return id == 1 ? "p1" : id == 2 ? "p2" : ""; };
  dp::FlowTable table;
  std::vector<dp::Flow> flows;
  size_t start = 0;
  while (start <= in.size()) {
    size_t nl = in.find('\n', start);
    if (nl == std::string::npos) nl = in.size();
    const std::string line = in.substr(start, nl - start);
    start = nl + 1;
    auto r = dp::parse_flow_text(line, ports, mode);
    if (!r) continue;
    const std::string m = dp::match_text(r->flow.match, ports);
    const bool del = mode == dp::FlowTextMode::kDelete;
    const std::string text = del ? m : m + (m.empty() ? "" : ",") + "actions=" + dp::actions_text(r->flow.actions, ports);
    auto back = dp::parse_flow_text(text, ports, del ? mode : dp::FlowTextMode::kAdd);
    FUZZ_CHECK(static_cast<bool>(back), "'%s' prints as '%s', which does not parse", line.c_str(), text.c_str());
    FUZZ_CHECK(back->flow.match == r->flow.match, "'%s' prints as '%s', another match", line.c_str(), text.c_str());
    if (!del)
      FUZZ_CHECK(back->flow.actions == r->flow.actions, "'%s' prints as '%s', other actions", line.c_str(), text.c_str());
    (void)dp::flow_line(r->flow, 0, ports);
    bool dup = false;
    for (const auto& f : flows) dup |= f.match == r->flow.match && f.priority == r->flow.priority;
    if (!dup) flows.push_back(r->flow);
    table.add(r->flow);
  }
  // Frames from the input's bytes.
  for (size_t i = 0; i + sizeof(dp::FlowWords) <= size && i < 4096; i += 37) {
    dp::FlowWords w;
    std::memcpy(w.w.data(), data + i, sizeof w.w);
    int best = -1;
    for (const auto& f : flows)
      if (f.match.matches(w)) best = std::max(best, static_cast<int>(f.priority));
    const dp::Flow* got = table.lookup(w);
    FUZZ_CHECK((got ? static_cast<int>(got->priority) : -1) == best, "lookup found priority %d, the scan %d",
               got ? static_cast<int>(got->priority) : -1, best);
  }
  return 0;
}
