// The etcd client and watch against a real etcd (tests/unit/cluster/etcd_server.h).
#include "cluster/etcd.h"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "cluster/etcd_server.h"
#include "cluster/etcd_watch.h"

namespace kvnet::cluster {
namespace {

using testing::EtcdServer;
using namespace std::chrono_literals;

TEST(EtcdEndpoints, ParseAndRefuse) {
  auto e = parse_endpoints("http://10.0.0.1:2379, https://[fd00::1]:4001/,http://etcd");
  ASSERT_TRUE(e) << e.error().message;
  ASSERT_EQ(e->size(), 3u);
  EXPECT_EQ((*e)[0].url, "http://10.0.0.1:2379");
  EXPECT_TRUE((*e)[1].tls);
  EXPECT_EQ((*e)[1].host, "fd00::1");
  EXPECT_EQ((*e)[1].port, 4001);
  EXPECT_EQ((*e)[1].url, "https://[fd00::1]:4001");
  EXPECT_EQ((*e)[2].port, 2379);
  for (const auto& [bad, msg] : std::vector<std::pair<std::string, std::string>>{
           {"", "no etcd endpoint"},
           {"10.0.0.1:2379", "give a URL such as http://10.0.0.1:2379"},
           {"http://a:99999", "port 99999 is out of range 1-65535"},
           {"http://a:x", "port 'x' is not a number"},
           {"http://a,,http://b", "empty etcd endpoint"},
           {"http://[fd00::1:2379", "closing ']'"},
           {"http://a:2379/v3", "no path"},
           {"ftp://a", "give a URL"}}) {
    auto r = parse_endpoints(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().message.find(msg), std::string::npos) << bad << ": " << r.error().message;
  }
}

TEST(EtcdBase64, RoundTripAndRefuse) {
  for (const std::string& s : std::vector<std::string>{"", "f", "fo", "foo", "foob", "/kvnet/hosts/h1", std::string("\0\xff\x80", 3)})
    EXPECT_EQ(base64_decode(base64_encode(s)), s);
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_FALSE(base64_decode("Zm9v!"));
  EXPECT_FALSE(base64_decode("Zg==Zg"));
  EXPECT_EQ(prefix_end("/kvnet/"), "/kvnet0");
  EXPECT_EQ(prefix_end(std::string("a\xff", 2)), "b");
}

TEST(EtcdClient, KeysPrefixesAndTransactions) {
  EtcdServer etcd;
  ASSERT_TRUE(etcd.wait_ready());
  EtcdClient c(etcd.options());
  auto r1 = c.put("/t/a", "1");
  ASSERT_TRUE(r1) << r1.error().message;
  ASSERT_TRUE(c.put("/t/b", std::string("\0two", 4)));
  ASSERT_TRUE(c.put("/u/c", "3"));
  auto g = c.get("/t/", true);
  ASSERT_TRUE(g) << g.error().message;
  ASSERT_EQ(g->kvs.size(), 2u);
  EXPECT_EQ(g->kvs[0].key, "/t/a");
  EXPECT_EQ(g->kvs[1].value, std::string("\0two", 4));
  EXPECT_GE(g->revision, *r1 + 2);
  auto one = c.get("/t/a");
  ASSERT_TRUE(one);
  ASSERT_EQ(one->kvs.size(), 1u);
  EXPECT_EQ(one->kvs[0].mod_revision, *r1);
  // Create-if-absent: only the first wins; the loser reads what is there.
  auto t1 = c.txn({Compare::absent("/t/x")}, {TxnOp::put("/t/x", "first")}, {TxnOp::get("/t/x")});
  auto t2 = c.txn({Compare::absent("/t/x")}, {TxnOp::put("/t/x", "second")}, {TxnOp::get("/t/x")});
  ASSERT_TRUE(t1 && t2);
  EXPECT_TRUE(t1->succeeded);
  EXPECT_FALSE(t2->succeeded);
  ASSERT_EQ(t2->ranges.size(), 1u);
  EXPECT_EQ(t2->ranges[0].kvs.at(0).value, "first");
  // Compares over a prefix: "nothing under it", and "the key is there".
  auto empty = c.txn({Compare::none_under("/v/")}, {TxnOp::put("/v-ok", "1")});
  ASSERT_TRUE(empty) << empty.error().message;
  EXPECT_TRUE(empty->succeeded) << "no key under /v/ yet";
  ASSERT_TRUE(c.put("/v/k", "1"));
  auto taken = c.txn({Compare::none_under("/v/")}, {TxnOp::put("/v-ok", "2")});
  ASSERT_TRUE(taken);
  EXPECT_FALSE(taken->succeeded) << "/v/k is under /v/";
  auto there = c.txn({Compare::present("/v/k")}, {TxnOp::put("/v-ok", "3")});
  auto gone = c.txn({Compare::present("/v/nope")}, {TxnOp::put("/v-ok", "4")});
  ASSERT_TRUE(there && gone);
  EXPECT_TRUE(there->succeeded);
  EXPECT_FALSE(gone->succeeded);
  EXPECT_EQ(c.get("/v-ok")->kvs.at(0).value, "3");
  auto d = c.del("/t/", true);
  ASSERT_TRUE(d);
  EXPECT_EQ(*d, 3);
  EXPECT_TRUE(c.get("/t/", true)->kvs.empty());
  EXPECT_EQ(c.get("/u/", true)->kvs.size(), 1u);
  auto st = c.status();
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(st->endpoint, etcd.url());
  EXPECT_EQ(st->member_id, st->leader);  // one member leads itself
  EXPECT_EQ(st->version.substr(0, 2), "3.");
}

TEST(EtcdClient, RacingCreatesHaveExactlyOneWinner) {
  EtcdServer etcd;
  ASSERT_TRUE(etcd.wait_ready());
  std::atomic<int> wins{0}, losses{0};
  std::vector<std::thread> ts;
  for (int i = 0; i < 8; ++i)
    ts.emplace_back([&, i] {
      EtcdClient c(etcd.options());
      auto t = c.txn({Compare::absent("/race")}, {TxnOp::put("/race", std::to_string(i))});
      if (t && t->succeeded) ++wins;
      else if (t) ++losses;
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(wins.load(), 1);
  EXPECT_EQ(losses.load(), 7);
}

TEST(EtcdClient, LeasesExpireUnlessKeptAlive) {
  EtcdServer etcd;
  ASSERT_TRUE(etcd.wait_ready());
  EtcdClient c(etcd.options());
  auto kept = c.grant(2), dropped = c.grant(2);
  ASSERT_TRUE(kept && dropped);
  EXPECT_GE(kept->ttl, 2);
  ASSERT_TRUE(c.put("/kept", "x", kept->id));
  ASSERT_TRUE(c.put("/dropped", "x", dropped->id));
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {  // 10 s at most
    auto k = c.keepalive(kept->id);
    ASSERT_TRUE(k) << k.error().message;
    EXPECT_GT(*k, 0);
    std::this_thread::sleep_for(100ms);
    gone = c.get("/dropped")->kvs.empty();
  }
  EXPECT_TRUE(gone) << "a lease without keepalives outlived its TTL";
  EXPECT_EQ(c.get("/kept")->kvs.size(), 1u);
  EXPECT_EQ(*c.keepalive(dropped->id), 0) << "an expired lease kept alive";
  ASSERT_TRUE(c.revoke(kept->id));
  EXPECT_TRUE(c.get("/kept")->kvs.empty());
  auto bad = c.put("/x", "y", 12345);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("lease not found"), std::string::npos) << "[" << bad.error().message << "]";
  EXPECT_FALSE(c.last_failure().unreachable);
}

TEST(EtcdClient, UnreachableNamesTheEndpointAndCause) {
  EtcdOptions o;
  const uint16_t port = testing::free_port();
  o.endpoints = *parse_endpoints("http://127.0.0.1:" + std::to_string(port));
  EtcdClient c(o);
  auto r = c.get("/x");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "cluster store unreachable at http://127.0.0.1:" + std::to_string(port) +
                                   ": connection refused");
  EXPECT_TRUE(c.last_failure().unreachable);
}

TEST(EtcdClient, MovesToTheNextEndpointThatAnswers) {
  EtcdServer etcd;
  ASSERT_TRUE(etcd.wait_ready());
  EtcdOptions o;
  o.endpoints = *parse_endpoints("http://127.0.0.1:" + std::to_string(testing::free_port()) + "," + etcd.url());
  EtcdClient c(o);
  ASSERT_TRUE(c.put("/k", "v"));
  EXPECT_EQ(c.current().url, etcd.url());
}

// A member that applies a request and loses its answer: a proxy that passes
// the first request on to etcd, waits until etcd has applied it, and closes
// the connection without answering.
class SwallowingProxy {
 public:
  explicit SwallowingProxy(const std::string& etcd_url) : upstream_(*parse_endpoints(etcd_url)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), len) != 0 || ::listen(fd_, 4) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      ADD_FAILURE() << "proxy socket";
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~SwallowingProxy() {
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  void run() {
    const int c = ::accept(fd_, nullptr, nullptr);
    if (c < 0) return;
    std::string req;
    char buf[4096];
    size_t need = std::string::npos;
    while (need == std::string::npos || req.size() < need) {
      const ssize_t n = ::read(c, buf, sizeof buf);
      if (n <= 0) break;
      req.append(buf, static_cast<size_t>(n));
      const size_t end = req.find("\r\n\r\n");
      if (end != std::string::npos && need == std::string::npos) {
        std::string head = req.substr(0, end);
        std::transform(head.begin(), head.end(), head.begin(), ::tolower);
        const size_t cl = head.find("content-length:");
        need = end + 4 + (cl == std::string::npos ? 0 : std::stoul(head.substr(cl + 15)));
      }
    }
    // On to etcd, whose answer goes nowhere.
    const int u = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(upstream_[0].port);
    ::inet_pton(AF_INET, upstream_[0].host.c_str(), &a.sin_addr);
    if (::connect(u, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
        ::write(u, req.data(), req.size()) == static_cast<ssize_t>(req.size()))
      (void)::read(u, buf, sizeof buf);  // etcd answered: it has applied the request
    ::close(u);
    ::close(c);  // and the client hears nothing
  }
  std::vector<Endpoint> upstream_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
};

TEST(EtcdClient, AWriteWhoseAnswerWasLostIsSentAgainAndSaysSo) {
  EtcdServer etcd;
  ASSERT_TRUE(etcd.wait_ready());
  SwallowingProxy proxy(etcd.url());
  EtcdOptions o;
  o.endpoints = *parse_endpoints(proxy.url() + "," + etcd.url());
  EtcdClient c(o);
  // Create-if-absent: the first sending creates the key, its answer is
  // lost; the second, to the next member, finds the key there.
  auto t = c.txn({Compare::absent("/once")}, {TxnOp::put("/once", "mine")}, {TxnOp::get("/once")});
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_FALSE(t->succeeded);
  EXPECT_TRUE(c.last_call_resent());
  ASSERT_EQ(t->ranges.size(), 1u);
  EXPECT_EQ(t->ranges[0].kvs.at(0).value, "mine");
  // A call that was sent once says so.
  ASSERT_TRUE(c.get("/once"));
  EXPECT_FALSE(c.last_call_resent());
}

TEST(EtcdClient, StoppedAndStartedAgainAnswersAgain) {
  EtcdServer etcd;
  ASSERT_TRUE(etcd.wait_ready());
  EtcdClient c(etcd.options());
  ASSERT_TRUE(c.put("/k", "v"));
  etcd.stop(true);
  auto r = c.get("/k");
  ASSERT_FALSE(r);
  EXPECT_TRUE(c.last_failure().unreachable);
  etcd.start();
  ASSERT_TRUE(etcd.wait_ready());
  auto again = c.get("/k");
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->kvs.at(0).value, "v");  // the data directory kept it
}

TEST(EtcdWatch, DeliversChangesInOrderAndResumes) {
  EtcdServer etcd;
  ASSERT_TRUE(etcd.wait_ready());
  EtcdClient c(etcd.options());
  auto r0 = c.put("/w/a", "1");
  ASSERT_TRUE(r0);
  EtcdWatch w(etcd.options());
  std::vector<WatchEvent> seen;
  std::mutex mu;
  WatchEnd end;
  std::thread t([&] {
    end = w.run("/w/", *r0, [&](const WatchMessage& m) {
      std::lock_guard lock(mu);
      seen.insert(seen.end(), m.events.begin(), m.events.end());
      return true;
    });
  });
  ASSERT_TRUE(c.put("/w/b", "2"));
  ASSERT_TRUE(c.put("/other", "x"));
  ASSERT_TRUE(c.del("/w/a"));
  auto count = [&] {
    std::lock_guard lock(mu);
    return seen.size();
  };
  for (int i = 0; i < 200 && count() < 3; ++i) std::this_thread::sleep_for(25ms);
  w.interrupt();
  t.join();
  EXPECT_FALSE(end.stopped);
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].kv.key, "/w/a");  // from the start revision: the put before the watch
  EXPECT_EQ(seen[1].kv.key, "/w/b");
  EXPECT_EQ(seen[1].kv.value, "2");
  EXPECT_TRUE(seen[2].deleted);
  EXPECT_LT(seen[0].kv.mod_revision, seen[1].kv.mod_revision);
  // stop() is for good: run() returns at once.
  w.stop();
  EXPECT_TRUE(w.run("/w/", 0, [](const WatchMessage&) { return true; }).stopped);
}

