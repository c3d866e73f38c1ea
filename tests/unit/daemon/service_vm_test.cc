// kvnetd's VM verbs without a VM host: definitions go through the one
// configuration path (validate, plan, apply, store); running them is refused.
// As service_test.cc: a fake opener, a real SQLite store in a temp dir, the
// datapath inline.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "ctl/kinds/patch.h"
#include "daemon/service.h"
#include "daemon/service_fixture.h"
#include "testing.h"

namespace kvnet::daemon {
using namespace kvnet::ctl;
namespace {

namespace fs = std::filesystem;

class ServiceVmTest : public ServiceFixture {
 protected:

  // Two switches to put NICs on.
  void bridges() {
    ok({{"cmd", "add-br"}, {"bridge", "br0"}});
    ok({{"cmd", "add-br"}, {"bridge", "br1"}});
    ok({{"cmd", "add-port"}, {"bridge", "br0"}, {"port", "p1"}});
  }
  json vm_add(const std::string& name, const std::vector<std::string>& nics, json extra = json::object()) {
    json req = {{"cmd", "vm-add"}, {"name", name}, {"nics", nics}};
    for (auto it = extra.begin(); it != extra.end(); ++it) req[it.key()] = it.value();
    return ok(req);
  }

};

TEST_F(ServiceVmTest, AddCreatesTheNicPortsWithTheirVlanSettings) {
  bridges();
  json r = vm_add("vm01", {"bridge=br0,vlan_mode=access,pvid=10", "bridge=br1,vlan_mode=trunk,allowed=10,20-22,pvid=10"},
                  {{"memory", "512M"}, {"vcpus", 2}});
  EXPECT_EQ(r["changes"], json::array({"+ port br0/tapvm01-0", "+ port br1/tapvm01-1", "+ vm vm01"})) << r.dump();
  EXPECT_EQ(r["vm"]["name"], "vm01");
  EXPECT_EQ(r["vm"]["state"], "stopped");
  EXPECT_EQ(r["vm"]["memory"], "512M");
  EXPECT_EQ(r["vm"]["vcpus"], 2);

  const BridgeSpec* b = nullptr;
  const PortSpec* p0 = config().find_port("tapvm01-0", &b);
  ASSERT_NE(p0, nullptr);
  EXPECT_EQ(b->name, "br0");
  EXPECT_EQ(std::string(p0->kind->name()), "system");
  EXPECT_EQ(p0->vlan.mode, dp::VlanMode::kAccess);
  EXPECT_EQ(p0->vlan.pvid, 10);
  const PortSpec* p1 = config().find_port("tapvm01-1", &b);
  ASSERT_NE(p1, nullptr);
  EXPECT_EQ(b->name, "br1");
  EXPECT_EQ(p1->vlan.mode, dp::VlanMode::kTrunk);
  ASSERT_TRUE(p1->vlan.allowed.has_value());
  EXPECT_EQ(dp::vlan_set_str(*p1->vlan.allowed), "10,20-22");

  ASSERT_EQ(config().vms.size(), 1u);
  const VmSpec& vm = config().vms[0];
  EXPECT_EQ(vm.memory_mb, 512u);
  EXPECT_EQ(vm.vcpus, 2u);
  ASSERT_EQ(vm.nics.size(), 2u);
  EXPECT_EQ(vm.nics[0], (NicSpec{"br0", "tapvm01-0", default_mac("vm01", 0), "", "", false}));
  EXPECT_EQ(vm.nics[1].mac, default_mac("vm01", 1));

  // In the datapath, with the VLAN settings, but parked: the TAP comes with the VM.
  ASSERT_NE(dp().find_port("br0/tapvm01-0"), nullptr);
  EXPECT_EQ(dp().find_port("tapvm01-0")->vlan.config().pvid, 10);
  EXPECT_TRUE(dp().find_port("tapvm01-1")->vlan.member(21));
  EXPECT_FALSE(dp().find_port("tapvm01-1")->vlan.member(11));
  EXPECT_EQ(opened_.count("tapvm01-0") + opened_.count("tapvm01-1"), 0u);
  ASSERT_EQ(main_.svc->vanished().count("tapvm01-0"), 1u);
  EXPECT_EQ(main_.svc->vanished().at("tapvm01-0"), "vm 'vm01' is not running");
}

TEST_F(ServiceVmTest, NicKeysAndPortName) {
  bridges();
  vm_add("vm01", {"bridge=br0,port=vnet7,mac=52:54:00:AB:CD:EF,ip=10.0.0.11/24,gw=10.0.0.1"},
         {{"kernel", "/boot/vmlinuz"}, {"cmdline", "quiet"}, {"accel", "tcg"}, {"machine", "pc"}, {"autostart", true}});
  ASSERT_EQ(config().vms.size(), 1u);
  const VmSpec& vm = config().vms[0];
  EXPECT_EQ(vm.nics[0], (NicSpec{"br0", "vnet7", "52:54:00:ab:cd:ef", "10.0.0.11/24", "10.0.0.1", false}));
  EXPECT_EQ(vm.kernel, "/boot/vmlinuz");
  EXPECT_EQ(vm.cmdline, "quiet");
  EXPECT_EQ(vm.accel, Accel::kTcg);
  EXPECT_EQ(vm.machine, "pc");
  EXPECT_TRUE(vm.autostart);
  EXPECT_NE(config().find_port("br0/vnet7"), nullptr);
  EXPECT_EQ(config().find_port("tapvm01-0"), nullptr);
}

TEST_F(ServiceVmTest, QbrBuildsTheHubAndThePatchPair) {
  bridges();
  json r = vm_add("vm01", {"bridge=br0,qbr=yes,vlan_mode=access,pvid=10"});
  // The hub, its two ports, the qvo end on br0.
  const BridgeSpec* qbr = config().find_bridge("qbrvm01-0");
  ASSERT_NE(qbr, nullptr) << r.dump();
  EXPECT_EQ(qbr->type, dp::BridgeType::kHub);
  ASSERT_EQ(qbr->ports.size(), 2u);
  EXPECT_EQ(qbr->ports[0].name, "tapvm01-0");
  EXPECT_EQ(std::string(qbr->ports[0].kind->name()), "system");
  EXPECT_EQ(qbr->ports[1].name, "qvbvm01-0");
  const auto* qvb = qbr->ports[1].as<PatchOptions>();
  ASSERT_NE(qvb, nullptr);
  EXPECT_EQ(qvb->peer_bridge, "br0");
  EXPECT_EQ(qvb->peer_port, "qvovm01-0");
  const BridgeSpec* b = nullptr;
  const PortSpec* qvo = config().find_port("qvovm01-0", &b);
  ASSERT_NE(qvo, nullptr);
  EXPECT_EQ(b->name, "br0");
  ASSERT_NE(qvo->as<PatchOptions>(), nullptr);
  EXPECT_EQ(qvo->as<PatchOptions>()->peer_bridge, "qbrvm01-0");
  EXPECT_EQ(qvo->as<PatchOptions>()->peer_port, "qvbvm01-0");
  EXPECT_EQ(qvo->vlan.mode, dp::VlanMode::kAccess);  // the NIC's VLAN settings are qvo's
  EXPECT_EQ(qvo->vlan.pvid, 10);
  // The NIC is on its hub.
  ASSERT_EQ(config().vms.size(), 1u);
  EXPECT_EQ(config().vms[0].nics[0], (NicSpec{"qbrvm01-0", "tapvm01-0", default_mac("vm01", 0), "", "", true}));
  // In the datapath: the patch pair is connected.
  ASSERT_NE(dp().find_port("qvovm01-0"), nullptr);
  ASSERT_NE(dp().find_port("qvbvm01-0"), nullptr);
  EXPECT_EQ(dp().find_port("qvovm01-0")->peer, dp().find_port("qvbvm01-0"));
  EXPECT_EQ(dp().find_port("qvovm01-0")->vlan.config().pvid, 10);
  EXPECT_NE(dp().find_bridge("qbrvm01-0"), nullptr);
}

TEST_F(ServiceVmTest, LongNamesGiveDeviceNamesTheKernelTakes) {
  bridges();
  vm_add("a-long-vm-name1", {"bridge=br0,qbr=yes", "bridge=br1"});
  ASSERT_EQ(config().vms.size(), 1u);
  for (const auto& n : config().vms[0].nics) {
    EXPECT_LE(n.port.size(), 15u) << n.port;
    EXPECT_LE(n.bridge.size(), 15u) << n.bridge;
  }
  EXPECT_EQ(config().vms[0].nics[0].bridge, "qbr" + nic_id("a-long-vm-name1", 0));
}

TEST_F(ServiceVmTest, ListShowsTheVmStoppedWithItsNics) {
  bridges();
  EXPECT_EQ(ok({{"cmd", "vm-list"}}), json::array());
  vm_add("vm01", {"bridge=br0,ip=10.0.0.11/24,gw=10.0.0.1", "bridge=br1,qbr=yes"});
  json list = ok({{"cmd", "vm-list"}});
  ASSERT_EQ(list.size(), 1u) << list.dump();
  const json& v = list[0];
  EXPECT_EQ(v["name"], "vm01");
  EXPECT_EQ(v["state"], "stopped");
  EXPECT_EQ(v["pid"], 0);
  EXPECT_EQ(v["memory"], "256M");
  EXPECT_EQ(v["vcpus"], 1);
  EXPECT_EQ(v["accel"], "auto");
  EXPECT_EQ(v["boot"], "guest image");
  ASSERT_EQ(v["nics"].size(), 2u);
  EXPECT_EQ(v["nics"][0]["index"], 0);
  EXPECT_EQ(v["nics"][0]["bridge"], "br0");
  EXPECT_EQ(v["nics"][0]["port"], "tapvm01-0");
  EXPECT_EQ(v["nics"][0]["mac"], default_mac("vm01", 0));
  EXPECT_EQ(v["nics"][0]["ip"], "10.0.0.11/24");
  EXPECT_EQ(v["nics"][0]["gw"], "10.0.0.1");
  EXPECT_EQ(v["nics"][0]["qbr"], false);
  EXPECT_EQ(v["nics"][0]["attached"], false);  // no TAP while stopped
  EXPECT_EQ(v["nics"][1]["bridge"], "qbrvm01-1");
  EXPECT_EQ(v["nics"][1]["qbr"], true);
  json show = ok({{"cmd", "vm-show"}, {"name", "vm01"}});
  EXPECT_EQ(show["name"], "vm01");
  EXPECT_EQ(show["nics"], v["nics"]);
  EXPECT_EQ(err({{"cmd", "vm-show"}, {"name", "vm09"}}), "vm 'vm09' does not exist");
}

TEST_F(ServiceVmTest, BadRequestsChangeNothing) {
  bridges();
  vm_add("vm01", {"bridge=br0"});
  const std::string before = exported();
  struct Case {
    json req;
    std::string error;
  };
  const std::vector<Case> cases = {
      {{{"cmd", "vm-add"}, {"name", "vm01"}, {"nics", {"bridge=br1"}}}, "vm 'vm01' already exists"},
      {{{"cmd", "vm-add"}, {"name", "vm02"}, {"nics", {"bridge=nope"}}}, "vm 'vm02': nic 0: bridge 'nope' does not exist"},
      {{{"cmd", "vm-add"}, {"name", "vm02"}, {"nics", {"bridge=br1", "bridge=nope"}}},
       "vm 'vm02': nic 1: bridge 'nope' does not exist"},  // the first NIC is not left behind
      {{{"cmd", "vm-add"}, {"name", "vm02"}, {"nics", {"bridge=br0,qbr=maybe"}}},
       "vm 'vm02': nic 0: --nic 'bridge=br0,qbr=maybe': qbr 'maybe' is not yes or no"},
      {{{"cmd", "vm-add"}, {"name", "vm02"}, {"nics", {"bridge=br0,type=tap"}}},
       "vm 'vm02': nic 0: --nic 'bridge=br0,type=tap': a NIC's port is always the VM's TAP (no 'type')"},
      {{{"cmd", "vm-add"}, {"name", "vm02"}, {"nics", {"port=x"}}}, "vm 'vm02': nic 0: --nic 'port=x': needs bridge=BR"},
      {{{"cmd", "vm-add"}, {"name", "vm02"}, {"nics", {"bridge=br0,vlan_mode=access,oops"}}},
       "vm 'vm02': nic 0: --nic 'bridge=br0,vlan_mode=access,oops': 'oops' is not KEY=VALUE"},
      {{{"cmd", "vm-add"}, {"name", "vm02"}, {"nics", {"bridge=br0,pvid=4095"}}},
       "vm 'vm02': nic 0: bridge 'br0': port 'tapvm02-0': pvid 4095 is out of range 1-4094"},
      {{{"cmd", "vm-add"}, {"name", "vm02"}, {"nics", {"bridge=br0,qbr=yes,pvid=4095"}}},
       "vm 'vm02': nic 0: bridge 'br0': port 'qvovm02-0': pvid 4095 is out of range 1-4094"},
      {{{"cmd", "vm-add"}, {"name", "vm02"}, {"nics", {"bridge=br0,port=p1"}}}, "vm 'vm02': nic 0: port 'p1' already exists"},
      {{{"cmd", "vm-add"}, {"name", "vm02"}, {"nics", {"bridge=br0,port=tapvm01-0"}}},
       "vm 'vm02': nic 0: port 'tapvm01-0' already exists"},
      {{{"cmd", "vm-add"}, {"name", "vm02"}, {"nics", {"bridge=br0,mac=01:00:5e:00:00:01"}}},
       "vm 'vm02': nic 0: mac '01:00:5e:00:00:01' must be a unicast MAC"},
      {{{"cmd", "vm-add"}, {"name", "vm02"}, {"nics", {"bridge=br0,gw=10.0.0.1", "bridge=br1,gw=10.0.1.1"}}},
       "vm 'vm02': nic 1: only one NIC may set the default route ('gw'); nic 0 does"},
      {{{"cmd", "vm-add"}, {"name", "vm02"}, {"nics", {"bridge=br0", "bridge=br1,mac=" + default_mac("vm01", 0)}}},
       "mac " + default_mac("vm01", 0) + " is used by vm 'vm01' too"},
      {{{"cmd", "vm-add"}, {"name", "vm02"}, {"memory", "10M"}}, "vm 'vm02': memory '10M' is out of range 64M-1T"},
      {{{"cmd", "vm-add"}, {"name", "vm02"}, {"vcpus", 0}}, "argument 'vcpus' 0 is out of range 1-255"},
      {{{"cmd", "vm-add"}, {"name", "vm02"}, {"accel", "xen"}}, "vm 'vm02': accel 'xen' is not auto, kvm or tcg"},
      {{{"cmd", "vm-add"}, {"name", "vm02"}, {"kernel", "vmlinuz"}}, "vm 'vm02': path 'vmlinuz' must be absolute"},
      {{{"cmd", "vm-add"}, {"name", "vm02"}, {"image", "deb"}, {"disk", "/d"}}, "vm 'vm02': give --image or --disk, not both"},
      {{{"cmd", "vm-add"}, {"name", "vm02"}, {"disk_size", "8Q"}}, "vm 'vm02': disk size '8Q' is not a size (8G, 512M, or MiB)"},
      {{{"cmd", "vm-add"}, {"name", "bad/name"}}, "vm 'bad/name': name 'bad/name' may only hold letters, digits, '-', '_' and '.'"},
      {{{"cmd", "vm-add"}, {"name", "vm02"}, {"nics", "bridge=br0"}}, "argument 'nics' must be a list of strings"},
      {{{"cmd", "vm-add"}}, "missing argument 'name'"},
  };
  for (const auto& c : cases) {
    const std::string e = err(c.req);
    EXPECT_NE(e.find(c.error), std::string::npos) << c.req.dump() << "\n got: " << e << "\nwant: " << c.error;
    EXPECT_EQ(exported(), before) << c.req.dump();
  }
  // 'qbr' bridge and port names already taken.
  ok({{"cmd", "add-br"}, {"bridge", "qbrvm02-0"}, {"options", {{"type", "hub"}}}});
  const std::string before2 = exported();
  EXPECT_EQ(err({{"cmd", "vm-add"}, {"name", "vm02"}, {"nics", {"bridge=br0,qbr=yes"}}}),
            "vm 'vm02': nic 0: bridge 'qbrvm02-0' already exists");
  EXPECT_EQ(exported(), before2);
  ok({{"cmd", "del-br"}, {"bridge", "qbrvm02-0"}});
  ok({{"cmd", "add-port"}, {"bridge", "br1"}, {"port", "qvovm02-0"}});
  EXPECT_EQ(err({{"cmd", "vm-add"}, {"name", "vm02"}, {"nics", {"bridge=br0,qbr=yes"}}}),
            "vm 'vm02': nic 0: port 'qvovm02-0' already exists");
  ok({{"cmd", "del-port"}, {"port", "qvovm02-0"}});
  EXPECT_EQ(exported(), before);
  EXPECT_EQ(dp().find_port("tapvm02-0"), nullptr);
  EXPECT_EQ(dp().find_port("qvovm02-0"), nullptr);
  EXPECT_EQ(config().vms.size(), 1u);
}

TEST_F(ServiceVmTest, NicPortsAndBridgesBelongToTheVm) {
  bridges();
  vm_add("vm01", {"bridge=br0", "bridge=br1,qbr=yes"});
  const std::string before = exported();
  EXPECT_EQ(err({{"cmd", "del-port"}, {"port", "tapvm01-0"}}),
            "port 'tapvm01-0' belongs to vm 'vm01' (its NIC or qbr patch pair): use 'vm del vm01'");
  EXPECT_EQ(err({{"cmd", "del-port"}, {"port", "tapvm01-1"}}),
            "port 'tapvm01-1' belongs to vm 'vm01' (its NIC or qbr patch pair): use 'vm del vm01'");
  EXPECT_EQ(err({{"cmd", "del-br"}, {"bridge", "br0"}}),
            "bridge 'br0' has port 'tapvm01-0' of vm 'vm01': 'vm del vm01' first");
  EXPECT_EQ(err({{"cmd", "del-br"}, {"bridge", "qbrvm01-1"}}),
            "bridge 'qbrvm01-1' has port 'tapvm01-1' of vm 'vm01': 'vm del vm01' first");
  // The qbr patch pair is the VM's too: neither end may go alone, nor the
  // bridge that holds the qvo end.
  EXPECT_EQ(err({{"cmd", "del-port"}, {"port", "qvbvm01-1"}}),
            "port 'qvbvm01-1' belongs to vm 'vm01' (its NIC or qbr patch pair): use 'vm del vm01'");
  EXPECT_EQ(err({{"cmd", "del-port"}, {"port", "qvovm01-1"}}),
            "port 'qvovm01-1' belongs to vm 'vm01' (its NIC or qbr patch pair): use 'vm del vm01'");
  EXPECT_EQ(err({{"cmd", "del-br"}, {"bridge", "br1"}}),
            "bridge 'br1' has port 'qvovm01-1' of vm 'vm01': 'vm del vm01' first");
  // Nor may another port join the hub.
  EXPECT_NE(err({{"cmd", "add-port"}, {"bridge", "qbrvm01-1"}, {"port", "intruder"}}).find("besides the NIC's and its patch"),
            std::string::npos);
  EXPECT_EQ(exported(), before);
}

TEST_F(ServiceVmTest, DelRemovesTheVmItsPortsAndItsQbrLayout) {
  bridges();
  vm_add("vm01", {"bridge=br0,pvid=10", "bridge=br1,qbr=yes,pvid=20"});
  vm_add("vm02", {"bridge=br0,qbr=yes"});
  json r = ok({{"cmd", "vm-del"}, {"name", "vm01"}});
  const std::vector<std::string> changes = r["changes"];
  for (const char* line : {"- port br0/tapvm01-0", "- port br1/qvovm01-1", "- port qbrvm01-1/tapvm01-1",
                           "- port qbrvm01-1/qvbvm01-1", "- bridge qbrvm01-1", "- vm vm01"})
    EXPECT_NE(std::find(changes.begin(), changes.end(), line), changes.end()) << line << " in " << r.dump();
  EXPECT_EQ(changes.size(), 6u) << r.dump();
  EXPECT_EQ(config().find_bridge("qbrvm01-1"), nullptr);
  for (const char* p : {"tapvm01-0", "tapvm01-1", "qvbvm01-1", "qvovm01-1"}) {
    EXPECT_EQ(config().find_port(p), nullptr) << p;
    EXPECT_EQ(dp().find_port(p), nullptr) << p;
    EXPECT_EQ(main_.svc->vanished().count(p), 0u) << p;
  }
  EXPECT_EQ(dp().find_bridge("qbrvm01-1"), nullptr);
  // The other VM and its layout stay.
  ASSERT_EQ(config().vms.size(), 1u);
  EXPECT_EQ(config().vms[0].name, "vm02");
  EXPECT_NE(config().find_bridge("qbrvm02-0"), nullptr);
  EXPECT_NE(config().find_port("qvovm02-0"), nullptr);
  EXPECT_NE(config().find_port("p1"), nullptr);
  // The names are free again.
  vm_add("vm01", {"bridge=br0", "bridge=br1,qbr=yes"});
  EXPECT_EQ(err({{"cmd", "vm-del"}, {"name", "vm09"}}), "vm 'vm09' does not exist");
}

TEST_F(ServiceVmTest, DelRemovesStaticEntriesOfItsPorts) {
  bridges();
  vm_add("vm01", {"bridge=br0,pvid=10"});
  ok({{"cmd", "fdb-add"}, {"bridge", "br0"}, {"vlan", 10}, {"mac", default_mac("vm01", 0)}, {"port", "tapvm01-0"}});
  ok({{"cmd", "vm-del"}, {"name", "vm01"}});
  EXPECT_TRUE(config().find_bridge("br0")->fdb.empty());
}

TEST_F(ServiceVmTest, RunningVerbsSayVmsAreNotRunHere) {
  bridges();
  vm_add("vm01", {"bridge=br0"});
  for (const char* cmd : {"vm-start", "vm-stop", "vm-kill", "vm-restart", "vm-console"})
    EXPECT_EQ(err({{"cmd", cmd}, {"name", "vm01"}}), "this kvnetd does not run VMs") << cmd;
  EXPECT_EQ(err({{"cmd", "vm-start"}}), "missing argument 'name'");
}

TEST_F(ServiceVmTest, CommandsTableHasTheVmVerbs) {
  std::set<std::string> names;
  for (const auto& c : Service::commands()) names.insert(c.name);
  for (const char* v : {"vm-add", "vm-del", "vm-start", "vm-stop", "vm-kill", "vm-restart", "vm-list", "vm-show", "vm-console"})
    EXPECT_EQ(names.count(v), 1u) << v;
}

TEST_F(ServiceVmTest, VmsSurviveARestart) {
  bridges();
  vm_add("vm01", {"bridge=br0,vlan_mode=access,pvid=10", "bridge=br1,qbr=yes"}, {{"memory", "1G"}});
  const std::string before = exported();
  const Topology cfg = config();
  main_.reset();
  main_ = make(dir_ / "a");
  EXPECT_EQ(exported(), before);
  EXPECT_EQ(config().vms, cfg.vms);
  // Restored parked, not opened.
  EXPECT_EQ(main_.svc->vanished().count("tapvm01-0"), 1u);
  EXPECT_EQ(opened_.count("tapvm01-0"), 0u);
  EXPECT_EQ(dp().find_port("qvovm01-1")->peer, dp().find_port("qvbvm01-1"));
}

TEST_F(ServiceVmTest, ExportHasTheVmsAndAppliesOntoAFreshKvnetd) {
  bridges();
  vm_add("vm01", {"bridge=br0,vlan_mode=access,pvid=10,ip=10.0.0.11/24", "bridge=br1,qbr=yes"},
         {{"memory", "1G"}, {"kernel", "/boot/vmlinuz"}, {"cmdline", "quiet x=\"1 2\""}});
  vm_add("vm02", {"bridge=br0"});
  const std::string y = exported();
  EXPECT_NE(y.find("\nvms:\n"), std::string::npos) << y;
  EXPECT_NE(y.find("name: vm01"), std::string::npos) << y;

  Instance fresh = make(dir_ / "b");
  json r = ok({{"cmd", "apply"}, {"yaml", y}}, &fresh);
  const std::vector<std::string> changes = r["changes"];
  EXPECT_NE(std::find(changes.begin(), changes.end(), "+ vm vm01"), changes.end()) << r.dump();
  EXPECT_NE(std::find(changes.begin(), changes.end(), "+ vm vm02"), changes.end()) << r.dump();
  EXPECT_EQ(exported(&fresh), y);
  EXPECT_EQ(fresh.svc->config().vms, config().vms);
  EXPECT_EQ(fresh.svc->vanished().count("tapvm01-0"), 1u);  // parked there too
  // Applying it again changes nothing.
  EXPECT_FALSE(ok({{"cmd", "apply"}, {"yaml", y}}, &fresh)["changed"].get<bool>());
}

TEST_F(ServiceVmTest, ApplyWithoutAVmsSectionKeepsTheVms) {
  bridges();
  vm_add("vm01", {"bridge=br0"});
  const std::string y = exported();
  const auto at = y.find("vms:\n");
  ASSERT_NE(at, std::string::npos) << y;
  const std::string without = y.substr(0, at);
  json r = ok({{"cmd", "apply"}, {"yaml", without}});
  EXPECT_FALSE(r["changed"].get<bool>()) << r.dump();
  EXPECT_EQ(ok({{"cmd", "vm-list"}}).size(), 1u);
  EXPECT_EQ(exported(), y);
  // Leaving out the NIC's port without the section is refused, naming the VM.
  const std::string no_port = "bridges:\n  - {name: br0, ports: [{name: p1, type: system}]}\n  - {name: br1}\n";
  EXPECT_NE(err({{"cmd", "apply"}, {"yaml", no_port}}).find("vm 'vm01': nic 0: port 'tapvm01-0'"), std::string::npos);
  // A dry run of a changed VM lists it.
  const std::string bigger = y.substr(0, y.find("memory: 256M")) + "memory: 512M" + y.substr(y.find("memory: 256M") + 12);
  json dry = ok({{"cmd", "apply"}, {"yaml", bigger}, {"dry_run", true}});
  EXPECT_EQ(dry["changes"], json::array({"~ vm vm01 memory 256M->512M"}));
  EXPECT_EQ(config().vms[0].memory_mb, 256u);
  // An empty section removes them.
  r = ok({{"cmd", "apply"}, {"yaml", without + "vms: []\n"}});
  EXPECT_EQ(r["changes"], json::array({"- vm vm01"}));
  EXPECT_TRUE(config().vms.empty());
}

}  // namespace
}  // namespace kvnet::daemon
