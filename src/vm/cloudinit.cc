#include "vm/cloudinit.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "base/file.h"
#include "base/text.h"
#include "ctl/render.h"
#include "io/process.h"

namespace kvnet::vm {
namespace {

// ---- Rendering ------------------------------------------------------------

// Every string value double-quoted: yaml-cpp escapes quotes, backslashes and
// control characters there, so a value is one scalar whatever it holds.
void quoted(YAML::Emitter& e, const std::string& key, const std::string& value) {
  e << YAML::Key << key << YAML::Value << YAML::DoubleQuoted << value;
}

void quoted_list(YAML::Emitter& e, const std::string& key, const std::vector<std::string>& values) {
  e << YAML::Key << key << YAML::Value << YAML::BeginSeq;
  for (const auto& v : values) e << YAML::DoubleQuoted << v;
  e << YAML::EndSeq;
}

// Non-ASCII is escaped too ("\u00e9"): the files are plain ASCII, and
// characters PyYAML refuses to read raw (DEL, U+FFFE, U+FFFF) or reads as
// line breaks (U+2028) reach cloud-init intact. Bytes that are not UTF-8
// become U+FFFD.
YAML::Emitter& ascii(YAML::Emitter& e) {
  e.SetOutputCharset(YAML::EscapeNonAscii);
  return e;
}

std::string text_of(const YAML::Emitter& e) { return std::string(e.c_str()) + "\n"; }

std::string lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

void emit_nic(YAML::Emitter& e, const SeedNic& n) {
  e << YAML::BeginMap;
  e << YAML::Key << "match" << YAML::Value << YAML::BeginMap;
  quoted(e, "macaddress", lower(n.mac));
  e << YAML::EndMap;
  if (n.ip == "dhcp") {
    e << YAML::Key << "dhcp4" << YAML::Value << true;
  } else {
    quoted_list(e, "addresses", {n.ip});
    if (!n.gw.empty()) quoted(e, n.gw.find(':') != std::string::npos ? "gateway6" : "gateway4", n.gw);
  }
  if (!n.dns.empty()) {
    e << YAML::Key << "nameservers" << YAML::Value << YAML::BeginMap;
    quoted_list(e, "addresses", n.dns);
    e << YAML::EndMap;
  }
  if (n.mtu != 0) e << YAML::Key << "mtu" << YAML::Value << n.mtu;
  e << YAML::EndMap;
}

// ---- Checking -------------------------------------------------------------

// The offset of the first byte that is not part of well-formed UTF-8
// (RFC 3629: no overlongs, surrogates or code points above U+10FFFF), or npos.
size_t invalid_utf8_at(std::string_view s) {
  const auto b = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  for (size_t i = 0; i < s.size();) {
    const uint8_t c = b(i);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t n = 0;
    uint8_t lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf)
      n = 2;
    else if (c == 0xe0)
      n = 3, lo = 0xa0;
    else if ((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef)
      n = 3;
    else if (c == 0xed)
      n = 3, hi = 0x9f;
    else if (c == 0xf0)
      n = 4, lo = 0x90;
    else if (c >= 0xf1 && c <= 0xf3)
      n = 4;
    else if (c == 0xf4)
      n = 4, hi = 0x8f;
    if (n == 0 || i + n > s.size() || b(i + 1) < lo || b(i + 1) > hi) return i;
    for (size_t k = 2; k < n; ++k)
      if (b(i + k) < 0x80 || b(i + k) > 0xbf) return i;
    i += n;
  }
  return std::string_view::npos;
}

bool blank(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && blank(s.back())) s.remove_suffix(1);
  return s;
}

// The next blank-separated word of `s`, removed from it.
std::string_view take_word(std::string_view& s) {
  s = trim(s);
  size_t end = 0;
  while (end < s.size() && !blank(s[end])) ++end;
  const std::string_view w = s.substr(0, end);
  s.remove_prefix(end);
  return w;
}

bool starts_with_nocase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != prefix[i]) return false;
  }
  return true;
}

std::string shown(std::string_view s) { return printable(valid_utf8(utf8_prefix(s, 40))); }

