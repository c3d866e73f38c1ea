// OVSDB on a real Unix socket (daemon/ovsdb_listener.h), the loop driven
// in this thread: messages in pieces, two sessions seeing each other's
// transactions, a stream that is not JSON-RPC, a socket already held.
#include "daemon/ovsdb_listener.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <filesystem>

#include "daemon/api_client.h"
#include "loop_testing.h"

namespace kvnet::daemon {
namespace {

namespace fs = std::filesystem;
using ovsdb::json;
using testing::run_loop_until;

class OvsdbListenerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("kvnet-ovsdb-" + std::to_string(getpid()) + "-" +
                                            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    sock_ = (dir_ / "db.sock").string();
    auto l = EventLoop::create();
    ASSERT_TRUE(l.ok());
    loop_ = std::move(*l);
    listener_ = std::make_unique<OvsdbListener>(*loop_, server_);
    auto s = listener_->listen(sock_);
    ASSERT_TRUE(s.ok()) << s.error().message;
  }
  void TearDown() override {
    for (int fd : clients_) close(fd);
    listener_.reset();
    fs::remove_all(dir_);
  }

  int connect_client() {
    auto a = unix_address(sock_);
    EXPECT_TRUE(a.ok());
    const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&*a), sizeof *a), 0);
    clients_.push_back(fd);
    run_loop_until(*loop_, [&] { return listener_->connections() == clients_.size(); });
    return fd;
  }
  void write_all(int fd, const std::string& s) { ASSERT_EQ(::write(fd, s.data(), s.size()), static_cast<ssize_t>(s.size())); }
  // The next message from the server on `fd` (null after 5 s); `closed` is
  // set when the server closed the connection.
  json next(int fd, bool* closed = nullptr) {
    auto& sp = splitters_[fd];
    json got;
    run_loop_until(*loop_, [&] {
      if (auto m = sp.next(); m && *m) {
        got = **m;
        return true;
      }
      char buf[4096];
      const ssize_t n = ::read(fd, buf, sizeof buf);
      if (n > 0) sp.feed(std::string_view(buf, static_cast<size_t>(n)));
      if (n == 0 && closed) {
        *closed = true;
        return true;
      }
      return false;
    });
    return got;
  }

  fs::path dir_;
  std::string sock_;
  std::unique_ptr<EventLoop> loop_;
  ovsdb::Server server_{ovsdb::Server::Hooks{}};
  std::unique_ptr<OvsdbListener> listener_;
  std::vector<int> clients_;
  std::map<int, ovsdb::JsonSplitter> splitters_;
};

TEST_F(OvsdbListenerTest, RequestsInPiecesAndMonitorsAcrossConnections) {
  const int a = connect_client(), b = connect_client();
  const std::string req = R"({"method":"list_dbs","params":[],"id":1})";
  write_all(a, req.substr(0, 10));
  loop_->run_once(std::chrono::milliseconds(20));
  write_all(a, req.substr(10));
  EXPECT_EQ(next(a)["result"], json::parse(R"(["Open_vSwitch","_Server"])"));

  write_all(b, R"({"method":"monitor","params":["Open_vSwitch","m",{"Bridge":{"columns":["name"]}}],"id":"mon"})");
  EXPECT_EQ(next(b)["id"], "mon");
  write_all(a, R"({"method":"transact","params":["Open_vSwitch",{"op":"insert","table":"Open_vSwitch","row":{}},
      {"op":"insert","table":"Bridge","row":{"name":"br0"},"uuid-name":"b"},
      {"op":"mutate","table":"Open_vSwitch","where":[],"mutations":[["bridges","insert",["named-uuid","b"]]]}],"id":2})"
                 "\n" R"({"method":"echo","params":["after"],"id":3})");
  EXPECT_EQ(next(a)["id"], 2);
  EXPECT_EQ(next(a)["result"], json::array({"after"}));
  const json up = next(b);
  EXPECT_EQ(up["method"], "update");
  EXPECT_EQ(up["params"][1]["Bridge"].begin().value()["new"]["name"], "br0");
}

TEST_F(OvsdbListenerTest, AWaitThatTimesOutIsAnsweredByTheLoop) {
  const int a = connect_client();
  write_all(a, R"({"method":"transact","params":["Open_vSwitch",{"op":"insert","table":"Open_vSwitch","row":{}}],"id":1})");
  EXPECT_EQ(next(a)["id"], 1);
  const auto start = std::chrono::steady_clock::now();
  write_all(a, R"({"method":"transact","params":["Open_vSwitch",{"op":"wait","table":"Open_vSwitch","where":[],
      "columns":["next_cfg"],"until":"==","rows":[{"next_cfg":5}],"timeout":150}],"id":2})");
  const json r = next(a);
  EXPECT_EQ(r["id"], 2);
  EXPECT_EQ(r["result"][0]["error"], "timed out") << r;
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(150));
}

TEST_F(OvsdbListenerTest, NotJsonRpcGetsAnErrorAndIsClosed) {
  const int a = connect_client();
  write_all(a, "GET / HTTP/1.1\r\n\r\n");
  bool closed = false;
  const json err = next(a, &closed);
  ASSERT_FALSE(closed);
  EXPECT_TRUE(err["id"].is_null());
  EXPECT_EQ(err["error"]["error"], "syntax error");
  EXPECT_NE(err["error"]["details"].get<std::string>().find("not JSON-RPC"), std::string::npos);
  next(a, &closed);
  EXPECT_TRUE(closed);
  EXPECT_TRUE(run_loop_until(*loop_, [&] { return listener_->connections() == 0; }));
  EXPECT_EQ(server_.sessions(), 0u);
}

TEST_F(OvsdbListenerTest, ClosedConnectionsEndTheirSessions) {
  const int a = connect_client();
  connect_client();
  EXPECT_EQ(server_.sessions(), 2u);
  close(a);
  clients_.erase(clients_.begin());
  EXPECT_TRUE(run_loop_until(*loop_, [&] { return server_.sessions() == 1; }));
  EXPECT_EQ(listener_->connections(), 1u);
}

TEST_F(OvsdbListenerTest, AHeldSocketIsRefusedNamingItsHolder) {
  OvsdbListener second(*loop_, server_);
  auto s = second.listen(sock_);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("(PID " + std::to_string(getpid()) + ") is listening on it"), std::string::npos)
      << s.error().message;
  EXPECT_EQ(unix_socket_holder((dir_ / "nothing.sock").string()), "");
  // A stale socket file (nobody listening) is replaced.
  const std::string stale = (dir_ / "stale.sock").string();
  {
    auto a = unix_address(stale);
    const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&*a), sizeof *a), 0);
    close(fd);
  }
  EXPECT_TRUE(second.listen(stale).ok());
}

}  // namespace
}  // namespace kvnet::daemon
