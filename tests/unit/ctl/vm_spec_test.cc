// VM definitions on their own: memory sizes, derived MACs and device names,
// the rules of one VM, and `--nic` arguments.
#include "ctl/vm_spec.h"

#include <gtest/gtest.h>

#include <set>

#include "ctl/topology.h"
#include "net/bytes.h"
#include "testing.h"

namespace kvnet::ctl {
namespace {

using kvnet::testing::error_of;

std::string memory_error(const std::string& s) {
  auto r = parse_memory(s);
  return r.ok() ? "<ok: " + std::to_string(*r) + ">" : r.error().message;
}

TEST(VmMemory, ParsesSizesWithAndWithoutUnits) {
  EXPECT_EQ(*parse_memory("256M"), 256u);
  EXPECT_EQ(*parse_memory("256m"), 256u);
  EXPECT_EQ(*parse_memory("256MiB"), 256u);
  EXPECT_EQ(*parse_memory("1G"), 1024u);
  EXPECT_EQ(*parse_memory("2GiB"), 2048u);
  EXPECT_EQ(*parse_memory("262144K"), 256u);
  EXPECT_EQ(*parse_memory("512"), 512u);  // MiB without a unit
  EXPECT_EQ(*parse_memory("1T"), 1024u * 1024u);
}

TEST(VmMemory, BoundsAreInclusive) {
  EXPECT_EQ(*parse_memory("64M"), kMinVmMemoryMb);
  EXPECT_EQ(*parse_memory("65536K"), kMinVmMemoryMb);
  EXPECT_EQ(*parse_memory("1T"), kMaxVmMemoryMb);
  EXPECT_EQ(*parse_memory("1024G"), kMaxVmMemoryMb);
  EXPECT_EQ(memory_error("63M"), "memory '63M' is out of range 64M-1T");
  EXPECT_EQ(memory_error("63"), "memory '63' is out of range 64M-1T");
  EXPECT_EQ(memory_error("1025G"), "memory '1025G' is out of range 64M-1T");
  EXPECT_EQ(memory_error("2T"), "memory '2T' is out of range 64M-1T");
  EXPECT_EQ(memory_error("0"), "memory '0' is out of range 64M-1T");
}

TEST(VmMemory, RejectsWhatIsNotASize) {
  for (const char* bad : {"", "M", "256X", "256 M", " 256M", "-1G", "1.5G", "0x40G", "256MM", "G1", "1Gi"})
    EXPECT_EQ(memory_error(bad), "memory '" + std::string(bad) + "' is not a size (256M, 1G, or MiB)") << bad;
}

TEST(VmMemory, HugeNumbersAreErrorsNotOverflows) {
  // Beyond uint64_t: from_chars itself refuses.
  EXPECT_FALSE(parse_memory("99999999999999999999G").ok());
  EXPECT_NE(memory_error("99999999999999999999G").find("'99999999999999999999G'"), std::string::npos);
  // Within uint64_t but so large that multiplying by the unit would wrap
  // around into the valid range: (2^44 + 1) T -> 2^64 + 1T, (2^54 + 256) G
  // -> 2^64 + 256G.
  EXPECT_EQ(memory_error("17592186044417T"), "memory '17592186044417T' is out of range 64M-1T");
  EXPECT_EQ(memory_error("18014398509482240G"), "memory '18014398509482240G' is out of range 64M-1T");
  EXPECT_EQ(memory_error("17592186044416T"), "memory '17592186044416T' is out of range 64M-1T");  // 2^64 -> 0
  EXPECT_FALSE(parse_memory("18446744073709551615").ok());
  EXPECT_FALSE(parse_memory("18446744073709551615K").ok());
}

TEST(VmMemory, KibibytesMustMakeWholeMebibytes) {
  EXPECT_EQ(memory_error("1000K"), "memory '1000K' is not a whole number of MiB");
  EXPECT_EQ(memory_error("262145K"), "memory '262145K' is not a whole number of MiB");
  EXPECT_EQ(*parse_memory("263168K"), 257u);
}

TEST(VmMemory, FormatsInTheLargestWholeUnitAndParsesBack) {
  EXPECT_EQ(format_memory(256), "256M");
  EXPECT_EQ(format_memory(1024), "1G");
  EXPECT_EQ(format_memory(1536), "1536M");
  EXPECT_EQ(format_memory(2048), "2G");
  EXPECT_EQ(format_memory(1024 * 1024), "1T");
  EXPECT_EQ(format_memory(1024 * 1023), "1023G");
  for (uint64_t mb : {64u, 100u, 1024u, 1536u, 4096u, 1024u * 1024u})
    EXPECT_EQ(*parse_memory(format_memory(mb)), mb) << mb;
}

TEST(VmAccel, ParsesAndPrints) {
  EXPECT_EQ(*parse_accel("auto"), Accel::kAuto);
  EXPECT_EQ(*parse_accel("kvm"), Accel::kKvm);
  EXPECT_EQ(*parse_accel("tcg"), Accel::kTcg);
  EXPECT_EQ(std::string(to_string(Accel::kKvm)), "kvm");
  EXPECT_EQ(std::string(to_string(Accel::kTcg)), "tcg");
  EXPECT_EQ(std::string(to_string(Accel::kAuto)), "auto");
  auto bad = parse_accel("KVM");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message, "accel 'KVM' is not auto, kvm or tcg");
}

TEST(VmDefaultMac, IsStableUnicastAndQemusPrefix) {
  const std::string m = default_mac("vm01", 0);
  EXPECT_EQ(m, default_mac("vm01", 0));
  EXPECT_EQ(m.size(), 17u);
  EXPECT_EQ(m.rfind("52:54:00:", 0), 0u) << m;
  auto parsed = net::Mac::parse(m);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_FALSE(parsed->is_multicast());
  EXPECT_FALSE(parsed->is_zero());
  EXPECT_EQ(parsed->str(), m);  // canonical (lower case)
}

TEST(VmDefaultMac, DiffersByIndexAndByName) {
  std::set<std::string> macs;
  for (size_t i = 0; i < kMaxNics; ++i) macs.insert(default_mac("vm01", i));
  EXPECT_EQ(macs.size(), kMaxNics);
  EXPECT_NE(default_mac("vm01", 0), default_mac("vm02", 0));
  // "vm0" + "1/0" must not be "vm01" + "/0": the separator keeps them apart.
  EXPECT_NE(default_mac("vm0", 10), default_mac("vm01", 0));
}

TEST(VmNicId, ShortNamesArePlain) {
  EXPECT_EQ(nic_id("vm01", 0), "vm01-0");
  EXPECT_EQ(nic_id("vm01", 7), "vm01-7");
  EXPECT_EQ(nic_id("abcdefghij", 0), "abcdefghij-0");  // 12: "qbr" + 12 = 15 exactly
}

TEST(VmNicId, LongNamesFitTheKernelsLimit) {
  std::set<std::string> ids;
  for (const std::string vm : {"abcdefghijk", "longvmname01", "longvmname02", "abcdefghijklmno", "abcdefghijklmnp"}) {
    for (size_t i = 0; i < kMaxNics; ++i) {
      const std::string id = nic_id(vm, i);
      EXPECT_LE(("qbr" + id).size(), 15u) << vm << " " << i << " -> " << id;
      EXPECT_LE(("tap" + id).size(), 15u) << id;
      EXPECT_TRUE(check_name("qbr" + id).ok()) << id;
      EXPECT_EQ(id.substr(id.size() - 2), "-" + std::to_string(i)) << id;
      EXPECT_EQ(id, nic_id(vm, i));  // stable
      EXPECT_TRUE(ids.insert(id).second) << "duplicate " << id << " for " << vm << " " << i;
    }
  }
  EXPECT_EQ(nic_id("longvmname01", 0).rfind("longvm", 0), 0u);  // readable: the name's start
}

// A VM that passes check_vm: each test breaks one rule.
VmSpec good_vm() {
  VmSpec v;
  v.name = "vm01";
  v.nics.push_back({"br0", "tapvm01-0", default_mac("vm01", 0), "10.0.0.11/24", "10.0.0.1", false});
  v.nics.push_back({"br1", "tapvm01-1", default_mac("vm01", 1), "", "", false});
  return v;
}

TEST(CheckVm, AcceptsAGoodVm) {
  EXPECT_EQ(error_of(check_vm(good_vm())), "");
  VmSpec v = good_vm();
  v.machine = "pc";
  v.kernel = "/boot/vmlinuz";
  v.initrd = "/boot/initrd.img";
  v.cmdline = "quiet";
  v.memory_mb = kMaxVmMemoryMb;
  v.vcpus = kMaxVcpus;
  EXPECT_EQ(error_of(check_vm(v)), "");
  v.kernel = v.initrd = v.cmdline = "";
  v.disk = "/var/lib/vm01.qcow2";
  EXPECT_EQ(error_of(check_vm(v)), "");
  v.nics.clear();
  EXPECT_EQ(error_of(check_vm(v)), "");  // no NIC at all is allowed
}

TEST(CheckVm, Ranges) {
  VmSpec v = good_vm();
  v.memory_mb = 63;
  EXPECT_EQ(error_of(check_vm(v)), "vm 'vm01': memory 63M is out of range 64M-1T");
  v.memory_mb = kMaxVmMemoryMb + 1024;
  EXPECT_EQ(error_of(check_vm(v)), "vm 'vm01': memory 1025G is out of range 64M-1T");
  v = good_vm();
  v.vcpus = 0;
  EXPECT_EQ(error_of(check_vm(v)), "vm 'vm01': vcpus 0 is out of range 1-255");
  v.vcpus = 256;
  EXPECT_EQ(error_of(check_vm(v)), "vm 'vm01': vcpus 256 is out of range 1-255");
}

TEST(CheckVm, NameAndMachine) {
  VmSpec v = good_vm();
  v.name = "";
  EXPECT_NE(error_of(check_vm(v)).find("must be 1-15 characters long"), std::string::npos);
  v.name = "a/b";
  EXPECT_EQ(error_of(check_vm(v)), "vm 'a/b': name 'a/b' may only hold letters, digits, '-', '_' and '.'");
  v = good_vm();
  v.machine = "virt";
  EXPECT_EQ(error_of(check_vm(v)), "vm 'vm01': machine 'virt' is not q35 or pc");
}

TEST(CheckVm, BootKeys) {
  VmSpec v = good_vm();
  v.kernel = "/boot/vmlinuz";
  v.disk = "/var/lib/d.img";
  v.cmdline = "root=/dev/vda";
  EXPECT_EQ(error_of(check_vm(v)), "");  // a kernel booted directly with a root disk
  v = good_vm();
  v.initrd = "/boot/initrd.img";
  EXPECT_EQ(error_of(check_vm(v)), "vm 'vm01': 'initrd' needs 'kernel'");
  v = good_vm();
  v.disk = "/var/lib/d.img";
  v.cmdline = "quiet";
  EXPECT_EQ(error_of(check_vm(v)),
            "vm 'vm01': 'cmdline' applies to a kernel, not to a disk image (its boot loader has its own)");
  v = good_vm();
  v.cmdline = "quiet";  // with kvnet's guest image: allowed
  EXPECT_EQ(error_of(check_vm(v)), "");
  v.cmdline = "quiet\ninit=/bin/sh";
  EXPECT_EQ(error_of(check_vm(v)), "vm 'vm01': 'cmdline' must be one line");
}

TEST(CheckVm, PathsMustBeAbsolute) {
  VmSpec v = good_vm();
  v.kernel = "vmlinuz";
  EXPECT_EQ(error_of(check_vm(v)), "vm 'vm01': path 'vmlinuz' must be absolute");
  v.kernel = "/boot/vmlinuz";
  v.initrd = "./initrd.img";
  EXPECT_EQ(error_of(check_vm(v)), "vm 'vm01': path './initrd.img' must be absolute");
  v = good_vm();
  v.disk = "disks/d.qcow2";
  EXPECT_EQ(error_of(check_vm(v)), "vm 'vm01': path 'disks/d.qcow2' must be absolute");
}

TEST(CheckVm, AtMostEightNics) {
  VmSpec v = good_vm();
  v.nics.clear();
  for (size_t i = 0; i < kMaxNics; ++i)
    v.nics.push_back({"br0", "tapvm01-" + std::to_string(i), default_mac("vm01", i), "", "", false});
  EXPECT_EQ(error_of(check_vm(v)), "");
  v.nics.push_back({"br0", "tapvm01-8", default_mac("vm01", 8), "", "", false});
  EXPECT_EQ(error_of(check_vm(v)), "vm 'vm01': 9 NICs are more than 8");
}

TEST(CheckVm, NicRules) {
  VmSpec v = good_vm();
  v.nics[1].port = v.nics[0].port;
  EXPECT_EQ(error_of(check_vm(v)), "vm 'vm01': nic 1: port 'tapvm01-0' is nic 0's too");
  v = good_vm();
  v.nics[1].mac = v.nics[0].mac;
  EXPECT_EQ(error_of(check_vm(v)), "vm 'vm01': nic 1: mac " + v.nics[0].mac + " is nic 0's too");
  v = good_vm();
  v.nics[1].gw = "10.1.0.1";
  EXPECT_EQ(error_of(check_vm(v)), "vm 'vm01': nic 1: only one NIC may set the default route ('gw'); nic 0 does");
  v = good_vm();
  v.nics[1].bridge = "";
  EXPECT_EQ(error_of(check_vm(v)), "vm 'vm01': nic 1: needs a bridge and a port");
  v = good_vm();
  v.nics[0].port = "this-name-is-too-long";
  EXPECT_NE(error_of(check_vm(v)).find("vm 'vm01': nic 0: name 'this-name-is-too-long'"), std::string::npos);
  v = good_vm();
  v.nics[0].mac = "52:54:00:zz:00:01";
  EXPECT_EQ(error_of(check_vm(v)), "vm 'vm01': nic 0: mac '52:54:00:zz:00:01' is not a MAC address (aa:bb:cc:dd:ee:ff)");
  v.nics[0].mac = "01:00:5e:00:00:01";
  EXPECT_EQ(error_of(check_vm(v)), "vm 'vm01': nic 0: mac '01:00:5e:00:00:01' must be a unicast MAC");
  v.nics[0].mac = "00:00:00:00:00:00";
  EXPECT_EQ(error_of(check_vm(v)), "vm 'vm01': nic 0: mac '00:00:00:00:00:00' must be a unicast MAC");
  v = good_vm();
  v.nics[0].ip = "10.0.0.11";  // no prefix length
  EXPECT_EQ(error_of(check_vm(v)), "vm 'vm01': nic 0: ip '10.0.0.11' must be ADDRESS/PREFIX (e.g. 10.0.0.1/24)");
  v = good_vm();
  v.nics[0].gw = "10.0.0.300";
  EXPECT_EQ(error_of(check_vm(v)), "vm 'vm01': nic 0: '10.0.0.300' is not an IPv4 or IPv6 address");
}

TEST(VmFields, CanonicalSettingsOnlyWhatDiffersFromDefaults) {
  VmSpec v;
  v.name = "vm01";
  EXPECT_EQ(vm_fields(v), (Fields{{"memory", "256M"}, {"vcpus", "1"}}));
  v = good_vm();
  v.accel = Accel::kTcg;
  v.machine = "pc";
  v.kernel = "/k";
  v.initrd = "/i";
  v.cmdline = "quiet";
  v.autostart = true;
  v.nics[1].qbr = true;
  const Fields f = vm_fields(v);
  const Fields want{{"memory", "256M"},
                    {"vcpus", "1"},
                    {"accel", "tcg"},
                    {"machine", "pc"},
                    {"kernel", "/k"},
                    {"initrd", "/i"},
                    {"cmdline", "quiet"},
                    {"autostart", "true"},
                    {"nic0", "bridge=br0,port=tapvm01-0,mac=" + v.nics[0].mac + ",ip=10.0.0.11/24,gw=10.0.0.1"},
                    {"nic1", "bridge=br1,port=tapvm01-1,mac=" + v.nics[1].mac + ",qbr=yes"}};
  EXPECT_EQ(f, want);
}

// --- --nic ---

std::string nic_error(const std::string& text) {
  auto r = parse_nic_arg(text);
  return r.ok() ? "<ok>" : r.error().message;
}

TEST(NicArg, AllKeys) {
  auto r = parse_nic_arg("bridge=br0,port=vnet0,mac=52:54:00:AA:BB:0C,ip=10.0.0.2/24,gw=10.0.0.1,qbr=yes");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->nic.bridge, "br0");
  EXPECT_EQ(r->nic.port, "vnet0");
  EXPECT_EQ(r->nic.mac, "52:54:00:aa:bb:0c");  // canonical
  EXPECT_EQ(r->nic.ip, "10.0.0.2/24");
  EXPECT_EQ(r->nic.gw, "10.0.0.1");
  EXPECT_TRUE(r->nic.qbr);
  EXPECT_TRUE(r->port_settings.empty());
}

