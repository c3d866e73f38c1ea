#include "daemon/gateway_host.h"

#include <fcntl.h>
#include <nftables/libnftables.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <vector>

#include "base/file.h"
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

KernelGatewayHost::KernelGatewayHost(EventLoop& loop, GatewayHostOptions o) : loop_(loop), o_(std::move(o)), sup_(loop) {}

KernelGatewayHost::~KernelGatewayHost() = default;

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
    if (d.conf == conf && (sup_.pid(gw.name) || sup_.restart_scheduled(gw.name)))
      return Ok{};  // as it is (or coming back)
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
  // Root's only: the leases, and the pidfile that dnsmasq makes nobody's
  // (dnsmasq opens what it needs as root, before it drops privileges).
  if (chmod(p.dir.c_str(), 0700) < 0)
    return Error{ctx + "cannot make '" + p.dir + "' private: " + std::strerror(errno)};
  fs::remove(p.pidfile, ec);
  {
    std::ofstream out(p.conf, std::ios::trunc);
    out << d.conf;
    if (!out.flush()) return Error{ctx + "cannot write '" + p.conf + "'"};
  }
  const std::string stderr_path = p.dir + "/dnsmasq.stderr";
  const std::vector<std::string> argv{o_.dnsmasq, "--conf-file=" + p.conf};
  auto parent = io::spawn(argv, {.log = stderr_path});
  if (!parent) return Error{ctx + parent.error().message + " (install dnsmasq-base, or set KVNET_DNSMASQ)"};
  // dnsmasq's first process exits once the daemon it forked is up (0), or
  // with the reason it could not start.
  const int fd = io::pidfd_open(*parent);
  const bool done = fd < 0 || io::wait_exit(fd, kStartTimeout);
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
  const std::string name = d.gw.name;
  d.pid = sup_.adopt(name, p.pidfile, identity(name), [this, name](int) { exited(name); });
  if (!d.pid) return Error{ctx + "started, but '" + p.pidfile + "' names no dnsmasq running '" + p.conf + "'"};
  d.error.clear();
  return Ok{};
}

io::ProcessIdentity KernelGatewayHost::identity(const std::string& name) const {
  const std::string arg = "--conf-file=" + paths(name).conf;
  // Exactly the command line kvnetd gives: dnsmasq hands its pidfile to the
  // user it drops to (nobody), who could write any pid there.
  return {o_.dnsmasq, [arg](const std::vector<std::string>& argv) { return argv.size() == 2 && argv[1] == arg; }};
}

bool KernelGatewayHost::adopt(Dnsmasq& d) {
  const std::string name = d.gw.name;
  const pid_t pid = sup_.adopt(name, paths(name).pidfile, identity(name), [this, name](int) { exited(name); });
  if (!pid) return false;  // none, or a stale pidfile: the pid is someone else's now
  d.pid = pid;
  if (read_file(paths(name).conf) != d.conf) {  // started for another configuration
    sup_.terminate(name, kTermGrace);
    return false;
  }
  return true;
}

void KernelGatewayHost::stop(const std::string& name, bool remove_dir) {
  dns_.erase(name);
  sup_.terminate(name, kTermGrace);
  if (remove_dir) {
    std::error_code ec;
    fs::remove_all(paths(name).dir, ec);
  }
}

void KernelGatewayHost::exited(const std::string& name) {
  auto it = dns_.find(name);
  if (it == dns_.end()) return;
  Dnsmasq& d = it->second;
  d.last_exit = "pid " + std::to_string(d.pid) + " exited";
  if (auto why = last_line(paths(name).dir + "/dnsmasq.stderr"); !why.empty()) d.last_exit += " (" + why + ")";
  log_warn("gateway '" + name + "': dnsmasq " + d.last_exit + "; restarting it");
  schedule_restart(d);
}

void KernelGatewayHost::schedule_restart(Dnsmasq& d) {
  const std::string name = d.gw.name;
  sup_.restart_later(name, [this, name] {
    auto it = dns_.find(name);
    if (it == dns_.end()) return;
    Dnsmasq& x = it->second;
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
  s.pid = sup_.pid(name);
  s.restarts = d.restarts;
  s.last_exit = d.last_exit;
  if (s.error.empty()) s.error = d.error;
  s.dnsmasq = s.pid ? "running" : sup_.restart_scheduled(name) ? "restarting" : "failed";
  s.leases_path = p.leases;
  s.conf_path = p.conf;
  s.leases = parse_leases(read_file(p.leases));
  return s;
}

}  // namespace kvnet::daemon
