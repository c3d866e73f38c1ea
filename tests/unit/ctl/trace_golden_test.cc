// Golden trace tests: every case of tests/data/trace/cases.txt is traced
// through tests/data/trace/lab.yaml; the text must equal
// expected/NAME.txt, and the JSON must be the same events. Regenerate (after
// checking the difference by eye) with KVNET_UPDATE_GOLDEN=1.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "ctl/topology.h"
#include "ctl/trace_run.h"

namespace kvnet::ctl {
namespace {

namespace fs = std::filesystem;

std::string trim(std::string s) {
  while (!s.empty() && s.front() == ' ') s.erase(0, 1);
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

struct Case {
  std::string name, in_port, flow;
};

std::vector<Case> cases() {
  std::ifstream in(fs::path(KVNET_SOURCE_DIR) / "tests/data/trace/cases.txt");
  std::vector<Case> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::stringstream ss(line);
    std::string a, b, c;
    std::getline(ss, a, '|');
    std::getline(ss, b, '|');
    std::getline(ss, c);
    out.push_back({trim(a), trim(b), trim(c)});
  }
  return out;
}

TEST(TraceGolden, EveryCaseRendersAsRecorded) {
  const fs::path dir = fs::path(KVNET_SOURCE_DIR) / "tests/data/trace";
  auto topo = load_topology((dir / "lab.yaml").string());
  ASSERT_TRUE(topo.ok()) << topo.error().message;
  const bool update = std::getenv("KVNET_UPDATE_GOLDEN") != nullptr;
  const auto all = cases();
  ASSERT_GE(all.size(), 15u);
  for (const auto& c : all) {
    SCOPED_TRACE(c.name);
    auto r = run_trace(*topo, TraceRequest{c.in_port, c.flow, false});
    ASSERT_TRUE(r.ok()) << r.error().message;
    const std::string text = render_trace_text(*r);
    const fs::path want_file = dir / "expected" / (c.name + ".txt");
    if (update) std::ofstream(want_file) << text;
    std::ifstream in(want_file);
    ASSERT_TRUE(in.good()) << want_file << " is missing (KVNET_UPDATE_GOLDEN=1 writes it)";
    std::stringstream want;
    want << in.rdbuf();
    EXPECT_EQ(text, want.str());
  }
}

}  // namespace
}  // namespace kvnet::ctl
