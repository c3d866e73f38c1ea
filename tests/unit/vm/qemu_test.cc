// What kvnet decides before it runs QEMU: the accelerator, the images, the
// kernel command line and QEMU's argv. No QEMU and no /dev/kvm needed.
#include "vm/qemu.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "testing.h"

namespace kvnet::vm {
namespace {

namespace fs = std::filesystem;
using ctl::Accel;
using ctl::NicSpec;
using ctl::VmSpec;
using kvnet::testing::error_of;

class QemuFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("kvnet-qemu-" + std::to_string(getpid()) + "-" +
                                              ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& content) {
    const fs::path p = dir_ / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << content;
    return p.string();
  }
  fs::path dir_;
};

const char* kCpuinfoNoVirt =
    "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: vmx svm in the name do not count\n"
    "flags\t\t: fpu vme de pse tsc msr pae vmxnet svm_lock hypervisor\n\n";
const char* kCpuinfoVmx =
    "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu vme de pse tsc msr pae vmx ept hypervisor\n\n";
const char* kCpuinfoSvm = "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu svm npt\n\n";

TEST_F(QemuFiles, ProbeKvmWithoutHardwareVirtualization) {
  const std::string cpuinfo = write("cpuinfo", kCpuinfoNoVirt);
  const KvmProbe p = probe_kvm(cpuinfo, "/dev/null");
  EXPECT_FALSE(p.usable);
  EXPECT_NE(p.reason.find("vmx/svm"), std::string::npos) << p.reason;
  EXPECT_NE(p.reason.find(cpuinfo), std::string::npos) << p.reason;
  // A missing cpuinfo is no hardware virtualization either.
  const KvmProbe q = probe_kvm((dir_ / "nope").string(), "/dev/null");
  EXPECT_FALSE(q.usable);
  EXPECT_NE(q.reason.find("vmx/svm"), std::string::npos) << q.reason;
}

TEST_F(QemuFiles, ProbeKvmWithVmxButNoDevice) {
  const std::string dev = (dir_ / "no-kvm-here").string();
  for (const char* info : {kCpuinfoVmx, kCpuinfoSvm}) {
    const KvmProbe p = probe_kvm(write("cpuinfo", info), dev);
    EXPECT_FALSE(p.usable);
    EXPECT_EQ(p.reason.find("vmx/svm"), std::string::npos) << p.reason;
    EXPECT_NE(p.reason.find("cannot open " + dev), std::string::npos) << p.reason;
  }
}

TEST_F(QemuFiles, ProbeKvmWithADeviceThatIsNotKvm) {
  const std::string cpuinfo = write("cpuinfo", kCpuinfoVmx);
  const std::string dev = write("fake-kvm", "not a device");
  const KvmProbe p = probe_kvm(cpuinfo, dev);
  EXPECT_FALSE(p.usable);
  EXPECT_NE(p.reason.find(dev + " answers API version"), std::string::npos) << p.reason;
}

TEST(ResolveAccel, AutoFollowsTheProbe) {
  const KvmProbe no{false, "no vmx/svm"}, yes{true, ""};
  EXPECT_EQ(*resolve_accel(Accel::kAuto, no), Accel::kTcg);
  EXPECT_EQ(*resolve_accel(Accel::kAuto, yes), Accel::kKvm);
  EXPECT_EQ(*resolve_accel(Accel::kTcg, no), Accel::kTcg);
  EXPECT_EQ(*resolve_accel(Accel::kTcg, yes), Accel::kTcg);  // asked for: kept
  EXPECT_EQ(*resolve_accel(Accel::kKvm, yes), Accel::kKvm);
  auto r = resolve_accel(Accel::kKvm, no);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "accel kvm is not available here: no vmx/svm (use accel tcg or auto)");
}

