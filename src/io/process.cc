#include "io/process.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

extern char** environ;

namespace kvnet::io {

Result<pid_t> spawn(const std::vector<std::string>& argv, const SpawnOptions& o) {
  if (argv.empty()) return Error{"nothing to start"};
  // The fds are moved out of the way first, so that no source fd is also a
  // target: dup2 onto itself would leave close-on-exec set.
  std::vector<int> high;
  auto close_high = [&] {
    for (int fd : high) ::close(fd);
  };
  for (int fd : o.fds) {
    const int h = fcntl(fd, F_DUPFD_CLOEXEC, 1000);
    if (h < 0) {
      const int e = errno;
      close_high();
      return Error{std::string("cannot duplicate an fd for ") + argv[0] + ": " + std::strerror(e)};
    }
    high.push_back(h);
  }
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, o.log.c_str(), O_WRONLY | O_CREAT | (o.append_log ? O_APPEND : O_TRUNC),
                                   0640);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  for (size_t i = 0; i < high.size(); ++i)
    posix_spawn_file_actions_adddup2(&fa, high[i], o.first_fd + static_cast<int>(i));
  // Nothing else of kvnetd's reaches the child, even an fd another thread
  // opened without close-on-exec (a library's accepted HTTP connection).
  posix_spawn_file_actions_addclosefrom_np(&fa, std::max(3, high.empty() ? 3 : o.first_fd + static_cast<int>(high.size())));
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  for (int s : {SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGQUIT, SIGUSR1, SIGUSR2}) sigaddset(&defaults, s);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, static_cast<short>((o.new_session ? POSIX_SPAWN_SETSID : 0) |
                                                     POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF));
  std::vector<char*> args;
  for (const auto& s : argv) args.push_back(const_cast<char*>(s.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, args[0], &fa, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  close_high();
  if (rc != 0) return Error{"cannot start " + argv[0] + ": " + std::strerror(rc)};
  return pid;
}

std::vector<std::string> proc_cmdline(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  std::vector<std::string> out;
  std::string arg;
  while (std::getline(in, arg, '\0')) out.push_back(arg);
  return out;
}

std::string proc_exe(pid_t pid) {
  std::error_code ec;
  std::string exe = std::filesystem::read_symlink("/proc/" + std::to_string(pid) + "/exe", ec).string();
  if (ec) return "";
  constexpr std::string_view kDeleted = " (deleted)";
  if (exe.size() > kDeleted.size() && exe.compare(exe.size() - kDeleted.size(), kDeleted.size(), kDeleted) == 0)
    exe.resize(exe.size() - kDeleted.size());
  return exe;
}

std::string find_in_path(const std::string& name) {
  if (name.empty() || name.find('/') != std::string::npos) return name;
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path && *path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  std::string d;
  while (std::getline(dirs, d, ':')) {
    const std::string f = (d.empty() ? "." : d) + "/" + name;
    if (::access(f.c_str(), X_OK) == 0) return f;
  }
  return "";
}

bool is_process(pid_t pid, const ProcessIdentity& id) {
  if (pid <= 0) return false;
  const auto argv = proc_cmdline(pid);
  if (argv.empty() || (id.cmdline && !id.cmdline(argv))) return false;
  if (id.exe.empty()) return true;
  const std::string want = find_in_path(id.exe);
  const std::string have = proc_exe(pid);
  if (want.empty() || have.empty()) return false;
  std::error_code ec;
  const auto canon = std::filesystem::weakly_canonical(want, ec);
  return have == (ec ? want : canon.string());
}

pid_t find_by_pidfile(const std::string& pidfile, const ProcessIdentity& id) {
  std::ifstream in(pidfile);
  long pid = 0;
  if (!(in >> pid) || pid <= 0 || pid > INT_MAX) return 0;
  return is_process(static_cast<pid_t>(pid), id) ? static_cast<pid_t>(pid) : 0;
}

int pidfd_open(pid_t pid) { return pid > 0 ? static_cast<int>(syscall(SYS_pidfd_open, pid, 0)) : -1; }

bool wait_exit(int pidfd, std::chrono::milliseconds timeout) {
  pollfd p{pidfd, POLLIN, 0};
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    const int r = ::poll(&p, 1, static_cast<int>(std::max<int64_t>(0, left.count())));
    if (r > 0) return true;
    if (r < 0 && errno != EINTR) return false;
    if (r == 0 && std::chrono::steady_clock::now() >= deadline) return false;
  }
}

bool send_signal(pid_t pid, int sig) {
  const int fd = pidfd_open(pid);
  if (fd < 0) return false;
  const bool ok = syscall(SYS_pidfd_send_signal, fd, sig, nullptr, 0) == 0;
  ::close(fd);
  return ok;
}

bool terminate(pid_t pid, std::chrono::milliseconds grace) {
  const int fd = pidfd_open(pid);
  if (fd < 0) return true;  // gone already
  bool gone = syscall(SYS_pidfd_send_signal, fd, SIGTERM, nullptr, 0) != 0 && errno == ESRCH;
  if (!gone) gone = wait_exit(fd, grace);
  if (!gone) {
    syscall(SYS_pidfd_send_signal, fd, SIGKILL, nullptr, 0);
    gone = wait_exit(fd, std::chrono::milliseconds(5000));
  }
  ::close(fd);
  return gone;
}

std::string wait_status_text(int st) {
  if (WIFSIGNALED(st)) {
    const int sig = WTERMSIG(st);
    const char* name = sigabbrev_np(sig);
    return "killed by signal " + std::to_string(sig) + (name ? std::string(" (SIG") + name + ")" : "");
  }
  if (WIFEXITED(st)) return "exit status " + std::to_string(WEXITSTATUS(st));
  return "stopped (wait status " + std::to_string(st) + ")";
}

}  // namespace kvnet::io
