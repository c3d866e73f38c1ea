// The dashboard's rules before the control loop: its address, the token file,
// the token's comparison, and which Host and Origin headers name it.
#include "daemon/http_policy.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

namespace kvnet::daemon {
namespace {

std::string err(const Result<HttpAddress>& r) { return r ? "" : r.error().message; }

TEST(HttpPolicyTest, AddressesDefaultToLoopback) {
  auto a = parse_http_address("8080");
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 8080);
  a = parse_http_address(":9000");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->text(), "127.0.0.1:9000");
  a = parse_http_address("0.0.0.0:80");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "0.0.0.0");
  a = parse_http_address("[::1]:8080");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "::1");
  EXPECT_EQ(a->text(), "[::1]:8080");
  a = parse_http_address("localhost:0");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->port, 0);
}

TEST(HttpPolicyTest, BadAddressesNameTheRule) {
  EXPECT_NE(err(parse_http_address("127.0.0.1:99999")).find("port '99999' is not a number from 0 to 65535"), std::string::npos);
  EXPECT_NE(err(parse_http_address("127.0.0.1:")).find("no port"), std::string::npos);
  EXPECT_NE(err(parse_http_address("127.0.0.1")).find("no port"), std::string::npos);
  EXPECT_NE(err(parse_http_address("::1:80")).find("an IPv6 address goes in brackets"), std::string::npos);
  EXPECT_NE(err(parse_http_address("[1.2.3.4]:80")).find("is not an IPv6 address"), std::string::npos);
  EXPECT_NE(err(parse_http_address("a b:80")).find("is not an IP address or a host name"), std::string::npos);
  EXPECT_NE(err(parse_http_address("[::1:80")).find("not ADDR:PORT"), std::string::npos);
  EXPECT_NE(err(parse_http_address("h:8o")).find("--http 'h:8o'"), std::string::npos);
}

class TokenFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kvnet-token-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }
  std::string write(const std::string& content, mode_t mode) {
    const std::string p = dir_ + "/token";
    std::ofstream(p) << content;
    chmod(p.c_str(), mode);
    return p;
  }
  static std::string err(const Result<std::string>& r) { return r ? "" : r.error().message; }
  std::string dir_;
};

TEST_F(TokenFileTest, ReadsTheSecretWithoutItsNewline) {
  auto t = read_token_file(write("  s3cret-Token\n", 0600));
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(*t, "s3cret-Token");
  t = read_token_file(write("abc", 0640));  // the group may read it (a kvnet group)
  ASSERT_TRUE(t);
}

TEST_F(TokenFileTest, RefusesFilesEveryoneReadsOrWrites) {
  const auto p = write("secret\n", 0644);
  EXPECT_NE(err(read_token_file(p)).find("'" + p + "': the file is readable by everyone (mode 0644)"), std::string::npos);
  EXPECT_NE(err(read_token_file(write("secret\n", 0602))).find("writable by everyone (mode 0602)"), std::string::npos);
}

TEST_F(TokenFileTest, RefusesEmptyMissingAndOddFiles) {
  EXPECT_NE(err(read_token_file(write("", 0600))).find("the file is empty"), std::string::npos);
  EXPECT_NE(err(read_token_file(write(" \n\t\n", 0600))).find("the file is empty"), std::string::npos);
  EXPECT_NE(err(read_token_file(dir_ + "/none")).find("cannot open: No such file or directory"), std::string::npos);
  chmod(dir_.c_str(), 0700);
  EXPECT_NE(err(read_token_file(dir_)).find("not a regular file"), std::string::npos);
  EXPECT_NE(err(read_token_file(write("two words", 0600))).find("holds a space"), std::string::npos);
  EXPECT_NE(err(read_token_file(write(std::string(5000, 'x'), 0600))).find("larger than 4096 bytes"), std::string::npos);
}

TEST(HttpPolicyTest, TokensCompareWhole) {
  EXPECT_TRUE(token_equal("abc", "abc"));
  EXPECT_FALSE(token_equal("abd", "abc"));
  EXPECT_FALSE(token_equal("ab", "abc"));
  EXPECT_FALSE(token_equal("abcd", "abc"));
  EXPECT_FALSE(token_equal("", "abc"));
  EXPECT_FALSE(token_equal("", ""));  // no token configured never matches
  EXPECT_FALSE(token_equal(std::string("abc\0", 4), "abc"));
}

TEST(HttpPolicyTest, BearerTokens) {
  EXPECT_EQ(bearer_token("Bearer abc"), "abc");
  EXPECT_EQ(bearer_token("bearer   abc "), "abc");
  EXPECT_EQ(bearer_token("Basic abc"), "");
  EXPECT_EQ(bearer_token("Bearer"), "");
  EXPECT_EQ(bearer_token(""), "");
}

TEST(HttpPolicyTest, HostMustNameThisServer) {
  const std::vector<std::string> names{"0.0.0.0", "kvhost"};
  EXPECT_TRUE(host_allowed("127.0.0.1:8080", 8080, names));
  EXPECT_TRUE(host_allowed("192.168.1.5:8080", 8080, names));
  EXPECT_TRUE(host_allowed("[::1]:8080", 8080, names));
  EXPECT_TRUE(host_allowed("localhost:8080", 8080, names));
  EXPECT_TRUE(host_allowed("KVHOST:8080", 8080, names));
  EXPECT_TRUE(host_allowed("127.0.0.1", 80, names));
  EXPECT_FALSE(host_allowed("127.0.0.1", 8080, names));
  EXPECT_FALSE(host_allowed("127.0.0.1:8081", 8080, names));
  EXPECT_FALSE(host_allowed("evil.example:8080", 8080, names));  // DNS rebinding
  EXPECT_FALSE(host_allowed("", 8080, names));
  EXPECT_FALSE(host_allowed("[kvhost]:8080", 8080, names));
  EXPECT_FALSE(host_allowed("127.0.0.1:80x", 80, names));
}

TEST(HttpPolicyTest, OriginMustBeTheDashboards) {
  EXPECT_TRUE(origin_allowed("", "127.0.0.1:8080"));
  EXPECT_TRUE(origin_allowed("http://127.0.0.1:8080", "127.0.0.1:8080"));
  EXPECT_FALSE(origin_allowed("http://evil.example", "127.0.0.1:8080"));
  EXPECT_FALSE(origin_allowed("https://127.0.0.1:8080", "127.0.0.1:8080"));
  EXPECT_FALSE(origin_allowed("null", "127.0.0.1:8080"));
}

}  // namespace
}  // namespace kvnet::daemon
