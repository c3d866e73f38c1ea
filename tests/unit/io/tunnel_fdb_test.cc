// The tunnel's learning table: the FDB's design (fixed capacity, LRU
// eviction, ageing by the caller's clock) plus the remotes' flood list.
#include "io/tunnel_fdb.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <map>
#include <set>

namespace kvnet::io {
namespace {

constexpr uint64_t kSec = 1000000000ULL;

IpAddr ip(const char* s) { return *IpAddr::parse(s); }

std::vector<std::string> flood(const TunnelFdb& t) {
  std::vector<std::string> out;
  for (const auto& a : t.flood()) out.push_back(a.str());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(TunnelFdb, LearnsLooksUpAndMoves) {
  TunnelFdb t(8, 4, 300 * kSec);
  EXPECT_EQ(t.learn(5, 0xa, ip("10.0.0.1"), kSec), TunnelFdb::Learn::kNew);
  EXPECT_EQ(t.learn(5, 0xa, ip("10.0.0.1"), 2 * kSec), TunnelFdb::Learn::kRefreshed);
  EXPECT_EQ(t.learn(6, 0xa, ip("10.0.0.2"), 2 * kSec), TunnelFdb::Learn::kNew) << "another VNI, another station";
  ASSERT_NE(t.lookup(5, 0xa, 3 * kSec), nullptr);
  EXPECT_EQ(t.lookup(5, 0xa, 3 * kSec)->str(), "10.0.0.1");
  EXPECT_EQ(t.lookup(6, 0xa, 3 * kSec)->str(), "10.0.0.2");
  EXPECT_EQ(t.lookup(5, 0xb, 3 * kSec), nullptr);
  EXPECT_EQ(flood(t), (std::vector<std::string>{"10.0.0.1", "10.0.0.2"}));
  EXPECT_EQ(t.learn(5, 0xa, ip("10.0.0.3"), 4 * kSec), TunnelFdb::Learn::kMoved);
  EXPECT_EQ(t.lookup(5, 0xa, 4 * kSec)->str(), "10.0.0.3");
  EXPECT_EQ(t.stats().moved, 1u);
  EXPECT_EQ(flood(t), (std::vector<std::string>{"10.0.0.2", "10.0.0.3"})) << "10.0.0.1 named by nothing any more";
  EXPECT_EQ(t.size(), 2u);
}

TEST(TunnelFdb, AgedEntriesAreAbsentButStayTheLastKnownVteps) {
  TunnelFdb t(8, 4, 300 * kSec);
  t.learn(5, 0xa, ip("10.0.0.1"), kSec);
  EXPECT_NE(t.lookup(5, 0xa, 301 * kSec), nullptr);
  EXPECT_EQ(t.lookup(5, 0xa, 302 * kSec), nullptr) << "aged: unicast floods";
  ASSERT_NE(t.find(5, 0xa), nullptr);
  EXPECT_EQ(flood(t), (std::vector<std::string>{"10.0.0.1"})) << "still flooded to";
  EXPECT_EQ(t.learn(5, 0xa, ip("10.0.0.2"), 400 * kSec), TunnelFdb::Learn::kNew) << "seen again after ageing";
  EXPECT_EQ(t.stats().moved, 0u);
  EXPECT_EQ(t.lookup(5, 0xa, 400 * kSec)->str(), "10.0.0.2");
}

TEST(TunnelFdb, AFullTableEvictsTheLeastRecentlySeen) {
  TunnelFdb t(3, 2, 300 * kSec);
  t.learn(1, 0xa, ip("10.0.0.1"), 1 * kSec);
  t.learn(1, 0xb, ip("10.0.0.2"), 2 * kSec);
  t.learn(1, 0xc, ip("10.0.0.2"), 3 * kSec);
  t.learn(1, 0xa, ip("10.0.0.1"), 4 * kSec);  // a is seen again: b is now the oldest
  EXPECT_EQ(t.learn(1, 0xd, ip("10.0.0.3"), 5 * kSec), TunnelFdb::Learn::kNew);
  EXPECT_EQ(t.stats().evicted, 1u);
  EXPECT_EQ(t.find(1, 0xb), nullptr);
  EXPECT_NE(t.find(1, 0xa), nullptr);
  EXPECT_NE(t.find(1, 0xc), nullptr);
  EXPECT_EQ(t.learned(), 3u);
  EXPECT_EQ(flood(t), (std::vector<std::string>{"10.0.0.1", "10.0.0.2", "10.0.0.3"}));
  // Static entries are not counted against the learned ones, never evicted.
  EXPECT_TRUE(t.set_static(1, 0xe, ip("10.0.0.9")));
  EXPECT_TRUE(t.set_static(1, 0xf, ip("10.0.0.9")));
  EXPECT_FALSE(t.set_static(2, 0xf, ip("10.0.0.9"))) << "max_static";
  EXPECT_EQ(t.stats().static_full, 1u);
  for (uint64_t m = 0x100; m < 0x110; ++m) t.learn(1, m, ip("10.0.0.4"), 10 * kSec + m);
  EXPECT_EQ(t.find(1, 0xe)->str(), "10.0.0.9");
  EXPECT_EQ(t.find(1, 0xf)->str(), "10.0.0.9");
  EXPECT_EQ(t.size(), 5u);
  EXPECT_EQ(flood(t), (std::vector<std::string>{"10.0.0.4", "10.0.0.9"}));
  TunnelFdb none(0, 1, kSec);
  EXPECT_EQ(none.learn(1, 0xa, ip("10.0.0.1"), 0), TunnelFdb::Learn::kFull);
  EXPECT_EQ(none.stats().full, 1u);
}

TEST(TunnelFdb, StaticEntriesWinOverLearning) {
  TunnelFdb t(4, 4, 300 * kSec);
  t.learn(1, 0xa, ip("10.0.0.1"), kSec);
  EXPECT_TRUE(t.set_static(1, 0xa, ip("10.0.0.5"))) << "replaces the learned entry";
  EXPECT_EQ(t.learn(1, 0xa, ip("10.0.0.1"), 2 * kSec), TunnelFdb::Learn::kStatic);
  EXPECT_EQ(t.lookup(1, 0xa, 1000 * kSec)->str(), "10.0.0.5") << "never ages";
  EXPECT_TRUE(t.set_static(1, 0xa, ip("10.0.0.6")));
  EXPECT_EQ(flood(t), (std::vector<std::string>{"10.0.0.6"}));
  EXPECT_TRUE(t.remove_static(1, 0xa));
  EXPECT_FALSE(t.remove_static(1, 0xa));
  EXPECT_TRUE(t.flood().empty());
  EXPECT_EQ(t.size(), 0u);
  t.learn(1, 0xb, ip("10.0.0.1"), kSec);
  EXPECT_FALSE(t.remove_static(1, 0xb)) << "a learned entry is not removed as a static one";
}

// A tunnel that does not learn floods each VNI to the remotes of its static
// entries only: kept as entries come, move and go, within max_static.
TEST(TunnelFdb, StaticFloodListsArePerVni) {
  TunnelFdb t(4, 4, 300 * kSec);
  auto of = [&](uint32_t vni) {
    std::vector<std::string> out;
    for (const auto& a : t.static_flood(vni)) out.push_back(a.str());
    return out;
  };
  EXPECT_TRUE(t.set_static(1, 0xa, ip("10.0.0.2")));
  EXPECT_TRUE(t.set_static(1, 0xb, ip("10.0.0.1")));
  EXPECT_TRUE(t.set_static(1, 0xc, ip("10.0.0.2")));
  EXPECT_TRUE(t.set_static(2, 0xd, ip("10.0.0.3")));
  EXPECT_EQ(of(1), (std::vector<std::string>{"10.0.0.1", "10.0.0.2"}));
  EXPECT_EQ(of(2), (std::vector<std::string>{"10.0.0.3"}));
  EXPECT_TRUE(of(0).empty());
  EXPECT_TRUE(of(3).empty());
  EXPECT_FALSE(t.set_static(3, 0xe, ip("10.0.0.4"))) << "max_static is 4";
  EXPECT_TRUE(of(3).empty());
  // A station that moves takes its VNI's flood list along.
  EXPECT_TRUE(t.set_static(1, 0xb, ip("10.0.0.3")));
  EXPECT_EQ(of(1), (std::vector<std::string>{"10.0.0.2", "10.0.0.3"}));
  EXPECT_EQ(of(2), (std::vector<std::string>{"10.0.0.3"}));
  // A remote stays while one static entry of the VNI names it.
  EXPECT_TRUE(t.remove_static(1, 0xa));
  EXPECT_EQ(of(1), (std::vector<std::string>{"10.0.0.2", "10.0.0.3"}));
  EXPECT_TRUE(t.remove_static(1, 0xc));
  EXPECT_EQ(of(1), (std::vector<std::string>{"10.0.0.3"}));
  // Learned stations never join a per-VNI list.
  t.learn(1, 0xf, ip("10.0.0.9"), kSec);
  EXPECT_EQ(of(1), (std::vector<std::string>{"10.0.0.3"}));
  EXPECT_TRUE(t.remove_static(1, 0xb));
  EXPECT_TRUE(t.remove_static(2, 0xd));
  EXPECT_TRUE(of(1).empty());
  EXPECT_TRUE(of(2).empty());
}

// Against a model (a map and an LRU order), with random stations, remotes,
// moves and statics: every lookup, the size and the flood list agree, and
// capacity is never exceeded.
TEST(TunnelFdb, AgreesWithAModel) {
  std::mt19937 rng(17);
  constexpr uint32_t kMax = 16, kStatic = 4;
  TunnelFdb t(kMax, kStatic, 50 * kSec);
  struct E {
    IpAddr remote;
    uint64_t seen;
    bool is_static;
    uint64_t order = 0;  // LRU: when it was last seen, as a sequence number
  };
  uint64_t seq = 0;
  std::map<std::pair<uint32_t, uint64_t>, E> model;
  uint64_t now = kSec;
  for (int step = 0; step < 20000; ++step) {
    now += (rng() % 3) * kSec;
    const uint32_t vni = rng() % 3;
    const uint64_t mac = rng() % 40;
    const IpAddr r = ip(("10.0.0." + std::to_string(rng() % 6)).c_str());
    const auto key = std::make_pair(vni, mac);
    const int op = static_cast<int>(rng() % 20);
    if (op == 0) {
      size_t statics = 0;
      for (const auto& [k, e] : model) statics += e.is_static;
      const bool fits = statics < kStatic || (model.count(key) && model[key].is_static);
      EXPECT_EQ(t.set_static(vni, mac, r), fits);
      if (fits) model[key] = {r, 0, true};
    } else if (op == 1) {
      const bool there = model.count(key) && model[key].is_static;
      EXPECT_EQ(t.remove_static(vni, mac), there);
      if (there) model.erase(key);
    } else {
      auto it = model.find(key);
      if (it != model.end()) {
        if (!it->second.is_static) it->second = {r, now, false, ++seq};
      } else {
        size_t learned = 0;
        for (const auto& [k, e] : model) learned += !e.is_static;
        if (learned >= kMax) {  // the least recently seen dynamic entry goes
          auto oldest = model.end();
          for (auto m = model.begin(); m != model.end(); ++m)
            if (!m->second.is_static && (oldest == model.end() || m->second.order < oldest->second.order)) oldest = m;
          model.erase(oldest);
        }
        model[key] = {r, now, false, ++seq};
      }
      t.learn(vni, mac, r, now);
    }
    ASSERT_EQ(t.size(), model.size()) << "step " << step;
    const auto probe = std::make_pair(rng() % 3, uint64_t{rng() % 40});
    const IpAddr* got = t.lookup(probe.first, probe.second, now);
    auto m = model.find(probe);
    const bool live = m != model.end() && (m->second.is_static || now - m->second.seen <= 50 * kSec);
    ASSERT_EQ(got != nullptr, live) << "step " << step;
    if (live) {
      ASSERT_EQ(*got, m->second.remote);
    }
    std::vector<std::string> want;
    for (const auto& [k, e] : model) want.push_back(e.remote.str());
    std::sort(want.begin(), want.end());
    want.erase(std::unique(want.begin(), want.end()), want.end());
    ASSERT_EQ(flood(t), want) << "step " << step;
    for (uint32_t v = 0; v < 3; ++v) {  // each VNI's static flood list: its static entries' remotes, in order
      std::vector<std::string> per_vni, got_vni;
      std::set<IpAddr, bool (*)(const IpAddr&, const IpAddr&)> seen(
          [](const IpAddr& a, const IpAddr& b) { return a.family != b.family ? a.family < b.family : a.b < b.b; });
      for (const auto& [k, e] : model)
        if (k.first == v && e.is_static) seen.insert(e.remote);
      for (const auto& a : seen) per_vni.push_back(a.str());
      for (const auto& a : t.static_flood(v)) got_vni.push_back(a.str());
      ASSERT_EQ(got_vni, per_vni) << "step " << step << " vni " << v;
    }
  }
}

}  // namespace
}  // namespace kvnet::io