TEST(NicArg, OnlyTheBridgeIsNeeded) {
  auto r = parse_nic_arg("bridge=br0");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->nic.bridge, "br0");
  EXPECT_EQ(r->nic.port, "");  // derived by whoever adds the VM
  EXPECT_EQ(r->nic.mac, "");
  EXPECT_FALSE(r->nic.qbr);
  EXPECT_EQ(nic_error("port=vnet0"), "--nic 'port=vnet0': needs bridge=BR or network=NET");
  EXPECT_EQ(nic_error(""), "--nic '': '' is not KEY=VALUE");
}

TEST(NicArg, QbrIsYesOrNo) {
  for (const char* yes : {"yes", "true", "on", "1"}) EXPECT_TRUE(parse_nic_arg(std::string("bridge=b,qbr=") + yes)->nic.qbr);
  for (const char* no : {"no", "false", "off", "0"}) EXPECT_FALSE(parse_nic_arg(std::string("bridge=b,qbr=") + no)->nic.qbr);
  EXPECT_EQ(nic_error("bridge=b,qbr=maybe"), "--nic 'bridge=b,qbr=maybe': qbr 'maybe' is not yes or no");
}

TEST(NicArg, RefusesTypeBadMacAndEmptyValues) {
  EXPECT_EQ(nic_error("bridge=b,type=tap"), "--nic 'bridge=b,type=tap': a NIC's port is always the VM's TAP (no 'type')");
  EXPECT_EQ(nic_error("bridge=b,mac=52:54:00"), "--nic 'bridge=b,mac=52:54:00': mac '52:54:00' is not a MAC address (aa:bb:cc:dd:ee:ff)");
  EXPECT_EQ(nic_error("bridge="), "--nic 'bridge=': 'bridge' has no value");
  EXPECT_EQ(nic_error("bridge=b,pvid="), "--nic 'bridge=b,pvid=': 'pvid' has no value");
}

