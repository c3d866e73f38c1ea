#include "vm/qemu.h"

#include <fcntl.h>
#include <linux/kvm.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "io/netdev.h"
#include "io/process.h"
#include "io/tap.h"


namespace kvnet::vm {
namespace fs = std::filesystem;

namespace {

std::string errno_text(int e) { return std::strerror(e); }

bool readable(const std::string& path) { return ::access(path.c_str(), R_OK) == 0 && fs::is_regular_file(path); }

}  // namespace

KvmProbe probe_kvm(const std::string& cpuinfo, const std::string& dev) {
  std::ifstream in(cpuinfo);
  std::string line;
  bool hw = false;
  while (!hw && std::getline(in, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line);
    std::string w;
    while (words >> w) hw = hw || w == "vmx" || w == "svm";
  }
  if (!hw) return {false, "the CPU has no hardware virtualization (no vmx/svm in " + cpuinfo + ")"};
  const int fd = ::open(dev.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return {false, "cannot open " + dev + ": " + errno_text(errno)};
  // SAFETY: KVM_GET_API_VERSION takes no argument and returns the version.
  const int v = ioctl(fd, KVM_GET_API_VERSION, 0);
  ::close(fd);
  if (v != 12) return {false, dev + " answers API version " + std::to_string(v) + ", not 12"};
  return {true, ""};
}

Result<ctl::Accel> resolve_accel(ctl::Accel want, const KvmProbe& kvm) {
  switch (want) {
    case ctl::Accel::kTcg: return ctl::Accel::kTcg;
    case ctl::Accel::kKvm:
      if (!kvm.usable) return Error{"accel kvm is not available here: " + kvm.reason + " (use accel tcg or auto)"};
      return ctl::Accel::kKvm;
    case ctl::Accel::kAuto: break;
  }
  return kvm.usable ? ctl::Accel::kKvm : ctl::Accel::kTcg;
}

Result<std::string> find_qemu() {
  if (const char* q = std::getenv("KVNET_QEMU"); q && *q) {
    if (::access(q, X_OK) != 0) return Error{"QEMU '" + std::string(q) + "' (KVNET_QEMU) is not executable"};
    return std::string(q);
  }
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path && *path ? path : "/usr/local/bin:/usr/bin:/bin");
  std::string d;
  while (std::getline(dirs, d, ':')) {
    const std::string f = (d.empty() ? "." : d) + "/qemu-system-x86_64";
    if (::access(f.c_str(), X_OK) == 0) return f;
  }
  return Error{"QEMU is not installed: no qemu-system-x86_64 on PATH (Debian package qemu-system-x86)"};
}

std::optional<std::string> parse_qemu_version(std::string_view out) {
  const std::string_view key = "version ";
  const size_t at = out.find(key);
  if (at == std::string_view::npos) return std::nullopt;
  size_t i = at + key.size(), j = i;
  while (j < out.size() && (std::isdigit(static_cast<unsigned char>(out[j])) || out[j] == '.')) ++j;
  if (j == i || !std::isdigit(static_cast<unsigned char>(out[i]))) return std::nullopt;
  return std::string(out.substr(i, j - i));
}

std::optional<std::string> parse_machine_alias(std::string_view help, const std::string& alias) {
  size_t pos = 0;
  while (pos < help.size()) {
    size_t end = help.find('\n', pos);
    if (end == std::string_view::npos) end = help.size();
    const std::string_view line = help.substr(pos, end - pos);
    pos = end + 1;
    if (line.substr(0, alias.size()) != alias || line.size() == alias.size() || line[alias.size()] != ' ') continue;
    const std::string_view key = "(alias of ";
    const size_t a = line.find(key);
    if (a == std::string_view::npos) return alias;  // not an alias: the name itself is versioned
    const size_t b = line.find(')', a);
    if (b == std::string_view::npos) return std::nullopt;
    const std::string target(line.substr(a + key.size(), b - a - key.size()));
    for (char c : target)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != '_') return std::nullopt;
    return target.empty() ? std::nullopt : std::optional<std::string>(target);
  }
  return std::nullopt;
}

