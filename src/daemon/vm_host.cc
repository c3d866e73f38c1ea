#include "daemon/vm_host.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/file.h"
#include "daemon/netns.h"
#include "io/process.h"
#include "vm/cloudinit.h"
#include "vm/console.h"
#include "vm/qmp.h"

namespace kvnet::daemon {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kConnectEvery = std::chrono::milliseconds(50);
constexpr auto kScanEvery = std::chrono::milliseconds(25);
constexpr double kScanForS = 600;  // a guest without kvnet's image never prints the marker
constexpr auto kRemoveGrace = std::chrono::milliseconds(3000);  // SIGTERM to SIGKILL when a VM is deleted

// Past `max` bytes: the file is copied to FILE.1 and emptied. Its writer
// (QEMU) appends (O_APPEND), so it goes on at the start of the empty file;
// what it writes between the copy and the truncation (a few bytes, if
// anything) is lost.
void rotate_if_larger(const std::string& path, uint64_t max) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  if (ec || size <= max) return;
  fs::copy_file(path, path + ".1", fs::copy_options::overwrite_existing, ec);
  if (ec) return;
  ::truncate(path.c_str(), 0);
}

std::string exit_text(int st) {
  if (st == -1) return "exited (status unknown: QEMU was started by an earlier kvnetd)";
  return io::wait_status_text(st);
}

uint64_t rss_kb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string key;
  while (in >> key) {
    if (key == "VmRSS:") {
      uint64_t kb = 0;
      in >> kb;
      return kb;
    }
    in.ignore(4096, '\n');
  }
  return 0;
}

}  // namespace

const char* to_string(VmState s) {
  switch (s) {
    case VmState::kStopped: return "stopped";
    case VmState::kStarting: return "starting";
    case VmState::kRunning: return "running";
    case VmState::kPaused: return "paused";
    case VmState::kStopping: return "stopping";
    case VmState::kCrashed: return "crashed";
    case VmState::kIncoming: return "incoming";
  }
  return "?";
}

struct VmHost::Guest {
  std::string name;
  pid_t pid = 0;  // the Supervisor's process for this VM
  ctl::Accel accel = ctl::Accel::kTcg;
  VmState state = VmState::kStarting;
  std::vector<std::string> argv;
  Clock::time_point spawned = Clock::now();
  std::chrono::system_clock::time_point started_wall = std::chrono::system_clock::now();
  // QMP
  int qmp_fd = -1;
  vm::QmpStream qmp;
  uint64_t caps_id = 0, status_id = 0;
  bool qmp_ready = false;
  bool incoming = false;  // started to receive a migration
  struct Pending {
    QmpReply reply;
    EventLoop::TimerId timer = 0;
  };
  std::map<uint64_t, Pending> pending;  // qmp_call's requests, by id
  std::vector<std::string> queued;      // requests made before QMP was up
  EventLoop::TimerId connect_timer = 0;
  // stopping
  bool shutdown_seen = false, stop_requested = false, kill_requested = false, stop_timed_out = false;
  EventLoop::TimerId kill_timer = 0;
  // ready marker
  bool ready = false;
  double boot_s = -1;
  vm::MarkerScanner marker{std::string(vm::kReadyMarker)};
  off_t log_offset = 0;
  EventLoop::TimerId scan_timer = 0;
  EventLoop::TimerId log_timer = 0;  // the logs' size limit
  std::unique_ptr<GuestAgent> agent;
};

VmHost::VmHost(EventLoop& loop, VmHostOptions o)
    : loop_(loop), o_(std::move(o)), kvm_(vm::probe_kvm()), sup_(loop) {}

VmHost::~VmHost() {
  for (auto& [name, g] : guests_) {
    close_qmp(*g);
    for (auto t : {g->connect_timer, g->kill_timer, g->scan_timer, g->log_timer}) loop_.cancel_timer(t);
  }
}

VmHost::Guest* VmHost::find(const std::string& name) {
  auto it = guests_.find(name);
  return it == guests_.end() ? nullptr : it->second.get();
}
const VmHost::Guest* VmHost::find(const std::string& name) const {
  auto it = guests_.find(name);
  return it == guests_.end() ? nullptr : it->second.get();
}

bool VmHost::running(const std::string& name) const { return find(name) != nullptr; }

