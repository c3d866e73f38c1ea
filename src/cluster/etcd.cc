#include "cluster/etcd.h"

#include "cluster/etcd_http.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "base/text.h"

namespace kvnet::cluster {

using json = nlohmann::json;

namespace {

constexpr int kUnavailable = 14;      // gRPC: no leader, member stopping, request timed out
constexpr int kUnauthenticated = 16;  // gRPC: the token expired or is unknown
constexpr size_t kMaxAnswer = 256u << 20;  // a range of the whole store stays well below

uint64_t unum(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return 0;
  if (it->is_number_unsigned()) return it->get<uint64_t>();
  if (it->is_string()) return std::stoull(it->get_ref<const std::string&>());
  throw std::invalid_argument(std::string(key) + " is not a number");
}

RangeResult read_range(const json& j) {
  RangeResult r;
  if (auto h = j.find("header"); h != j.end()) r.revision = json_int(*h, "revision");
  if (auto k = j.find("kvs"); k != j.end())
    for (const auto& kv : *k) r.kvs.push_back(json_kv(kv));
  r.count = json_int(j, "count");
  r.more = j.value("more", false);
  return r;
}

json range_request(const std::string& key, bool prefix, int64_t revision, int64_t limit) {
  json j{{"key", base64_encode(key)}};
  if (prefix) j["range_end"] = base64_encode(prefix_end(key));
  if (revision) j["revision"] = std::to_string(revision);
  if (limit) j["limit"] = std::to_string(limit);
  return j;
}

json txn_op(const TxnOp& op) {
  switch (op.kind) {
    case TxnOp::Kind::kPut: {
      json p{{"key", base64_encode(op.key)}, {"value", base64_encode(op.value)}};
      if (op.lease) p["lease"] = std::to_string(op.lease);
      return {{"request_put", p}};
    }
    case TxnOp::Kind::kDelete: {
      json d{{"key", base64_encode(op.key)}};
      if (op.prefix) d["range_end"] = base64_encode(prefix_end(op.key));
      return {{"request_delete_range", d}};
    }
    case TxnOp::Kind::kRange: return {{"request_range", range_request(op.key, op.prefix, 0, 0)}};
  }
  return {};
}

json compare(const Compare& c) {
  static const char* kTargets[] = {"VERSION", "CREATE", "MOD", "VALUE"};
  static const char* kOps[] = {"EQUAL", "GREATER", "LESS", "NOT_EQUAL"};
  json j{{"key", base64_encode(c.key)},
         {"target", kTargets[static_cast<int>(c.target)]},
         {"result", kOps[static_cast<int>(c.op)]}};
  if (c.prefix) j["range_end"] = base64_encode(prefix_end(c.key));
  switch (c.target) {
    case Compare::Target::kVersion: j["version"] = std::to_string(c.number); break;
    case Compare::Target::kCreate: j["create_revision"] = std::to_string(c.number); break;
    case Compare::Target::kMod: j["mod_revision"] = std::to_string(c.number); break;
    case Compare::Target::kValue: j["value"] = base64_encode(c.value); break;
  }
  return j;
}

// Why a TCP connection to host:port fails: httplib says only that it did,
// so one connect of our own (bounded by `timeout`) asks the kernel.
std::string connect_error(const Endpoint& ep, std::chrono::milliseconds timeout) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const std::string port = std::to_string(ep.port);
  if (int rc = getaddrinfo(ep.host.c_str(), port.c_str(), &hints, &res); rc != 0)
    return std::string("cannot resolve '") + ep.host + "': " + gai_strerror(rc);
  std::string why = "cannot connect";
  for (addrinfo* a = res; a; a = a->ai_next) {
    const int fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) continue;
    // SAFETY: connect reads the address getaddrinfo filled, of its length.
    if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
      why = "it accepts connections but does not answer as etcd";
    } else if (errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      const int n = poll(&p, 1, static_cast<int>(timeout.count()));
      int err = 0;
      socklen_t len = sizeof err;
      if (n == 0) why = "connection timed out";
      else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err) why = std::strerror(err);
      else why = "it accepts connections but does not answer as etcd";
    } else {
      why = std::strerror(errno);
    }
    close(fd);
    break;
  }
  freeaddrinfo(res);
  if (!why.empty()) why[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(why[0])));
  return why;
}

std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

bool readable(const std::string& path) {
  std::ifstream f(path);
  return f.good();
}

}  // namespace

// ------------------------------------------------------------ etcd's JSON