int compare_versions(const std::string& a, const std::string& b) {
  std::istringstream x(a), y(b);
  std::string p, q;
  for (;;) {
    const bool more_a = static_cast<bool>(std::getline(x, p, '.')), more_b = static_cast<bool>(std::getline(y, q, '.'));
    if (!more_a && !more_b) return 0;
    const long u = more_a ? std::strtol(p.c_str(), nullptr, 10) : 0, v = more_b ? std::strtol(q.c_str(), nullptr, 10) : 0;
    if (u != v) return u < v ? -1 : 1;
  }
}

uint64_t host_memory_mb() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  uint64_t kb = 0;
  while (in >> key >> kb) {
    if (key == "MemTotal:") return kb / 1024;
    in.ignore(256, '\n');
  }
  return 0;
}

Result<GuestImage> find_guest_image(const std::string& dir) {
  GuestImage g{dir + "/vmlinuz", dir + "/initrd.img"};
  if (!readable(g.kernel) || !readable(g.initrd))
    return Error{"kvnet's guest image is not in '" + dir + "' (build it with guest/build.sh " + dir +
                 ", or give --kernel/--initrd or --disk)"};
  return g;
}

uint64_t overlay_bytes(const ctl::VmSpec& vm, const BaseImage& base) {
  return vm.disk_size_mb ? vm.disk_size_mb << 20 : base.virtual_size;
}

Status check_boot_files(const ctl::VmSpec& vm, const GuestImage& image, Launch* l, const BaseImage* base) {
  const std::string ctx = "vm '" + vm.name + "': ";
  Launch ignored;
  Launch& out = l ? *l : ignored;
  auto file = [&](const std::string& what, const std::string& p, std::string& into) -> Status {
    auto r = check_vm_file(what, p);
    if (!r) return Error{ctx + r.error().message};
    into = *r;
    return Ok{};
  };
  if (vm.uses_guest_image()) {
    if (auto s = file("kernel", image.kernel, out.kernel); !s) return s;
    return file("initrd", image.initrd, out.initrd);
  }
  if (!vm.image.empty()) {
    if (!base) return Error{ctx + "image '" + vm.image + "' is not in this host's image store (kvnetctl image import " +
                            vm.image + " FILE)"};
    auto b = check_disk(base->path);
    if (!b) return Error{ctx + "image '" + vm.image + "': " + b.error().message};
    if (b->format != DiskFormat::kQcow2) return Error{ctx + "image '" + vm.image + "' is not qcow2"};
    const uint64_t want = overlay_bytes(vm, *base);
    if (want < base->virtual_size)
      return Error{ctx + "disk_size " + ctl::format_memory(vm.disk_size_mb) + " is smaller than image '" + vm.image +
                   "' (" + ctl::format_memory((base->virtual_size + (1 << 20) - 1) >> 20) + ")"};
    if (vm.disk.empty()) return Error{ctx + "an image's VM needs the path of its overlay ('disk')"};
    std::error_code ec;
    if (std::filesystem::exists(vm.disk, ec)) {
      auto d = check_disk(vm.disk, std::filesystem::path(b->path).parent_path().string());
      if (!d) return Error{ctx + d.error().message};
      if (d->backing != b->path)
        return Error{ctx + "disk '" + vm.disk + "' is not an overlay of image '" + vm.image + "'"};
      out.disk = d->path;
      out.disk_format = d->format;
    } else {
      auto p = check_new_disk(vm.disk);
      if (!p) return Error{ctx + p.error().message};
      out.disk = *p;
      out.disk_format = DiskFormat::kQcow2;
      out.disk_to_create = true;
    }
    out.disk_backing = b->path;
    out.disk_backing_format = b->format;
    if (vm.kernel.empty() && !base->kernel.empty()) {
      if (auto s = file("kernel", base->kernel, out.kernel); !s) return s;
      if (!base->initrd.empty())
        if (auto s = file("initrd", base->initrd, out.initrd); !s) return s;
      out.base_cmdline = base->cmdline;
    }
  } else if (!vm.disk.empty()) {
    auto d = check_disk(vm.disk);
    if (!d) return Error{ctx + d.error().message};
    out.disk = d->path;
    out.disk_format = d->format;
  }
  if (!vm.kernel.empty()) {
    if (auto s = file("kernel", vm.kernel, out.kernel); !s) return s;
    if (!vm.initrd.empty()) return file("initrd", vm.initrd, out.initrd);
  }
  return Ok{};
}

