// What qemu-img says of an image, and what the image store takes.
#include "vm/image.h"

#include <gtest/gtest.h>

namespace kvnet::vm {
namespace {

// Shapes qemu-img 7.2 writes (Debian 12).
constexpr const char* kQcow2 = R"({
    "virtual-size": 67108864, "filename": "/tmp/t1.qcow2", "cluster-size": 65536, "format": "qcow2",
    "actual-size": 200704,
    "format-specific": {"type": "qcow2", "data": {"compat": "1.1", "compression-type": "zlib",
                        "lazy-refcounts": false, "refcount-bits": 16, "corrupt": false, "extended-l2": false}},
    "dirty-flag": false})";
constexpr const char* kOverlay = R"({
    "backing-filename-format": "qcow2", "virtual-size": 134217728, "filename": "/tmp/t2.qcow2",
    "format": "qcow2", "actual-size": 200704, "full-backing-filename": "/tmp/t1.qcow2",
    "backing-filename": "/tmp/t1.qcow2", "dirty-flag": false})";
constexpr const char* kRaw = R"({"virtual-size": 8388608, "filename": "/tmp/t3.raw", "format": "raw",
    "actual-size": 8388608, "dirty-flag": false})";

TEST(ImageInfo, ReadsWhatQemuImgWrites) {
  auto q = parse_image_info(kQcow2);
  ASSERT_TRUE(q) << q.error().message;
  EXPECT_EQ(q->format, "qcow2");
  EXPECT_EQ(q->virtual_size, 67108864u);
  EXPECT_EQ(q->actual_size, 200704u);
  EXPECT_EQ(image_refusal(*q), "");
  auto r = parse_image_info(kRaw);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->format, "raw");
  EXPECT_EQ(image_refusal(*r), "");
}

TEST(ImageInfo, RefusesWhatCannotBeABase) {
  auto o = parse_image_info(kOverlay);
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(image_refusal(*o), "it has a backing file (/tmp/t1.qcow2): import a standalone image (qemu-img convert)");
  ImageInfo i{.format = "vmdk", .virtual_size = 1};
  EXPECT_EQ(image_refusal(i), "its format is vmdk (qcow2 or raw only)");
  i = {.format = "qcow2", .virtual_size = 1, .encrypted = true};
  EXPECT_EQ(image_refusal(i), "it is encrypted");
  i = {.format = "qcow2", .virtual_size = 1, .corrupt = true};
  EXPECT_EQ(image_refusal(i), "qemu-img marks it corrupt (qemu-img check -r all)");
  i = {.format = "raw", .virtual_size = 0};
  EXPECT_EQ(image_refusal(i), "it is empty");
  auto enc = parse_image_info(R"({"format":"qcow2","virtual-size":1,"encrypted":true})");
  ASSERT_TRUE(enc);
  EXPECT_TRUE(enc->encrypted);
}

TEST(ImageInfo, ErrorsNameTheProblem) {
  const std::pair<const char*, const char*> bad[] = {
      {"not json", "qemu-img info's answer is not JSON"},
      {"[]", "qemu-img info's answer is not a JSON object"},
      {R"({"virtual-size": 1})", "qemu-img info: 'format' is missing"},
      {R"({"format": "raw"})", "qemu-img info: 'virtual-size' is missing"},
      {R"({"format": "raw", "virtual-size": -1})", "qemu-img info: 'virtual-size' is not a size"},
      {R"({"format": 7, "virtual-size": 1})", "qemu-img info: 'format' is not a string"},
  };
  for (const auto& [text, msg] : bad) {
    auto r = parse_image_info(text);
    ASSERT_FALSE(r) << text;
    EXPECT_EQ(r.error().message.rfind(msg, 0), 0u) << r.error().message;
  }
}

TEST(ConvertProgress, TheLastPercentageInHundredths) {
  EXPECT_EQ(parse_convert_progress("    (0.00/100%)\r    (25.00/100%)\r    (50.50/100%)\r"), 5050u);
  EXPECT_EQ(parse_convert_progress("    (100.00/100%)\r"), 10000u);
  EXPECT_EQ(parse_convert_progress("(7/100%)"), 700u);
  EXPECT_EQ(parse_convert_progress("(3.1/100%)"), 310u);
  EXPECT_EQ(parse_convert_progress(""), std::nullopt);
  EXPECT_EQ(parse_convert_progress("(abc/100%)"), std::nullopt);
  EXPECT_EQ(parse_convert_progress("(101.00/100%)"), std::nullopt);
  EXPECT_EQ(parse_convert_progress("(/100%)"), std::nullopt);
  EXPECT_EQ(parse_convert_progress("(5./100%)"), std::nullopt);
}

TEST(ImageName, StoreNamesOnly) {
  EXPECT_TRUE(check_image_name("debian-12.cloud_v2"));
  EXPECT_EQ(check_image_name("").error().message, "an image needs a name");
  EXPECT_EQ(check_image_name("a/b").error().message, "image name 'a/b': only letters, digits, '.', '_' and '-'");
  EXPECT_EQ(check_image_name("..").error().message, "image name '..': starts with '.'");
  EXPECT_EQ(check_image_name("-x").error().message, "image name '-x': starts with '-'");
  EXPECT_EQ(check_image_name(std::string(65, 'a')).error().message,
            "image name '" + std::string(65, 'a') + "': longer than 64 bytes");
}

}  // namespace
}  // namespace kvnet::vm
