// The dashboard's page and its script and style sheet, embedded in kvnetd:
// the files of src/daemon/dashboard/, turned into a generated source at build
// time (cmake/embed_assets.cmake), so kvnetd serves them without reading
// files and the page loads nothing from elsewhere.
#pragma once

#include <string_view>
#include <vector>

namespace kvnet::daemon {

struct HttpAsset {
  std::string_view path;          // "/index.html", "/app.js", ...
  std::string_view content_type;  // NUL-terminated
  std::string_view body;
};

const std::vector<HttpAsset>& dashboard_assets();

}  // namespace kvnet::daemon
