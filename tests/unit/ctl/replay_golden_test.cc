// Golden replay tests: tests/data/replay/<case>/ holds a topology, input
// pcaps and the expected output pcaps and counters (checked by hand with
// tcpdump when the case was made). The replay must reproduce them byte for
// byte.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "ctl/replay.h"
#include "ctl/report.h"
#include "ctl/topology.h"

namespace kvnet::ctl {
namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class GoldenReplay : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenReplay, ReproducesExpectedOutput) {
  const fs::path src = fs::path(KVNET_SOURCE_DIR) / "tests/data/replay" / GetParam();
  const fs::path work = fs::path(::testing::TempDir()) / ("kvnet-golden-" + GetParam() + "-" + std::to_string(getpid()));
  fs::remove_all(work);
  fs::create_directories(work);
  for (const auto& e : fs::directory_iterator(src))
    if (e.is_regular_file()) fs::copy_file(e.path(), work / e.path().filename());

  auto topo = load_topology((work / "topology.yaml").string());
  ASSERT_TRUE(topo.ok()) << topo.error().message;
  auto r = replay(*topo);
  ASSERT_TRUE(r.ok()) << r.error().message;

  size_t compared = 0;
  for (const auto& e : fs::directory_iterator(src / "expected")) {
    const auto name = e.path().filename().string();
    if (name == "counters.json") continue;
    ASSERT_TRUE(fs::exists(work / name)) << name << " was not written";
    EXPECT_EQ(slurp(work / name), slurp(e.path())) << name << " differs from the expected capture";
    ++compared;
  }
  EXPECT_GT(compared, 0u);
  auto got = render_replay_json(*r);
  got.erase("seconds");
  const auto want = nlohmann::json::parse(slurp(src / "expected/counters.json"));
  EXPECT_EQ(got, want) << "got:\n" << got.dump(2);
  fs::remove_all(work);
}

INSTANTIATE_TEST_SUITE_P(Cases, GoldenReplay, ::testing::Values("compute-node", "vlan-lab"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

}  // namespace
}  // namespace kvnet::ctl
