// ClusterState against recorded streams: what a full read and watch
// messages make of the store, and what a hostile record cannot do.
#include "cluster/state.h"

#include <gtest/gtest.h>

#include <functional>

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

TEST(GroupRecord, RoundTripsAndRefusesWhatIsNotAGroup) {
  ctl::SecurityGroupSpec g{"web", "HTTP in", ctl::default_sg_rules(), 0, 0};
  g.rules[0].id = 1;
  g.rules[1].id = 2;
  auto r = ctl::parse_sg_rule({{"direction", "ingress"}, {"protocol", "tcp"}, {"port", "80-90"},
                               {"remote_group", "web"}, {"id", "9"}});
  ASSERT_TRUE(r) << r.error().message;
  g.rules.push_back(*r);
  auto back = parse_group("/kvnet/sgs/web", group_to_json(g).dump());
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, g);
  EXPECT_EQ(back->rules[2].id, 9u);
  const std::vector<std::pair<std::string, std::string>> bad = {
      {R"({"name":"db"})", "cluster key '/kvnet/sgs/web': names security group 'db', not the key's"},
      {R"({"name":"web","rules":{}})", "cluster key '/kvnet/sgs/web': 'rules' is not a list"},
      {R"({"name":"web","rules":[{"direction":"ingress"}]})", "cluster key '/kvnet/sgs/web': rule 1: it has no id"},
      {R"({"name":"web","rules":[{"id":1,"direction":"ingress"},{"id":1,"direction":"egress"}]})",
       "cluster key '/kvnet/sgs/web': rule 2: id 1 is used twice"},
      {R"({"name":"web","rules":[{"id":1,"direction":"sideways"}]})",
       "cluster key '/kvnet/sgs/web': rule 1: direction 'sideways' is not ingress or egress"},
      {R"({"name":"web","rules":[{"id":1,"direction":"ingress","port":[80]}]})",
       "cluster key '/kvnet/sgs/web': rule 1: 'port' is not a string or a number"},
      {R"({"name":"web","rules":[{"id":1,"direction":"ingress","remote_group":"a b"}]})",
       "cluster key '/kvnet/sgs/web': rule 1: remote_group: "},
  };
  for (const auto& [value, msg] : bad) {
    auto x = parse_group("/kvnet/sgs/web", value);
    ASSERT_FALSE(x) << value;
    EXPECT_EQ(x.error().message.rfind(msg, 0), 0u) << x.error().message;
  }
  std::string many = R"({"name":"web","rules":[)";
  for (int i = 1; i <= 1001; ++i) many += (i > 1 ? "," : "") + std::string(R"({"id":)") + std::to_string(i) + R"(,"direction":"egress"})";
  many += "]}";
  auto x = parse_group("/kvnet/sgs/web", many);
  ASSERT_FALSE(x);
  EXPECT_EQ(x.error().message, "cluster key '/kvnet/sgs/web': more than 1000 rules");
}

TEST(ClusterState, GroupsAndTheGroupsOfBindingsAndHosts) {
  ClusterState s;
  RangeResult all;
  all.revision = 6;
  all.kvs = {{"/kvnet/sgs/web", R"({"name":"web","rules":[{"id":1,"direction":"egress"}]})", 2, 2, 1, 0},
             {"/kvnet/sgs/bad", R"({"name":"bad","rules":[{"id":0,"direction":"egress"}]})", 3, 3, 1, 0},
             {"/kvnet/bindings/blue/h2/p1",
              R"({"network":"blue","host":"h2","port":"p1","mac":"02:00:00:00:00:01","ips":["10.0.0.5/24"],"seq":1,"groups":["web"]})",
              4, 4, 1, 0},
             {"/kvnet/members/h2", R"({"name":"h2","underlay_ip":"10.96.0.2","groups":["web","db"]})", 5, 5, 1, 0}};
  auto d = s.reset(all);
  EXPECT_TRUE(d.groups);
  ASSERT_EQ(d.rejected.size(), 1u);
  EXPECT_EQ(d.rejected[0].rfind("cluster key '/kvnet/sgs/bad': rule 1: ", 0), 0u) << d.rejected[0];
  ASSERT_EQ(s.groups().size(), 1u);
  EXPECT_EQ(s.groups().at("web").rules.size(), 1u);
  EXPECT_EQ(s.bindings().begin()->second.groups, std::vector<std::string>{"web"});
  EXPECT_EQ(s.members().at("h2").groups, (std::vector<std::string>{"web", "db"}));
  d = s.apply(del("/kvnet/sgs/web", 7));
  EXPECT_TRUE(d.groups);
  EXPECT_TRUE(s.groups().empty());
  d = s.apply(put("/kvnet/bindings/blue/h2/p1", R"({"network":"blue","host":"h2","port":"p1","mac":"02:00:00:00:00:01","groups":["no such"]})", 8));
  ASSERT_EQ(d.rejected.size(), 1u) << "a group name that is not one";
  EXPECT_TRUE(s.bindings().empty());
}

