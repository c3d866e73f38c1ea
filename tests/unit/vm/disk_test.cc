// The rules for the files a VM is given (vm/disk.h): what QEMU may open.
#include "vm/disk.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

namespace kvnet::vm {
namespace {

namespace fs = std::filesystem;

// A qcow2 header: magic, version, backing file offset/size, crypt method,
// incompatible features (version 3).
std::string qcow2(uint32_t version, uint64_t backing_off = 0, uint32_t backing_size = 0, uint32_t crypt = 0,
                  uint64_t incompatible = 0) {
  std::string h(kQcow2HeaderBytes, '\0');
  auto put = [&](size_t at, uint64_t v, size_t n) {
    for (size_t i = 0; i < n; ++i) h[at + i] = static_cast<char>(v >> (8 * (n - 1 - i)));
  };
  h.replace(0, 4, "QFI\xfb", 4);
  put(4, version, 4);
  put(8, backing_off, 8);
  put(16, backing_size, 4);
  put(32, crypt, 4);
  put(72, incompatible, 8);
  return h + std::string(512, '\0');
}

class DiskRules : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("kvnet-disk-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& content) {
    std::ofstream(dir_ / name, std::ios::binary) << content;
    return (dir_ / name).string();
  }
  static std::string error_of(const Result<DiskImage>& r) { return r ? "" : r.error().message; }
  fs::path dir_;
};

TEST(Qcow2Header, Fields) {
  auto h = parse_qcow2_header(qcow2(3, 0x200, 12, 0, 4));
  ASSERT_TRUE(h.ok()) << h.error().message;
  EXPECT_EQ(h->version, 3u);
  EXPECT_EQ(h->backing_file_offset, 0x200u);
  EXPECT_EQ(h->backing_file_size, 12u);
  EXPECT_EQ(h->incompatible_features, 4u);
  EXPECT_FALSE(parse_qcow2_header("QFI\xfb").ok());  // truncated
  EXPECT_FALSE(parse_qcow2_header(std::string(100, 'x')).ok());
  EXPECT_TRUE(parse_qcow2_header(qcow2(2).substr(0, 72)).ok());   // version 2 has no feature fields
  EXPECT_FALSE(parse_qcow2_header(qcow2(3).substr(0, 75)).ok());  // version 3 needs them
}

TEST_F(DiskRules, StandaloneImagesPass) {
  auto q = check_disk(write("a.qcow2", qcow2(3)));
  ASSERT_TRUE(q.ok()) << q.error().message;
  EXPECT_EQ(q->format, DiskFormat::kQcow2);
  EXPECT_EQ(q->path, (dir_ / "a.qcow2").string());
  EXPECT_EQ(check_disk(write("b.qcow2", qcow2(2)))->format, DiskFormat::kQcow2);
  auto r = check_disk(write("c.img", std::string(4096, '\0')));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->format, DiskFormat::kRaw);
}

TEST_F(DiskRules, Qcow2ThatWouldMakeQemuOpenAnotherFileIsRefused) {
  const std::string backing = write("backing.qcow2", qcow2(3, 0x200, 9));
  EXPECT_NE(error_of(check_disk(backing)).find("has a backing file"), std::string::npos) << error_of(check_disk(backing));
  EXPECT_NE(error_of(check_disk(write("d.qcow2", qcow2(3, 0, 0, 0, 4)))).find("external data file"), std::string::npos);
  EXPECT_NE(error_of(check_disk(write("e.qcow2", qcow2(3, 0, 0, 1)))).find("encrypted"), std::string::npos);
  EXPECT_NE(error_of(check_disk(write("v.qcow2", qcow2(4)))).find("version 4"), std::string::npos);
  EXPECT_NE(error_of(check_disk(write("t.qcow2", qcow2(3).substr(0, 40)))).find("truncated"), std::string::npos);
}

// An overlay naming `base` at offset 0x200 of its header (as qemu-img create -b writes).
std::string overlay(const std::string& base) {
  std::string h = qcow2(3, 0x200, static_cast<uint32_t>(base.size()));
  h.resize(std::max<size_t>(h.size(), 0x200 + base.size()), '\0');
  h.replace(0x200, base.size(), base);
  return h;
}

