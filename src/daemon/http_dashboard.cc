#include "daemon/http_dashboard.h"

#include <httplib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include "base/clock.h"
#include "base/text.h"
#include "daemon/http_assets.h"
#include "daemon/http_loop_call.h"
#include "daemon/http_policy.h"
#include "daemon/http_server.h"

namespace kvnet::daemon {

namespace {

using json = nlohmann::json;

// Only the page's own files; inline SVG attributes are not styles, so the
// picture needs nothing more.
constexpr const char* kCsp =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

void reply(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(encode_answer(body), "application/json; charset=utf-8");
}

void reply_error(httplib::Response& res, int status, const std::string& message) {
  reply(res, status, api_error(valid_utf8(message)));
}

const DashboardCommand* find_command(const std::string& cmd) {
  for (const auto& c : dashboard_commands())
    if (cmd == c.cmd) return &c;
  return nullptr;
}

std::vector<std::string> own_names(const HttpAddress& a) {
  std::vector<std::string> names{a.host};
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) == 0 && host[0]) names.emplace_back(host);
  return names;
}

}  // namespace

const std::vector<DashboardCommand>& dashboard_commands() {
  static const std::vector<DashboardCommand> kCommands = {
      {"ping", false},           {"list-br", false},         {"show", false},    {"stats", false},
      {"fdb-show", false},       {"conntrack-list", false},  {"vm-list", false}, {"ct-list", false},
      {"gw-list", false},        {"pipeline", false},        {"trace", false},
      {"draw", false, {"cluster"}},  // ?cluster=true: the whole cluster
      {"cluster-status", false}, {"cluster-hosts", false},   {"network-list", false},
      {"fdb-flush", true},       {"conntrack-flush", true},  {"vm-start", true}, {"vm-stop", true},
      {"vm-restart", true},
  };
  return kCommands;
}

struct DashboardServer::Impl {
  Impl(EventLoop& loop, ApiHandler h, DashboardOptions o)
      : caller(loop),
        handler(std::move(h)),
        opts(std::move(o)),
        server(HttpLimits{.workers = static_cast<size_t>(std::max(opts.threads, 1)),
                          .max_connections = opts.max_connections,
                          .max_header_bytes = opts.max_header_bytes,
                          .max_header_count = opts.max_header_count,
                          .max_body_bytes = opts.max_body_bytes,
                          .request_timeout = opts.request_timeout,
                          .idle_timeout = std::chrono::milliseconds(2000),  // also bounds stop()'s wait
                          .write_timeout = std::chrono::milliseconds(5000),
                          .keep_alive_max = 1000}) {}

  LoopCaller caller;
  ApiHandler handler;
  DashboardOptions opts;
  HttpAddress addr;
  std::vector<std::string> names;
  std::string token;  // "" read-only
  HttpServer server;
  std::thread thread;

  void log(const std::string& m) const {
    if (opts.log) opts.log(m);
  }
  void routes();
  httplib::Server::HandlerResponse screen(const httplib::Request& req, httplib::Response& res) const;
  void get_command(const httplib::Request& req, httplib::Response& res);
  void post_command(const httplib::Request& req, httplib::Response& res);
  void run(const json& request, httplib::Response& res);
};

// Before any route: the Host (all requests), the method, the Origin (POST).
httplib::Server::HandlerResponse DashboardServer::Impl::screen(const httplib::Request& req,
                                                               httplib::Response& res) const {
  using R = httplib::Server::HandlerResponse;
  const std::string host = req.get_header_value("Host");
  if (!host_allowed(host, addr.port, names)) {
    reply_error(res, 403, "Host '" + host + "' is not this dashboard's address (" + addr.text() +
                              "): use its IP address, localhost or this machine's name");
    return R::Handled;
  }
  if (req.method != "GET" && req.method != "HEAD" && req.method != "POST") {
    res.set_header("Allow", "GET, HEAD, POST");
    reply_error(res, 405, "method " + req.method + " is not served here (GET, HEAD, POST)");
    return R::Handled;
  }
  if (req.method == "POST" && !origin_allowed(req.get_header_value("Origin"), host)) {
    reply_error(res, 403, "Origin '" + req.get_header_value("Origin") +
                              "' is not this dashboard: changes are taken from its own page only");
    return R::Handled;
  }
  return R::Unhandled;
}

