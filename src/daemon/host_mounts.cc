#include "daemon/host_mounts.h"

#include <fcntl.h>
#include <sched.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

extern char** environ;

namespace kvnet::daemon {

namespace {

// The chosen namespace (an nsfs fd), or -1: spawn where kvnetd is.
int g_host_mnt = -1;

std::string mnt_path(pid_t pid) { return "/proc/" + std::to_string(pid) + "/ns/mnt"; }

// The parent of `pid` from /proc/PID/stat ("pid (comm) state ppid ..."; comm
// may hold spaces and parentheses), 0 if unknown.
pid_t parent_of(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(f, line)) return 0;
  const auto close = line.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(line.substr(close + 1));
  std::string state;
  long ppid = 0;
  rest >> state >> ppid;
  return static_cast<pid_t>(ppid);
}

// The id of the mount at "/" in PID's mount table: mount ids are unique in
// the system and a new mount namespace copies its mounts under new ids, so
// equal ids mean one namespace. /proc/PID/mountinfo is readable where
// /proc/PID/ns/mnt (which needs ptrace access) may not be.
std::string root_mount_id(const std::string& pid) {
  std::ifstream f("/proc/" + pid + "/mountinfo");
  std::string line;
  while (std::getline(f, line)) {
    std::istringstream w(line);
    std::string id, parent, dev, root, point;
    if (w >> id >> parent >> dev >> root >> point && point == "/") return id;
  }
  return "";
}

bool same_namespace(int fd) {
  struct stat a {}, b {};
  return fstat(fd, &a) == 0 && stat("/proc/self/ns/mnt", &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

// Whether setns() into fd works (it needs CAP_SYS_ADMIN and CAP_SYS_CHROOT):
// tried in a child, so that kvnetd itself stays where it is.
int try_enter(int fd) {
  const pid_t pid = fork();
  if (pid < 0) return errno;
  if (pid == 0) _exit(setns(fd, CLONE_NEWNS) == 0 ? 0 : (errno & 0xff));
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : EINVAL;
}

// PID 1, then kvnetd's ancestors from the outermost in; the first whose
// mount namespace may be opened. Returns the fd (or -1) and which pid.
std::pair<int, pid_t> open_outermost() {
  std::vector<pid_t> chain;
  for (pid_t p = getppid(); p > 1 && chain.size() < 64; p = parent_of(p)) chain.push_back(p);
  chain.push_back(1);
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    const int fd = open(mnt_path(*it).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) return {fd, *it};
  }
  return {-1, 0};
}

}  // namespace

HostMountsChoice choose_host_mounts() {
  HostMountsChoice c;
  auto [fd, pid] = open_outermost();
  if (fd < 0) {
    const std::string mine = root_mount_id("self"), init = root_mount_id("1");
    if (!mine.empty() && mine == init) {
      c.note = "network namespaces are mounted in PID 1's mount namespace (kvnetd's own)";
    } else {
      c.warning = true;
      c.note = "kvnetd runs in a mount namespace of its own and may not open PID 1's (" + mnt_path(1) +
               "): containers' network namespaces are visible only inside kvnetd";
    }
    return c;
  }
  const std::string whose = pid == 1 ? "PID 1's" : "process " + std::to_string(pid) + "'s";
  if (same_namespace(fd)) {
    close(fd);
    c.note = "network namespaces are mounted in " + whose + " mount namespace (kvnetd's own)";
    return c;
  }
  if (const int err = try_enter(fd); err != 0) {
    close(fd);
    c.warning = true;
    c.note = "kvnetd runs in a mount namespace of its own and cannot enter " + whose + " (setns: " +
             std::strerror(err) + "): containers' network namespaces are visible only inside kvnetd";
    return c;
  }
  g_host_mnt = fd;
  c.entered = true;
  c.note = "kvnetd runs in a mount namespace of its own: network namespaces are mounted in " + whose +
           ", where `ip netns` and `kvnetctl ct exec` see them";
  return c;
}

Result<pid_t> spawn_in_host_mounts(const std::vector<std::string>& argv, int out_fd) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  if (g_host_mnt < 0) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
    posix_spawn_file_actions_adddup2(&fa, out_fd, 2);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    pid_t pid;
    const int rc = posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) return Error{std::strerror(rc)};
    return pid;
  }
  // The child reports a failed setns or exec through a close-on-exec pipe:
  // nothing arrives when the exec worked. Between fork and exec only
  // async-signal-safe calls (kvnetd has threads).
  int err_pipe[2];
  if (pipe2(err_pipe, O_CLOEXEC) < 0) return Error{std::string("pipe: ") + std::strerror(errno)};
  const pid_t pid = fork();
  if (pid < 0) {
    const int e = errno;
    close(err_pipe[0]);
    close(err_pipe[1]);
    return Error{std::string("fork: ") + std::strerror(e)};
  }
  if (pid == 0) {
    int e = 0;
    const int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (setns(g_host_mnt, CLONE_NEWNS) < 0 || null < 0 || dup2(null, 0) < 0 || dup2(out_fd, 1) < 0 ||
        dup2(out_fd, 2) < 0)
      e = errno;
    else
      execvp(args[0], args.data());
    if (e == 0) e = errno;
    (void)!write(err_pipe[1], &e, sizeof e);
    _exit(127);
  }
  close(err_pipe[1]);
  int child_errno = 0;
  ssize_t n;
  while ((n = read(err_pipe[0], &child_errno, sizeof child_errno)) < 0 && errno == EINTR) {
  }
  close(err_pipe[0]);
  if (n == static_cast<ssize_t>(sizeof child_errno)) {
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return Error{std::strerror(child_errno)};
  }
  return pid;
}

}  // namespace kvnet::daemon
