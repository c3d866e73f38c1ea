#include "vm/qga.h"

#include <arpa/inet.h>

#include <array>
#include <cctype>
#include <limits>

#include "base/text.h"
#include "ctl/render.h"

namespace kvnet::vm {

using json = nlohmann::json;

// ---- The stream -----------------------------------------------------------

std::string QgaStream::sync_request(uint64_t id) {
  return "\xff" + json{{"execute", "guest-sync-delimited"}, {"arguments", {{"id", id}}}}.dump() + "\n";
}

void QgaStream::begin_sync(uint64_t id) {
  state_ = State::kSyncing;
  seen_ff_ = false;
  sync_id_ = id;
  partial_.clear();
  replies_.clear();
}

Status QgaStream::lose_sync() {
  state_ = State::kUnsynced;
  partial_.clear();
  ++counters_.oversize;
  return Error{"guest agent: a reply longer than " + std::to_string(max_line_) + " bytes: the channel needs a resync"};
}

Status QgaStream::feed(std::string_view bytes) {
  while (!bytes.empty()) {
    if (state_ == State::kUnsynced) {
      counters_.discarded_bytes += bytes.size();
      return Ok{};
    }
    if (state_ == State::kSyncing && !seen_ff_) {
      const size_t ff = bytes.find('\xff');
      if (ff == std::string_view::npos) {
        counters_.discarded_bytes += bytes.size();
        return Ok{};
      }
      counters_.discarded_bytes += ff;
      bytes.remove_prefix(ff + 1);
      seen_ff_ = true;
      continue;
    }
    // In a line: up to its end, or to a 0xFF that cuts it (an agent's
    // delimiter starts afresh; what came before it is no reply).
    const size_t stop = bytes.find_first_of(std::string_view("\n\xff", 2));
    const size_t take = stop == std::string_view::npos ? bytes.size() : stop;
    if (partial_.size() + take > max_line_) {
      auto s = lose_sync();
      counters_.discarded_bytes += bytes.size();
      return s;
    }
    partial_.append(bytes.substr(0, take));
    if (stop == std::string_view::npos) return Ok{};
    const bool cut = bytes[stop] == '\xff';
    bytes.remove_prefix(stop + 1);
    if (cut) {
      if (partial_.find_first_not_of(" \t\r") != std::string::npos)
        ++(state_ == State::kSynced ? counters_.junk_lines : counters_.stale_lines);
    } else {
      line(partial_);
    }
    partial_.clear();
  }
  return Ok{};
}

void QgaStream::line(std::string_view text) {
  if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
  if (text.find_first_not_of(" \t") == std::string_view::npos) return;
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  const bool object = !j.is_discarded() && j.is_object();
  if (state_ == State::kSyncing) {
    if (object && j.contains("return") && j["return"].is_number_unsigned() && j["return"].get<uint64_t>() == sync_id_)
      state_ = State::kSynced;
    else
      ++counters_.stale_lines;
    return;
  }
  if (object && j.contains("return")) {
    replies_.push_back(QgaReply{true, j["return"], ""});
  } else if (object && j.contains("error")) {
    const json& e = j["error"];
    const auto text_of = [&](const char* k) {
      return e.is_object() && e.contains(k) && e[k].is_string() ? e[k].get<std::string>() : std::string("?");
    };
    replies_.push_back(QgaReply{false, nullptr, text_of("class") + ": " + text_of("desc")});
  } else {
    ++counters_.junk_lines;
  }
}

std::optional<QgaReply> QgaStream::next() {
  if (replies_.empty()) return std::nullopt;
  QgaReply r = std::move(replies_.front());
  replies_.pop_front();
  return r;
}

// ---- Requests and replies ---------------------------------------------------

namespace {

constexpr size_t kMaxInterfaces = 1024;
constexpr size_t kMaxAddresses = 1024;

std::string line_of(const json& request) { return request.dump() + "\n"; }

// The member `key` of `o` if present (nullptr if not).
const json* member(const json& o, const char* key) {
  auto it = o.find(key);
  return it == o.end() ? nullptr : &*it;
}

bool is_mac(std::string_view s) {
  if (s.size() != 17) return false;
  for (size_t i = 0; i < s.size(); ++i)
    if (i % 3 == 2 ? s[i] != ':' : !std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
  return true;
}

// One entry of "ip-addresses" as "ADDR/PREFIX", and whether it is link-local.
Result<std::pair<std::string, bool>> parse_address(const json& a) {
  if (!a.is_object()) return Error{"an address is not an object"};
  const json* type = member(a, "ip-address-type");
  const json* addr = member(a, "ip-address");
  const json* prefix = member(a, "prefix");
  if (!type || !type->is_string() || !addr || !addr->is_string() || !prefix || !prefix->is_number_unsigned())
    return Error{"an address lacks ip-address-type, ip-address or prefix"};
  const std::string t = type->get<std::string>();
  const std::string s = addr->get<std::string>();
  const uint64_t p = prefix->get<uint64_t>();
  std::array<uint8_t, 16> bin{};
  if (t == "ipv4") {
    if (s.size() > 15 || inet_pton(AF_INET, s.c_str(), bin.data()) != 1 || p > 32)
      return Error{"'" + printable(valid_utf8(utf8_prefix(s, 64))) + "/" + std::to_string(p) +
                   "' is not an IPv4 address"};
    return std::pair{s + "/" + std::to_string(p), bin[0] == 169 && bin[1] == 254};
  }
  if (t == "ipv6") {
    // The agent may write a scope ("fe80::1%eth0"): not part of the address.
    const std::string bare = s.substr(0, s.find('%'));
    if (bare.size() > 45 || inet_pton(AF_INET6, bare.c_str(), bin.data()) != 1 || p > 128)
      return Error{"'" + printable(valid_utf8(utf8_prefix(s, 64))) + "/" + std::to_string(p) +
                   "' is not an IPv6 address"};
    return std::pair{bare + "/" + std::to_string(p), bin[0] == 0xfe && (bin[1] & 0xc0) == 0x80};
  }
  return Error{"unknown ip-address-type '" + printable(valid_utf8(utf8_prefix(t, 16))) + "'"};
}

Result<GuestInterface> parse_interface(const json& i) {
  if (!i.is_object()) return Error{"an interface is not an object"};
  const json* name = member(i, "name");
  if (!name || !name->is_string()) return Error{"an interface without a name"};
  GuestInterface g;
  g.name = printable(valid_utf8(utf8_prefix(name->get<std::string>(), 256)));
  const std::string at = "interface '" + g.name + "': ";
  if (const json* mac = member(i, "hardware-address")) {
    if (!mac->is_string() || !is_mac(mac->get<std::string>())) return Error{at + "a hardware-address that is no MAC"};
    g.mac = mac->get<std::string>();
    for (char& c : g.mac) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  if (const json* addrs = member(i, "ip-addresses")) {
    if (!addrs->is_array()) return Error{at + "ip-addresses is not a list"};
    if (addrs->size() > kMaxAddresses) return Error{at + "more than " + std::to_string(kMaxAddresses) + " addresses"};
    for (const json& a : *addrs) {
      auto r = parse_address(a);
      if (!r) return Error{at + r.error().message};
      (r->second ? g.link_local : g.addresses).push_back(std::move(r->first));
    }
  }
  return g;
}

// A base64 output field of guest-exec-status, decoded ("" if absent).
Result<std::string> decoded(const json& v, const char* key) {
  const json* d = member(v, key);
  if (!d) return std::string();
  if (!d->is_string()) return Error{std::string("guest-exec-status: ") + key + " is not a string"};
  const std::string& text = d->get_ref<const std::string&>();
  if (text.size() / 4 * 3 > kMaxExecOutput + 2)
    return Error{std::string("guest-exec-status: ") + key + " holds more than " + std::to_string(kMaxExecOutput >> 20) +
                 " MiB"};
  auto out = ctl::base64_decode(text);
  if (!out) return Error{std::string("guest-exec-status: ") + key + " is not base64 (" + out.error().message + ")"};
  if (out->size() > kMaxExecOutput)
    return Error{std::string("guest-exec-status: ") + key + " holds more than " + std::to_string(kMaxExecOutput >> 20) +
                 " MiB"};
  return std::move(*out);
}

Result<std::optional<int>> small_int(const json& v, const char* key) {
  const json* d = member(v, key);
  if (!d) return std::optional<int>();
  const bool fits = d->is_number_unsigned()
                        ? d->get<uint64_t>() <= uint64_t{std::numeric_limits<int>::max()}
                        : d->is_number_integer() && d->get<int64_t>() >= std::numeric_limits<int>::min() &&
                              d->get<int64_t>() <= std::numeric_limits<int>::max();
  if (!fits) return Error{std::string("guest-exec-status: ") + key + " is not an integer"};
  return std::optional<int>(static_cast<int>(d->get<int64_t>()));
}

Result<bool> flag(const json& v, const char* key) {
  const json* d = member(v, key);
  if (!d) return false;
  if (!d->is_boolean()) return Error{std::string("guest-exec-status: ") + key + " is not a boolean"};
  return d->get<bool>();
}

}  // namespace

std::string guest_network_get_interfaces_request() { return line_of({{"execute", "guest-network-get-interfaces"}}); }

Result<std::vector<GuestInterface>> parse_guest_interfaces(const json& value) {
  if (!value.is_array()) return Error{"guest-network-get-interfaces: the answer is not a list"};
  if (value.size() > kMaxInterfaces)
    return Error{"guest-network-get-interfaces: more than " + std::to_string(kMaxInterfaces) + " interfaces"};
  std::vector<GuestInterface> out;
  for (const json& i : value) {
    auto g = parse_interface(i);
    if (!g) return Error{"guest-network-get-interfaces: " + g.error().message};
    out.push_back(std::move(*g));
  }
  return out;
}

Result<std::string> guest_exec_request(const std::string& path, const std::vector<std::string>& args,
                                       std::string_view input) {
  if (path.empty()) return Error{"guest-exec: no program to run"};
  if (valid_utf8(path) != path) return Error{"guest-exec: the program's path is not valid UTF-8"};
  for (size_t i = 0; i < args.size(); ++i)
    if (valid_utf8(args[i]) != args[i])
      return Error{"guest-exec: argument " + std::to_string(i + 1) + " is not valid UTF-8"};
  if (input.size() > kMaxExecOutput)
    return Error{"guest-exec: more than " + std::to_string(kMaxExecOutput >> 20) + " MiB of input"};
  json a = {{"path", path}, {"arg", args}, {"capture-output", true}};
  if (!input.empty()) a["input-data"] = ctl::base64_encode(input);
  return line_of({{"execute", "guest-exec"}, {"arguments", a}});
}

Result<int64_t> parse_guest_exec(const json& value) {
  const json* pid = value.is_object() ? member(value, "pid") : nullptr;
  if (!pid || !pid->is_number_integer() || pid->get<int64_t>() <= 0 ||
      (pid->is_number_unsigned() && pid->get<uint64_t>() > uint64_t{INT64_MAX}))
    return Error{"guest-exec: the answer has no pid"};
  return pid->get<int64_t>();
}

std::string guest_exec_status_request(int64_t pid) {
  return line_of({{"execute", "guest-exec-status"}, {"arguments", {{"pid", pid}}}});
}

Result<GuestExecStatus> parse_guest_exec_status(const json& value) {
  if (!value.is_object()) return Error{"guest-exec-status: the answer is not an object"};
  const json* exited = member(value, "exited");
  if (!exited || !exited->is_boolean()) return Error{"guest-exec-status: the answer does not say whether it exited"};
  GuestExecStatus s;
  s.exited = exited->get<bool>();
  if (!s.exited) return s;
  auto code = small_int(value, "exitcode");
  if (!code) return code.error();
  auto sig = small_int(value, "signal");
  if (!sig) return sig.error();
  auto out = decoded(value, "out-data");
  if (!out) return out.error();
  auto err = decoded(value, "err-data");
  if (!err) return err.error();
  auto out_trunc = flag(value, "out-truncated");
  if (!out_trunc) return out_trunc.error();
  auto err_trunc = flag(value, "err-truncated");
  if (!err_trunc) return err_trunc.error();
  s.exitcode = *code;
  s.signal = *sig;
  s.out = std::move(*out);
  s.err = std::move(*err);
  s.out_truncated = *out_trunc;
  s.err_truncated = *err_trunc;
  return s;
}

}  // namespace kvnet::vm
