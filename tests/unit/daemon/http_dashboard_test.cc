// The dashboard's server: requests reach the handler on the loop thread only,
// reading commands are GET, changing ones POST with the token, and the
// limits and headers hold. Also LoopCaller, its way into the loop.
#include "daemon/http_dashboard.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/stat.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "daemon/http_assets.h"
#include "daemon/http_loop_call.h"

namespace kvnet::daemon {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

std::unique_ptr<EventLoop> make_loop() {
  auto l = EventLoop::create();
  EXPECT_TRUE(l.ok()) << l.error().message;
  return std::move(*l);
}

// A loop running on a thread of its own, as kvnetd's control thread.
class LoopThread {
 public:
  LoopThread() : loop_(make_loop()), thread_([this] {
    id_ = std::this_thread::get_id();
    loop_->run();
  }) {}
  ~LoopThread() {
    loop_->stop();
    loop_->post([] {});  // wake it
    thread_.join();
  }
  EventLoop& loop() { return *loop_; }
  std::thread::id id() const { return id_; }

 private:
  std::unique_ptr<EventLoop> loop_;
  std::atomic<std::thread::id> id_{};
  std::thread thread_;
};

TEST(LoopCallerTest, RunsOnTheLoopThread) {
  LoopThread lt;
  LoopCaller caller(lt.loop());
  auto r = caller.call([&] { return json{{"same", std::this_thread::get_id() == lt.id()}}; }, 5000ms);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ((*r)["same"], true);
}

TEST(LoopCallerTest, TimesOutWhenTheLoopDoesNotRun) {
  auto loop = make_loop();
  LoopCaller caller(*loop);
  auto r = caller.call([] { return json(1); }, 50ms);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "kvnetd's control loop did not answer within 50 ms");
  loop->run_once(0ms);  // the late call runs; its answer goes nowhere
}

TEST(LoopCallerTest, CloseWakesWaitersAndRefusesMore) {
  auto loop = make_loop();
  LoopCaller caller(*loop);
  std::thread closer([&] {
    std::this_thread::sleep_for(50ms);
    caller.close();
  });
  const auto t0 = std::chrono::steady_clock::now();
  auto r = caller.call([] { return json(1); }, 10000ms);
  closer.join();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "kvnetd is stopping");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5000ms);
  EXPECT_FALSE(caller.call([] { return json(1); }, 1000ms));
}

TEST(LoopCallerTest, AnExceptionIsAnError) {
  LoopThread lt;
  LoopCaller caller(lt.loop());
  auto r = caller.call([]() -> json { throw std::runtime_error("boom"); }, 5000ms);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "internal error: boom");
}

class DashboardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kvnet-dash-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    server_.reset();
    std::system(("rm -rf " + dir_).c_str());
  }
  // A dashboard on a free port whose handler records the request and the
  // thread it ran on.
  void start(const std::string& token = "") {
    DashboardOptions o{.address = "127.0.0.1:0"};
    if (!token.empty()) {
      o.token_file = dir_ + "/token";
      std::ofstream(o.token_file) << token << "\n";
      chmod(o.token_file.c_str(), 0600);
    }
    o.log = [this](const std::string& m) {
      std::lock_guard<std::mutex> g(mu_);
      logs_.push_back(m);
    };
    auto s = DashboardServer::create(lt_.loop(), [this](const json& req) {
      on_loop_ = on_loop_ && std::this_thread::get_id() == lt_.id();
      last_ = req;
      if (req["cmd"] == "fdb-show" && req.value("bridge", "") != "br0")
        return json{{"ok", false}, {"error", "bridge 'x' does not exist"}};
      return json{{"ok", true}, {"result", {{"cmd", req["cmd"]}}}};
    }, o);
    ASSERT_TRUE(s) << s.error().message;
    server_ = std::move(*s);
    server_->start();
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
  }
  httplib::Headers auth(const std::string& t) { return {{"Authorization", "Bearer " + t}}; }

  LoopThread lt_;
  std::string dir_;
  std::unique_ptr<DashboardServer> server_;
  std::unique_ptr<httplib::Client> client_;
  std::atomic<bool> on_loop_{true};
  json last_;
  std::mutex mu_;
  std::vector<std::string> logs_;
};

