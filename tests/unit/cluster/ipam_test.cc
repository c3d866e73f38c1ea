// Cluster-wide addresses (cluster/ipam.h) against a real etcd.
#include "cluster/ipam.h"

#include <gtest/gtest.h>

#include <mutex>
#include <set>
#include <thread>

#include "cluster/etcd_server.h"

namespace kvnet::cluster {
namespace {

using testing::EtcdServer;

TEST(Ipam, AllocatesTheFirstFreeRefusesTakenAndFreesOnlyItsOwn) {
  EtcdServer etcd;
  ASSERT_TRUE(etcd.wait_ready());
  EtcdClient c(etcd.options());
  const NetworkRecord net{.name = "blue", .vni = 100, .subnet = "10.0.0.0/30"};  // hosts .1 and .2
  auto a = claim_address(c, kPrefix, net, "", "h1/p1");
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(*a, "10.0.0.1/30");
  auto taken = claim_address(c, kPrefix, net, "10.0.0.1", "h2/p2");
  ASSERT_FALSE(taken);
  EXPECT_EQ(taken.error().message, "network 'blue': address 10.0.0.1 is taken by h1/p1");
  auto again = claim_address(c, kPrefix, net, "10.0.0.1/30", "h1/p1");
  ASSERT_TRUE(again) << "its own address is its own";
  auto b = claim_address(c, kPrefix, net, "", "h2/p2");
  ASSERT_TRUE(b);
  EXPECT_EQ(*b, "10.0.0.2/30");
  auto none = claim_address(c, kPrefix, net, "", "h3/p3");
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().message, "network 'blue': no free address left in 10.0.0.0/30");
  for (const auto& [want, msg] : std::vector<std::pair<std::string, std::string>>{
           {"10.0.0.0", "network 'blue': address 10.0.0.0 is the subnet's network address"},
           {"10.0.0.3", "network 'blue': address 10.0.0.3 is the subnet's broadcast address"},
           {"10.0.1.1", "network 'blue': address 10.0.1.1 is not in its subnet 10.0.0.0/30"},
           {"10.0.0.2/24", "network 'blue': address 10.0.0.2/24: the subnet's prefix length is 30"},
           {"10.0.0.x", "network 'blue': address '10.0.0.x': "}}) {
    auto r = claim_address(c, kPrefix, net, want, "h3/p3");
    ASSERT_FALSE(r) << want;
    EXPECT_EQ(r.error().message.rfind(msg, 0), 0u) << r.error().message;
  }
  // Another holder's address stays; one's own goes.
  ASSERT_TRUE(release_address(c, kPrefix, "blue", "10.0.0.1/30", "h2/p2"));
  EXPECT_FALSE(claim_address(c, kPrefix, net, "", "h3/p3"));
  ASSERT_TRUE(release_address(c, kPrefix, "blue", "10.0.0.1/30", "h1/p1"));
  auto freed = claim_address(c, kPrefix, net, "", "h3/p3");
  ASSERT_TRUE(freed);
  EXPECT_EQ(*freed, "10.0.0.1/30");
  // Without a subnet: an address given with its length, none allocated.
  const NetworkRecord bare{.name = "red", .vni = 200};
  EXPECT_EQ(*claim_address(c, kPrefix, bare, "192.168.9.9/24", "h1/p1"), "192.168.9.9/24");
  EXPECT_FALSE(claim_address(c, kPrefix, bare, "", "h1/p2"));
}

TEST(Ipam, ConcurrentAllocationsNeverCollide) {
  EtcdServer etcd;
  ASSERT_TRUE(etcd.wait_ready());
  const NetworkRecord net{.name = "blue", .vni = 100, .subnet = "10.0.0.0/24"};
  std::mutex mu;
  std::multiset<std::string> got;
  std::vector<std::thread> ts;
  for (int h = 0; h < 6; ++h)
    ts.emplace_back([&, h] {
      EtcdClient c(etcd.options());
      for (int p = 0; p < 5; ++p) {
        auto a = claim_address(c, kPrefix, net, "", "h" + std::to_string(h) + "/p" + std::to_string(p));
        ASSERT_TRUE(a) << a.error().message;
        std::lock_guard lock(mu);
        got.insert(*a);
      }
    });
  for (auto& t : ts) t.join();
  ASSERT_EQ(got.size(), 30u);
  EXPECT_EQ(std::set<std::string>(got.begin(), got.end()).size(), 30u) << "an address was given twice";
  EXPECT_EQ(got.count("10.0.0.0/24"), 0u);
}

TEST(BindingRecord, RoundTripsAndRefusesWhatIsNotOne) {
  const BindingRecord b{"blue", "h1", "ct-web", "02:00:00:00:00:01", {"10.0.0.5/24"}, "container web", 3};
  const std::string key = binding_key("blue", "h1", "ct-web");
  auto back = parse_binding(key, b.to_json().dump());
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, b);
  EXPECT_FALSE(parse_binding(binding_key("blue", "h2", "ct-web"), b.to_json().dump()));
  BindingRecord bad = b;
  bad.mac = "ff:ff:ff:ff:ff:ff";
  EXPECT_FALSE(parse_binding(key, bad.to_json().dump()));
  bad = b;
  bad.ips = {"10.0.0.5"};
  EXPECT_FALSE(parse_binding(key, bad.to_json().dump()));
  EXPECT_FALSE(parse_binding(key, "{"));
}

}  // namespace
}  // namespace kvnet::cluster
