#include "ctl/render.h"

#include <graphviz/cgraph.h>
#include <graphviz/gvc.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <filesystem>
#include <mutex>

namespace kvnet::ctl {

namespace {

// Held for everything that touches libgvc (see the header).
std::mutex& gv_mutex() {
  static std::mutex m;
  return m;
}

// Graphviz's error messages of the current render (under the mutex).
std::string& gv_errors() {
  static std::string s;
  return s;
}

int collect_error(char* msg) {
  gv_errors() += msg;
  return 0;
}

// Frees what libgvc allocated, in reverse order, on every path.
struct GvGraph {
  GVC_t* gvc;
  Agraph_t* g = nullptr;
  bool laid_out = false;
  ~GvGraph() {
    if (laid_out) gvFreeLayout(gvc, g);
    if (g) agclose(g);
  }
};

std::string gv_message(const std::string& what) {
  std::string m = gv_errors();
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  for (auto& c : m)
    if (c == '\n') c = ' ';
  return "graphviz: " + what + (m.empty() ? "" : ": " + m);
}

}  // namespace

std::string_view to_string(ImageFormat f) {
  switch (f) {
    case ImageFormat::kDot: return "dot";
    case ImageFormat::kSvg: return "svg";
    case ImageFormat::kPng: return "png";
  }
  return "?";
}

Result<ImageFormat> parse_image_format(std::string_view name) {
  for (ImageFormat f : {ImageFormat::kSvg, ImageFormat::kPng, ImageFormat::kDot})
    if (name == to_string(f)) return f;
  return Error{"format '" + std::string(name) + "' is not one of svg, png, dot"};
}

Result<ImageFormat> image_format_of(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  if (!ext.empty()) ext.erase(0, 1);
  std::string lower = ext;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  if (auto f = parse_image_format(lower)) return f;
  if (ext.empty()) return Error{"'" + path + "' has no extension: name the file .svg, .png or .dot"};
  return Error{"'" + path + "': extension '." + ext + "' is not a picture format kvnet writes (.svg, .png, .dot)"};
}

Result<std::string> render(const std::string& dot, ImageFormat f) {
  if (f == ImageFormat::kDot) return dot;
  std::lock_guard lock(gv_mutex());
  // One context for the process: created once, never freed (plugins stay loaded).
  static GVC_t* const gvc = gvContext();
  if (!gvc) return Error{"graphviz: cannot create a context"};
  gv_errors().clear();
  agseterr(AGERR);  // errors to collect_error(); warnings are not reported
  agseterrf(collect_error);
  agreseterrors();
  GvGraph gg{gvc};
  gg.g = agmemread(dot.c_str());
  if (!gg.g) return Error{gv_message("the DOT text does not parse")};
  if (gvLayout(gvc, gg.g, "dot") != 0) return Error{gv_message("layout failed")};
  gg.laid_out = true;
  char* data = nullptr;
  unsigned int len = 0;
  const std::string fmt(to_string(f));
  if (gvRenderData(gvc, gg.g, fmt.c_str(), &data, &len) != 0 || !data) {
    if (data) gvFreeRenderData(data);
    return Error{gv_message("rendering " + fmt + " failed")};
  }
  std::string out(data, len);
  gvFreeRenderData(data);
  return out;
}

namespace {
constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
}

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    const size_t n = std::min<size_t>(3, bytes.size() - i);
    uint32_t v = 0;
    for (size_t k = 0; k < 3; ++k) v = v << 8 | (k < n ? static_cast<uint8_t>(bytes[i + k]) : 0);
    for (size_t k = 0; k < 4; ++k) out += k <= n ? kB64[(v >> (18 - 6 * k)) & 63] : '=';
  }
  return out;
}

Result<std::string> base64_decode(std::string_view text) {
  std::array<int, 256> val;
  val.fill(-1);
  for (int i = 0; i < 64; ++i) val[static_cast<uint8_t>(kB64[i])] = i;
  if (text.size() % 4 != 0) return Error{"base64: length is not a multiple of 4"};
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    uint32_t v = 0;
    int pad = 0;
    for (size_t k = 0; k < 4; ++k) {
      const char c = text[i + k];
      const bool last = i + 4 == text.size();
      if (c == '=' && last && k >= 2 && (k == 3 || text[i + 3] == '=')) {
        ++pad;
        v <<= 6;
        continue;
      }
      const int d = val[static_cast<uint8_t>(c)];
      if (d < 0 || pad) return Error{"base64: invalid character at offset " + std::to_string(i + k)};
      v = v << 6 | static_cast<uint32_t>(d);
    }
    out += static_cast<char>(v >> 16);
    if (pad < 2) out += static_cast<char>((v >> 8) & 0xff);
    if (pad < 1) out += static_cast<char>(v & 0xff);
  }
  return out;
}

}  // namespace kvnet::ctl
