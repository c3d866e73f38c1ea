#include "daemon/gateway_host.h"

#include <fcntl.h>
#include <nftables/libnftables.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "base/log.h"
#include "daemon/netns.h"
#include "io/netdev.h"
#include "io/process.h"


namespace kvnet::daemon {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kStartTimeout = std::chrono::milliseconds(5000);
constexpr auto kTermGrace = std::chrono::milliseconds(2000);
constexpr auto kFirstBackoff = std::chrono::milliseconds(1000);
constexpr auto kMaxBackoff = std::chrono::milliseconds(30000);
constexpr auto kStableRun = std::chrono::seconds(30);  // a run this long resets the backoff

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The last non-empty line of a file (dnsmasq's reason for not starting).
std::string last_line(const std::string& path) {
  std::istringstream in(read_file(path));
  std::string line, last;
  while (std::getline(in, line))
    if (!line.empty()) last = line;
  return last;
}


int pidfd_open(pid_t pid) { return static_cast<int>(syscall(SYS_pidfd_open, pid, 0)); }

// Waits until the process behind `pidfd` has exited; false on timeout.
bool wait_exit(int pidfd, std::chrono::milliseconds timeout) {
  pollfd p{pidfd, POLLIN, 0};
  int r;
  while ((r = ::poll(&p, 1, static_cast<int>(timeout.count()))) < 0 && errno == EINTR) {
  }
  return r > 0;
}

// Ends a process that is not our child: SIGTERM through its pidfd (no
// recycled pid can be hit), SIGKILL after the grace period; waits for it.
void terminate(pid_t pid) {
  const int fd = pidfd_open(pid);
  if (fd < 0) return;  // gone already
  syscall(SYS_pidfd_send_signal, fd, SIGTERM, nullptr, 0);
  if (!wait_exit(fd, kTermGrace)) {
    syscall(SYS_pidfd_send_signal, fd, SIGKILL, nullptr, 0);
    wait_exit(fd, std::chrono::milliseconds(1000));
  }
  ::close(fd);
}

// libnftables: one command buffer, one transaction.
Status nft_run(const std::string& script, bool dry_run) {
  std::unique_ptr<nft_ctx, decltype(&nft_ctx_free)> ctx(nft_ctx_new(NFT_CTX_DEFAULT), nft_ctx_free);
  if (!ctx) return Error{"nftables: cannot create a libnftables context"};
  nft_ctx_buffer_output(ctx.get());
  nft_ctx_buffer_error(ctx.get());
  nft_ctx_set_dry_run(ctx.get(), dry_run);
  if (nft_run_cmd_from_buffer(ctx.get(), script.c_str()) != 0) {
    std::string err = nft_ctx_get_error_buffer(ctx.get());
    while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) err.pop_back();
    return Error{"nftables refused the ruleset: " + err};
  }
  return Ok{};
}

// The interface's IPv4 addresses (CIDR), as `ip -4 -o addr show` lists them.
Result<std::vector<std::string>> ipv4_addresses(const std::string& dev) {
  auto out = run_command({"ip", "-4", "-o", "addr", "show", "dev", dev});
  if (!out) return out.error();
  std::vector<std::string> addrs;
  std::istringstream in(*out);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ws(line);
    std::string w;
    while (ws >> w)
      if (w == "inet" && ws >> w) addrs.push_back(w);
  }
  return addrs;
}

Status enable_forwarding() {
  const char* path = "/proc/sys/net/ipv4/ip_forward";  // this network namespace's
  if (read_file(path).rfind('1', 0) == 0) return Ok{};
  std::ofstream out(path);
  out << "1\n";
  out.flush();
  if (!out) return Error{std::string("cannot enable IPv4 forwarding (") + path + "): " + std::strerror(errno)};
  return Ok{};
}

}  // namespace

KernelGatewayHost::KernelGatewayHost(EventLoop& loop, GatewayHostOptions o) : loop_(loop), o_(std::move(o)) {}

KernelGatewayHost::~KernelGatewayHost() {
  for (auto& [name, d] : dns_) loop_.cancel_timer(d.restart_timer);
}

