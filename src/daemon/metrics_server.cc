#include "daemon/metrics_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <vector>

#include <fmt/format.h>

#include "base/log.h"

namespace kvnet::daemon {
namespace {

// httplib's own pool queues without bound; this one holds at most `cap`
// waiting connections and makes the accepting thread wait beyond that, so
// the kernel's backlog (and then refusal) absorbs a flood.
class BoundedPool final : public httplib::TaskQueue {
 public:
  BoundedPool(size_t workers, size_t cap) : cap_(cap) {
    for (size_t i = 0; i < workers; ++i) threads_.emplace_back([this] { work(); });
  }
  void enqueue(std::function<void()> fn) override {
    std::unique_lock<std::mutex> g(mu_);
    room_.wait(g, [&] { return jobs_.size() < cap_ || stopping_; });
    jobs_.push_back(std::move(fn));  // even when stopping: a job closes its socket
    ready_.notify_one();
  }
  void shutdown() override {
    {
      std::lock_guard<std::mutex> g(mu_);
      stopping_ = true;
    }
    ready_.notify_all();
    room_.notify_all();
    for (auto& t : threads_) t.join();
  }

 private:
  void work() {
    for (;;) {
      std::function<void()> fn;
      {
        std::unique_lock<std::mutex> g(mu_);
        ready_.wait(g, [&] { return !jobs_.empty() || stopping_; });
        if (jobs_.empty()) return;  // stopping, nothing left
        fn = std::move(jobs_.front());
        jobs_.pop_front();
        room_.notify_one();
      }
      fn();
    }
  }
  const size_t cap_;
  std::mutex mu_;
  std::condition_variable ready_, room_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

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
    : addr_(std::move(addr)), collect_(std::move(collect)), o_(o), http_(std::make_unique<httplib::Server>()) {}

MetricsServer::~MetricsServer() { stop(); }

void MetricsServer::routes() {
  httplib::Server& s = *http_;
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
  const size_t workers = o_.workers, queue = o_.queue;
  s.new_task_queue = [workers, queue] { return new BoundedPool(workers, queue); };
  s.set_read_timeout(o_.read_timeout);
  s.set_write_timeout(o_.write_timeout);
  s.set_keep_alive_timeout(o_.keep_alive_timeout.count());
  s.set_keep_alive_max_count(o_.keep_alive_max);
  s.set_payload_max_length(4096);
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
      http_->listen_after_bind();
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
