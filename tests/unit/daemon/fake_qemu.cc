// A stand-in for qemu-system-x86_64 in VmHost's unit tests: takes QEMU's
// command line, writes its pid to -pidfile and a line to the serial
// console's log (the -chardev ...,logfile=PATH, commas doubled), then runs
// until it is killed (it keeps the TAP fds it inherited, as QEMU does).
//   KVNET_FAKE_QEMU_FAIL=TEXT   print "NAME: TEXT" and a hint line to stderr
//                               and exit 1, as QEMU does when it cannot start
//   KVNET_FAKE_QEMU_FLOOD=1     append 64 KiB to the console log every 20 ms
//   KVNET_FAKE_QEMU_IGNORE_TERM=1  survive SIGTERM (SIGKILL still ends it)
#include <fcntl.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

namespace {

// The value of KEY= in a QEMU option string, with ",," read as ','.
std::string opt(const std::string& s, const std::string& key) {
  std::vector<std::string> parts(1);
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == ',' && i + 1 < s.size() && s[i + 1] == ',') {
      parts.back() += ',';
      ++i;
    } else if (s[i] == ',') {
      parts.emplace_back();
    } else {
      parts.back() += s[i];
    }
  }
  for (const auto& p : parts)
    if (p.rfind(key + "=", 0) == 0) return p.substr(key.size() + 1);
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  std::string pidfile, log;
  for (int i = 1; i + 1 < argc; ++i) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "-pidfile") pidfile = v;
    if (a == "-chardev" && opt(v, "id") == "console") log = opt(v, "logfile");
  }
  if (const char* f = std::getenv("KVNET_FAKE_QEMU_FAIL")) {
    const char* base = std::strrchr(argv[0], '/');
    std::cerr << (base ? base + 1 : argv[0]) << ": " << f << "\nIs another process using the image?\n";
    return 1;
  }
  if (std::getenv("KVNET_FAKE_QEMU_IGNORE_TERM")) std::signal(SIGTERM, SIG_IGN);
  if (!pidfile.empty()) std::ofstream(pidfile) << getpid() << "\n";
  const int fd = log.empty() ? -1 : ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  const std::string hello = "fake QEMU up\n";
  if (fd >= 0 && ::write(fd, hello.data(), hello.size()) < 0) return 2;
  const bool flood = std::getenv("KVNET_FAKE_QEMU_FLOOD") != nullptr;
  const std::string chunk(64 << 10, 'x');
  for (;;) {
    if (flood && fd >= 0 && ::write(fd, chunk.data(), chunk.size()) < 0) return 2;
    ::usleep(flood ? 20000 : 1000000);
  }
}
