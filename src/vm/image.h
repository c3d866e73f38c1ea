// Disk images as kvnet's image store keeps them (daemon/image_store.h): what
// `qemu-img info --output=json` says of a file, checked before it is
// imported, and the progress `qemu-img convert -p` prints while it copies.
//
// An image is a base for VMs' copy-on-write overlays (as OpenStack's
// `_base`), so it must stand alone: qcow2 or raw, no backing file (QEMU
// would follow a file name written inside it), not encrypted, not marked
// corrupt, with a virtual size. Its name is a store name (letters, digits,
// '.', '_', '-', at most 64 bytes, not starting with '.' or '-').
//
// Thread-safety: plain functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "ctl/vm_spec.h"

namespace kvnet::vm {

struct ImageInfo {
  std::string format;          // "qcow2" or "raw"
  uint64_t virtual_size = 0;   // bytes the guest sees
  uint64_t actual_size = 0;    // bytes the file takes on disk
  std::string backing;         // "" none
  bool encrypted = false;
  bool corrupt = false;        // qcow2's corrupt flag
};

// Parses `qemu-img info --output=json`; errors name what is missing or not
// what qemu-img writes.
Result<ImageInfo> parse_image_info(std::string_view json);
// Why `info` cannot be a base image ("" if it can): "it has a backing file
// (/x.qcow2)", "its format is vmdk (qcow2 or raw only)", ...
std::string image_refusal(const ImageInfo& info);

// The last percentage in `qemu-img convert -p`'s output ("    (45.00/100%)\r"),
// in hundredths (4500); none if the text holds none.
std::optional<uint32_t> parse_convert_progress(std::string_view text);

// A store name's rules (ctl/vm_spec.h); errors read "image name 'x/y': ...".
using ctl::check_image_name;

}  // namespace kvnet::vm
