// The logger: levels, the line formats, escaping, the journal check, a log
// file that honours its level and is reopened after logrotate moved it.
#include "base/log.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace kvnet {
namespace {

std::string slurp(const std::filesystem::path& p) {
  std::ifstream f(p);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

TEST(LogLevel, ParsesTheFourLevelsAndRefusesOthersNamingThem) {
  EXPECT_EQ(*parse_log_level("debug"), LogLevel::kDebug);
  EXPECT_EQ(*parse_log_level("info"), LogLevel::kInfo);
  EXPECT_EQ(*parse_log_level("warn"), LogLevel::kWarn);
  EXPECT_EQ(*parse_log_level("warning"), LogLevel::kWarn);
  EXPECT_EQ(*parse_log_level("error"), LogLevel::kError);
  auto bad = parse_log_level("loud");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message, "log level 'loud' is not one of debug, info, warn, error");
  EXPECT_FALSE(parse_log_level("INFO").ok());
  for (auto l : {LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarn, LogLevel::kError})
    EXPECT_EQ(*parse_log_level(to_string(l)), l);
}

TEST(LogFormat, AFileLineHasTimeIdentPidLevelAndMessage) {
  timespec t{};
  t.tv_sec = 1700000000;
  t.tv_nsec = 123456789;
  const std::string line = Logger::file_line(LogLevel::kWarn, "kvnetd", 42, t, "port 'a' lost its interface");
  // 2023-11-14T..:..:20.123+HHMM kvnetd[42] warn: ...
  EXPECT_TRUE(line.starts_with("2023-11-1")) << line;
  EXPECT_NE(line.find(":20.123"), std::string::npos) << line;
  EXPECT_TRUE(line.ends_with(" kvnetd[42] warn: port 'a' lost its interface\n")) << line;
}

TEST(LogFormat, JournalLinesCarryTheSyslogPriority) {
  EXPECT_EQ(Logger::journal_line(LogLevel::kDebug, "d"), "<7>d\n");
  EXPECT_EQ(Logger::journal_line(LogLevel::kInfo, "i"), "<6>i\n");
  EXPECT_EQ(Logger::journal_line(LogLevel::kWarn, "w"), "<4>w\n");
  EXPECT_EQ(Logger::journal_line(LogLevel::kError, "e"), "<3>e\n");
  EXPECT_EQ(Logger::syslog_priority(LogLevel::kWarn), LOG_WARNING);
}

TEST(LogFormat, AMessageIsOneLineOfValidUtf8) {
  EXPECT_EQ(Logger::escape("a\nb\r\tc\x01"), "a\\nb\\r\\tc\\x01");
  EXPECT_EQ(Logger::escape("bad \xff byte"), "bad \xEF\xBF\xBD byte");
  EXPECT_EQ(Logger::escape("caf\xC3\xA9"), "caf\xC3\xA9");
}

TEST(LogJournal, JournalStreamMustNameTheFdsDeviceAndInode) {
  const auto path = std::filesystem::path(::testing::TempDir()) / ("kvnet-journal-" + std::to_string(getpid()));
  std::ofstream(path) << "x";
  FILE* f = fopen(path.c_str(), "r");
  ASSERT_NE(f, nullptr);
  struct stat st{};
  ASSERT_EQ(fstat(fileno(f), &st), 0);
  const std::string mine = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
  EXPECT_TRUE(Logger::is_journal_stream(mine.c_str(), fileno(f)));
  const std::string other = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino + 1);
  EXPECT_FALSE(Logger::is_journal_stream(other.c_str(), fileno(f)));
  EXPECT_FALSE(Logger::is_journal_stream("", fileno(f)));
  EXPECT_FALSE(Logger::is_journal_stream(nullptr, fileno(f)));
  EXPECT_FALSE(Logger::is_journal_stream((mine + "x").c_str(), fileno(f)));
  fclose(f);
  std::filesystem::remove(path);
}

TEST(Logger, AFileGetsTheLinesOfItsLevelAndUpAndIsReopenedAfterARename) {
  const auto dir = std::filesystem::path(::testing::TempDir()) / ("kvnet-log-" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const auto file = dir / "kvnetd.log";
  Logger l;
  ASSERT_TRUE(l.configure({.level = LogLevel::kWarn, .file = file.string()}).ok());
  EXPECT_EQ(l.target(), LogTarget::kFile);
  EXPECT_FALSE(l.enabled(LogLevel::kInfo));
  EXPECT_TRUE(l.enabled(LogLevel::kError));
  if (l.enabled(LogLevel::kInfo)) l.write(LogLevel::kInfo, "not this");
  l.write(LogLevel::kWarn, "first\nline");
  std::filesystem::rename(file, dir / "kvnetd.log.1");  // logrotate
  l.write(LogLevel::kError, "still to the old file");
  ASSERT_TRUE(l.reopen().ok());
  l.write(LogLevel::kError, "to the new file");
  const std::string old = slurp(dir / "kvnetd.log.1");
  EXPECT_EQ(old.find("not this"), std::string::npos) << old;
  EXPECT_NE(old.find("] warn: first\\nline\n"), std::string::npos) << old;
  EXPECT_NE(old.find("] error: still to the old file\n"), std::string::npos) << old;
  const std::string now = slurp(file);
  EXPECT_NE(now.find("] error: to the new file\n"), std::string::npos) << now;
  EXPECT_EQ(now.find("old file"), std::string::npos) << now;
  std::filesystem::remove_all(dir);
}

TEST(Logger, AFileThatCannotBeOpenedIsAnErrorNamingItAndChangesNothing) {
  Logger l;
  ASSERT_TRUE(l.configure({.level = LogLevel::kDebug}).ok());
  auto s = l.configure({.level = LogLevel::kError, .file = "/nonexistent-dir/kvnetd.log"});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message, "log file '/nonexistent-dir/kvnetd.log': No such file or directory");
  EXPECT_EQ(l.level(), LogLevel::kDebug);
  EXPECT_NE(l.target(), LogTarget::kFile);
}

}  // namespace
}  // namespace kvnet
