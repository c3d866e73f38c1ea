#include "daemon/supervisor.h"

#include <csignal>

namespace kvnet::daemon {

using Clock = std::chrono::steady_clock;

Supervisor::Supervisor(EventLoop& loop, Backoff backoff) : loop_(loop), backoff_(backoff) {}

Supervisor::~Supervisor() {
  for (auto& [key, p] : procs_) loop_.cancel_timer(p.restart_timer);
}

Status Supervisor::watch(const std::string& key, Proc& p, pid_t pid, ExitFn on_exit) {
  const uint64_t gen = ++generation_;
  std::weak_ptr<bool> alive = alive_;
  auto s = loop_.watch_child(pid, [this, alive, key, gen](int st) {
    if (alive.expired()) return;
    auto it = procs_.find(key);
    if (it == procs_.end() || it->second.generation != gen || !it->second.pid) return;  // ended on purpose
    it->second.pid = 0;
    ExitFn fn = it->second.on_exit;  // it may start the next process under this key
    if (fn) fn(st);
  });
  if (!s) return s;
  p.pid = pid;
  p.generation = gen;
  p.started = Clock::now();
  p.on_exit = std::move(on_exit);
  return Ok{};
}

Result<pid_t> Supervisor::spawn(const std::string& key, const std::vector<std::string>& argv,
                                const io::SpawnOptions& o, ExitFn on_exit) {
  if (pid(key)) return Error{"'" + key + "' runs already (pid " + std::to_string(pid(key)) + ")"};
  auto pid = io::spawn(argv, o);
  if (!pid) return pid.error();
  Proc& p = procs_[key];
  if (auto s = watch(key, p, *pid, std::move(on_exit)); !s) {  // unwatched, it could not be seen to exit
    io::send_signal(*pid, SIGKILL);
    return s.error();
  }
  return *pid;
}

pid_t Supervisor::adopt(const std::string& key, const std::string& pidfile, const io::ProcessIdentity& id,
                        ExitFn on_exit) {
  if (pid(key)) return 0;
  const pid_t found = io::find_by_pidfile(pidfile, id);
  if (!found) return 0;
  if (!watch(key, procs_[key], found, std::move(on_exit))) return 0;
  return found;
}

bool Supervisor::terminate(const std::string& key, std::chrono::milliseconds grace) {
  auto it = procs_.find(key);
  if (it == procs_.end()) return true;
  const pid_t pid = it->second.pid;
  loop_.cancel_timer(it->second.restart_timer);
  procs_.erase(it);  // before its exit can be reported
  // The loop still reaps it (its pidfd callback finds no key).
  return !pid || io::terminate(pid, grace);
}

void Supervisor::forget(const std::string& key) {
  auto it = procs_.find(key);
  if (it == procs_.end()) return;
  loop_.cancel_timer(it->second.restart_timer);
  procs_.erase(it);
}

bool Supervisor::signal(const std::string& key, int sig) {
  const pid_t p = pid(key);
  return p && io::send_signal(p, sig);
}

pid_t Supervisor::pid(const std::string& key) const {
  auto it = procs_.find(key);
  return it == procs_.end() ? 0 : it->second.pid;
}

void Supervisor::restart_later(const std::string& key, std::function<void()> start) {
  Proc& p = procs_[key];
  if (p.started != Clock::time_point{} && Clock::now() - p.started >= backoff_.stable) p.backoff = {};
  p.started = {};  // a start that fails again does not reset it
  p.backoff = p.backoff.count() ? std::min(p.backoff * 2, backoff_.max) : backoff_.first;
  loop_.cancel_timer(p.restart_timer);
  std::weak_ptr<bool> alive = alive_;
  p.restart_timer = loop_.add_timer(p.backoff, [this, alive, key, start = std::move(start)] {
    if (alive.expired()) return;
    auto it = procs_.find(key);
    if (it == procs_.end()) return;
    it->second.restart_timer = 0;
    start();
  });
}

bool Supervisor::restart_scheduled(const std::string& key) const {
  auto it = procs_.find(key);
  return it != procs_.end() && it->second.restart_timer != 0;
}

}  // namespace kvnet::daemon