TEST_F(DiskRules, AnOverlayOfAStoreImageIsTakenWithItsBaseExplicit) {
  fs::create_directories(dir_ / "images");
  const std::string store = (dir_ / "images").string();
  const std::string base = write("images/deb.qcow2", qcow2(3));
  // Refused without a store, and when the base is elsewhere or not standalone.
  const std::string ov = write("v1.qcow2", overlay(base));
  EXPECT_NE(error_of(check_disk(ov)).find("has a backing file"), std::string::npos);
  auto d = check_disk(ov, store);
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(d->format, DiskFormat::kQcow2);
  EXPECT_EQ(d->backing, base);
  EXPECT_EQ(d->backing_format, DiskFormat::kQcow2);
  // A relative name is the overlay's directory's.
  auto rel = check_disk(write("v2.qcow2", overlay("images/deb.qcow2")), store);
  ASSERT_TRUE(rel.ok()) << rel.error().message;
  EXPECT_EQ(rel->backing, base);
  const std::string outside = write("other.qcow2", qcow2(3));
  EXPECT_NE(error_of(check_disk(write("v3.qcow2", overlay(outside)), store)).find("is not an image of " + store),
            std::string::npos);
  EXPECT_NE(error_of(check_disk(write("v4.qcow2", overlay("/etc/passwd")), store)).find("is not an image of"),
            std::string::npos);
  const std::string chained = write("images/chain.qcow2", overlay(base));  // a store image that is an overlay itself
  EXPECT_NE(error_of(check_disk(write("v5.qcow2", overlay(chained)), store)).find("its backing file: "),
            std::string::npos);
  EXPECT_NE(error_of(check_disk(write("v6.qcow2", qcow2(3, 0x7ffffff0, 9)), store)).find("outside its header"),
            std::string::npos);
  EXPECT_NE(error_of(check_disk(write("v7.qcow2", overlay(std::string("images/\x01"))), store)).find("control character"),
            std::string::npos);
}

TEST_F(DiskRules, FilesThatAreNoDiskImagesAreRefused) {
  const std::string empty = write("empty.img", "");
  EXPECT_EQ(error_of(check_disk(empty)), "disk '" + empty + "' is empty");
  const std::string text = write("text.img", "root:x:0:0:root:/root:/bin/bash\n");
  EXPECT_EQ(error_of(check_disk(text)), "disk '" + text +
                                            "' is no disk image: a raw image is a whole number of 512-byte sectors, "
                                            "this has 32 bytes");
  EXPECT_EQ(error_of(check_disk(dir_.string())), "disk '" + dir_.string() + "' is not a regular file");
  EXPECT_EQ(error_of(check_disk("/dev/null")), "disk '/dev/null' is not a regular file");
  const std::string missing = (dir_ / "missing.img").string();
  EXPECT_EQ(error_of(check_disk(missing)), "disk '" + missing + "' does not exist or cannot be read");
}

TEST_F(DiskRules, SystemDirectoriesAreRefusedAlsoThroughSymlinks) {
  EXPECT_EQ(error_of(check_disk("/etc/shadow")), "disk '/etc/shadow' is under /etc: a VM's files may not come from there");
  EXPECT_NE(error_of(check_disk("/proc/self/status")).find("is under /proc"), std::string::npos);
  fs::create_symlink("/etc/passwd", dir_ / "passwd.img");
  EXPECT_EQ(error_of(check_disk((dir_ / "passwd.img").string())),
            "disk '" + (dir_ / "passwd.img").string() + "' (that is '/etc/passwd') is under /etc: a VM's files may not "
                                                        "come from there");
  // A disk may not live in the system's own directories; a kernel may come from /boot.
  const std::string bin = fs::canonical("/bin/sh").string();
  EXPECT_NE(error_of(check_disk("/bin/sh")).find("a VM's disk may not live there"), std::string::npos);
  auto k = check_vm_file("kernel", "/bin/sh");
  ASSERT_TRUE(k.ok()) << k.error().message;
  EXPECT_EQ(*k, bin);
  EXPECT_FALSE(check_vm_file("initrd", "/etc/hostname").ok());
  // A symlink to a good image is that image.
  const std::string real = write("real.img", std::string(512, '\0'));
  fs::create_symlink(real, dir_ / "link.img");
  EXPECT_EQ(check_disk((dir_ / "link.img").string())->path, real);
}

TEST_F(DiskRules, WhereKvnetdMayMakeADisk) {
  const std::string p = (dir_ / "new.qcow2").string();
  auto r = check_new_disk(p);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, p);
  write("old.qcow2", qcow2(3));
  EXPECT_EQ(check_new_disk((dir_ / "old.qcow2").string()).error().message,
            "disk '" + (dir_ / "old.qcow2").string() + "' exists already");
  EXPECT_EQ(check_new_disk("rel.qcow2").error().message, "disk 'rel.qcow2' is not an absolute path to a file");
  EXPECT_EQ(check_new_disk((dir_ / "nodir/x.qcow2").string()).error().message,
            "disk '" + (dir_ / "nodir/x.qcow2").string() + "': its directory '" + (dir_ / "nodir").string() +
                "' does not exist");
  EXPECT_EQ(check_new_disk("/etc/x.qcow2").error().message,
            "disk '/etc/x.qcow2' is under /etc: a VM's files may not come from there");
  EXPECT_EQ(check_new_disk("/usr/x.qcow2").error().message,
            "disk '/usr/x.qcow2' is under /usr: a VM's disk may not live there");
  // The directory's symlinks are resolved before the rules.
  fs::create_symlink("/etc", dir_ / "etc-link");
  EXPECT_EQ(check_new_disk((dir_ / "etc-link/x.qcow2").string()).error().message,
            "disk '" + (dir_ / "etc-link/x.qcow2").string() + "' is under /etc: a VM's files may not come from there");
  EXPECT_EQ(check_new_disk(std::string("/tmp/a\nb")).error().message, "disk: its path holds a control character");
}

}  // namespace
}  // namespace kvnet::vm
