// Fuzz target http_request: bytes as one HTTP request to kvnetd's web
// dashboard (daemon/http_dashboard.h), through everything kvnet's own code
// does with it: the head check of daemon/http_server.h (size, header count,
// Content-Length), then cpp-httplib's parse and the dashboard's routes with
// their Host, method, Origin and token checks, up to the API handler.
//
// The dashboard is built once, with a token file, bound to a free port on
// 127.0.0.1 but never started: DashboardServer::answer() hands it the bytes
// without a socket. "{port}" in the input becomes that port, so that seeds
// can name the dashboard in their Host header. The API handler runs on a
// control loop of its own thread and echoes the request.
//
// Also: the policy functions (daemon/http_policy.h) on the input's first
// lines as Host, Origin and Authorization.
//
// Invariants: no crash; an answer, if any, is an HTTP/1.1 status line; a
// changing request (POST /api/...) that reached the handler (200) carried
// the token; nothing was served for a Host the policy refuses.
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cstdint>
#include <cstring>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>

#include "daemon/api.h"
#include "daemon/event_loop.h"
#include "daemon/http_dashboard.h"
#include "daemon/http_policy.h"
#include "fuzz_check.h"

namespace {

using namespace kvnet;
constexpr const char* kToken = "fuzz-token-0123456789";

struct World {
  std::unique_ptr<daemon::EventLoop> loop;
  std::thread loop_thread;
  std::unique_ptr<daemon::DashboardServer> dash;
  std::string port;

  World() {
    auto l = daemon::EventLoop::create();
    FUZZ_CHECK(l.ok(), "%s", l.error().message.c_str());
    loop = std::move(*l);
    char path[] = "/tmp/kvnet-fuzz-token-XXXXXX";
    const int fd = mkstemp(path);
    FUZZ_CHECK(fd >= 0, "mkstemp");
    fchmod(fd, 0600);
    FUZZ_CHECK(write(fd, kToken, std::strlen(kToken)) > 0, "write");
    close(fd);
    auto echo = [](const nlohmann::json& req) { return nlohmann::json{{"ok", true}, {"result", req}}; };
    auto d = daemon::DashboardServer::create(*loop, echo, {.address = "127.0.0.1:0", .token_file = path});
    unlink(path);
    FUZZ_CHECK(d.ok(), "%s", d.error().message.c_str());
    dash = std::move(*d);
    port = std::to_string(dash->port());
    loop_thread = std::thread([this] { loop->run(); });
  }
};

// A header's value, its name in any case ("" if absent). Lines end at LF,
// as httplib reads them (a line "\0\n" before it does not hide it).
std::string header_of(const std::string& req, const std::string& name) {
  std::string lower = req;
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const std::string key = "\n" + name + ":";
  const auto at = lower.find(key);
  if (at == std::string::npos) return "";
  auto b = at + key.size();
  while (b < req.size() && (req[b] == ' ' || req[b] == '\t')) ++b;
  return req.substr(b, req.find("\r\n", b) - b);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World* world = new World();
  std::string req(reinterpret_cast<const char*>(data), size);
  for (size_t at; (at = req.find("{port}")) != std::string::npos;) req.replace(at, 6, world->port);

  // The policy functions on their own.
  {
    const auto a = req.find('\n'), b = a == std::string::npos ? a : req.find('\n', a + 1);
    const std::string host = req.substr(0, a);
    const std::string origin = a == std::string::npos ? "" : req.substr(a + 1, b - a - 1);
    (void)daemon::host_allowed(host, 8080, {"kvnet-host"});
    (void)daemon::origin_allowed(origin, host);
    const std::string tok = daemon::bearer_token(origin);
    (void)daemon::token_equal(tok, kToken);
    (void)daemon::parse_http_address(host);
  }

  const std::string out = world->dash->answer(req);
  if (std::getenv("KVNET_FUZZ_VERBOSE")) std::fprintf(stderr, "%s\n-> %s\n", req.c_str(), out.c_str());
  if (out.empty()) return 0;
  FUZZ_CHECK(out.rfind("HTTP/1.1 ", 0) == 0, "not a status line: %.40s", out.c_str());
  const int status = std::atoi(out.c_str() + 9);
  if (status >= 200 && status < 300) {
    FUZZ_CHECK(!header_of(req, "host").empty(), "served a request without a Host");
    if (req.rfind("POST ", 0) == 0)
      FUZZ_CHECK(req.find(kToken) != std::string::npos, "a change was served without the token");
  }
  return 0;
}
