#include "vm/qemu.h"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "io/netdev.h"
#include "io/process.h"


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

Result<DiskFormat> disk_format(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in || !fs::is_regular_file(path)) return Error{"disk '" + path + "' cannot be read"};
  char magic[4] = {};
  in.read(magic, 4);
  if (in.gcount() == 4 && std::memcmp(magic, "QFI\xfb", 4) == 0) return DiskFormat::kQcow2;
  return DiskFormat::kRaw;
}

Status check_boot_files(const ctl::VmSpec& vm, const GuestImage& image) {
  const std::string ctx = "vm '" + vm.name + "': ";
  auto need = [&](const std::string& what, const std::string& p) -> Status {
    if (!readable(p)) return Error{ctx + what + " '" + p + "' does not exist or cannot be read"};
    return Ok{};
  };
  if (vm.uses_guest_image()) {
    if (auto s = need("kernel", image.kernel); !s) return s;
    return need("initrd", image.initrd);
  }
  if (!vm.disk.empty()) return need("disk", vm.disk);
  if (auto s = need("kernel", vm.kernel); !s) return s;
  if (!vm.initrd.empty()) return need("initrd", vm.initrd);
  return Ok{};
}

VmPaths VmPaths::under(const std::string& root, const std::string& vm) {
  VmPaths p;
  p.dir = root + "/" + vm;
  p.qmp = p.dir + "/qmp.sock";
  p.console = p.dir + "/console.sock";
  p.log = p.dir + "/console.log";
  p.pidfile = p.dir + "/qemu.pid";
  p.qemu_log = p.dir + "/qemu.log";
  return p;
}

std::string kernel_cmdline(const ctl::VmSpec& vm, const std::vector<uint32_t>& nic_mtus) {
  std::string c = "console=ttyS0";
  if (!vm.cmdline.empty()) c += " " + vm.cmdline;
  c += " kvnet.hostname=" + vm.name;
  for (size_t i = 0; i < vm.nics.size(); ++i) {
    if (!vm.nics[i].ip.empty()) c += " kvnet.ip" + std::to_string(i) + "=" + vm.nics[i].ip;
    if (i < nic_mtus.size() && nic_mtus[i]) c += " kvnet.mtu" + std::to_string(i) + "=" + std::to_string(nic_mtus[i]);
    if (!vm.nics[i].gw.empty()) c += " kvnet.gw=" + vm.nics[i].gw;
  }
  return c;
}

std::vector<std::string> qemu_argv(const ctl::VmSpec& vm, const VmPaths& paths, const Launch& l) {
  std::vector<std::string> a = {l.qemu, "-name", "guest=" + vm.name + ",process=kvnet-" + vm.name,
                                "-M", vm.machine, "-nodefaults", "-no-user-config", "-display", "none"};
  if (l.accel == ctl::Accel::kKvm) {
    a.insert(a.end(), {"-accel", "kvm", "-cpu", "host"});
  } else {
    a.insert(a.end(), {"-accel", vm.vcpus > 1 ? "tcg,thread=multi" : "tcg"});
  }
  a.insert(a.end(), {"-m", std::to_string(vm.memory_mb) + "M", "-smp", std::to_string(vm.vcpus)});
  a.insert(a.end(), {"-chardev", "socket,id=qmp,path=" + paths.qmp + ",server=on,wait=off", "-mon",
                     "chardev=qmp,mode=control"});
  a.insert(a.end(), {"-chardev", "socket,id=console,path=" + paths.console + ",server=on,wait=off,logfile=" +
                                     paths.log + ",logappend=off",
                     "-serial", "chardev:console"});
  for (size_t i = 0; i < vm.nics.size(); ++i) {
    const std::string id = "net" + std::to_string(i);
    a.insert(a.end(), {"-netdev", "tap,id=" + id + ",fd=" + std::to_string(l.first_tap_fd + static_cast<int>(i)) +
                                      ",vhost=off",
                       "-device", "virtio-net-pci,netdev=" + id + ",mac=" + vm.nics[i].mac + ",romfile="});
  }
  if (!vm.disk.empty()) {
    a.insert(a.end(), {"-drive", "file=" + vm.disk + ",format=" + (l.disk == DiskFormat::kQcow2 ? "qcow2" : "raw") +
                                     ",if=virtio,cache=writeback"});
  } else {
    const std::string& kernel = vm.uses_guest_image() ? l.image.kernel : vm.kernel;
    const std::string& initrd = vm.uses_guest_image() ? l.image.initrd : vm.initrd;
    a.insert(a.end(), {"-kernel", kernel});
    if (!initrd.empty()) a.insert(a.end(), {"-initrd", initrd});
    a.insert(a.end(), {"-append", kernel_cmdline(vm, l.nic_mtus)});
  }
  a.insert(a.end(), {"-pidfile", paths.pidfile});
  return a;
}

Result<int> create_vm_tap(const std::string& name) {
  if (name.empty() || name.size() >= IFNAMSIZ) return Error{"tap name '" + name + "' is invalid"};
  if (io::if_exists(name))
    return Error{"interface '" + name + "' exists already (another VM's NIC, or this VM is still running)"};
  const int fd = ::open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) return Error{"tap '" + name + "': cannot open /dev/net/tun: " + errno_text(errno)};
  ifreq r{};
  std::memcpy(r.ifr_name, name.data(), name.size());
  r.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
  // SAFETY: TUNSETIFF reads the ifreq we own and binds this fd to a new device.
  if (ioctl(fd, TUNSETIFF, &r) < 0) {
    const int e = errno;
    ::close(fd);
    return Error{"tap '" + name + "': cannot create: " + errno_text(e)};
  }
  // QEMU sets the virtio-net header size and the offloads itself, from
  // what the guest's driver negotiates. The host side is the switch port's
  // plumbing: the host's stack stays out of it.
  if (auto s = io::if_keep_host_out(name); !s) {
    ::close(fd);
    return Error{"tap '" + name + "': " + s.error().message};
  }
  if (auto s = io::if_set_up(name, true); !s) {
    ::close(fd);
    return Error{"tap '" + name + "': " + s.error().message};
  }
  return fd;
}

Result<pid_t> spawn_qemu(const std::vector<std::string>& argv, const std::vector<int>& tap_fds, int first_tap_fd,
                         const std::string& log) {
  return io::spawn(argv, {.log = log, .append_log = true, .fds = tap_fds, .first_fd = first_tap_fd, .new_session = true});
}

}  // namespace kvnet::vm
