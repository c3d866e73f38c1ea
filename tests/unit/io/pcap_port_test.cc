// The pcap port backend: live (kvnetd) captures are readable while the port
// runs and carry wall-clock times; replay keeps each frame's own timestamp.
#include "io/pcap_port.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "testing.h"

namespace kvnet::io {
namespace {

namespace fs = std::filesystem;

class PcapPortTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("kvnet-pcapport-" + std::to_string(getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  void send(PcapTxBackend& b, uint64_t ts_ns, int frames) {
    net::FrameBatch batch;
    for (int i = 0; i < frames; ++i) {
      net::Frame* f = pool_.get();
      const uint8_t bytes[60] = {0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00, static_cast<uint8_t>(i)};
      f->assign(bytes, sizeof bytes);
      f->meta.ts_ns = ts_ns;
      batch.add(f);
    }
    EXPECT_EQ(b.send(batch, pool_), static_cast<uint32_t>(frames));
  }
  std::vector<net::PcapRecord> read(const fs::path& p) {
    net::PcapReader r;
    EXPECT_TRUE(r.open(p.string()).ok()) << testing::error_of(r.status());
    std::vector<net::PcapRecord> out;
    net::PcapRecord rec;
    while (r.next(rec)) out.push_back(rec);
    EXPECT_EQ(testing::error_of(r.status()), "");
    return out;
  }

  fs::path dir_;
  net::FramePool pool_{64};
};

TEST_F(PcapPortTest, LiveCaptureIsReadableAfterEveryBatchWithWallClockTimes) {
  const auto path = dir_ / "live.pcap";
  auto b = PcapTxBackend::open(path.string(), true, PcapClock::kWall);
  ASSERT_TRUE(b.ok()) << b.error().message;
  EXPECT_TRUE(read(path).empty());  // the header is there at once
  const uint64_t before = wall_clock_ns();
  send(**b, /*monotonic ts=*/12345, 3);
  const auto recs = read(path);  // the port is still open
  ASSERT_EQ(recs.size(), 3u);
  for (const auto& r : recs) {
    EXPECT_GE(r.ts_ns, before);
    EXPECT_LE(r.ts_ns, wall_clock_ns());
  }
  send(**b, 12345, 2);
  EXPECT_EQ(read(path).size(), 5u);
  EXPECT_EQ((*b)->written(), 5u);
  EXPECT_TRUE((*b)->close().ok());
}

TEST_F(PcapPortTest, ReplayKeepsEachFramesTimestamp) {
  const auto path = dir_ / "replay.pcap";
  auto b = PcapTxBackend::open(path.string(), true);  // PcapClock::kFrame by default
  ASSERT_TRUE(b.ok()) << b.error().message;
  send(**b, 1'600'000'000'123'456'789ULL, 2);
  ASSERT_TRUE((*b)->close().ok());
  const auto recs = read(path);
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[0].ts_ns, 1'600'000'000'123'456'789ULL);
}

}  // namespace
}  // namespace kvnet::io
