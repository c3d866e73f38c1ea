// A container's DHCP client: the script kvnetd gives udhcpc, run by sh with
// a fake `ip` (it records its arguments), and the lease record it writes.
#include "daemon/ct_dhcp.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace kvnet::daemon {
namespace {

namespace fs = std::filesystem;

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct ScriptRun : ::testing::Test {
  std::string dir;
  void SetUp() override {
    dir = fs::temp_directory_path() / ("kvnet_ct_dhcp_" + std::to_string(getpid()));
    fs::create_directories(dir + "/bin");
    // `ip` records its calls; `ip -o addr show` answers with what was added.
    std::ofstream(dir + "/bin/ip") << "#!/bin/sh\n"
                                      "echo \"ip $*\" >>'" + dir + "/calls'\n"
                                      "[ \"$3\" = addr ] && [ \"$4\" = show ] && cat '" + dir + "/addrs' 2>/dev/null\n"
                                      "exit 0\n";
    fs::permissions(dir + "/bin/ip", fs::perms::owner_all);
    std::ofstream(dir + "/script") << udhcpc_script("c1", dir + "/lease");
  }
  void TearDown() override { fs::remove_all(dir); }
  int run(const std::string& event, const std::string& env) {
    const std::string cmd = "env PATH='" + dir + "/bin:/usr/bin:/bin' interface=eth0 " + env + " sh '" + dir +
                            "/script' " + event + " >/dev/null 2>&1";
    return std::system(cmd.c_str());
  }
  std::string calls() { return slurp(dir + "/calls"); }
};

TEST_F(ScriptRun, BoundSetsTheAddressAndRouteAndRecordsTheLease) {
  ASSERT_EQ(run("bound", "ip=10.0.0.150 mask=24 broadcast=10.0.0.255 router='10.0.0.1 10.0.0.2' serverid=10.0.0.1 "
                         "lease=3600 dns=10.0.0.1"),
            0);
  const std::string c = calls();
  EXPECT_NE(c.find("ip addr add 10.0.0.150/24 broadcast 10.0.0.255 dev eth0"), std::string::npos) << c;
  EXPECT_NE(c.find("ip route replace default via 10.0.0.1 dev eth0"), std::string::npos) << c;
  const CtLease l = parse_ct_lease(slurp(dir + "/lease"));
  EXPECT_EQ(l.ip, "10.0.0.150/24");
  EXPECT_EQ(l.router, "10.0.0.1");
  EXPECT_EQ(l.server, "10.0.0.1");
  EXPECT_EQ(l.dns, "10.0.0.1");
  EXPECT_EQ(l.lease_s, 3600);
  EXPECT_GT(l.obtained, 1600000000);
}

TEST_F(ScriptRun, ARenewOfTheSameAddressKeepsIt) {
  std::ofstream(dir + "/addrs") << "2: eth0    inet 10.0.0.150/24 brd 10.0.0.255 scope global eth0\n";
  ASSERT_EQ(run("renew", "ip=10.0.0.150 mask=24 serverid=10.0.0.1 lease=3600"), 0);
  const std::string c = calls();
  EXPECT_EQ(c.find("flush"), std::string::npos) << c;
  EXPECT_EQ(c.find("addr add"), std::string::npos) << c;
  EXPECT_EQ(c.find("route"), std::string::npos) << c;  // no router in the lease
  EXPECT_EQ(parse_ct_lease(slurp(dir + "/lease")).ip, "10.0.0.150/24");
}

TEST_F(ScriptRun, DeconfigFlushesAndForgetsTheLease) {
  std::ofstream(dir + "/lease") << "ip=10.0.0.150/24\n";
  ASSERT_EQ(run("deconfig", ""), 0);
  EXPECT_NE(calls().find("ip -4 addr flush dev eth0"), std::string::npos) << calls();
  EXPECT_FALSE(fs::exists(dir + "/lease"));
}

TEST(CtLease, ParsesTheRecordAndIgnoresTheRest) {
  const CtLease l = parse_ct_lease("ip=10.1.0.5/16\nrouter=\nnonsense\nlease=60\nobtained=1700000000\n");
  EXPECT_EQ(l.ip, "10.1.0.5/16");
  EXPECT_EQ(l.router, "");
  EXPECT_EQ(l.lease_s, 60);
  EXPECT_EQ(l.obtained, 1700000000);
  EXPECT_EQ(parse_ct_lease("").ip, "");
}

TEST(CtDhcpScript, QuotesItsPath) {
  const std::string s = udhcpc_script("c1", "/var/lib/it's/lease");
  EXPECT_NE(s.find("lease_file='/var/lib/it'\\''s/lease'"), std::string::npos) << s;
}

}  // namespace
}  // namespace kvnet::daemon