TEST_F(QemuFiles, DiskFormatByMagic) {
  const std::string qcow = write("d.qcow2", std::string("QFI\xfb\x00\x00\x00\x03", 8) + std::string(504, '\0'));
  const std::string raw = write("d.img", std::string(512, '\0'));
  const std::string almost = write("almost.img", std::string("QFI\xfa", 4) + std::string(60, '\0'));
  const std::string tiny = write("tiny.img", "QFI");
  const std::string empty = write("empty.img", "");
  EXPECT_EQ(*disk_format(qcow), DiskFormat::kQcow2);
  EXPECT_EQ(*disk_format(raw), DiskFormat::kRaw);
  EXPECT_EQ(*disk_format(almost), DiskFormat::kRaw);
  EXPECT_EQ(*disk_format(tiny), DiskFormat::kRaw);
  EXPECT_EQ(*disk_format(empty), DiskFormat::kRaw);
  const std::string missing = (dir_ / "missing.img").string();
  auto r = disk_format(missing);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "disk '" + missing + "' cannot be read");
  EXPECT_FALSE(disk_format(dir_.string()).ok());  // a directory
}

TEST_F(QemuFiles, GuestImage) {
  const std::string missing = (dir_ / "guest").string();
  auto r = find_guest_image(missing);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("guest/build.sh"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("'" + missing + "'"), std::string::npos) << r.error().message;
  write("guest/vmlinuz", "kernel");
  EXPECT_FALSE(find_guest_image(missing).ok());  // the initrd too
  write("guest/initrd.img", "initrd");
  r = find_guest_image(missing);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->kernel, missing + "/vmlinuz");
  EXPECT_EQ(r->initrd, missing + "/initrd.img");
}

TEST_F(QemuFiles, BootFilesMustExist) {
  VmSpec vm;
  vm.name = "vm01";
  GuestImage none{(dir_ / "g/vmlinuz").string(), (dir_ / "g/initrd.img").string()};
  EXPECT_EQ(error_of(check_boot_files(vm, none)), "vm 'vm01': kernel '" + none.kernel + "' does not exist or cannot be read");
  GuestImage img{write("g/vmlinuz", "k"), write("g/initrd.img", "i")};
  EXPECT_EQ(error_of(check_boot_files(vm, img)), "");
  // The user's kernel: the guest image does not matter.
  vm.kernel = (dir_ / "k").string();
  EXPECT_EQ(error_of(check_boot_files(vm, img)), "vm 'vm01': kernel '" + vm.kernel + "' does not exist or cannot be read");
  write("k", "kernel");
  EXPECT_EQ(error_of(check_boot_files(vm, none)), "");
  vm.initrd = (dir_ / "i").string();
  EXPECT_EQ(error_of(check_boot_files(vm, none)), "vm 'vm01': initrd '" + vm.initrd + "' does not exist or cannot be read");
  // A disk.
  vm.kernel = vm.initrd = "";
  vm.disk = dir_.string();  // a directory is no disk
  EXPECT_EQ(error_of(check_boot_files(vm, img)), "vm 'vm01': disk '" + vm.disk + "' is not a regular file");
  vm.disk = write("d.img", std::string(1024, '\0'));
  Launch l;
  EXPECT_EQ(error_of(check_boot_files(vm, none, &l)), "");
  EXPECT_EQ(l.disk, vm.disk);
  EXPECT_EQ(l.disk_format, DiskFormat::kRaw);
}

TEST_F(QemuFiles, BootFilesAreGivenByTheirResolvedPaths) {
  VmSpec vm;
  vm.name = "vm01";
  const std::string k = write("real/vmlinuz", "k"), i = write("real/initrd", "i");
  fs::create_symlink(dir_ / "real/vmlinuz", dir_ / "vmlinuz");
  vm.kernel = (dir_ / "vmlinuz").string();
  vm.initrd = (dir_ / "real/../real/initrd").string();
  Launch l;
  ASSERT_EQ(error_of(check_boot_files(vm, {}, &l)), "");
  EXPECT_EQ(l.kernel, k);
  EXPECT_EQ(l.initrd, i);
  // A symlink into /etc is /etc.
  fs::create_symlink("/etc/hostname", dir_ / "hostname");
  vm.initrd = (dir_ / "hostname").string();
  EXPECT_EQ(error_of(check_boot_files(vm, {}, &l)),
            "vm 'vm01': initrd '" + vm.initrd + "' (that is '/etc/hostname') is under /etc: a VM's files may not come from there");
}