GuestAgent* VmHost::agent(const std::string& name) {
  Guest* g = find(name);
  return g ? g->agent.get() : nullptr;
}

Result<vm::Launch> VmHost::prepare(const ctl::VmSpec& vm) const {
  const std::string ctx = "vm '" + vm.name + "': ";
  vm::Launch l;
  auto q = vm::find_qemu();
  if (!q) return Error{ctx + q.error().message};
  l.qemu = *q;
  auto a = vm::resolve_accel(vm.accel, kvm_);
  if (!a) return Error{ctx + a.error().message};
  l.accel = *a;
  vm::GuestImage image;
  if (vm.uses_guest_image()) {
    auto img = vm::find_guest_image(o_.guest_dir);
    if (!img) return Error{ctx + img.error().message};
    image = *img;
  }
  std::optional<vm::BaseImage> base;
  if (!vm.image.empty() && images_) base = images_(vm.image);
  if (auto s = vm::check_boot_files(vm, image, &l, base ? &*base : nullptr); !s) return s.error();
  if (const uint64_t host = vm::host_memory_mb(); host && vm.memory_mb > host)
    return Error{ctx + "memory " + ctl::format_memory(vm.memory_mb) + " is more than the host has (" +
                 ctl::format_memory(host) + ")"};
  const auto p = paths(vm.name);
  if (p.console.size() >= sizeof(sockaddr_un{}.sun_path))
    return Error{ctx + "socket path '" + p.console + "' is too long for a Unix socket (choose a shorter --vm-dir)"};
  return l;
}

vm::SeedInput seed_input(const ctl::VmSpec& vm, const std::vector<uint32_t>& nic_mtus) {
  vm::SeedInput in;
  // Stable for the VM's life, also when it moves to another host: cloud-init
  // runs its once-per-instance steps (host keys, users) once.
  in.instance_id = "iid-kvnet-" + vm.name;
  in.hostname = vm.name;
  in.ssh_keys = vm.ssh_keys;
  in.user_data = vm.user_data;
  for (size_t i = 0; i < vm.nics.size(); ++i) {
    const ctl::NicSpec& n = vm.nics[i];
    vm::SeedNic s{n.mac, n.ip, n.gw, {}, i < nic_mtus.size() ? nic_mtus[i] : 0};
    if (!n.gw.empty()) s.dns.push_back(n.gw);  // the gateway of a kvnet network is its resolver too (gw dnsmasq)
    in.nics.push_back(std::move(s));
  }
  return in;
}

Result<bool> VmHost::create_disk(const ctl::VmSpec& vm) const {
  if (vm.image.empty()) return false;
  auto l = prepare(vm);
  if (!l) return l.error();
  if (!l->disk_to_create) return false;
  std::optional<vm::BaseImage> base = images_ ? images_(vm.image) : std::nullopt;
  if (!base) return Error{"vm '" + vm.name + "': image '" + vm.image + "' is gone"};
  auto out = run_command({"qemu-img", "create", "-q", "-f", "qcow2", "-b", l->disk_backing, "-F", "qcow2", l->disk,
                          std::to_string(vm::overlay_bytes(vm, *base))});
  if (!out) {
    std::error_code ec;
    fs::remove(l->disk, ec);
    return Error{"vm '" + vm.name + "': cannot make its disk " + l->disk + ": " + out.error().message};
  }
  ::chmod(l->disk.c_str(), 0600);
  return true;
}

