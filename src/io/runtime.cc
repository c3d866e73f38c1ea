#include "io/runtime.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

namespace kvnet::io {

uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ULL + uint64_t(ts.tv_nsec);
}

Runtime::Runtime(dp::Datapath& dp) : dp_(dp) {
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  wakefd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = UINT64_MAX;
  epoll_ctl(epfd_, EPOLL_CTL_ADD, wakefd_, &ev);
}

Runtime::~Runtime() {
  stop();
  close(epfd_);
  close(wakefd_);
}

void Runtime::start() {
  stop_ = false;
  running_ = true;
  thread_ = std::thread([this] { loop(); });
}

void Runtime::stop() {
  if (!running_) return;
  stop_ = true;
  const uint64_t one = 1;
  (void)!write(wakefd_, &one, sizeof one);
  thread_.join();
  running_ = false;
  run_commands();  // anything posted while stopping
}

void Runtime::post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> g(mu_);
    cmds_.push_back(std::move(fn));
  }
  const uint64_t one = 1;
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

std::vector<std::string> Runtime::take_failed() {
  std::lock_guard<std::mutex> g(mu_);
  std::vector<std::string> out;
  out.swap(failed_);
  return out;
}

void Runtime::watch(dp::Port& p) {
  if (!p.backend || p.backend->rx_fd() < 0) return;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = p.id;
  epoll_ctl(epfd_, EPOLL_CTL_ADD, p.backend->rx_fd(), &ev);
}

void Runtime::unwatch(dp::Port& p) {
  if (!p.backend || p.backend->rx_fd() < 0) return;
  epoll_ctl(epfd_, EPOLL_CTL_DEL, p.backend->rx_fd(), nullptr);
}

void Runtime::loop() {
  epoll_event evs[64];
  net::FrameBatch batch;
  while (!stop_) {
    const int n = epoll_wait(epfd_, evs, 64, 500);
    const uint64_t now = now_ns();
    for (int i = 0; i < n; ++i) {
      if (evs[i].data.u64 == UINT64_MAX) {
        uint64_t v;
        (void)!read(wakefd_, &v, sizeof v);
        continue;
      }
      const auto id = static_cast<uint32_t>(evs[i].data.u64);
      if (id >= dp_.ports().size() || !dp_.ports()[id]) continue;  // removed this round
      dp::Port& p = dp_.port(id);
      if (p.backend->failed()) continue;  // reported already
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
        std::lock_guard<std::mutex> g(mu_);
        failed_.push_back(p.name);
      }
    }
    run_commands();
  }
}

}  // namespace kvnet::io