VmSpec two_nic_vm() {
  VmSpec vm;
  vm.name = "vm01";
  vm.memory_mb = 512;
  vm.vcpus = 2;
  vm.nics.push_back({"br0", "tapvm01-0", "52:54:00:00:00:01", "10.0.0.11/24", "", false});
  vm.nics.push_back({"qbrvm01-1", "tapvm01-1", "52:54:00:00:00:02", "10.1.0.11/24", "10.1.0.1", true});
  return vm;
}

TEST(KernelCmdline, ConsoleUserWordsThenKvnetKeys) {
  VmSpec vm;
  vm.name = "vm01";
  EXPECT_EQ(kernel_cmdline(vm), "console=ttyS0 kvnet.hostname=vm01");
  vm = two_nic_vm();
  vm.cmdline = "quiet loglevel=3";
  EXPECT_EQ(kernel_cmdline(vm),
            "console=ttyS0 quiet loglevel=3 kvnet.hostname=vm01 kvnet.ip0=10.0.0.11/24 kvnet.ip1=10.1.0.11/24 "
            "kvnet.gw=10.1.0.1");
  // A NIC without an address keeps the others' indexes.
  vm.nics[0].ip = "";
  vm.cmdline = "";
  EXPECT_EQ(kernel_cmdline(vm), "console=ttyS0 kvnet.hostname=vm01 kvnet.ip1=10.1.0.11/24 kvnet.gw=10.1.0.1");
}

// The MTU a NIC's bridge carries (ctl/mtu.h) reaches the guest image's /init.
TEST(KernelCmdline, NicMtus) {
  VmSpec vm = two_nic_vm();
  EXPECT_EQ(kernel_cmdline(vm, {1450, 0}),
            "console=ttyS0 kvnet.hostname=vm01 kvnet.ip0=10.0.0.11/24 kvnet.mtu0=1450 kvnet.ip1=10.1.0.11/24 "
            "kvnet.gw=10.1.0.1");
  EXPECT_EQ(kernel_cmdline(vm, {0, 1400}).find("kvnet.mtu0"), std::string::npos) << "0: the default";
  EXPECT_NE(kernel_cmdline(vm, {0, 1400}).find(" kvnet.mtu1=1400"), std::string::npos);
  EXPECT_EQ(kernel_cmdline(vm, {1450}).find("kvnet.mtu1"), std::string::npos) << "fewer MTUs than NICs";
}

// The value after the first `flag` in argv ("" if none).
std::string after(const std::vector<std::string>& a, const std::string& flag) {
  const auto it = std::find(a.begin(), a.end(), flag);
  return it == a.end() || it + 1 == a.end() ? "" : *(it + 1);
}
// Every value after `flag`.
std::vector<std::string> all_after(const std::vector<std::string>& a, const std::string& flag) {
  std::vector<std::string> out;
  for (size_t i = 0; i + 1 < a.size(); ++i)
    if (a[i] == flag) out.push_back(a[i + 1]);
  return out;
}
bool has(const std::vector<std::string>& a, const std::string& s) { return std::find(a.begin(), a.end(), s) != a.end(); }
bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

Launch guest_launch(Accel accel) {
  Launch l;
  l.qemu = "/usr/bin/qemu-system-x86_64";
  l.accel = accel;
  l.kernel = "/opt/kvnet/guest/vmlinuz";
  l.initrd = "/opt/kvnet/guest/initrd.img";
  return l;
}

