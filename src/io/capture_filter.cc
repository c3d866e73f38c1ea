#include "io/capture_filter.h"

#include <fcntl.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>

#include "base/text.h"

namespace kvnet::io {
namespace {

using Clock = std::chrono::steady_clock;

// How a filter is named in messages: a long one by its start.
std::string shown(std::string_view expr) {
  if (expr.size() <= 80) return "'" + printable(expr) + "'";
  return "'" + printable(utf8_prefix(expr, 60)) + "...' (" + std::to_string(expr.size()) + " bytes)";
}

bool word_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.'; }

// The child's answer on the pipe: 'p' and the instructions, or 'e' and the
// message; then the child exits.
constexpr char kProgram = 'p', kError = 'e';

void write_all(int fd, const void* p, size_t n) {
  const char* c = static_cast<const char*>(p);
  while (n) {
    const ssize_t w = ::write(fd, c, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    c += w;
    n -= static_cast<size_t>(w);
  }
}

[[noreturn]] void child(int fd, const std::string& expr, uint32_t snaplen, std::chrono::milliseconds timeout) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);  // not left compiling when kvnetd dies
  const auto secs = static_cast<rlim_t>(std::chrono::duration_cast<std::chrono::seconds>(timeout).count() + 2);
  const rlimit cpu{secs, secs};
  setrlimit(RLIMIT_CPU, &cpu);
  auto r = compile_filter_here(expr, snaplen);
  if (r) {
    write_all(fd, &kProgram, 1);
    write_all(fd, r->insns.data(), r->insns.size() * sizeof(bpf_insn));
  } else {
    write_all(fd, &kError, 1);
    write_all(fd, r.error().message.data(), r.error().message.size());
  }
  _exit(0);
}

}  // namespace

size_t filter_terms(std::string_view expr) {
  size_t ops = 0;
  bool any = false;
  for (size_t i = 0; i < expr.size();) {
    if (std::isspace(static_cast<unsigned char>(expr[i]))) {
      ++i;
      continue;
    }
    any = true;
    if (expr.compare(i, 2, "&&") == 0 || expr.compare(i, 2, "||") == 0) {
      ++ops;
      i += 2;
      continue;
    }
    if (!word_char(expr[i])) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < expr.size() && word_char(expr[j])) ++j;
    const std::string_view w = expr.substr(i, j - i);
    ops += w == "and" || w == "or";
    i = j;
  }
  return any ? ops + 1 : 0;
}

Status check_filter_size(std::string_view expr) {
  if (expr.size() > kMaxFilterBytes)
    return Error{"filter " + shown(expr) + " is longer than the limit of " + std::to_string(kMaxFilterBytes) +
                 " bytes"};
  if (expr.find('\0') != std::string_view::npos) return Error{"filter " + shown(expr) + " holds a NUL byte"};
  if (const size_t n = filter_terms(expr); n > kMaxFilterTerms)
    return Error{"filter " + shown(expr) + " has " + std::to_string(n) + " terms, more than the limit of " +
                 std::to_string(kMaxFilterTerms) + " (libpcap's optimizer takes minutes for thousands)"};
  return Ok{};
}