Status VmHost::start(const ctl::VmSpec& vm, const std::vector<uint32_t>& nic_mtus, const VmStartOptions& how) {
  const std::string ctx = "vm '" + vm.name + "': ";
  if (running(vm.name)) return Error{ctx + "is already running"};
  auto l = prepare(vm);
  if (!l) return l.error();
  if (l->disk_to_create)
    return Error{ctx + "its disk " + l->disk + " is missing (an image's overlay is made when the VM is defined)"};
  const vm::VmPaths p = paths(vm.name);
  std::error_code ec;
  fs::create_directories(p.dir, ec);
  if (ec) return Error{ctx + "cannot create '" + p.dir + "': " + ec.message()};
  fs::permissions(p.dir, fs::perms::owner_all, ec);
  if (vm.has_seed()) {
    // Written at every start: the NICs as they are now take effect at this boot.
    l->seed = p.dir + "/seed.iso";
    if (auto s = vm::write_seed(l->seed, seed_input(vm, nic_mtus)); !s) return Error{ctx + "cloud-init seed: " + s.error().message};
  }
  for (const auto& f : {p.qmp, p.console, p.qga, p.pidfile}) fs::remove(f, ec);
  if (fs::exists(p.log)) fs::rename(p.log, p.log + ".1", ec);  // the boot before
  { std::ofstream(p.qemu_log, std::ios::trunc); }
  fs::remove(p.qemu_log + ".1", ec);
  std::vector<int> fds;
  auto close_fds = [&] {
    for (int fd : fds) ::close(fd);
  };
  for (const auto& nic : vm.nics) {
    auto fd = vm::create_vm_tap(nic.port);
    if (!fd) {
      close_fds();
      return Error{ctx + fd.error().message};
    }
    fds.push_back(*fd);
  }
  auto g = std::make_unique<Guest>();
  g->name = vm.name;
  g->accel = l->accel;
  l->nic_mtus = nic_mtus;
  g->argv = vm::qemu_argv(vm, p, *l);
  if (how.incoming) {
    g->incoming = true;
    g->state = VmState::kIncoming;
    if (!how.machine.empty())
      for (size_t i = 0; i + 1 < g->argv.size(); ++i)
        if (g->argv[i] == "-M") g->argv[i + 1] = how.machine;
    g->argv.insert(g->argv.end() - 2, {"-S", "-incoming", "defer"});  // before -pidfile FILE
  }
  const std::string name = vm.name;
  auto pid = sup_.spawn(name, g->argv,
                        {.log = p.qemu_log, .append_log = true, .fds = fds, .first_fd = l->first_tap_fd, .new_session = true},
                        [this, name](int st) { exited(name, st); });
  close_fds();  // QEMU holds the TAPs now: they go when it goes
  if (!pid) return Error{ctx + pid.error().message};
  g->pid = *pid;
  std::ofstream(p.dir + "/started") << std::chrono::duration_cast<std::chrono::seconds>(
                                           g->started_wall.time_since_epoch()).count()
                                    << "\n";
  Guest& ref = *g;
  guests_[vm.name] = std::move(g);
  ended_.erase(vm.name);
  watch(ref);
  return Ok{};
}

// QMP connection attempts, the ready-marker scan and the logs' size limit
// (the Supervisor reports the exit).
void VmHost::watch(Guest& g) {
  const std::string name = g.name;
  g.connect_timer = loop_.add_periodic(kConnectEvery, [this, name] { try_connect(name); });
  g.scan_timer = loop_.add_periodic(kScanEvery, [this, name] {
    if (Guest* x = find(name)) scan_log(*x);
  });
  g.log_timer = loop_.add_periodic(o_.log_check_every, [this, name] { cap_logs(name); });
  g.agent = std::make_unique<GuestAgent>(loop_, paths(name).qga);
  g.agent->set_guest_runs([this, name] {
    const Guest* x = find(name);
    return x && x->state == VmState::kRunning;
  });
  g.agent->start_polling();
}

void VmHost::cap_logs(const std::string& name) {
  const Guest* g = find(name);
  if (!g) return;
  const vm::VmPaths p = paths(name);
  rotate_if_larger(p.qemu_log, o_.log_max_bytes);  // kvnetd opened it for QEMU with O_APPEND
  // Emptying the console log is only safe when QEMU appends to it: a QEMU an
  // older kvnetd started without logappend=on writes at its own offset.
  for (const auto& a : g->argv)
    if (a.rfind("socket,id=console,", 0) == 0 && a.find(",logappend=on") != std::string::npos)
      rotate_if_larger(p.log, o_.log_max_bytes);
}

void VmHost::try_connect(const std::string& name) {
  Guest* g = find(name);
  if (!g || g->qmp_fd >= 0) return;
  const vm::VmPaths p = paths(name);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path, p.qmp.c_str(), std::min(p.qmp.size(), sizeof(a.sun_path) - 1));
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0) {
    g->qmp_fd = fd;
    loop_.cancel_timer(g->connect_timer);
    g->connect_timer = 0;
    if (auto s = loop_.add_fd(fd, EPOLLIN, [this, name](uint32_t ev) { on_qmp(name, ev); }); !s) close_qmp(*g);
    return;
  }
  if (fd >= 0) ::close(fd);
  if (Clock::now() - g->spawned > o_.qmp_timeout) {  // QEMU never opened its monitor: leave it be
    loop_.cancel_timer(g->connect_timer);
    g->connect_timer = 0;
  }
}

