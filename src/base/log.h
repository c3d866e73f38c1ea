// kvnet's log: one line per event, with a level, to one destination.
//
// The control path logs (kvnetd's start and stop, every configuration change
// with who asked for it, ports that vanish and come back); the data path
// never does: it counts (dp/counters.h).
//
// Destinations (Logger::configure), the first that applies:
//   - a file (--log-file): lines appended, "TIME kvnetd[PID] LEVEL: message";
//     reopen() after logrotate moved it (kvnetd does it on SIGHUP);
//   - syslog(3) (--syslog): facility daemon, ident and pid;
//   - the systemd journal, when stderr is journald's stream (systemd sets
//     JOURNAL_STREAM to its device:inode; a stderr redirected elsewhere does
//     not match): "<N>message" lines, N the syslog priority, which journald
//     takes as the entry's priority and stamps itself;
//   - stderr: as for a file.
// A message is one line: line breaks and other control characters become
// "\n"-style escapes and bytes that are not UTF-8 become U+FFFD, so what a
// client sent can neither forge a second entry nor break a reader.
//
// Thread-safety: every method from any thread; a line is written with one
// write(2) (or syslog(3) call) under a mutex, so lines never interleave.
#pragma once

#include <fmt/format.h>

#include <atomic>
#include <cstdint>
#include <ctime>
#include <mutex>
#include <string>
#include <string_view>

#include "base/result.h"

namespace kvnet {

enum class LogLevel : uint8_t { kDebug, kInfo, kWarn, kError };

// "debug", "info", "warn" (or "warning"), "error".
Result<LogLevel> parse_log_level(std::string_view s);
std::string_view to_string(LogLevel l);

enum class LogTarget : uint8_t { kStderr, kFile, kJournal, kSyslog };
std::string_view to_string(LogTarget t);

struct LogOptions {
  LogLevel level = LogLevel::kInfo;
  std::string file;     // append to this file
  bool syslog = false;  // syslog(3)
  std::string ident = "kvnetd";
};

class Logger {
 public:
  Logger() = default;
  ~Logger();
  Logger(const Logger&) = delete;
  Logger& operator=(const Logger&) = delete;

  // Picks the destination (see above); a file that cannot be opened is an
  // error naming it, and changes nothing.
  Status configure(const LogOptions& o);
  // Opens the log file again (same path); the old one stays in use if the
  // new one cannot be opened. A no-op for other destinations.
  Status reopen();
  void set_level(LogLevel l) { level_.store(l, std::memory_order_relaxed); }
  LogLevel level() const { return level_.load(std::memory_order_relaxed); }
  bool enabled(LogLevel l) const { return l >= level(); }
  LogTarget target() const;
  const std::string& file() const { return opts_.file; }

  void write(LogLevel l, std::string_view msg);

  // The pieces, for tests.
  static std::string escape(std::string_view msg);
  // "2024-05-01T12:00:00.123+0200 kvnetd[42] info: msg\n"
  static std::string file_line(LogLevel l, std::string_view ident, int pid, timespec wall, std::string_view msg);
  // "<6>msg\n"
  static std::string journal_line(LogLevel l, std::string_view msg);
  static int syslog_priority(LogLevel l);
  // Whether `journal_stream` (JOURNAL_STREAM's "DEV:INO") names fd's file.
  static bool is_journal_stream(const char* journal_stream, int fd);

 private:
  mutable std::mutex mu_;
  std::atomic<LogLevel> level_{LogLevel::kInfo};
  LogOptions opts_;
  LogTarget target_ = LogTarget::kStderr;
  int fd_ = -1;  // the file's
};

// The process's logger (kvnetd configures it from its command line).
Logger& logger();

inline void log_at(LogLevel l, std::string_view msg) {
  if (logger().enabled(l)) logger().write(l, msg);
}
inline void log_debug(std::string_view msg) { log_at(LogLevel::kDebug, msg); }
inline void log_info(std::string_view msg) { log_at(LogLevel::kInfo, msg); }
inline void log_warn(std::string_view msg) { log_at(LogLevel::kWarn, msg); }
inline void log_error(std::string_view msg) { log_at(LogLevel::kError, msg); }

// Formats only when the level is enabled.
template <typename... A>
void logf(LogLevel l, fmt::format_string<A...> f, A&&... args) {
  if (logger().enabled(l)) logger().write(l, fmt::format(f, std::forward<A>(args)...));
}

}  // namespace kvnet
