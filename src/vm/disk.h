// The files a VM is given (kernel, initrd, disk) and what kvnet lets QEMU
// open. The API that defines VMs is root-equivalent (QEMU runs as root with
// the files named), so these rules are guard rails against the mistakes and
// tricks a probe found, not a sandbox (docs/operations.md):
//
//   every file   the path with symlinks resolved is what is checked and what
//                QEMU is given (check and open see the same file); a regular
//                file kvnetd can read; not under /etc, /proc, /sys, /dev or
//                /run (host configuration, kernel interfaces, devices,
//                sockets: `disk: /etc/shadow` is refused);
//   a disk       also not under /boot, /usr or the system's /bin, /sbin,
//                /lib*; its format from its first bytes: qcow2 (magic
//                "QFI\xfb": version 2 or 3, no backing file, no external data
//                file, not encrypted: QEMU is never left to follow a file
//                name written inside an image) or raw (not empty, a whole
//                number of 512-byte sectors).
// QEMU then opens the disk through -blockdev with a JSON description (file
// and format nodes, "backing": null), so no character of a path can add an
// option.
//
// Thread-safety: plain functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"

namespace kvnet::vm {

enum class DiskFormat { kRaw, kQcow2 };
const char* to_string(DiskFormat f);

// The fields of a qcow2 header kvnet looks at (big-endian on disk).
struct Qcow2Header {
  uint32_t version = 0;
  uint64_t backing_file_offset = 0;
  uint32_t backing_file_size = 0;
  uint32_t crypt_method = 0;
  uint64_t incompatible_features = 0;  // version 3; bit 2: external data file
};
inline constexpr size_t kQcow2HeaderBytes = 104;  // a version 3 header, the part read
// `bytes` starts with "QFI\xfb": the header, or an error for a truncated one.
Result<Qcow2Header> parse_qcow2_header(std::string_view bytes);
// Why QEMU should not open this qcow2 image ("" if it may); with
// `allow_backing`, a backing file is not a reason (check_disk checks it).
std::string qcow2_refusal(const Qcow2Header& h, bool allow_backing = false);

// qcow2 by its magic, raw otherwise; an unreadable file is an error.
Result<DiskFormat> disk_format(const std::string& path);

// `what` ("kernel", "initrd", "disk") at `path` checked as above; returns
// the resolved path. Errors read "disk '/etc/shadow': <rule>".
Result<std::string> check_vm_file(const std::string& what, const std::string& path);

struct DiskImage {
  std::string path;  // resolved
  DiskFormat format = DiskFormat::kRaw;
  // A copy-on-write overlay's base (kvnet's image store): resolved, itself
  // checked as a standalone disk; "" none.
  std::string backing;
  DiskFormat backing_format = DiskFormat::kRaw;
};
// `backing_dir` ("" none): a qcow2 disk may name a backing file if that file
// lies directly in this directory (kvnet's image store, whose images stand
// alone) and passes check_disk itself. QEMU is then given the backing node
// explicitly (blockdev's "backing"), never the name in the header.
Result<DiskImage> check_disk(const std::string& path, const std::string& backing_dir = "");
// Where kvnetd may create a disk (an image's overlay): an absolute path
// without control characters, not existing yet, in an existing directory
// that is not under the places check_vm_file refuses. Returns the path
// with the directory's symlinks resolved.
Result<std::string> check_new_disk(const std::string& path);
// The backing file name a qcow2 image's header names ("" none), read from
// `bytes` (the image's start: at least offset + size bytes).
Result<std::string> qcow2_backing_name(std::string_view bytes, const Qcow2Header& h);

}  // namespace kvnet::vm