TEST(EtcdWatch, ACompactedRevisionEndsTheWatchWithWhereToReadFrom) {
  EtcdServer etcd;
  ASSERT_TRUE(etcd.wait_ready());
  EtcdClient c(etcd.options());
  ASSERT_TRUE(c.put("/w/a", "1"));
  ASSERT_TRUE(c.put("/w/a", "2"));
  auto r = c.put("/w/a", "3");
  ASSERT_TRUE(r);
  ASSERT_TRUE(c.compact(*r));
  EtcdWatch w(etcd.options());
  const WatchEnd end = w.run("/w/", 2, [](const WatchMessage&) { return true; });
  EXPECT_EQ(end.compacted, *r);
  EXPECT_NE(end.why.find("compacted"), std::string::npos) << end.why;
}

TEST(EtcdWatch, AnUnreachableStoreEndsTheWatchWithWhy) {
  EtcdOptions o;
  o.endpoints = *parse_endpoints("http://127.0.0.1:" + std::to_string(testing::free_port()));
  EtcdWatch w(o);
  const WatchEnd end = w.run("/w/", 0, [](const WatchMessage&) { return true; });
  EXPECT_FALSE(end.stopped);
  EXPECT_NE(end.why.find("connection refused"), std::string::npos) << end.why;
}

