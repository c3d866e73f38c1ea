// kvnetd's image store (`kvnetctl image ...`): the base images VMs' disks
// are copy-on-write overlays of (as OpenStack's `_base`). One directory
// (--image-dir, default images/ next to --db) holds, per image, NAME.qcow2
// (an import always converts to qcow2) and NAME.json (where it came from,
// its format there, its sizes, when it was imported), and with an image
// that brings its kernel NAME.vmlinuz and NAME.initrd.
//
// An import checks the file (vm/disk.h's file rules, then `qemu-img info`:
// vm/image.h's rules for a base), then runs `qemu-img convert -p` as a child
// of kvnetd into NAME.qcow2.part, watched on the control loop (a pidfd); a
// timer reads its progress from its log. When it ends well the part becomes
// NAME.qcow2 and NAME.json is written (a crash in between leaves a .part,
// removed at the next start); when it fails, nothing of it stays but the
// state `failed` with qemu-img's last line, until the next import or del.
//
// Thread-safety: the control thread only.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "daemon/event_loop.h"
#include "vm/qemu.h"

namespace kvnet::daemon {

struct StoredImage {
  std::string name;
  std::string path;           // DIR/NAME.qcow2
  std::string state;          // "ready", "importing", "failed"
  std::string source;         // the file it was imported from (resolved)
  std::string source_format;  // "qcow2" or "raw"
  uint64_t virtual_size = 0;  // bytes the guest sees
  uint64_t file_size = 0;     // bytes of NAME.qcow2 (or of the part so far)
  int64_t imported = 0;       // unix seconds (ready)
  uint32_t progress = 0;      // hundredths of a percent (importing)
  std::string error;          // failed: why
  // A kernel (and initrd) kept beside it (DIR/NAME.vmlinuz, DIR/NAME.initrd),
  // to boot VMs of the image directly with `cmdline` ("" none).
  std::string kernel, initrd, cmdline;
};

// What an import may bring besides the disk: the image's own kernel.
struct ImportBoot {
  std::string kernel, initrd;  // files to copy into the store ("" none)
  std::string cmdline;         // the words for its root ("" with a kernel: "root=/dev/vda rw")
};

class ImageStore {
 public:
  ImageStore(EventLoop& loop, std::string dir);
  ~ImageStore();  // ends imports in flight (their parts are removed)
  ImageStore(const ImageStore&) = delete;
  ImageStore& operator=(const ImageStore&) = delete;

  // Makes the directory (0700) and reads the images in it; parts left by
  // an import that did not end are removed.
  Status load();
  // Starts importing `file` as `name`; errors name the image and the rule
  // broken ("image 'deb': '/x.vmdk': its format is vmdk (qcow2 or raw only)").
  Result<StoredImage> import(const std::string& name, const std::string& file, const ImportBoot& boot = {});
  std::vector<StoredImage> list() const;
  std::optional<StoredImage> find(const std::string& name) const;
  // A ready image as a VM of it needs it (none: no such image, or not ready).
  std::optional<vm::BaseImage> base(const std::string& name) const;
  // Deletes an image (or forgets a failed import); `user` says who uses
  // it ("vm v1"; "" nobody): an image in use is refused. An import in
  // flight is cancelled.
  Status remove(const std::string& name, const std::function<std::string(const std::string&)>& user);
  const std::string& dir() const { return dir_; }

 private:
  struct Import {
    pid_t pid = 0;
    std::string log;
  };
  void finished(const std::string& name, int status);
  void poll_progress();
  std::string meta_path(const std::string& name) const { return dir_ + "/" + name + ".json"; }

  EventLoop& loop_;
  std::string dir_;
  std::map<std::string, StoredImage> images_;
  std::map<std::string, Import> imports_;
  EventLoop::TimerId timer_ = 0;
};

}  // namespace kvnet::daemon
