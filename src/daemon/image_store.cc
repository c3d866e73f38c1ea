#include "daemon/image_store.h"

#include <sys/stat.h>

#include <ctime>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "base/file.h"
#include "base/log.h"
#include "base/text.h"
#include "daemon/netns.h"
#include "io/process.h"
#include "vm/disk.h"
#include "vm/image.h"

namespace kvnet::daemon {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// Written whole or not at all (a temporary file renamed over it).
Status write_atomic(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) return Error{"cannot write " + tmp};
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return Error{"cannot write " + path + ": " + ec.message()};
  return Ok{};
}

uint64_t file_size(const std::string& path) {
  std::error_code ec;
  const auto n = fs::file_size(path, ec);
  return ec ? 0 : static_cast<uint64_t>(n);
}

// qemu-img's last line of output (without the progress's carriage returns).
std::string last_output_line(const std::string& text) {
  std::string t = text;
  for (char& c : t)
    if (c == '\r') c = '\n';
  while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
  const size_t nl = t.rfind('\n');
  std::string l = nl == std::string::npos ? t : t.substr(nl + 1);
  while (!l.empty() && l.front() == ' ') l.erase(l.begin());
  return valid_utf8(l.substr(0, 300));
}

}  // namespace

ImageStore::ImageStore(EventLoop& loop, std::string dir) : loop_(loop), dir_(std::move(dir)) {}

ImageStore::~ImageStore() {
  if (timer_) loop_.cancel_timer(timer_);
  for (const auto& [name, im] : imports_) {
    io::terminate(im.pid, std::chrono::milliseconds(1000));
    std::error_code ec;
    fs::remove(dir_ + "/" + name + ".qcow2.part", ec);
  }
}

Status ImageStore::load() {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) return Error{"image store '" + dir_ + "': " + ec.message()};
  ::chmod(dir_.c_str(), 0700);
  for (const auto& e : fs::directory_iterator(dir_, ec)) {
    const std::string p = e.path().string();
    const std::string file = e.path().filename().string();
    if (file.ends_with(".part") || file.ends_with(".import.log") || file.ends_with(".json.tmp")) {
      fs::remove(e.path(), ec);  // an import that did not end
      continue;
    }
    if (!file.ends_with(".json")) continue;
    const std::string name = file.substr(0, file.size() - 5);
    if (!vm::check_image_name(name)) continue;
    StoredImage im;
    try {
      const json j = json::parse(read_file(p));
      im.name = name;
      im.path = dir_ + "/" + name + ".qcow2";
      im.state = "ready";
      im.source = j.value("source", "");
      im.source_format = j.value("source_format", "");
      im.virtual_size = j.value("virtual_size", uint64_t{0});
      im.imported = j.value("imported", int64_t{0});
      if (j.value("kernel", false)) im.kernel = dir_ + "/" + name + ".vmlinuz";
      if (j.value("initrd", false)) im.initrd = dir_ + "/" + name + ".initrd";
      im.cmdline = j.value("cmdline", "");
    } catch (const std::exception& x) {
      log_warn("image store: '" + p + "' is not an image's record (" + x.what() + "): left out");
      continue;
    }
    if (!fs::exists(im.path) || (!im.kernel.empty() && !fs::exists(im.kernel)) ||
        (!im.initrd.empty() && !fs::exists(im.initrd))) {
      log_warn("image store: image '" + name + "' lacks one of its files: left out");
      continue;
    }
    im.file_size = file_size(im.path);
    images_[name] = im;
  }
  if (ec) return Error{"image store '" + dir_ + "': " + ec.message()};
  return Ok{};
}