int64_t json_int(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return 0;
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_string()) {
    const std::string& s = it->get_ref<const std::string&>();
    size_t used = 0;
    const long long v = std::stoll(s, &used);
    if (used != s.size()) throw std::invalid_argument(std::string(key) + " is not a number");
    return v;
  }
  throw std::invalid_argument(std::string(key) + " is not a number");
}

std::string json_bytes(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return "";
  if (!it->is_string()) throw std::invalid_argument(std::string(key) + " is not a string");
  auto d = base64_decode(it->get_ref<const std::string&>());
  if (!d) throw std::invalid_argument(std::string(key) + " is not base64");
  return *d;
}

KeyValue json_kv(const json& j) {
  return KeyValue{json_bytes(j, "key"),         json_bytes(j, "value"), json_int(j, "create_revision"),
                  json_int(j, "mod_revision"),  json_int(j, "version"), json_int(j, "lease")};
}

// ------------------------------------------------------------ endpoints

Result<std::vector<Endpoint>> parse_endpoints(const std::string& csv) {
  std::vector<Endpoint> out;
  if (csv.empty()) return Error{"no etcd endpoint given (e.g. http://127.0.0.1:2379)"};
  size_t start = 0;
  while (start <= csv.size()) {
    size_t comma = csv.find(',', start);
    if (comma == std::string::npos) comma = csv.size();
    std::string u = trim(csv.substr(start, comma - start));
    start = comma + 1;
    const std::string shown = "etcd endpoint '" + valid_utf8(u) + "'";
    if (u.empty()) return Error{"empty etcd endpoint in '" + valid_utf8(csv) + "'"};
    while (!u.empty() && u.back() == '/') u.pop_back();
    Endpoint ep;
    std::string rest;
    if (u.rfind("http://", 0) == 0) rest = u.substr(7);
    else if (u.rfind("https://", 0) == 0) ep.tls = true, rest = u.substr(8);
    else return Error{shown + ": give a URL such as http://10.0.0.1:2379 (http or https)"};
    if (rest.find('/') != std::string::npos) return Error{shown + ": no path, only scheme://host:port"};
    std::string port;
    if (!rest.empty() && rest[0] == '[') {
      const size_t close = rest.find(']');
      if (close == std::string::npos) return Error{shown + ": an IPv6 address needs its closing ']'"};
      ep.host = rest.substr(1, close - 1);
      if (close + 1 < rest.size()) {
        if (rest[close + 1] != ':') return Error{shown + ": expected ':port' after ']'"};
        port = rest.substr(close + 2);
      }
      in6_addr a6{};
      if (inet_pton(AF_INET6, ep.host.c_str(), &a6) != 1) return Error{shown + ": '" + ep.host + "' is not an IPv6 address"};
    } else {
      const size_t colon = rest.find(':');
      ep.host = rest.substr(0, colon);
      if (colon != std::string::npos) port = rest.substr(colon + 1);
    }
    if (ep.host.empty()) return Error{shown + ": no host"};
    for (char c : ep.host)
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':' || c == '_'))
        return Error{shown + ": the host has a character that is not allowed"};
    if (!port.empty()) {
      if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos)
        return Error{shown + ": port '" + valid_utf8(port) + "' is not a number"};
      const int p = std::stoi(port);
      if (p < 1 || p > 65535) return Error{shown + ": port " + port + " is out of range 1-65535"};
      ep.port = static_cast<uint16_t>(p);
    }
    const bool v6 = ep.host.find(':') != std::string::npos;
    ep.url = std::string(ep.tls ? "https://" : "http://") + (v6 ? "[" + ep.host + "]" : ep.host) + ":" +
             std::to_string(ep.port);
    out.push_back(ep);
    if (out.size() > 16) return Error{"more than 16 etcd endpoints"};
    if (comma == csv.size()) break;
  }
  return out;
}

Status check_options(const EtcdOptions& o) {
  if (o.endpoints.empty()) return Error{"no etcd endpoint given"};
  bool tls = false;
  for (const auto& e : o.endpoints) tls = tls || e.tls;
  for (const auto& [what, path] : {std::pair{"--cluster-cacert", o.cacert}, {"--cluster-cert", o.cert}, {"--cluster-key", o.key}})
    if (!path.empty() && !readable(path)) return Error{std::string(what) + ": cannot read '" + path + "'"};
  if (o.cert.empty() != o.key.empty()) return Error{"--cluster-cert and --cluster-key go together"};
  if (!tls && (!o.cacert.empty() || !o.cert.empty()))
    return Error{"TLS files given but no https:// etcd endpoint"};
  if (o.user.empty() != o.password.empty()) return Error{"etcd auth needs both a user and a password"};
  return Ok{};
}

