// kvnetd's side of a VM's guest-agent channel: the Unix socket QEMU serves
// for the guest's virtio-serial port org.qemu.guest_agent.0 (vm/qemu.h puts
// both on every VM's command line), on the control loop.
//
// The protocol (vm/qga.h) has no request ids, so requests go one at a time,
// in the order asked: a connect (or reconnect) first resyncs the channel
// (guest-sync-delimited), then the head request is sent and its reply is the
// next one the stream hands out. A request that gets no reply within its
// timeout fails, and the connection is dropped: the next request connects
// again, and with the old socket go its unread bytes (QEMU serves one client
// at a time and keeps nothing of the last one's). A guest without an agent
// (kvnet's busybox guest) accepts the connection and never answers; so does
// a guest that has not started its agent yet.
//
// On top of the requests, two things kvnetd keeps per VM:
//   - the guest's own view of its NICs (guest-network-get-interfaces), asked
//     every few seconds while the agent answers, less often while it does
//     not; `vm show` prints what came last and when;
//   - commands run with guest-exec, tracked by a kvnetd id: their status is
//     asked (guest-exec-status) until they have exited, and the result is
//     kept until a client takes it (`vm exec` polls), at most a few minutes.
//
// The guest is not trusted: a reply is parsed by vm/qga.h's checks; a reply
// line is capped (1 MiB, or the most a guest-exec-status can carry); the
// number of commands tracked per VM is capped.
//
// Thread-safety: the loop thread only.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "daemon/event_loop.h"
#include "vm/qga.h"

namespace kvnet::daemon {

// The guest's NICs as its agent last told them.
struct GuestView {
  bool answered = false;  // the last ask was answered (else: `error` says why not)
  std::string error;
  std::chrono::system_clock::time_point when{};  // of the last answer (epoch: never)
  std::vector<vm::GuestInterface> interfaces;    // of the last answer
};

// A command run through the agent.
struct GuestExec {
  enum class State : uint8_t { kStarting, kRunning, kExited, kFailed };
  State state = State::kStarting;
  int64_t pid = 0;              // in the guest, once started
  std::string error;            // kFailed: why
  vm::GuestExecStatus result;   // kExited
};
const char* to_string(GuestExec::State s);

class GuestAgent {
 public:
  using Reply = std::function<void(Result<vm::QgaReply>)>;
  struct Options {
    std::chrono::milliseconds poll_every{5000};        // the NICs, while the agent answers
    std::chrono::milliseconds poll_idle_every{15000};  // ... while it does not
    std::chrono::milliseconds poll_timeout{3000};
    std::chrono::milliseconds exec_status_every{100};
    std::chrono::milliseconds keep_result{300000};  // an exec nobody asked for again: forgotten
    size_t max_execs = 64;
  };

  GuestAgent(EventLoop& loop, std::string socket, Options o);
  GuestAgent(EventLoop& loop, std::string socket) : GuestAgent(loop, std::move(socket), Options{}) {}
  // Requests in flight are dropped without their callbacks being called.
  ~GuestAgent();
  GuestAgent(const GuestAgent&) = delete;
  GuestAgent& operator=(const GuestAgent&) = delete;

  // One request line (vm/qga.h's builders); `reply` gets the agent's reply,
  // or why none came. `max_line`: the longest reply line taken. Never called
  // back from within call().
  void call(std::string line, std::chrono::milliseconds timeout, Reply reply,
            size_t max_line = vm::QgaStream::kMaxLine);

  // Whether the guest runs. While it does not (paused, or a QEMU waiting
  // for a migration), nothing is sent on the channel: requests fail at once
  // and the NICs are not asked for. QEMU takes what a client writes into
  // the guest's virtio-serial ring even then; during an incoming migration
  // that write lands in guest memory the migration stream is still loading
  // (seen: the guest's kernel crashed in an interrupt after the move).
  void set_guest_runs(std::function<bool()> runs) { guest_runs_ = std::move(runs); }
  // Starts asking for the guest's NICs (every poll_every) from now on.
  void start_polling();
  const GuestView& view() const { return view_; }

  // guest-exec of `path` with `args` and `input` as its stdin; the command is
  // followed until it exits or `deadline` passes (then it is reported failed:
  // it may still run in the guest). Returns kvnetd's id for it.
  Result<uint64_t> exec(const std::string& path, const std::vector<std::string>& args, std::string_view input,
                        std::chrono::milliseconds deadline);
  // Where it is; an exited or failed command is forgotten once reported.
  std::optional<GuestExec> exec_status(uint64_t id);

 private:
  struct Request {
    std::string line;
    std::chrono::milliseconds timeout;
    Reply reply;
    size_t max_line;
  };
  struct Tracked {
    GuestExec exec;
    std::chrono::steady_clock::time_point deadline;
    EventLoop::TimerId timer = 0;  // the next status ask, or the result's expiry
  };
  // A timer whose callback runs only while this agent lives (the zero-delay
  // ones are not tracked to be cancelled).
  EventLoop::TimerId after(std::chrono::milliseconds delay, std::function<void()> fn);
  void pump();
  bool connect();
  void disconnect();
  void on_io(uint32_t events);
  void write_some();
  void finish(Result<vm::QgaReply> r);  // the head request's end
  void poll();
  void ask_status(uint64_t id);
  void settle(uint64_t id, GuestExec::State state, std::string error = {});

  EventLoop& loop_;
  std::string socket_;
  Options o_;
  int fd_ = -1;
  bool synced_ = false;  // this connection's resync completed
  bool sent_ = false;    // the head request is sent (or its sync is)
  uint64_t next_sync_ = 1;
  vm::QgaStream stream_;
  std::string out_;  // bytes not written yet
  bool want_out_ = false;
  std::deque<Request> queue_;  // the head is the one in flight
  EventLoop::TimerId head_timer_ = 0;
  EventLoop::TimerId poll_timer_ = 0;
  bool polling_ = false;
  std::function<bool()> guest_runs_;
  GuestView view_;
  uint64_t next_exec_ = 1;
  std::map<uint64_t, Tracked> execs_;
  // Timers of this object hold this token (after()); the destructor resets it.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace kvnet::daemon
