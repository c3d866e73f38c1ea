// kvnetd's applier: a plan carried out against a real store and an inline
// datapath, with a fake backend opener.
#include "daemon/applier.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "ctl/plan.h"
#include "testing.h"

namespace kvnet::daemon {
using namespace kvnet::ctl;
namespace {

namespace fs = std::filesystem;

class ApplierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("kvnet-applier-" + std::to_string(getpid()) + "-" +
                                              ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    dp_ = std::make_unique<dp::Datapath>(512);
    rt_ = std::make_unique<io::Runtime>(*dp_);  // not started: commands run inline
    cmds_ = std::make_unique<io::DatapathCommands>(*rt_);
    auto st = Store::open((dir_ / "kvnet.db").string());
    ASSERT_TRUE(st.ok()) << st.error().message;
    store_ = std::move(*st);
    auto opener = [this](const PortSpec&) -> Result<std::unique_ptr<dp::PortBackend>> {
      ++opened_;
      return std::unique_ptr<dp::PortBackend>(std::make_unique<dp::DiscardBackend>());
    };
    applier_ = std::make_unique<Applier>(*store_, *cmds_, opener, false);
  }
  void TearDown() override { fs::remove_all(dir_); }

  Topology topo(int entries) {
    auto t = parse_topology(
        "bridges:\n  - name: br0\n    mac_table_size: 2\n    ports:\n      - {name: p1, type: system}\n", "", "/");
    EXPECT_TRUE(t.ok()) << t.error().message;
    for (int i = 0; i < entries; ++i) t->bridges[0].fdb.push_back({1, 0x020000000001ULL + i, "p1", {}, {}});
    return std::move(*t);
  }

  fs::path dir_;
  std::unique_ptr<dp::Datapath> dp_;
  std::unique_ptr<io::Runtime> rt_;
  std::unique_ptr<io::DatapathCommands> cmds_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Applier> applier_;
  int opened_ = 0;
};

TEST_F(ApplierTest, AppliesAPlanAndKnowsItsPorts) {
  const Topology t = topo(2);
  ASSERT_TRUE(applier_->apply(Topology{}, t, plan(Topology{}, t), Applier::Mode::kChange).ok());
  ASSERT_NE(dp_->find_port("br0/p1"), nullptr);
  EXPECT_EQ(dp_->find_bridge("br0")->fdb()->size(), 2u);
  ASSERT_TRUE(applier_->id("p1").has_value());
  EXPECT_EQ(*applier_->id("p1"), dp_->find_port("p1")->id);
  EXPECT_EQ(opened_, 1);
  auto back = store_->load();
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(to_yaml(*back), to_yaml(t));
}

// kvnetd used to install what fit and ignore the rest (the datapath's
// refusal count); now the translation refuses it before anything happens.
TEST_F(ApplierTest, StaticEntriesPastTheTableAreRefusedBeforeAnythingIsApplied) {
  const Topology t = topo(3);
  auto s = applier_->apply(Topology{}, t, plan(Topology{}, t), Applier::Mode::kChange);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message, "bridge 'br0': static FDB entries (3) exceed mac_table_size 2");
  EXPECT_EQ(dp_->find_bridge("br0"), nullptr);
  EXPECT_EQ(opened_, 0);
  EXPECT_FALSE(applier_->id("p1").has_value());
  auto back = store_->load();
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_TRUE(back->bridges.empty());
  // Restoring such a configuration is refused the same way.
  EXPECT_FALSE(applier_->apply(Topology{}, t, plan(Topology{}, t), Applier::Mode::kRestore).ok());
  EXPECT_EQ(dp_->find_bridge("br0"), nullptr);
}

}  // namespace
}  // namespace kvnet::daemon