void VmHost::send_qmp(Guest& g, const std::string& execute) {
  if (g.qmp_fd < 0) return;
  uint64_t id = 0;
  const std::string req = g.qmp.request(execute, nullptr, id);
  if (execute == "qmp_capabilities") g.caps_id = id;
  if (execute == "query-status") g.status_id = id;
  send_bytes(g, req);
}

void VmHost::send_bytes(Guest& g, const std::string& req) {
  // Requests are at most a few hundred bytes: the socket buffer always takes them.
  if (::send(g.qmp_fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) close_qmp(g);
}

void VmHost::qmp_call(const std::string& name, const std::string& execute, const nlohmann::json& arguments,
                      QmpReply reply) {
  Guest* g = find(name);
  if (!g) {
    loop_.add_timer(std::chrono::milliseconds(0), [reply, name] { reply(Error{"vm '" + name + "' is not running"}); });
    return;
  }
  uint64_t id = 0;
  const std::string req = g->qmp.request(execute, arguments, id);
  const EventLoop::TimerId t = loop_.add_timer(o_.qmp_timeout, [this, name, id, execute] {
    Guest* x = find(name);
    if (!x) return;
    auto it = x->pending.find(id);
    if (it == x->pending.end()) return;
    QmpReply r = std::move(it->second.reply);
    x->pending.erase(it);
    r(Error{execute + ": QEMU did not answer within " + std::to_string(o_.qmp_timeout.count() / 1000) + " s"});
  });
  g->pending[id] = {std::move(reply), t};
  if (g->qmp_ready) send_bytes(*g, req);
  else g->queued.push_back(req);
}

void VmHost::fail_pending(Guest& g, const std::string& why) {
  auto pending = std::move(g.pending);
  g.pending.clear();
  g.queued.clear();
  for (auto& [id, p] : pending) {
    loop_.cancel_timer(p.timer);
    p.reply(Error{why});
  }
}

void VmHost::on_qmp(const std::string& name, uint32_t) {
  Guest* g = find(name);
  if (!g) return;
  char buf[8192];
  const ssize_t n = ::recv(g->qmp_fd, buf, sizeof buf, 0);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  std::vector<vm::QmpMessage> msgs;
  if (n <= 0 || !g->qmp.feed(std::string_view(buf, static_cast<size_t>(n)), msgs)) {
    close_qmp(*g);  // QEMU is exiting (the pidfd reports it) or misbehaved
    return;
  }
  for (const auto& m : msgs) {
    using K = vm::QmpMessage::Kind;
    if (m.kind == K::kGreeting) {
      send_qmp(*g, "qmp_capabilities");
    } else if (m.kind == K::kReturn && m.id == g->caps_id) {
      g->qmp_ready = true;
      send_qmp(*g, "query-status");
      if (g->stop_requested) send_qmp(*g, "system_powerdown");  // asked before QMP was up
      for (const auto& q : std::exchange(g->queued, {}))
        if (g->qmp_fd >= 0) send_bytes(*g, q);
    } else if (m.kind == K::kReturn && m.id == g->status_id) {
      const bool running = m.data.is_object() && m.data.contains("running") && m.data["running"].is_boolean() &&
                           m.data["running"].get<bool>();
      if (g->state == VmState::kStarting) g->state = running ? VmState::kRunning : VmState::kPaused;
    } else if ((m.kind == K::kReturn || m.kind == K::kError) && g->pending.count(m.id)) {
      auto it = g->pending.find(m.id);
      QmpReply r = std::move(it->second.reply);
      loop_.cancel_timer(it->second.timer);
      g->pending.erase(it);
      if (m.kind == K::kReturn) r(m.data);
      else r(Error{m.error});
      g = find(name);  // the reply may have ended the VM
      if (!g) return;
    } else if (m.kind == K::kEvent) {
      if (m.event == "SHUTDOWN") {
        g->shutdown_seen = true;
        g->state = VmState::kStopping;
      } else if (m.event == "STOP" && g->state != VmState::kStopping && g->state != VmState::kIncoming) {
        g->state = VmState::kPaused;
      } else if (m.event == "RESUME" && g->state != VmState::kStopping) {
        g->state = VmState::kRunning;
        g->incoming = false;
      } else if (m.event == "RESET") {  // a reboot: the guest boots again
        g->ready = false;
        g->boot_s = -1;
        g->spawned = Clock::now();
        g->marker = vm::MarkerScanner(std::string(vm::kReadyMarker));
        if (!g->scan_timer)
          g->scan_timer = loop_.add_periodic(kScanEvery, [this, name] {
            if (Guest* x = find(name)) scan_log(*x);
          });
      }
      if (event_hook_) {
        event_hook_(name, m.event, m.data, m.timestamp_us);
        g = find(name);  // the hook may have ended the VM
        if (!g) return;
      }
    }
  }
}

void VmHost::scan_log(Guest& g) {
  auto stop_scanning = [&] {
    loop_.cancel_timer(g.scan_timer);
    g.scan_timer = 0;
  };
  const double since = std::chrono::duration<double>(Clock::now() - g.spawned).count();
  if (g.ready || since > kScanForS) return stop_scanning();
  const int fd = ::open(paths(g.name).log.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;  // QEMU has not created it yet
  if (struct stat st{}; ::fstat(fd, &st) == 0 && st.st_size < g.log_offset) g.log_offset = 0;  // rotated
  char buf[16384];
  ssize_t n;
  while ((n = ::pread(fd, buf, sizeof buf, g.log_offset)) > 0) {
    g.log_offset += n;
    if (g.marker.feed(std::string_view(buf, static_cast<size_t>(n)))) {
      g.ready = true;
      g.boot_s = since;
      if (g.state == VmState::kStarting) g.state = VmState::kRunning;
      break;
    }
  }
  ::close(fd);
  if (g.ready) stop_scanning();
}

void VmHost::close_qmp(Guest& g) {
  fail_pending(g, "the QMP connection closed (QEMU is ending?)");
  if (g.qmp_fd < 0) return;
  loop_.remove_fd(g.qmp_fd);
  ::close(g.qmp_fd);
  g.qmp_fd = -1;
  g.qmp_ready = false;
}

void VmHost::exited(const std::string& name, int st) {
  Guest* g = find(name);
  if (!g) return;
  for (auto t : {g->connect_timer, g->kill_timer, g->scan_timer, g->log_timer}) loop_.cancel_timer(t);
  close_qmp(*g);
  std::string how;
  bool clean = true;
  if (g->kill_requested) how = "killed";
  else if (g->stop_timed_out) how = "killed after the stop timeout";
  else if (g->stop_requested) how = "powered off";
  else if (g->shutdown_seen) how = "powered off by the guest";
  else {
    clean = false;
    how = exit_text(st);
  }
  const vm::VmPaths p = paths(name);
  Ended& e = ended_[name];
  e = {!clean, how, ""};
  if (!clean) e.error = vm::qemu_error_line(read_file(p.qemu_log, 64 << 10), g->argv.empty() ? "" : g->argv[0]);
  std::error_code ec;
  for (const auto& f : {p.pidfile, p.dir + "/started", p.qmp, p.console, p.qga}) fs::remove(f, ec);
  guests_.erase(name);
  if (exit_hook_) exit_hook_(name);
}

Status VmHost::stop(const std::string& name, std::chrono::milliseconds timeout) {
  Guest* g = find(name);
  if (!g) return Error{"vm '" + name + "' is not running"};
  if (g->stop_requested) return Ok{};
  g->stop_requested = true;
  g->state = VmState::kStopping;
  if (g->qmp_ready) send_qmp(*g, "system_powerdown");
  // Without QMP yet, the power-off goes out once it answers (on_qmp).
  const pid_t pid = g->pid;
  g->kill_timer = loop_.add_timer(timeout, [this, name, pid] {
    Guest* x = find(name);
    if (!x || x->pid != pid) return;
    x->kill_timer = 0;
    x->stop_timed_out = true;
    sup_.signal(name, SIGKILL);
  });
  return Ok{};
}

Status VmHost::kill(const std::string& name) {
  Guest* g = find(name);
  if (!g) return Error{"vm '" + name + "' is not running"};
  g->kill_requested = true;
  g->state = VmState::kStopping;
  // QMP `quit` ends QEMU at once (the guest is not asked); SIGKILL if QEMU
  // does not answer, or when it is already being stopped that way.
  if (g->qmp_ready) {
    send_qmp(*g, "quit");
    const pid_t pid = g->pid;
    loop_.cancel_timer(g->kill_timer);
    g->kill_timer = loop_.add_timer(std::chrono::milliseconds(2000), [this, name, pid] {
      if (Guest* x = find(name); x && x->pid == pid) sup_.signal(name, SIGKILL);
    });
    return Ok{};
  }
  sup_.signal(name, SIGKILL);  // false: it is exiting already
  return Ok{};
}

bool VmHost::reattach(const ctl::VmSpec& vm) {
  if (running(vm.name)) return true;
  auto qemu = vm::find_qemu();
  if (!qemu) return false;  // nothing to check its executable against
  const vm::VmPaths p = paths(vm.name);
  const std::string guest = "guest=" + vm.name + ",", qmp = "path=" + vm::qemu_opt_value(p.qmp) + ",";
  io::ProcessIdentity id{*qemu, [&](const std::vector<std::string>& argv) {
                           bool ours = false, has_qmp = false;
                           for (const auto& a : argv) {
                             ours = ours || a.rfind(guest, 0) == 0;
                             has_qmp = has_qmp || a.find(qmp) != std::string::npos;
                           }
                           return ours && has_qmp;
                         }};
  const std::string name = vm.name;
  const pid_t pid = sup_.adopt(name, p.pidfile, id, [this, name](int st) { exited(name, st); });
  if (!pid) return false;  // none, or a stale pidfile: the pid is someone else's now
  auto g = std::make_unique<Guest>();
  g->name = vm.name;
  g->pid = pid;
  g->argv = io::proc_cmdline(pid);
  for (size_t i = 0; i + 1 < g->argv.size(); ++i)
    if (g->argv[i] == "-accel") g->accel = g->argv[i + 1].rfind("kvm", 0) == 0 ? ctl::Accel::kKvm : ctl::Accel::kTcg;
  int64_t started = 0;
  std::ifstream(p.dir + "/started") >> started;
  if (started > 0) g->started_wall = std::chrono::system_clock::time_point(std::chrono::seconds(started));
  g->spawned = Clock::now() - std::chrono::duration_cast<Clock::duration>(std::chrono::system_clock::now() -
                                                                         g->started_wall);
  Guest& ref = *g;
  guests_[vm.name] = std::move(g);
  watch(ref);
  scan_log(ref);  // the marker may be in the log already
  ref.boot_s = -1;  // not measured by this kvnetd
  return true;
}

Status VmHost::remove(const std::string& name) {
  Status result = Ok{};
  if (Guest* g = find(name)) {
    for (auto t : {g->connect_timer, g->kill_timer, g->scan_timer, g->log_timer}) loop_.cancel_timer(t);
    close_qmp(*g);
    const pid_t pid = g->pid;
    guests_.erase(name);
    if (!sup_.terminate(name, kRemoveGrace))
      result = Error{"vm '" + name + "': QEMU (pid " + std::to_string(pid) + ") did not die on SIGKILL"};
  }
  sup_.forget(name);
  ended_.erase(name);
  std::error_code ec;
  fs::remove_all(paths(name).dir, ec);
  return result;
}

VmStatus VmHost::status(const std::string& name) const {
  VmStatus s;
  const Guest* g = find(name);
  if (!g) {
    if (auto it = ended_.find(name); it != ended_.end()) {
      s.last_exit = it->second.how;
      s.error = it->second.error;
      s.state = it->second.crashed ? VmState::kCrashed : VmState::kStopped;
    }
    return s;
  }
  s.state = g->state;
  s.pid = g->pid;
  s.accel = g->accel;
  s.uptime_s = std::chrono::duration<double>(std::chrono::system_clock::now() - g->started_wall).count();
  s.rss_kb = rss_kb(g->pid);
  s.ready = g->ready;
  s.boot_s = g->boot_s;
  s.command = g->argv;
  s.shape = vm::running_shape(g->argv);
  return s;
}

}  // namespace kvnet::daemon