TEST(EtcdClient, UserAndPasswordAuth) {
  EtcdServer etcd;
  ASSERT_TRUE(etcd.wait_ready());
  {
    EtcdClient admin(etcd.options());
    ASSERT_TRUE(admin.call("auth/user/add", R"({"name":"root","password":"rootpw"})"));
    ASSERT_TRUE(admin.call("auth/user/grant", R"({"user":"root","role":"root"})"));
    ASSERT_TRUE(admin.call("auth/user/add", R"({"name":"kvnet","password":"s3cret"})"));
    ASSERT_TRUE(admin.call("auth/role/add", R"({"name":"kvnet"})"));
    const std::string grant = R"({"name":"kvnet","perm":{"permType":"READWRITE","key":")" + base64_encode("/kvnet/") +
                              R"(","range_end":")" + base64_encode(prefix_end("/kvnet/")) + R"("}})";
    ASSERT_TRUE(admin.call("auth/role/grant", grant));
    ASSERT_TRUE(admin.call("auth/user/grant", R"({"user":"kvnet","role":"kvnet"})"));
    auto on = admin.call("auth/enable", "{}");
    ASSERT_TRUE(on) << on.error().message;
  }
  EtcdOptions o = etcd.options();
  o.user = "kvnet";
  o.password = "s3cret";
  EtcdClient c(o);
  auto p = c.put("/kvnet/x", "1");
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(c.get("/kvnet/x")->kvs.size(), 1u);
  auto outside = c.put("/elsewhere", "1");
  ASSERT_FALSE(outside);
  EXPECT_NE(outside.error().message.find("permission denied"), std::string::npos) << outside.error().message;
  o.password = "wrong";
  EtcdClient bad(o);
  auto r = bad.get("/kvnet/x");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("etcd refused user 'kvnet'"), std::string::npos) << r.error().message;
  EXPECT_FALSE(bad.last_failure().unreachable);
  EtcdOptions none = etcd.options();
  EtcdClient anon(none);
  auto a = anon.get("/kvnet/x");
  ASSERT_FALSE(a);
  EXPECT_NE(a.error().message.find("user name is empty"), std::string::npos) << a.error().message;
  // The watch authenticates too.
  o.password = "s3cret";
  EtcdWatch w(o);
  std::atomic<int> events{0};
  std::thread t([&] {
    w.run("/kvnet/", 0, [&](const WatchMessage& m) {
      events += static_cast<int>(m.events.size());
      return events < 1;
    });
  });
  for (int i = 0; i < 200 && events == 0; ++i) {
    ASSERT_TRUE(c.put("/kvnet/y", std::to_string(i)));
    std::this_thread::sleep_for(25ms);
  }
  w.stop();
  t.join();
  EXPECT_GE(events.load(), 1);
}

