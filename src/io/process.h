// Processes kvnetd starts and watches (QEMU, dnsmasq): spawning them
// cleanly, recognising one again from its pidfile (its command line and its
// executable, not the pidfile alone: a pid is recycled, a pidfile may be
// written by someone else), ending one through a pidfd (no recycled pid can
// be hit), and saying how they ended. daemon/supervisor.h puts these on the
// control loop.
//
// Thread-safety: plain functions; spawn() is async-signal-safe in the child
// (posix_spawn), callable from any thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "base/result.h"

namespace kvnet::io {

struct SpawnOptions {
  std::string log;           // stdout and stderr go here (stdin is /dev/null)
  bool append_log = false;   // else truncated
  std::vector<int> fds;      // passed to the child as first_fd, first_fd + 1, ...
  int first_fd = 3;
  bool new_session = false;  // setsid: the child outlives kvnetd's terminal and process group
};

// Starts argv (argv[0] looked up in PATH unless it has a '/') with an empty
// signal mask and default dispositions: kvnetd blocks SIGTERM and friends for
// its signalfd, and the child must not inherit that.
Result<pid_t> spawn(const std::vector<std::string>& argv, const SpawnOptions& o);

// /proc/PID/cmdline as words (empty if the process is gone).
std::vector<std::string> proc_cmdline(pid_t pid);
// /proc/PID/exe's target, without the " (deleted)" of a binary replaced by
// an upgrade ("" if the process is gone).
std::string proc_exe(pid_t pid);
// `name` if it holds a '/', else the first executable `name` in $PATH ("" if none).
std::string find_in_path(const std::string& name);

// What a process kvnetd started looks like, to know it again after a restart.
struct ProcessIdentity {
  std::string exe;  // the binary it must run (a path, or a name looked up in $PATH); "" not checked
  std::function<bool(const std::vector<std::string>& argv)> cmdline;  // its command line must pass this
};
// Whether `pid` is a live process that is `id`.
bool is_process(pid_t pid, const ProcessIdentity& id);
// The pid in `pidfile` if its process is `id`, else 0 (no file, a stale pid,
// someone else's process).
pid_t find_by_pidfile(const std::string& pidfile, const ProcessIdentity& id);

// A pidfd for `pid` (-1 if it is gone).
int pidfd_open(pid_t pid);
// Waits until the process behind `pidfd` has exited; false on timeout.
bool wait_exit(int pidfd, std::chrono::milliseconds timeout);
// Ends `pid` through a pidfd: SIGTERM, SIGKILL once `grace` has passed;
// waits for it to be gone (at most grace + 5 s). False if it still runs (a
// process stuck in the kernel).
bool terminate(pid_t pid, std::chrono::milliseconds grace);
// Sends `sig` through a pidfd. False if the process is gone.
bool send_signal(pid_t pid, int sig);

// A wait status as words: "exit status 1", "killed by signal 9 (SIGKILL)".
std::string wait_status_text(int status);

}  // namespace kvnet::io