VmPaths VmPaths::under(const std::string& root, const std::string& vm) {
  VmPaths p;
  p.dir = root + "/" + vm;
  p.qmp = p.dir + "/qmp.sock";
  p.console = p.dir + "/console.sock";
  p.qga = p.dir + "/qga.sock";
  p.log = p.dir + "/console.log";
  p.pidfile = p.dir + "/qemu.pid";
  p.qemu_log = p.dir + "/qemu.log";
  return p;
}

std::string kernel_cmdline(const ctl::VmSpec& vm, const std::vector<uint32_t>& nic_mtus, const std::string& base) {
  std::string c = "console=ttyS0";
  if (!base.empty()) c += " " + base;
  // cloud-init looks no further than the seed (its NoCloud source).
  if (vm.has_seed()) c += " ds=nocloud";
  if (!vm.cmdline.empty()) c += " " + vm.cmdline;
  if (vm.has_seed()) return c;  // cloud-init configures the guest, not kvnet.* words
  c += " kvnet.hostname=" + vm.name;
  for (size_t i = 0; i < vm.nics.size(); ++i) {
    if (!vm.nics[i].ip.empty()) c += " kvnet.ip" + std::to_string(i) + "=" + vm.nics[i].ip;
    if (i < nic_mtus.size() && nic_mtus[i]) c += " kvnet.mtu" + std::to_string(i) + "=" + std::to_string(nic_mtus[i]);
    if (!vm.nics[i].gw.empty()) c += " kvnet.gw=" + vm.nics[i].gw;
  }
  return c;
}

std::string qemu_opt_value(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    out += c;
    if (c == ',') out += ',';
  }
  return out;
}

std::string blockdev_json(const std::string& path, DiskFormat f, const std::string& backing, DiskFormat backing_format) {
  nlohmann::json j{{"driver", to_string(f)},
                   {"node-name", "disk0"},
                   {"file", {{"driver", "file"}, {"filename", path}}}};
  if (f == DiskFormat::kQcow2) {
    // Whatever the header says: no backing file, or the image check_disk
    // checked, read-only.
    j["backing"] = nullptr;
    if (!backing.empty())
      j["backing"] = {{"driver", to_string(backing_format)},
                      {"node-name", "base0"},
                      {"read-only", true},
                      {"file", {{"driver", "file"}, {"filename", backing}, {"read-only", true}}}};
  }
  return j.dump();
}

