// Child processes kvnetd starts and watches (QEMU, dnsmasq): spawning them
// cleanly, reading what /proc says of them, and saying how they ended.
//
// Thread-safety: plain functions; spawn() is async-signal-safe in the child
// (posix_spawn), callable from any thread.
#pragma once

#include <sys/types.h>

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

// A wait status as words: "exit status 1", "killed by signal 9 (SIGKILL)".
std::string wait_status_text(int status);

}  // namespace kvnet::io
