// ClusterState against recorded streams: what a full read and watch
// messages make of the store, and what a hostile record cannot do.
#include "cluster/state.h"

#include <gtest/gtest.h>

namespace kvnet::cluster {
namespace {

std::string host_json(const std::string& name, const std::string& ip) {
  return HostRecord{.name = name, .underlay_ip = ip, .encaps = {"vxlan"}, .version = "0.1.0", .started = 1}.to_json().dump();
}

KeyValue kv(const std::string& key, const std::string& value, int64_t rev) { return {key, value, rev, rev, 1, 0}; }

WatchMessage put(const std::string& key, const std::string& value, int64_t rev) {
  WatchMessage m;
  m.revision = rev;
  m.events.push_back({false, kv(key, value, rev)});
  return m;
}

WatchMessage del(const std::string& key, int64_t rev) {
  WatchMessage m;
  m.revision = rev;
  m.events.push_back({true, KeyValue{key, "", 0, rev, 0, 0}});
  return m;
}

TEST(ClusterState, AFullReadThenEventsInRevisionOrder) {
  ClusterState s;
  RangeResult all;
  all.revision = 10;
  all.kvs = {kv("/kvnet/hosts/h1", host_json("h1", "10.0.0.1"), 5), kv("/kvnet/members/h1", host_json("h1", "10.0.0.1"), 5),
             kv("/kvnet/members/h2", host_json("h2", "10.0.0.2"), 6), kv("/kvnet/unknown/x", "whatever", 7)};
  auto d = s.reset(all);
  EXPECT_EQ(d.up, std::vector<std::string>{"h1"});
  EXPECT_TRUE(d.rejected.empty());
  EXPECT_EQ(s.revision(), 10);
  EXPECT_TRUE(s.is_up("h1"));
  EXPECT_FALSE(s.is_up("h2"));
  EXPECT_EQ(s.members().size(), 2u);

  d = s.apply(put("/kvnet/hosts/h2", host_json("h2", "10.0.0.2"), 11));
  EXPECT_EQ(d.up, std::vector<std::string>{"h2"});
  EXPECT_EQ(s.revision(), 11);
  d = s.apply(del("/kvnet/hosts/h1", 12));
  EXPECT_EQ(d.down, std::vector<std::string>{"h1"});
  EXPECT_FALSE(s.is_up("h1"));
  EXPECT_EQ(s.members().count("h1"), 1u) << "a host that went down stays registered";
  // A resumed watch repeats what was applied: no change.
  d = s.apply(put("/kvnet/hosts/h1", host_json("h1", "10.0.0.1"), 11));
  EXPECT_TRUE(d.empty());
  EXPECT_FALSE(s.is_up("h1"));
  // Its lease was granted again: it is back.
  d = s.apply(put("/kvnet/hosts/h1", host_json("h1", "10.0.0.9"), 13));
  EXPECT_EQ(d.up, std::vector<std::string>{"h1"});
  EXPECT_EQ(s.up().at("h1").underlay_ip, "10.0.0.9");
}

TEST(ClusterState, ACatchingUpWatchCountsItsEventsNotItsHeader) {
  ClusterState s;
  RangeResult all;
  all.revision = 3;
  s.reset(all);
  // A watch from revision 4 while the store is at 100: the first message's
  // header says 100, its events are of 4 and 5; the next brings 6.
  WatchMessage m1 = put("/kvnet/hosts/a", host_json("a", "10.0.0.1"), 4);
  m1.events.push_back({false, kv("/kvnet/hosts/b", host_json("b", "10.0.0.2"), 5)});
  m1.revision = 100;
  s.apply(m1);
  EXPECT_EQ(s.revision(), 5);
  auto m2 = put("/kvnet/hosts/c", host_json("c", "10.0.0.3"), 6);
  m2.revision = 100;
  EXPECT_EQ(s.apply(m2).up, std::vector<std::string>{"c"});
  // A progress notice: everything up to its revision has come.
  WatchMessage progress;
  progress.revision = 100;
  s.apply(progress);
  EXPECT_EQ(s.revision(), 100);
}

TEST(ClusterState, HostileRecordsAreRefusedByKeyAndTheRestApplies) {
  ClusterState s;
  RangeResult all;
  all.revision = 20;
  all.kvs = {kv("/kvnet/hosts/good", host_json("good", "10.0.0.1"), 2),
             kv("/kvnet/hosts/notjson", "{{{", 3),
             kv("/kvnet/hosts/other", host_json("someone-else", "10.0.0.3"), 4),
             kv("/kvnet/hosts/badip", host_json("badip", "10.0.0.300"), 5),
             kv("/kvnet/hosts/huge", std::string(70000, ' '), 6),
             kv("/kvnet/hosts/enc", R"({"name":"enc","underlay_ip":"10.0.0.5","encaps":["ipsec"]})", 7),
             kv("/kvnet/hosts/ctl", "{\"name\":\"ctl\",\"underlay_ip\":\"10.0.0.6\",\"version\":\"a\\u0000b\"}", 8),
             kv("/kvnet/hosts/neg", R"({"name":"neg","underlay_ip":"10.0.0.7","started":-5})", 9),
             kv("/kvnet/members/list", R"({"name":"list","underlay_ip":"10.0.0.8","vms":"v1"})", 10)};
  auto d = s.reset(all);
  EXPECT_EQ(d.up, std::vector<std::string>{"good"});
  ASSERT_EQ(d.rejected.size(), 8u);
  const std::vector<std::string> expect = {
      "cluster key '/kvnet/hosts/notjson': not JSON",
      "cluster key '/kvnet/hosts/other': names host 'someone-else', not the key's",
      "cluster key '/kvnet/hosts/badip': underlay_ip '10.0.0.300' is not an IP address",
      "cluster key '/kvnet/hosts/huge': a record of 70000 bytes",
      "cluster key '/kvnet/hosts/enc': unknown encapsulation 'ipsec'",
      "cluster key '/kvnet/hosts/ctl': 'version' is not printable text",
      "cluster key '/kvnet/hosts/neg': 'started' is not a number of 0 or more",
      "cluster key '/kvnet/members/list': 'vms' is not a list"};
  for (size_t i = 0; i < expect.size(); ++i)
    EXPECT_EQ(d.rejected[i].rfind(expect[i], 0), 0u) << d.rejected[i];
  // A bad write over a good record takes the good one away (the store no
  // longer says it); a good write after a bad one applies.
  d = s.apply(put("/kvnet/hosts/good", "not json", 21));
  EXPECT_EQ(d.down, std::vector<std::string>{"good"});
  EXPECT_EQ(d.rejected.size(), 1u);
  d = s.apply(put("/kvnet/hosts/enc", host_json("enc", "10.0.0.5"), 22));
  EXPECT_EQ(d.up, std::vector<std::string>{"enc"});
}

TEST(ClusterState, AResetSaysWhoCameAndWent) {
  ClusterState s;
  RangeResult a;
  a.revision = 5;
  a.kvs = {kv("/kvnet/hosts/h1", host_json("h1", "10.0.0.1"), 2), kv("/kvnet/hosts/h2", host_json("h2", "10.0.0.2"), 3)};
  s.reset(a);
  RangeResult b;  // after a compaction: h1 went, h3 came
  b.revision = 50;
  b.kvs = {kv("/kvnet/hosts/h2", host_json("h2", "10.0.0.2"), 3), kv("/kvnet/hosts/h3", host_json("h3", "10.0.0.3"), 40)};
  auto d = s.reset(b);
  EXPECT_EQ(d.up, std::vector<std::string>{"h3"});
  EXPECT_EQ(d.down, std::vector<std::string>{"h1"});
  EXPECT_EQ(s.revision(), 50);
}

TEST(JsonObjectSplitter, CutsObjectsAcrossReadsAndRefusesGarbage) {
  JsonObjectSplitter split(1000);
  std::vector<std::string> got;
  auto each = [&](const std::string& o) {
    got.push_back(o);
    return true;
  };
  const std::string stream = R"({"a":"}{\"x"}  {"b":[1,{"c":2}]})" "\n" R"({"d":1})";
  for (char c : stream) ASSERT_TRUE(split.feed(&c, 1, each));
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0], R"({"a":"}{\"x"})");
  EXPECT_EQ(got[2], R"({"d":1})");
  JsonObjectSplitter bad(1000);
  EXPECT_FALSE(bad.feed("x{}", 3, each));
  JsonObjectSplitter small(8);
  EXPECT_FALSE(small.feed("{\"aaaaaaaa\":1}", 14, each));
}

