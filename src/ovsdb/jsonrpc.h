// JSON-RPC 1.0 as OVSDB speaks it (RFC 7047 section 4): JSON texts one
// after another on a stream socket, with no framing of their own.
//
// JsonSplitter finds where one text ends by scanning the bytes (braces and
// brackets outside strings), so a message may arrive in any number of
// pieces and several may arrive at once. A stream that is not JSON-RPC (a
// text that is not an object, a message over the size limit, bad JSON)
// fails for good: the connection is closed after the error is answered.
//
// Message is one parsed request, notification or reply; to_wire() writes
// JSON that cannot fail (strings that are not UTF-8, as a client may send
// them, are written with U+FFFD in their place).
//
// Thread-safety: plain objects of one connection.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"

namespace kvnet::ovsdb {

using json = nlohmann::json;

class JsonSplitter {
 public:
  // ovsdb-server has no limit of its own; a client's whole database in one
  // transaction stays far below this one.
  static constexpr size_t kDefaultMaxMessage = 64u << 20;

  explicit JsonSplitter(size_t max_message = kDefaultMaxMessage) : max_(max_message) {}

  void feed(std::string_view bytes);
  // The next complete text: nullopt until one is complete; an Error (and the
  // same one on every later call) once the stream has failed.
  std::optional<Result<json>> next();
  // Bytes received and not yet returned (a partial message).
  size_t pending() const { return buf_.size() - start_; }
  bool failed() const { return failed_; }

 private:
  Result<json> fail(std::string message);

  std::string buf_;
  size_t max_;
  size_t start_ = 0;  // where the current text starts (or whitespace before it)
  size_t scan_ = 0;   // how far it has been scanned
  int depth_ = 0;
  bool in_text_ = false;  // inside a text (its first brace seen)
  bool in_string_ = false;
  bool escaped_ = false;
  bool failed_ = false;
  std::string error_;
};

struct Message {
  enum class Kind { kRequest, kNotification, kReply };
  Kind kind = Kind::kRequest;
  std::string method;  // requests and notifications
  json params;         // ... always an array
  json id;             // requests and replies
  json result;         // replies: null when `error` is not
  json error;

  // A request or notification: {"method", "params", "id"}; a reply:
  // {"result", "error", "id"}. The error names what is wrong.
  static Result<Message> parse(const json& j);
};

json make_request(const std::string& method, json params, json id);
json make_notification(const std::string& method, json params);
json make_reply(json id, json result);
json make_error_reply(json id, json error);
// Compact JSON, never throwing (invalid UTF-8 replaced).
std::string to_wire(const json& j);

}  // namespace kvnet::ovsdb
