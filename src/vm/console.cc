#include "vm/console.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <random>

namespace kvnet::vm {
namespace {

constexpr char kDetach = 0x1d;  // Ctrl-]

Status write_all(int fd, std::string_view s) {
  while (!s.empty()) {
    const ssize_t n = ::write(fd, s.data(), s.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Error{std::string("console: write failed: ") + std::strerror(errno)};
    s.remove_prefix(static_cast<size_t>(n));
  }
  return Ok{};
}

// The terminal in raw mode for the life of the object (if it is one).
class RawTerminal {
 public:
  RawTerminal() {
    if (!isatty(0) || tcgetattr(0, &saved_) != 0) return;
    termios raw = saved_;
    cfmakeraw(&raw);
    active_ = tcsetattr(0, TCSANOW, &raw) == 0;
  }
  ~RawTerminal() {
    if (active_) tcsetattr(0, TCSANOW, &saved_);
  }
  bool active() const { return active_; }

 private:
  termios saved_{};
  bool active_ = false;
};

}  // namespace

bool MarkerScanner::feed(std::string_view chunk) {
  if (found_) return true;
  tail_.append(chunk);
  if (tail_.find(marker_) != std::string::npos) return found_ = true;
  if (tail_.size() >= marker_.size()) tail_.erase(0, tail_.size() - (marker_.size() - 1));
  return false;
}

ExecScanner::ExecScanner(std::string nonce)
    : begin_("KVNET-BEGIN-" + nonce + "\n"), end_("KVNET-END-" + nonce + ":") {}

std::string ExecScanner::command_line(const std::string& command) const {
  const std::string nonce = begin_.substr(12, begin_.size() - 13);
  return "printf 'KVNET-%s-%s\\n' BEGIN " + nonce + "; " + command + "\nprintf 'KVNET-%s-%s:%d\\n' END " + nonce +
         " $?\n";
}

void ExecScanner::feed(std::string_view chunk) {
  if (done_) return;
  for (char c : chunk)
    if (c != '\r') buf_.push_back(c);
  if (!begun_) {
    const auto b = buf_.find(begin_);
    if (b == std::string::npos) return;
    buf_.erase(0, b + begin_.size());
    begun_ = true;
  }
  const auto e = buf_.find(end_);
  if (e == std::string::npos) return;
  const auto nl = buf_.find('\n', e);
  if (nl == std::string::npos) return;  // the status is not complete yet
  status_ = std::atoi(buf_.substr(e + end_.size(), nl - e - end_.size()).c_str());
  output_ = buf_.substr(0, e);
  // The end marker's own typed line (after the shell's prompt) is echoed
  // before its output: drop that line.
  if (const auto typed = output_.rfind("printf 'KVNET-%s-%s:%d\\n' END"); typed != std::string::npos) {
    const auto line_start = output_.rfind('\n', typed);
    output_.erase(line_start == std::string::npos ? 0 : line_start + 1);
  }
  // A terminal that echoed both typed lines at once (canonical mode) leaves
  // the shell's prompt alone before the end marker: drop the unfinished line.
  const auto last_nl = output_.rfind('\n');
  output_.erase(last_nl == std::string::npos ? 0 : last_nl + 1);
  done_ = true;
}

Result<int> console_connect(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (path.size() >= sizeof(a.sun_path)) return Error{"console socket path '" + path + "' is too long"};
  std::memcpy(a.sun_path, path.c_str(), path.size());
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Error{std::string("console: socket: ") + std::strerror(errno)};
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    const int e = errno;
    ::close(fd);
    return Error{"cannot connect to the console '" + path + "': " + std::strerror(e) + " (is the VM running?)"};
  }
  return fd;
}

Status console_attach(int fd) {
  RawTerminal term;
  bool stdin_open = true;
  char buf[4096];
  for (;;) {
    pollfd p[2] = {{fd, POLLIN, 0}, {0, POLLIN, 0}};
    const int n = ::poll(p, stdin_open ? 2 : 1, stdin_open ? -1 : 500);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error{std::string("console: poll: ") + std::strerror(errno)};
    if (n == 0) return Ok{};  // stdin ended and the console went quiet
    if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      const ssize_t r = ::read(fd, buf, sizeof buf);
      if (r <= 0) return Ok{};  // the VM went away
      if (auto s = write_all(1, std::string_view(buf, static_cast<size_t>(r))); !s) return s;
    }
    if (stdin_open && (p[1].revents & (POLLIN | POLLHUP))) {
      const ssize_t r = ::read(0, buf, sizeof buf);
      if (r <= 0) {
        stdin_open = false;
        continue;
      }
      std::string_view in(buf, static_cast<size_t>(r));
      const auto d = term.active() ? in.find(kDetach) : std::string_view::npos;
      if (auto s = write_all(fd, in.substr(0, d)); !s) return s;
      if (d != std::string_view::npos) return Ok{};
    }
  }
}

Result<ExecResult> console_exec(int fd, const std::string& command, int timeout_ms) {
  std::random_device rd;
  const std::string nonce = std::to_string(rd()) + std::to_string(rd() % 100000);
  ExecScanner scan(nonce);
  // Ctrl-U clears whatever was typed on the line before.
  if (auto s = write_all(fd, "\x15" + scan.command_line(command)); !s) return s.error();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  char buf[4096];
  while (!scan.done()) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      return Error{"no answer on the console within " + std::to_string(timeout_ms / 1000) +
                   " s (is the guest's shell there? is another client attached?)"};
    pollfd p{fd, POLLIN, 0};
    const int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error{std::string("console: poll: ") + std::strerror(errno)};
    if (n == 0) continue;
    const ssize_t r = ::read(fd, buf, sizeof buf);
    if (r <= 0) return Error{"the console closed before the command finished (did the VM stop?)"};
    scan.feed(std::string_view(buf, static_cast<size_t>(r)));
  }
  return ExecResult{scan.output(), scan.status()};
}

}  // namespace kvnet::vm
