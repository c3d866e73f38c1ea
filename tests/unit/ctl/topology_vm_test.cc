// The `vms:` section of a topology: parsing, the rules that involve other
// objects (bridges, ports, containers, other VMs), and writing it back.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "ctl/topology.h"
#include "testing.h"

namespace kvnet::ctl {
namespace {

namespace fs = std::filesystem;

const char* kBridges = R"(bridges:
  - name: br0
    ports:
      - {name: vnet0, type: system, vlan_mode: access, pvid: 10}
      - {name: vnet1, type: system}
      - {name: vnet2, type: system}
      - {name: ct-web, type: system}
      - {name: a1, type: internal}
      - {name: qvo0, type: patch, peer: qbr0/qvb0, vlan_mode: access, pvid: 20}
  - name: qbr0
    type: hub
    ports:
      - {name: tap0, type: system}
      - {name: qvb0, type: patch, peer: br0/qvo0}
containers:
  - {name: web, bridge: br0, port: ct-web}
)";

const char* kVms = R"(vms:
  - name: vm01
    memory: 512M
    vcpus: 2
    accel: tcg
    machine: pc
    kernel: boot/vmlinuz
    initrd: /abs/initrd.img
    cmdline: "quiet loglevel=3"
    autostart: true
    nics:
      - {bridge: br0, port: vnet0, mac: "52:54:00:AA:00:01", ip: 10.0.0.11/24, gw: 10.0.0.1}
      - {bridge: qbr0, port: tap0, qbr: true}
  - name: vm02
    disk: disks/vm02.qcow2
    nics:
      - {bridge: br0, port: vnet1}
)";

std::string doc(const std::string& vms) { return std::string(kBridges) + vms; }

// The 1-based line of the first line of `yaml` that holds `what`.
int line_of(const std::string& yaml, const std::string& what) {
  const auto at = yaml.find(what);
  EXPECT_NE(at, std::string::npos) << what;
  return 1 + static_cast<int>(std::count(yaml.begin(), yaml.begin() + static_cast<std::ptrdiff_t>(at), '\n'));
}

std::string replace(std::string s, const std::string& from, const std::string& to) {
  const auto at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return s.replace(at, from.size(), to);
}

std::string error_of(const std::string& yaml) {
  auto r = parse_topology(yaml, "t.yaml", "/base");
  return r.ok() ? "<ok>" : r.error().message;
}

// The error names the file and the line of `at` in `yaml`, then `what`.
void expect_error_at(const std::string& yaml, const std::string& at, const std::string& what) {
  const std::string e = error_of(yaml);
  const std::string prefix = "t.yaml:" + std::to_string(line_of(yaml, at)) + ":";
  EXPECT_EQ(e.rfind(prefix, 0), 0u) << "want " << prefix << " ... in: " << e;
  EXPECT_NE(e.find(what), std::string::npos) << "want '" << what << "' in: " << e;
}

TEST(TopologyVms, ParsesAndValidates) {
  const std::string y = doc(kVms);
  auto r = parse_topology(y, "t.yaml", "/base");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->has_vms);
  ASSERT_EQ(r->vms.size(), 2u);
  const VmSpec& a = r->vms[0];
  EXPECT_EQ(a.name, "vm01");
  EXPECT_EQ(a.memory_mb, 512u);
  EXPECT_EQ(a.vcpus, 2u);
  EXPECT_EQ(a.accel, Accel::kTcg);
  EXPECT_EQ(a.machine, "pc");
  EXPECT_EQ(a.kernel, "/base/boot/vmlinuz");  // relative to the file's directory
  EXPECT_EQ(a.initrd, "/abs/initrd.img");
  EXPECT_EQ(a.cmdline, "quiet loglevel=3");
  EXPECT_TRUE(a.autostart);
  EXPECT_EQ(a.line, line_of(y, "name: vm01"));
  EXPECT_EQ(a.col, 5);
  ASSERT_EQ(a.nics.size(), 2u);
  EXPECT_EQ(a.nics[0], (NicSpec{"br0", "vnet0", "52:54:00:aa:00:01", "10.0.0.11/24", "10.0.0.1", false}));
  EXPECT_EQ(a.nics[1], (NicSpec{"qbr0", "tap0", default_mac("vm01", 1), "", "", true}));
  const VmSpec& b = r->vms[1];
  EXPECT_EQ(b.name, "vm02");
  EXPECT_EQ(b.memory_mb, 256u);  // defaults
  EXPECT_EQ(b.vcpus, 1u);
  EXPECT_EQ(b.accel, Accel::kAuto);
  EXPECT_EQ(b.machine, "q35");
  EXPECT_FALSE(b.autostart);
  EXPECT_EQ(b.disk, "/base/disks/vm02.qcow2");
  EXPECT_FALSE(b.uses_guest_image());
  ASSERT_EQ(b.nics.size(), 1u);
  EXPECT_EQ(b.nics[0].mac, default_mac("vm02", 0));
}

