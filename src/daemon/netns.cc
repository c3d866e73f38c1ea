#include "daemon/netns.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "daemon/host_mounts.h"
#include "io/netdev.h"

namespace kvnet::daemon {

using namespace kvnet::ctl;

Result<std::string> run_command(const std::vector<std::string>& argv) {
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) < 0) return Error{std::string("pipe: ") + std::strerror(errno)};
  auto spawned = spawn_in_host_mounts(argv, pipefd[1]);
  close(pipefd[1]);
  std::string cmd;
  for (const auto& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
  if (!spawned) {
    close(pipefd[0]);
    return Error{"cannot run '" + cmd + "': " + spawned.error().message};
  }
  const pid_t pid = *spawned;
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(pipefd[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
    if (n > 0) out.append(buf, static_cast<size_t>(n));
  close(pipefd[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return Error{"'" + cmd + "' failed: " + out};
  }
  return out;
}

bool netns_exists(const std::string& name) { return std::filesystem::exists("/run/netns/" + name); }

static Status configure_inside(const ContainerSpec& c, uint32_t mtu) {
  const std::vector<std::string> ns = {"ip", "-n", c.name};
  auto ip = [&](std::vector<std::string> args) -> Status {
    std::vector<std::string> argv = ns;
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = run_command(argv);
    if (!r) return r.error();
    return Ok{};
  };
  // Always the MAC port security expects (container_mac): also on a veth of a
  // container created before kvnet chose MACs, whose kernel-chosen MAC
  // changes here once (a veth takes a new MAC while up).
  if (auto s = ip({"link", "set", "eth0", "address", container_mac(c)}); !s) return s;
  if (mtu)
    if (auto s = ip({"link", "set", "eth0", "mtu", std::to_string(mtu)}); !s) return s;
  if (auto s = ip({"link", "set", "lo", "up"}); !s) return s;
  if (!c.ip.empty() && c.ip != "dhcp")  // dhcp: the DHCP client's script sets it
    if (auto s = ip({"addr", "replace", c.ip, "dev", "eth0"}); !s) return s;
  if (auto s = ip({"link", "set", "eth0", "up"}); !s) return s;
  if (!c.gw.empty())
    if (auto s = ip({"route", "replace", "default", "via", c.gw}); !s) return s;
  return Ok{};
}

Status container_create(const ContainerSpec& c, uint32_t mtu) {
  if (netns_exists(c.name)) return Error{"container '" + c.name + "': network namespace '" + c.name + "' already exists"};
  if (io::if_exists(c.port)) return Error{"container '" + c.name + "': interface '" + c.port + "' already exists"};
  if (auto r = run_command({"ip", "netns", "add", c.name}); !r) return Error{"container '" + c.name + "': " + r.error().message};
  auto undo = [&](const Error& e) -> Status {
    run_command({"ip", "netns", "del", c.name}).ok();
    run_command({"ip", "link", "del", c.port}).ok();
    return Error{"container '" + c.name + "': " + e.message};
  };
  if (auto r = run_command({"ip", "link", "add", c.port, "type", "veth", "peer", "name", "eth0", "netns", c.name}); !r)
    return undo(r.error());
  // The host end is the switch port's plumbing: the host's stack stays out.
  if (auto s = io::if_keep_host_out(c.port); !s) return undo(s.error());
  if (mtu)
    if (auto s = io::if_set_mtu(c.port, static_cast<int>(mtu)); !s) return undo(s.error());
  if (auto s = configure_inside(c, mtu); !s) return undo(s.error());
  if (auto s = io::if_set_up(c.port, true); !s) return undo(s.error());
  return Ok{};
}

Status container_destroy(const std::string& name, const std::string& port) {
  if (netns_exists(name))
    if (auto r = run_command({"ip", "netns", "del", name}); !r) return Error{"container '" + name + "': " + r.error().message};
  // Deleting the namespace deletes its veth end and so the pair; make sure.
  for (int i = 0; i < 50 && io::if_exists(port); ++i) usleep(10000);
  if (io::if_exists(port)) run_command({"ip", "link", "del", port}).ok();
  return Ok{};
}

Status container_ensure(const ContainerSpec& c, uint32_t mtu) {
  if (!netns_exists(c.name)) {
    if (io::if_exists(c.port)) run_command({"ip", "link", "del", c.port}).ok();
    return container_create(c, mtu);
  }
  if (!io::if_exists(c.port)) {
    run_command({"ip", "-n", c.name, "link", "del", "eth0"}).ok();
    if (auto r = run_command({"ip", "link", "add", c.port, "type", "veth", "peer", "name", "eth0", "netns", c.name}); !r)
      return Error{"container '" + c.name + "': " + r.error().message};
  }
  if (auto s = io::if_keep_host_out(c.port); !s) return Error{"container '" + c.name + "': " + s.error().message};
  if (mtu)
    if (auto s = io::if_set_mtu(c.port, static_cast<int>(mtu)); !s) return Error{"container '" + c.name + "': " + s.error().message};
  if (auto s = configure_inside(c, mtu); !s) return Error{"container '" + c.name + "': " + s.error().message};
  return io::if_set_up(c.port, true);
}

Status container_set_mtu(const ContainerSpec& c, uint32_t mtu) {
  const std::string m = std::to_string(mtu ? mtu : dp::kDefaultMtu);
  auto err = [&](const Error& e) -> Status { return Error{"container '" + c.name + "': " + e.message}; };
  if (auto s = io::if_set_mtu(c.port, std::stoi(m)); !s) return err(s.error());
  if (auto r = run_command({"ip", "-n", c.name, "link", "set", "eth0", "mtu", m}); !r) return err(r.error());
  return Ok{};
}

}  // namespace kvnet::daemon
