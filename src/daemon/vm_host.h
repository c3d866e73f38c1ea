// kvnetd as a VM host: starts, watches and stops one QEMU process per VM
// (vm/qemu.h), on the control loop (daemon/event_loop.h).
//
// For each running VM it holds:
//   - the QEMU process, through the Supervisor (daemon/supervisor.h): a
//     child watched through a pidfd; after a kvnetd restart, a process found
//     through DIR/qemu.pid (and checked: /proc/PID/exe is the QEMU kvnetd
//     runs, /proc/PID/cmdline names the VM and its QMP socket) is re-adopted
//     the same way;
//   - a QMP connection (vm/qmp.h): capabilities negotiation, query-status,
//     system_powerdown, quit; the events SHUTDOWN, RESET, STOP, RESUME move the
//     state;
//   - the guest agent's channel (daemon/guest_agent.h): the guest's own view
//     of its NICs, asked every few seconds; commands run in the guest;
//   - the console log, read while the guest boots, for kvnet's guest image's
//     ready marker (the boot time is from spawn to marker), and kept under
//     its size limit: QEMU appends to it (O_APPEND); past the limit kvnetd
//     copies it to console.log.1 and empties it (qemu.log alike).
//
// States: stopped -> starting (QEMU spawned, QMP not answered yet) ->
// running | paused -> stopping (ACPI power-off sent) -> stopped; a QEMU that
// exits without a power-off or stop asked for is `crashed`, with its exit
// status. `stop` powers off through ACPI and kills QEMU when the timeout
// passes; `kill` ends QEMU at once (QMP `quit`, SIGKILL if it does not go);
// `remove` (the VM was deleted) ends it before it returns (SIGTERM, which
// QEMU takes as a clean quit, SIGKILL after 3 s), so its TAPs are gone too.
// A QEMU that exits uncleanly leaves its last error line (qemu.log) in the
// status. None of this ever touches the switch: when a VM exits, the exit
// hook tells kvnetd's Service, which parks its ports.
// QEMU runs in its own session and is never killed because kvnetd stops.
//
// Thread-safety: the control thread only (the loop's).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "base/result.h"
#include "ctl/vm_spec.h"
#include "daemon/event_loop.h"
#include "daemon/guest_agent.h"
#include "daemon/supervisor.h"
#include "vm/cloudinit.h"
#include "vm/qemu.h"

namespace kvnet::daemon {

// kIncoming: QEMU started to receive the VM from another host (-incoming),
// paused until the migration hands the guest over.
enum class VmState : uint8_t { kStopped, kStarting, kRunning, kPaused, kStopping, kCrashed, kIncoming };
const char* to_string(VmState s);

struct VmStatus {
  VmState state = VmState::kStopped;
  pid_t pid = 0;
  ctl::Accel accel = ctl::Accel::kAuto;  // resolved, while running
  double uptime_s = 0;
  uint64_t rss_kb = 0;
  bool ready = false;    // the guest image's ready marker was seen
  double boot_s = -1;    // spawn to ready marker (-1: not seen in this kvnetd)
  std::string last_exit; // how it stopped last ("powered off", "killed", "signal 9", ...)
  std::string error;     // QEMU's last error line, when it last exited uncleanly
  std::vector<std::string> command;  // QEMU's argv, while running
  vm::RunningShape shape;            // what that argv gives the guest (memory, vCPUs, machine)
};

struct VmHostOptions {
  std::string root;       // per-VM directories (sockets, logs, pidfile)
  std::string guest_dir;  // kvnet's guest image
  std::string disk_dir;   // image VMs' overlays (DIR/VM.qcow2) unless a VM names its own
  std::chrono::milliseconds qmp_timeout{15000};
  uint64_t log_max_bytes = 4 << 20;  // console.log and qemu.log: rotated to *.1 past this
  std::chrono::milliseconds log_check_every{2000};
};

// What a VM's cloud-init seed says (vm/cloudinit.h): instance id and
// hostname from its name, its keys and user-data, and per NIC its MAC,
// address, gateway (also as resolver) and MTU.
vm::SeedInput seed_input(const ctl::VmSpec& vm, const std::vector<uint32_t>& nic_mtus);

// How a start differs for a VM that arrives by live migration: QEMU waits
// paused (-S) for the migration stream (-incoming defer), with the machine
// type the source resolved ("pc-q35-7.2"; "" the VM's own).
struct VmStartOptions {
  bool incoming = false;
  std::string machine;
};

class VmHost {
 public:
  using ExitHook = std::function<void(const std::string& vm)>;
  // The store's image of that name, ready (none: no such image).
  using BaseLookup = std::function<std::optional<vm::BaseImage>(const std::string& image)>;

