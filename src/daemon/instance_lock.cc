#include "daemon/instance_lock.h"

#include <fcntl.h>
#include <signal.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace kvnet::daemon {
namespace {

using Clock = std::chrono::steady_clock;
constexpr unsigned kPfExiting = 0x4;  // PF_EXITING in /proc/PID/stat's flags

pid_t read_pid(int fd) {
  char buf[32] = {};
  // SAFETY: pread writes at most sizeof buf - 1 bytes into the local buffer.
  const ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return 0;
  return static_cast<pid_t>(std::strtol(buf, nullptr, 10));
}

enum class Life { kGone, kExiting, kAlive };

// Whether `pid` still exists, and whether it is on its way out. Its pidfd
// turns readable only once every thread has exited (so every file, every
// TAP, is closed). Before that, it is exiting if SIGKILL is pending (sent,
// not yet acted on), if its main thread is a zombie (other threads still
// closing files) or if it has PF_EXITING.
Life life_of(pid_t pid) {
  const int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) return errno == ESRCH ? Life::kGone : Life::kAlive;
  pollfd p{pidfd, POLLIN, 0};
  const bool dead = poll(&p, 1, 0) == 1;
  close(pidfd);
  if (dead) return Life::kGone;
  const std::string dir = "/proc/" + std::to_string(pid);
  std::ifstream status(dir + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("State:", 0) == 0 && line.find('Z') != std::string::npos) return Life::kExiting;
    if (line.rfind("SigPnd:", 0) != 0 && line.rfind("ShdPnd:", 0) != 0) continue;
    const unsigned long long pending = std::strtoull(line.c_str() + 7, nullptr, 16);
    if (pending & (1ULL << (SIGKILL - 1))) return Life::kExiting;
  }
  std::ifstream f(dir + "/stat");
  std::string stat;
  if (!f || !std::getline(f, stat)) return Life::kGone;
  const auto paren = stat.rfind(')');
  if (paren == std::string::npos) return Life::kGone;
  std::istringstream rest(stat.substr(paren + 1));
  std::string state;
  long skip;
  unsigned long flags = 0;
  rest >> state >> skip >> skip >> skip >> skip >> skip >> flags;
  return (flags & kPfExiting) ? Life::kExiting : Life::kAlive;
}

std::string holder_text(pid_t pid) { return pid > 0 ? "kvnetd PID " + std::to_string(pid) : "another kvnetd"; }

void say(const LockOptions& o, const std::string& msg) {
  if (o.log) o.log(msg);
}

}  // namespace

pid_t lock_holder(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  const pid_t pid = read_pid(fd);
  close(fd);
  return pid;
}

InstanceLock& InstanceLock::operator=(InstanceLock&& o) noexcept {
  if (this != &o) {
    release();
    fd_ = o.fd_;
    path_ = std::move(o.path_);
    o.fd_ = -1;
  }
  return *this;
}

void InstanceLock::release() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

void InstanceLock::remove_and_release() {
  if (fd_ >= 0) unlink(path_.c_str());
  release();
}

Result<InstanceLock> InstanceLock::acquire(const std::string& path, const std::string& what, const LockOptions& opts) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  InstanceLock lock;
  lock.path_ = path;
  lock.fd_ = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (lock.fd_ < 0) return Error{what + ": cannot open lock file '" + path + "': " + std::strerror(errno)};
  const auto deadline = Clock::now() + opts.wait_for_exiting;
  const auto give_pid_time = Clock::now() + std::chrono::milliseconds(500);
  pid_t waited_for = 0;
  for (;;) {
    if (flock(lock.fd_, LOCK_EX | LOCK_NB) == 0) break;
    if (errno == EINTR) continue;
    if (errno != EWOULDBLOCK) return Error{what + ": cannot lock '" + path + "': " + std::strerror(errno)};
    const pid_t holder = read_pid(lock.fd_);
    const bool exiting = holder > 0 && life_of(holder) == Life::kExiting;
    // A holder that has just locked may not have written its PID yet.
    const bool pid_pending = holder == 0 && Clock::now() < give_pid_time;
    if ((exiting && Clock::now() < deadline) || pid_pending) {
      if (exiting && waited_for != holder) {
        say(opts, what + " is held by " + holder_text(holder) + ", which is exiting: waiting for it (up to " +
                      std::to_string(opts.wait_for_exiting.count() / 1000) + " s)");
        waited_for = holder;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    if (exiting)
      return Error{what + " is still held by " + holder_text(holder) + ", which has been exiting for " +
                   std::to_string(opts.wait_for_exiting.count() / 1000) + " s (lock file '" + path + "')"};
    return Error{what + " is in use by " + holder_text(holder) + " (lock file '" + path + "')"};
  }
  // Ours. The previous holder may have dropped the lock while still closing
  // its other files (its TAPs): wait for it to be gone.
  const pid_t previous = read_pid(lock.fd_);
  if (previous > 0 && previous != getpid()) {
    bool told = false;
    while (life_of(previous) == Life::kExiting) {
      if (Clock::now() >= deadline)
        return Error{what + ": the previous " + holder_text(previous) + " has been exiting for " +
                     std::to_string(opts.wait_for_exiting.count() / 1000) + " s"};
      if (!told) say(opts, "waiting for the previous " + holder_text(previous) + " (exiting) to release its devices");
      told = true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  const std::string me = std::to_string(getpid()) + "\n";
  // SAFETY: pwrite reads the bytes of a string we own.
  if (ftruncate(lock.fd_, 0) < 0 || pwrite(lock.fd_, me.data(), me.size(), 0) != static_cast<ssize_t>(me.size()))
    return Error{what + ": cannot write lock file '" + path + "': " + std::strerror(errno)};
  return lock;
}

}  // namespace kvnet::daemon
