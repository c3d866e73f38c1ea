// kvnet's connection handling in front of cpp-httplib (daemon/http_server.h):
// the head check on its own, then a live server with idle, slow and
// oversized clients.
#include "daemon/http_server.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace kvnet::daemon {
namespace {

using S = RequestHead::State;
using namespace std::chrono_literals;

TEST(RequestHead, CompleteHeadsAndTheirBodies) {
  const HttpLimits l;
  EXPECT_EQ(scan_request_head("GET / HTTP/1.1\r\nHost: a\r\n", l).state, S::kIncomplete);
  auto h = scan_request_head("GET / HTTP/1.1\r\nHost: a\r\n\r\nextra", l);
  EXPECT_EQ(h.state, S::kComplete);
  EXPECT_EQ(h.head_bytes, 27u);
  EXPECT_EQ(h.body_bytes, 0u);
  h = scan_request_head("POST /x HTTP/1.1\r\ncontent-LENGTH:  12 \r\n\r\n", l);
  EXPECT_EQ(h.state, S::kComplete);
  EXPECT_EQ(h.body_bytes, 12u);
  // A line without CR is not a header for httplib, so not for us either.
  EXPECT_EQ(scan_request_head("POST / HTTP/1.1\r\nContent-Length: 99\nX: y\r\n\r\n", l).body_bytes, 0u);
}

TEST(RequestHead, LimitsAndMalformedLengths) {
  HttpLimits l;
  l.max_header_bytes = 100;
  l.max_header_count = 3;
  l.max_body_bytes = 10;
  EXPECT_EQ(scan_request_head("GET / HTTP/1.1\r\n" + std::string(200, 'a'), l).state, S::kTooLarge);
  EXPECT_EQ(scan_request_head("GET / HTTP/1.1\r\nX: " + std::string(90, 'a') + "\r\n\r\n", l).state, S::kTooLarge);
  EXPECT_EQ(scan_request_head("GET / HTTP/1.1\r\na:1\r\nb:2\r\nc:3\r\n\r\n", l).state, S::kComplete);
  EXPECT_EQ(scan_request_head("GET / HTTP/1.1\r\na:1\r\nb:2\r\nc:3\r\nd:4\r\n\r\n", l).state, S::kTooManyHeaders);
  EXPECT_EQ(scan_request_head("GET / HTTP/1.1\r\na:1\r\nb:2\r\nc:3\r\nd:4\r\n", l).state, S::kTooManyHeaders);
  EXPECT_EQ(scan_request_head("POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n", l).state, S::kBodyTooLarge);
  EXPECT_EQ(scan_request_head("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", l).state, S::kBadLength);
  EXPECT_EQ(scan_request_head("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", l).state,
            S::kBadLength);
  EXPECT_EQ(scan_request_head("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", l).state,
            S::kBadLength);
  EXPECT_EQ(scan_request_head("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", l).state, S::kChunked);
}

int connect_to(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  return fd;
}

// What the server sends until it closes (or `wait` passes).
std::string read_all(int fd, std::chrono::milliseconds wait) {
  std::string out;
  const auto end = std::chrono::steady_clock::now() + wait;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
    pollfd p{fd, POLLIN, 0};
    if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    char buf[4096];
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

class LiveServer : public ::testing::Test {
 protected:
  void start(HttpLimits l) {
    server_ = std::make_unique<HttpServer>(l);
    server_->Get("/hi", [](const httplib::Request&, httplib::Response& res) { res.set_content("hi", "text/plain"); });
    port_ = server_->bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    thread_ = std::thread([this] { server_->run(); });
    while (!server_->is_running()) std::this_thread::sleep_for(1ms);
  }
  void TearDown() override {
    for (int fd : fds_) close(fd);
    if (server_) server_->stop();
    if (thread_.joinable()) thread_.join();
  }
  // GET /hi with a fresh connection; its status (0: no answer in time).
  int get(std::chrono::seconds timeout = 3s) {
    httplib::Client c("127.0.0.1", port_);
    c.set_keep_alive(false);
    c.set_connection_timeout(timeout);
    c.set_read_timeout(timeout);
    auto r = c.Get("/hi");
    return r ? r->status : 0;
  }
  int idle() {
    fds_.push_back(connect_to(port_));
    return fds_.back();
  }
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
  int port_ = 0;
  std::vector<int> fds_;
};

TEST_F(LiveServer, IdleConnectionsHoldNoWorker) {
  start({.workers = 1, .max_connections = 16});
  for (int i = 0; i < 8; ++i) idle();
  const int half = idle();
  const std::string part = "GET /hi HTTP/1.1\r\nHost: x\r\n";  // and never the blank line
  ASSERT_EQ(send(half, part.data(), part.size(), 0), static_cast<ssize_t>(part.size()));
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(get(), 200);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
}

TEST_F(LiveServer, AFullServerMakesRoomByClosingTheLongestIdle) {
  start({.workers = 1, .max_connections = 4});
  for (int i = 0; i < 4; ++i) idle();
  EXPECT_EQ(get(), 200);  // after about a second: one idle one was closed
  size_t closed = 0;
  for (int fd : fds_) {
    pollfd p{fd, POLLIN, 0};
    char c;
    closed += poll(&p, 1, 0) == 1 && recv(fd, &c, 1, MSG_DONTWAIT) == 0;  // EOF: closed by the server
  }
  EXPECT_GE(closed, 1u);
}

TEST_F(LiveServer, SlowSendersMakeRoomToo) {
  start({.workers = 1, .max_connections = 4});
  const std::string part = "GET /hi HTTP/1.1\r\nHost: x\r\n";  // slowloris: never the blank line
  for (int i = 0; i < 4; ++i) ASSERT_EQ(send(idle(), part.data(), part.size(), 0), static_cast<ssize_t>(part.size()));
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(get(), 200);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);  // not the 10 s request deadline
}

TEST_F(LiveServer, OversizedHeadsAreRefusedWith431) {
  start({.max_header_bytes = 4096, .max_header_count = 20});
  int fd = idle();
  std::string req = "GET /hi HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 50; ++i) req += "X-" + std::to_string(i) + ": y\r\n";
  req += "\r\n";
  ASSERT_EQ(send(fd, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
  EXPECT_EQ(read_all(fd, 2s).rfind("HTTP/1.1 431 ", 0), 0u);
  fd = idle();
  req = "GET /hi HTTP/1.1\r\nHost: x\r\nX: " + std::string(8000, 'a') + "\r\n\r\n";
  (void)!send(fd, req.data(), req.size(), MSG_NOSIGNAL);
  EXPECT_EQ(read_all(fd, 2s).rfind("HTTP/1.1 431 ", 0), 0u);
  EXPECT_EQ(get(), 200);
}

TEST_F(LiveServer, ARequestNotCompleteInTimeGets408) {
  start({.request_timeout = 300ms});
  const int fd = idle();
  const std::string part = "GET /hi HTTP/1.1\r\n";
  ASSERT_EQ(send(fd, part.data(), part.size(), 0), static_cast<ssize_t>(part.size()));
  EXPECT_EQ(read_all(fd, 3s).rfind("HTTP/1.1 408 ", 0), 0u);
}

TEST_F(LiveServer, KeepAliveAndPipelinedRequestsAreAnswered) {
  start({});
  const int fd = idle();
  const std::string two = "GET /hi HTTP/1.1\r\nHost: x\r\n\r\nGET /hi HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  ASSERT_EQ(send(fd, two.data(), two.size(), 0), static_cast<ssize_t>(two.size()));
  const std::string out = read_all(fd, 3s);
  EXPECT_EQ(out.rfind("HTTP/1.1 200 ", 0), 0u) << out;
  EXPECT_NE(out.find("HTTP/1.1 200 ", 10), std::string::npos) << out;
}

TEST_F(LiveServer, ABodyAfterExpect100ContinueIsAskedFor) {
  start({});
  server_->Post("/echo", [](const httplib::Request& req, httplib::Response& res) { res.set_content(req.body, "text/plain"); });
  const int fd = idle();
  const std::string head = "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n"
                           "Connection: close\r\n\r\n";
  ASSERT_EQ(send(fd, head.data(), head.size(), 0), static_cast<ssize_t>(head.size()));
  std::string got;
  char buf[256];
  pollfd p{fd, POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, 3000), 1);  // without the body sent
  const ssize_t n = recv(fd, buf, sizeof buf, 0);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buf, static_cast<size_t>(n)).rfind("HTTP/1.1 100 Continue\r\n\r\n", 0), 0u);
  ASSERT_EQ(send(fd, "hello", 5, 0), 5);
  const std::string out = read_all(fd, 3s);
  EXPECT_NE(out.find("HTTP/1.1 200 OK"), std::string::npos) << out;
  EXPECT_EQ(out.substr(out.size() - 5), "hello");
}

TEST(HttpServerAnswer, RunsTheRoutesWithoutASocket) {
  HttpServer s({});
  s.Get("/hi", [](const httplib::Request&, httplib::Response& res) { res.set_content("hi", "text/plain"); });
  EXPECT_EQ(s.answer("GET /hi HTTP/1.1\r\nHost: x\r\n"), "");
  const std::string a = s.answer("GET /hi HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(a.rfind("HTTP/1.1 200 OK", 0), 0u) << a;
  EXPECT_EQ(s.answer("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n").rfind("HTTP/1.1 411 ", 0), 0u);
}

}  // namespace
}  // namespace kvnet::daemon
