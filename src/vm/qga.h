// The QEMU guest agent's protocol (qemu-guest-agent 7.2), as kvnetd speaks
// it on a VM's agent channel: QMP-like JSON, one object per line, but with no
// greeting, no capabilities negotiation and no request ids. Nothing says
// which request a reply answers except their order, and a reply the agent
// wrote for an earlier client (or for a request that timed out) may still be
// in the channel. So every (re)connect, and every timeout, starts a resync:
//
//   kvnetd -> 0xFF {"execute":"guest-sync-delimited","arguments":{"id":N}}
//   agent  -> ...stale bytes... 0xFF {"return":N}
//   kvnetd -> {"execute":"guest-network-get-interfaces"}
//   agent  -> {"return":[{"name":"eth0","hardware-address":"52:54:00:..", ...}]}
//   kvnetd -> {"execute":"guest-exec-status","arguments":{"pid":7}}
//   agent  -> {"error":{"class":"GenericError","desc":"Invalid parameter 'pid'"}}
//
// The leading 0xFF the client sends makes the agent drop a partly read
// request of an earlier client (the agent may answer it with a parse error,
// which the resync discards). The agent's 0xFF can never be part of JSON
// text (UTF-8 has no 0xFF byte): everything before it is discarded, and after
// it every line is discarded until {"return":N} with this sync's N (a stale
// {"return":M} of an earlier sync included). Replies are then handed out in
// order; one request at a time is the caller's rule.
//
// QgaStream does no I/O: the caller moves the bytes and keeps the timeouts
// (an agent that is not running never answers). The builders and parsers
// below turn requests into lines and replies into values; the parsers treat
// the reply as untrusted (the guest writes it): every field is checked, and
// an address that is not one is an error, not shown.
//
// Thread-safety: one owner.
#pragma once

#include <cstdint>
#include <deque>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace kvnet::vm {

// The most output the agent keeps per stream (qga/commands.c
// GUEST_EXEC_MAX_OUTPUT), and the most stdin kvnet sends.
inline constexpr size_t kMaxExecOutput = 16u << 20;

struct QgaReply {
  bool ok = false;
  nlohmann::json value;  // ok: the "return" value
  std::string error;     // !ok: "CLASS: description"
};

// Events of the stream, for the VM's counters.
struct QgaCounters {
  uint64_t discarded_bytes = 0;  // before a sync's 0xFF, or while unsynced
  uint64_t stale_lines = 0;      // lines after the 0xFF before this sync's reply
  uint64_t junk_lines = 0;       // once synced: not a JSON object with "return" or "error"
  uint64_t oversize = 0;         // lines longer than the limit (each one lost the sync)
};

class QgaStream {
 public:
  // A reply line's limit. 1 MiB holds any reply but guest-exec-status with
  // large output: the agent keeps up to 16 MiB of each of stdout and stderr,
  // base64 in one line (kMaxExecLine holds that).
  static constexpr size_t kMaxLine = 1 << 20;
  static constexpr size_t kMaxExecLine = 2 * ((kMaxExecOutput + 2) / 3 * 4) + 4096;

  explicit QgaStream(size_t max_line = kMaxLine) : max_line_(max_line) {}

  enum class State {
    kUnsynced,  // before the first begin_sync(), or after an oversize line: bytes are discarded
    kSyncing,   // waiting for the 0xFF, then for {"return": id}
    kSynced,    // replies are handed out
  };

  // The resync request for `id` (at most INT64_MAX: the agent's "int"),
  // 0xFF first, as bytes to send.
  static std::string sync_request(uint64_t id);
  // From now on: discard until the agent's 0xFF, then until {"return": id}.
  // Replies not taken yet, and any partial line, are dropped.
  void begin_sync(uint64_t id);

  // Appends received bytes. Fails when a line grows beyond the limit: the
  // stream is then kUnsynced (a request in flight has lost its reply) and
  // needs begin_sync(); what it had parsed before that is still handed out.
  Status feed(std::string_view bytes);
  // The next reply, in order; none before the sync completed.
  std::optional<QgaReply> next();

  // The limit for lines from now on (a guest-exec-status reply needs
  // kMaxExecLine; other replies kMaxLine).
  void set_max_line(size_t max_line) { max_line_ = max_line; }

  State state() const { return state_; }
  const QgaCounters& counters() const { return counters_; }

 private:
  void line(std::string_view text);
  Status lose_sync();

  size_t max_line_;
  State state_ = State::kUnsynced;
  bool seen_ff_ = false;  // kSyncing: the agent's 0xFF came
  uint64_t sync_id_ = 0;
  std::string partial_;
  std::deque<QgaReply> replies_;
  QgaCounters counters_;
};

// ---- Requests and their replies ---------------------------------------------

// A guest's NIC as the agent sees it; kvnet matches it to the VM's NIC by MAC.
struct GuestInterface {
  std::string name;                     // the guest's name for it ("eth0"), shown as printable text
  std::string mac;                      // lower case; "" when the agent gives none
  std::vector<std::string> addresses;   // "10.0.0.11/24", "2001:db8::5/64": global and loopback
  std::vector<std::string> link_local;  // fe80::/10 and 169.254.0.0/16: kept apart, the guest always has them
};

// {"execute":"guest-network-get-interfaces"} as a line.
std::string guest_network_get_interfaces_request();
// Its reply's value (an array; at most 1024 interfaces of 1024 addresses each).
Result<std::vector<GuestInterface>> parse_guest_interfaces(const nlohmann::json& value);

// guest-exec of `path` with `args`, output captured, `input` as its stdin
// ("" none) as a line. Errors: an empty path, text that is not UTF-8 (JSON
// carries no other), input above kMaxExecOutput.
Result<std::string> guest_exec_request(const std::string& path, const std::vector<std::string>& args,
                                       std::string_view input);
// Its reply's value {"pid": N}: the pid (> 0).
Result<int64_t> parse_guest_exec(const nlohmann::json& value);

struct GuestExecStatus {
  bool exited = false;          // false: still running (nothing else is set)
  std::optional<int> exitcode;  // it exited
  std::optional<int> signal;    // a signal killed it
  std::string out, err;         // decoded output
  bool out_truncated = false;   // the agent kept only kMaxExecOutput bytes
  bool err_truncated = false;
};

// guest-exec-status of `pid` as a line.
std::string guest_exec_status_request(int64_t pid);
// Its reply's value. The agent forgets the process once it has reported it
// exited (its output included): a second status of the same pid is an error.
// Bad base64, or output above kMaxExecOutput, is an error.
Result<GuestExecStatus> parse_guest_exec_status(const nlohmann::json& value);

}  // namespace kvnet::vm