TEST(TopologyVms, ANicOnANetworkMeetsBrIntThroughItsOwnTap) {
  // Read only (parse_document): br-int and the TAP are the cluster
  // wiring's to make (daemon/cluster_wiring.h).
  auto r = parse_document("bridges: []\nvms:\n  - {name: v1, nics: [{network: blue}, {network: red, port: t2, ip: 10.0.0.5/24}]}\n",
                          "t.yaml", "/base");
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->vms.at(0).nics.size(), 2u);
  const NicSpec& a = r->vms[0].nics[0];
  EXPECT_EQ(a.network, "blue");
  EXPECT_EQ(a.bridge, "br-int");
  EXPECT_EQ(a.port, "tap" + nic_id("v1", 0));
  EXPECT_EQ(r->vms[0].nics[1].port, "t2");
  EXPECT_EQ(r->vms[0].nics[1].ip, "10.0.0.5/24");
  // Without a network, a NIC still names its bridge and port.
  auto e = parse_document("bridges: []\nvms:\n  - {name: v1, nics: [{port: t1}]}\n", "t.yaml", "/base");
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.error().message.find("needs 'bridge' and 'port'"), std::string::npos) << e.error().message;
}

TEST(TopologyVms, ADocumentWithoutVmsHasNone) {
  auto r = parse_topology(kBridges, "t.yaml", "/base");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_FALSE(r->has_vms);
  EXPECT_TRUE(r->vms.empty());
  r = parse_topology(doc("vms: []\n"), "t.yaml", "/base");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->has_vms);  // an empty section is a section: apply removes every VM
  EXPECT_TRUE(r->vms.empty());
}

TEST(TopologyVms, UnknownKeysAreErrorsAtTheirLine) {
  std::string y = doc(replace(kVms, "    vcpus: 2\n", "    vcpus: 2\n    colour: red\n"));
  expect_error_at(y, "colour: red", "vm 'vm01': unknown key 'colour' in a vm (known: name, memory");
  y = doc(replace(kVms, "{bridge: br0, port: vnet1}", "{bridge: br0, port: vnet1, vlan: 10}"));
  expect_error_at(y, "vlan: 10", "vm 'vm02': unknown key 'vlan' in a NIC (known: bridge, port, mac, ip, gw, qbr, network)");
  y = doc("vm:\n  - {name: vm01}\n");
  expect_error_at(y, "vm:", "unknown key 'vm' in the topology");
}

