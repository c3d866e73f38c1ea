// DHCP clients of containers with `ip: dhcp`: kvnetd runs busybox's udhcpc
// inside each such container's network namespace and keeps it running.
//
//   udhcpc runs as `ip netns exec NAME busybox udhcpc -f -i eth0 -s SCRIPT
//   -x hostname:NAME`, in its own session, in the foreground (it stays to
//   renew the lease; without a lease it keeps asking). SCRIPT is written by
//   kvnetd (udhcpc_script): on "bound"/"renew" it sets the leased address and
//   the default route through the lease's router on eth0 and records the
//   lease in the container's directory (ROOT/NAME/lease); on "deconfig" it
//   flushes eth0's IPv4 addresses and removes the record.
//
// Supervision by the Supervisor that also keeps QEMU and the gateways'
// dnsmasq (daemon/supervisor.h): each client is watched through a pidfd;
// when it dies it is started again after 1 s, doubling up to 30 s while it
// keeps dying within 30 s of a start.
// udhcpc outlives kvnetd (the lease keeps being renewed while kvnetd is
// down); a new kvnetd re-adopts it when its pidfile's process still runs
// kvnet's script (busybox with `-s SCRIPT`: io::ProcessIdentity) inside the
// container's current namespace, and otherwise
// starts a new one. Deleting the container (or changing it, which re-creates
// it) ends its client first (SIGTERM through the pidfd, SIGKILL after 2 s)
// and removes its directory.
//
// Thread-safety: the control thread only (the loop's).
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "base/result.h"
#include "ctl/topology.h"
#include "daemon/event_loop.h"
#include "daemon/supervisor.h"
#include "io/process.h"

namespace kvnet::daemon {

// A lease as the script records it ("key=value" lines).
struct CtLease {
  std::string ip;      // CIDR, "" none
  std::string router;  // the first router, "" none
  std::string server;  // the DHCP server's address
  std::string dns;     // the DNS servers, space-separated
  long lease_s = 0;    // the lease's duration
  long obtained = 0;   // when it was bound or renewed (Unix time)
};
CtLease parse_ct_lease(const std::string& text);

// The script udhcpc runs on its events (see above); it records the lease in
// `lease_file`.
std::string udhcpc_script(const std::string& container, const std::string& lease_file);

struct CtDhcpStatus {
  std::string client;  // "running", "restarting", "failed", "none" (not dhcp)
  pid_t pid = 0;
  int restarts = 0;
  std::string last_exit, error;
  CtLease lease;
};

class CtDhcpClients {
 public:
  // `root`: a directory per container (script, pidfile, lease, log).
  // `busybox`: the binary that has udhcpc ($KVNET_BUSYBOX).
  CtDhcpClients(EventLoop& loop, std::string root, std::string busybox = "busybox");
  // The clients keep running when it goes.
  CtDhcpClients(const CtDhcpClients&) = delete;
  CtDhcpClients& operator=(const CtDhcpClients&) = delete;

  // A client for each container with ip=dhcp, none for the others; one
  // already running in the container (from before kvnetd restarted) is
  // adopted. A client that cannot start is retried (status says why).
  void sync(const std::vector<ctl::ContainerSpec>& containers);
  // Ends the container's client (before its namespace goes) and removes its
  // directory.
  void stop(const std::string& container);
  CtDhcpStatus status(const std::string& container) const;

 private:
  // What a client's process is, its restarts and backoff, are sup_'s.
  struct Client {
    std::string port;  // the container's port, to tell a re-created container
    pid_t pid = 0;  // the last process started or adopted (sup_.pid: the running one)
    int restarts = 0;
    std::string last_exit, error;
  };
  std::string dir(const std::string& name) const { return root_ + "/" + name; }
  io::ProcessIdentity identity(const std::string& name) const;
  Status start(const std::string& name);
  bool adopt(const std::string& name);
  void exited(const std::string& name, int status);
  void restart_later(const std::string& name);

  std::string root_, busybox_;
  Supervisor sup_;  // keyed by container name
  std::map<std::string, Client> clients_;
};

}  // namespace kvnet::daemon