TEST(WatchMessage, ParsesEtcdsShapesAndRefusesOthers) {
  auto created = parse_watch_message(R"({"result":{"header":{"revision":"2"},"created":true}})");
  ASSERT_TRUE(created);
  EXPECT_TRUE(created->created);
  auto ev = parse_watch_message(
      R"({"result":{"header":{"revision":"7"},"events":[{"type":"DELETE","kv":{"key":"L2E=","mod_revision":"7"}},{"kv":{"key":"L2I=","value":"eA==","mod_revision":"7"}}]}})");
  ASSERT_TRUE(ev) << ev.error().message;
  ASSERT_EQ(ev->events.size(), 2u);
  EXPECT_TRUE(ev->events[0].deleted);
  EXPECT_EQ(ev->events[0].kv.key, "/a");
  EXPECT_EQ(ev->events[1].kv.value, "x");
  auto canceled = parse_watch_message(R"({"result":{"header":{},"canceled":true,"compact_revision":"9"}})");
  ASSERT_TRUE(canceled);
  EXPECT_EQ(canceled->compact_revision, 9);
  auto err = parse_watch_message(R"({"error":{"grpc_code":14,"message":"etcdserver: no leader"}})");
  ASSERT_FALSE(err);
  EXPECT_NE(err.error().message.find("no leader"), std::string::npos) << err.error().message;
  for (const char* bad : {"[]", R"({"result":{"events":[{"kv":{"key":"!!"}}]}})",
                          R"({"result":{"events":[{"type":"MOVE","kv":{}}]}})", R"({"result":{"header":{"revision":"x"}}})",
                          R"({"result":{"events":{}}})", R"({"result":{"events":[{"type":"PUT"}]}})"})
    EXPECT_FALSE(parse_watch_message(bad)) << bad;
}

}  // namespace
}  // namespace kvnet::cluster

