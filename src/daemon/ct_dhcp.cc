#include "daemon/ct_dhcp.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/file.h"
#include "base/log.h"
#include "io/process.h"

namespace kvnet::daemon {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kTermGrace = std::chrono::milliseconds(2000);
constexpr auto kFirstBackoff = std::chrono::milliseconds(1000);
constexpr auto kMaxBackoff = std::chrono::milliseconds(30000);
constexpr auto kStableRun = std::chrono::seconds(30);  // a run this long resets the backoff

// A word for sh inside single quotes.
std::string sh_quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Writes `text` to `path` (mode `mode`, never through a symbolic link).
Status write_private(const std::string& path, const std::string& text, mode_t mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) return Error{"cannot write '" + path + "': " + std::strerror(errno)};
  const bool ok = ::fchmod(fd, mode) == 0 && ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  if (!ok) return Error{"cannot write '" + path + "'"};
  return Ok{};
}

// Ends a process through its pidfd (no recycled pid can be hit): SIGTERM,
// SIGKILL after the grace period; waits for it. Its exit callback (the loop
// reaps a child) then finds it stopped on purpose.
void terminate(pid_t pid) {
  const int fd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) return;  // gone already
  auto wait_exit = [fd](std::chrono::milliseconds t) {
    pollfd p{fd, POLLIN, 0};
    int r;
    while ((r = ::poll(&p, 1, static_cast<int>(t.count()))) < 0 && errno == EINTR) {
    }
    return r > 0;
  };
  syscall(SYS_pidfd_send_signal, fd, SIGTERM, nullptr, 0);
  if (!wait_exit(kTermGrace)) {
    syscall(SYS_pidfd_send_signal, fd, SIGKILL, nullptr, 0);
    wait_exit(std::chrono::milliseconds(1000));
  }
  ::close(fd);
}

// Whether `pid` runs inside the namespace /run/netns/NAME (same nsfs inode).
bool in_netns(pid_t pid, const std::string& name) {
  struct stat a {}, b {};
  if (::stat(("/proc/" + std::to_string(pid) + "/ns/net").c_str(), &a) != 0) return false;
  if (::stat(("/run/netns/" + name).c_str(), &b) != 0) return false;
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

}  // namespace

CtLease parse_ct_lease(const std::string& text) {
  CtLease l;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    const auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    const std::string k = line.substr(0, eq), v = line.substr(eq + 1);
    if (k == "ip") l.ip = v;
    else if (k == "router") l.router = v;
    else if (k == "server") l.server = v;
    else if (k == "dns") l.dns = v;
    else if (k == "lease") l.lease_s = std::strtol(v.c_str(), nullptr, 10);
    else if (k == "obtained") l.obtained = std::strtol(v.c_str(), nullptr, 10);
  }
  return l;
}

std::string udhcpc_script(const std::string& container, const std::string& lease_file) {
  // udhcpc passes the event as $1 and the lease in the environment:
  // $interface, $ip, $mask (prefix length), $broadcast, $router (a list),
  // $serverid, $lease, $dns.
  return "#!/bin/sh\n"
         "# Written by kvnetd for container '" + container + "': busybox udhcpc runs it\n"
         "# on DHCP events; it applies the lease to $interface and records it for\n"
         "# kvnetctl ct list. Rewritten whenever kvnetd starts the client.\n"
         "lease_file=" + sh_quoted(lease_file) + "\n"
         "case \"$1\" in\n"
         "  deconfig)\n"
         "    ip -4 addr flush dev \"$interface\"\n"
         "    ip link set dev \"$interface\" up\n"
         "    rm -f \"$lease_file\"\n"
         "    ;;\n"
         "  bound|renew)\n"
         "    cidr=\"$ip/${mask:-32}\"\n"
         "    if ! ip -4 -o addr show dev \"$interface\" | grep -qF \" inet $cidr \"; then\n"
         "      ip -4 addr flush dev \"$interface\"\n"
         "      ip addr add \"$cidr\" broadcast \"${broadcast:-+}\" dev \"$interface\"\n"
         "    fi\n"
         "    first_router=\"${router%% *}\"\n"
         "    if [ -n \"$first_router\" ]; then\n"
         "      ip route replace default via \"$first_router\" dev \"$interface\"\n"
         "    fi\n"
         "    printf 'ip=%s\\nrouter=%s\\nserver=%s\\ndns=%s\\nlease=%s\\nobtained=%s\\n' \\\n"
         "      \"$cidr\" \"$first_router\" \"$serverid\" \"$dns\" \"$lease\" \"$(date +%s)\" >\"$lease_file.tmp\" &&\n"
         "      mv -f \"$lease_file.tmp\" \"$lease_file\"\n"
         "    ;;\n"
         "esac\n"
         "exit 0\n";
}

CtDhcpClients::CtDhcpClients(EventLoop& loop, std::string root, std::string busybox)
    : loop_(loop), root_(std::move(root)), busybox_(std::move(busybox)) {}

CtDhcpClients::~CtDhcpClients() {
  for (auto& [name, c] : clients_) loop_.cancel_timer(c.restart_timer);
}

