// The API server in-process, on a real Unix socket with the control loop in
// its own thread: idle, stalled and flooding clients cost only their own
// connection; bad requests (too big, too deep, not UTF-8, not JSON) get a
// clear error; answers are always valid JSON; the handler never takes the
// server down.
#include "daemon/api.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

namespace kvnet::daemon {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;

json echo_handler(const json& req) {
  const std::string cmd = req.value("cmd", "");
  if (cmd == "ping") return {{"ok", true}, {"result", {{"pong", true}}}};
  if (cmd == "bad-utf8") return {{"ok", false}, {"error", std::string("port 'fz\xc3") + "': cut in half"}};
  if (cmd == "throw") throw std::runtime_error("handler blew up");
  if (cmd == "throw-int") throw 42;
  return {{"ok", false}, {"error", "unknown command"}};
}

class ApiServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("kvnet-api-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    sock_ = (dir_ / "api.sock").string();
  }
  void start(ApiLimits limits = {}) {
    auto l = EventLoop::create();
    ASSERT_TRUE(l.ok());
    loop_ = std::move(*l);
    server_ = std::make_unique<ApiServer>(*loop_, sock_, echo_handler, limits);
    auto s = server_->listen();
    ASSERT_TRUE(s.ok()) << s.error().message;
    thread_ = std::thread([this] { loop_->run(); });
  }
  void TearDown() override {
    if (thread_.joinable()) {
      loop_->stop();
      thread_.join();
    }
    server_.reset();
    fs::remove_all(dir_);
  }
  int connect_raw() {
    const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, sock_.c_str(), sizeof a.sun_path - 1);
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    return fd;
  }
  void send_all(int fd, const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
      const ssize_t n = send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return;  // the server may close on us (oversized requests)
      off += static_cast<size_t>(n);
    }
  }
  // Everything the server sends until it closes (or `limit` passes).
  std::string read_all(int fd, std::chrono::milliseconds limit = 5000ms) {
    std::string out;
    char buf[4096];
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      const ssize_t n = read(fd, buf, sizeof buf);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }
  json ask(const std::string& raw) {
    const int fd = connect_raw();
    send_all(fd, raw);
    shutdown(fd, SHUT_WR);  // what `echo ... | socat` does at the end of its input
    const std::string line = read_all(fd);
    close(fd);
    auto j = json::parse(line, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << "not JSON: " << line;
    return j;
  }
  // Still connected and not answered: no data, no hang-up.
  static bool still_open(int fd) {
    pollfd p{fd, POLLIN, 0};
    return poll(&p, 1, 0) == 0;
  }

  fs::path dir_;
  std::string sock_;
  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<ApiServer> server_;
  std::thread thread_;
};

TEST_F(ApiServerTest, AnswersARequest) {
  start();
  auto r = api_call(sock_, {{"cmd", "ping"}}, 5000);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ((*r)["result"]["pong"], true);
}

TEST_F(ApiServerTest, IdleClientsDoNotDelayOthers) {
  start();
  std::vector<int> idle;
  for (int i = 0; i < 20; ++i) idle.push_back(connect_raw());
  send_all(idle[0], "{\"cmd\":");  // half a request, then silence
  std::this_thread::sleep_for(50ms);
  for (int i = 0; i < 3; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    auto r = api_call(sock_, {{"cmd", "ping"}}, 5000);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ((*r)["ok"], true);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  }
  for (int fd : idle) {
    EXPECT_TRUE(still_open(fd)) << "an idle client was answered or dropped early";
    close(fd);
  }
}

TEST_F(ApiServerTest, ManyClientsAtOnce) {
  start();
  std::vector<std::thread> clients;
  std::atomic<int> ok{0};
  for (int i = 0; i < 32; ++i)
    clients.emplace_back([&] {
      auto r = api_call(sock_, {{"cmd", "ping"}}, 5000);
      if (r.ok() && (*r)["ok"] == true) ++ok;
    });
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok, 32);
}

