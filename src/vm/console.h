// A VM's serial console: QEMU serves it on DIR/console.sock (one client at a
// time) and logs it to DIR/console.log from power-on (vm/qemu.h).
//
// kvnetd scans the log for kvnet's guest image's ready marker (MarkerScanner).
// kvnetctl attaches to the socket: interactively (`vm console NAME`, raw
// terminal, Ctrl-] detaches), or to run one command on the guest's shell
// (`vm console NAME --exec CMD`): the command is typed between two marker
// lines that the shell prints, so its output and exit status are read back
// exactly; the markers are printed by printf from pieces, so the echo of the
// typed line never matches them.
//
// Thread-safety: plain objects and blocking functions of one thread.
#pragma once

#include <string>
#include <string_view>

#include "base/result.h"

namespace kvnet::vm {

inline constexpr std::string_view kReadyMarker = "kvnet-guest: ready";

// Finds `marker` in a stream of chunks; it may straddle two chunks.
class MarkerScanner {
 public:
  explicit MarkerScanner(std::string marker) : marker_(std::move(marker)) {}
  bool feed(std::string_view chunk);  // true once the marker has been seen
  bool found() const { return found_; }

 private:
  std::string marker_;
  std::string tail_;
  bool found_ = false;
};

// The output of one command typed on the console, between its markers.
class ExecScanner {
 public:
  explicit ExecScanner(std::string nonce);
  // The line to type: begin marker; the command; end marker with $?.
  std::string command_line(const std::string& command) const;
  void feed(std::string_view chunk);
  bool done() const { return done_; }
  int status() const { return status_; }
  const std::string& output() const { return output_; }  // "\r\n" turned into "\n"

 private:
  std::string begin_, end_;
  std::string buf_;
  std::string output_;
  bool begun_ = false, done_ = false;
  int status_ = -1;
};

// Connects to a console socket (a clear error when the VM is not running).
Result<int> console_connect(const std::string& socket_path);
// Relays between the terminal and the console until Ctrl-] (or, when stdin
// is not a terminal, until stdin ends and the console has been quiet for
// half a second).
Status console_attach(int fd);
struct ExecResult {
  std::string output;
  int status = -1;
};
Result<ExecResult> console_exec(int fd, const std::string& command, int timeout_ms);

}  // namespace kvnet::vm
