#include "ovsdb/jsonrpc.h"

#include <utility>

namespace kvnet::ovsdb {

Result<json> JsonSplitter::fail(std::string message) {
  failed_ = true;
  error_ = std::move(message);
  buf_.clear();
  start_ = scan_ = 0;
  return Error{error_};
}

void JsonSplitter::feed(std::string_view bytes) {
  if (failed_) return;
  // Drop what earlier texts used before the buffer grows.
  if (start_ > 0 && start_ >= buf_.size() / 2) {
    buf_.erase(0, start_);
    scan_ -= start_;
    start_ = 0;
  }
  buf_.append(bytes);
}

std::optional<Result<json>> JsonSplitter::next() {
  if (failed_) return Result<json>(Error{error_});
  for (; scan_ < buf_.size(); ++scan_) {
    const char c = buf_[scan_];
    if (!in_text_) {
      if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
        start_ = scan_ + 1;
        continue;
      }
      if (c != '{') return fail(std::string("the stream is not JSON-RPC: a message starts with '") + c + "', not '{'");
      in_text_ = true;
      start_ = scan_;
      depth_ = 0;
    }
    if (scan_ - start_ >= max_)
      return fail("a message is longer than " + std::to_string(max_) + " bytes");
    if (in_string_) {
      if (escaped_)
        escaped_ = false;
      else if (c == '\\')
        escaped_ = true;
      else if (c == '"')
        in_string_ = false;
      continue;
    }
    if (c == '"') {
      in_string_ = true;
    } else if (c == '{' || c == '[') {
      ++depth_;
    } else if ((c == '}' || c == ']') && --depth_ == 0) {
      const std::string_view text(buf_.data() + start_, scan_ + 1 - start_);
      json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
      if (j.is_discarded()) return fail("a message is not valid JSON");
      start_ = ++scan_;
      in_text_ = false;
      return Result<json>(std::move(j));
    }
  }
  if (in_text_ && scan_ - start_ >= max_) return fail("a message is longer than " + std::to_string(max_) + " bytes");
  return std::nullopt;
}

Result<Message> Message::parse(const json& j) {
  if (!j.is_object()) return Error{"a JSON-RPC message is an object"};
  Message m;
  auto id = j.find("id");
  if (j.contains("method")) {
    if (!j["method"].is_string()) return Error{"\"method\" is not a string"};
    m.method = j["method"].get<std::string>();
    auto p = j.find("params");
    if (p == j.end() || !p->is_array()) return Error{"request \"" + m.method + "\": \"params\" is not an array"};
    m.params = *p;
    if (id == j.end()) return Error{"request \"" + m.method + "\": no \"id\""};
    m.id = *id;
    m.kind = m.id.is_null() ? Kind::kNotification : Kind::kRequest;
    return m;
  }
  if (j.contains("result") || j.contains("error")) {
    if (id == j.end()) return Error{"a reply without \"id\""};
    m.kind = Kind::kReply;
    m.id = *id;
    m.result = j.value("result", json());
    m.error = j.value("error", json());
    return m;
  }
  return Error{"a JSON-RPC message has \"method\" (a request) or \"result\" (a reply)"};
}

json make_request(const std::string& method, json params, json id) {
  return json{{"method", method}, {"params", std::move(params)}, {"id", std::move(id)}};
}

json make_notification(const std::string& method, json params) {
  return json{{"method", method}, {"params", std::move(params)}, {"id", nullptr}};
}

json make_reply(json id, json result) {
  return json{{"id", std::move(id)}, {"result", std::move(result)}, {"error", nullptr}};
}

json make_error_reply(json id, json error) {
  return json{{"id", std::move(id)}, {"result", nullptr}, {"error", std::move(error)}};
}

std::string to_wire(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

}  // namespace kvnet::ovsdb