Result<StoredImage> ImageStore::import(const std::string& name, const std::string& file, const ImportBoot& boot) {
  if (auto s = vm::check_image_name(name); !s) return s.error();
  const std::string ctx = "image '" + name + "': ";
  if (auto it = images_.find(name); it != images_.end() && it->second.state != "failed")
    return Error{ctx + (it->second.state == "importing" ? "an import of it is under way" : "it exists (image del first)")};
  auto real = vm::check_vm_file("disk", file);
  if (!real) return Error{ctx + real.error().message};
  // -U: a file another process has open (a running VM's disk) is read as is.
  auto out = run_command({"qemu-img", "info", "--output=json", "-U", *real});
  if (!out) return Error{ctx + out.error().message};
  auto info = vm::parse_image_info(*out);
  if (!info) return Error{ctx + info.error().message};
  if (auto why = vm::image_refusal(*info); !why.empty()) return Error{ctx + "'" + *real + "': " + why};
  if (boot.kernel.empty() && (!boot.initrd.empty() || !boot.cmdline.empty()))
    return Error{ctx + "an initrd or a command line goes with a kernel (--kernel)"};
  if (boot.cmdline.find_first_of("\r\n") != std::string::npos) return Error{ctx + "the command line must be one line"};
  // The kernel and initrd are copied now (seconds at most), the disk by qemu-img.
  std::error_code ec;
  std::vector<std::string> copied;
  auto drop_copies = [&] {
    for (const auto& c : copied) fs::remove(c, ec);
  };
  for (const auto& [what, from, suffix] : {std::tuple{"kernel", boot.kernel, ".vmlinuz"},
                                           std::tuple{"initrd", boot.initrd, ".initrd"}}) {
    if (from.empty()) continue;
    auto r = vm::check_vm_file(what, from);
    if (!r) {
      drop_copies();
      return Error{ctx + r.error().message};
    }
    const std::string to = dir_ + "/" + name + suffix + ".part";
    fs::copy_file(*r, to, fs::copy_options::overwrite_existing, ec);
    if (ec) {
      drop_copies();
      return Error{ctx + "cannot copy " + what + " '" + *r + "': " + ec.message()};
    }
    copied.push_back(to);
  }
  const std::string part = dir_ + "/" + name + ".qcow2.part", log = dir_ + "/" + name + ".import.log";
  auto pid = io::spawn({"qemu-img", "convert", "-p", "-U", "-f", info->format, "-O", "qcow2", *real, part},
                       {.log = log});
  if (!pid) {
    drop_copies();
    return Error{ctx + "cannot run qemu-img: " + pid.error().message};
  }
  if (auto s = loop_.watch_child(*pid, [this, name](int status) { finished(name, status); }); !s) {
    io::terminate(*pid, std::chrono::milliseconds(1000));
    drop_copies();
    return Error{ctx + s.error().message};
  }
  imports_[name] = {*pid, log};
  StoredImage im{.name = name, .path = dir_ + "/" + name + ".qcow2", .state = "importing", .source = *real,
                 .source_format = info->format, .virtual_size = info->virtual_size};
  if (!boot.kernel.empty()) {
    im.kernel = dir_ + "/" + name + ".vmlinuz";
    if (!boot.initrd.empty()) im.initrd = dir_ + "/" + name + ".initrd";
    im.cmdline = boot.cmdline.empty() ? "root=/dev/vda rw" : boot.cmdline;
  }
  images_[name] = im;
  if (!timer_) timer_ = loop_.add_periodic(std::chrono::milliseconds(200), [this] { poll_progress(); });
  log_info("image store: importing '" + *real + "' (" + info->format + ", " + std::to_string(info->virtual_size) +
           " bytes) as image '" + name + "'");
  return im;
}

void ImageStore::poll_progress() {
  for (const auto& [name, im] : imports_) {
    auto it = images_.find(name);
    if (it == images_.end()) continue;
    if (auto p = vm::parse_convert_progress(read_file(im.log))) it->second.progress = *p;
    it->second.file_size = file_size(dir_ + "/" + name + ".qcow2.part");
  }
  if (imports_.empty() && timer_) {
    loop_.cancel_timer(timer_);
    timer_ = 0;
  }
}