TEST(QemuArgv, MachineAcceleratorMemoryAndCpus) {
  const VmPaths paths = VmPaths::under("/run/kvnet/vms", "vm01");
  VmSpec vm = two_nic_vm();
  auto a = qemu_argv(vm, paths, guest_launch(Accel::kKvm));
  ASSERT_FALSE(a.empty());
  EXPECT_EQ(a[0], "/usr/bin/qemu-system-x86_64");
  EXPECT_EQ(after(a, "-M"), "q35");
  EXPECT_EQ(after(a, "-accel"), "kvm");
  EXPECT_EQ(after(a, "-cpu"), "host");
  EXPECT_EQ(after(a, "-m"), "512M");
  EXPECT_EQ(after(a, "-smp"), "2");
  EXPECT_TRUE(has(a, "-nodefaults"));
  EXPECT_TRUE(contains(after(a, "-name"), "guest=vm01"));

  a = qemu_argv(vm, paths, guest_launch(Accel::kTcg));
  EXPECT_EQ(after(a, "-accel"), "tcg,thread=multi");  // several vCPUs: one host thread each
  EXPECT_FALSE(has(a, "-cpu"));
  vm.vcpus = 1;
  vm.machine = "pc";
  vm.memory_mb = 1024 * 1024;
  a = qemu_argv(vm, paths, guest_launch(Accel::kTcg));
  EXPECT_EQ(after(a, "-accel"), "tcg");
  EXPECT_EQ(after(a, "-M"), "pc");
  EXPECT_EQ(after(a, "-m"), "1048576M");
  EXPECT_EQ(after(a, "-smp"), "1");
  EXPECT_EQ(all_after(a, "-accel").size(), 1u);
}

TEST(QemuArgv, OneTapAndVirtioNicPerNic) {
  const VmPaths paths = VmPaths::under("/run/kvnet/vms", "vm01");
  const VmSpec vm = two_nic_vm();
  const auto a = qemu_argv(vm, paths, guest_launch(Accel::kTcg));
  const auto netdevs = all_after(a, "-netdev");
  auto devices = all_after(a, "-device");
  std::erase_if(devices, [](const std::string& d) { return d.rfind("virtio-net-pci,", 0) != 0; });
  ASSERT_EQ(netdevs.size(), 2u);
  ASSERT_EQ(devices.size(), 2u);
  EXPECT_EQ(netdevs[0].rfind("tap,", 0), 0u) << netdevs[0];
  EXPECT_TRUE(contains(netdevs[0], "id=net0,") && contains(netdevs[0], "fd=3")) << netdevs[0];
  EXPECT_TRUE(contains(netdevs[1], "id=net1,") && contains(netdevs[1], "fd=4")) << netdevs[1];
  EXPECT_FALSE(contains(netdevs[0], "fd=4") || contains(netdevs[1], "fd=3"));
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(devices[i].rfind("virtio-net-pci,", 0), 0u) << devices[i];
    EXPECT_TRUE(contains(devices[i], "netdev=net" + std::to_string(i))) << devices[i];
    EXPECT_TRUE(contains(devices[i], "mac=" + vm.nics[i].mac)) << devices[i];
    EXPECT_TRUE(contains(devices[i], "romfile=")) << devices[i];
  }
  // The fds follow first_tap_fd.
  Launch l = guest_launch(Accel::kTcg);
  l.first_tap_fd = 10;
  const auto b = qemu_argv(vm, paths, l);
  EXPECT_TRUE(contains(all_after(b, "-netdev")[1], "fd=11"));
  // No NIC, no network device.
  VmSpec bare = vm;
  bare.nics.clear();
  const auto c = qemu_argv(bare, paths, guest_launch(Accel::kTcg));
  EXPECT_FALSE(has(c, "-netdev"));
  for (const auto& d : all_after(c, "-device")) EXPECT_NE(d.rfind("virtio-net-pci", 0), 0u) << d;
}

