// The mount namespace that kvnetd's named network namespaces live in.
//
// A container is a network namespace bind-mounted at /run/netns/NAME (as
// `ip netns add` does), so that `ip netns exec NAME` and `kvnetctl ct exec`
// find it. A bind mount exists in the mount namespace that made it and in
// those it propagates to. kvnetd started as `ip netns exec HOST kvnetd` runs
// in a mount namespace of its own (ip unshares one, a slave of the host's, to
// remount /sys): mounts made there are seen by nobody else, and `ip netns
// exec C` outside fails with "Invalid argument".
//
// So kvnetd runs iproute2 in the host's mount namespace: choose() picks it
// once, at start-up — PID 1's; when /proc/1/ns/mnt may not be opened (a
// sandbox, reduced capabilities) the outermost ancestor's that may — and
// spawn() starts commands there, in a child that setns()es into it before
// exec. /run/netns there is a shared mount (iproute2 makes it one), so the
// mounts propagate to every slave namespace, kvnetd's own included. When
// kvnetd already shares that namespace (started plainly, by `nsenter --net`,
// by systemd with dist/kvnetd.service) nothing changes: commands are spawned
// as they are.
//
// Thread-safety: choose() before any thread starts; spawn() from any thread
// after.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "base/result.h"

namespace kvnet::daemon {

struct HostMountsChoice {
  bool entered = false;  // commands run in another mount namespace than kvnetd's
  bool warning = false;  // the namespaces kvnetd makes stay private to it
  std::string note;      // one line for the log: what was chosen and why
};

// Picks the host's mount namespace (looks at kvnetd's ancestors: call before
// daemonizing). Never fails: at worst commands run in kvnetd's own namespace
// and the note says so.
HostMountsChoice choose_host_mounts();

// Starts argv (PATH searched) with stdin /dev/null and stdout and stderr on
// out_fd, in the chosen mount namespace. Returns the child's pid.
Result<pid_t> spawn_in_host_mounts(const std::vector<std::string>& argv, int out_fd);

}  // namespace kvnet::daemon