namespace kvnet::cluster {
namespace {

TEST(NetworkRecord, ChecksItsRulesAndRoundTrips) {
  NetworkRecord n{.name = "blue", .vni = 100, .subnet = "10.0.0.0/24"};
  ASSERT_TRUE(check_network(n));
  auto back = parse_network("/kvnet/networks/blue", n.to_json().dump());
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, n);
  EXPECT_EQ(back->mtu, 1450u);
  const std::vector<std::pair<NetworkRecord, std::string>> bad = {
      {{.name = "b", .vni = 0}, "network 'b': VNI 0 is out of range 1-16777215"},
      {{.name = "b", .vni = 16777216}, "network 'b': VNI 16777216 is out of range 1-16777215"},
      {{.name = "b", .vni = 1, .mtu = 100}, "network 'b': mtu 100 is out of range 576-9000"},
      {{.name = "b", .vni = 1, .subnet = "10.0.0.1/24"}, "network 'b': subnet 10.0.0.1/24 is not a network address (did you mean 10.0.0.0/24?)"},
      {{.name = "b", .vni = 1, .subnet = "10.0.0.0/31"}, "network 'b': subnet 10.0.0.0/31: the prefix must be 8-30"},
      {{.name = "b", .vni = 1, .subnet = "fd00::/64"}, "network 'b': subnet: "},
      {{.name = "a b", .vni = 1}, "network 'a b': "}};
  for (const auto& [rec, msg] : bad) {
    auto s = check_network(rec);
    ASSERT_FALSE(s) << msg;
    EXPECT_EQ(s.error().message.rfind(msg, 0), 0u) << s.error().message;
  }
}

TEST(ClusterState, NetworksComeAndGoAndHostileOnesAreRefused) {
  ClusterState s;
  RangeResult all;
  all.revision = 4;
  all.kvs = {{"/kvnet/networks/blue", R"({"name":"blue","vni":100})", 2, 2, 1, 0},
             {"/kvnet/networks/red", R"({"name":"red","vni":99999999})", 3, 3, 1, 0},
             {"/kvnet/vnis/100", "blue", 2, 2, 1, 0}};
  auto d = s.reset(all);
  EXPECT_EQ(d.networks, std::vector<std::string>{"blue"});
  ASSERT_EQ(d.rejected.size(), 1u);
  EXPECT_EQ(d.rejected[0], "cluster key '/kvnet/networks/red': VNI 99999999 is out of range 1-16777215");
  EXPECT_EQ(s.networks().at("blue").vni, 100u);
  WatchMessage gone;
  gone.events.push_back({true, KeyValue{"/kvnet/networks/blue", "", 0, 5, 0, 0}});
  d = s.apply(gone);
  EXPECT_EQ(d.networks, std::vector<std::string>{"blue"});
  EXPECT_TRUE(s.networks().empty());
}

}  // namespace
}  // namespace kvnet::cluster