constexpr std::array<std::string_view, 8> kKeyTypes = {"ssh-ed25519",
                                                       "ssh-rsa",
                                                       "ecdsa-sha2-nistp256",
                                                       "ecdsa-sha2-nistp384",
                                                       "ecdsa-sha2-nistp521",
                                                       "sk-ssh-ed25519@openssh.com",
                                                       "sk-ecdsa-sha2-nistp256@openssh.com",
                                                       "ssh-dss"};

bool is_key_type(std::string_view w) { return std::find(kKeyTypes.begin(), kKeyTypes.end(), w) != kKeyTypes.end(); }

// One non-comment line of an authorized_keys-style file, as "TYPE BASE64[ COMMENT]".
Result<std::string> parse_key_line(std::string_view line) {
  if (line.starts_with("-----BEGIN") && line.find("PRIVATE KEY-----") != std::string_view::npos)
    return Error{"this is a private key: give the public one (.pub)"};
  if (line.starts_with("PuTTY-User-Key-File-"))
    return Error{"this is a private key (PuTTY): give the public one (.pub)"};
  if (line.starts_with("---- BEGIN SSH2 PUBLIC KEY ----"))
    return Error{"an RFC 4716 public key: convert it to OpenSSH's format (ssh-keygen -i -f FILE)"};
  std::string_view rest = line;
  const std::string_view type = take_word(rest);
  if (!is_key_type(type)) {
    for (std::string_view r = rest; !r.empty();)
      if (is_key_type(take_word(r)))
        return Error{"options before the key type are not accepted: give the key alone (TYPE BASE64 [COMMENT])"};
    std::string types;
    for (auto t : kKeyTypes) types += (types.empty() ? "" : ", ") + std::string(t);
    return Error{"'" + shown(type) + "' is not an SSH public key type (" + types + ")"};
  }
  const std::string_view b64 = take_word(rest);
  if (b64.empty()) return Error{std::string(type) + " without its key data"};
  auto blob = ctl::base64_decode(b64);
  if (!blob) return Error{"the key data is not valid base64"};
  // The key data begins with its own type, a length-prefixed string (RFC 4253 6.6).
  const std::string& d = *blob;
  const auto u8 = [&](size_t k) { return static_cast<uint32_t>(static_cast<uint8_t>(d[k])); };
  if (d.size() < 4) return Error{"the key data is too short for a " + std::string(type) + " key"};
  const size_t n = u8(0) << 24 | u8(1) << 16 | u8(2) << 8 | u8(3);
  if (n > d.size() - 4) return Error{"the key data is too short for a " + std::string(type) + " key"};
  if (d.compare(4, n, type) != 0)
    return Error{"the key data is not a " + std::string(type) + " key" +
                 (is_key_type(std::string_view(d).substr(4, n)) ? " but " + d.substr(4, n) : "")};
  if (d.size() == 4 + n) return Error{"the key data holds no key"};
  const std::string_view comment = trim(rest);
  if (invalid_utf8_at(comment) != std::string_view::npos) return Error{"the comment is not valid UTF-8"};
  for (char c : comment)
    if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f)
      return Error{"the comment holds a control character"};
  std::string key = std::string(type) + " " + std::string(b64);
  if (!comment.empty()) key += " " + std::string(comment);
  return key;
}

// Whether the first line of `text` is cloud-init's jinja header: "##",
// blanks, "template:" (any case), then "jinja" (any case, blanks around).
bool jinja_header(std::string_view text) {
  std::string_view first = text.substr(0, text.find('\n'));
  if (!first.empty() && first.back() == '\r') first.remove_suffix(1);
  if (!first.starts_with("##")) return false;
  first = trim(first.substr(2));
  if (!starts_with_nocase(first, "template:")) return false;
  first = trim(first.substr(9));
  return first.size() == 5 && starts_with_nocase(first, "jinja");
}

// ---- Writing the volume ---------------------------------------------------

// A private directory, removed with all it holds when this goes.
class TempDir {
 public:
  explicit TempDir(std::string path) : path_(std::move(path)) {}
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

Status write_new_file(const std::string& path, std::string_view content) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Error{"cannot create " + path + ": " + std::strerror(errno)};
  size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int e = errno;
      ::close(fd);
      return Error{"cannot write " + path + ": " + std::strerror(e)};
    }
    done += static_cast<size_t>(n);
  }
  if (::close(fd) < 0) return Error{"cannot write " + path + ": " + std::strerror(errno)};
  return Ok{};
}