void DashboardServer::Impl::routes() {
  server.set_default_headers({{"Content-Security-Policy", kCsp},
                              {"X-Content-Type-Options", "nosniff"},
                              {"X-Frame-Options", "DENY"},
                              {"Referrer-Policy", "no-referrer"},
                              {"Cross-Origin-Opener-Policy", "same-origin"},
                              {"Cross-Origin-Resource-Policy", "same-origin"},
                              {"Cache-Control", "no-store"}});
  server.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) { return screen(req, res); });
  for (const auto& a : dashboard_assets()) {
    auto serve = [&a](const httplib::Request&, httplib::Response& res) {
      res.set_content(a.body.data(), a.body.size(), a.content_type.data());
    };
    server.Get(std::string(a.path), serve);
    if (a.path == "/index.html") server.Get("/", serve);
  }
  server.Get("/api/info", [this](const httplib::Request&, httplib::Response& res) {
    json get = json::array(), post = json::array();
    for (const auto& c : dashboard_commands()) (c.changes ? post : get).push_back(c.cmd);
    reply(res, 200, {{"ok", true}, {"result", {{"read_only", token.empty()}, {"version", "0.1.0"}, {"get", get}, {"post", post}}}});
  });
  server.Get(R"(/api/([a-z-]+))", [this](const httplib::Request& req, httplib::Response& res) { get_command(req, res); });
  server.Post(R"(/api/([a-z-]+))", [this](const httplib::Request& req, httplib::Response& res) { post_command(req, res); });
  auto not_found = [](const httplib::Request& req, httplib::Response& res) {
    reply_error(res, 404, "no such page: " + req.path);
  };
  server.Get(".*", not_found);
  server.Post(".*", not_found);
}

void DashboardServer::Impl::get_command(const httplib::Request& req, httplib::Response& res) {
  const std::string cmd = req.matches[1];
  const DashboardCommand* c = find_command(cmd);
  if (!c) return reply_error(res, 404, "no such endpoint: /api/" + cmd);
  if (c->changes) {
    res.set_header("Allow", "POST");
    return reply_error(res, 405, "'" + cmd + "' changes the switch: POST it with the token");
  }
  json request = json::object();
  for (const auto& [k, v] : req.params) {
    if (k == "cmd") return reply_error(res, 400, "the command is the path's (/api/" + cmd + "), not an argument");
    // "trace.flow=..." is member "flow" of the object argument "trace".
    const auto dot = k.find('.');
    if (std::find(c->flags.begin(), c->flags.end(), k) != c->flags.end()) {
      if (v != "true" && v != "false")
        return reply_error(res, 400, "argument '" + k + "' is true or false, not '" + v + "'");
      request[k] = v == "true";
    } else if (dot == std::string::npos) {
      request[k] = v;
    } else {
      json& outer = request[k.substr(0, dot)];
      if (!outer.is_null() && !outer.is_object())
        return reply_error(res, 400, "argument '" + k.substr(0, dot) + "' is given both as a value and as an object");
      outer[k.substr(dot + 1)] = v;
    }
  }
  if (auto s = refuse_nul(request); !s) return reply_error(res, 400, s.error().message);
  request["cmd"] = cmd;
  run(request, res);
}