TEST(MigrationRecord, RoundTripsAndRefusesWhatIsNotOne) {
  MigrationRecord m{.vm = "v1", .from = "h1", .to = "h2", .state = "ready",
                    .spec = "{name: v1, memory: 128M, vcpus: 1, nics: []}", .accel = "tcg", .machine = "pc-q35-7.2",
                    .qemu = "7.2.22", .groups = {"web,db"}, .uri = "tcp:10.0.0.2:4000", .nbd_port = 4001,
                    .error = "", .started_ms = 1700000000000, .resumed_us = 0};
  auto back = parse_migration("/kvnet/migrations/v1", m.to_json().dump());
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, m);
  EXPECT_FALSE(m.ended());
  auto refused = [&](const std::function<void(nlohmann::json&)>& bad) {
    nlohmann::json j = m.to_json();
    bad(j);
    auto r = parse_migration("/kvnet/migrations/v1", j.dump());
    return r ? std::string() : r.error().message;
  };
  EXPECT_EQ(refused([](auto& j) { j["vm"] = "v2"; }), "cluster key '/kvnet/migrations/v1': names vm 'v2', not the key's");
  EXPECT_EQ(refused([](auto& j) { j["to"] = "h1"; }), "cluster key '/kvnet/migrations/v1': from and to are the same host");
  EXPECT_EQ(refused([](auto& j) { j["state"] = "dancing"; }),
            "cluster key '/kvnet/migrations/v1': state 'dancing' is not one of requested, ready, switched, done, failed, "
            "cancelled");
  EXPECT_EQ(refused([](auto& j) { j["accel"] = "xen"; }), "cluster key '/kvnet/migrations/v1': accel 'xen' is not kvm or tcg");
  EXPECT_EQ(refused([](auto& j) { j["uri"] = "exec:rm -rf /"; }),
            "cluster key '/kvnet/migrations/v1': uri 'exec:rm -rf /' is not tcp:ADDR:PORT");
  EXPECT_EQ(refused([](auto& j) { j["nbd_port"] = 70000; }), "cluster key '/kvnet/migrations/v1': nbd_port is not a port");
  EXPECT_EQ(refused([](auto& j) { j.erase("spec"); }), "cluster key '/kvnet/migrations/v1': 'spec' is missing or not a string");
  EXPECT_EQ(refused([](auto& j) { j["from"] = "a/b"; }),
            "cluster key '/kvnet/migrations/v1': from: name 'a/b' may only hold letters, digits, '-', '_' and '.'");
}

TEST(ClusterState, MigrationsComeChangeAndGo) {
  ClusterState s;
  MigrationRecord m{.vm = "v1", .from = "h1", .to = "h2", .state = "requested", .spec = "{name: v1}", .accel = "tcg"};
  auto d = s.apply(put("/kvnet/migrations/v1", m.to_json().dump(), 5));
  EXPECT_EQ(d.migrations, std::vector<std::string>{"v1"});
  EXPECT_FALSE(d.empty());
  ASSERT_EQ(s.migrations().count("v1"), 1u);
  m.state = "ready";
  d = s.apply(put("/kvnet/migrations/v1", m.to_json().dump(), 6));
  EXPECT_EQ(s.migrations().at("v1").state, "ready");
  d = s.apply(put("/kvnet/migrations/v1", "{\"vm\": 1}", 7));  // hostile: refused, and what was there goes
  EXPECT_EQ(d.rejected.size(), 1u);
  EXPECT_EQ(s.migrations().count("v1"), 0u);
  s.apply(put("/kvnet/migrations/v1", m.to_json().dump(), 8));
  d = s.apply(del("/kvnet/migrations/v1", 9));
  EXPECT_EQ(d.migrations, std::vector<std::string>{"v1"});
  EXPECT_TRUE(s.migrations().empty());
}

}  // namespace
}  // namespace kvnet::cluster