TEST(QemuArgv, BootsTheGuestImageTheUsersKernelOrADisk) {
  const VmPaths paths = VmPaths::under("/run/kvnet/vms", "vm01");
  VmSpec vm = two_nic_vm();
  auto a = qemu_argv(vm, paths, guest_launch(Accel::kTcg));
  EXPECT_EQ(after(a, "-kernel"), "/opt/kvnet/guest/vmlinuz");
  EXPECT_EQ(after(a, "-initrd"), "/opt/kvnet/guest/initrd.img");
  EXPECT_EQ(after(a, "-append"), kernel_cmdline(vm));
  EXPECT_FALSE(has(a, "-drive"));

  // The user's kernel: the Launch carries its resolved paths (check_boot_files).
  vm.kernel = "/boot/vmlinuz-6.1";
  Launch l = guest_launch(Accel::kTcg);
  l.kernel = "/boot/vmlinuz-6.1";
  l.initrd = "";
  a = qemu_argv(vm, paths, l);
  EXPECT_EQ(after(a, "-kernel"), "/boot/vmlinuz-6.1");
  EXPECT_FALSE(has(a, "-initrd"));  // the user gave none: not the guest image's
  EXPECT_EQ(after(a, "-append"), kernel_cmdline(vm));
  l.initrd = "/boot/initrd-6.1";
  a = qemu_argv(vm, paths, l);
  EXPECT_EQ(after(a, "-initrd"), "/boot/initrd-6.1");

  vm.kernel = vm.initrd = "";
  vm.disk = "/var/lib/kvnet/vm01.qcow2";
  l = guest_launch(Accel::kTcg);
  l.kernel = l.initrd = "";  // a disk alone: its boot loader (check_boot_files sets no kernel)
  l.disk = vm.disk;
  l.disk_format = DiskFormat::kQcow2;
  a = qemu_argv(vm, paths, l);
  EXPECT_FALSE(has(a, "-drive"));
  const auto bd = nlohmann::json::parse(after(a, "-blockdev"));
  EXPECT_EQ(bd, nlohmann::json::parse(R"({"driver": "qcow2", "node-name": "disk0", "backing": null,
                                           "file": {"driver": "file", "filename": "/var/lib/kvnet/vm01.qcow2"}})"));
  EXPECT_EQ(all_after(a, "-device").back(), "virtio-blk-pci,drive=disk0,bootindex=1");
  EXPECT_FALSE(has(a, "-kernel"));
  EXPECT_FALSE(has(a, "-initrd"));
  EXPECT_FALSE(has(a, "-append"));
  // An overlay of a store image: its base given explicitly, read-only.
  l.disk_backing = "/var/lib/kvnet/images/deb.qcow2";
  l.disk_backing_format = DiskFormat::kQcow2;
  EXPECT_EQ(nlohmann::json::parse(after(qemu_argv(vm, paths, l), "-blockdev")),
            nlohmann::json::parse(R"({"driver": "qcow2", "node-name": "disk0",
                                      "file": {"driver": "file", "filename": "/var/lib/kvnet/vm01.qcow2"},
                                      "backing": {"driver": "qcow2", "node-name": "base0", "read-only": true,
                                                  "file": {"driver": "file", "read-only": true,
                                                           "filename": "/var/lib/kvnet/images/deb.qcow2"}}})"));
  l.disk_backing.clear();
  l.disk_format = DiskFormat::kRaw;
  EXPECT_EQ(nlohmann::json::parse(after(qemu_argv(vm, paths, l), "-blockdev")),
            nlohmann::json::parse(R"({"driver": "raw", "node-name": "disk0",
                                      "file": {"driver": "file", "filename": "/var/lib/kvnet/vm01.qcow2"}})"));
}

// A comma in a disk's path was an option separator: "-drive
// file=/a,file=/etc/shadow,..." opened another file than the one checked.
TEST(QemuArgv, NoCharacterOfAPathAddsAnOption) {
  VmSpec vm = two_nic_vm();
  vm.disk = "/srv/a,file=/etc/shadow,format=raw\"x\".img";
  Launch l = guest_launch(Accel::kTcg);
  l.disk = vm.disk;
  const VmPaths paths = VmPaths::under("/run/k,id=evil", "vm01");
  const auto a = qemu_argv(vm, paths, l);
  const auto bd = nlohmann::json::parse(after(a, "-blockdev"));
  EXPECT_EQ(bd["file"]["filename"], vm.disk);
  EXPECT_EQ(bd["file"].size(), 2u);
  EXPECT_EQ(bd.size(), 3u);
  // Commas inside option values are doubled: QEMU reads them as one comma.
  const auto chardevs = all_after(a, "-chardev");
  ASSERT_EQ(chardevs.size(), 3u);
  EXPECT_TRUE(contains(chardevs[0], "path=/run/k,,id=evil/vm01/qmp.sock,server=on")) << chardevs[0];
  EXPECT_TRUE(contains(chardevs[1], "logfile=/run/k,,id=evil/vm01/console.log,logappend=on")) << chardevs[1];
  EXPECT_TRUE(contains(chardevs[2], "path=/run/k,,id=evil/vm01/qga.sock,server=on")) << chardevs[2];
  EXPECT_EQ(qemu_opt_value("a,b,,c"), "a,,b,,,,c");
  EXPECT_EQ(qemu_opt_value("plain"), "plain");
}