Status KernelGatewayHost::apply(const std::vector<ctl::GatewaySpec>& gws, bool restoring) {
  errors_.clear();
  // 1. The ruleset first: a refusal changes nothing.
  if (!gws.empty())
    if (auto s = apply_nft(gws, true); !s) {
      if (!restoring) return s;
      for (const auto& gw : gws) errors_[gw.name] = s.error().message;
    }
  // 2. Addresses and forwarding.
  for (const auto& gw : gws)
    if (auto s = apply_addresses(gw); !s) {
      if (!restoring) return s;
      errors_[gw.name] = s.error().message;
    }
  if (!gws.empty())
    if (auto s = enable_forwarding(); !s) {
      if (!restoring) return s;
      for (const auto& gw : gws) errors_[gw.name] = s.error().message;
    }
  // 3. The table, whole. With no gateway left, it goes (a kvnetd that never
  // had one leaves the kernel alone).
  if (!gws.empty() || table_written_) {
    if (auto s = apply_nft(gws, false); !s) {
      if (!restoring) return s;
      for (const auto& gw : gws) errors_[gw.name] = s.error().message;
    }
  }
  // 4. dnsmasq.
  for (auto it = dns_.begin(); it != dns_.end();) {
    const std::string name = it->first;
    ++it;
    bool keep = false;
    for (const auto& gw : gws) keep = keep || (gw.name == name && gw.has_dhcp());
    if (!keep) stop(name, true);
  }
  for (const auto& gw : gws) {
    if (!gw.has_dhcp()) {
      std::error_code ec;
      if (restoring) fs::remove_all(paths(gw.name).dir, ec);  // from a DHCP it no longer has
      continue;
    }
    if (auto s = apply_dnsmasq(gw, restoring); !s) return s;
  }
  return Ok{};
}

Status KernelGatewayHost::apply_addresses(const ctl::GatewaySpec& gw) {
  const std::string ctx = "gateway '" + gw.name + "': ";
  if (!io::if_exists(gw.name)) return Error{ctx + "its interface '" + gw.name + "' does not exist"};
  auto addrs = ipv4_addresses(gw.name);
  if (!addrs) return Error{ctx + addrs.error().message};
  if (!(addrs->size() == 1 && (*addrs)[0] == gw.ip)) {
    if (auto r = run_command({"ip", "-4", "addr", "flush", "dev", gw.name}); !r) return Error{ctx + r.error().message};
    if (auto r = run_command({"ip", "addr", "add", gw.ip, "brd", "+", "dev", gw.name}); !r)
      return Error{ctx + r.error().message};
  }
  if (auto s = io::if_set_up(gw.name, true); !s) return Error{ctx + s.error().message};
  return Ok{};
}

Status KernelGatewayHost::apply_nft(const std::vector<ctl::GatewaySpec>& gws, bool check_only) {
  const std::string script = gws.empty() ? nft_delete(o_.table) : nft_ruleset(gws, o_.table);
  if (auto s = nft_run(script, check_only); !s) return Error{"table " + nft_table() + ": " + s.error().message};
  if (!check_only) table_written_ = !gws.empty();
  return Ok{};
}

Status KernelGatewayHost::apply_dnsmasq(const ctl::GatewaySpec& gw, bool restoring) {
  const auto mtu = dhcp_mtus_.find(gw.name);
  const std::string conf = dnsmasq_conf(gw, paths(gw.name), mtu == dhcp_mtus_.end() ? 0 : mtu->second);
  auto it = dns_.find(gw.name);
  if (it != dns_.end()) {
    Dnsmasq& d = it->second;
    d.gw = gw;
    if (d.conf == conf && (d.pid || d.restart_timer)) return Ok{};  // as it is (or coming back)
    stop(gw.name, false);  // its configuration changed: the leases stay
  }
  Dnsmasq& d = dns_[gw.name];
  d.gw = gw;
  d.conf = conf;
  if (restoring && adopt(d)) return Ok{};
  if (auto s = start(d); !s) {
    if (!restoring) {
      dns_.erase(gw.name);
      return s;
    }
    d.error = s.error().message;
    schedule_restart(d);
  }
  return Ok{};
}