void DashboardServer::Impl::post_command(const httplib::Request& req, httplib::Response& res) {
  const std::string cmd = req.matches[1];
  const DashboardCommand* c = find_command(cmd);
  if (!c) return reply_error(res, 404, "no such endpoint: /api/" + cmd);
  if (!c->changes) {
    res.set_header("Allow", "GET");
    return reply_error(res, 405, "'" + cmd + "' only reads: GET it");
  }
  if (token.empty())
    return reply_error(res, 403, "the dashboard is read-only: start kvnetd with --http-token-file to allow changes");
  if (!token_equal(bearer_token(req.get_header_value("Authorization")), token)) {
    res.set_header("WWW-Authenticate", "Bearer realm=\"kvnetd\"");
    log("dashboard: POST /api/" + cmd + " from " + req.remote_addr + " refused: no or wrong token");
    return reply_error(res, 401, "this needs the token of --http-token-file as 'Authorization: Bearer TOKEN'");
  }
  json request = json::object();
  if (!req.body.empty()) {
    ApiLimits limits;
    limits.max_request_bytes = opts.max_body_bytes;
    auto parsed = parse_request(req.body, limits);
    if (!parsed) return reply_error(res, 400, parsed.error().message);
    if (!parsed->is_object()) return reply_error(res, 400, "the body must be a JSON object of arguments");
    if (parsed->contains("cmd")) return reply_error(res, 400, "the command is the path's (/api/" + cmd + "), not an argument");
    request = std::move(*parsed);
  }
  request["cmd"] = cmd;
  run(request, res);
  log("dashboard: POST /api/" + cmd + " " + valid_utf8(req.body) + " from " + req.remote_addr + ": " +
      (res.status == 200 ? "done" : "failed (" + std::to_string(res.status) + ")"));
}

// On the loop, as the API socket would; the answer gets the loop's clock.
void DashboardServer::Impl::run(const json& request, httplib::Response& res) {
  auto answer = caller.call(
      [this, request] {
        json a = handler(request);
        a["time"] = static_cast<double>(monotonic_ns()) / 1e9;
        return a;
      },
      opts.call_timeout);
  if (!answer) return reply_error(res, 503, answer.error().message);
  const bool ok = answer->value("ok", false);
  reply(res, ok ? 200 : 400, *answer);
}

Result<std::unique_ptr<DashboardServer>> DashboardServer::create(EventLoop& loop, ApiHandler handler,
                                                                  DashboardOptions o) {
  auto impl = std::make_unique<Impl>(loop, std::move(handler), std::move(o));
  auto addr = parse_http_address(impl->opts.address);
  if (!addr) return addr.error();
  impl->addr = *addr;
  if (!impl->opts.token_file.empty()) {
    auto t = read_token_file(impl->opts.token_file);
    if (!t) return t.error();
    impl->token = *t;
  }
  auto& s = impl->server;
  // cpp-httplib's default sets SO_REUSEPORT, which would let a second kvnetd
  // bind the same port and share its connections: SO_REUSEADDR only (a
  // restart may bind while old connections linger in TIME_WAIT).
  s.set_socket_options([](int fd) {
    int yes = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  impl->routes();
  errno = 0;
  const bool bound = impl->addr.port == 0 ? (impl->addr.port = s.bind_to_any_port(impl->addr.host)) > 0
                                          : s.bind_to_port(impl->addr.host, impl->addr.port);
  if (!bound) {
    const std::string why = errno ? std::strerror(errno) : "the address cannot be resolved or bound";
    return Error{"--http '" + valid_utf8(impl->opts.address) + "': cannot listen on " + impl->addr.text() + ": " + why};
  }
  impl->names = own_names(impl->addr);
  return std::unique_ptr<DashboardServer>(new DashboardServer(std::move(impl)));
}

DashboardServer::DashboardServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

DashboardServer::~DashboardServer() { stop(); }

void DashboardServer::start() {
  if (impl_->thread.joinable()) return;
  impl_->thread = std::thread([s = &impl_->server] { s->run(); });
  // stop() only stops a server that runs: wait until this one does.
  for (int i = 0; i < 2000 && !impl_->server.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

void DashboardServer::stop() {
  impl_->caller.close();
  if (!impl_->thread.joinable()) return;
  impl_->server.stop();
  impl_->thread.join();
}

std::string DashboardServer::answer(std::string_view request) { return impl_->server.answer(request); }
std::string DashboardServer::url() const { return "http://" + impl_->addr.text() + "/"; }
int DashboardServer::port() const { return impl_->addr.port; }
bool DashboardServer::read_only() const { return impl_->token.empty(); }

}  // namespace kvnet::daemon