TEST(QemuArgv, RunningShapeReadsBackWhatTheArgvGives) {
  VmSpec vm = two_nic_vm();
  vm.memory_mb = 3072;
  vm.vcpus = 4;
  vm.machine = "pc";
  const auto shape = running_shape(qemu_argv(vm, VmPaths::under("/run/kvnet/vms", "vm01"), guest_launch(Accel::kTcg)));
  EXPECT_EQ(shape.memory_mb, 3072u);
  EXPECT_EQ(shape.vcpus, 4u);
  EXPECT_EQ(shape.machine, "pc");
  const auto none = running_shape({"qemu", "-m"});
  EXPECT_EQ(none.memory_mb, 0u);
  EXPECT_EQ(none.vcpus, 0u);
  EXPECT_EQ(running_shape({"q", "-m", "1G,slots=2", "-smp", "2,sockets=1", "-M", "q35,accel=tcg"}).memory_mb, 1024u);
}

TEST(QemuError, TheLastLineQemuWroteAsAnError) {
  const std::string q = "/usr/bin/qemu-system-x86_64";
  EXPECT_EQ(qemu_error_line("", q), "");
  EXPECT_EQ(qemu_error_line("qemu-system-x86_64: -blockdev {}: Failed to get \"write\" lock\n"
                            "Is another process using the image [/srv/a.img]?\n\n",
                            q),
            "qemu-system-x86_64: -blockdev {}: Failed to get \"write\" lock");
  EXPECT_EQ(qemu_error_line("qemu-system-x86_64: first\r\nqemu-system-x86_64: second\n", q), "qemu-system-x86_64: second");
  EXPECT_EQ(qemu_error_line("something else entirely\n  \n", q), "something else entirely");
}

TEST(QemuArgv, SocketsLogAndPidfileUnderTheVmsDirectory) {
  const VmPaths p = VmPaths::under("/run/kvnet/vms", "vm01");
  EXPECT_EQ(p.dir, "/run/kvnet/vms/vm01");
  EXPECT_EQ(p.qmp, "/run/kvnet/vms/vm01/qmp.sock");
  EXPECT_EQ(p.console, "/run/kvnet/vms/vm01/console.sock");
  EXPECT_EQ(p.qga, "/run/kvnet/vms/vm01/qga.sock");
  EXPECT_EQ(p.log, "/run/kvnet/vms/vm01/console.log");
  EXPECT_EQ(p.pidfile, "/run/kvnet/vms/vm01/qemu.pid");
  EXPECT_EQ(p.qemu_log, "/run/kvnet/vms/vm01/qemu.log");
  const auto a = qemu_argv(two_nic_vm(), p, guest_launch(Accel::kTcg));
  const auto chardevs = all_after(a, "-chardev");
  ASSERT_EQ(chardevs.size(), 3u);
  EXPECT_TRUE(contains(chardevs[0], "socket,id=qmp,path=" + p.qmp + ",server=on,wait=off")) << chardevs[0];
  EXPECT_EQ(after(a, "-mon"), "chardev=qmp,mode=control");
  EXPECT_TRUE(contains(chardevs[1], "id=console,path=" + p.console + ",")) << chardevs[1];
  EXPECT_TRUE(contains(chardevs[1], "logfile=" + p.log + ",logappend=on")) << chardevs[1];
  EXPECT_EQ(after(a, "-serial"), "chardev:console");
  // The guest agent's channel: the port name qemu-guest-agent opens.
  EXPECT_EQ(chardevs[2], "socket,id=qga0,path=" + p.qga + ",server=on,wait=off");
  const auto devices = all_after(a, "-device");
  EXPECT_NE(std::find(devices.begin(), devices.end(), "virtio-serial-pci,id=vser0"), devices.end());
  EXPECT_NE(std::find(devices.begin(), devices.end(),
                      "virtserialport,bus=vser0.0,chardev=qga0,name=org.qemu.guest_agent.0"),
            devices.end());
  EXPECT_EQ(after(a, "-pidfile"), p.pidfile);
  EXPECT_EQ(a.back(), p.pidfile);
}

