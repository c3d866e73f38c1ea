#include "vm/image.h"

#include <nlohmann/json.hpp>

#include "base/text.h"

namespace kvnet::vm {

using json = nlohmann::json;

Result<ImageInfo> parse_image_info(std::string_view text) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    return Error{"qemu-img info's answer is not JSON (" + std::string(e.what()) + ")"};
  }
  if (!j.is_object()) return Error{"qemu-img info's answer is not a JSON object"};
  ImageInfo i;
  auto str = [&](const char* key) -> Result<std::string> {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return std::string();
    if (!it->is_string()) return Error{std::string("qemu-img info: '") + key + "' is not a string"};
    return it->get<std::string>();
  };
  auto size = [&](const char* key, bool required) -> Result<uint64_t> {
    auto it = j.find(key);
    if (it == j.end()) {
      if (required) return Error{std::string("qemu-img info: '") + key + "' is missing"};
      return uint64_t{0};
    }
    if (!it->is_number_unsigned()) return Error{std::string("qemu-img info: '") + key + "' is not a size"};
    return it->get<uint64_t>();
  };
  auto format = str("format");
  if (!format) return format.error();
  if (format->empty()) return Error{"qemu-img info: 'format' is missing"};
  i.format = *format;
  auto vs = size("virtual-size", true);
  if (!vs) return vs.error();
  i.virtual_size = *vs;
  auto as = size("actual-size", false);
  if (!as) return as.error();
  i.actual_size = *as;
  auto backing = str("backing-filename");
  if (!backing) return backing.error();
  i.backing = *backing;
  if (auto it = j.find("encrypted"); it != j.end()) i.encrypted = !it->is_boolean() || it->get<bool>();
  if (auto fs = j.find("format-specific"); fs != j.end() && fs->is_object())
    if (auto d = fs->find("data"); d != fs->end() && d->is_object())
      if (auto c = d->find("corrupt"); c != d->end()) i.corrupt = !c->is_boolean() || c->get<bool>();
  return i;
}

std::string image_refusal(const ImageInfo& i) {
  if (i.format != "qcow2" && i.format != "raw") return "its format is " + i.format + " (qcow2 or raw only)";
  if (!i.backing.empty()) return "it has a backing file (" + i.backing + "): import a standalone image (qemu-img convert)";
  if (i.encrypted) return "it is encrypted";
  if (i.corrupt) return "qemu-img marks it corrupt (qemu-img check -r all)";
  if (i.virtual_size == 0) return "it is empty";
  return "";
}

std::optional<uint32_t> parse_convert_progress(std::string_view text) {
  const size_t end = text.rfind("/100%)");
  if (end == std::string_view::npos) return std::nullopt;
  const size_t open = text.rfind('(', end);
  if (open == std::string_view::npos) return std::nullopt;
  const std::string_view num = text.substr(open + 1, end - open - 1);  // "45.00"
  uint32_t whole = 0, frac = 0, digits = 0;
  bool dot = false;
  for (char ch : num) {
    if (ch == '.' && !dot) {
      dot = true;
      continue;
    }
    if (ch < '0' || ch > '9') return std::nullopt;
    if (!dot) {
      whole = whole * 10 + static_cast<uint32_t>(ch - '0');
      if (whole > 100) return std::nullopt;
    } else if (digits < 2) {
      frac = frac * 10 + static_cast<uint32_t>(ch - '0');
      ++digits;
    }
  }
  if (num.empty() || (dot && digits == 0)) return std::nullopt;
  while (digits < 2) {
    frac *= 10;
    ++digits;
  }
  const uint32_t v = whole * 100 + frac;
  if (v > 10000) return std::nullopt;
  return v;
}

}  // namespace kvnet::vm
