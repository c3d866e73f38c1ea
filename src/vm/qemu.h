// How kvnet runs a VM with QEMU: what the host can accelerate, where the
// guest image is, the QEMU command line, the per-VM directory, and the
// launch itself (the TAP devices and the QEMU process).
//
// One QEMU process per VM (qemu-system-x86_64), in a session of its own so
// that it outlives kvnetd (a restarted kvnetd re-attaches). QEMU gets:
//   -M q35|pc, -accel kvm (-cpu host) or tcg, -m, -smp, no default devices;
//   a QMP monitor on DIR/qmp.sock and the serial console on DIR/console.sock
//     (both Unix sockets QEMU serves; the console also logged to
//     DIR/console.log from power-on, whoever is attached);
//   per NIC a TAP device that kvnetd created (IFF_VNET_HDR: QEMU enables the
//     offloads the guest negotiates, so the guest's TSO super-frames reach
//     the switch whole), passed as an inherited fd: -netdev tap,fd=N
//     -device virtio-net-pci,mac=..., without the PXE option ROM;
//   -kernel/-initrd/-append (kvnet's guest image, the user's, or the one
//     beside a store image), and/or a disk (-blockdev in JSON: a file node
//     and a raw or qcow2 node with "backing": null, or for an image's
//     overlay the image as an explicit read-only backing node; on a
//     virtio-blk-pci device), then the cloud-init seed, a read-only raw
//     disk; every file checked by vm/disk.h and given by its resolved path;
//   values inside QEMU's comma-separated options (socket and log paths, the
//     VM's name) with commas doubled, QEMU's escape, so none adds an option;
//   -pidfile DIR/qemu.pid, and its own output in DIR/qemu.log.
//
// Thread-safety: functions of the control thread; no shared state.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "ctl/vm_spec.h"
#include "vm/disk.h"