Result<FilterProgram> compile_filter_here(const std::string& expr, uint32_t snaplen) {
  if (auto s = check_filter_size(expr); !s) return s.error();
  FilterProgram out;
  if (expr.empty()) return out;
  pcap_t* dead = pcap_open_dead(DLT_EN10MB, static_cast<int>(snaplen));
  if (!dead) return Error{"filter " + shown(expr) + ": libpcap could not be set up"};
  // Compiled for a plain Ethernet link: VLAN tags are matched in the frame's
  // bytes, where the datapath keeps them (no Linux socket extensions).
  bpf_program prog{};
  if (pcap_compile(dead, &prog, expr.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
    const std::string why = pcap_geterr(dead);
    pcap_close(dead);
    return Error{"filter " + shown(expr) + " is not a valid capture filter: " + why};
  }
  out.insns.assign(prog.bf_insns, prog.bf_insns + prog.bf_len);
  pcap_freecode(&prog);
  pcap_close(dead);
  if (out.insns.empty() || out.insns.size() > kMaxFilterInsns ||
      !bpf_validate(out.insns.data(), static_cast<int>(out.insns.size())))
    return Error{"filter " + shown(expr) + " compiles to a program the datapath does not run (" +
                 std::to_string(out.insns.size()) + " instructions)"};
  return out;
}

Result<std::unique_ptr<FilterCompile>> FilterCompile::start(const std::string& expr, uint32_t snaplen,
                                                            std::chrono::milliseconds timeout) {
  if (auto s = check_filter_size(expr); !s) return s.error();
  std::unique_ptr<FilterCompile> c(new FilterCompile());
  c->expr_ = expr;
  c->timeout_ = timeout;
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) return Error{"filter " + shown(expr) + ": cannot compile: " + std::strerror(errno)};
  const pid_t pid = fork();
  if (pid < 0) {
    const int e = errno;
    ::close(p[0]);
    ::close(p[1]);
    return Error{"filter " + shown(expr) + ": cannot compile: " + std::strerror(e)};
  }
  if (pid == 0) {
    ::close(p[0]);
    child(p[1], expr, snaplen, timeout);
  }
  ::close(p[1]);
  fcntl(p[0], F_SETFL, O_NONBLOCK);
  c->pid_ = pid;
  c->fd_ = p[0];
  c->deadline_ = Clock::now() + timeout;
  return c;
}

FilterCompile::~FilterCompile() {
  if (fd_ >= 0) ::close(fd_);
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    while (waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
}

std::optional<Result<FilterProgram>> FilterCompile::poll() {
  if (result_) return result_;
  char buf[16384];
  for (;;) {
    const ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n > 0) {
      if (got_.size() <= (kMaxFilterInsns + 1) * sizeof(bpf_insn)) got_.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      if (Clock::now() < deadline_) return std::nullopt;
      const auto ms = timeout_.count();
      result_ = Error{"filter " + shown(expr_) + " took too long to compile (limit " +
                      (ms % 1000 ? std::to_string(ms) + " ms" : std::to_string(ms / 1000) + " s") +
                      "): make it shorter or simpler"};
      return result_;
    }
    result_ = finish();  // the child is done (EOF) or the pipe failed
    return result_;
  }
}

Result<FilterProgram> FilterCompile::wait() {
  for (;;) {
    if (auto r = poll()) return *r;
    pollfd p{fd_, POLLIN, 0};
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - Clock::now()).count();
    ::poll(&p, 1, static_cast<int>(std::max<long long>(left, 0) + 1));
  }
}

Result<FilterProgram> FilterCompile::finish() {
  ::close(fd_);
  fd_ = -1;
  int st = 0;
  while (waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
  const std::string ctx = "filter " + shown(expr_);
  if (got_.empty()) {
    if (WIFSIGNALED(st) && WTERMSIG(st) == SIGXCPU) return Error{ctx + " took too long to compile: make it shorter"};
    return Error{ctx + ": the compiling process ended without an answer"};
  }
  if (got_[0] == kError) return Error{got_.substr(1)};
  const size_t bytes = got_.size() - 1;
  if (got_[0] != kProgram || bytes == 0 || bytes % sizeof(bpf_insn) || bytes / sizeof(bpf_insn) > kMaxFilterInsns)
    return Error{ctx + ": the compiling process answered garbage"};
  FilterProgram out;
  out.insns.resize(bytes / sizeof(bpf_insn));
  std::memcpy(out.insns.data(), got_.data() + 1, bytes);
  if (!bpf_validate(out.insns.data(), static_cast<int>(out.insns.size())))
    return Error{ctx + ": the compiling process answered an invalid program"};
  return out;
}

}  // namespace kvnet::io
