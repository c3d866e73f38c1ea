// Rendering pictures with libgvc: SVG that is well-formed XML and keeps the
// ids, PNG, Graphviz's errors as Results, formats by file extension, base64,
// and concurrent callers (the mutex).
#include "ctl/render.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "ctl/draw.h"
#include "ctl/topology.h"

namespace kvnet::ctl {
namespace {

// A small well-formedness check: tags balance, attributes are quoted, and
// there is one root element. Returns "" or what is wrong.
std::string xml_problem(const std::string& x) {
  std::vector<std::string> open;
  size_t i = 0, roots = 0;
  while ((i = x.find('<', i)) != std::string::npos) {
    if (x.compare(i, 4, "<!--") == 0) {
      i = x.find("-->", i);
      if (i == std::string::npos) return "unterminated comment";
      continue;
    }
    const size_t end = x.find('>', i);
    if (end == std::string::npos) return "unterminated tag at " + std::to_string(i);
    std::string tag = x.substr(i + 1, end - i - 1);
    i = end + 1;
    if (tag.empty()) return "empty tag";
    if (tag[0] == '?' || tag[0] == '!') continue;
    if (tag[0] == '/') {
      const std::string name = tag.substr(1);
      if (open.empty() || open.back() != name) return "</" + name + "> closes " + (open.empty() ? "nothing" : open.back());
      open.pop_back();
      continue;
    }
    size_t quotes = 0;
    for (char c : tag) quotes += c == '"';
    if (quotes % 2) return "unbalanced quotes in <" + tag + ">";
    const std::string name = tag.substr(0, tag.find_first_of(" \n/"));
    if (open.empty()) ++roots;
    if (tag.back() != '/') open.push_back(name);
  }
  if (!open.empty()) return "<" + open.back() + "> is not closed";
  if (roots != 1) return std::to_string(roots) + " root elements";
  return "";
}

Topology small() {
  auto t = parse_topology(R"(
bridges:
  - name: br-a
    ports:
      - {name: p1, type: pcap, vlan_mode: access, pvid: 10}
      - {name: pa, type: patch, peer: br-b/pb, vlan_mode: trunk, allowed: [10, 20]}
  - name: br-b
    ports:
      - {name: pb, type: patch, peer: br-a/pa, vlan_mode: trunk, allowed: [10, 20]}
      - {name: p2, type: pcap, vlan_mode: access, pvid: 20}
)",
                          "t.yaml", "/tmp");
  EXPECT_TRUE(t.ok());
  return *t;
}

TEST(Render, SvgIsWellFormedXmlWithTheIds) {
  auto svg = render(to_dot(small(), {.title = "small <&> \"test\""}), ImageFormat::kSvg);
  ASSERT_TRUE(svg.ok()) << svg.error().message;
  EXPECT_EQ(svg->rfind("<?xml", 0), 0u);
  EXPECT_EQ(xml_problem(*svg), "");
  // Graphviz writes '-' as &#45; in attributes: the DOM sees the id as written.
  for (const char* id : {"br&#45;a/p1", "br&#45;b/p2", "cluster:br&#45;a", "bridge:br&#45;b",
                         "patch:br&#45;a/pa&#45;&#45;br&#45;b/pb", "link:br&#45;a/p1", "legend:vlan&#45;10"})
    EXPECT_NE(svg->find(std::string("id=\"") + id + "\""), std::string::npos) << id;
  EXPECT_NE(svg->find("class=\"node port kind&#45;pcap vlan&#45;10\""), std::string::npos);
}

TEST(Render, PngAndDot) {
  const std::string dot = to_dot(small());
  auto png = render(dot, ImageFormat::kPng);
  ASSERT_TRUE(png.ok()) << png.error().message;
  EXPECT_EQ(png->substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  auto same = render(dot, ImageFormat::kDot);
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(*same, dot);
}

TEST(Render, GraphvizErrorsAreResults) {
  auto r = render("graph { a -- ", ImageFormat::kSvg);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("graphviz: the DOT text does not parse"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("syntax error"), std::string::npos) << r.error().message;
  // and the next render is not affected
  EXPECT_TRUE(render("graph { a -- b }", ImageFormat::kSvg).ok());
}

TEST(Render, ConcurrentCallersAreSerialized) {
  const std::string dot = to_dot(small());
  std::vector<std::thread> threads;
  std::vector<int> ok(4, 0);
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) {
        auto r = render(dot, i % 2 ? ImageFormat::kPng : ImageFormat::kSvg);
        ok[t] += r.ok() && !r->empty();
      }
    });
  for (auto& th : threads) th.join();
  for (int n : ok) EXPECT_EQ(n, 5);
}

TEST(Render, FormatComesFromTheExtension) {
  EXPECT_EQ(*image_format_of("a/b.svg"), ImageFormat::kSvg);
  EXPECT_EQ(*image_format_of("x.PNG"), ImageFormat::kPng);
  EXPECT_EQ(*image_format_of("topo.dot"), ImageFormat::kDot);
  auto bad = image_format_of("pic.jpg");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message, "'pic.jpg': extension '.jpg' is not a picture format kvnet writes (.svg, .png, .dot)");
  auto none = image_format_of("picture");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().message, "'picture' has no extension: name the file .svg, .png or .dot");
  EXPECT_EQ(parse_image_format("gif").error().message, "format 'gif' is not one of svg, png, dot");
}

TEST(Render, Base64RoundTrips) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (size_t n = 0; n < all.size(); n += 37) {
    auto d = base64_decode(base64_encode(all.substr(0, n)));
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(*d, all.substr(0, n));
  }
  EXPECT_FALSE(base64_decode("Zm9").ok());
  EXPECT_FALSE(base64_decode("Zm=v").ok());
  EXPECT_FALSE(base64_decode("Z!9v").ok());
  EXPECT_FALSE(base64_decode("Zg==Zg==").ok());
}

}  // namespace
}  // namespace kvnet::ctl
