#include "io/runtime.h"

#include "base/clock.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

namespace kvnet::io {
namespace {

constexpr uint64_t kWakeKey = UINT64_MAX;
constexpr uint64_t kSourceTag = uint64_t{1} << 63;  // epoll key: tag | RxSource address

std::string sys_error(const char* what) { return std::string("datapath runtime: ") + what + ": " + std::strerror(errno); }

}  // namespace

Result<std::unique_ptr<Runtime>> Runtime::create(dp::Datapath& dp) {
  auto rt = std::make_unique<Runtime>(dp);
  if (!rt->init_error_.empty()) return Error{rt->init_error_};
  return rt;
}

Runtime::Runtime(dp::Datapath& dp) : dp_(dp) {
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epfd_ < 0) {
    init_error_ = sys_error("epoll_create1");
    return;
  }
  wakefd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wakefd_ < 0) {
    init_error_ = sys_error("eventfd");
    return;
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kWakeKey;
  // SAFETY: epoll_ctl copies the epoll_event we own.
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, wakefd_, &ev) < 0) init_error_ = sys_error("epoll_ctl(wake-up eventfd)");
}

Runtime::~Runtime() {
  stop();
  if (epfd_ >= 0) close(epfd_);
  if (wakefd_ >= 0) close(wakefd_);
}

Status Runtime::start() {
  if (!init_error_.empty()) return Error{init_error_};
  if (running_) return Ok{};
  stop_ = false;
  running_ = true;  // from now on call() posts to the thread
  try {
    thread_ = std::thread([this] {
      thread_id_ = std::this_thread::get_id();
      dp_.set_owner(thread_id_);  // from now on only this thread may change the datapath
      loop();
    });
  } catch (const std::system_error& e) {
    running_ = false;
    return Error{std::string("datapath runtime: cannot start its thread: ") + e.what()};
  }
  return Ok{};
}

void Runtime::stop() {
  if (!running_) return;
  stop_ = true;
  const uint64_t one = 1;
  // SAFETY: writes 8 bytes from a local of that size.
  (void)!write(wakefd_, &one, sizeof one);
  thread_.join();
  running_ = false;
  thread_id_ = std::thread::id();
  dp_.set_owner(std::thread::id());  // the caller owns it again
  run_commands();  // anything posted while stopping
}

void Runtime::post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> g(mu_);
    cmds_.push_back(std::move(fn));
  }
  const uint64_t one = 1;
  // SAFETY: writes 8 bytes from a local of that size.
  (void)!write(wakefd_, &one, sizeof one);
}

void Runtime::run_commands() {
  std::deque<std::function<void()>> cmds;
  {
    std::lock_guard<std::mutex> g(mu_);
    cmds.swap(cmds_);
  }
  for (auto& c : cmds) c();
}

void Runtime::report(const std::string& port, std::string why) {
  std::lock_guard<std::mutex> g(mu_);
  failed_.push_back(Failure{port, std::move(why)});
}

std::vector<Runtime::Failure> Runtime::take_failures() {
  std::lock_guard<std::mutex> g(mu_);
  std::vector<Failure> out;
  out.swap(failed_);
  return out;
}

std::vector<std::string> Runtime::take_failed() {
  std::vector<std::string> names;
  for (auto& f : take_failures()) names.push_back(std::move(f.port));
  return names;
}

bool Runtime::watch(dp::Port& p) {
  if (!p.backend) return true;
  if (dp::RxSource* src = p.backend->shared_rx()) {
    if (epfd_ < 0) {
      report(p.name, init_error_);
      return false;
    }
    if (sources_[src]++ > 0) return true;  // polled already for another port
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kSourceTag | reinterpret_cast<uintptr_t>(src);
    // SAFETY: epoll_ctl copies the epoll_event we own.
    if (epoll_ctl(epfd_, EPOLL_CTL_ADD, src->fd(), &ev) < 0 && errno != EEXIST) {
      sources_.erase(src);
      report(p.name, "port '" + p.name + "': cannot poll its socket: " + std::strerror(errno));
      return false;
    }
    return true;
  }
  if (p.backend->rx_fd() < 0) return true;  // nothing to poll
  if (epfd_ < 0) {
    report(p.name, init_error_);
    return false;
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = p.id;
  // SAFETY: epoll_ctl copies the epoll_event we own.
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, p.backend->rx_fd(), &ev) < 0 && errno != EEXIST) {
    report(p.name, "port '" + p.name + "': cannot poll its fd: " + std::strerror(errno));
    return false;
  }
  return true;
}

