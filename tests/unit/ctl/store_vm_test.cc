// The store keeps VMs (one row each, the flow map vm_to_yaml writes) and
// gives them back validated, in order.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>

#include "ctl/store.h"
#include "ctl/topology.h"

namespace kvnet::ctl {
namespace {

namespace fs = std::filesystem;

const char* kTopo = R"(bridges:
  - name: br0
    ports:
      - {name: vnet0, type: system, vlan_mode: access, pvid: 10}
      - {name: vnet1, type: system}
      - {name: qvo0, type: patch, peer: qbr0/qvb0, vlan_mode: trunk, allowed: [10, 20]}
  - name: qbr0
    type: hub
    ports:
      - {name: tap0, type: system}
      - {name: qvb0, type: patch, peer: br0/qvo0}
vms:
  - name: zz-last
    memory: 2G
    vcpus: 3
    accel: kvm
    machine: pc
    kernel: /boot/vmlinuz
    initrd: /boot/initrd.img
    cmdline: "quiet x=\"a b\" #c"
    autostart: true
    nics:
      - {bridge: br0, port: vnet0, mac: "52:54:00:00:00:01", ip: 10.0.0.11/24, gw: 10.0.0.1}
      - {bridge: qbr0, port: tap0, qbr: true, ip: "fd00::11/64"}
  - name: aa-first
    disk: /var/lib/kvnet/aa.qcow2
    nics: [{bridge: br0, port: vnet1}]
  - name: no-nics
)";

class StoreVms : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("kvnet-store-vm-" + std::to_string(getpid()) + "-" +
                                              ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string db() const { return (dir_ / "kvnet.db").string(); }
  fs::path dir_;
};

TEST_F(StoreVms, SaveAndLoadGiveTheSameVmsInOrder) {
  auto t = parse_topology(kTopo, "", "/");
  ASSERT_TRUE(t.ok()) << t.error().message;
  ASSERT_EQ(t->vms.size(), 3u);
  {
    auto st = Store::open(db());
    ASSERT_TRUE(st.ok()) << st.error().message;
    auto s = (*st)->save(*t);
    ASSERT_TRUE(s.ok()) << s.error().message;
  }
  auto st = Store::open(db());  // a fresh connection: nothing cached
  ASSERT_TRUE(st.ok()) << st.error().message;
  auto back = (*st)->load();
  ASSERT_TRUE(back.ok()) << back.error().message;
  ASSERT_EQ(back->vms.size(), 3u);
  EXPECT_EQ(back->vms[0].name, "zz-last");  // the configuration's order, not the names'
  EXPECT_EQ(back->vms[1].name, "aa-first");
  EXPECT_EQ(back->vms, t->vms);
  EXPECT_EQ(to_yaml(*back), to_yaml(*t));
}

TEST_F(StoreVms, SavingReplacesTheVms) {
  auto t = parse_topology(kTopo, "", "/");
  ASSERT_TRUE(t.ok()) << t.error().message;
  auto st = Store::open(db());
  ASSERT_TRUE(st.ok()) << st.error().message;
  ASSERT_TRUE((*st)->save(*t).ok());
  t->vms.erase(t->vms.begin());
  t->vms[0].memory_mb = 4096;
  ASSERT_TRUE((*st)->save(*t).ok());
  auto back = (*st)->load();
  ASSERT_TRUE(back.ok()) << back.error().message;
  ASSERT_EQ(back->vms.size(), 2u);
  EXPECT_EQ(back->vms[0].memory_mb, 4096u);
  EXPECT_EQ(back->vms, t->vms);
  t->vms.clear();
  ASSERT_TRUE((*st)->save(*t).ok());
  back = (*st)->load();
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_TRUE(back->vms.empty());
}

TEST_F(StoreVms, AVmRowThatBreaksTheRulesFailsTheLoad) {
  auto t = parse_topology(kTopo, "", "/");
  ASSERT_TRUE(t.ok()) << t.error().message;
  {
    auto st = Store::open(db());
    ASSERT_TRUE(st.ok());
    ASSERT_TRUE((*st)->save(*t).ok());
  }
  // Edited by hand: a NIC on a port that does not exist.
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(db().c_str(), &raw), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw,
                         "UPDATE vms SET spec = '{name: no-nics, nics: [{bridge: br0, port: ghost}]}' "
                         "WHERE name = 'no-nics'",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(raw);
  auto st = Store::open(db());
  ASSERT_TRUE(st.ok());
  auto back = (*st)->load();
  ASSERT_FALSE(back.ok());
  EXPECT_NE(back.error().message.find("stored configuration is invalid"), std::string::npos) << back.error().message;
  EXPECT_NE(back.error().message.find("port 'ghost' is not a port of bridge 'br0'"), std::string::npos)
      << back.error().message;
}

}  // namespace
}  // namespace kvnet::ctl