// A qcow2 header (version 3) naming `backing` ("" none) at offset 0x200.
std::string qcow2_file(const std::string& backing = "") {
  std::string h(0x200 + backing.size() + 512, '\0');
  auto put = [&](size_t at, uint64_t v, size_t n) {
    for (size_t i = 0; i < n; ++i) h[at + i] = static_cast<char>(v >> (8 * (n - 1 - i)));
  };
  h.replace(0, 4, "QFI\xfb", 4);
  put(4, 3, 4);
  if (!backing.empty()) {
    put(8, 0x200, 8);
    put(16, backing.size(), 4);
    h.replace(0x200, backing.size(), backing);
  }
  return h;
}

TEST_F(QemuFiles, AnImagesVmGetsItsOverlayTheImageAsBaseAndTheImagesKernel) {
  fs::create_directories(dir_ / "disks");
  BaseImage base{"deb", write("images/deb.qcow2", qcow2_file()), write("images/deb.vmlinuz", "k"),
                 write("images/deb.initrd", "i"), "root=/dev/vda rw", uint64_t{2} << 30};
  VmSpec vm;
  vm.name = "vm01";
  vm.image = "deb";
  vm.disk = (dir_ / "disks/vm01.qcow2").string();
  EXPECT_EQ(error_of(check_boot_files(vm, {})),
            "vm 'vm01': image 'deb' is not in this host's image store (kvnetctl image import deb FILE)");
  Launch l;
  ASSERT_EQ(error_of(check_boot_files(vm, {}, &l, &base)), "");
  EXPECT_TRUE(l.disk_to_create);  // kvnetd makes it (VmHost::create_disk)
  EXPECT_EQ(l.disk, vm.disk);
  EXPECT_EQ(l.disk_backing, base.path);
  EXPECT_EQ(l.kernel, base.kernel);
  EXPECT_EQ(l.initrd, base.initrd);
  EXPECT_EQ(l.base_cmdline, "root=/dev/vda rw");
  EXPECT_EQ(overlay_bytes(vm, base), uint64_t{2} << 30);
  vm.disk_size_mb = 1024;
  EXPECT_EQ(error_of(check_boot_files(vm, {}, &l, &base)), "vm 'vm01': disk_size 1G is smaller than image 'deb' (2G)");
  vm.disk_size_mb = 8192;
  EXPECT_EQ(overlay_bytes(vm, base), uint64_t{8} << 30);

  // Once made: it must be an overlay of that image.
  write("disks/vm01.qcow2", qcow2_file(base.path));
  l = Launch{};
  ASSERT_EQ(error_of(check_boot_files(vm, {}, &l, &base)), "");
  EXPECT_FALSE(l.disk_to_create);
  EXPECT_EQ(l.disk_backing, base.path);
  write("images/other.qcow2", qcow2_file());
  write("disks/vm01.qcow2", qcow2_file((dir_ / "images/other.qcow2").string()));
  EXPECT_EQ(error_of(check_boot_files(vm, {}, &l, &base)),
            "vm 'vm01': disk '" + vm.disk + "' is not an overlay of image 'deb'");

  // The user's kernel wins over the image's; an image without one boots from its disk.
  write("disks/vm01.qcow2", qcow2_file(base.path));
  vm.kernel = write("mine/vmlinuz", "k");
  l = Launch{};
  ASSERT_EQ(error_of(check_boot_files(vm, {}, &l, &base)), "");
  EXPECT_EQ(l.kernel, vm.kernel);
  EXPECT_EQ(l.base_cmdline, "");
  vm.kernel.clear();
  base.kernel = base.initrd = "";
  l = Launch{};
  ASSERT_EQ(error_of(check_boot_files(vm, {}, &l, &base)), "");
  EXPECT_EQ(l.kernel, "");
  // Where the overlay would go is checked like any disk.
  fs::remove(dir_ / "disks/vm01.qcow2");
  vm.disk = "/etc/vm01.qcow2";
  EXPECT_EQ(error_of(check_boot_files(vm, {}, &l, &base)),
            "vm 'vm01': disk '/etc/vm01.qcow2' is under /etc: a VM's files may not come from there");
}