// Runs argv to its end (at most `timeout`), its output to `log`; the error
// carries the start of that output.
Status run_to_end(const std::vector<std::string>& argv, const std::string& log, std::chrono::milliseconds timeout) {
  auto pid = io::spawn(argv, io::SpawnOptions{.log = log});
  if (!pid) return pid.error();
  const int fd = io::pidfd_open(*pid);
  const bool ended = fd < 0 || io::wait_exit(fd, timeout);  // no pidfd: waitpid below blocks
  if (fd >= 0) ::close(fd);
  if (!ended) io::terminate(*pid, std::chrono::milliseconds(500));
  int status = 0;
  pid_t r;
  while ((r = ::waitpid(*pid, &status, 0)) < 0 && errno == EINTR) {
  }
  if (!ended) return Error{argv[0] + " did not finish within " + std::to_string(timeout.count() / 1000) + " s"};
  if (r != *pid) return Error{argv[0] + ": its exit status is lost (" + std::strerror(errno) + ")"};
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return Ok{};
  std::string out = utf8_prefix(read_file(log, 4096), 1000);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r' || blank(out.back()))) out.pop_back();
  std::replace(out.begin(), out.end(), '\n', ' ');  // one line: genisoimage's lines end with '.' or ':'
  out = printable(valid_utf8(out));
  return Error{argv[0] + " failed (" + io::wait_status_text(status) + ")" + (out.empty() ? "" : ": " + out)};
}

}  // namespace

std::string meta_data(const SeedInput& in) {
  YAML::Emitter e;
  ascii(e) << YAML::BeginMap;
  quoted(e, "instance-id", in.instance_id);
  quoted(e, "local-hostname", in.hostname);
  if (!in.ssh_keys.empty()) quoted_list(e, "public-keys", in.ssh_keys);
  e << YAML::EndMap;
  return text_of(e);
}

std::string user_data(const SeedInput& in) {
  if (!in.user_data.empty()) return in.user_data;
  return "#cloud-config\nssh_pwauth: false\n";
}

std::string vendor_data(const SeedInput& in) {
  std::string name;
  for (char c : in.hostname)
    name +=
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'
            ? c
            : '_';
  YAML::Emitter e;
  ascii(e) << YAML::BeginMap;
  quoted(e, "final_message", "kvnet-guest: ready" + (name.empty() ? "" : " " + name));
  e << YAML::Key << "updates" << YAML::Value << YAML::BeginMap;
  e << YAML::Key << "network" << YAML::Value << YAML::BeginMap;
  quoted_list(e, "when", {"boot-new-instance", "boot"});
  e << YAML::EndMap << YAML::EndMap << YAML::EndMap;
  return "#cloud-config\n" + text_of(e);
}

std::string network_config(const SeedInput& in) {
  YAML::Emitter e;
  ascii(e) << YAML::BeginMap;
  e << YAML::Key << "version" << YAML::Value << 2;
  const bool none = std::all_of(in.nics.begin(), in.nics.end(), [](const SeedNic& n) { return n.ip.empty(); });
  e << YAML::Key << "ethernets" << YAML::Value << (none ? YAML::Flow : YAML::Block) << YAML::BeginMap;
  for (size_t i = 0; i < in.nics.size(); ++i) {
    if (in.nics[i].ip.empty()) continue;
    e << YAML::Key << "nic" + std::to_string(i) << YAML::Value;
    emit_nic(e, in.nics[i]);
  }
  e << YAML::EndMap << YAML::EndMap;
  return text_of(e);
}

Result<std::vector<std::string>> parse_ssh_public_keys(std::string_view text) {
  if (text.size() > kMaxSshKeyFile) return Error{"longer than " + std::to_string(kMaxSshKeyFile >> 20) + " MiB"};
  std::vector<std::string> keys;
  size_t line_no = 0;
  for (size_t start = 0; start < text.size();) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    ++line_no;
    const std::string at = "line " + std::to_string(line_no) + ": ";
    if (line.size() > kMaxSshKeyLine) return Error{at + "longer than " + std::to_string(kMaxSshKeyLine) + " bytes"};
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    line = trim(line);
    if (line.empty() || line.front() == '#') continue;
    auto key = parse_key_line(line);
    if (!key) return Error{at + key.error().message};
    if (keys.size() == kMaxSshKeys) return Error{at + "more than " + std::to_string(kMaxSshKeys) + " keys"};
    keys.push_back(std::move(*key));
  }
  if (keys.empty()) return Error{"no public key in it (only blank lines and comments)"};
  return keys;
}