void ImageStore::finished(const std::string& name, int status) {
  auto imp = imports_.find(name);
  if (imp == imports_.end()) return;
  const std::string log = imp->second.log;
  imports_.erase(imp);
  auto it = images_.find(name);
  if (it == images_.end()) return;  // deleted meanwhile
  StoredImage& im = it->second;
  const std::string part = dir_ + "/" + name + ".qcow2.part";
  std::error_code ec;
  const std::string output = read_file(log);
  fs::remove(log, ec);
  auto drop_parts = [&] {
    for (const char* suffix : {".qcow2.part", ".vmlinuz.part", ".initrd.part"}) fs::remove(dir_ + "/" + name + suffix, ec);
  };
  if (status != 0) {
    drop_parts();
    im.state = "failed";
    im.error = "qemu-img convert: " + (status < 0 ? std::string("lost") : io::wait_status_text(status));
    if (auto l = last_output_line(output); !l.empty() && !vm::parse_convert_progress(l)) im.error += ": " + l;
    log_warn("image store: import of image '" + name + "' failed: " + im.error);
    return;
  }
  im.imported = static_cast<int64_t>(std::time(nullptr));
  json meta{{"name", name}, {"source", im.source}, {"source_format", im.source_format},
            {"virtual_size", im.virtual_size}, {"imported", im.imported}};
  if (!im.kernel.empty()) meta.update({{"kernel", true}, {"initrd", !im.initrd.empty()}, {"cmdline", im.cmdline}});
  // The files first, the record last: a record names only files that are there.
  fs::rename(part, im.path, ec);
  if (!ec && !im.kernel.empty()) fs::rename(im.kernel + ".part", im.kernel, ec);
  if (!ec && !im.initrd.empty()) fs::rename(im.initrd + ".part", im.initrd, ec);
  if (!ec)
    if (auto s = write_atomic(meta_path(name), meta.dump(2) + "\n"); !s) ec = std::make_error_code(std::errc::io_error);
  if (ec) {
    im.state = "failed";
    im.error = "cannot keep " + im.path + ": " + ec.message();
    drop_parts();
    for (const auto& f : {im.path, im.kernel, im.initrd})
      if (!f.empty()) fs::remove(f, ec);
    fs::remove(meta_path(name), ec);
    return;
  }
  im.state = "ready";
  im.progress = 10000;
  im.file_size = file_size(im.path);
  log_info("image store: image '" + name + "' imported (" + std::to_string(im.file_size) + " bytes)");
}

std::vector<StoredImage> ImageStore::list() const {
  std::vector<StoredImage> out;
  for (const auto& [n, im] : images_) out.push_back(im);
  return out;
}

std::optional<StoredImage> ImageStore::find(const std::string& name) const {
  auto it = images_.find(name);
  if (it == images_.end()) return std::nullopt;
  return it->second;
}

std::optional<vm::BaseImage> ImageStore::base(const std::string& name) const {
  auto it = images_.find(name);
  if (it == images_.end() || it->second.state != "ready") return std::nullopt;
  const StoredImage& im = it->second;
  return vm::BaseImage{im.name, im.path, im.kernel, im.initrd, im.cmdline, im.virtual_size};
}

Status ImageStore::remove(const std::string& name, const std::function<std::string(const std::string&)>& user) {
  auto it = images_.find(name);
  if (it == images_.end()) return Error{"image '" + name + "' does not exist"};
  if (user)
    if (auto who = user(name); !who.empty()) return Error{"image '" + name + "' is used by " + who};
  std::error_code ec;
  if (auto imp = imports_.find(name); imp != imports_.end()) {
    io::terminate(imp->second.pid, std::chrono::milliseconds(1000));
    fs::remove(imp->second.log, ec);
    imports_.erase(imp);
    fs::remove(dir_ + "/" + name + ".qcow2.part", ec);
  }
  for (const char* suffix : {".vmlinuz.part", ".initrd.part"}) fs::remove(dir_ + "/" + name + suffix, ec);
  fs::remove(meta_path(name), ec);
  for (const auto& f : {it->second.path, it->second.kernel, it->second.initrd})
    if (!f.empty()) fs::remove(f, ec);
  images_.erase(it);
  log_info("image store: image '" + name + "' deleted");
  return Ok{};
}

}  // namespace kvnet::daemon