TEST_F(DashboardTest, ServesThePageAndItsAssets) {
  start();
  auto r = client_->Get("/");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->body.find("<script src=\"/app.js\""), std::string::npos);
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(r->get_header_value("Content-Security-Policy").find("script-src 'self'"), std::string::npos);
  EXPECT_EQ(r->get_header_value("X-Frame-Options"), "DENY");
  EXPECT_FALSE(r->has_header("Access-Control-Allow-Origin"));
  for (const auto& a : dashboard_assets()) {
    auto x = client_->Get(std::string(a.path));
    ASSERT_TRUE(x);
    EXPECT_EQ(x->status, 200) << a.path;
    EXPECT_EQ(x->body, a.body);
  }
  // Nothing on the page is loaded from elsewhere.
  for (const auto& a : dashboard_assets()) {
    EXPECT_EQ(std::string(a.body).find("http://"), std::string::npos) << a.path;
    EXPECT_EQ(std::string(a.body).find("https://"), std::string::npos) << a.path;
  }
}

TEST_F(DashboardTest, ReadingCommandsRunOnTheLoop) {
  start();
  auto r = client_->Get("/api/fdb-show?bridge=br0");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  auto j = json::parse(r->body);
  EXPECT_EQ(j["ok"], true);
  EXPECT_GT(j["time"].get<double>(), 0);
  EXPECT_EQ(last_, (json{{"cmd", "fdb-show"}, {"bridge", "br0"}}));
  EXPECT_TRUE(on_loop_);
  r = client_->Get("/api/fdb-show?bridge=x");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(json::parse(r->body)["error"], "bridge 'x' does not exist");
  r = client_->Get("/api/trace?bridge=br0&x.a=1&x.b=2");
  ASSERT_TRUE(r);
  EXPECT_EQ(last_, (json{{"cmd", "trace"}, {"bridge", "br0"}, {"x", {{"a", "1"}, {"b", "2"}}}}));
  r = client_->Get("/api/trace?x=1&x.a=1");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  r = client_->Get("/api/show?cmd=del-br");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  auto info = client_->Get("/api/info");
  ASSERT_TRUE(info);
  EXPECT_EQ(json::parse(info->body)["result"]["read_only"], true);
}

// draw's `cluster` is a flag: "true"/"false" in the query, a boolean for the
// command; any other value is refused before the loop. Elsewhere the same
// name is a string, as every other argument.
TEST_F(DashboardTest, FlagsAreBooleans) {
  start();
  auto r = client_->Get("/api/draw?format=svg&cluster=true");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(last_, (json{{"cmd", "draw"}, {"format", "svg"}, {"cluster", true}}));
  r = client_->Get("/api/draw?cluster=false");
  ASSERT_TRUE(r);
  EXPECT_EQ(last_, (json{{"cmd", "draw"}, {"cluster", false}}));
  last_ = nullptr;
  for (const char* bad : {"/api/draw?cluster=1", "/api/draw?cluster=", "/api/draw?cluster=TRUE"}) {
    r = client_->Get(bad);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << bad;
    EXPECT_NE(json::parse(r->body)["error"].get<std::string>().find("argument 'cluster' is true or false"),
              std::string::npos)
        << bad;
  }
  EXPECT_TRUE(last_.is_null());
  r = client_->Get("/api/show?cluster=true");
  ASSERT_TRUE(r);
  EXPECT_EQ(last_, (json{{"cmd", "show"}, {"cluster", "true"}}));
}