TEST(TopologyVms, ValuesAreCheckedAtTheirLine) {
  expect_error_at(doc(replace(kVms, "memory: 512M", "memory: 512X")), "memory: 512X",
                  "vm 'vm01': memory '512X' is not a size (256M, 1G, or MiB)");
  expect_error_at(doc(replace(kVms, "vcpus: 2", "vcpus: 0")), "vcpus: 0", "vm 'vm01': vcpus 0 is out of range 1-255");
  expect_error_at(doc(replace(kVms, "accel: tcg", "accel: hvf")), "accel: hvf",
                  "vm 'vm01': accel 'hvf' is not auto, kvm or tcg");
  expect_error_at(doc(replace(kVms, "autostart: true", "autostart: maybe")), "autostart: maybe",
                  "vm 'vm01': autostart 'maybe' must be true or false");
  expect_error_at(doc(replace(kVms, "mac: \"52:54:00:AA:00:01\"", "mac: \"52:54:00:AA:00\"")), "52:54:00:AA:00\"",
                  "vm 'vm01': mac '52:54:00:AA:00' is not a MAC address");
  expect_error_at(doc(replace(kVms, "{bridge: br0, port: vnet1}", "{bridge: br0}")), "{bridge: br0}",
                  "vm 'vm02': nic 0 needs 'bridge' and 'port'");
  expect_error_at(doc("vms:\n  - {memory: 1G}\n"), "{memory: 1G}", "a vm needs a 'name'");
  expect_error_at(doc("vms: {name: vm01}\n"), "{name: vm01}", "'vms' must be a list");
  // Rules of the VM on its own are reported at the VM.
  expect_error_at(doc(replace(kVms, "    disk: disks/vm02.qcow2\n", "    disk: d.img\n    disk_size: 8G\n")),
                  "name: vm02", "vm 'vm02': 'disk_size' is the size of an image's overlay: it needs 'image'");
  expect_error_at(doc(replace(kVms, "machine: pc", "machine: virt")), "name: vm01",
                  "vm 'vm01': machine 'virt' is not q35 or pc");
  expect_error_at(doc(replace(kVms, "{bridge: br0, port: vnet1}", "{bridge: br0, port: vnet1, gw: 10.0.0.999}")),
                  "name: vm02", "vm 'vm02': nic 0: '10.0.0.999' is not an IPv4 or IPv6 address");
}

TEST(TopologyVms, NicsMustNameSystemPortsOfExistingBridges) {
  expect_error_at(doc(replace(kVms, "{bridge: br0, port: vnet1}", "{bridge: nope, port: vnet1}")), "name: vm02",
                  "vm 'vm02': nic 0: bridge 'nope' does not exist");
  expect_error_at(doc(replace(kVms, "{bridge: br0, port: vnet1}", "{bridge: br0, port: vnet9}")), "name: vm02",
                  "vm 'vm02': nic 0: port 'vnet9' is not a port of bridge 'br0'");
  expect_error_at(doc(replace(kVms, "{bridge: br0, port: vnet1}", "{bridge: qbr0, port: vnet1}")), "name: vm02",
                  "vm 'vm02': nic 0: port 'vnet1' is not a port of bridge 'qbr0'");
  expect_error_at(doc(replace(kVms, "{bridge: br0, port: vnet1}", "{bridge: br0, port: a1}")), "name: vm02",
                  "vm 'vm02': nic 0: port 'a1' must be a system port (the VM's TAP), not internal");
  expect_error_at(doc(replace(kVms, "{bridge: br0, port: vnet1}", "{bridge: br0, port: qvo0}")), "name: vm02",
                  "vm 'vm02': nic 0: port 'qvo0' must be a system port (the VM's TAP), not patch");
}

TEST(TopologyVms, APortHasOneOwner) {
  expect_error_at(doc(replace(kVms, "{bridge: br0, port: vnet1}", "{bridge: br0, port: ct-web}")), "name: vm02",
                  "vm 'vm02': nic 0: port 'ct-web' belongs to container 'web' too");
  expect_error_at(doc(replace(kVms, "{bridge: br0, port: vnet1}", "{bridge: br0, port: vnet0}")), "name: vm02",
                  "vm 'vm02': nic 0: port 'vnet0' belongs to vm 'vm01' too");
}

TEST(TopologyVms, NamesAndMacsAreUnique) {
  std::string y = doc(replace(kVms, "name: vm02", "name: vm01"));
  const std::string e = error_of(y);
  const int second = line_of(y, "disk: disks") - 1;
  EXPECT_EQ(e.rfind("t.yaml:" + std::to_string(second) + ":", 0), 0u) << e;
  EXPECT_NE(e.find("duplicate vm name 'vm01'"), std::string::npos) << e;
  expect_error_at(doc(replace(kVms, "{bridge: br0, port: vnet1}", "{bridge: br0, port: vnet1, mac: \"52:54:00:aa:00:01\"}")),
                  "name: vm02", "vm 'vm02': nic 0: mac 52:54:00:aa:00:01 is used by vm 'vm01' too");
  // The same MAC written differently is the same MAC.
  expect_error_at(doc(replace(kVms, "{bridge: br0, port: vnet1}", "{bridge: br0, port: vnet1, mac: \"52-54-00-AA-00-01\"}")),
                  "name: vm02", "mac 52:54:00:aa:00:01 is used by vm 'vm01' too");
}

