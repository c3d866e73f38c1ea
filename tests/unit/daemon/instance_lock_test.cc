// One kvnetd per database/socket/pidfile: a held lock refuses a second taker
// with the holder's PID, and is free again once released.
#include "daemon/instance_lock.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace kvnet::daemon {
namespace {

namespace fs = std::filesystem;

class InstanceLockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("kvnet-lock-" + std::to_string(getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(InstanceLockTest, ASecondTakerIsRefusedWithTheHoldersPid) {
  const auto path = (dir_ / "kvnet.db.lock").string();
  auto first = InstanceLock::acquire(path, "database 'kvnet.db'");
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_EQ(lock_holder(path), getpid());
  auto second = InstanceLock::acquire(path, "database 'kvnet.db'");
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.error().message.find("database 'kvnet.db' is in use by kvnetd PID " + std::to_string(getpid())),
            std::string::npos)
      << second.error().message;
  first->release();
  auto third = InstanceLock::acquire(path, "database 'kvnet.db'");
  EXPECT_TRUE(third.ok()) << third.error().message;
}

TEST_F(InstanceLockTest, APidfileIsNotOverwrittenByASecondTakerAndRemovedByItsHolder) {
  const auto path = (dir_ / "kvnetd.pid").string();
  auto first = InstanceLock::acquire(path, "pidfile");
  ASSERT_TRUE(first.ok());
  std::string content;
  std::getline(std::ifstream(path), content);
  EXPECT_EQ(content, std::to_string(getpid()));
  EXPECT_FALSE(InstanceLock::acquire(path, "pidfile").ok());
  std::getline(std::ifstream(path), content);
  EXPECT_EQ(content, std::to_string(getpid()));
  first->remove_and_release();
  EXPECT_FALSE(fs::exists(path));
}

TEST_F(InstanceLockTest, AStalePidOfAGoneProcessDoesNotBlock) {
  const auto path = (dir_ / "stale.lock").string();
  std::ofstream(path) << "999999999\n";  // no such process, no lock held
  auto l = InstanceLock::acquire(path, "database 'x'");
  ASSERT_TRUE(l.ok()) << l.error().message;
  EXPECT_EQ(lock_holder(path), getpid());
}

}  // namespace
}  // namespace kvnet::daemon