namespace kvnet::vm {

// --- the host ---
// KVM needs hardware virtualization (vmx or svm in /proc/cpuinfo) and a
// /dev/kvm that answers KVM_GET_API_VERSION with 12. A paravirtual KVM
// without vmx/svm (kvm_pvm) cannot run stock guest kernels: TCG then.
struct KvmProbe {
  bool usable = false;
  std::string reason;  // why not, for messages and `vm list`
};
KvmProbe probe_kvm(const std::string& cpuinfo = "/proc/cpuinfo", const std::string& dev = "/dev/kvm");
// auto -> kvm or tcg; kvm when it is not usable is an error naming why.
Result<ctl::Accel> resolve_accel(ctl::Accel want, const KvmProbe& kvm);

// The QEMU binary: $KVNET_QEMU, else qemu-system-x86_64 on $PATH.
Result<std::string> find_qemu();
// What live migration compares (both sides must run the same machine):
// "7.2.22" from `qemu-system-x86_64 --version`'s first line, and the
// versioned machine type an alias stands for ("q35" -> "pc-q35-7.2") from
// `-M help`'s "(alias of ...)"; none if the text does not say.
std::optional<std::string> parse_qemu_version(std::string_view version_output);
std::optional<std::string> parse_machine_alias(std::string_view machine_help, const std::string& alias);
// Compares two dotted versions numerically ("7.2.22" < "7.10.0"): <0, 0, >0.
int compare_versions(const std::string& a, const std::string& b);
// Host memory in MiB (MemTotal), 0 if unknown.
uint64_t host_memory_mb();

// --- images ---
struct GuestImage {
  std::string kernel, initrd;
};
// kvnet's guest image in `dir` (guest/build.sh writes vmlinuz and initrd.img).
Result<GuestImage> find_guest_image(const std::string& dir);
// An image of kvnetd's store (daemon/image_store.h), as a VM made from it
// needs it.
struct BaseImage {
  std::string name;
  std::string path;            // DIR/NAME.qcow2
  std::string kernel, initrd;  // beside it for direct kernel boot ("" none: the disk boots itself)
  std::string cmdline;         // the kernel's words for its root ("root=/dev/vda rw")
  uint64_t virtual_size = 0;   // bytes
};
struct Launch;
// Every file the VM boots from (kernel, initrd, disk) passes vm/disk.h's
// rules; their resolved paths and the disk's format go into `l`. A VM of
// an image (`vm.image`) needs `base`: its disk is an overlay of base's
// file, made by kvnetd when it does not exist yet (check_new_disk's rules
// then), and a kernel beside the image boots it directly.
Status check_boot_files(const ctl::VmSpec& vm, const GuestImage& image, Launch* l = nullptr,
                        const BaseImage* base = nullptr);
// The size of an image VM's overlay in bytes: disk_size, else the image's.
uint64_t overlay_bytes(const ctl::VmSpec& vm, const BaseImage& base);

// --- the VM's directory ---
struct VmPaths {
  std::string dir, qmp, console, qga, log, pidfile, qemu_log;
  static VmPaths under(const std::string& root, const std::string& vm);
};

// --- the command line ---
struct Launch {
  std::string qemu;
  ctl::Accel accel = ctl::Accel::kTcg;  // resolved
  std::string kernel, initrd;           // resolved: kvnet's guest image or the user's (no disk)
  std::string disk;                     // resolved
  DiskFormat disk_format = DiskFormat::kRaw;
  std::string disk_backing;             // an overlay's base image, resolved ("" none)
  DiskFormat disk_backing_format = DiskFormat::kRaw;
  bool disk_to_create = false;          // an image's overlay kvnetd has yet to make
  std::string base_cmdline;             // the image's root words, before the user's
  std::string seed;                     // the cloud-init seed (read-only, after the disk; "" none)
  int first_tap_fd = 3;  // NIC i's TAP is fd first_tap_fd + i in QEMU
  std::vector<uint32_t> nic_mtus;  // NIC i's MTU in the guest (0 or absent: its default)
};
// A value inside one of QEMU's comma-separated options: commas doubled.
std::string qemu_opt_value(const std::string& v);
// The -blockdev argument for a disk: JSON, a format node over a file node;
// a qcow2 overlay's base given explicitly as a read-only backing node (none:
// "backing": null, whatever the image's header names).
std::string blockdev_json(const std::string& path, DiskFormat f, const std::string& backing = "",
                          DiskFormat backing_format = DiskFormat::kRaw);
// The kernel command line: console on the serial port, the user's words,
// then kvnet.ipN / kvnet.mtuN / kvnet.gw / kvnet.hostname for kvnet's guest /init.
// A VM with a cloud-init seed gets `base` (its image's root words) and
// ds=nocloud instead of the kvnet.* words.
std::string kernel_cmdline(const ctl::VmSpec& vm, const std::vector<uint32_t>& nic_mtus = {},
                           const std::string& base = "");
std::vector<std::string> qemu_argv(const ctl::VmSpec& vm, const VmPaths& paths, const Launch& l);

// What a running QEMU was started with, read back from its argv (its
// /proc/PID/cmdline after a kvnetd restart): -m, -smp, -M. Zero/empty for
// what the argv does not say.
struct RunningShape {
  uint64_t memory_mb = 0;
  uint32_t vcpus = 0;
  std::string machine;
};
RunningShape running_shape(const std::vector<std::string>& argv);

// QEMU's own reason for failing, from its output (qemu.log): the last line
// it wrote as an error ("qemu-system-x86_64: -blockdev ...: Failed to get
// "write" lock"), else its last non-empty line; "" if it wrote nothing.
std::string qemu_error_line(const std::string& output, const std::string& qemu);

// --- launching ---
// A TAP for a VM's NIC (io::open_tap, must_create), up, not persistent (it
// goes with the last fd: QEMU's). An existing interface of that name is an
// error (another VM, or this one still running).
Result<int> create_vm_tap(const std::string& name);

}  // namespace kvnet::vm