void CtDhcpClients::sync(const std::vector<ctl::ContainerSpec>& containers) {
  std::map<std::string, const ctl::ContainerSpec*> want;
  for (const auto& c : containers)
    if (c.ip == "dhcp") want[c.name] = &c;
  std::vector<std::string> gone;
  for (const auto& [name, c] : clients_)
    if (auto it = want.find(name); it == want.end() || it->second->port != c.port) gone.push_back(name);
  for (const auto& name : gone) stop(name);
  for (const auto& [name, spec] : want) {
    if (clients_.count(name)) continue;
    Client& c = clients_[name];
    c.port = spec->port;
    if (adopt(name, c)) continue;  // one already runs in the container (kvnetd restarted)
    if (auto s = start(name, c); !s) {
      c.error = s.error().message;
      log_warn(c.error);
      schedule_restart(name, c);
    }
  }
}

Status CtDhcpClients::start(const std::string& name, Client& c) {
  const std::string ctx = "container '" + name + "': DHCP client: ";
  const std::string d = dir(name);
  std::error_code ec;
  fs::create_directories(d, ec);
  if (ec) return Error{ctx + "cannot create '" + d + "': " + ec.message()};
  fs::permissions(d, fs::perms::owner_all, fs::perm_options::replace, ec);
  const std::string script = d + "/udhcpc.script";
  if (auto s = write_private(script, udhcpc_script(name, d + "/lease"), 0700); !s) return Error{ctx + s.error().message};
  auto pid = io::spawn({"ip", "netns", "exec", name, busybox_, "udhcpc", "-f", "-i", "eth0", "-s", script, "-x",
                        "hostname:" + name},
                       {.log = d + "/udhcpc.log", .new_session = true});
  if (!pid) return Error{ctx + pid.error().message};
  if (auto s = write_private(d + "/udhcpc.pid", std::to_string(*pid) + "\n", 0600); !s) {
    terminate(*pid);
    return Error{ctx + s.error().message};
  }
  const pid_t p = *pid;
  if (auto s = loop_.watch_child(p, [this, name, p](int st) { exited(name, p, st); }); !s) {
    terminate(p);
    return Error{ctx + s.error().message};
  }
  c.pid = p;
  c.started = Clock::now();
  c.error.clear();
  return Ok{};
}

// The pidfile's process, if it runs kvnet's script of this container: in the
// container's current namespace it is adopted; elsewhere (a namespace that
// was re-created) it is ended.
bool CtDhcpClients::adopt(const std::string& name, Client& c) {
  const std::string d = dir(name);
  pid_t pid = 0;
  std::ifstream(d + "/udhcpc.pid") >> pid;
  if (pid <= 0) return false;
  const auto args = io::proc_cmdline(pid);
  bool ours = false;
  for (size_t i = 0; i + 1 < args.size(); ++i) ours = ours || (args[i] == "-s" && args[i + 1] == d + "/udhcpc.script");
  if (!ours) return false;  // gone, or the pid is someone else's now
  if (!in_netns(pid, name)) {
    terminate(pid);
    return false;
  }
  if (!loop_.watch_child(pid, [this, name, pid](int st) { exited(name, pid, st); })) return false;
  c.pid = pid;
  c.started = Clock::now();
  return true;
}

void CtDhcpClients::stop(const std::string& name) {
  if (auto it = clients_.find(name); it != clients_.end()) {
    loop_.cancel_timer(it->second.restart_timer);
    const pid_t pid = it->second.pid;
    clients_.erase(it);  // before the exit callback can see it
    if (pid) terminate(pid);
  } else {
    Client stale;
    if (adopt(name, stale)) terminate(stale.pid);  // one from an earlier kvnetd
  }
  std::error_code ec;
  fs::remove_all(dir(name), ec);
}

void CtDhcpClients::exited(const std::string& name, pid_t pid, int status) {
  auto it = clients_.find(name);
  if (it == clients_.end() || it->second.pid != pid) return;  // stopped on purpose
  Client& c = it->second;
  c.pid = 0;
  c.last_exit = "pid " + std::to_string(pid) + " " + (status >= 0 ? io::wait_status_text(status) : "exited");
  if (auto why = last_line(dir(name) + "/udhcpc.log"); !why.empty()) c.last_exit += " (" + why + ")";
  if (Clock::now() - c.started >= kStableRun) c.backoff = std::chrono::milliseconds(0);
  log_warn("container '" + name + "': DHCP client " + c.last_exit + "; restarting it");
  schedule_restart(name, c);
}

void CtDhcpClients::schedule_restart(const std::string& name, Client& c) {
  c.backoff = c.backoff.count() ? std::min(c.backoff * 2, kMaxBackoff) : kFirstBackoff;
  loop_.cancel_timer(c.restart_timer);
  c.restart_timer = loop_.add_timer(c.backoff, [this, name] {
    auto it = clients_.find(name);
    if (it == clients_.end()) return;
    Client& x = it->second;
    x.restart_timer = 0;
    ++x.restarts;
    if (auto s = start(name, x); !s) {
      x.error = s.error().message;
      schedule_restart(name, x);
    }
  });
}

CtDhcpStatus CtDhcpClients::status(const std::string& name) const {
  CtDhcpStatus s;
  auto it = clients_.find(name);
  if (it == clients_.end()) {
    s.client = "none";
    return s;
  }
  const Client& c = it->second;
  s.pid = c.pid;
  s.restarts = c.restarts;
  s.last_exit = c.last_exit;
  s.error = c.error;
  s.client = c.pid ? "running" : c.restart_timer ? "restarting" : "failed";
  if (c.pid) s.lease = parse_ct_lease(read_file(dir(name) + "/lease"));
  return s;
}

}  // namespace kvnet::daemon
