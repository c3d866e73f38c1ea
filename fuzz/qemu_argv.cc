// Fuzz target qemu_argv: arbitrary bytes as a topology's VMs, through
// ctl::parse_topology and vm::qemu_argv, as kvnetd starts them; the same
// bytes as a qcow2 header (vm::parse_qcow2_header).
//
// Invariants, for every VM the checks accept:
//   - no value adds an option: each of QEMU's comma-separated options, split
//     as QEMU splits them (",," is a comma), has exactly kvnet's keys, and the
//     paths and names in them read back as given; the -blockdev JSON parses
//     to a format node over one file node naming exactly the disk;
//   - the running shape read back from the argv is the VM's memory, vCPUs
//     and machine; -append is the kernel command line; no word holds a NUL.
// A header either parses or is an error; a parsed one is refused or not,
// never a crash.
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ctl/topology.h"
#include "fuzz_check.h"
#include "vm/disk.h"
#include "vm/qemu.h"

namespace {

using Opts = std::vector<std::pair<std::string, std::string>>;

// QEMU's option syntax: KEY=VALUE pairs split at single commas, ",," a comma;
// the first part may be a bare value (the driver).
Opts split(const std::string& s) {
  std::vector<std::string> parts(1);
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == ',' && i + 1 < s.size() && s[i + 1] == ',') {
      parts.back() += ',';
      ++i;
    } else if (s[i] == ',') {
      parts.emplace_back();
    } else {
      parts.back() += s[i];
    }
  }
  Opts out;
  for (const auto& p : parts) {
    const auto eq = p.find('=');
    out.emplace_back(eq == std::string::npos ? p : p.substr(0, eq), eq == std::string::npos ? "" : p.substr(eq + 1));
  }
  return out;
}

std::vector<std::string> keys(const Opts& o) {
  std::vector<std::string> k;
  for (const auto& [key, value] : o) k.push_back(key);
  return k;
}

std::string value(const Opts& o, const std::string& key) {
  for (const auto& [k, v] : o)
    if (k == key) return v;
  return "";
}

void check_argv(const kvnet::ctl::VmSpec& vm) {
  using namespace kvnet;
  vm::Launch l;
  l.qemu = "/usr/bin/qemu-system-x86_64";
  l.accel = vm.accel == ctl::Accel::kKvm ? ctl::Accel::kKvm : ctl::Accel::kTcg;
  l.kernel = vm.uses_guest_image() ? "/var/cache/kvnet/guest/vmlinuz" : vm.kernel;
  l.initrd = vm.uses_guest_image() ? "/var/cache/kvnet/guest/initrd.img" : vm.initrd;
  l.disk = vm.disk;
  l.disk_format = vm.disk.size() % 2 ? vm::DiskFormat::kQcow2 : vm::DiskFormat::kRaw;
  const vm::VmPaths paths = vm::VmPaths::under("/run/kvnet,id=x/vms", vm.name);
  const auto a = vm::qemu_argv(vm, paths, l);
  for (const auto& w : a) FUZZ_CHECK(w.find('\0') == std::string::npos, "a NUL in an argv word");
  size_t chardevs = 0, nets = 0;
  for (size_t i = 0; i + 1 < a.size(); ++i) {
    const std::string& f = a[i];
    const std::string& v = a[i + 1];
    if (f == "-name") {
      const Opts o = split(v);
      FUZZ_CHECK((keys(o) == std::vector<std::string>{"guest", "process"}), "-name %s", v.c_str());
      FUZZ_CHECK(value(o, "guest") == vm.name, "-name guest: %s", v.c_str());
    } else if (f == "-chardev") {
      const Opts o = split(v);
      const size_t n = chardevs++;
      if (n == 0 || n == 2) {  // QMP, the guest agent's channel
        FUZZ_CHECK((keys(o) == std::vector<std::string>{"socket", "id", "path", "server", "wait"}), "%s", v.c_str());
        FUZZ_CHECK(value(o, "path") == (n == 0 ? paths.qmp : paths.qga), "socket path: %s", v.c_str());
      } else {
        FUZZ_CHECK((keys(o) == std::vector<std::string>{"socket", "id", "path", "server", "wait", "logfile", "logappend"}),
                   "%s", v.c_str());
        FUZZ_CHECK(value(o, "path") == paths.console && value(o, "logfile") == paths.log, "console: %s", v.c_str());
      }
    } else if (f == "-netdev") {
      FUZZ_CHECK((keys(split(v)) == std::vector<std::string>{"tap", "id", "fd", "vhost"}), "-netdev %s", v.c_str());
    } else if (f == "-device" && v.rfind("virtio-net-pci,", 0) == 0) {
      const Opts o = split(v);
      FUZZ_CHECK((keys(o) == std::vector<std::string>{"virtio-net-pci", "netdev", "mac", "romfile"}), "%s", v.c_str());
      FUZZ_CHECK(nets < vm.nics.size() && value(o, "mac") == vm.nics[nets].mac, "mac: %s", v.c_str());
      ++nets;
    } else if (f == "-device") {
      FUZZ_CHECK(v == "virtio-blk-pci,drive=disk0,bootindex=1" || v == "virtio-serial-pci,id=vser0" ||
                     v == "virtserialport,bus=vser0.0,chardev=qga0,name=org.qemu.guest_agent.0",
                 "-device %s", v.c_str());
    } else if (f == "-blockdev") {
      const auto j = nlohmann::json::parse(v, nullptr, false);
      FUZZ_CHECK(!j.is_discarded() && j.is_object(), "-blockdev is not JSON: %s", v.c_str());
      const std::set<std::string> want = l.disk_format == vm::DiskFormat::kQcow2
                                             ? std::set<std::string>{"driver", "node-name", "file", "backing"}
                                             : std::set<std::string>{"driver", "node-name", "file"};
      std::set<std::string> have;
      for (auto it = j.begin(); it != j.end(); ++it) have.insert(it.key());
      FUZZ_CHECK(have == want, "-blockdev keys: %s", v.c_str());
      FUZZ_CHECK(j["file"].size() == 2 && j["file"]["driver"] == "file" && j["file"]["filename"] == vm.disk,
                 "-blockdev file: %s", v.c_str());
    } else if (f == "-append") {
      FUZZ_CHECK(v == vm::kernel_cmdline(vm), "-append");
    }
  }
  FUZZ_CHECK(chardevs == 3 && nets == vm.nics.size(), "%zu chardevs, %zu NICs", chardevs, nets);
  const auto shape = vm::running_shape(a);
  FUZZ_CHECK(shape.memory_mb == vm.memory_mb && shape.vcpus == vm.vcpus && shape.machine == vm.machine,
             "shape %lu/%u/%s", static_cast<unsigned long>(shape.memory_mb), shape.vcpus, shape.machine.c_str());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kvnet;
  const std::string text(reinterpret_cast<const char*>(data), size);
  if (auto h = vm::parse_qcow2_header(text); h) (void)vm::qcow2_refusal(*h);
  ctl::ParseOptions opts;
  opts.allow_dangling_patches = true;
  auto t = ctl::parse_topology(text, "fuzz.yaml", "/fuzz", opts);
  if (!t) return 0;
  for (const auto& vm : t->vms)
    if (ctl::check_vm(vm)) check_argv(vm);
  return 0;
}