std::vector<std::string> qemu_argv(const ctl::VmSpec& vm, const VmPaths& paths, const Launch& l) {
  const std::string name = qemu_opt_value(vm.name);
  std::vector<std::string> a = {l.qemu, "-name", "guest=" + name + ",process=kvnet-" + name,
                                "-M", vm.machine, "-nodefaults", "-no-user-config", "-display", "none"};
  if (l.accel == ctl::Accel::kKvm) {
    a.insert(a.end(), {"-accel", "kvm", "-cpu", "host"});
  } else {
    a.insert(a.end(), {"-accel", vm.vcpus > 1 ? "tcg,thread=multi" : "tcg"});
  }
  a.insert(a.end(), {"-m", std::to_string(vm.memory_mb) + "M", "-smp", std::to_string(vm.vcpus)});
  a.insert(a.end(), {"-chardev", "socket,id=qmp,path=" + qemu_opt_value(paths.qmp) + ",server=on,wait=off", "-mon",
                     "chardev=qmp,mode=control"});
  // logappend=on: QEMU opens the log O_APPEND, so kvnetd can empty it when
  // it grows too big (VmHost); start moves the boot before to console.log.1.
  a.insert(a.end(), {"-chardev", "socket,id=console,path=" + qemu_opt_value(paths.console) +
                                     ",server=on,wait=off,logfile=" + qemu_opt_value(paths.log) + ",logappend=on",
                     "-serial", "chardev:console"});
  // The guest agent's channel: a virtio-serial port by the name
  // qemu-guest-agent looks for; kvnetd is its client (daemon/guest_agent.h).
  a.insert(a.end(), {"-chardev", "socket,id=qga0,path=" + qemu_opt_value(paths.qga) + ",server=on,wait=off", "-device",
                     "virtio-serial-pci,id=vser0", "-device",
                     "virtserialport,bus=vser0.0,chardev=qga0,name=org.qemu.guest_agent.0"});
  for (size_t i = 0; i < vm.nics.size(); ++i) {
    const std::string id = "net" + std::to_string(i);
    a.insert(a.end(), {"-netdev", "tap,id=" + id + ",fd=" + std::to_string(l.first_tap_fd + static_cast<int>(i)) +
                                      ",vhost=off",
                       "-device", "virtio-net-pci,netdev=" + id + ",mac=" + qemu_opt_value(vm.nics[i].mac) +
                                      ",romfile="});
  }
  if (!l.disk.empty())
    a.insert(a.end(), {"-blockdev", blockdev_json(l.disk, l.disk_format, l.disk_backing, l.disk_backing_format), "-device",
                       l.kernel.empty() ? "virtio-blk-pci,drive=disk0,bootindex=1" : "virtio-blk-pci,drive=disk0"});
  if (!l.seed.empty()) {
    const nlohmann::json seed{{"driver", "raw"},
                              {"node-name", "seed0"},
                              {"read-only", true},
                              {"file", {{"driver", "file"}, {"filename", l.seed}, {"read-only", true}}}};
    a.insert(a.end(), {"-blockdev", seed.dump(), "-device", "virtio-blk-pci,drive=seed0"});
  }
  if (!l.kernel.empty()) {
    a.insert(a.end(), {"-kernel", l.kernel});
    if (!l.initrd.empty()) a.insert(a.end(), {"-initrd", l.initrd});
    a.insert(a.end(), {"-append", kernel_cmdline(vm, l.nic_mtus, l.base_cmdline)});
  }
  a.insert(a.end(), {"-pidfile", paths.pidfile});
  return a;
}

Result<int> create_vm_tap(const std::string& name) {
  auto tap = io::open_tap(name, {.must_create = true});
  if (!tap) return tap.error();
  // QEMU sets the virtio-net header size and the offloads itself, from
  // what the guest's driver negotiates. The host side is the switch port's
  // plumbing: the host's stack stays out of it.
  if (auto s = io::if_keep_host_out(name); !s) {
    ::close(tap->fd);
    return Error{"tap '" + name + "': " + s.error().message};
  }
  if (auto s = io::if_set_up(name, true); !s) {
    ::close(tap->fd);
    return Error{"tap '" + name + "': " + s.error().message};
  }
  return tap->fd;
}

RunningShape running_shape(const std::vector<std::string>& argv) {
  RunningShape r;
  for (size_t i = 0; i + 1 < argv.size(); ++i) {
    const std::string& v = argv[i + 1];
    if (argv[i] == "-m") {
      auto m = ctl::parse_memory(v.substr(0, v.find(',')));
      if (m) r.memory_mb = *m;
    } else if (argv[i] == "-smp") {
      const auto n = std::strtoul(v.c_str(), nullptr, 10);
      if (n > 0 && n <= ctl::kMaxVcpus) r.vcpus = static_cast<uint32_t>(n);
    } else if (argv[i] == "-M") {
      r.machine = v.substr(0, v.find(','));
    }
  }
  return r;
}

std::string qemu_error_line(const std::string& output, const std::string& qemu) {
  const std::string prefix = fs::path(qemu).filename().string() + ": ";
  std::istringstream in(output);
  std::string line, error, last;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (line.empty()) continue;
    last = line;
    if (prefix.size() > 2 && line.rfind(prefix, 0) == 0) error = line;
  }
  return error.empty() ? last : error;
}

}  // namespace kvnet::vm