// The cluster's reading commands are served (GET); its changing ones are not.
TEST_F(DashboardTest, TheClusterIsReadOnly) {
  start("T0ken");
  for (const char* cmd : {"cluster-status", "cluster-hosts", "network-list"}) {
    auto r = client_->Get(std::string("/api/") + cmd);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << cmd;
    EXPECT_EQ(last_, (json{{"cmd", cmd}}));
    r = client_->Post(std::string("/api/") + cmd, auth("T0ken"), "{}", "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 405) << cmd;
  }
  for (const char* cmd : {"network-add", "network-del", "network-show"}) {
    auto r = client_->Post(std::string("/api/") + cmd, auth("T0ken"), R"({"name":"x"})", "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404) << cmd;
  }
}

TEST_F(DashboardTest, OnlyItsCommandsAndPaths) {
  start();
  for (const char* p : {"/api/vm-console?name=x", "/api/add-br", "/api/export", "/nothing", "/api/"}) {
    auto r = client_->Get(p);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404) << p;
  }
  auto r = client_->Get("/api/fdb-flush?bridge=br0");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->get_header_value("Allow"), "POST");
  r = client_->Delete("/api/show");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  for (const auto& c : dashboard_commands()) {
    const std::string cmd = c.cmd;
    EXPECT_TRUE(cmd.find("console") == std::string::npos && cmd != "apply" && cmd.find("del") == std::string::npos) << cmd;
  }
}

TEST_F(DashboardTest, ReadOnlyRefusesChanges) {
  start();
  auto r = client_->Post("/api/fdb-flush", R"({"bridge":"br0"})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_NE(r->body.find("read-only"), std::string::npos);
  EXPECT_TRUE(last_.is_null());
}

TEST_F(DashboardTest, ChangesNeedTheToken) {
  start("T0ken");
  auto r = client_->Post("/api/fdb-flush", R"({"bridge":"br0"})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(r->get_header_value("WWW-Authenticate"), "Bearer realm=\"kvnetd\"");
  r = client_->Post("/api/fdb-flush", auth("T0ke"), R"({"bridge":"br0"})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_TRUE(last_.is_null());
  r = client_->Post("/api/fdb-flush", auth("T0ken"), R"({"bridge":"br0"})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(last_, (json{{"cmd", "fdb-flush"}, {"bridge", "br0"}}));
  EXPECT_TRUE(on_loop_);
  r = client_->Post("/api/fdb-flush", auth("T0ken"), R"({"cmd":"del-br"})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  r = client_->Post("/api/fdb-flush", auth("T0ken"), "[1]", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  r = client_->Post("/api/show", auth("T0ken"), "{}", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  std::lock_guard<std::mutex> g(mu_);
  ASSERT_GE(logs_.size(), 2u);
  EXPECT_NE(logs_[0].find("refused: no or wrong token"), std::string::npos);
}

TEST_F(DashboardTest, ForeignHostAndOriginAreRefused) {
  start("T0ken");
  auto r = client_->Get("/api/show", {{"Host", "evil.example:" + std::to_string(server_->port())}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  httplib::Headers h = auth("T0ken");
  h.emplace("Origin", "http://evil.example");
  r = client_->Post("/api/fdb-flush", h, "{}", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_TRUE(last_.is_null());
}

TEST_F(DashboardTest, BodiesAreLimited) {
  start("T0ken");
  auto r = client_->Post("/api/fdb-flush", auth("T0ken"), std::string(100000, ' '), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_TRUE(last_.is_null());
}

TEST_F(DashboardTest, AStuckLoopIs503) {
  auto loop = make_loop();  // never run
  DashboardOptions o{.address = ":0", .call_timeout = 100ms};
  auto s = DashboardServer::create(*loop, [](const json&) { return json{{"ok", true}}; }, o);
  ASSERT_TRUE(s) << s.error().message;
  (*s)->start();
  httplib::Client c("127.0.0.1", (*s)->port());
  auto r = c.Get("/api/show");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_NE(r->body.find("did not answer within 100 ms"), std::string::npos);
  (*s)->stop();
}

TEST_F(DashboardTest, StartupErrorsNameTheAddress) {
  start();
  const std::string taken = "127.0.0.1:" + std::to_string(server_->port());
  auto s = DashboardServer::create(lt_.loop(), [](const json&) { return json(); }, {.address = taken});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message, "--http '" + taken + "': cannot listen on " + taken + ": Address already in use");
  s = DashboardServer::create(lt_.loop(), [](const json&) { return json(); }, {.address = "1.2.3.4:5:6"});
  ASSERT_FALSE(s);
  s = DashboardServer::create(lt_.loop(), [](const json&) { return json(); },
                              {.address = ":0", .token_file = dir_ + "/missing"});
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("--http-token-file"), std::string::npos);
}

}  // namespace
}  // namespace kvnet::daemon
