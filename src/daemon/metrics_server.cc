#include "daemon/metrics_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "base/log.h"
#include "base/text.h"
#include "daemon/http_policy.h"
#include "daemon/http_server.h"

namespace kvnet::daemon {
namespace {

// Why `a` cannot be bound: httplib only says that it failed, so the bind is
// tried once more on a socket of our own for errno.
std::string bind_error(const ListenAddress& a) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  if (a.ipv6()) {
    auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(a.port);
    // SAFETY: inet_pton writes 16 bytes into the sockaddr_in6's address.
    inet_pton(AF_INET6, a.host.c_str(), &s6->sin6_addr);
    len = sizeof *s6;
  } else {
    auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
    s4->sin_family = AF_INET;
    s4->sin_port = htons(a.port);
    // SAFETY: inet_pton writes 4 bytes into the sockaddr_in's address.
    inet_pton(AF_INET, a.host.c_str(), &s4->sin_addr);
    len = sizeof *s4;
  }
  const int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::strerror(errno);
  const int yes = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  std::string why = "cannot listen";
  // SAFETY: bind reads the sockaddr we filled, of the length we pass.
  if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) < 0) why = std::strerror(errno);
  else if (::listen(fd, 1) < 0) why = std::strerror(errno);
  close(fd);
  return why;
}

const char* reason(int status) {
  switch (status) {
    case 400: return "bad request";
    case 404: return "not found";
    case 403: return "forbidden";
    case 405: return "method not allowed";
    case 413: return "request too large";
    case 414: return "URI too long";
    case 500: return "internal error";
    case 503: return "unavailable";
    default: return "error";
  }
}

}  // namespace

MetricsServer::MetricsServer(ListenAddress addr, Collect collect, MetricsServerOptions o)
    : addr_(std::move(addr)), collect_(std::move(collect)), o_(o), http_(std::make_unique<HttpServer>(o.limits)) {}

MetricsServer::~MetricsServer() { stop(); }

void MetricsServer::routes() {
  httplib::Server& s = *http_;
  // A Host naming another site is refused, as on the dashboard (DNS
  // rebinding: a page whose name resolves to 127.0.0.1 reading the metrics).
  std::vector<std::string> names{addr_.host};
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) == 0 && host[0]) names.emplace_back(host);
  s.set_pre_routing_handler([this, names](const httplib::Request& req, httplib::Response& res) {
    const std::string h = req.get_header_value("Host");
    if (host_allowed(h, addr_.port, names)) return httplib::Server::HandlerResponse::Unhandled;
    res.status = 403;
    res.set_content("403 Host '" + valid_utf8(h) + "' is not this server's address (" + addr_.str() +
                        "): use its IP address, localhost or this machine's name\n",
                    "text/plain; charset=utf-8");
    return httplib::Server::HandlerResponse::Handled;
  });
  s.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    auto text = collect_();
    if (!text) {
      res.status = 503;
      res.set_content(text.error().message + "\n", "text/plain; charset=utf-8");
      return;
    }
    res.set_content(std::move(*text), kMetricsContentType);
  });
  auto not_allowed = [](const httplib::Request& req, httplib::Response& res) {
    res.status = 405;
    res.set_header("Allow", "GET, HEAD");
    res.set_content(req.method + " is not allowed on /metrics (GET or HEAD)\n", "text/plain; charset=utf-8");
  };
  s.Post("/metrics", not_allowed);
  s.Put("/metrics", not_allowed);
  s.Patch("/metrics", not_allowed);
  s.Delete("/metrics", not_allowed);
  s.Options("/metrics", not_allowed);
  // 4xx/5xx without a body of their own get a one-line reason.
  s.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    std::string why = reason(res.status);
    if (res.status == 404) why = "not found: " + req.path + " (kvnetd serves /metrics)";
    res.set_content(fmt::format("{} {}\n", res.status, why), "text/plain; charset=utf-8");
  });
  s.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string why = "internal error";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      why += std::string(": ") + e.what();
    } catch (...) {
    }
    res.status = 500;
    res.set_content(why + "\n", "text/plain; charset=utf-8");
  });
  s.set_logger([](const httplib::Request& req, const httplib::Response& res) {
    logf(LogLevel::kDebug, "metrics: {} {} from {} -> {} ({} bytes)", req.method, req.path, req.remote_addr,
         res.status, res.body.size());
  });
}

Status MetricsServer::bind() {
  if (bound_) return Ok{};
  httplib::Server& s = *http_;
  routes();
  // Not httplib's SO_REUSEPORT, with which a second kvnetd would share the
  // port instead of failing; and never inherited by QEMU or dnsmasq.
  s.set_socket_options([](int fd) {
    const int yes = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    fcntl(fd, F_SETFD, FD_CLOEXEC);
  });
  if (!s.bind_to_port(addr_.host, addr_.port))
    return Error{"metrics address " + addr_.str() + ": " + bind_error(addr_)};
  bound_ = true;
  return Ok{};
}

Status MetricsServer::start() {
  if (auto b = bind(); !b) return b;
  if (thread_.joinable()) return Ok{};
  httplib::Server& s = *http_;
  try {
    done_ = false;
    thread_ = std::thread([this] {
      http_->run();
      done_ = true;
    });
  } catch (const std::system_error& e) {
    return Error{std::string("metrics: cannot start the server's thread: ") + e.what()};
  }
  // stop() only works on a running server: wait until it is.
  for (int i = 0; i < 500 && !s.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  return Ok{};
}

void MetricsServer::stop() {
  if (!thread_.joinable()) return;
  // httplib's stop() does nothing before its loop runs: ask until it ends.
  while (!done_) {
    http_->stop();
    if (!done_) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  thread_.join();
}

}  // namespace kvnet::daemon
