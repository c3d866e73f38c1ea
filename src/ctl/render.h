// Rendering a picture (ctl/draw.h's DOT) to SVG or PNG in-process with
// Graphviz's libgvc (Debian's libgraphviz-dev: gvContext, agmemread,
// gvLayout "dot", gvRenderData), and choosing the format from a file name.
//
// Thread-safety: libgvc is not thread-safe (a global parser, global error
// state, per-context plugin state), so render() holds one process-wide mutex
// for the whole parse-layout-render; concurrent callers wait their turn. The
// one Graphviz context is created on first use and kept for the process's
// lifetime. Everything else here is a pure function.
#pragma once

#include <string>
#include <string_view>

#include "base/result.h"

namespace kvnet::ctl {

enum class ImageFormat { kDot, kSvg, kPng };

std::string_view to_string(ImageFormat f);
// "svg", "png", "dot"; anything else is an error naming it.
Result<ImageFormat> parse_image_format(std::string_view name);
// The format a file name asks for by its extension (.svg, .png, .dot, any
// case); the error names the file and the extension.
Result<ImageFormat> image_format_of(const std::string& path);

// The picture's bytes: kDot returns `dot` itself; kSvg and kPng are laid out
// with dot and rendered. A DOT syntax error or a Graphviz failure is an Error
// with Graphviz's message.
Result<std::string> render(const std::string& dot, ImageFormat f);

// Base64 (RFC 4648, with padding): how the API carries PNG bytes.
std::string base64_encode(std::string_view bytes);
Result<std::string> base64_decode(std::string_view text);

}  // namespace kvnet::ctl
