// Fuzz target guest_stream: what a guest (or its QEMU) sends kvnet, as
// kvnetd and kvnetctl read it: QMP messages (vm/qmp.h, on the monitor
// socket) and serial console output (vm/console.h: the ready-marker scan and
// the --exec scanner). The input is cut into chunks whose sizes come from
// its first bytes, so messages straddle reads at every position.
//
// Invariants: no crash, no exception; a QMP stream that failed keeps
// failing; ExecScanner's output never holds its end marker and its status
// is set exactly when it is done; MarkerScanner agrees with a search of the
// whole text.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "vm/console.h"
#include "vm/qmp.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kvnet::vm;
  if (size < 2) return 0;
  const size_t step = 1 + data[0] % 64;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);

  QmpStream qmp;
  bool failed = false;
  ExecScanner exec("4242");
  MarkerScanner marker{std::string(kReadyMarker)};
  for (size_t i = 0; i < text.size(); i += step) {
    const std::string_view chunk = text.substr(i, step);
    std::vector<QmpMessage> msgs;
    const bool ok = static_cast<bool>(qmp.feed(chunk, msgs));
    FUZZ_CHECK(!(failed && ok), "a failed QMP stream accepted bytes again");
    failed = failed || !ok;
    for (const auto& m : msgs) {
      if (m.kind == QmpMessage::Kind::kEvent) FUZZ_CHECK(!m.event.empty(), "an event without a name");
      if (m.kind == QmpMessage::Kind::kError) FUZZ_CHECK(!m.error.empty(), "an error without text");
    }
    exec.feed(chunk);
    marker.feed(chunk);
  }
  FUZZ_CHECK(marker.found() == (text.find(kReadyMarker) != std::string_view::npos), "marker scan disagrees");
  if (exec.done()) FUZZ_CHECK(exec.output().find("KVNET-END-4242:") == std::string::npos, "end marker in output");
  else FUZZ_CHECK(exec.status() == -1, "a status before the end");
  uint64_t id = 0;
  const std::string req = qmp.request("query-status", nullptr, id);
  FUZZ_CHECK(!req.empty() && req.back() == '\n' && id > 0, "a bad request line");
  return 0;
}