Status check_user_data(std::string_view text) {
  if (text.empty()) return Error{"user-data is empty"};
  if (text.size() > kMaxUserData)
    return Error{"user-data is " + std::to_string(text.size()) + " bytes: at most " +
                 std::to_string(kMaxUserData >> 20) + " MiB (" + std::to_string(kMaxUserData) + " bytes)"};
  if (static_cast<uint8_t>(text[0]) == 0x1f && text.size() >= 2 && static_cast<uint8_t>(text[1]) == 0x8b)
    return Ok{};  // gzip: cloud-init decompresses it, then reads what is inside
  if (const size_t bad = invalid_utf8_at(text); bad != std::string_view::npos) {
    const auto line = std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(bad), '\n') + 1;
    return Error{"user-data is not valid UTF-8 (line " + std::to_string(line) + ")"};
  }
  // As cloud-init 22.4 does: leading whitespace skipped, any case.
  std::string_view s = text;
  while (!s.empty() && (blank(s.front()) || s.front() == '\n' || s.front() == '\r')) s.remove_prefix(1);
  for (std::string_view h : {"#cloud-config", "#!", "#include", "#cloud-boothook", "#part-handler"})
    if (starts_with_nocase(s, h)) return Ok{};
  if (jinja_header(s)) return Ok{};
  if (starts_with_nocase(s, "content-type:") || starts_with_nocase(s, "mime-version:")) {
    // cloud-init takes user-data for MIME only if "MIME-Version:" is in its first 4 KiB.
    const std::string head = lower(std::string(text.substr(0, 4096)));
    if (head.find("mime-version:") != std::string::npos) return Ok{};
    return Error{
        "user-data looks like MIME but has no MIME-Version: header in its first 4 KiB "
        "(cloud-init would not read it as MIME)"};
  }
  const std::string first(s.substr(0, s.find('\n')));
  return Error{"user-data starts with '" + shown(first) +
               "': cloud-init recognises #cloud-config, #cloud-config-archive, #!, #include, #cloud-boothook, "
               "#part-handler, '## template: jinja', a MIME multipart (Content-Type:, MIME-Version:) or gzip"};
}

Status write_seed(const std::string& path, const SeedInput& in) {
  namespace fs = std::filesystem;
  const std::string what = "seed " + path + ": ";
  if (io::find_in_path("genisoimage").empty())
    return Error{what + "genisoimage is not installed (apt-get install genisoimage)"};
  const fs::path target(path);
  if (target.filename().empty()) return Error{what + "not a file name"};
  const fs::path dir = target.parent_path().empty() ? fs::path(".") : target.parent_path();
  std::string tmpl = (dir / ("." + target.filename().string() + ".XXXXXX")).string();
  if (::mkdtemp(tmpl.data()) == nullptr)
    return Error{what + "cannot create a temporary directory in " + dir.string() + ": " + std::strerror(errno)};
  const TempDir tmp(tmpl);
  const std::pair<const char*, std::string> files[] = {
      {"meta-data", meta_data(in)},
      {"user-data", user_data(in)},
      {"vendor-data", vendor_data(in)},
      {"network-config", network_config(in)},
  };
  const std::string iso = tmp.path() + "/seed.iso";
  std::vector<std::string> argv = {"genisoimage", "-quiet", "-output", iso, "-volid", "cidata", "-joliet", "-rock"};
  for (const auto& [name, content] : files) {
    const std::string f = tmp.path() + "/" + name;
    if (auto s = write_new_file(f, content); !s) return Error{what + s.error().message};
    argv.push_back(f);  // a file named on the command line lands at the volume's root
  }
  if (auto s = run_to_end(argv, tmp.path() + "/genisoimage.log", std::chrono::milliseconds(kSeedTimeoutMs)); !s)
    return Error{what + s.error().message};
  if (::chmod(iso.c_str(), 0640) < 0) return Error{what + "chmod: " + std::strerror(errno)};
  if (::rename(iso.c_str(), path.c_str()) < 0)
    return Error{what + "cannot move the new seed into place: " + std::strerror(errno)};
  return Ok{};
}

}  // namespace kvnet::vm