TEST_F(ApiServerTest, AStalledRequestGetsAnErrorAtItsDeadline) {
  ApiLimits limits;
  limits.request_deadline = 200ms;
  start(limits);
  const int fd = connect_raw();
  send_all(fd, "{\"cmd\": \"pi");
  const auto t0 = std::chrono::steady_clock::now();
  const std::string got = read_all(fd);
  close(fd);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 150ms);
  auto j = json::parse(got, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << got;
  EXPECT_EQ(j["ok"], false);
  EXPECT_NE(j["error"].get<std::string>().find("no complete request within 200 ms"), std::string::npos) << got;
}

TEST_F(ApiServerTest, AnOversizedRequestIsRefusedNamingTheLimitAndOthersGoOn) {
  start();
  const int fd = connect_raw();
  std::thread flood([&] { send_all(fd, std::string(10 << 20, 'x')); });  // 10 MB, no newline
  const std::string got = read_all(fd);
  flood.join();
  close(fd);
  auto j = json::parse(got, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << got.substr(0, 200);
  EXPECT_EQ(j["ok"], false);
  EXPECT_NE(j["error"].get<std::string>().find("larger than the limit of 4 MiB"), std::string::npos) << got;
  auto r = api_call(sock_, {{"cmd", "ping"}}, 5000);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)["ok"], true);
}

TEST_F(ApiServerTest, DeepNestingIsRefusedBeforeParsing) {
  start();
  std::string deep = "{\"cmd\":\"add-br\",\"bridge\":\"b\",\"options\":";
  deep += std::string(75000, '[') + std::string(75000, ']') + "}\n";
  json j = ask(deep);
  EXPECT_EQ(j["ok"], false);
  EXPECT_NE(j["error"].get<std::string>().find("deeper than the limit of 32 levels"), std::string::npos) << j.dump();
  // Brackets inside strings are not nesting.
  EXPECT_TRUE(parse_request("{\"cmd\":\"" + std::string(100, '[') + "\"}").ok());
  EXPECT_TRUE(parse_request(std::string(32, '[') + std::string(32, ']')).ok());
  EXPECT_FALSE(parse_request(std::string(33, '[') + std::string(33, ']')).ok());
}

TEST_F(ApiServerTest, BadRequestsGetClearErrors) {
  start();
  json j = ask("{\"cmd\":\"\xff\xfe\"}\n");
  EXPECT_EQ(j["error"], "the request is not valid UTF-8");
  j = ask("{\"cmd\": ping}\n");
  EXPECT_NE(j["error"].get<std::string>().find("the request is not valid JSON (at byte"), std::string::npos) << j;
  j = ask("{\"cmd\":\"ping\"}");  // no newline: the client's EOF ends the request
  EXPECT_EQ(j["ok"], true);
}

TEST_F(ApiServerTest, AnswersWithInvalidUtf8AndThrowingHandlersDoNotKillTheServer) {
  start();
  json j = ask("{\"cmd\":\"bad-utf8\"}\n");
  EXPECT_EQ(j["ok"], false);
  EXPECT_EQ(j["error"], "port 'fz\xef\xbf\xbd': cut in half");  // U+FFFD
  j = ask("{\"cmd\":\"throw\"}\n");
  EXPECT_EQ(j["error"], "internal error: handler blew up");
  j = ask("{\"cmd\":\"throw-int\"}\n");
  EXPECT_EQ(j["error"], "internal error");
  auto r = api_call(sock_, {{"cmd", "ping"}}, 5000);
  ASSERT_TRUE(r.ok());
}

TEST_F(ApiServerTest, AStaleSocketIsReplacedALiveOneIsNot) {
  // A socket file nobody listens on (a daemon killed with -9).
  {
    const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, sock_.c_str(), sizeof a.sun_path - 1);
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    close(fd);
  }
  start();
  auto other_loop = EventLoop::create();
  ASSERT_TRUE(other_loop.ok());
  ApiServer second(**other_loop, sock_, echo_handler);
  auto s = second.listen();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("another kvnetd is already listening"), std::string::npos);
}

TEST(ApiEncodeTest, EncodingNeverThrows) {
  const std::string line = encode_answer({{"ok", false}, {"error", std::string("\xff\xfe")}});
  EXPECT_EQ(line, "{\"error\":\"\xef\xbf\xbd\xef\xbf\xbd\",\"ok\":false}\n");
}

}  // namespace
}  // namespace kvnet::daemon
