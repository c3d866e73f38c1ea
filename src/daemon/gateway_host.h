// kvnetd's NAT gateways on the kernel side: for every gateway
// (ctl/gateway_spec.h) its address on its internal port, IPv4 forwarding,
// the nftables table that masquerades and forwards ports, and a supervised
// dnsmasq per gateway with DHCP. The Service (service_gw.cc) decides what
// the gateways are; this makes the kernel match them.
//
//   GatewayHost            the interface the Service calls (a fake in tests)
//   KernelGatewayHost      the real one, on kvnetd's control loop:
//     apply(gws)   1. the ruleset is checked (nft --check: libnftables' dry run)
//                  2. each gateway's address on its interface (ip addr), the
//                     interface up, net.ipv4.ip_forward=1 in kvnetd's netns
//                  3. the table replaced in one nft transaction (or deleted
//                     when the last gateway went)
//                  4. dnsmasq: stopped where a gateway went or lost DHCP,
//                     restarted where its configuration changed, started
//                     where new; a start waits for dnsmasq's own report
//                     (its parent exits once the daemon is up, non-zero with
//                     the reason on stderr when it cannot start)
//     A failure returns the first error; the Service then applies the old
//     set again (its change transaction), so nothing stays half-applied.
//
// dnsmasq runs as a daemon of its own (its own session; not kvnetd's child)
// and, like the nftables table and the internal ports' addresses, outlives
// kvnetd, as libvirt's networks outlive libvirtd. The Supervisor
// (daemon/supervisor.h) watches it through a pidfd: when it dies it is
// started again after 1 s, doubling up to 30 s while it keeps dying within
// 30 s of a start. The daemon dnsmasq forks and a dnsmasq a new kvnetd
// finds are both adopted the same way: the pidfile names a candidate whose
// executable must be the dnsmasq kvnetd runs and whose command line must name
// the gateway's configuration file; and on re-adoption the file must be what
// kvnetd would write now (otherwise it is killed and started again). Deleting a gateway kills its dnsmasq by pidfd (SIGTERM,
// SIGKILL after 2 s) and removes its directory (configuration, leases, log).
//
// Thread-safety: the control thread only (the loop's).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "base/result.h"
#include "ctl/gateway_spec.h"
#include "daemon/event_loop.h"
#include "daemon/gateway_config.h"
#include "daemon/supervisor.h"

namespace kvnet::daemon {

struct GatewayStatus {
  std::string dnsmasq;    // "running", "restarting", "failed", "none" (no DHCP)
  pid_t pid = 0;          // dnsmasq's
  int restarts = 0;       // by kvnetd's supervision, since this kvnetd started
  std::string last_exit;  // how dnsmasq last ended, if it did
  std::string error;      // why it is not running, or why the gateway is not in the kernel
  std::string leases_path, conf_path;
  std::vector<Lease> leases;
};

class GatewayHost {
 public:
  virtual ~GatewayHost() = default;
  // Makes the kernel match `gws`, every gateway there is. `restoring`
  // (kvnetd's start): a gateway's failure is recorded in its status and
  // retried, not returned.
  virtual Status apply(const std::vector<ctl::GatewaySpec>& gws, bool restoring) = 0;
  // The MTU each gateway's DHCP offers (option 26: what its bridge can
  // carry, ctl/mtu.h), by gateway name; a gateway not named offers none.
  // Taken by the next apply().
  virtual void set_dhcp_mtus(std::map<std::string, uint32_t> mtus) { (void)mtus; }
  virtual GatewayStatus status(const std::string& name) const = 0;
  virtual std::string nft_table() const = 0;  // "ip kvnet"
};

struct GatewayHostOptions {
  std::string root;                      // per-gateway directories
  std::string table = kDefaultNftTable;  // the nftables table (family ip)
  std::string dnsmasq = "dnsmasq";       // the binary ($KVNET_DNSMASQ)
};

class KernelGatewayHost final : public GatewayHost {
 public:
  KernelGatewayHost(EventLoop& loop, GatewayHostOptions o);
  ~KernelGatewayHost() override;  // dnsmasq keeps running
  KernelGatewayHost(const KernelGatewayHost&) = delete;
  KernelGatewayHost& operator=(const KernelGatewayHost&) = delete;

  Status apply(const std::vector<ctl::GatewaySpec>& gws, bool restoring) override;
  void set_dhcp_mtus(std::map<std::string, uint32_t> mtus) override { dhcp_mtus_ = std::move(mtus); }
  GatewayStatus status(const std::string& name) const override;
  std::string nft_table() const override { return "ip " + o_.table; }

 private:
  struct Dnsmasq {
    ctl::GatewaySpec gw;
    std::string conf;  // the configuration it runs with
    pid_t pid = 0;     // the last one adopted (the Supervisor knows whether it runs)
    int restarts = 0;
    std::string last_exit, error;
  };
  Status apply_addresses(const ctl::GatewaySpec& gw);
  Status apply_nft(const std::vector<ctl::GatewaySpec>& gws, bool check_only);
  Status apply_dnsmasq(const ctl::GatewaySpec& gw, bool restoring);
  Status start(Dnsmasq& d);
  bool adopt(Dnsmasq& d);
  io::ProcessIdentity identity(const std::string& name) const;
  void stop(const std::string& name, bool remove_dir);
  void exited(const std::string& name);
  void schedule_restart(Dnsmasq& d);
  DnsmasqPaths paths(const std::string& name) const { return DnsmasqPaths::under(o_.root, name); }

  EventLoop& loop_;
  GatewayHostOptions o_;
  Supervisor sup_;  // keyed by gateway name
  std::map<std::string, Dnsmasq> dns_;
  std::map<std::string, std::string> errors_;  // gateway -> why its kernel side is missing (restoring)
  bool table_written_ = false;
  std::map<std::string, uint32_t> dhcp_mtus_;
};

}  // namespace kvnet::daemon
