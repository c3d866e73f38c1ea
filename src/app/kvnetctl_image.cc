// kvnetctl's `image` group: the host's image store (kvnetd's
// daemon/image_store.h), base images for VMs' copy-on-write disks.
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <thread>

#include "app/kvnetctl.h"

namespace kvnet::cli {
namespace {

std::string bytes_text(uint64_t b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(b);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{} B", b) : fmt::format("{:.1f} {}", v, units[u]);
}

void print_image(const json& im) {
  std::cout << fmt::format("image {}: {}", str(im, "name"), str(im, "state"));
  if (str(im, "state") == "importing") std::cout << fmt::format(" ({:.1f}%)", im.value("progress", 0.0));
  std::cout << "\n";
  std::cout << fmt::format("  size:     {} virtual, {} on disk ({})\n", bytes_text(im.value("virtual_size", uint64_t{0})),
                           bytes_text(im.value("file_size", uint64_t{0})), str(im, "path"));
  std::cout << fmt::format("  imported: from {} ({})\n", str(im, "source"), str(im, "source_format"));
  if (im.contains("kernel"))
    std::cout << fmt::format("  boots:    {}{} ({})\n", str(im, "kernel"),
                             str(im, "initrd").empty() ? "" : " with " + str(im, "initrd"), str(im, "cmdline"));
  if (im.contains("error")) std::cout << "  error:    " << str(im, "error") << "\n";
}

// Starts the import, then follows it (`image show`) with a progress line
// until it is ready (exit 0) or failed (exit 1, qemu-img's reason).
void run_import(const Args& a) {
  const std::string file = std::filesystem::absolute(a.file).string();  // kvnetd's cwd is not ours
  json req{{"cmd", "image-import"}, {"name", a.name}, {"file", file}};
  if (!a.kernel.empty()) req["kernel"] = std::filesystem::absolute(a.kernel).string();
  if (!a.initrd.empty()) req["initrd"] = std::filesystem::absolute(a.initrd).string();
  if (!a.cmdline.empty()) req["cmdline"] = a.cmdline;
  json im = call(a, req);
  const bool tty = a.format == "human" && ::isatty(2);
  if (!a.no_wait) {
    int last = -1;
    while (str(im, "state") == "importing") {
      const double p = im.value("progress", 0.0);
      if (a.format == "human" && static_cast<int>(p) != last) {
        const int width = 30, filled = static_cast<int>(p / 100 * width);
        const std::string bar = std::string(static_cast<size_t>(filled), '#') + std::string(static_cast<size_t>(width - filled), '.');
        if (tty) std::cerr << fmt::format("\rimporting {} [{}] {:5.1f}%", a.name, bar, p) << std::flush;
        else if (last < 0 || static_cast<int>(p) / 10 != last / 10) std::cerr << fmt::format("importing {}: {:.0f}%\n", a.name, p);
        last = static_cast<int>(p);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      im = call(a, {{"cmd", "image-show"}, {"name", a.name}});
    }
    if (tty) std::cerr << "\n";
  }
  if (a.format == "json") std::cout << im.dump(2) << "\n";
  else print_image(im);
  if (str(im, "state") == "failed") throw Failure{"image '" + a.name + "': " + str(im, "error"), 1};
}

const Verb kImageVerbs[] = {
    {"image", "import",
     "image import NAME FILE [--kernel K [--initrd I] [--cmdline C]] [--no-wait]: copy a qcow2 or raw image into "
     "the store (as qcow2), with progress",
     [](CLI::App& c, Args& a) {
       c.add_option("name", a.name, "the image's name in the store")->required();
       c.add_option("file", a.file, "a qcow2 or raw image without a backing file")->required();
       c.add_flag("--no-wait", a.no_wait, "return once the copy has started (image show follows it)");
       c.add_option("--kernel", a.kernel, "the image's kernel, kept beside it: its VMs boot it directly");
       c.add_option("--initrd", a.initrd, "the kernel's initramfs");
       c.add_option("--cmdline", a.cmdline, "the kernel's words for its root (default: root=/dev/vda rw)");
     },
     nullptr, nullptr, nullptr, &run_import},
    {"image", "list", "the images in the store", [](CLI::App&, Args&) {},
     [](const Args&) -> json { return {{"cmd", "image-list"}}; },
     [](const json& r, const Args&) {
       std::cout << fmt::format("{:<24} {:<10} {:>10} {:>10}  {}\n", "NAME", "STATE", "VIRTUAL", "ON DISK", "FROM");
       for (const auto& im : r)
         std::cout << fmt::format("{:<24} {:<10} {:>10} {:>10}  {}\n", str(im, "name"), str(im, "state"),
                                  bytes_text(im.value("virtual_size", uint64_t{0})),
                                  bytes_text(im.value("file_size", uint64_t{0})), str(im, "source"));
     }},
    {"image", "show", "image show NAME: one image (an import in flight: its progress)",
     [](CLI::App& c, Args& a) { c.add_option("name", a.name, "image name")->required(); },
     [](const Args& a) -> json { return {{"cmd", "image-show"}, {"name", a.name}}; },
     [](const json& r, const Args&) { print_image(r); }},
    {"image", "del", "image del NAME: delete an image (or cancel its import)",
     [](CLI::App& c, Args& a) { c.add_option("name", a.name, "image name")->required(); },
     [](const Args& a) -> json { return {{"cmd", "image-del"}, {"name", a.name}}; }, nullptr},
};

}  // namespace

std::span<const Verb> image_verbs() { return kImageVerbs; }

}  // namespace kvnet::cli
