// Fuzz target qga_stream: what a guest agent (the guest controls it) sends
// kvnetd on a VM's agent channel (vm/qga.h). The first byte sets the chunk
// size, so lines and the 0xFF delimiter straddle reads at every position;
// the second picks the sync id (0-3) the stream waits for. Every reply is
// also given to the reply parsers, and the text to the guest-exec builder.
//
// Invariants: no crash, no exception; no reply before the sync completed; a
// reply is either ok or carries an error text; a failed feed leaves the
// stream unsynced; parsed interfaces' addresses are "ADDR/PREFIX" and
// their MACs lower case; exec output is at most the agent's cap; a built
// request is one JSON line.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "vm/qga.h"

namespace {

using namespace kvnet::vm;

void check_parsers(const nlohmann::json& v) {
  if (auto ifs = parse_guest_interfaces(v); ifs)
    for (const auto& i : *ifs) {
      for (const auto& a : i.addresses) FUZZ_CHECK(a.find('/') != std::string::npos, "an address without prefix");
      for (char c : i.mac) FUZZ_CHECK(!(c >= 'A' && c <= 'Z'), "an upper-case MAC");
    }
  if (auto pid = parse_guest_exec(v); pid) FUZZ_CHECK(*pid > 0, "pid %lld", static_cast<long long>(*pid));
  if (auto s = parse_guest_exec_status(v); s) {
    FUZZ_CHECK(s->out.size() <= kMaxExecOutput && s->err.size() <= kMaxExecOutput, "output above the cap");
    if (!s->exited) FUZZ_CHECK(s->out.empty() && !s->exitcode && !s->signal, "a running process with results");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const size_t step = 1 + data[0] % 64;
  const uint64_t id = data[1] % 4;
  const std::string_view text(reinterpret_cast<const char*>(data + 2), size - 2);

  QgaStream s(4096);
  s.begin_sync(id);
  bool synced = false;
  for (size_t i = 0; i < text.size(); i += step) {
    const bool ok = static_cast<bool>(s.feed(text.substr(i, step)));
    FUZZ_CHECK(ok || s.state() == QgaStream::State::kUnsynced, "a failed feed left the stream synced");
    synced = synced || s.state() == QgaStream::State::kSynced;
    while (auto r = s.next()) {
      FUZZ_CHECK(synced, "a reply before the sync");
      FUZZ_CHECK(r->ok ? r->error.empty() : !r->error.empty(), "a reply neither ok nor an error");
      if (r->ok) check_parsers(r->value);
    }
  }
  const nlohmann::json whole = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!whole.is_discarded()) check_parsers(whole);

  if (auto req = guest_exec_request("/bin/sh", {"-c", std::string(text)}, text); req) {
    FUZZ_CHECK(!req->empty() && req->back() == '\n' && req->find('\n') == req->size() - 1, "not one line");
    const auto j = nlohmann::json::parse(*req, nullptr, false);
    FUZZ_CHECK(!j.is_discarded() && j["arguments"]["arg"][1] == std::string(text), "the argument does not round-trip");
  }
  const std::string sync = QgaStream::sync_request(id);
  FUZZ_CHECK(sync.size() > 2 && sync[0] == '\xff' && sync.back() == '\n', "a bad sync request");
  return 0;
}
