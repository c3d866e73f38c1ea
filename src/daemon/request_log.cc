#include "daemon/request_log.h"

#include <fstream>

#include <fmt/format.h>

#include "base/text.h"

namespace kvnet::daemon {

using json = nlohmann::json;

RequestKind request_kind(const json& req) {
  if (!req.is_object() || !req.contains("cmd") || !req["cmd"].is_string()) return RequestKind::kRead;
  const std::string cmd = req["cmd"].get<std::string>();
  if (req.value("dry_run", false) == true) return RequestKind::kRead;
  for (const auto& c : Service::commands())
    if (cmd == c.name) return c.changes_config || c.changes_state ? RequestKind::kChange : RequestKind::kRead;
  return RequestKind::kRead;  // unknown: refused without changing anything
}

namespace {

json cut_strings(const json& j, size_t max) {
  if (j.is_string()) {
    const auto& s = j.get_ref<const std::string&>();
    if (s.size() <= max) return j;
    return utf8_prefix(s, max) + fmt::format("...({} bytes)", s.size());
  }
  if (j.is_object() || j.is_array()) {
    json out = j.is_object() ? json::object() : json::array();
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (j.is_object()) out[it.key()] = cut_strings(*it, max);
      else out.push_back(cut_strings(*it, max));
    }
    return out;
  }
  return j;
}

std::string comm_of(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/comm");
  std::string name;
  std::getline(f, name);
  return name;
}

}  // namespace

std::string request_text(const json& req, size_t max_string) {
  return cut_strings(req, max_string).dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string peer_text(const ApiPeer& peer) {
  if (!peer.known) return peer.via.empty() ? "an unknown client" : peer.via;
  std::string s = fmt::format("uid {} pid {}", peer.uid, peer.pid);
  if (const std::string comm = comm_of(peer.pid); !comm.empty()) s += " (" + valid_utf8(comm) + ")";
  return s;
}

RequestLogLine request_log_line(const json& req, const ApiPeer& peer, const json& answer) {
  const bool change = request_kind(req) == RequestKind::kChange;
  const bool ok = answer.value("ok", false);
  const std::string who = peer_text(peer);
  const std::string what = request_text(req);
  if (!ok) {
    const std::string err = answer.value("error", std::string("unknown error"));
    if (change) return {LogLevel::kWarn, fmt::format("refused change by {}: {}: {}", who, what, err)};
    return {LogLevel::kDebug, fmt::format("request by {}: {} => error: {}", who, what, err)};
  }
  const json& result = answer.contains("result") ? answer["result"] : json();
  // A verb that may change or only read (vsctl) says which it did.
  const bool read = result.is_object() && result.contains("changed") && result["changed"] == false;
  if (!change || read) return {LogLevel::kDebug, fmt::format("request by {}: {} => ok", who, what)};
  std::string outcome;
  if (result.is_object() && result.contains("changes") && result["changes"].is_array()) {
    for (const auto& line : result["changes"])
      if (line.is_string()) outcome += (outcome.empty() ? "" : "; ") + line.get<std::string>();
    if (outcome.empty()) outcome = "no change";
  } else {
    // Not a configuration change (vm-start, fdb-flush, ...): its answer says what happened.
    outcome = request_text(result);
  }
  return {LogLevel::kInfo, fmt::format("change by {}: {} => {}", who, what, outcome)};
}

json handle_and_log(Service& svc, const json& req, const ApiPeer& peer) {
  json answer = svc.handle(req);
  const bool change = request_kind(req) == RequestKind::kChange;
  // Changes are always worth the formatting (refusals are warnings);
  // read-only requests only at debug.
  if (change || logger().enabled(LogLevel::kDebug)) {
    const RequestLogLine l = request_log_line(req, peer, answer);
    log_at(l.level, l.text);
  }
  return answer;
}

}  // namespace kvnet::daemon
