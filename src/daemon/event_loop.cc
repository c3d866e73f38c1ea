#include "daemon/event_loop.h"

#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace kvnet::daemon {
namespace {

Error sys_error(const std::string& what) { return Error{"event loop: " + what + ": " + std::strerror(errno)}; }

uint64_t key(int fd, uint32_t generation) { return (uint64_t{generation} << 32) | static_cast<uint32_t>(fd); }

}  // namespace

Result<std::unique_ptr<EventLoop>> EventLoop::create() {
  std::unique_ptr<EventLoop> loop(new EventLoop());
  loop->epfd_ = epoll_create1(EPOLL_CLOEXEC);
  if (loop->epfd_ < 0) return sys_error("epoll_create1");
  loop->wakefd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (loop->wakefd_ < 0) return sys_error("eventfd");
  EventLoop* self = loop.get();
  auto s = loop->add_fd(loop->wakefd_, EPOLLIN, [self](uint32_t) {
    uint64_t v;
    // SAFETY: reads 8 bytes into a local of that size.
    (void)!read(self->wakefd_, &v, sizeof v);
    self->run_posted();
  });
  if (!s) return s.error();
  return loop;
}

EventLoop::~EventLoop() {
  for (const auto& [pidfd, pid] : children_) close(pidfd);
  if (sigfd_ >= 0) close(sigfd_);
  if (wakefd_ >= 0) close(wakefd_);
  if (epfd_ >= 0) close(epfd_);
}

Status EventLoop::add_fd(int fd, uint32_t events, FdCallback cb) {
  if (fds_.count(fd)) return Error{"event loop: fd " + std::to_string(fd) + " is already watched"};
  const uint32_t gen = ++generation_;
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = key(fd, gen);
  // SAFETY: epoll_ctl copies the epoll_event we own.
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) < 0) return sys_error("watching fd " + std::to_string(fd));
  fds_[fd] = FdEntry{gen, std::make_shared<FdCallback>(std::move(cb))};
  return Ok{};
}

Status EventLoop::modify_fd(int fd, uint32_t events) {
  auto it = fds_.find(fd);
  if (it == fds_.end()) return Error{"event loop: fd " + std::to_string(fd) + " is not watched"};
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = key(fd, it->second.generation);
  // SAFETY: epoll_ctl copies the epoll_event we own.
  if (epoll_ctl(epfd_, EPOLL_CTL_MOD, fd, &ev) < 0) return sys_error("changing fd " + std::to_string(fd));
  return Ok{};
}

void EventLoop::remove_fd(int fd) {
  if (fds_.erase(fd)) epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
}

EventLoop::TimerId EventLoop::add_timer(std::chrono::milliseconds delay, TimerCallback cb) {
  const TimerId id = next_timer_++;
  const auto due = Clock::now() + delay;
  timers_[id] = Timer{due, std::chrono::milliseconds(0), std::move(cb)};
  queue_.insert({due, id});
  return id;
}

EventLoop::TimerId EventLoop::add_periodic(std::chrono::milliseconds period, TimerCallback cb) {
  if (period.count() <= 0) period = std::chrono::milliseconds(1);
  const TimerId id = add_timer(period, std::move(cb));
  timers_[id].period = period;
  return id;
}

void EventLoop::cancel_timer(TimerId id) {
  auto it = timers_.find(id);
  if (it == timers_.end()) return;
  queue_.erase({it->second.due, id});
  timers_.erase(it);
}

Status EventLoop::watch_child(pid_t pid, ChildCallback cb) {
  const int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) return sys_error("pidfd_open for pid " + std::to_string(pid));
  auto s = add_fd(pidfd, EPOLLIN, [this, pidfd, pid, cb = std::move(cb)](uint32_t) {
    int status = 0;
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == 0) return;  // not yet (spurious wake-up)
    remove_fd(pidfd);
    children_.erase(pidfd);
    close(pidfd);
    if (r == pid) cb(status);
    else cb(-1);  // reaped elsewhere: the status is lost
  });
  if (!s) {
    close(pidfd);
    return s;
  }
  children_[pidfd] = pid;
  return Ok{};
}

