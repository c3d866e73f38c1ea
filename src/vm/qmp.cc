#include "vm/qmp.h"

namespace kvnet::vm {

Result<QmpMessage> parse_qmp_line(std::string_view line) {
  const json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Error{"QMP: not a JSON object: " + std::string(line.substr(0, 80))};
  QmpMessage m{QmpMessage::Kind::kReturn, 0, "", "", nullptr};
  if (j.contains("id") && j["id"].is_number_unsigned()) m.id = j["id"].get<uint64_t>();
  if (j.contains("QMP")) {
    m.kind = QmpMessage::Kind::kGreeting;
    m.data = j["QMP"];
  } else if (j.contains("return")) {
    m.kind = QmpMessage::Kind::kReturn;
    m.data = j["return"];
  } else if (j.contains("error")) {
    m.kind = QmpMessage::Kind::kError;
    const json& e = j["error"];
    const auto text = [&](const char* k) {
      return e.is_object() && e.contains(k) && e[k].is_string() ? e[k].get<std::string>() : std::string("?");
    };
    m.error = text("class") + ": " + text("desc");
  } else if (j.contains("event") && j["event"].is_string()) {
    m.kind = QmpMessage::Kind::kEvent;
    m.event = j["event"].get<std::string>();
    if (j.contains("data")) m.data = j["data"];
    if (j.contains("timestamp") && j["timestamp"].is_object()) {
      const json& t = j["timestamp"];
      const auto num = [&](const char* k) {
        return t.contains(k) && t[k].is_number_integer() ? t[k].get<int64_t>() : int64_t{0};
      };
      const int64_t sec = num("seconds"), usec = num("microseconds");
      if (sec > 0 && sec < (int64_t{1} << 40) && usec >= 0 && usec < 1000000) m.timestamp_us = sec * 1000000 + usec;
    }
  } else {
    return Error{"QMP: unknown message: " + std::string(line.substr(0, 80))};
  }
  return m;
}

Status QmpStream::feed(std::string_view bytes, std::vector<QmpMessage>& out) {
  if (broken_) return Error{"QMP: the stream failed before"};
  const auto too_long = [this] {
    broken_ = true;
    return Error{"QMP: a message longer than " + std::to_string(kMaxLine) + " bytes"};
  };
  partial_.append(bytes);
  size_t start = 0;
  for (size_t nl; (nl = partial_.find('\n', start)) != std::string::npos; start = nl + 1) {
    std::string_view line(partial_.data() + start, nl - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() > kMaxLine) return too_long();  // however it was chunked
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
    auto m = parse_qmp_line(line);
    if (!m) {
      broken_ = true;
      return m.error();
    }
    out.push_back(std::move(*m));
  }
  partial_.erase(0, start);
  if (partial_.size() > kMaxLine) return too_long();
  return Ok{};
}

std::string QmpStream::request(const std::string& execute, const json& arguments, uint64_t& id) {
  id = next_id_++;
  json r = {{"execute", execute}, {"id", id}};
  if (!arguments.is_null()) r["arguments"] = arguments;
  return r.dump() + "\r\n";
}

}  // namespace kvnet::vm
