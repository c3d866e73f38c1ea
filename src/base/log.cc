#include "base/log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "base/text.h"

namespace kvnet {

Result<LogLevel> parse_log_level(std::string_view s) {
  if (s == "debug") return LogLevel::kDebug;
  if (s == "info") return LogLevel::kInfo;
  if (s == "warn" || s == "warning") return LogLevel::kWarn;
  if (s == "error") return LogLevel::kError;
  return Error{"log level '" + valid_utf8(s) + "' is not one of debug, info, warn, error"};
}

std::string_view to_string(LogLevel l) {
  switch (l) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarn: return "warn";
    case LogLevel::kError: return "error";
  }
  return "?";
}

std::string_view to_string(LogTarget t) {
  switch (t) {
    case LogTarget::kStderr: return "stderr";
    case LogTarget::kFile: return "file";
    case LogTarget::kJournal: return "journal";
    case LogTarget::kSyslog: return "syslog";
  }
  return "?";
}

Logger::~Logger() {
  if (fd_ >= 0) close(fd_);
  if (target_ == LogTarget::kSyslog) closelog();
}

namespace {

Result<int> open_log(const std::string& path) {
  const int fd = open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
  if (fd < 0) return Error{"log file '" + path + "': " + std::strerror(errno)};
  return fd;
}

void write_all(int fd, std::string_view s) {
  while (!s.empty()) {
    const ssize_t n = ::write(fd, s.data(), s.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // nowhere left to say it
    s.remove_prefix(static_cast<size_t>(n));
  }
}

}  // namespace

Status Logger::configure(const LogOptions& o) {
  int fd = -1;
  if (!o.file.empty()) {
    auto f = open_log(o.file);
    if (!f) return f.error();
    fd = *f;
  }
  std::lock_guard<std::mutex> g(mu_);
  if (fd_ >= 0) close(fd_);
  if (target_ == LogTarget::kSyslog) closelog();
  opts_ = o;
  fd_ = fd;
  if (fd >= 0) target_ = LogTarget::kFile;
  else if (o.syslog) target_ = LogTarget::kSyslog;
  else if (is_journal_stream(std::getenv("JOURNAL_STREAM"), STDERR_FILENO)) target_ = LogTarget::kJournal;
  else target_ = LogTarget::kStderr;
  // openlog keeps the pointer: opts_.ident lives as long as this logger.
  if (target_ == LogTarget::kSyslog) openlog(opts_.ident.c_str(), LOG_PID | LOG_NDELAY, LOG_DAEMON);
  set_level(o.level);
  return Ok{};
}

Status Logger::reopen() {
  std::lock_guard<std::mutex> g(mu_);
  if (target_ != LogTarget::kFile) return Ok{};
  auto f = open_log(opts_.file);
  if (!f) return f.error();
  close(fd_);
  fd_ = *f;
  return Ok{};
}

LogTarget Logger::target() const {
  std::lock_guard<std::mutex> g(mu_);
  return target_;
}

void Logger::write(LogLevel l, std::string_view msg) {
  const std::string text = escape(msg);
  timespec wall{};
  clock_gettime(CLOCK_REALTIME, &wall);
  std::lock_guard<std::mutex> g(mu_);
  switch (target_) {
    case LogTarget::kSyslog: syslog(syslog_priority(l), "%s", text.c_str()); return;
    case LogTarget::kJournal: write_all(STDERR_FILENO, journal_line(l, text)); return;
    case LogTarget::kFile:
    case LogTarget::kStderr:
      write_all(target_ == LogTarget::kFile ? fd_ : STDERR_FILENO, file_line(l, opts_.ident, getpid(), wall, text));
      return;
  }
}

std::string Logger::escape(std::string_view msg) {
  std::string s = valid_utf8(msg);
  std::string out;
  out.reserve(s.size());
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u != 0x7f) out += c;
    else if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else out += fmt::format("\\x{:02x}", u);
  }
  return out;
}

std::string Logger::file_line(LogLevel l, std::string_view ident, int pid, timespec wall, std::string_view msg) {
  tm local{};
  localtime_r(&wall.tv_sec, &local);
  char stamp[64], zone[8];
  strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &local);
  strftime(zone, sizeof zone, "%z", &local);
  return fmt::format("{}.{:03}{} {}[{}] {}: {}\n", stamp, wall.tv_nsec / 1000000, zone, ident, pid, to_string(l), msg);
}

std::string Logger::journal_line(LogLevel l, std::string_view msg) {
  return fmt::format("<{}>{}\n", syslog_priority(l), msg);
}

int Logger::syslog_priority(LogLevel l) {
  switch (l) {
    case LogLevel::kDebug: return LOG_DEBUG;
    case LogLevel::kInfo: return LOG_INFO;
    case LogLevel::kWarn: return LOG_WARNING;
    case LogLevel::kError: return LOG_ERR;
  }
  return LOG_INFO;
}

bool Logger::is_journal_stream(const char* journal_stream, int fd) {
  if (!journal_stream || !*journal_stream) return false;
  unsigned long long dev = 0, ino = 0;
  char tail = 0;
  // sd_journal_stream_fd's "DEV:INO", both decimal.
  if (std::sscanf(journal_stream, "%llu:%llu%c", &dev, &ino, &tail) != 2) return false;
  struct stat st{};
  if (fstat(fd, &st) < 0) return false;
  return static_cast<unsigned long long>(st.st_dev) == dev && static_cast<unsigned long long>(st.st_ino) == ino;
}

Logger& logger() {
  static Logger l;
  return l;
}

}  // namespace kvnet