TEST(TopologyVms, QbrBridgeIsAHubWithTheNicAndOnePatch) {
  // qbr on a switch.
  expect_error_at(doc(replace(kVms, "{bridge: br0, port: vnet1}", "{bridge: br0, port: vnet1, qbr: true}")),
                  "name: vm02", "vm 'vm02': nic 0: qbr: bridge 'br0' must be a hub (the NIC's own qbr bridge)");
  // Another port on the hub.
  std::string y = replace(doc(kVms), "      - {name: tap0, type: system}\n",
                          "      - {name: tap0, type: system}\n      - {name: extra, type: system}\n");
  expect_error_at(y, "name: vm01", "vm 'vm01': nic 1: qbr: bridge 'qbr0' has port 'extra' besides the NIC's and its patch");
  // No patch on the hub.
  y = std::string(kBridges) + R"(  - name: hub1
    type: hub
    ports:
      - {name: tap1, type: system}
vms:
  - name: vm03
    nics: [{bridge: hub1, port: tap1, qbr: yes}]
)";
  y = replace(y, "containers:\n  - {name: web, bridge: br0, port: ct-web}\n", "");
  expect_error_at(y, "name: vm03", "vm 'vm03': nic 0: qbr: bridge 'hub1' needs exactly one patch port (qvb)");
  // Two patches.
  y = std::string(R"(bridges:
  - name: br0
    ports:
      - {name: qvo0, type: patch, peer: qbr0/qvb0}
      - {name: qvo1, type: patch, peer: qbr0/qvb1}
  - name: qbr0
    type: hub
    ports:
      - {name: tap0, type: system}
      - {name: qvb0, type: patch, peer: br0/qvo0}
      - {name: qvb1, type: patch, peer: br0/qvo1}
vms:
  - name: vm01
    nics: [{bridge: qbr0, port: tap0, qbr: true}]
)");
  expect_error_at(y, "name: vm01", "vm 'vm01': nic 0: qbr: bridge 'qbr0' needs exactly one patch port (qvb)");
  // The same hub without qbr: nothing to check.
  EXPECT_EQ(error_of(replace(y, "qbr: true", "qbr: false")), "<ok>");
}

TEST(TopologyVms, RelativePathsAreResolvedAgainstTheFilesDirectory) {
  const std::string y = doc(replace(replace(kVms, "initrd: /abs/initrd.img", "initrd: ../images/initrd.img"),
                                    "disk: disks/vm02.qcow2", "disk: ./disks/../vm02.img"));
  auto r = parse_topology(y, "t.yaml", "/srv/topo");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->vms[0].kernel, "/srv/topo/boot/vmlinuz");
  EXPECT_EQ(r->vms[0].initrd, "/srv/images/initrd.img");
  EXPECT_EQ(r->vms[1].disk, "/srv/topo/vm02.img");
}

class TopologyVmFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("kvnet-topovm-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "sub");
    std::ofstream(dir_ / "sub" / "t.yaml") << doc(kVms);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(TopologyVmFile, LoadedByAbsolutePath) {
  const fs::path file = fs::absolute(dir_ / "sub" / "t.yaml");
  auto r = load_topology(file.string());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->vms[0].kernel, (file.parent_path() / "boot/vmlinuz").lexically_normal().string());
  EXPECT_EQ(r->vms[1].disk, (file.parent_path() / "disks/vm02.qcow2").lexically_normal().string());
}