void Runtime::unwatch(dp::Port& p) {
  if (!p.backend || epfd_ < 0) return;
  if (dp::RxSource* src = p.backend->shared_rx()) {
    auto it = sources_.find(src);
    if (it == sources_.end() || --it->second > 0) return;
    sources_.erase(it);
    epoll_ctl(epfd_, EPOLL_CTL_DEL, src->fd(), nullptr);
    return;
  }
  if (p.backend->rx_fd() < 0) return;
  // Failure means the fd was not watched (or is closed): nothing to undo.
  epoll_ctl(epfd_, EPOLL_CTL_DEL, p.backend->rx_fd(), nullptr);
}

void Runtime::loop() {
  epoll_event evs[64];
  net::FrameBatch batch;
  while (!stop_) {
    const int n = epoll_wait(epfd_, evs, 64, dp_.fast_path() ? 250 : 500);
    const uint64_t now = monotonic_ns();
    bool worked = false;  // received from a port (not only a wake-up)
    for (int i = 0; i < n; ++i) {
      if (evs[i].data.u64 == kWakeKey) {
        uint64_t v;
        // SAFETY: reads 8 bytes into a local of that size.
        (void)!read(wakefd_, &v, sizeof v);
        continue;
      }
      if (evs[i].data.u64 & kSourceTag) {
        auto* src = reinterpret_cast<dp::RxSource*>(static_cast<uintptr_t>(evs[i].data.u64 & ~kSourceTag));
        if (sources_.count(src)) receive_shared(*src, batch, now);  // else: unwatched this round
        worked = true;
        continue;
      }
      const auto id = static_cast<uint32_t>(evs[i].data.u64);
      if (id >= dp_.ports().size() || !dp_.ports()[id]) continue;  // removed this round
      dp::Port& p = dp_.port(id);
      if (!p.backend || p.backend->failed()) continue;  // reported already
      worked = true;
      // One batch per ready port per round: level-triggered epoll reports it
      // again if more is waiting, after every other ready port had its turn.
      if (p.backend->receive(batch, dp_.pool(), now) > 0) {
        dp_.receive(p, batch);
        batch.clear();
      }
      if (p.backend->failed()) [[unlikely]] {
        // The device is gone: stop polling (an error fd would wake us forever)
        // and let the control thread replace the backend and retry.
        unwatch(p);
        report(p.name, "port '" + p.name + "': its device failed");
      }
    }
    if (worked) loop_times_.record(monotonic_ns() - now);  // one clock read per round, not per frame
    if (dp::FastPathSink* f = dp_.fast_path()) {
      f->revalidate(now);       // (a port found down outdates cached decisions too)
      f->publish(dp_.epoch());  // what this round learned (a station moved) outdates cached decisions
    }
    run_commands();
  }
}

void Runtime::receive_shared(dp::RxSource& src, net::FrameBatch& batch, uint64_t now) {
  do {
    receive_shared_once(src, batch, now);
  } while (src.more());  // what was read but did not fit the batch (bounded by the source's buffer)
}

void Runtime::receive_shared_once(dp::RxSource& src, net::FrameBatch& batch, uint64_t now) {
  if (src.receive(batch, dp_.pool(), now) == 0) return;
  // Runs of frames for the same port go through it together.
  net::FrameBatch run;
  for (uint32_t i = 0; i < batch.count;) {
    const uint32_t id = batch[i]->meta.in_port;
    run.clear();
    while (i < batch.count && batch[i]->meta.in_port == id) run.add(batch[i++]);
    if (id < dp_.ports().size() && dp_.ports()[id]) dp_.receive(*dp_.ports()[id], run);
    else dp_.pool().put(run);  // the source named a port that is gone
  }
  batch.clear();
}

}  // namespace kvnet::io