std::string prefix_end(const std::string& prefix) {
  std::string end = prefix;
  while (!end.empty()) {
    auto& c = reinterpret_cast<unsigned char&>(end.back());
    if (c < 0xff) {
      ++c;
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // every key (etcd: "\0" means no end)
}

std::string base64_encode(const std::string& s) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((s.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < s.size(); i += 3) {
    const uint32_t v = (uint32_t(uint8_t(s[i])) << 16) | (uint32_t(uint8_t(s[i + 1])) << 8) | uint8_t(s[i + 2]);
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i < s.size()) {
    uint32_t v = uint32_t(uint8_t(s[i])) << 16;
    if (i + 1 < s.size()) v |= uint32_t(uint8_t(s[i + 1])) << 8;
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < s.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::optional<std::string> base64_decode(const std::string& s) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  std::string out;
  out.reserve(s.size() / 4 * 3);
  uint32_t acc = 0;
  int bits = 0;
  size_t pad = 0;
  for (char c : s) {
    if (c == '=') {
      ++pad;
      continue;
    }
    if (pad) return std::nullopt;  // data after padding
    const int v = value(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  if (pad > 2 || bits >= 6) return std::nullopt;
  return out;
}

// ------------------------------------------------------------ HTTP

std::unique_ptr<httplib::ClientImpl> make_http(const Endpoint& ep, const EtcdOptions& o,
                                               std::chrono::milliseconds read_timeout) {
  std::unique_ptr<httplib::ClientImpl> http;
  if (ep.tls) {
    auto ssl = o.cert.empty() ? std::make_unique<httplib::SSLClient>(ep.host, ep.port)
                              : std::make_unique<httplib::SSLClient>(ep.host, ep.port, o.cert, o.key);
    if (!o.cacert.empty()) ssl->set_ca_cert_path(o.cacert.c_str());
    ssl->enable_server_certificate_verification(true);
    http = std::move(ssl);
  } else {
    http = std::make_unique<httplib::ClientImpl>(ep.host, ep.port);
  }
  const auto ct = o.connect_timeout.count(), rt = read_timeout.count(), wt = o.request_timeout.count();
  http->set_connection_timeout(ct / 1000, (ct % 1000) * 1000);
  http->set_read_timeout(rt / 1000, (rt % 1000) * 1000);
  http->set_write_timeout(wt / 1000, (wt % 1000) * 1000);
  http->set_keep_alive(true);
  return http;
}

std::string transport_error(httplib::Error err, const Endpoint& ep, const EtcdOptions& o,
                            std::chrono::milliseconds read_timeout) {
  switch (err) {
    case httplib::Error::Connection: return connect_error(ep, o.connect_timeout);
    case httplib::Error::Read: return "no answer within " + std::to_string(read_timeout.count()) + " ms";
    case httplib::Error::SSLConnection:
      return "TLS handshake failed (check --cluster-cacert, --cluster-cert, --cluster-key)";
    case httplib::Error::SSLServerVerification: return "its certificate is not trusted (--cluster-cacert)";
    case httplib::Error::SSLLoadingCerts: return "cannot load the TLS certificates";
    default: return httplib::to_string(err);
  }
}

// ------------------------------------------------------------ the client

struct EtcdClient::Conn {
  std::unique_ptr<httplib::ClientImpl> http;
};

EtcdClient::EtcdClient(EtcdOptions o) : o_(std::move(o)) { conns_.resize(o_.endpoints.size()); }
EtcdClient::~EtcdClient() = default;

std::string EtcdClient::endpoints_text() const {
  std::string s;
  for (const auto& e : o_.endpoints) s += (s.empty() ? "" : ", ") + e.url;
  return s;
}

Error EtcdClient::fail(bool unreachable, int code, const std::string& msg) {
  failure_ = EtcdFailure{unreachable, code, msg};
  return Error{msg};
}

Result<std::string> EtcdClient::call_once(size_t i, const std::string& path, const std::string& body, int* http_status,
                                          bool* maybe_delivered) {
  if (maybe_delivered) *maybe_delivered = false;
  const Endpoint& ep = o_.endpoints[i];
  auto& c = conns_[i];
  if (!c) c = std::make_unique<Conn>(Conn{make_http(ep, o_, o_.request_timeout)});
  httplib::Request req;
  req.method = "POST";
  req.path = "/v3/" + path;
  req.body = body;
  req.set_header("Content-Type", "application/json");
  if (!token_.empty()) req.set_header("Authorization", token_);
  std::string answer;
  bool too_big = false;
  req.content_receiver = [&](const char* data, size_t len, uint64_t, uint64_t) {
    if (answer.size() + len > kMaxAnswer) return !(too_big = true);
    answer.append(data, len);
    return true;
  };
  httplib::Response res;
  httplib::Error err = httplib::Error::Success;
  const bool sent = c->http->send(req, res, err);
  if (too_big) {
    c.reset();
    *http_status = 0;
    return Error{"an answer larger than " + std::to_string(kMaxAnswer) + " bytes"};
  }
  // etcd's gateway ends an error answer with an HTTP trailer
  // (Grpc-Trailer-Content-Type), which httplib reads as a broken chunk:
  // the answer itself has arrived whole by then.
  const bool whole = err == httplib::Error::Read && res.status > 0 && nlohmann::json::accept(answer);
  if (!sent && !whole) {
    const std::string why = transport_error(err, ep, o_, o_.request_timeout);
    c.reset();  // a fresh connection next time
    *http_status = 0;
    if (maybe_delivered)
      *maybe_delivered = err != httplib::Error::Connection && err != httplib::Error::SSLConnection &&
                         err != httplib::Error::SSLServerVerification && err != httplib::Error::SSLLoadingCerts;
    return Error{why};
  }
  if (!sent) c.reset();  // the connection's state after the trailer is unknown
  *http_status = res.status;
  return answer;
}

Status EtcdClient::authenticate(size_t i) {
  token_.clear();
  const std::string body = json{{"name", o_.user}, {"password", o_.password}}.dump();
  int http = 0;
  auto r = call_once(i, "auth/authenticate", body, &http);
  if (!r) return r.error();
  try {
    const json j = json::parse(*r);
    if (http != 200 || !j.contains("token"))
      return Error{"etcd refused user '" + o_.user + "': " + j.value("message", j.value("error", *r))};
    token_ = j["token"].get<std::string>();
  } catch (const std::exception& e) {
    return Error{"etcd's answer to auth/authenticate is not JSON"};
  }
  return Ok{};
}

Result<std::string> EtcdClient::auth_token() {
  if (o_.user.empty()) return std::string();
  if (token_.empty()) {
    std::string why;
    for (size_t n = 0; n < o_.endpoints.size(); ++n) {
      const size_t i = (current_ + n) % o_.endpoints.size();
      if (auto s = authenticate(i); s) {
        current_ = i;
        return token_;
      } else {
        why = s.error().message;
      }
    }
    return fail(true, 0, "cluster store unreachable at " + endpoints_text() + ": " + why);
  }
  return token_;
}

Result<std::string> EtcdClient::call(const std::string& path, const std::string& body) {
  std::string last;
  resent_ = false;
  bool delivered_before = false;  // an earlier sending may have reached the store
  for (size_t n = 0; n < o_.endpoints.size(); ++n) {
    const size_t i = (current_ + n) % o_.endpoints.size();
    const std::string& url = o_.endpoints[i].url;
    if (!o_.user.empty() && token_.empty())
      if (auto s = authenticate(i); !s) {
        last = url + ": " + s.error().message;
        if (s.error().message.rfind("etcd refused", 0) == 0) return fail(false, kUnauthenticated, s.error().message);
        continue;
      }
    for (int attempt = 0; attempt < 2; ++attempt) {
      int http = 0;
      bool maybe = false;
      auto r = call_once(i, path, body, &http, &maybe);
      if (!r) {
        last = url + ": " + r.error().message;
        delivered_before |= maybe;
        break;
      }
      if (http == 200) {
        current_ = i;
        failure_ = {};
        resent_ = delivered_before;
        return r;
      }
      int code = 0;
      std::string msg = *r;
      try {
        const json j = json::parse(*r);
        code = j.value("code", 0);
        msg = j.value("message", j.value("error", *r));
      } catch (const std::exception&) {
        msg = "HTTP " + std::to_string(http) + ": " + valid_utf8(r->substr(0, 200));
      }
      if (code == kUnauthenticated && !o_.user.empty() && attempt == 0) {
        if (auto s = authenticate(i); s) continue;  // the token expired: once more with a new one
      }
      if (code == kUnavailable || http == 503) {
        last = url + ": " + msg;
        // A proposal that timed out may still commit; "no leader" did not.
        delivered_before |= msg.find("timed out") != std::string::npos;
        break;  // the next member may answer
      }
      current_ = i;
      resent_ = delivered_before;
      return fail(false, code, "cluster store at " + url + " refused " + path + ": " + msg);
    }
  }
  if (o_.endpoints.size() == 1) {
    const std::string why = last.substr(last.find(": ") + 2);
    return fail(true, 0, "cluster store unreachable at " + o_.endpoints[0].url + ": " + why);
  }
  return fail(true, 0, "cluster store unreachable at " + endpoints_text() + " (last: " + last + ")");
}

namespace {
// Parses etcd's answer; a malformed one is an error naming the call.
template <class F>
auto parse_answer(const std::string& what, const std::string& text, F&& f) -> Result<decltype(f(json{}))> {
  try {
    return f(json::parse(text));
  } catch (const std::exception& e) {
    return Error{"etcd's answer to " + what + " is malformed: " + e.what()};
  }
}
}  // namespace

Result<RangeResult> EtcdClient::get(const std::string& key, bool prefix, int64_t revision, int64_t limit) {
  auto r = call("kv/range", range_request(key, prefix, revision, limit).dump());
  if (!r) return r.error();
  return parse_answer("kv/range", *r, [](const json& j) { return read_range(j); });
}

Result<int64_t> EtcdClient::put(const std::string& key, const std::string& value, int64_t lease) {
  json j{{"key", base64_encode(key)}, {"value", base64_encode(value)}};
  if (lease) j["lease"] = std::to_string(lease);
  auto r = call("kv/put", j.dump());
  if (!r) return r.error();
  return parse_answer("kv/put", *r, [](const json& a) { return json_int(a.at("header"), "revision"); });
}

Result<int64_t> EtcdClient::del(const std::string& key, bool prefix) {
  json j{{"key", base64_encode(key)}};
  if (prefix) j["range_end"] = base64_encode(prefix_end(key));
  auto r = call("kv/deleterange", j.dump());
  if (!r) return r.error();
  return parse_answer("kv/deleterange", *r, [](const json& a) { return json_int(a, "deleted"); });
}

Result<TxnResult> EtcdClient::txn(const std::vector<Compare>& when, const std::vector<TxnOp>& then,
                                  const std::vector<TxnOp>& otherwise) {
  json j{{"compare", json::array()}, {"success", json::array()}, {"failure", json::array()}};
  for (const auto& c : when) j["compare"].push_back(compare(c));
  for (const auto& op : then) j["success"].push_back(txn_op(op));
  for (const auto& op : otherwise) j["failure"].push_back(txn_op(op));
  auto r = call("kv/txn", j.dump());
  if (!r) return r.error();
  return parse_answer("kv/txn", *r, [](const json& a) {
    TxnResult t;
    t.succeeded = a.value("succeeded", false);
    t.revision = json_int(a.at("header"), "revision");
    if (auto rs = a.find("responses"); rs != a.end())
      for (const auto& x : *rs)
        if (auto rr = x.find("response_range"); rr != x.end()) t.ranges.push_back(read_range(*rr));
    return t;
  });
}

Status EtcdClient::compact(int64_t revision) {
  auto r = call("kv/compaction", json{{"revision", std::to_string(revision)}, {"physical", true}}.dump());
  if (!r) return r.error();
  return Ok{};
}

Result<LeaseGrant> EtcdClient::grant(int64_t ttl_s) {
  auto r = call("lease/grant", json{{"TTL", std::to_string(ttl_s)}}.dump());
  if (!r) return r.error();
  return parse_answer("lease/grant", *r, [](const json& a) { return LeaseGrant{json_int(a, "ID"), json_int(a, "TTL")}; });
}

Result<int64_t> EtcdClient::keepalive(int64_t lease) {
  auto r = call("lease/keepalive", json{{"ID", std::to_string(lease)}}.dump());
  if (!r) return r.error();
  return parse_answer("lease/keepalive", *r, [](const json& a) {
    const json& res = a.contains("result") ? a.at("result") : a;
    return json_int(res, "TTL");
  });
}

Status EtcdClient::revoke(int64_t lease) {
  auto r = call("lease/revoke", json{{"ID", std::to_string(lease)}}.dump());
  if (!r) return r.error();
  return Ok{};
}

Result<MemberStatus> EtcdClient::status() {
  auto r = call("maintenance/status", "{}");
  if (!r) return r.error();
  const std::string url = current().url;
  return parse_answer("maintenance/status", *r, [&](const json& a) {
    MemberStatus s;
    s.endpoint = url;
    s.version = a.value("version", "");
    const json& h = a.at("header");
    s.member_id = unum(h, "member_id");
    s.revision = json_int(h, "revision");
    s.raft_term = json_int(h, "raft_term");
    s.leader = unum(a, "leader");
    s.db_size = json_int(a, "dbSize");
    return s;
  });
}

}  // namespace kvnet::cluster