// Makes a CA, a server certificate for 127.0.0.1 and a client certificate
// with openssl(1) in `dir`; false if openssl failed.
bool make_certs(const std::filesystem::path& dir) {
  const std::string d = dir.string();
  const std::string script =
      "set -e; cd '" + d + "'; "
      "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=kvnet-test-ca 2>/dev/null; "
      "for n in server client; do "
      "openssl req -newkey rsa:2048 -nodes -keyout $n.key -out $n.csr -subj /CN=$n 2>/dev/null; "
      "printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' > $n.ext; "
      "openssl x509 -req -in $n.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out $n.crt -days 2 -extfile $n.ext 2>/dev/null; "
      "done";
  return std::system(script.c_str()) == 0;
}

TEST(EtcdClient, TlsWithAClientCertificate) {
  const auto dir = std::filesystem::temp_directory_path() / ("kvnet-etcd-tls-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  struct Cleanup {
    std::filesystem::path d;
    ~Cleanup() {
      std::error_code ec;
      std::filesystem::remove_all(d, ec);
    }
  } cleanup{dir};
  ASSERT_TRUE(make_certs(dir));
  const std::string d = dir.string();
  EtcdServer etcd({"--cert-file", d + "/server.crt", "--key-file", d + "/server.key", "--client-cert-auth",
                   "--trusted-ca-file", d + "/ca.crt"},
                  true);
  EtcdOptions o = etcd.options();
  o.cacert = d + "/ca.crt";
  o.cert = d + "/client.crt";
  o.key = d + "/client.key";
  auto checked = check_options(o);
  ASSERT_TRUE(checked) << checked.error().message;
  ASSERT_TRUE(etcd.wait_ready(o));
  EtcdClient c(o);
  auto p = c.put("/kvnet/tls", "yes");
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(c.get("/kvnet/tls")->kvs.at(0).value, "yes");
  // Without the client certificate the handshake fails, named as such.
  EtcdOptions nocert = o;
  nocert.cert.clear();
  nocert.key.clear();
  EtcdClient n(nocert);
  auto r = n.get("/kvnet/tls");
  ASSERT_FALSE(r);
  EXPECT_TRUE(n.last_failure().unreachable);
  EXPECT_NE(r.error().message.find(etcd.url()), std::string::npos) << r.error().message;
  // Plain http to a TLS-only etcd is refused too.
  EtcdOptions plain = o;
  plain.endpoints = *parse_endpoints("http://" + etcd.url().substr(8));
  plain.cacert = plain.cert = plain.key = "";
  EtcdClient pc(plain);
  EXPECT_FALSE(pc.get("/kvnet/tls"));
  // The watch over TLS.
  EtcdWatch w(o);
  std::atomic<int> events{0};
  std::thread t([&] {
    w.run("/kvnet/", 1, [&](const WatchMessage& m) {
      events += static_cast<int>(m.events.size());
      return events < 1;
    });
  });
  for (int i = 0; i < 200 && events == 0; ++i) std::this_thread::sleep_for(25ms);
  w.stop();
  t.join();
  EXPECT_GE(events.load(), 1);
}

}  // namespace
}  // namespace kvnet::cluster