TEST(QemuArgv, AnImagesVmBootsItsKernelWithTheOverlayAsRootAndTheSeedAfterIt) {
  const VmPaths paths = VmPaths::under("/run/kvnet/vms", "vm01");
  VmSpec vm = two_nic_vm();
  vm.image = "deb";
  vm.disk = "/var/lib/kvnet/disks/vm01.qcow2";
  vm.cmdline = "quiet";
  Launch l;
  l.qemu = "/usr/bin/qemu-system-x86_64";
  l.disk = vm.disk;
  l.disk_format = DiskFormat::kQcow2;
  l.disk_backing = "/var/lib/kvnet/images/deb.qcow2";
  l.disk_backing_format = DiskFormat::kQcow2;
  l.kernel = "/var/lib/kvnet/images/deb.vmlinuz";
  l.initrd = "/var/lib/kvnet/images/deb.initrd";
  l.base_cmdline = "root=/dev/vda rw";
  l.seed = paths.dir + "/seed.iso";
  const auto a = qemu_argv(vm, paths, l);
  const auto blockdevs = all_after(a, "-blockdev");
  ASSERT_EQ(blockdevs.size(), 2u);
  EXPECT_EQ(nlohmann::json::parse(blockdevs[0])["node-name"], "disk0");  // vda: the root
  EXPECT_EQ(nlohmann::json::parse(blockdevs[1]),
            nlohmann::json::parse(R"({"driver": "raw", "node-name": "seed0", "read-only": true,
                                      "file": {"driver": "file", "filename": "/run/kvnet/vms/vm01/seed.iso",
                                               "read-only": true}})"));
  const auto devices = all_after(a, "-device");
  EXPECT_NE(std::find(devices.begin(), devices.end(), "virtio-blk-pci,drive=disk0"), devices.end());  // no bootindex
  EXPECT_EQ(devices.back(), "virtio-blk-pci,drive=seed0");
  EXPECT_EQ(after(a, "-kernel"), l.kernel);
  EXPECT_EQ(after(a, "-initrd"), l.initrd);
  // cloud-init configures the guest: no kvnet.* words.
  EXPECT_EQ(after(a, "-append"), "console=ttyS0 root=/dev/vda rw ds=nocloud quiet");
}

TEST(QemuFacts, VersionAndMachineAliasAsMigrationComparesThem) {
  EXPECT_EQ(parse_qemu_version("QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\nCopyright (c) 2003-2022"),
            "7.2.22");
  EXPECT_EQ(parse_qemu_version("QEMU emulator version 8.2.0\n"), "8.2.0");
  EXPECT_FALSE(parse_qemu_version("no version here"));
  EXPECT_FALSE(parse_qemu_version("version x.y"));
  const std::string help =
      "Supported machines are:\n"
      "pc                   Standard PC (i440FX + PIIX, 1996) (alias of pc-i440fx-7.2)\n"
      "pc-i440fx-7.2        Standard PC (i440FX + PIIX, 1996) (default)\n"
      "q35                  Standard PC (Q35 + ICH9, 2009) (alias of pc-q35-7.2)\n"
      "pc-q35-7.2           Standard PC (Q35 + ICH9, 2009)\n"
      "q35evil              Bad (alias of pc;rm)\n";
  EXPECT_EQ(parse_machine_alias(help, "q35"), "pc-q35-7.2");
  EXPECT_EQ(parse_machine_alias(help, "pc"), "pc-i440fx-7.2");
  EXPECT_EQ(parse_machine_alias(help, "pc-q35-7.2"), "pc-q35-7.2");  // versioned already
  EXPECT_FALSE(parse_machine_alias(help, "virt"));
  EXPECT_FALSE(parse_machine_alias(help, "q35evil"));  // not a machine name
  EXPECT_LT(compare_versions("7.2.22", "7.10.0"), 0);
  EXPECT_EQ(compare_versions("7.2", "7.2.0"), 0);
  EXPECT_GT(compare_versions("8.0.0", "7.2.22"), 0);
}

}  // namespace
}  // namespace kvnet::vm
