#include "io/process.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstring>
#include <fstream>

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
