// Capture filters: the size and term limits, the compile in a child process
// with its deadline, and the program it hands back.
#include "io/capture_filter.h"

#include <gtest/gtest.h>
#include <pcap/pcap.h>

#include <chrono>
#include <string>

namespace kvnet::io {
namespace {

std::string ports(int n) {
  std::string f;
  for (int i = 0; i < n; ++i) f += (i ? " or port " : "port ") + std::to_string(i + 1);
  return f;
}

TEST(CaptureFilter, CountsTerms) {
  EXPECT_EQ(filter_terms(""), 0u);
  EXPECT_EQ(filter_terms("   "), 0u);
  EXPECT_EQ(filter_terms("arp"), 1u);
  EXPECT_EQ(filter_terms("tcp port 80 and host 10.0.0.1"), 2u);
  EXPECT_EQ(filter_terms("(a&&b)||c or d"), 4u);
  EXPECT_EQ(filter_terms("host android or ortho"), 2u);  // words, not substrings
  EXPECT_EQ(filter_terms(ports(2000)), 2000u);
}

TEST(CaptureFilter, RefusesWhatIsTooBigBeforeCompiling) {
  EXPECT_TRUE(check_filter_size("tcp port 80").ok());
  auto s = check_filter_size(std::string(5000, 'a'));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("(5000 bytes) is longer than the limit of 4096 bytes"), std::string::npos)
      << s.error().message;
  s = check_filter_size(ports(200));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("has 200 terms, more than the limit of 128"), std::string::npos);
  EXPECT_FALSE(check_filter_size(std::string("arp\0or ip", 9)).ok());
  const auto t0 = std::chrono::steady_clock::now();
  auto c = FilterCompile::start(ports(2000), 65535);
  EXPECT_FALSE(c.ok());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(500));
}

TEST(CaptureFilter, CompilesInAChildAsItWouldHere) {
  auto c = FilterCompile::start("tcp port 80 or arp", 65535);
  ASSERT_TRUE(c.ok()) << c.error().message;
  auto r = (*c)->wait();
  ASSERT_TRUE(r.ok()) << r.error().message;
  auto here = compile_filter_here("tcp port 80 or arp", 65535);
  ASSERT_TRUE(here.ok());
  ASSERT_EQ(r->insns.size(), here->insns.size());
  for (size_t i = 0; i < r->insns.size(); ++i) {
    EXPECT_EQ(r->insns[i].code, here->insns[i].code);
    EXPECT_EQ(r->insns[i].k, here->insns[i].k);
  }
  // An ARP frame matches, an IPv6 one does not.
  uint8_t frame[60] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x06};
  EXPECT_NE(bpf_filter(r->insns.data(), frame, sizeof frame, sizeof frame), 0u);
  frame[12] = 0x86, frame[13] = 0xdd;
  EXPECT_EQ(bpf_filter(r->insns.data(), frame, sizeof frame, sizeof frame), 0u);
}

TEST(CaptureFilter, ABadFilterIsLibpcapsMessage) {
  auto c = FilterCompile::start("tcp prot 80", 65535);
  ASSERT_TRUE(c.ok());
  auto r = (*c)->wait();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message.find("filter 'tcp prot 80' is not a valid capture filter: "), 0u) << r.error().message;
}

TEST(CaptureFilter, AFilterThatCompilesTooLongIsKilledAtItsDeadline) {
  auto c = FilterCompile::start(ports(120), 65535, std::chrono::milliseconds(50));
  ASSERT_TRUE(c.ok());
  const auto t0 = std::chrono::steady_clock::now();
  auto r = (*c)->wait();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("took too long to compile (limit 50 ms)"), std::string::npos) << r.error().message;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
}

TEST(CaptureFilter, ADestroyedCompileLeavesNoChild) {
  auto c = FilterCompile::start(ports(120), 65535);
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE((*c)->poll().has_value());
  const auto t0 = std::chrono::steady_clock::now();
  c->reset();  // kills and reaps it, without waiting for the compile
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(500));
}

}  // namespace
}  // namespace kvnet::io
