#include "cluster/etcd_watch.h"

#include <nlohmann/json.hpp>

#include "base/text.h"
#include "cluster/etcd_http.h"

namespace kvnet::cluster {

using json = nlohmann::json;

namespace {

constexpr size_t kMaxMessage = 64u << 20;  // one watch response (etcd's default limit: 1.5 MiB a request)
constexpr std::chrono::milliseconds kIdle{60000};  // a silent stream is opened again after this

}  // namespace

Result<WatchMessage> parse_watch_message(const std::string& text) {
  try {
    const json j = json::parse(text);
    if (!j.is_object()) return Error{"a watch message is not a JSON object"};
    if (auto e = j.find("error"); e != j.end()) {
      const std::string msg = j.contains("message") && j["message"].is_string() ? j["message"].get<std::string>()
                              : e->is_string()                                  ? e->get<std::string>()
                                                                                : e->dump();
      return Error{"etcd ended the watch: " + valid_utf8(msg)};
    }
    auto r = j.find("result");
    if (r == j.end() || !r->is_object()) return Error{"a watch message without 'result'"};
    WatchMessage m;
    if (auto h = r->find("header"); h != r->end() && h->is_object()) m.revision = json_int(*h, "revision");
    m.created = r->value("created", false);
    m.canceled = r->value("canceled", false);
    m.compact_revision = json_int(*r, "compact_revision");
    if (auto c = r->find("cancel_reason"); c != r->end() && c->is_string()) m.cancel_reason = valid_utf8(c->get<std::string>());
    if (auto ev = r->find("events"); ev != r->end()) {
      if (!ev->is_array()) return Error{"a watch message's events are not a list"};
      for (const auto& e : *ev) {
        if (!e.is_object()) return Error{"a watch event is not an object"};
        WatchEvent w;
        const std::string type = e.value("type", "PUT");
        if (type != "PUT" && type != "DELETE") return Error{"a watch event of type '" + valid_utf8(type) + "'"};
        w.deleted = type == "DELETE";
        auto kv = e.find("kv");
        if (kv == e.end() || !kv->is_object()) return Error{"a watch event without its key"};
        w.kv = json_kv(*kv);
        m.events.push_back(std::move(w));
      }
    }
    return m;
  } catch (const std::exception& e) {
    return Error{std::string("a watch message is malformed: ") + e.what()};
  }
}

Status JsonObjectSplitter::feed(const char* data, size_t len, const std::function<bool(const std::string&)>& each) {
  for (size_t i = 0; i < len; ++i) {
    const char c = data[i];
    if (depth_ == 0) {
      if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
      if (c != '{') return Error{"the watch stream has a byte outside a JSON object"};
    }
    cur_ += c;
    if (cur_.size() > max_) return Error{"a watch message is larger than " + std::to_string(max_) + " bytes"};
    if (in_string_) {
      if (escaped_) escaped_ = false;
      else if (c == '\\') escaped_ = true;
      else if (c == '"') in_string_ = false;
      continue;
    }
    if (c == '"') in_string_ = true;
    else if (c == '{' || c == '[') ++depth_;
    else if (c == '}' || c == ']') {
      if (--depth_ < 0) return Error{"the watch stream closes more than it opened"};
      if (depth_ == 0) {
        std::string obj;
        obj.swap(cur_);
        if (!each(obj)) return Ok{};
      }
    }
  }
  return Ok{};
}

EtcdWatch::EtcdWatch(EtcdOptions o) : o_(o), auth_(std::move(o)) {}
EtcdWatch::~EtcdWatch() = default;

void EtcdWatch::interrupt() {
  std::lock_guard lock(mu_);
  if (active_) active_->stop();
}

void EtcdWatch::stop() {
  stop_ = true;
  interrupt();
}

WatchEnd EtcdWatch::run(const std::string& prefix, int64_t start_revision,
                        const std::function<bool(const WatchMessage&)>& on_message) {
  if (stop_) return WatchEnd{true, 0, "stopped"};
  json create{{"key", base64_encode(prefix)}, {"range_end", base64_encode(prefix_end(prefix))}};
  if (start_revision > 0) create["start_revision"] = std::to_string(start_revision);
  const std::string body = json{{"create_request", create}}.dump();
  auto token = auth_.auth_token();
  if (!token) return WatchEnd{false, 0, token.error().message};
  std::string last_why;
  for (const auto& ep : o_.endpoints) {
    auto http = make_http(ep, o_, kIdle);
    {
      std::lock_guard lock(mu_);
      if (stop_) return WatchEnd{true, 0, "stopped"};
      active_ = http.get();
    }
    WatchEnd end;
    bool delivered = false;  // the stream answered: do not try the next member
    JsonObjectSplitter split(kMaxMessage);
    httplib::Request req;
    req.method = "POST";
    req.path = "/v3/watch";
    req.body = body;
    req.set_header("Content-Type", "application/json");
    if (!token->empty()) req.set_header("Authorization", *token);
    req.content_receiver = [&](const char* data, size_t len, uint64_t, uint64_t) {
      auto s = split.feed(data, len, [&](const std::string& obj) {
        delivered = true;
        auto m = parse_watch_message(obj);
        if (!m) {
          end.why = m.error().message;
          return false;
        }
        if (m->canceled) {
          end.compacted = m->compact_revision;
          end.why = m->compact_revision ? "revision " + std::to_string(start_revision) + " is compacted (oldest kept: " +
                                              std::to_string(m->compact_revision) + ")"
                                        : "etcd canceled the watch" + (m->cancel_reason.empty() ? "" : ": " + m->cancel_reason);
          return false;
        }
        if (!on_message(*m)) {
          end.why = "ended by its reader";
          return false;
        }
        return true;
      });
      if (!s) end.why = s.error().message;
      return s.ok() && end.why.empty();
    };
    httplib::Response res;
    httplib::Error err = httplib::Error::Success;
    const bool ok = http->send(req, res, err);
    {
      std::lock_guard lock(mu_);
      active_ = nullptr;
    }
    if (stop_) return WatchEnd{true, 0, "stopped"};
    if (!end.why.empty()) return end;
    if (ok) return WatchEnd{false, 0, "the stream from " + ep.url + " ended"};
    last_why = ep.url + ": " + (err == httplib::Error::Canceled ? "interrupted" : transport_error(err, ep, o_, kIdle));
    if (delivered) return WatchEnd{false, 0, last_why};
  }
  return WatchEnd{false, 0, "cluster store unreachable for the watch (" + last_why + ")"};
}

}  // namespace kvnet::cluster
