// The typed datapath commands, with the datapath thread running: they run
// there, and the slow part of removing a port (closing its device) happens
// on the calling thread, never on the datapath thread.
#include "io/dp_commands.h"

#include <gtest/gtest.h>

#include <thread>

namespace kvnet::io {
namespace {

// Records on which thread it is destroyed (a TAP's close is the slow part).
class Recorder final : public dp::PortBackend {
 public:
  explicit Recorder(std::thread::id* closed_on) : closed_on_(closed_on) {}
  ~Recorder() override { *closed_on_ = std::this_thread::get_id(); }
  uint32_t send(net::FrameBatch& batch, net::FramePool& pool) override {
    const uint32_t n = batch.count;
    pool.put(batch);
    return n;
  }

 private:
  std::thread::id* closed_on_;
};

TEST(DatapathCommands, RemovedBackendsAreClosedByTheCallerNotTheDatapathThread) {
  dp::Datapath d(64);
  auto rt = Runtime::create(d);
  ASSERT_TRUE(rt.ok()) << rt.error().message;
  ASSERT_TRUE((*rt)->start().ok());
  DatapathCommands cmds(**rt);
  std::thread::id closed_on;
  Change add;
  add.add_bridges.push_back({"b", dp::BridgeType::kSwitch, {}});
  add.add_ports.push_back({"b", "p", dp::KindTag{"tap"}, 1500, {}, std::make_unique<Recorder>(&closed_on)});
  add.add_ports.push_back({"b", "q", dp::KindTag{"tap"}, 1500, {}, std::make_unique<Recorder>(&closed_on)});
  ChangeResult r = cmds.apply(std::move(add));
  ASSERT_EQ(r.added_ids.size(), 2u);
  EXPECT_EQ(cmds.counters().size(), 2u);

  Change remove;
  remove.remove_ports.push_back(r.added_ids[0]);
  ChangeResult gone = cmds.apply(std::move(remove));
  ASSERT_EQ(gone.removed.size(), 1u);
  EXPECT_EQ(gone.removed[0].first, "p");
  EXPECT_EQ(closed_on, std::thread::id());  // still open: handed back, not closed on the datapath thread
  gone.removed.clear();
  EXPECT_EQ(closed_on, std::this_thread::get_id());

  // A port id is reused by the next port.
  Change again;
  again.add_ports.push_back({"b", "p2", dp::KindTag{"tap"}, 1500, {}, std::make_unique<Recorder>(&closed_on)});
  EXPECT_EQ(cmds.apply(std::move(again)).added_ids.at(0), r.added_ids[0]);

  closed_on = {};
  auto all = cmds.remove_all();
  EXPECT_EQ(all.size(), 2u);
  all.clear();
  EXPECT_EQ(closed_on, std::this_thread::get_id());
  (*rt)->stop();
}

}  // namespace
}  // namespace kvnet::io