TEST(NicArg, PortKeysGoToThePortWithListsKeptWhole) {
  auto r = parse_nic_arg("bridge=br0,vlan_mode=trunk,allowed=10,20,30-40,pvid=5");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->nic.bridge, "br0");
  using S = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(r->port_settings, (S{{"vlan_mode", "trunk"}, {"allowed", "10,20,30-40"}, {"pvid", "5"}}));
  r = parse_nic_arg("bridge=br0,vlan_mode=hybrid,tagged=10,11,untagged=20,21,pvid=20");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->port_settings, (S{{"vlan_mode", "hybrid"}, {"tagged", "10,11"}, {"untagged", "20,21"}, {"pvid", "20"}}));
  r = parse_nic_arg("vlan_mode=dot1q-tunnel,cvlans=100,200,bridge=br0");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->port_settings, (S{{"vlan_mode", "dot1q-tunnel"}, {"cvlans", "100,200"}}));
}

TEST(NicArg, AStrayWordIsAnErrorAfterANonListKey) {
  EXPECT_EQ(nic_error("bridge=br0,vlan_mode=access,oops"), "--nic 'bridge=br0,vlan_mode=access,oops': 'oops' is not KEY=VALUE");
  EXPECT_EQ(nic_error("bridge=br0,10"), "--nic 'bridge=br0,10': '10' is not KEY=VALUE");
  EXPECT_EQ(nic_error("oops,bridge=br0"), "--nic 'oops,bridge=br0': 'oops' is not KEY=VALUE");
  // A list value may not have an empty item (a doubled or trailing comma).
  EXPECT_EQ(nic_error("bridge=br0,allowed=10,,20"), "--nic 'bridge=br0,allowed=10,,20': '' is not KEY=VALUE");
  EXPECT_EQ(nic_error("bridge=br0,allowed=10,"), "--nic 'bridge=br0,allowed=10,': '' is not KEY=VALUE");
}

}  // namespace
}  // namespace kvnet::ctl