TEST_F(TopologyVmFile, LoadedByRelativePath) {
  // `kvnet validate sub/t.yaml`: the VM's paths must still come out absolute
  // (check_vm refuses relative ones), pointing next to the file.
  const fs::path rel = fs::relative(dir_ / "sub" / "t.yaml", fs::current_path());
  ASSERT_TRUE(rel.is_relative()) << rel;
  auto r = load_topology(rel.string());
  ASSERT_TRUE(r.ok()) << r.error().message;
  const fs::path want = fs::weakly_canonical(dir_ / "sub" / "boot" / "vmlinuz");
  EXPECT_TRUE(fs::path(r->vms[0].kernel).is_absolute()) << r->vms[0].kernel;
  EXPECT_EQ(fs::weakly_canonical(r->vms[0].kernel), want);
}

TEST(TopologyVms, ExportParsesBackToTheSameVms) {
  auto t = parse_topology(doc(kVms), "t.yaml", "/base");
  ASSERT_TRUE(t.ok()) << t.error().message;
  const std::string y = to_yaml(*t);
  EXPECT_NE(y.find("\nvms:\n"), std::string::npos) << y;
  auto t2 = parse_topology(y, "export.yaml", "/elsewhere");
  ASSERT_TRUE(t2.ok()) << t2.error().message << "\n" << y;
  EXPECT_EQ(t2->vms, t->vms);
  EXPECT_EQ(to_yaml(*t2), y);
  // Without VMs there is no section (an apply of it leaves VMs alone).
  t->vms.clear();
  EXPECT_EQ(to_yaml(*t).find("vms:"), std::string::npos);
}

VmSpec tricky_vm() {
  VmSpec v;
  v.name = "vm.a_1";
  v.memory_mb = 1536;
  v.vcpus = 4;
  v.accel = Accel::kKvm;
  v.machine = "pc";
  v.kernel = "/boot/vmlinuz #1";
  v.initrd = "/boot/initrd: x";
  v.cmdline = "quiet init=/bin/sh foo=\"a b\" x: #y 'q' \\ [z] {w}";
  v.autostart = true;
  v.nics.push_back({"br0", "tap0", "52:54:00:00:00:01", "10.0.0.2/24", "10.0.0.1", false});
  v.nics.push_back({"qbrvm-1", "tap1", "52:54:00:00:00:02", "fd00::2/64", "", true});
  return v;
}

TEST(TopologyVms, FlowMapRoundTrip) {
  for (VmSpec v : {tricky_vm(), VmSpec{.name = "plain"}}) {
    const std::string y = vm_to_yaml(v);
    EXPECT_EQ(y.find('\n'), std::string::npos) << "one line: " << y;
    auto back = parse_vm(y);
    ASSERT_TRUE(back.ok()) << back.error().message << "\n" << y;
    EXPECT_EQ(*back, v) << y;
    EXPECT_EQ(back->line, 0);
    EXPECT_EQ(vm_to_yaml(*back), y);
  }
  VmSpec d = tricky_vm();
  d.kernel = d.initrd = d.cmdline = "";
  d.disk = "/var/lib/kvnet/d.qcow2";
  auto back = parse_vm(vm_to_yaml(d));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(*back, d);
}

TEST(TopologyVms, NamesThatReadAsOtherTypesRoundTrip) {
  for (const char* name : {"null", "true", "no", "1", "0x10", "1e3"}) {
    VmSpec v;
    v.name = name;
    v.nics.push_back({"null", "true", default_mac(name, 0), "", "", false});
    auto back = parse_vm(vm_to_yaml(v));
    ASSERT_TRUE(back.ok()) << name << ": " << back.error().message << "\n" << vm_to_yaml(v);
    EXPECT_EQ(*back, v) << vm_to_yaml(v);
  }
}

TEST(TopologyVms, ParseVmErrorsCarryNoLocation) {
  auto r = parse_vm("{name: vm01, bogus: 1}");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message.rfind("vm 'vm01': unknown key 'bogus' in a vm", 0), 0u) << r.error().message;
  r = parse_vm("{name: vm01, memory: 1M}");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "vm 'vm01': memory '1M' is out of range 64M-1T");
  r = parse_vm("{name: vm01");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message.rfind("invalid YAML", 0), 0u) << r.error().message;
}

}  // namespace
}  // namespace kvnet::ctl
