// The QEMU Machine Protocol, as kvnetd speaks it: a byte stream of JSON
// objects, one per line ("\r\n"), in both directions.
//
//   QEMU -> {"QMP": {"version": ..., "capabilities": [...]}}     greeting
//   kvnetd -> {"execute": "qmp_capabilities", "id": 1}          leaves negotiation mode
//   QEMU -> {"return": {}, "id": 1}
//   kvnetd -> {"execute": "query-status", "id": 2}
//   QEMU -> {"return": {"status": "running", "running": true}, "id": 2}
//   QEMU -> {"event": "SHUTDOWN", "data": {"guest": true, "reason": "guest-shutdown"}, "timestamp": {...}}
//
// QmpStream turns received bytes into messages and requests into bytes; it
// does no I/O (daemon/vm_host.cc moves the bytes), so tests feed it text.
// A line longer than kMaxLine, or one that is not a JSON object, is an
// error: the connection is then dropped (QEMU never sends such a thing).
//
// Thread-safety: one owner.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace kvnet::vm {

using json = nlohmann::json;

struct QmpMessage {
  enum class Kind { kGreeting, kReturn, kError, kEvent };
  Kind kind;
  uint64_t id = 0;          // kReturn, kError: the request's id (0: none)
  std::string event;        // kEvent: SHUTDOWN, RESET, STOP, RESUME, POWERDOWN, ...
  std::string error;        // kError: "CLASS: description"
  json data;                // kReturn: "return"; kEvent: "data"; kGreeting: "QMP"
  int64_t timestamp_us = 0; // kEvent: QEMU's clock when it happened (0: none given)
};

class QmpStream {
 public:
  static constexpr size_t kMaxLine = 1 << 20;

  // Appends received bytes; the complete messages they finish are appended
  // to `out`. An error leaves the stream unusable.
  Status feed(std::string_view bytes, std::vector<QmpMessage>& out);
  // One request as bytes to send; its id is returned through `id`.
  std::string request(const std::string& execute, const json& arguments, uint64_t& id);

 private:
  std::string partial_;
  uint64_t next_id_ = 1;
  bool broken_ = false;
};

// Parses one line (without its end) into a message.
Result<QmpMessage> parse_qmp_line(std::string_view line);

}  // namespace kvnet::vm
