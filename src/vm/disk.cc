#include "vm/disk.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

namespace kvnet::vm {
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kQcow2Magic{"QFI\xfb", 4};
constexpr uint64_t kQcow2DataFileBit = 1ull << 2;

// Host configuration, kernel interfaces, devices, runtime sockets: never a
// VM's file.
constexpr const char* kNoVmFiles[] = {"/etc", "/proc", "/sys", "/dev", "/run"};
// The system itself: a VM may boot a kernel from /boot, but no disk (which
// the guest can write) lives there.
constexpr const char* kNoDisks[] = {"/boot", "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"};

uint64_t be(std::string_view b, size_t at, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v = v << 8 | static_cast<uint8_t>(b[at + i]);
  return v;
}

bool under(const std::string& path, const std::string& dir) {
  return path == dir || (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 && path[dir.size()] == '/');
}

std::string head(const std::string& path, size_t n) {
  std::ifstream in(path, std::ios::binary);
  std::string s(n, '\0');
  in.read(s.data(), static_cast<std::streamsize>(n));
  s.resize(static_cast<size_t>(in.gcount()));
  return s;
}

}  // namespace

const char* to_string(DiskFormat f) { return f == DiskFormat::kQcow2 ? "qcow2" : "raw"; }

Result<Qcow2Header> parse_qcow2_header(std::string_view b) {
  if (b.size() < 4 || b.substr(0, 4) != kQcow2Magic) return Error{"not a qcow2 image"};
  if (b.size() < 72) return Error{"its qcow2 header is truncated"};
  Qcow2Header h;
  h.version = static_cast<uint32_t>(be(b, 4, 4));
  h.backing_file_offset = be(b, 8, 8);
  h.backing_file_size = static_cast<uint32_t>(be(b, 16, 4));
  h.crypt_method = static_cast<uint32_t>(be(b, 32, 4));
  if (h.version >= 3) {
    if (b.size() < 80) return Error{"its qcow2 header is truncated"};
    h.incompatible_features = be(b, 72, 8);
  }
  return h;
}

std::string qcow2_refusal(const Qcow2Header& h, bool allow_backing) {
  if (h.version != 2 && h.version != 3) return "qcow2 version " + std::to_string(h.version) + " is not 2 or 3";
  if (!allow_backing && (h.backing_file_offset != 0 || h.backing_file_size != 0))
    return "it has a backing file: kvnet does not let QEMU follow file names written in an image (make it "
           "standalone: qemu-img convert -O qcow2 IMAGE NEW)";
  if (h.incompatible_features & kQcow2DataFileBit) return "it keeps its data in an external data file";
  if (h.crypt_method != 0) return "it is encrypted";
  return "";
}

Result<DiskFormat> disk_format(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in || !fs::is_regular_file(path)) return Error{"disk '" + path + "' cannot be read"};
  char magic[4] = {};
  in.read(magic, 4);
  if (in.gcount() == 4 && std::string_view(magic, 4) == kQcow2Magic) return DiskFormat::kQcow2;
  return DiskFormat::kRaw;
}

Result<std::string> check_vm_file(const std::string& what, const std::string& path) {
  const std::string ctx = what + " '" + path + "'";
  for (char c : path)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return Error{what + ": its path holds a control character"};
  std::error_code ec;
  const fs::path real = fs::canonical(path, ec);
  if (ec || ::access(path.c_str(), R_OK) != 0) return Error{ctx + " does not exist or cannot be read"};
  const std::string r = real.string();
  const std::string is = r == fs::path(path).lexically_normal().string() ? ctx : ctx + " (that is '" + r + "')";
  struct stat st{};
  if (::stat(r.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return Error{is + " is not a regular file"};
  for (const char* d : kNoVmFiles)
    if (under(r, d)) return Error{is + " is under " + d + ": a VM's files may not come from there"};
  if (what == "disk")
    for (const char* d : kNoDisks)
      if (under(r, d)) return Error{is + " is under " + d + ": a VM's disk may not live there"};
  return r;
}

Result<std::string> check_new_disk(const std::string& path) {
  const std::string ctx = "disk '" + path + "'";
  for (char c : path)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return Error{"disk: its path holds a control character"};
  const fs::path p(path);
  if (!p.is_absolute() || p.filename().empty() || p.filename() == "." || p.filename() == "..")
    return Error{ctx + " is not an absolute path to a file"};
  std::error_code ec;
  if (fs::symlink_status(p, ec).type() != fs::file_type::not_found) return Error{ctx + " exists already"};
  const fs::path dir = fs::canonical(p.parent_path(), ec);
  if (ec || !fs::is_directory(dir)) return Error{ctx + ": its directory '" + p.parent_path().string() + "' does not exist"};
  const std::string r = (dir / p.filename()).string();
  for (const char* d : kNoVmFiles)
    if (under(r, d)) return Error{ctx + " is under " + d + ": a VM's files may not come from there"};
  for (const char* d : kNoDisks)
    if (under(r, d)) return Error{ctx + " is under " + d + ": a VM's disk may not live there"};
  return r;
}

Result<std::string> qcow2_backing_name(std::string_view b, const Qcow2Header& h) {
  if (h.backing_file_offset == 0 && h.backing_file_size == 0) return std::string();
  if (h.backing_file_size == 0 || h.backing_file_size > 1023) return Error{"its backing file name is not one"};
  if (h.backing_file_offset > b.size() || b.size() - h.backing_file_offset < h.backing_file_size)
    return Error{"its backing file name lies outside its header"};
  return std::string(b.substr(h.backing_file_offset, h.backing_file_size));
}

Result<DiskImage> check_disk(const std::string& path, const std::string& backing_dir) {
  auto r = check_vm_file("disk", path);
  if (!r) return r.error();
  DiskImage d{*r, DiskFormat::kRaw};
  const std::string h = head(d.path, kQcow2HeaderBytes);
  if (h.size() >= 4 && std::string_view(h).substr(0, 4) == kQcow2Magic) {
    auto q = parse_qcow2_header(h);
    if (!q) return Error{"disk '" + path + "': " + q.error().message};
    if (auto why = qcow2_refusal(*q, !backing_dir.empty()); !why.empty())
      return Error{"disk '" + path + "' is refused: " + why};
    d.format = DiskFormat::kQcow2;
    if (q->backing_file_offset == 0 && q->backing_file_size == 0) return d;
    // kvnet's overlay: its base must be an image of the store, standalone.
    const std::string ctx = "disk '" + path + "' is refused: ";
    auto name = qcow2_backing_name(head(d.path, 64 * 1024), *q);
    if (!name) return Error{ctx + name.error().message};
    for (char c : *name)
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return Error{ctx + "its backing file name holds a control character"};
    fs::path base(*name);
    if (base.is_relative()) base = fs::path(d.path).parent_path() / base;
    std::error_code ec;
    const fs::path real = fs::canonical(base, ec);
    const fs::path store = fs::canonical(backing_dir, ec);
    if (ec || real.parent_path() != store)
      return Error{ctx + "its backing file '" + *name + "' is not an image of " + backing_dir};
    auto b = check_disk(real.string());
    if (!b) return Error{ctx + "its backing file: " + b.error().message};
    d.backing = b->path;
    d.backing_format = b->format;
    return d;
  }
  std::error_code ec;
  const auto size = fs::file_size(d.path, ec);
  if (ec || size == 0) return Error{"disk '" + path + "' is empty"};
  if (size % 512 != 0)
    return Error{"disk '" + path + "' is no disk image: a raw image is a whole number of 512-byte sectors, this has " +
                 std::to_string(size) + " bytes"};
  return d;
}

}  // namespace kvnet::vm
