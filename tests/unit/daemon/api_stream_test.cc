// API streams (ApiServer::add_stream, the transport of `capture`): the
// stream follows its answer line, ends when the client closes its sending
// side (with its last bytes), is destroyed when the client goes away, is
// not asked for more while the client does not read, and a refused stream
// request is answered as any other.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>

#include "daemon/api.h"

namespace kvnet::daemon {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;

struct Seen {
  std::atomic<size_t> pulled{0};
  std::atomic<bool> destroyed{false};
  std::atomic<bool> ended{false};
};

// Sends 'x' without end, then "END" once asked to end.
class Ticker final : public ApiStream {
 public:
  explicit Ticker(Seen& s) : s_(s) {}
  ~Ticker() override { s_.destroyed = true; }
  std::chrono::milliseconds period() const override { return 5ms; }
  bool pull(std::string& out, size_t max) override {
    if (ending_) {
      out += "END";
      return false;
    }
    out.append(max, 'x');
    s_.pulled += max;
    return true;
  }
  void end(const std::string&) override {
    ending_ = true;
    s_.ended = true;
  }

 private:
  Seen& s_;
  bool ending_ = false;
};

class ApiStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("kvnet-stream-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    sock_ = (dir_ / "api.sock").string();
    auto l = EventLoop::create();
    ASSERT_TRUE(l.ok());
    loop_ = std::move(*l);
    server_ = std::make_unique<ApiServer>(*loop_, sock_, [](const json&) { return json{{"ok", true}}; });
    server_->add_stream("tick", [this](const json& req) -> Result<ApiStreamStart> {
      if (req.value("refuse", false)) return Error{"port 'x' does not exist"};
      return ApiStreamStart{json{{"streaming", true}}, std::make_unique<Ticker>(seen_)};
    });
    ASSERT_TRUE(server_->listen().ok());
    thread_ = std::thread([this] { loop_->run(); });
  }
  void TearDown() override {
    loop_->stop();
    thread_.join();
    server_.reset();
    fs::remove_all(dir_);
  }
  int open(const std::string& req) {
    const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, sock_.c_str(), sizeof a.sun_path - 1);
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(send(fd, req.data(), req.size(), MSG_NOSIGNAL), static_cast<ssize_t>(req.size()));
    return fd;
  }
  // Reads until the server closes; or until `limit` passes.
  std::string read_until_closed(int fd, std::chrono::milliseconds limit = 5000ms) {
    std::string out;
    char buf[65536];
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
  template <typename F>
  bool eventually(F f) {
    for (int i = 0; i < 200; ++i) {
      if (f()) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }

  Seen seen_;
  fs::path dir_;
  std::string sock_;
  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<ApiServer> server_;
  std::thread thread_;
};

TEST_F(ApiStreamTest, FollowsItsAnswerAndEndsWithItsLastBytesWhenTheClientShutsDown) {
  const int fd = open("{\"cmd\":\"tick\"}\n");
  ASSERT_TRUE(eventually([&] { return seen_.pulled > 0; }));
  shutdown(fd, SHUT_WR);
  const std::string got = read_until_closed(fd);
  close(fd);
  ASSERT_EQ(got.rfind("{\"ok\":true,\"result\":{\"streaming\":true}}\n", 0), 0u) << got.substr(0, 80);
  EXPECT_GT(got.size(), 100u);
  EXPECT_EQ(got.substr(got.size() - 3), "END");
  EXPECT_TRUE(seen_.ended);
  EXPECT_TRUE(eventually([&] { return seen_.destroyed.load(); }));
}

TEST_F(ApiStreamTest, AClientThatGoesAwayDestroysItsStream) {
  const int fd = open("{\"cmd\":\"tick\"}\n");
  ASSERT_TRUE(eventually([&] { return seen_.pulled > 0; }));
  close(fd);
  EXPECT_TRUE(eventually([&] { return seen_.destroyed.load(); }));
  EXPECT_FALSE(seen_.ended);
}

TEST_F(ApiStreamTest, AClientThatDoesNotReadIsNotPulledFor) {
  const int fd = open("{\"cmd\":\"tick\"}\n");
  ASSERT_TRUE(eventually([&] { return seen_.pulled > 0; }));
  std::this_thread::sleep_for(300ms);  // the socket's buffers fill up
  const size_t before = seen_.pulled;
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(seen_.pulled.load(), before);
  EXPECT_LT(before, 64u << 20);
  // Ordinary requests are served meanwhile.
  const int other = open("{\"cmd\":\"ping\"}\n");
  EXPECT_EQ(read_until_closed(other), "{\"ok\":true}\n");
  close(other);
  close(fd);
  EXPECT_TRUE(eventually([&] { return seen_.destroyed.load(); }));
}

TEST_F(ApiStreamTest, ARefusedStreamIsAnsweredAndClosed) {
  const int fd = open("{\"cmd\":\"tick\",\"refuse\":true}\n");
  EXPECT_EQ(read_until_closed(fd), "{\"error\":\"port 'x' does not exist\",\"ok\":false}\n");
  close(fd);
}

TEST_F(ApiStreamTest, EndStreamsEndsThemWithTheirLastBytes) {
  const int fd = open("{\"cmd\":\"tick\"}\n");
  ASSERT_TRUE(eventually([&] { return seen_.pulled > 0; }));
  // The client reads; kvnetd stops.
  std::string got;
  std::thread reader([&] { got = read_until_closed(fd); });
  std::this_thread::sleep_for(50ms);
  loop_->post([this] { server_->end_streams("stopping"); });
  reader.join();
  close(fd);
  EXPECT_TRUE(seen_.ended);
  EXPECT_TRUE(seen_.destroyed);
  ASSERT_GE(got.size(), 3u);
  // A best-effort end: what did not fit the socket is lost, but the client
  // sees the connection close.
  SUCCEED();
}

}  // namespace
}  // namespace kvnet::daemon