namespace kvnet::ctl {
namespace {

TEST(CheckVm, ImageOverlayAndCloudInitKeys) {
  VmSpec v = good_vm();
  v.image = "debian-12";
  v.disk = "/var/lib/kvnet/disks/vm01.qcow2";
  v.disk_size_mb = 8192;
  v.cmdline = "quiet";  // words for the image's kernel
  v.ssh_keys = {"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHh0 me@host"};
  v.user_data = "#cloud-config\n";
  EXPECT_EQ(error_of(check_vm(v)), "");
  EXPECT_TRUE(v.has_seed());
  EXPECT_FALSE(v.uses_guest_image());
  v.image = "a/b";
  EXPECT_EQ(error_of(check_vm(v)), "vm 'vm01': image name 'a/b': only letters, digits, '.', '_' and '-'");
  v = good_vm();
  v.disk_size_mb = 1024;
  EXPECT_EQ(error_of(check_vm(v)), "vm 'vm01': 'disk_size' is the size of an image's overlay: it needs 'image'");
  v = good_vm();
  v.ssh_keys = {"ssh-ed25519 AAAA"};
  EXPECT_EQ(error_of(check_vm(v)),
            "vm 'vm01': 'ssh_keys' and 'user_data' go to cloud-init in the guest: they need 'image' or 'disk'");
  v.disk = "/d.img";
  v.ssh_keys = {"ssh-ed25519 AAAA\nssh-rsa BBBB"};
  EXPECT_EQ(error_of(check_vm(v)), "vm 'vm01': an ssh key is one non-empty line");
  v.ssh_keys = {};
  v.user_data = std::string(kMaxUserDataBytes + 1, 'x');
  EXPECT_EQ(error_of(check_vm(v)), "vm 'vm01': 'user_data' is larger than 1 MiB");
}

TEST(DiskSize, UnitsAndRange) {
  EXPECT_EQ(*parse_disk_size("8G"), 8192u);
  EXPECT_EQ(*parse_disk_size("512M"), 512u);
  EXPECT_EQ(*parse_disk_size("1T"), 1024u * 1024);
  EXPECT_EQ(*parse_disk_size("2048"), 2048u);
  EXPECT_EQ(*parse_disk_size("1048576K"), 1024u);
  EXPECT_EQ(parse_disk_size("0").error().message, "disk size '0' is out of range 1M-64T");
  EXPECT_EQ(parse_disk_size("65T").error().message, "disk size '65T' is out of range 1M-64T");
  EXPECT_EQ(parse_disk_size("99999999999999999999").error().message, "disk size '99999999999999999999' is not a size (8G, 512M, or MiB)");
  EXPECT_EQ(parse_disk_size("8X").error().message, "disk size '8X' is not a size (8G, 512M, or MiB)");
  EXPECT_EQ(parse_disk_size("1000K").error().message, "disk size '1000K' is not a whole number of MiB");
}

TEST(VmYaml, ImageKeysRoundTrip) {
  VmSpec v = good_vm();
  v.image = "debian-12";
  v.disk = "/var/lib/kvnet/disks/vm01.qcow2";
  v.disk_size_mb = 8192;
  v.ssh_keys = {"ssh-ed25519 AAAAC3Nz me@host", "ssh-rsa AAAAB3Nz other: with colon"};
  v.user_data = "#cloud-config\nruncmd:\n  - [\"echo\", \"hi: there\"]\n";
  const std::string y = vm_to_yaml(v);
  auto back = parse_vm(y);
  ASSERT_TRUE(back) << back.error().message << "\n" << y;
  EXPECT_EQ(*back, v) << y;
  // Plan lines tell keys and user-data apart without printing them whole.
  bool key = false, ud = false;
  for (const auto& f : vm_fields(v)) {
    if (f.key == "ssh_key1") key = f.value.rfind("ssh-rsa ", 0) == 0 && f.value.ends_with(" other: with colon");
    if (f.key == "user_data") ud = f.value.find(std::to_string(v.user_data.size()) + " bytes") == 0;
  }
  EXPECT_TRUE(key);
  EXPECT_TRUE(ud);
}

}  // namespace
}  // namespace kvnet::ctl