Status KernelGatewayHost::start(Dnsmasq& d) {
  const std::string ctx = "gateway '" + d.gw.name + "': dnsmasq: ";
  const DnsmasqPaths p = paths(d.gw.name);
  std::error_code ec;
  fs::create_directories(p.dir, ec);
  if (ec) return Error{ctx + "cannot create '" + p.dir + "': " + ec.message()};
  fs::remove(p.pidfile, ec);
  {
    std::ofstream out(p.conf, std::ios::trunc);
    out << d.conf;
    if (!out.flush()) return Error{ctx + "cannot write '" + p.conf + "'"};
  }
  const std::string stderr_path = p.dir + "/dnsmasq.stderr";
  auto parent = io::spawn({o_.dnsmasq, "--conf-file=" + p.conf}, {.log = stderr_path});
  if (!parent) return Error{ctx + parent.error().message + " (install dnsmasq-base, or set KVNET_DNSMASQ)"};
  // dnsmasq's first process exits once the daemon it forked is up (0), or
  // with the reason it could not start.
  const int fd = pidfd_open(*parent);
  const bool done = fd < 0 || wait_exit(fd, kStartTimeout);
  if (fd >= 0) ::close(fd);
  if (!done) ::kill(*parent, SIGKILL);
  int st = 0;
  while (waitpid(*parent, &st, 0) < 0 && errno == EINTR) {
  }
  if (!done) return Error{ctx + "did not start within 5 s"};
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    std::string why = last_line(stderr_path);
    if (why.rfind("dnsmasq: ", 0) == 0) why = why.substr(9);
    return Error{ctx + "could not start (" + io::wait_status_text(st) + (why.empty() ? "" : ": " + why) + ")"};
  }
  pid_t pid = 0;
  std::ifstream(p.pidfile) >> pid;
  if (pid <= 0) return Error{ctx + "started but wrote no pid to '" + p.pidfile + "'"};
  const std::string name = d.gw.name;
  if (auto s = loop_.watch_child(pid, [this, name, pid](int) { exited(name, pid); }); !s) {
    terminate(pid);
    return Error{ctx + s.error().message};
  }
  d.pid = pid;
  d.started = Clock::now();
  d.error.clear();
  return Ok{};
}

bool KernelGatewayHost::adopt(Dnsmasq& d) {
  const DnsmasqPaths p = paths(d.gw.name);
  pid_t pid = 0;
  std::ifstream(p.pidfile) >> pid;
  if (pid <= 0) return false;
  bool ours = false;
  for (const auto& a : io::proc_cmdline(pid)) ours = ours || a == "--conf-file=" + p.conf;
  if (!ours) return false;  // a stale pidfile: the pid is someone else's now
  if (read_file(p.conf) != d.conf) {  // started for another configuration
    terminate(pid);
    return false;
  }
  const std::string name = d.gw.name;
  if (!loop_.watch_child(pid, [this, name, pid](int) { exited(name, pid); })) return false;
  d.pid = pid;
  d.started = Clock::now();
  return true;
}

void KernelGatewayHost::stop(const std::string& name, bool remove_dir) {
  auto it = dns_.find(name);
  if (it != dns_.end()) {
    loop_.cancel_timer(it->second.restart_timer);
    const pid_t pid = it->second.pid;
    dns_.erase(it);  // before the exit callback can see it
    if (pid) terminate(pid);
  }
  if (remove_dir) {
    std::error_code ec;
    fs::remove_all(paths(name).dir, ec);
  }
}

void KernelGatewayHost::exited(const std::string& name, pid_t pid) {
  auto it = dns_.find(name);
  if (it == dns_.end() || it->second.pid != pid) return;  // stopped on purpose
  Dnsmasq& d = it->second;
  d.pid = 0;
  d.last_exit = "pid " + std::to_string(pid) + " exited";
  if (auto why = last_line(paths(name).dir + "/dnsmasq.stderr"); !why.empty()) d.last_exit += " (" + why + ")";
  if (Clock::now() - d.started >= kStableRun) d.backoff = std::chrono::milliseconds(0);
  log_warn("gateway '" + name + "': dnsmasq " + d.last_exit + "; restarting it");
  schedule_restart(d);
}

void KernelGatewayHost::schedule_restart(Dnsmasq& d) {
  d.backoff = d.backoff.count() ? std::min(d.backoff * 2, kMaxBackoff) : kFirstBackoff;
  const std::string name = d.gw.name;
  loop_.cancel_timer(d.restart_timer);
  d.restart_timer = loop_.add_timer(d.backoff, [this, name] {
    auto it = dns_.find(name);
    if (it == dns_.end()) return;
    Dnsmasq& x = it->second;
    x.restart_timer = 0;
    ++x.restarts;
    if (auto s = start(x); !s) {
      x.error = s.error().message;
      schedule_restart(x);
    }
  });
}

GatewayStatus KernelGatewayHost::status(const std::string& name) const {
  GatewayStatus s;
  const DnsmasqPaths p = paths(name);
  if (auto e = errors_.find(name); e != errors_.end()) s.error = e->second;
  auto it = dns_.find(name);
  if (it == dns_.end()) {
    s.dnsmasq = "none";
    return s;
  }
  const Dnsmasq& d = it->second;
  s.pid = d.pid;
  s.restarts = d.restarts;
  s.last_exit = d.last_exit;
  if (s.error.empty()) s.error = d.error;
  s.dnsmasq = d.pid ? "running" : d.restart_timer ? "restarting" : "failed";
  s.leases_path = p.leases;
  s.conf_path = p.conf;
  s.leases = parse_leases(read_file(p.leases));
  return s;
}

}  // namespace kvnet::daemon
