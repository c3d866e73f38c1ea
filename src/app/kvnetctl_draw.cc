// kvnetctl's `draw` and trace's --draw: the live topology as a picture,
// rendered by kvnetd (the API's `draw`) and written where -o says.
#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>

#include "app/kvnetctl.h"
#include "ctl/render.h"

namespace kvnet::cli {
namespace {

// The format -o asks for by its extension; a bad one is a usage error.
kvnet::ctl::ImageFormat format_of(const std::string& path, const char* what) {
  auto f = kvnet::ctl::image_format_of(path);
  if (!f) throw Failure{std::string(what) + ": " + f.error().message, 2};
  return *f;
}

// Writes a `draw` answer's picture to `path` (PNG arrives as base64).
size_t write_picture(const json& r, const std::string& path) {
  std::string bytes = str(r, "data");
  if (str(r, "format") == "png") {
    auto d = kvnet::ctl::base64_decode(bytes);
    if (!d) throw Failure{"kvnetd's PNG: " + d.error().message, 1};
    bytes = std::move(*d);
  }
  std::ofstream o(path, std::ios::binary);
  o << bytes;
  o.close();
  if (!o) throw Failure{path + ": cannot write: " + std::strerror(errno), 1};
  return bytes.size();
}

void run_draw(const Args& a) {
  if (a.file.empty()) {
    const json r = call(a, {{"cmd", "draw"}, {"format", "dot"}, {"cluster", a.whole_cluster}});
    if (a.format == "json") std::cout << r.dump(2) << "\n";
    else std::cout << str(r, "data");
    return;
  }
  const auto f = format_of(a.file, "-o");
  const json r =
      call(a, {{"cmd", "draw"}, {"format", std::string(kvnet::ctl::to_string(f))}, {"cluster", a.whole_cluster}});
  const size_t n = write_picture(r, a.file);
  if (a.format == "json") std::cout << json{{"format", r["format"]}, {"file", a.file}, {"bytes", n}}.dump(2) << "\n";
  else std::cout << fmt::format("wrote {} ({}, {} bytes)\n", a.file, str(r, "format"), n);
}

const Verb kDrawVerbs[] = {
    {"", "draw",
     "draw [-o FILE.svg|.png|.dot] [--cluster]: the live topology drawn with Graphviz (bridges, ports and their VLANs, "
     "patch pairs, tunnels, VMs, containers, gateways; down and dangling ports marked); --cluster: the whole cluster "
     "(hosts, their ports, networks in colours, tunnels between hosts); without -o: DOT on stdout",
     [](CLI::App& c, Args& a) {
       c.add_option("-o,--output", a.file, "write the picture here; its extension picks the format (svg, png, dot)");
       c.add_flag("--cluster", a.whole_cluster, "the whole cluster as this host knows it from the store");
     },
     nullptr, nullptr, nullptr, run_draw},
};

}  // namespace

std::span<const Verb> draw_verbs() { return kDrawVerbs; }

void draw_trace(const Args& a, const json& trace_request) {
  const auto f = format_of(a.draw_to, "--draw");
  json trace = trace_request;
  trace.erase("cmd");
  json r = call(a, {{"cmd", "draw"}, {"format", std::string(kvnet::ctl::to_string(f))}, {"trace", trace}});
  json t = r["trace"];
  write_picture(r, a.draw_to);
  if (a.format == "json") {
    t.erase("text");
    t["drawing"] = a.draw_to;
    std::cout << t.dump(2) << "\n";
  } else {
    std::cout << str(t, "text") << "Drawing: " << a.draw_to << "\n";
  }
}

}  // namespace kvnet::cli
