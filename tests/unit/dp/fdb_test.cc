#include "dp/fdb.h"

#include <gtest/gtest.h>

#include <map>
#include <random>

namespace kvnet::dp {
namespace {

constexpr uint64_t kSec = 1000000000ULL;

TEST(Fdb, LearnsAndLooksUp) {
  Fdb f(16, 300 * kSec);
  EXPECT_EQ(f.lookup(1, 0xa, 0), kNoPort);
  EXPECT_EQ(f.learn(1, 0xa, 3, 0), Fdb::Learn::kNew);
  EXPECT_EQ(f.lookup(1, 0xa, 0), 3u);
  EXPECT_EQ(f.learn(1, 0xa, 3, 1), Fdb::Learn::kRefreshed);
  EXPECT_EQ(f.size(), 1u);
}

TEST(Fdb, SeparatesVlans) {
  Fdb f(16, 300 * kSec);
  f.learn(10, 0xa, 1, 0);
  f.learn(20, 0xa, 2, 0);
  EXPECT_EQ(f.lookup(10, 0xa, 0), 1u);
  EXPECT_EQ(f.lookup(20, 0xa, 0), 2u);
  EXPECT_EQ(f.lookup(30, 0xa, 0), kNoPort);
  EXPECT_EQ(f.size(), 2u);
}

TEST(Fdb, StationMoves) {
  Fdb f(16, 300 * kSec);
  f.learn(1, 0xa, 1, 0);
  uint32_t old = kNoPort;
  EXPECT_EQ(f.learn(1, 0xa, 2, 5, &old), Fdb::Learn::kMoved);
  EXPECT_EQ(old, 1u);
  EXPECT_EQ(f.lookup(1, 0xa, 5), 2u);
  EXPECT_EQ(f.stats().moved, 1u);
}

TEST(Fdb, AgesOutAfterAgingTime) {
  Fdb f(16, 300 * kSec);
  f.learn(1, 0xa, 1, 10 * kSec);
  EXPECT_EQ(f.lookup(1, 0xa, 310 * kSec), 1u);      // exactly 300 s: still there
  EXPECT_EQ(f.lookup(1, 0xa, 310 * kSec + 1), kNoPort);  // one ns later: gone
  EXPECT_EQ(f.size(), 0u);
}

TEST(Fdb, RefreshKeepsEntryAlive) {
  Fdb f(16, 300 * kSec);
  f.learn(1, 0xa, 1, 0);
  f.learn(1, 0xa, 1, 200 * kSec);
  EXPECT_EQ(f.lookup(1, 0xa, 450 * kSec), 1u);
}

TEST(Fdb, SweepRemovesOnlyExpired) {
  Fdb f(16, 100 * kSec);
  f.learn(1, 0xa, 1, 0);
  f.learn(1, 0xb, 1, 50 * kSec);
  f.learn(1, 0xc, 1, 90 * kSec);
  EXPECT_EQ(f.age(160 * kSec), 2u);
  EXPECT_EQ(f.size(), 1u);
  EXPECT_EQ(f.lookup(1, 0xc, 160 * kSec), 1u);
}

TEST(Fdb, EvictsLeastRecentlySeenWhenFull) {
  Fdb f(3, 300 * kSec);
  f.learn(1, 0xa, 1, 1);
  f.learn(1, 0xb, 1, 2);
  f.learn(1, 0xc, 1, 3);
  f.learn(1, 0xa, 1, 4);  // a is now the most recent; b is the oldest
  f.learn(1, 0xd, 2, 5);
  EXPECT_EQ(f.size(), 3u);
  EXPECT_EQ(f.lookup(1, 0xb, 5), kNoPort);
  EXPECT_EQ(f.lookup(1, 0xa, 5), 1u);
  EXPECT_EQ(f.lookup(1, 0xc, 5), 1u);
  EXPECT_EQ(f.lookup(1, 0xd, 5), 2u);
  EXPECT_EQ(f.stats().evicted, 1u);
}

TEST(Fdb, StaticEntriesNeitherAgeNorMoveNorGetEvicted) {
  Fdb f(2, 10 * kSec);
  ASSERT_TRUE(f.add_static(1, 0xa, 7));
  EXPECT_EQ(f.learn(1, 0xa, 2, 0), Fdb::Learn::kStatic);
  f.learn(1, 0xb, 1, 0);
  f.learn(1, 0xc, 1, 1);  // evicts b, not the static a
  EXPECT_EQ(f.lookup(1, 0xa, 1000 * kSec), 7u);
  EXPECT_EQ(f.lookup(1, 0xb, 1), kNoPort);
  f.flush();
  EXPECT_EQ(f.lookup(1, 0xa, 0), 7u);
  EXPECT_EQ(f.size(), 1u);
}

TEST(Fdb, FullOfStaticRefusesLearning) {
  Fdb f(1, 10 * kSec);
  ASSERT_TRUE(f.add_static(1, 0xa, 1));
  EXPECT_EQ(f.learn(1, 0xb, 1, 0), Fdb::Learn::kFull);
  EXPECT_FALSE(f.add_static(1, 0xc, 1));
}

TEST(Fdb, FlushPortRemovesOnlyThatPort) {
  Fdb f(16, 300 * kSec);
  f.learn(1, 0xa, 1, 0);
  f.learn(1, 0xb, 2, 0);
  f.learn(2, 0xc, 1, 0);
  f.flush_port(1);
  EXPECT_EQ(f.size(), 1u);
  EXPECT_EQ(f.lookup(1, 0xb, 0), 2u);
}

// Random operations against an exact model (std::map + LRU sequence numbers):
// catches probe-chain bugs in backward-shift deletion and LRU bookkeeping.
TEST(Fdb, RandomOperationsMatchAModel) {
  struct M {
    uint32_t port;
    uint64_t last_seen;
    uint64_t seq;
  };
  constexpr uint64_t kAging = 1000;
  constexpr size_t kCap = 64;
  std::mt19937_64 rng(42);
  Fdb f(kCap, kAging);
  std::map<uint64_t, M> model;
  uint64_t now = 0, seq = 0;
  for (int i = 0; i < 200000; ++i) {
    now += rng() % 3;
    const uint16_t vlan = static_cast<uint16_t>(rng() % 4);
    const uint64_t mac = rng() % 40;  // 160 keys for 64 slots: eviction happens
    const uint64_t key = (uint64_t{vlan} << 48) | mac;
    const int op = static_cast<int>(rng() % 3);
    auto it = model.find(key);
    if (op == 0) {
      const uint32_t port = static_cast<uint32_t>(rng() % 8);
      f.learn(vlan, mac, port, now);
      if (it == model.end() && model.size() == kCap) {
        auto victim = model.begin();
        for (auto v = model.begin(); v != model.end(); ++v)
          if (v->second.seq < victim->second.seq) victim = v;
        model.erase(victim);
      }
      model[key] = {port, now, ++seq};
    } else if (op == 1) {
      uint32_t want = kNoPort;
      if (it != model.end()) {
        if (now - it->second.last_seen > kAging) model.erase(it);
        else want = it->second.port;
      }
      ASSERT_EQ(f.lookup(vlan, mac, now), want) << "op " << i << " vlan " << vlan << " mac " << mac;
    } else {
      ASSERT_EQ(f.remove(vlan, mac), it != model.end()) << "op " << i;
      if (it != model.end()) model.erase(it);
    }
    ASSERT_EQ(f.size(), model.size()) << "op " << i;
  }
}

}  // namespace
}  // namespace kvnet::dp
