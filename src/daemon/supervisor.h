// kvnetd's long-running helper processes, one QEMU per VM and one dnsmasq
// per gateway, on the control loop: the one place that starts them, knows
// them again after a kvnetd restart, watches them, ends them and restarts
// them with backoff. VmHost and KernelGatewayHost each keep one, keyed by
// the VM's or the gateway's name.
//
//   spawn(key, argv, ...)      start a child and watch it
//   adopt(key, pidfile, id)    watch a process kvnetd did not just spawn: one
//                              an earlier kvnetd started (both survive it), or
//                              a daemon's forked child (dnsmasq). The pidfile
//                              only names a candidate: its command line and
//                              executable must be `id` (io::is_process), so a
//                              recycled pid or a pidfile written by someone
//                              else is never taken for ours.
//   terminate(key, grace)      SIGTERM through a pidfd, SIGKILL after grace;
//                              returns once the process is gone (a VM's TAPs
//                              go with it), at most grace + 5 s
//   restart_later(key, start)  `start` after a backoff: 1 s, doubling to 30 s
//                              while the process keeps dying within 30 s of
//                              its start, reset by a longer run
// A process's end is reported once, to the `on_exit` it was started or
// adopted with, with its wait status (-1: not kvnetd's child, unknown);
// never for a process that was terminated or forgotten, and never for an
// earlier process under the same key (a VM deleted and defined again).
// Nothing is killed when the supervisor goes: QEMU and dnsmasq outlive kvnetd.
//
// Thread-safety: the control thread only (the loop's).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "daemon/event_loop.h"
#include "io/process.h"

namespace kvnet::daemon {

struct Backoff {
  std::chrono::milliseconds first{1000}, max{30000};
  std::chrono::milliseconds stable{30000};  // a run this long resets the backoff
};

class Supervisor {
 public:
  using ExitFn = std::function<void(int wait_status)>;
  explicit Supervisor(EventLoop& loop, Backoff backoff = {});
  ~Supervisor();  // the processes keep running
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  Result<pid_t> spawn(const std::string& key, const std::vector<std::string>& argv, const io::SpawnOptions& o,
                      ExitFn on_exit);
  // 0 when the pidfile names no process that is `id`.
  pid_t adopt(const std::string& key, const std::string& pidfile, const io::ProcessIdentity& id, ExitFn on_exit);
  // Ends the process (if any) and forgets the key; false if it would not die.
  bool terminate(const std::string& key, std::chrono::milliseconds grace);
  // Stops watching the key's process without ending it, and forgets the key.
  void forget(const std::string& key);
  bool signal(const std::string& key, int sig);  // false: no process

  pid_t pid(const std::string& key) const;  // 0: none running

  void restart_later(const std::string& key, std::function<void()> start);
  bool restart_scheduled(const std::string& key) const;

 private:
  struct Proc {
    pid_t pid = 0;
    uint64_t generation = 0;  // of the process being watched
    std::chrono::steady_clock::time_point started;
    std::chrono::milliseconds backoff{0};
    EventLoop::TimerId restart_timer = 0;
    ExitFn on_exit;
  };
  Status watch(const std::string& key, Proc& p, pid_t pid, ExitFn on_exit);

  EventLoop& loop_;
  Backoff backoff_;
  std::map<std::string, Proc> procs_;
  uint64_t generation_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // the loop's callbacks may outlive us
};

}  // namespace kvnet::daemon
