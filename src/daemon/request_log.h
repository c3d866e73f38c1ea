// kvnetd's audit trail: every API request that changes something is logged
// once, with who sent it and what it did.
//
//   info  change by uid 0 pid 4242 (kvnetctl): {"cmd":"add-port","bridge":"br0","port":"p1"} => + port br0/p1
//   warn  refused change by uid 1000 pid 77 (kvnetctl): {"cmd":"del-br","bridge":"nope"}: bridge 'nope' does not exist
//   debug request by uid 0 pid 4250 (kvnetctl): {"cmd":"show"} => ok
//
// A change is a command of Service::commands() that changes the
// configuration or what runs (changes_state: vm-start, fdb-flush,
// stats-clear); `apply --dry-run` and every other command are read-only and
// logged at debug. The request is compact JSON with long strings cut (an
// apply's YAML: its plan says what it changed); the plan lines are those of
// the answer's "changes" (ctl/plan.h). The peer is SO_PEERCRED's uid and pid
// (daemon/api.h) and the client's command name from /proc/PID/comm.
//
// Thread-safety: the control loop's thread (it calls the Service).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "base/log.h"
#include "daemon/api.h"
#include "daemon/service.h"

namespace kvnet::daemon {

// Service::handle(req), logged as above.
nlohmann::json handle_and_log(Service& svc, const nlohmann::json& req, const ApiPeer& peer);

// --- the pieces, for tests ---
enum class RequestKind { kRead, kChange };
RequestKind request_kind(const nlohmann::json& req);
// Compact JSON; strings longer than `max_string` bytes are cut and say how
// long they were.
std::string request_text(const nlohmann::json& req, size_t max_string = 200);
// "uid 0 pid 4242 (kvnetctl)"; else ApiPeer::via, or "an unknown client".
std::string peer_text(const ApiPeer& peer);
// The one log line (without the level) and its level for an answered request.
struct RequestLogLine {
  LogLevel level;
  std::string text;
};
RequestLogLine request_log_line(const nlohmann::json& req, const ApiPeer& peer, const nlohmann::json& answer);

}  // namespace kvnet::daemon
