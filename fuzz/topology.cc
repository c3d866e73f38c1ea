// Fuzz target topology: arbitrary bytes as topology YAML for
// ctl::parse_topology, as `kvnet replay` and the daemon's `apply` read it.
//
// The text is parsed as a file (patch peers must exist); if that fails, again
// as the daemon's apply does it (dangling patches allowed).
//
// Invariants: a bad document is an error, never an exception or a crash;
// a valid one survives export: ctl::to_yaml(t) parses again (with the same
// options), and exporting that gives the same text.
#include <cstdint>
#include <string>

#include "ctl/topology.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kvnet;
  const std::string text(reinterpret_cast<const char*>(data), size);
  ctl::ParseOptions opts;
  auto t = ctl::parse_topology(text, "fuzz.yaml", "/fuzz");
  if (!t) {
    FUZZ_CHECK(!t.error().message.empty(), "an error without a message");
    opts.allow_dangling_patches = true;
    t = ctl::parse_topology(text, "fuzz.yaml", "/fuzz", opts);
    if (!t) return 0;
  }
  const std::string y1 = ctl::to_yaml(*t);
  auto t2 = ctl::parse_topology(y1, "export.yaml", "/elsewhere", opts);
  FUZZ_CHECK(t2.ok(), "the export does not parse: %s\n--- export:\n%s", t2.error().message.c_str(), y1.c_str());
  const std::string y2 = ctl::to_yaml(*t2);
  FUZZ_CHECK(y1 == y2, "export changed on a round trip\n--- first:\n%s--- second:\n%s", y1.c_str(), y2.c_str());
  return 0;
}
