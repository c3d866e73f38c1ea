// VmHost with a stand-in for QEMU (fake_qemu.cc, through KVNET_QEMU): real
// TAPs, real processes, the real control loop. What is checked: a deleted
// VM's QEMU and TAP are gone when remove() returns, even a QEMU that ignores
// SIGTERM; QEMU's error line of a failed start; the size QEMU runs with; the
// console log's size limit; re-adoption only of a process that is the QEMU.
#include "daemon/vm_host.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>

#include "daemon/loop_testing.h"
#include "io/netdev.h"

namespace kvnet::daemon {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class VmHostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0 || ::access("/dev/net/tun", R_OK | W_OK) != 0) GTEST_SKIP() << "needs root and /dev/net/tun";
    dir_ = fs::path(::testing::TempDir()) / ("kvnet-vmhost-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "guest");
    std::ofstream(dir_ / "guest/vmlinuz") << "kernel";
    std::ofstream(dir_ / "guest/initrd.img") << "initrd";
    setenv("KVNET_QEMU", KVNET_BIN_DIR "/kvnet_fake_qemu", 1);
    for (const char* v : {"KVNET_FAKE_QEMU_FAIL", "KVNET_FAKE_QEMU_FLOOD", "KVNET_FAKE_QEMU_IGNORE_TERM"}) unsetenv(v);
    auto l = EventLoop::create();
    ASSERT_TRUE(l.ok());
    loop_ = std::move(*l);
    host_ = std::make_unique<VmHost>(*loop_, options());
  }
  void TearDown() override {
    host_.reset();
    for (const auto& pidfile : {dir_ / "vms" / vm().name / "qemu.pid"}) {
      pid_t pid = 0;
      std::ifstream(pidfile) >> pid;
      if (pid > 0) io::send_signal(pid, SIGKILL);
    }
    loop_.reset();
    unsetenv("KVNET_QEMU");
    for (const char* v : {"KVNET_FAKE_QEMU_FAIL", "KVNET_FAKE_QEMU_FLOOD", "KVNET_FAKE_QEMU_IGNORE_TERM"}) unsetenv(v);
    fs::remove_all(dir_);
  }
  VmHostOptions options() const {
    VmHostOptions o;
    o.root = (dir_ / "vms").string();
    o.guest_dir = (dir_ / "guest").string();
    o.qmp_timeout = 500ms;
    return o;
  }
  ctl::VmSpec vm() const {
    ctl::VmSpec v;
    v.name = "t" + std::to_string(getpid() % 100000);
    v.memory_mb = 96;
    v.vcpus = 3;
    v.accel = ctl::Accel::kTcg;
    v.nics.push_back({"br0", "kvt" + std::to_string(getpid() % 100000) + "-0", "52:54:00:00:00:11", "", "", false});
    return v;
  }
  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds limit = 5000ms) {
    return testing::run_loop_until(*loop_, done, limit, 20ms);
  }
  static bool alive(pid_t pid) {  // a process, not a zombie
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string pid_s, comm, state;
    return in >> pid_s >> comm >> state && state != "Z";
  }

  fs::path dir_;
  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<VmHost> host_;
};

TEST_F(VmHostTest, RemoveEndsQemuAndItsTapBeforeItReturns) {
  const ctl::VmSpec v = vm();
  ASSERT_TRUE(host_->start(v).ok());
  const pid_t pid = host_->status(v.name).pid;
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(alive(pid));
  EXPECT_TRUE(io::if_exists(v.nics[0].port));
  // What `vm del --force` and an apply without the VM do:
  ASSERT_TRUE(host_->remove(v.name).ok());
  EXPECT_FALSE(alive(pid));
  EXPECT_FALSE(io::if_exists(v.nics[0].port)) << "the TAP outlived the deleted VM";
  EXPECT_FALSE(host_->running(v.name));
  EXPECT_FALSE(fs::exists(dir_ / "vms" / v.name));
  // Defined again, it starts at once (its TAP's name is free); the old
  // QEMU's exit, reaped now, is not taken for the new one's.
  ASSERT_TRUE(host_->start(v).ok());
  const pid_t again = host_->status(v.name).pid;
  run_until([] { return false; }, 200ms);
  EXPECT_TRUE(host_->running(v.name));
  EXPECT_EQ(host_->status(v.name).pid, again);
  EXPECT_TRUE(host_->remove(v.name).ok());
}

TEST_F(VmHostTest, RemoveKillsAQemuThatIgnoresSigterm) {
  setenv("KVNET_FAKE_QEMU_IGNORE_TERM", "1", 1);
  const ctl::VmSpec v = vm();
  ASSERT_TRUE(host_->start(v).ok());
  const pid_t pid = host_->status(v.name).pid;
  ASSERT_TRUE(run_until([&] { return fs::exists(dir_ / "vms" / v.name / "qemu.pid"); }));
  ASSERT_TRUE(host_->remove(v.name).ok());
  EXPECT_FALSE(alive(pid));
  EXPECT_FALSE(io::if_exists(v.nics[0].port));
}

