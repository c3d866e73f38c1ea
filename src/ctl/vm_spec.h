// Virtual machine definitions: what `kvnetctl vm add` and a topology's
// `vms:` section describe, kept by kvnetd's store. Running them is
// daemon/vm_host.h's job; the QEMU command line is vm/qemu.h's.
//
//   vms:
//     - name: vm01
//       memory: 256M            # MiB unless K/M/G/T (64M - 1T)
//       vcpus: 1                # 1-255
//       accel: auto             # auto (KVM where the host has it, else TCG) | kvm | tcg
//       machine: q35            # q35 | pc
//       kernel: /boot/vmlinuz   # with initrd and cmdline; or `disk`; neither:
//       initrd: /boot/initrd    #   kvnet's guest image (guest/build.sh)
//       cmdline: "quiet"
//       disk: vm01.qcow2        # raw or qcow2 (told apart by the qcow2 magic)
//       image: debian-12        # or: a qcow2 overlay of an image of kvnetd's
//       disk_size: 8G           #   store (kvnetctl image), grown to disk_size;
//                               #   `disk` then names the overlay (default:
//                               #   kvnetd's --disk-dir/NAME.qcow2)
//       ssh_keys: ["ssh-ed25519 AAAA... me@host"]   # cloud-init (NoCloud seed)
//       user_data: "#cloud-config\n..."              #   for image and disk VMs
//       autostart: true         # started when defined and when kvnetd starts
//       nics:
//         - {bridge: qbr-vm01, port: vnet0, mac: "52:54:00:00:01:01", ip: 10.0.0.11/24, gw: 10.0.0.1, qbr: true}
//
// A NIC names a `system` port of a bridge: the VM's TAP device, which kvnetd
// creates under the port's name when the VM starts (as containers name the
// port of their veth). `qbr: true` says the NIC owns its bridge, a hub with
// the TAP port and one patch port (the seed's qbr/qvb/qvo layout): deleting
// the VM deletes the hub, the patch pair and both ports.
//
// Thread-safety: plain data and pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "ctl/fields.h"

namespace kvnet::ctl {

class ObjectType;

enum class Accel : uint8_t { kAuto, kKvm, kTcg };
const char* to_string(Accel a);
Result<Accel> parse_accel(const std::string& s);

struct NicSpec {
  std::string bridge;
  std::string port;  // the TAP device and its system port
  std::string mac;   // canonical lower-case; always set (derived if not given)
  std::string ip;    // CIDR for kvnet's guest image, or "dhcp" ("" none)
  std::string gw;    // default route for kvnet's guest image ("" none)
  bool qbr = false;  // the NIC owns its hub bridge and patch pair
  // A cluster network (docs/cluster.md): the NIC meets br-int in the
  // network's local VLAN and its address is claimed cluster-wide ("" none).
  std::string network;
  bool operator==(const NicSpec&) const = default;
};

inline constexpr uint64_t kMinVmMemoryMb = 64;
inline constexpr uint64_t kMaxVmMemoryMb = 1024 * 1024;  // 1 TiB
inline constexpr uint32_t kMaxVcpus = 255;
inline constexpr size_t kMaxNics = 8;

struct VmSpec {
  std::string name;
  uint64_t memory_mb = 256;
  uint32_t vcpus = 1;
  Accel accel = Accel::kAuto;
  std::string machine = "q35";
  std::string kernel, initrd, cmdline;  // absolute paths (cmdline: extra words)
  std::string disk;                     // absolute path
  // A copy-on-write overlay (`disk`) of the store's image `image`, of
  // `disk_size_mb` MiB (0: the image's size). kvnetd makes the overlay.
  std::string image;
  uint64_t disk_size_mb = 0;
  // cloud-init: the default user's keys (authorized_keys lines) and the
  // user-data passed through; kvnetd writes them with the instance id,
  // hostname and network-config into the VM's NoCloud seed.
  std::vector<std::string> ssh_keys;
  std::string user_data;
  bool autostart = false;
  std::vector<NicSpec> nics;
  int line = 0, col = 0;  // where a file wrote it (0: not from a file)

  bool uses_guest_image() const { return kernel.empty() && disk.empty() && image.empty(); }
  // A cloud-init seed is written for it: it boots an image, or a disk it
  // gives keys or user-data to.
  bool has_seed() const { return !image.empty() || !ssh_keys.empty() || !user_data.empty(); }
  bool operator==(const VmSpec& o) const {
    return name == o.name && memory_mb == o.memory_mb && vcpus == o.vcpus && accel == o.accel &&
           machine == o.machine && kernel == o.kernel && initrd == o.initrd && cmdline == o.cmdline &&
           disk == o.disk && image == o.image && disk_size_mb == o.disk_size_mb && ssh_keys == o.ssh_keys &&
           user_data == o.user_data && autostart == o.autostart && nics == o.nics;
  }
};

// "256M", "1G", "262144K", "512" (MiB) -> MiB, within kMinVmMemoryMb-kMaxVmMemoryMb.
Result<uint64_t> parse_memory(const std::string& s);
std::string format_memory(uint64_t mb);  // "256M", "2G"
// A disk size: "8G", "512M", "1T", "10240" (MiB) -> MiB, 1M-64T.
Result<uint64_t> parse_disk_size(const std::string& s);
inline constexpr uint64_t kMaxDiskMb = uint64_t{64} << 20;  // 64 TiB
inline constexpr size_t kMaxUserDataBytes = 1 << 20;
inline constexpr size_t kMaxSshKeys = 100;
// An image of kvnetd's store: 1-64 letters, digits, '.', '_', '-', not
// starting with '.' or '-'.
Status check_image_name(const std::string& name);

// The MAC a NIC gets when none is given: 52:54:00 (QEMU's prefix) and three
// bytes of a hash of the VM's name and the NIC's index (stable across runs).
std::string default_mac(const std::string& vm, size_t index);
// The part that names a NIC's devices: "vm01-0", or, when the VM's name is
// too long for "qbr" + it to fit 15 characters, a shortened name with a hash.
std::string nic_id(const std::string& vm, size_t index);

// The checks of one VM on its own: ranges, exclusive keys, addresses. Errors
// read "vm 'vm01': <rule>".
Status check_vm(const VmSpec& vm);

// The definition's settings in canonical form (plan diffs, `vm show`).
Fields vm_fields(const VmSpec& vm);

// The VM object type.
const ObjectType& vm_type();
// One VM as a flow-style YAML map, and back (the store keeps VMs so).
std::string vm_to_yaml(const VmSpec& vm);
Result<VmSpec> parse_vm(const std::string& flow_map);

// A `--nic` argument: "bridge=BR[,port=NAME][,mac=M][,ip=CIDR][,gw=IP][,qbr=yes]"
// plus port options (vlan_mode, pvid, allowed, ...) that go to the port;
// `sg=SG` (repeatable) adds a security group to the port.
struct NicRequest {
  NicSpec nic;
  std::vector<std::pair<std::string, std::string>> port_settings;
};
Result<NicRequest> parse_nic_arg(const std::string& text);

}  // namespace kvnet::ctl