  VmHost(EventLoop& loop, VmHostOptions o);
  ~VmHost();  // closes its connections; QEMU processes keep running
  VmHost(const VmHost&) = delete;
  VmHost& operator=(const VmHost&) = delete;

  // Everything a start needs, checked without creating anything: QEMU, the
  // accelerator, the boot files, the memory. Errors name the VM.
  Result<vm::Launch> prepare(const ctl::VmSpec& vm) const;
  // A QMP command to a VM's QEMU: `reply` gets its "return" value or its
  // error ("CLASS: description", or why there was no answer: the
  // connection closed, QEMU ended, no answer within qmp_timeout). Sent once
  // QMP is up (queued until then). Never called back from within qmp_call.
  using QmpReply = std::function<void(Result<nlohmann::json>)>;
  void qmp_call(const std::string& name, const std::string& execute, const nlohmann::json& arguments, QmpReply reply);
  // Every QMP event of every VM (MIGRATION, BLOCK_JOB_*, RESUME, ...): the
  // event's name, data and QEMU's timestamp (microseconds since the epoch).
  using EventHook = std::function<void(const std::string& vm, const std::string& event, const nlohmann::json& data,
                                       int64_t timestamp_us)>;
  void on_event(EventHook h) { event_hook_ = std::move(h); }
  // An image VM's overlay, made when it does not exist yet (`qemu-img
  // create` with the image as its backing file, grown to the VM's disk
  // size); true if it was made now. A VM without an image: nothing.
  Result<bool> create_disk(const ctl::VmSpec& vm) const;
  // Where an image VM's overlay goes when its definition names none.
  std::string default_disk(const std::string& vm) const { return o_.disk_dir + "/" + vm + ".qcow2"; }
  // Creates the TAPs and starts QEMU; nothing is left behind on failure.
  // `nic_mtus`: NIC i's MTU for the guest (ctl/mtu.h's endpoint_mtu; 0 or
  // absent: its default), given on the kernel command line.
  Status start(const ctl::VmSpec& vm, const std::vector<uint32_t>& nic_mtus = {}, const VmStartOptions& how = {});
  // ACPI power-off; QEMU is killed if it still runs after `timeout`.
  Status stop(const std::string& name, std::chrono::milliseconds timeout);
  Status kill(const std::string& name);
  // A QEMU of this VM left running by an earlier kvnetd: watched again.
  bool reattach(const ctl::VmSpec& vm);
  // The VM was deleted: ends its QEMU (if any) and waits for it to be gone,
  // at most a few seconds; removes its directory. An error if QEMU would not
  // die (it is still forgotten).
  Status remove(const std::string& name);

  bool running(const std::string& name) const;  // a QEMU process exists
  // The guest agent's channel of a running VM (nullptr: not running).
  GuestAgent* agent(const std::string& name);
  VmStatus status(const std::string& name) const;
  vm::VmPaths paths(const std::string& name) const { return vm::VmPaths::under(o_.root, name); }
  const vm::KvmProbe& kvm() const { return kvm_; }
  const VmHostOptions& options() const { return o_; }
  EventLoop& loop() const { return loop_; }
  void on_exit(ExitHook h) { exit_hook_ = std::move(h); }
  void set_images(BaseLookup b) { images_ = std::move(b); }

 private:
  struct Guest;
  void watch(Guest& g);
  void try_connect(const std::string& name);
  void on_qmp(const std::string& name, uint32_t events);
  void send_qmp(Guest& g, const std::string& execute);
  void send_bytes(Guest& g, const std::string& bytes);
  void fail_pending(Guest& g, const std::string& why);
  void scan_log(Guest& g);
  void cap_logs(const std::string& name);
  void exited(const std::string& name, int wait_status);
  void close_qmp(Guest& g);
  Guest* find(const std::string& name);
  const Guest* find(const std::string& name) const;

  EventLoop& loop_;
  VmHostOptions o_;
  vm::KvmProbe kvm_;
  Supervisor sup_;  // the QEMU processes, keyed by VM name
  std::map<std::string, std::unique_ptr<Guest>> guests_;
  struct Ended {
    bool crashed = false;
    std::string how, error;
  };
  std::map<std::string, Ended> ended_;  // of VMs no longer running
  ExitHook exit_hook_;
  EventHook event_hook_;
  BaseLookup images_;
};

}  // namespace kvnet::daemon
