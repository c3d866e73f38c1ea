#include "daemon/ct_dhcp.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <sstream>

#include "base/file.h"
#include "base/log.h"
#include "io/process.h"

namespace kvnet::daemon {
namespace fs = std::filesystem;

namespace {

constexpr auto kTermGrace = std::chrono::milliseconds(2000);

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
    : root_(std::move(root)), busybox_(std::move(busybox)), sup_(loop) {}

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
    clients_[name].port = spec->port;
    if (adopt(name)) continue;  // one already runs in the container (kvnetd restarted)
    if (auto s = start(name); !s) {
      clients_[name].error = s.error().message;
      log_warn(s.error().message);
      restart_later(name);
    }
  }
}

// udhcpc as `ip netns exec` leaves it: busybox running kvnet's script.
io::ProcessIdentity CtDhcpClients::identity(const std::string& name) const {
  const std::string script = dir(name) + "/udhcpc.script";
  return {busybox_, [script](const std::vector<std::string>& argv) {
            for (size_t i = 0; i + 1 < argv.size(); ++i)
              if (argv[i] == "-s" && argv[i + 1] == script) return true;
            return false;
          }};
}

Status CtDhcpClients::start(const std::string& name) {
  const std::string ctx = "container '" + name + "': DHCP client: ";
  const std::string d = dir(name);
  std::error_code ec;
  fs::create_directories(d, ec);
  if (ec) return Error{ctx + "cannot create '" + d + "': " + ec.message()};
  fs::permissions(d, fs::perms::owner_all, fs::perm_options::replace, ec);
  const std::string script = d + "/udhcpc.script";
  if (auto s = write_private(script, udhcpc_script(name, d + "/lease"), 0700); !s) return Error{ctx + s.error().message};
  auto pid = sup_.spawn(name,
                        {"ip", "netns", "exec", name, busybox_, "udhcpc", "-f", "-i", "eth0", "-s", script, "-x",
                         "hostname:" + name},
                        {.log = d + "/udhcpc.log", .new_session = true}, [this, name](int st) { exited(name, st); });
  if (!pid) return Error{ctx + pid.error().message};
  if (auto s = write_private(d + "/udhcpc.pid", std::to_string(*pid) + "\n", 0600); !s) {
    sup_.terminate(name, kTermGrace);
    return Error{ctx + s.error().message};
  }
  clients_[name].pid = *pid;
  clients_[name].error.clear();
  return Ok{};
}

// The pidfile's process, if it runs kvnet's script of this container: in the
// container's current namespace it is adopted; elsewhere (a namespace that
// was re-created) it is ended.
bool CtDhcpClients::adopt(const std::string& name) {
  const pid_t pid = sup_.adopt(name, dir(name) + "/udhcpc.pid", identity(name), [this, name](int st) { exited(name, st); });
  if (!pid) return false;  // gone, or the pid is someone else's now
  if (in_netns(pid, name)) {
    clients_[name].pid = pid;
    return true;
  }
  sup_.terminate(name, kTermGrace);
  return false;
}

void CtDhcpClients::stop(const std::string& name) {
  clients_.erase(name);
  if (!sup_.pid(name)) adopt(name);  // one from an earlier kvnetd
  sup_.terminate(name, kTermGrace);
  std::error_code ec;
  fs::remove_all(dir(name), ec);
}

void CtDhcpClients::exited(const std::string& name, int status) {
  auto it = clients_.find(name);
  if (it == clients_.end()) return;
  Client& c = it->second;
  c.last_exit = "pid " + std::to_string(c.pid) + " " + (status >= 0 ? io::wait_status_text(status) : "exited");
  if (auto why = last_line(dir(name) + "/udhcpc.log"); !why.empty()) c.last_exit += " (" + why + ")";
  log_warn("container '" + name + "': DHCP client " + c.last_exit + "; restarting it");
  restart_later(name);
}

void CtDhcpClients::restart_later(const std::string& name) {
  sup_.restart_later(name, [this, name] {
    auto it = clients_.find(name);
    if (it == clients_.end()) return;
    ++it->second.restarts;
    if (auto s = start(name); !s) {
      it->second.error = s.error().message;
      restart_later(name);
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
  s.pid = sup_.pid(name);
  s.restarts = c.restarts;
  s.last_exit = c.last_exit;
  s.error = c.error;
  s.client = s.pid ? "running" : sup_.restart_scheduled(name) ? "restarting" : "failed";
  if (s.pid) s.lease = parse_ct_lease(read_file(dir(name) + "/lease"));
  return s;
}

}  // namespace kvnet::daemon