Status EventLoop::on_signals(const std::vector<int>& signals, SignalCallback cb) {
  if (sigfd_ >= 0) return Error{"event loop: signals are already handled"};
  sigset_t mask;
  sigemptyset(&mask);
  for (int s : signals) sigaddset(&mask, s);
  if (pthread_sigmask(SIG_BLOCK, &mask, nullptr) != 0) return sys_error("blocking signals");
  sigfd_ = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  if (sigfd_ < 0) return sys_error("signalfd");
  return add_fd(sigfd_, EPOLLIN, [this, cb = std::move(cb)](uint32_t) {
    signalfd_siginfo si;
    // SAFETY: signalfd writes whole signalfd_siginfo records into the local.
    while (read(sigfd_, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) cb(static_cast<int>(si.ssi_signo));
  });
}

void EventLoop::stop() {
  stop_ = true;
  const uint64_t one = 1;
  // SAFETY: writes 8 bytes from a local of that size.
  (void)!write(wakefd_, &one, sizeof one);
}

void EventLoop::post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> g(mu_);
    posted_.push_back(std::move(fn));
  }
  const uint64_t one = 1;
  // SAFETY: writes 8 bytes from a local of that size.
  (void)!write(wakefd_, &one, sizeof one);
}

void EventLoop::run_posted() {
  std::vector<std::function<void()>> fns;
  {
    std::lock_guard<std::mutex> g(mu_);
    fns.swap(posted_);
  }
  for (auto& fn : fns) guarded("posted task", fn);
}

void EventLoop::guarded(const char* what, const std::function<void()>& fn) {
  std::string failure;
  try {
    fn();
    return;
  } catch (const std::exception& e) {
    failure = e.what();
  } catch (...) {
    failure = "unknown exception";
  }
  report(std::string("event loop: ") + what + " failed: " + failure);
}

void EventLoop::report(const std::string& msg) {
  if (error_sink_) error_sink_(msg);
  else std::fprintf(stderr, "%s\n", msg.c_str());
}

int EventLoop::timeout_ms(std::chrono::milliseconds cap) const {
  if (queue_.empty()) return static_cast<int>(cap.count());
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(queue_.begin()->first - Clock::now());
  if (left.count() <= 0) return 0;
  return static_cast<int>(std::min(left, cap).count());
}

void EventLoop::run_due_timers() {
  const auto now = Clock::now();
  // Only timers due now: one re-armed with a zero delay waits for the next round.
  std::vector<TimerId> due;
  for (auto it = queue_.begin(); it != queue_.end() && it->first <= now; ++it) due.push_back(it->second);
  for (TimerId id : due) {
    auto it = timers_.find(id);
    if (it == timers_.end()) continue;  // cancelled by an earlier callback
    queue_.erase({it->second.due, id});
    TimerCallback cb = it->second.cb;
    if (it->second.period.count() > 0) {
      it->second.due = now + it->second.period;
      queue_.insert({it->second.due, id});
    } else {
      timers_.erase(it);
    }
    guarded("timer", cb);
  }
}

void EventLoop::run_once(std::chrono::milliseconds timeout) {
  thread_.store(std::this_thread::get_id(), std::memory_order_relaxed);
  epoll_event evs[64];
  const int n = epoll_wait(epfd_, evs, 64, timeout_ms(timeout));
  if (n < 0 && errno != EINTR) {
    report(std::string("event loop: epoll_wait failed: ") + std::strerror(errno));
    return;
  }
  for (int i = 0; i < n; ++i) {
    const int fd = static_cast<int>(evs[i].data.u64 & 0xffffffffu);
    const auto gen = static_cast<uint32_t>(evs[i].data.u64 >> 32);
    auto it = fds_.find(fd);
    if (it == fds_.end() || it->second.generation != gen) continue;  // removed during this round
    auto cb = it->second.cb;
    const uint32_t events = evs[i].events;
    guarded("fd callback", [&] { (*cb)(events); });
  }
  run_due_timers();
}

void EventLoop::run() {
  while (!stop_) run_once(std::chrono::milliseconds(1000));
}

}  // namespace kvnet::daemon
