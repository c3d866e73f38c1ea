// io::open_tap, the one TUNSETIFF of kvnet (TAP ports and VM NICs): real
// TAP interfaces, so root and /dev/net/tun are needed.
#include "io/tap.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "io/netdev.h"

namespace kvnet::io {
namespace {

class TapOpenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0 || ::access("/dev/net/tun", R_OK | W_OK) != 0) GTEST_SKIP() << "needs root and /dev/net/tun";
  }
  const std::string name_ = "kvtap" + std::to_string(getpid() % 1000000);
};

TEST_F(TapOpenTest, CreatesAttachesAndGoesWithItsLastFd) {
  ASSERT_FALSE(if_exists(name_));
  auto a = open_tap(name_, {.must_create = true});
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_TRUE(a->created);
  EXPECT_TRUE(if_exists(name_));
  // A VM's NIC must be new: an existing interface of its name is an error.
  auto again = open_tap(name_, {.must_create = true});
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().message,
            "interface '" + name_ + "' exists already (another VM's NIC, or this VM is still running)");
  ::close(a->fd);
  EXPECT_FALSE(if_exists(name_)) << "a TAP nobody holds and nobody made persistent stays";
}

TEST_F(TapOpenTest, BadNames) {
  EXPECT_EQ(open_tap("", {}).error().message, "tap name '' is invalid");
  EXPECT_FALSE(open_tap("a-name-of-16-chr", {}).ok());
}

TEST_F(TapOpenTest, TheBackendAndAVmNicShareIt) {
  auto b = TapBackend::open(name_, TapLife::kWithPort);
  ASSERT_TRUE(b.ok()) << b.error().message;
  EXPECT_TRUE(if_exists(name_));
  b->reset();
  EXPECT_FALSE(if_exists(name_));
}

}  // namespace
}  // namespace kvnet::io
