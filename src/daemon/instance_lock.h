// One kvnetd per database, per socket, per pidfile.
//
// An InstanceLock is an exclusive flock(2) on a file that holds the PID of
// its holder. kvnetd takes one on `DB.lock`, one on `SOCKET.lock` and one on
// its pidfile before it touches anything (before the database is opened for
// writing, the socket bound or the configuration restored). The kernel drops
// a flock when its holder dies, so a lock is never stale; lock files are left
// in place (removing them would race with the next taker). The pidfile is
// the exception: its holder removes it on a clean stop.
//
// A holder that is exiting (killed with -9, still closing hundreds of TAPs)
// is waited for, up to `wait_for_exiting`: the new daemon would otherwise
// find its interfaces busy. The kernel may release the flock before the old
// process has closed its other fds, so a lock taken whose previous holder
// (the PID in the file) is still exiting is waited for too.
//
// Thread-safety: none needed; taken once at start.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>

#include "base/result.h"

namespace kvnet::daemon {

struct LockOptions {
  std::chrono::milliseconds wait_for_exiting{15000};
  std::function<void(const std::string&)> log;  // "waiting for PID N ..." (may be null)
};

class InstanceLock {
 public:
  // Takes the lock on `path` (created 0644 if missing) and writes our PID
  // into it. `what` names the guarded object in messages ("database
  // '/var/lib/kvnet/kvnet.db'"). Fails, having changed nothing, when another
  // live process holds it: "database '...' is in use by kvnetd PID 123".
  static Result<InstanceLock> acquire(const std::string& path, const std::string& what, const LockOptions& opts = {});

  InstanceLock() = default;
  InstanceLock(InstanceLock&& o) noexcept : fd_(o.fd_), path_(std::move(o.path_)) { o.fd_ = -1; }
  InstanceLock& operator=(InstanceLock&& o) noexcept;
  ~InstanceLock() { release(); }

  // Removes the file, then drops the lock (for a pidfile).
  void remove_and_release();
  void release();
  bool held() const { return fd_ >= 0; }
  const std::string& path() const { return path_; }

 private:
  int fd_ = -1;
  std::string path_;
};

// The PID recorded in a lock file, or 0.
pid_t lock_holder(const std::string& path);

}  // namespace kvnet::daemon
