// The datapath thread: commands run on it and return values, it stops
// cleanly, ready ports take turns (a port that always has frames cannot
// starve another), and failed or unwatchable ports are reported.
#include "io/runtime.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>

namespace kvnet::io {
namespace {

// A port backend whose rx_fd is an eventfd: readable while its counter is
// non-zero (the test controls readiness), one frame per receive().
class FakeRx final : public dp::PortBackend {
 public:
  FakeRx(std::string name, std::vector<std::string>* log, int fail_after = 0)
      : name_(std::move(name)), log_(log), fail_after_(fail_after), fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}
  ~FakeRx() override { close(fd_); }
  void set_ready(bool ready) {
    uint64_t v = 1;
    if (ready) (void)!write(fd_, &v, sizeof v);
    else (void)!read(fd_, &v, sizeof v);
  }
  int rx_fd() const override { return fd_; }
  uint32_t receive(net::FrameBatch& batch, net::FramePool& pool, uint64_t now) override {
    log_->push_back(name_);
    if (fail_after_ > 0 && static_cast<int>(log_->size()) >= fail_after_) failed_ = true;
    net::Frame* f = pool.get();
    if (!f) return 0;
    const uint8_t frame[60] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00};
    f->assign(frame, sizeof frame);
    f->meta.ts_ns = now;
    batch.add(f);
    return 1;
  }
  uint32_t send(net::FrameBatch& batch, net::FramePool& pool) override {
    const uint32_t n = batch.count;
    pool.put(batch);
    return n;
  }
  bool failed() const override { return failed_; }

 private:
  std::string name_;
  std::vector<std::string>* log_;  // datapath thread only
  int fail_after_;
  int fd_;
  bool failed_ = false;
};

class RuntimeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto rt = Runtime::create(dp_);
    ASSERT_TRUE(rt.ok()) << rt.error().message;
    rt_ = std::move(*rt);
    br_ = &dp_.add_bridge("br", dp::BridgeType::kHub);
  }
  FakeRx* add_port(const std::string& name, int fail_after = 0) {
    auto b = std::make_unique<FakeRx>(name, &log_, fail_after);
    FakeRx* raw = b.get();
    rt_->call([&](dp::Datapath& d) {
      dp::Port& p = d.add_port(*br_, name, dp::KindTag{"pcap"}, 1500, {}, std::move(b));
      EXPECT_TRUE(rt_->watch(p));
      return 0;
    });
    return raw;
  }
  // The receive log, read on the datapath thread (which writes it).
  std::vector<std::string> log() {
    return rt_->call([&](dp::Datapath&) { return log_; });
  }
  size_t count(const std::vector<std::string>& v, const std::string& name) {
    return static_cast<size_t>(std::count(v.begin(), v.end(), name));
  }

  dp::Datapath dp_{1024};
  std::unique_ptr<Runtime> rt_;
  dp::Bridge* br_ = nullptr;
  std::vector<std::string> log_;
};

TEST_F(RuntimeTest, CallRunsOnTheDatapathThreadAndReturnsItsValue) {
  ASSERT_TRUE(rt_->start().ok());
  EXPECT_TRUE(rt_->running());
  const auto caller = std::this_thread::get_id();
  const auto where = rt_->call([&](dp::Datapath& d) {
    EXPECT_EQ(&d, &dp_);
    EXPECT_TRUE(rt_->on_datapath_thread());
    return std::this_thread::get_id();
  });
  EXPECT_NE(where, caller);
  EXPECT_FALSE(rt_->on_datapath_thread());
  EXPECT_EQ(rt_->call([](dp::Datapath& d) { return d.bridges().size(); }), 1u);
  rt_->stop();
  EXPECT_FALSE(rt_->running());
  rt_->stop();  // twice is harmless
}

TEST_F(RuntimeTest, CallRunsInlineWhenNotStarted) {
  const auto where = rt_->call([](dp::Datapath&) { return std::this_thread::get_id(); });
  EXPECT_EQ(where, std::this_thread::get_id());
}

TEST_F(RuntimeTest, StopsCleanlyWhilePortsAreBusy) {
  FakeRx* a = add_port("a");
  a->set_ready(true);
  ASSERT_TRUE(rt_->start().ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const auto t0 = std::chrono::steady_clock::now();
  rt_->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
  EXPECT_GT(count(log_, "a"), 0u);  // stopped: the log is ours again
}

TEST_F(RuntimeTest, ABusyPortDoesNotStarveAnother) {
  FakeRx* a = add_port("a");
  FakeRx* b = add_port("b");
  a->set_ready(true);  // always has frames
  ASSERT_TRUE(rt_->start().ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  b->set_ready(true);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  rt_->stop();
  // From b's first batch on, both are ready: they take turns.
  auto first_b = std::find(log_.begin(), log_.end(), "b");
  ASSERT_NE(first_b, log_.end()) << "b never got a batch";
  std::vector<std::string> both(first_b, log_.end());
  ASSERT_GT(both.size(), 20u);
  size_t run = 1, longest = 1;
  for (size_t i = 1; i < both.size(); ++i) {
    run = both[i] == both[i - 1] ? run + 1 : 1;
    longest = std::max(longest, run);
  }
  EXPECT_LE(longest, 2u) << "one port had " << longest << " batches in a row";
  const double ratio = double(count(both, "a")) / double(count(both, "b"));
  EXPECT_GT(ratio, 0.8);
  EXPECT_LT(ratio, 1.25);
}

TEST_F(RuntimeTest, AFailedBackendIsReportedAndNoLongerPolled) {
  FakeRx* a = add_port("a", /*fail_after=*/3);
  a->set_ready(true);
  ASSERT_TRUE(rt_->start().ok());
  std::vector<Runtime::Failure> failed;
  for (int i = 0; i < 200 && failed.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    failed = rt_->take_failures();
  }
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].port, "a");
  EXPECT_NE(failed[0].why.find("port 'a'"), std::string::npos) << failed[0].why;
  const size_t polled = log().size();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(log().size(), polled) << "a failed port is still polled";
  EXPECT_TRUE(rt_->take_failed().empty());  // taken once
}

// An fd epoll refuses (a regular file): watch() says so and the port is reported.
class FileRx final : public dp::PortBackend {
 public:
  explicit FileRx(int fd) : fd_(fd) {}
  int rx_fd() const override { return fd_; }
  uint32_t send(net::FrameBatch& batch, net::FramePool& pool) override {
    pool.put(batch);
    return 0;
  }

 private:
  int fd_;
};

TEST_F(RuntimeTest, AnUnwatchableFdIsReported) {
  const int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  dp::Port& p = dp_.add_port(*br_, "f", dp::KindTag{"pcap"}, 1500, {}, std::make_unique<FileRx>(fd));
  EXPECT_FALSE(rt_->watch(p));
  const auto failed = rt_->take_failures();
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].port, "f");
  EXPECT_NE(failed[0].why.find("cannot poll"), std::string::npos) << failed[0].why;
  close(fd);
}

}  // namespace
}  // namespace kvnet::io