TEST_F(VmHostTest, AFailedStartKeepsQemusErrorLine) {
  setenv("KVNET_FAKE_QEMU_FAIL", "-blockdev {\"driver\":\"raw\"}: Failed to get \"write\" lock", 1);
  const ctl::VmSpec v = vm();
  ASSERT_TRUE(host_->start(v).ok());
  ASSERT_TRUE(run_until([&] { return !host_->running(v.name); }));
  const VmStatus st = host_->status(v.name);
  EXPECT_EQ(st.state, VmState::kCrashed);
  EXPECT_EQ(st.last_exit, "exit status 1");
  EXPECT_EQ(st.error, "kvnet_fake_qemu: -blockdev {\"driver\":\"raw\"}: Failed to get \"write\" lock");
  EXPECT_FALSE(io::if_exists(v.nics[0].port));
  // A clean start forgets it.
  unsetenv("KVNET_FAKE_QEMU_FAIL");
  ASSERT_TRUE(host_->start(v).ok());
  EXPECT_EQ(host_->status(v.name).error, "");
  EXPECT_TRUE(host_->remove(v.name).ok());
}

TEST_F(VmHostTest, StatusGivesTheSizeQemuRunsWith) {
  const ctl::VmSpec v = vm();
  ASSERT_TRUE(host_->start(v).ok());
  const VmStatus st = host_->status(v.name);
  EXPECT_EQ(st.shape.memory_mb, 96u);
  EXPECT_EQ(st.shape.vcpus, 3u);
  EXPECT_EQ(st.shape.machine, "q35");
  EXPECT_TRUE(host_->remove(v.name).ok());
}

TEST_F(VmHostTest, TheConsoleLogIsKeptUnderItsLimit) {
  setenv("KVNET_FAKE_QEMU_FLOOD", "1", 1);  // 64 KiB every 20 ms
  VmHostOptions o = options();
  o.log_max_bytes = 256 << 10;
  o.log_check_every = 50ms;
  host_ = std::make_unique<VmHost>(*loop_, o);
  const ctl::VmSpec v = vm();
  ASSERT_TRUE(host_->start(v).ok());
  const fs::path log = dir_ / "vms" / v.name / "console.log";
  uint64_t written_at_least = 0, largest = 0;
  ASSERT_TRUE(run_until([&] {
    std::error_code ec;
    const uint64_t now = fs::file_size(log, ec);
    largest = std::max(largest, ec ? 0 : now);
    written_at_least += 0;
    return fs::exists(log.string() + ".1") && fs::file_size(log.string() + ".1", ec) > o.log_max_bytes;
  }));
  run_until([] { return false; }, 1000ms);  // ~3 MiB more
  std::error_code ec;
  EXPECT_LT(fs::file_size(log, ec), 2u << 20);
  EXPECT_LT(fs::file_size(log.string() + ".1", ec), 2u << 20);
  EXPECT_FALSE(fs::exists(log.string() + ".2"));
  EXPECT_TRUE(host_->remove(v.name).ok());
}

TEST_F(VmHostTest, ReadoptsOnlyTheQemuItStarted) {
  const ctl::VmSpec v = vm();
  ASSERT_TRUE(host_->start(v).ok());
  const pid_t pid = host_->status(v.name).pid;
  ASSERT_TRUE(run_until([&] { return fs::exists(dir_ / "vms" / v.name / "qemu.pid"); }));
  // A new kvnetd (its own loop and host) finds it through the pidfile.
  {
    auto l2 = EventLoop::create();
    ASSERT_TRUE(l2.ok());
    VmHost second(**l2, options());
    ASSERT_TRUE(second.reattach(v));
    EXPECT_EQ(second.status(v.name).pid, pid);
    EXPECT_EQ(second.status(v.name).shape.vcpus, 3u);
  }
  // Another binary than the QEMU kvnetd runs: not adopted.
  {
    setenv("KVNET_QEMU", "/bin/true", 1);
    auto l2 = EventLoop::create();
    ASSERT_TRUE(l2.ok());
    VmHost second(**l2, options());
    EXPECT_FALSE(second.reattach(v));
    setenv("KVNET_QEMU", KVNET_BIN_DIR "/kvnet_fake_qemu", 1);
  }
  // A pidfile naming another process (this test): not adopted.
  {
    std::ofstream(dir_ / "vms" / v.name / "qemu.pid") << getpid() << "\n";
    auto l2 = EventLoop::create();
    ASSERT_TRUE(l2.ok());
    VmHost second(**l2, options());
    EXPECT_FALSE(second.reattach(v));
  }
  EXPECT_TRUE(host_->remove(v.name).ok());
  EXPECT_FALSE(alive(pid));
}

}  // namespace
}  // namespace kvnet::daemon
