// The tunnel header codecs (net/tunnel.h): the bytes each build function
// writes, and every reason each parser refuses a packet. Packets are parsed
// from exactly-sized heap copies, so that the Asan build reports any read past
// `len`.
#include "net/tunnel.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <set>

#include "net/bytes.h"
#include "testing.h"

namespace kvnet::testing {
namespace {

using net::TunnelError;
using net::TunnelRx;

constexpr uint64_t kDst = 0x525400000002, kSrc = 0x525400000001;
constexpr uint32_t kIpA = 0x0a000001, kIpB = 0xc0a80102;  // 10.0.0.1, 192.168.1.2

Bytes cat(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}
Bytes inner(size_t len = 60) { return eth(kDst, kSrc, {}, 0x0800, len); }

using Parser = TunnelRx (*)(const uint8_t*, size_t);

// Parses the first `n` bytes of `b` (all of them by default) from an
// exactly-sized heap copy.
TunnelRx parse(Parser f, const Bytes& b, size_t n = SIZE_MAX) {
  Bytes exact(b.begin(), b.begin() + static_cast<ptrdiff_t>(std::min(n, b.size())));
  exact.shrink_to_fit();
  return f(exact.data(), exact.size());
}

// A refused packet carries nothing but the reason.
void expect_only_error(const TunnelRx& rx, TunnelError e) {
  EXPECT_EQ(rx.error, e) << net::to_string(rx.error);
  EXPECT_EQ(rx.vni, 0u);
  EXPECT_FALSE(rx.has_key);
  EXPECT_EQ(rx.options_len, 0);
  EXPECT_EQ(rx.option_count, 0);
  EXPECT_FALSE(rx.critical);
  EXPECT_FALSE(rx.oam);
  EXPECT_EQ(rx.inner_off, 0u);
  EXPECT_EQ(rx.inner_len, 0u);
}

TEST(TunnelErrorNames, EveryReasonHasItsOwnName) {
  std::set<std::string_view> names;
  for (int i = 0; i < static_cast<int>(TunnelError::kCount); ++i) {
    const std::string_view n = net::to_string(static_cast<TunnelError>(i));
    EXPECT_NE(n, "?") << i;
    names.insert(n);
  }
  EXPECT_EQ(names.size(), static_cast<size_t>(TunnelError::kCount));
  EXPECT_EQ(net::to_string(TunnelError::kShort), "short");
  EXPECT_EQ(net::to_string(TunnelError::kBadFlags), "bad_flags");
  EXPECT_EQ(net::to_string(TunnelError::kShortInner), "short_inner");
}

// ---------------------------------------------------------------- VXLAN

TEST(TunnelVxlan, BuildWritesTheIFlagTheVniAndZeroedReservedBytes) {
  uint8_t out[10];
  std::memset(out, 0xee, sizeof out);
  net::vxlan_build(out, 0x123456);
  const uint8_t want[10] = {0x08, 0, 0, 0, 0x12, 0x34, 0x56, 0, 0xee, 0xee};  // nothing past 8 bytes
  EXPECT_EQ(Bytes(out, out + 10), Bytes(want, want + 10));

  net::vxlan_build(out, net::kMaxVni);
  EXPECT_EQ(Bytes(out, out + 8), (Bytes{0x08, 0, 0, 0, 0xff, 0xff, 0xff, 0}));
  net::vxlan_build(out, 0);
  EXPECT_EQ(Bytes(out, out + 8), (Bytes{0x08, 0, 0, 0, 0, 0, 0, 0}));
}

TEST(TunnelVxlan, ParseFindsVniAndInnerFrame) {
  Bytes hdr(8);
  net::vxlan_build(hdr.data(), 0xabcdef);
  const TunnelRx rx = parse(net::vxlan_parse, cat(hdr, inner(60)));
  ASSERT_EQ(rx.error, TunnelError::kNone) << net::to_string(rx.error);
  EXPECT_EQ(rx.vni, 0xabcdefu);
  EXPECT_EQ(rx.inner_off, 8u);
  EXPECT_EQ(rx.inner_len, 60u);
  EXPECT_FALSE(rx.has_key);
  EXPECT_EQ(rx.options_len, 0);
}

TEST(TunnelVxlan, ParseIgnoresReservedBitsAndOtherFlags) {
  // Every reserved bit set, and every flag besides I (GBP and GPE use them).
  const Bytes hdr = {0xff, 0xff, 0xff, 0xff, 0x00, 0x10, 0x01, 0xff};
  const TunnelRx rx = parse(net::vxlan_parse, cat(hdr, inner()));
  ASSERT_EQ(rx.error, TunnelError::kNone);
  EXPECT_EQ(rx.vni, 0x1001u);
  EXPECT_EQ(rx.inner_off, 8u);
}

TEST(TunnelVxlan, ParseRefusesAClearIFlag) {
  for (uint8_t flags : {0x00, 0xf7, 0x80, 0x01}) {
    const Bytes hdr = {flags, 0, 0, 0, 0, 0, 5, 0};
    expect_only_error(parse(net::vxlan_parse, cat(hdr, inner())), TunnelError::kBadFlags);
  }
}

TEST(TunnelVxlan, ShortPacketsAndShortInnerFrames) {
  Bytes hdr(8);
  net::vxlan_build(hdr.data(), 7);
  const Bytes pkt = cat(hdr, inner(60));
  for (size_t n = 0; n < 8; ++n) expect_only_error(parse(net::vxlan_parse, pkt, n), TunnelError::kShort);
  for (size_t n = 8; n < 8 + 14; ++n) expect_only_error(parse(net::vxlan_parse, pkt, n), TunnelError::kShortInner);
  const TunnelRx rx = parse(net::vxlan_parse, pkt, 8 + 14);
  EXPECT_EQ(rx.error, TunnelError::kNone);
  EXPECT_EQ(rx.inner_len, 14u);
}

// ---------------------------------------------------------------- Geneve

// One option TLV: class, type, and `words` 4-byte words of data.
Bytes geneve_option(uint16_t cls, uint8_t type, uint8_t words, uint8_t fill = 0x5a) {
  Bytes b;
  put16(b, cls);
  b.push_back(type);
  b.push_back(words);  // the 3 reserved bits are zero
  b.insert(b.end(), size_t{words} * 4, fill);
  return b;
}

Bytes geneve(uint32_t vni, const Bytes& options) {
  Bytes b(8 + options.size() + 8, 0xee);  // canary past what is written
  const size_t n = net::geneve_build(b.data(), vni, options.empty() ? nullptr : options.data(), options.size());
  EXPECT_EQ(n, 8 + options.size());
  EXPECT_EQ(b[n], 0xee);
  b.resize(n);
  return b;
}

TEST(TunnelGeneve, BuildWithoutOptions) {
  EXPECT_EQ(geneve(0x123456, {}), (Bytes{0x00, 0x00, 0x65, 0x58, 0x12, 0x34, 0x56, 0x00}));
  uint8_t out[8];
  EXPECT_EQ(net::geneve_build(out, net::kMaxVni), 8u);
  EXPECT_EQ(Bytes(out, out + 8), (Bytes{0x00, 0x00, 0x65, 0x58, 0xff, 0xff, 0xff, 0x00}));
}

TEST(TunnelGeneve, BuildWithOptionsSetsLengthAndCopiesThem) {
  const Bytes opts = cat(geneve_option(0x0102, 0x03, 1), geneve_option(0xfffe, 0x04, 0));
  ASSERT_EQ(opts.size(), 12u);
  const Bytes h = geneve(0x000a0b, opts);
  EXPECT_EQ(Bytes(h.begin(), h.begin() + 8), (Bytes{0x03, 0x00, 0x65, 0x58, 0x00, 0x0a, 0x0b, 0x00}));
  EXPECT_EQ(Bytes(h.begin() + 8, h.end()), opts);
}

TEST(TunnelGeneve, BuildSetsTheCBitForACriticalOption) {
  const Bytes opts = cat(geneve_option(0x0102, 0x03, 1), geneve_option(0x0103, 0x81, 2));
  const Bytes h = geneve(1, opts);
  EXPECT_EQ(h[0], 0x05);
  EXPECT_EQ(h[1], 0x40);
}

TEST(TunnelGeneve, RoundTripWithoutOptions) {
  const TunnelRx rx = parse(net::geneve_parse, cat(geneve(0x765432, {}), inner(64)));
  ASSERT_EQ(rx.error, TunnelError::kNone) << net::to_string(rx.error);
  EXPECT_EQ(rx.vni, 0x765432u);
  EXPECT_EQ(rx.options_len, 0);
  EXPECT_EQ(rx.option_count, 0);
  EXPECT_FALSE(rx.critical);
  EXPECT_FALSE(rx.oam);
  EXPECT_EQ(rx.inner_off, 8u);
  EXPECT_EQ(rx.inner_len, 64u);
}

TEST(TunnelGeneve, RoundTripWithTwoOptions) {
  const Bytes opts = cat(geneve_option(0x0102, 0x03, 1), geneve_option(0x0104, 0x85, 3));
  const TunnelRx rx = parse(net::geneve_parse, cat(geneve(42, opts), inner(60)));
  ASSERT_EQ(rx.error, TunnelError::kNone) << net::to_string(rx.error);
  EXPECT_EQ(rx.vni, 42u);
  EXPECT_EQ(rx.options_len, 24);
  EXPECT_EQ(rx.option_count, 2);
  EXPECT_TRUE(rx.critical);
  EXPECT_FALSE(rx.oam);
  EXPECT_EQ(rx.inner_off, 32u);
  EXPECT_EQ(rx.inner_len, 60u);
}

TEST(TunnelGeneve, RoundTripWithTheLargestOptionsArea) {
  Bytes opts;
  for (int i = 0; i < 63; ++i) opts = cat(opts, geneve_option(static_cast<uint16_t>(i), 1, 0));
  ASSERT_EQ(opts.size(), net::kGeneveMaxOptionsLen);
  const Bytes h = geneve(9, opts);
  EXPECT_EQ(h[0], 63);
  const TunnelRx rx = parse(net::geneve_parse, cat(h, inner()));
  ASSERT_EQ(rx.error, TunnelError::kNone);
  EXPECT_EQ(rx.options_len, 252);
  EXPECT_EQ(rx.option_count, 63);
  EXPECT_EQ(rx.inner_off, 260u);
}

TEST(TunnelGeneve, BuildWithABadOptionsLength) {
  const Bytes opts(16, 0);
  uint8_t out[32];
#ifdef NDEBUG
  // Release: cut down to a multiple of 4 (documented in tunnel.h).
  EXPECT_EQ(net::geneve_build(out, 1, opts.data(), 13), 8u + 12);
  EXPECT_EQ(out[0], 3);
#else
  EXPECT_DEATH(net::geneve_build(out, 1, opts.data(), 13), "options_len");
#endif
}

TEST(TunnelGeneve, ParseReadsTheOAndCBitsAndIgnoresReservedBits) {
  Bytes h = geneve(5, {});
  h[1] = 0x80 | 0x3f;  // O, and every reserved bit
  h[7] = 0xff;
  TunnelRx rx = parse(net::geneve_parse, cat(h, inner()));
  ASSERT_EQ(rx.error, TunnelError::kNone);
  EXPECT_TRUE(rx.oam);
  EXPECT_FALSE(rx.critical);
  EXPECT_EQ(rx.vni, 5u);

  h[1] = 0x40;
  rx = parse(net::geneve_parse, cat(h, inner()));
  ASSERT_EQ(rx.error, TunnelError::kNone);
  EXPECT_FALSE(rx.oam);
  EXPECT_TRUE(rx.critical);
}

TEST(TunnelGeneve, ParseRefusesAVersionOtherThanZero) {
  for (uint8_t ver : {0x40, 0x80, 0xc0}) {
    Bytes h = geneve(5, {});
    h[0] |= ver;
    expect_only_error(parse(net::geneve_parse, cat(h, inner())), TunnelError::kBadFlags);
  }
}

TEST(TunnelGeneve, ParseRefusesAProtocolOtherThanEthernet) {
  for (uint16_t proto : {0x0800, 0x86dd, 0x6559, 0x0000}) {
    Bytes h = geneve(5, {});
    net::store_be16(&h[2], proto);
    expect_only_error(parse(net::geneve_parse, cat(h, inner())), TunnelError::kBadProtocol);
  }
}

TEST(TunnelGeneve, ShortPackets) {
  const Bytes pkt = cat(geneve(5, {}), inner());
  for (size_t n = 0; n < 8; ++n) expect_only_error(parse(net::geneve_parse, pkt, n), TunnelError::kShort);
  for (size_t n = 8; n < 8 + 14; ++n) expect_only_error(parse(net::geneve_parse, pkt, n), TunnelError::kShortInner);
}

TEST(TunnelGeneve, OptionsOverrunningThePacket) {
  // Opt Len 63 (252 bytes) in a 60-byte packet.
  Bytes h = geneve(5, {});
  h[0] = 63;
  expect_only_error(parse(net::geneve_parse, cat(h, inner(52))), TunnelError::kBadOptions);
  // Options that end exactly at the packet's end: no inner frame.
  const Bytes opts = geneve_option(1, 1, 2);
  const Bytes pkt = cat(geneve(5, opts), inner());
  for (size_t n = 8; n < 8 + opts.size(); ++n) {
    expect_only_error(parse(net::geneve_parse, pkt, n), TunnelError::kBadOptions);
  }
  expect_only_error(parse(net::geneve_parse, pkt, 8 + opts.size()), TunnelError::kShortInner);
}

TEST(TunnelGeneve, AnOptionOverrunningTheOptionsArea) {
  // Opt Len says 8 bytes; the first TLV says 4 + 8: it would run 4 bytes into
  // the inner frame, although the packet is long enough.
  Bytes opts = geneve_option(1, 1, 1);
  opts[3] = 2;
  Bytes h = geneve(5, opts);
  ASSERT_EQ(h[0], 2);
  expect_only_error(parse(net::geneve_parse, cat(h, inner())), TunnelError::kBadOptions);
  // The second TLV overruns.
  opts = cat(geneve_option(1, 1, 0), geneve_option(2, 2, 0));
  opts[7] = 1;
  h = geneve(5, opts);
  expect_only_error(parse(net::geneve_parse, cat(h, inner())), TunnelError::kBadOptions);
  // The reserved bits of an option's length byte are not part of the length.
  opts = geneve_option(1, 1, 1);
  opts[3] |= 0xe0;
  const TunnelRx rx = parse(net::geneve_parse, cat(geneve(5, opts), inner()));
  ASSERT_EQ(rx.error, TunnelError::kNone) << net::to_string(rx.error);
  EXPECT_EQ(rx.option_count, 1);
}

// ---------------------------------------------------------------- GRE

TEST(TunnelGre, BuildWithoutKey) {
  uint8_t out[12];
  std::memset(out, 0xee, sizeof out);
  EXPECT_EQ(net::gre_build(out, false, 0x12345678), 4u);
  EXPECT_EQ(Bytes(out, out + 6), (Bytes{0x00, 0x00, 0x65, 0x58, 0xee, 0xee}));
}

TEST(TunnelGre, BuildWithKey) {
  uint8_t out[12];
  std::memset(out, 0xee, sizeof out);
  EXPECT_EQ(net::gre_build(out, true, 0x12345678), 8u);
  EXPECT_EQ(Bytes(out, out + 10), (Bytes{0x20, 0x00, 0x65, 0x58, 0x12, 0x34, 0x56, 0x78, 0xee, 0xee}));
  EXPECT_EQ(net::gre_build(out, true, 0), 8u);
  EXPECT_EQ(Bytes(out, out + 8), (Bytes{0x20, 0x00, 0x65, 0x58, 0, 0, 0, 0}));
}

constexpr uint16_t kC = 0x8000, kR = 0x4000, kK = 0x2000, kS = 0x1000;

// A GRE header with the optional fields its flags ask for: checksum field
// 0xc5c5 + reserved, key 0x0badcafe, sequence 0x5e5e5e5e (distinct values, so
// reading the key from the wrong offset shows).
Bytes gre(uint16_t flags, uint16_t proto = net::kEthTypeTeb) {
  Bytes b;
  put16(b, flags);
  put16(b, proto);
  if (flags & kC) put32(b, 0xc5c50000);
  if (flags & kK) put32(b, 0x0badcafe);
  if (flags & kS) put32(b, 0x5e5e5e5e);
  return b;
}

TEST(TunnelGre, ParseEveryCombinationOfChecksumKeyAndSequence) {
  for (int c = 0; c < 2; ++c) {
    for (int k = 0; k < 2; ++k) {
      for (int s = 0; s < 2; ++s) {
        const uint16_t flags = static_cast<uint16_t>((c ? kC : 0) | (k ? kK : 0) | (s ? kS : 0));
        const TunnelRx rx = parse(net::gre_parse, cat(gre(flags), inner(70)));
        SCOPED_TRACE(::testing::Message() << "C=" << c << " K=" << k << " S=" << s);
        ASSERT_EQ(rx.error, TunnelError::kNone) << net::to_string(rx.error);
        EXPECT_EQ(rx.inner_off, 4u + 4 * (c + k + s));
        EXPECT_EQ(rx.inner_len, 70u);
        EXPECT_EQ(rx.has_key, k == 1);
        EXPECT_EQ(rx.vni, k ? 0x0badcafeu : 0u);
      }
    }
  }
}

TEST(TunnelGre, ParseWhatBuildWrote) {
  Bytes h(8);
  h.resize(net::gre_build(h.data(), true, 0xfedcba98));
  TunnelRx rx = parse(net::gre_parse, cat(h, inner()));
  ASSERT_EQ(rx.error, TunnelError::kNone);
  EXPECT_TRUE(rx.has_key);
  EXPECT_EQ(rx.vni, 0xfedcba98u);
  EXPECT_EQ(rx.inner_off, 8u);

  h.resize(8);
  h.resize(net::gre_build(h.data(), false, 0));
  rx = parse(net::gre_parse, cat(h, inner()));
  ASSERT_EQ(rx.error, TunnelError::kNone);
  EXPECT_FALSE(rx.has_key);
  EXPECT_EQ(rx.inner_off, 4u);
}

TEST(TunnelGre, ParseRefusesVersionsOtherThanZeroAndRouting) {
  for (uint16_t ver = 1; ver < 8; ++ver) {
    expect_only_error(parse(net::gre_parse, cat(gre(kK | ver), inner())), TunnelError::kBadFlags);
  }
  expect_only_error(parse(net::gre_parse, cat(gre(kR), inner())), TunnelError::kBadFlags);
  expect_only_error(parse(net::gre_parse, cat(gre(kR | kK), inner())), TunnelError::kBadFlags);
}

TEST(TunnelGre, ParseIgnoresTheOtherReservedBits) {
  // Strict source route, recursion count and the reserved bits up to the version.
  for (uint16_t bits : {0x0800, 0x0700, 0x00f8, 0x0ff8}) {
    const TunnelRx rx = parse(net::gre_parse, cat(gre(kK | bits), inner()));
    ASSERT_EQ(rx.error, TunnelError::kNone) << std::hex << bits;
    EXPECT_EQ(rx.vni, 0x0badcafeu);
  }
}

TEST(TunnelGre, ParseRefusesAProtocolOtherThanEthernet) {
  for (uint16_t proto : {0x0800, 0x86dd, 0x880b, 0x6559}) {
    expect_only_error(parse(net::gre_parse, cat(gre(kK, proto), inner())), TunnelError::kBadProtocol);
  }
}

TEST(TunnelGre, ShortPacketsAndFieldsOverrunningThePacket) {
  const Bytes pkt = cat(gre(kC | kK | kS), inner());
  for (size_t n = 0; n < 4; ++n) expect_only_error(parse(net::gre_parse, pkt, n), TunnelError::kShort);
  for (size_t n = 4; n < 16; ++n) expect_only_error(parse(net::gre_parse, pkt, n), TunnelError::kBadOptions);
  for (size_t n = 16; n < 30; ++n) expect_only_error(parse(net::gre_parse, pkt, n), TunnelError::kShortInner);
  EXPECT_EQ(parse(net::gre_parse, pkt, 30).error, TunnelError::kNone);
}

TEST(TunnelGre, NvgreKeyPacking) {
  EXPECT_EQ(net::nvgre_key(0x123456, 0x78), 0x12345678u);
  EXPECT_EQ(net::gre_vsid(0x12345678), 0x123456u);
  EXPECT_EQ(net::nvgre_key(0xff123456, 0x9a), 0x1234569au);  // VSID is 24 bits
  EXPECT_EQ(net::gre_vsid(net::nvgre_key(net::kMaxVni, 0xff)), net::kMaxVni);

  uint8_t out[8];
  ASSERT_EQ(net::gre_build(out, true, net::nvgre_key(0xabcdef, 0x42)), 8u);
  EXPECT_EQ(Bytes(out + 4, out + 8), (Bytes{0xab, 0xcd, 0xef, 0x42}));
  const TunnelRx rx = parse(net::gre_parse, cat(Bytes(out, out + 8), inner()));
  ASSERT_EQ(rx.error, TunnelError::kNone);
  EXPECT_EQ(net::gre_vsid(rx.vni), 0xabcdefu);
  EXPECT_EQ(rx.vni & 0xff, 0x42u);
}

// ---------------------------------------------------------------- GRE over IPv4

struct V4 {
  uint8_t ver_ihl = 0x45;
  int total = -1;  // -1: header + payload length
  uint16_t frag = 0x4000;  // DF
  uint8_t proto = net::kIpProtoGre;
  uint32_t src = kIpA, dst = kIpB;
};

// An IPv4 header (options 0x01, NOP, up to the IHL) and `payload`.
Bytes ipv4(const V4& v, const Bytes& payload) {
  Bytes b;
  const size_t ihl = size_t{v.ver_ihl & 0x0fu} * 4;
  const size_t hdr = ihl < 20 ? 20 : ihl;
  b.push_back(v.ver_ihl);
  b.push_back(0);
  put16(b, static_cast<uint16_t>(v.total >= 0 ? static_cast<size_t>(v.total) : hdr + payload.size()));
  put16(b, 0x1234);
  put16(b, v.frag);
  b.push_back(64);
  b.push_back(v.proto);
  put16(b, 0);
  put32(b, v.src);
  put32(b, v.dst);
  b.resize(hdr, 0x01);
  return cat(b, payload);
}

TunnelRx parse_v4(const Bytes& b, uint32_t* src = nullptr, size_t n = SIZE_MAX) {
  Bytes exact(b.begin(), b.begin() + static_cast<ptrdiff_t>(std::min(n, b.size())));
  exact.shrink_to_fit();
  return net::ipv4_gre_parse(exact.data(), exact.size(), src);
}

const Bytes kGreKeyed = gre(kK);  // 8 bytes, key 0x0badcafe

TEST(TunnelIpv4Gre, ParsesAGoodPacketAndReturnsTheSource) {
  uint32_t src = 0;
  const TunnelRx rx = parse_v4(ipv4({}, cat(kGreKeyed, inner(60))), &src);
  ASSERT_EQ(rx.error, TunnelError::kNone) << net::to_string(rx.error);
  EXPECT_EQ(rx.inner_off, 20u + 8);
  EXPECT_EQ(rx.inner_len, 60u);
  EXPECT_TRUE(rx.has_key);
  EXPECT_EQ(rx.vni, 0x0badcafeu);
  const uint8_t want[4] = {10, 0, 0, 1};  // network byte order: as on the wire
  EXPECT_EQ(std::memcmp(&src, want, 4), 0) << std::hex << src;
  // No address wanted: fine too.
  EXPECT_EQ(parse_v4(ipv4({}, cat(kGreKeyed, inner(60)))).error, TunnelError::kNone);
}

TEST(TunnelIpv4Gre, AcceptsIpOptions) {
  const TunnelRx rx = parse_v4(ipv4({.ver_ihl = 0x46}, cat(kGreKeyed, inner(60))));
  ASSERT_EQ(rx.error, TunnelError::kNone) << net::to_string(rx.error);
  EXPECT_EQ(rx.inner_off, 24u + 8);
  EXPECT_EQ(rx.inner_len, 60u);
  EXPECT_EQ(parse_v4(ipv4({.ver_ihl = 0x4f}, cat(kGreKeyed, inner(60)))).inner_off, 60u + 8);
}

TEST(TunnelIpv4Gre, RefusesWhatIsNotAnIpv4Header) {
  uint32_t src = 0x77777777;
  expect_only_error(parse_v4(ipv4({.ver_ihl = 0x65}, cat(kGreKeyed, inner())), &src), TunnelError::kNotIp);
  for (uint8_t ihl = 0; ihl < 5; ++ihl) {
    const uint8_t vi = static_cast<uint8_t>(0x40 | ihl);
    expect_only_error(parse_v4(ipv4({.ver_ihl = vi}, cat(kGreKeyed, inner())), &src), TunnelError::kNotIp);
  }
  // A total length shorter than the header.
  expect_only_error(parse_v4(ipv4({.total = 19}, cat(kGreKeyed, inner())), &src), TunnelError::kNotIp);
  EXPECT_EQ(src, 0x77777777u) << "the address is only written for a good IP header";
}

TEST(TunnelIpv4Gre, RefusesAHeaderOrTotalLengthBeyondThePacket) {
  // IHL 15 (60 bytes) in a 20 + 4 + 14 byte packet.
  Bytes pkt = ipv4({}, cat(gre(0), inner(14)));
  ASSERT_EQ(pkt.size(), 38u);
  pkt[0] = 0x4f;
  expect_only_error(parse_v4(pkt), TunnelError::kShort);
  // Total length one byte more than there is.
  pkt = ipv4({}, cat(kGreKeyed, inner(60)));
  net::store_be16(&pkt[2], static_cast<uint16_t>(pkt.size() + 1));
  expect_only_error(parse_v4(pkt), TunnelError::kShort);
  // Under 20 bytes.
  for (size_t n = 0; n < 20; ++n) expect_only_error(parse_v4(pkt, nullptr, n), TunnelError::kShort);
}

TEST(TunnelIpv4Gre, EndsTheInnerFrameAtTheTotalLength) {
  Bytes pkt = ipv4({}, cat(kGreKeyed, inner(60)));
  pkt.insert(pkt.end(), 6, 0);  // link-layer padding after the datagram
  const TunnelRx rx = parse_v4(pkt);
  ASSERT_EQ(rx.error, TunnelError::kNone);
  EXPECT_EQ(rx.inner_len, 60u);
  // A total length that cuts the inner frame below 14 bytes.
  net::store_be16(&pkt[2], 20 + 8 + 13);
  expect_only_error(parse_v4(pkt), TunnelError::kShortInner);
}

TEST(TunnelIpv4Gre, RefusesOtherProtocols) {
  for (uint8_t proto : {net::kIpProtoUdp, net::kIpProtoTcp, uint8_t{4}, uint8_t{41}}) {
    expect_only_error(parse_v4(ipv4({.proto = proto}, cat(kGreKeyed, inner()))), TunnelError::kBadProtocol);
  }
}

TEST(TunnelIpv4Gre, RefusesFragments) {
  for (uint16_t frag : {0x2000, 0x0001, 0x2001, 0x1fff, 0x6000, 0x0100}) {
    expect_only_error(parse_v4(ipv4({.frag = frag}, cat(kGreKeyed, inner()))), TunnelError::kFragment);
  }
  for (uint16_t frag : {0x0000, 0x4000, 0x8000}) {  // DF, and the reserved bit
    EXPECT_EQ(parse_v4(ipv4({.frag = frag}, cat(kGreKeyed, inner()))).error, TunnelError::kNone) << frag;
  }
}

TEST(TunnelIpv4Gre, PassesOnGreErrorsAndStillReturnsTheSource) {
  uint32_t src = 0;
  expect_only_error(parse_v4(ipv4({.src = kIpB}, cat(gre(kK, 0x0800), inner())), &src), TunnelError::kBadProtocol);
  const uint8_t want[4] = {192, 168, 1, 2};
  EXPECT_EQ(std::memcmp(&src, want, 4), 0);
  expect_only_error(parse_v4(ipv4({}, cat(gre(kR), inner()))), TunnelError::kBadFlags);
  expect_only_error(parse_v4(ipv4({}, Bytes{0x20, 0x00})), TunnelError::kShort);
  expect_only_error(parse_v4(ipv4({}, gre(kK | kS))), TunnelError::kShortInner);
}

// ---------------------------------------------------------------- inner flow hash

Bytes tcp4_frame(uint16_t sport, uint16_t dport, uint32_t src = kIpA, size_t payload = 10, uint16_t frag = 0,
                 std::vector<Tag> tags = {}) {
  Bytes l4;
  put16(l4, sport);
  put16(l4, dport);
  l4.resize(20, 0);
  l4[12] = 0x50;
  l4.insert(l4.end(), payload, static_cast<uint8_t>(payload));
  return cat(eth(kDst, kSrc, std::move(tags), 0x0800, 0), ipv4({.frag = frag, .proto = net::kIpProtoTcp, .src = src}, l4));
}

Bytes udp6_frame(uint16_t sport, uint16_t dport) {
  Bytes b = eth(kDst, kSrc, {}, 0x86dd, 0);
  put32(b, 0x60000000);
  put16(b, 8);
  b.push_back(net::kIpProtoUdp);
  b.push_back(64);
  for (int i = 0; i < 32; ++i) b.push_back(static_cast<uint8_t>(i));
  put16(b, sport);
  put16(b, dport);
  put32(b, 0x00080000);
  return b;
}

uint32_t hash(const Bytes& b, size_t n = SIZE_MAX) {
  Bytes exact(b.begin(), b.begin() + static_cast<ptrdiff_t>(std::min(n, b.size())));
  exact.shrink_to_fit();
  return net::inner_flow_hash(exact.data(), exact.size());
}

TEST(TunnelFlowHash, SameFlowSameHash) {
  const uint32_t h = hash(tcp4_frame(40000, 80));
  EXPECT_EQ(hash(tcp4_frame(40000, 80)), h);
  // Payload and length do not matter.
  EXPECT_EQ(hash(tcp4_frame(40000, 80, kIpA, 1400)), h);
  EXPECT_EQ(hash(udp6_frame(5000, 53)), hash(udp6_frame(5000, 53)));
}

TEST(TunnelFlowHash, DifferentPortsAlmostAlwaysHashApart) {
  std::set<uint32_t> hashes;
  std::set<uint16_t> ports;
  for (uint16_t sport = 30000; sport < 31000; ++sport) {
    const uint32_t h = hash(tcp4_frame(sport, 443));
    hashes.insert(h);
    ports.insert(net::tunnel_src_port(h));
  }
  EXPECT_GE(hashes.size(), 999u);
  // 1000 flows over 16384 source ports: ~970 distinct if spread evenly.
  EXPECT_GE(ports.size(), 930u);

  hashes.clear();
  for (uint16_t dport = 1; dport <= 1000; ++dport) hashes.insert(hash(udp6_frame(5000, dport)));
  EXPECT_GE(hashes.size(), 999u);
  EXPECT_NE(hash(tcp4_frame(40000, 80)), hash(tcp4_frame(80, 40000)));
  EXPECT_NE(hash(tcp4_frame(40000, 80)), hash(tcp4_frame(40000, 80, kIpB)));
}

TEST(TunnelFlowHash, LooksPastVlanTags) {
  const std::vector<Tag> tag = {{.vid = 10}};
  EXPECT_NE(hash(tcp4_frame(1000, 80, kIpA, 10, 0, tag)), hash(tcp4_frame(1001, 80, kIpA, 10, 0, tag)));
  // The priority bits are not part of the flow.
  EXPECT_EQ(hash(tcp4_frame(1000, 80, kIpA, 10, 0, {{.vid = 10, .pcp = 5}})),
            hash(tcp4_frame(1000, 80, kIpA, 10, 0, tag)));
  EXPECT_NE(hash(tcp4_frame(1000, 80, kIpA, 10, 0, {{.vid = 11}})), hash(tcp4_frame(1000, 80, kIpA, 10, 0, tag)));
}

TEST(TunnelFlowHash, FragmentsOfADatagramHashAlike) {
  // The first fragment (MF) carries the ports, a later one does not: neither
  // is hashed with them.
  Bytes later = tcp4_frame(0, 0, kIpA, 10, 0x00b9);
  EXPECT_EQ(hash(tcp4_frame(40000, 80, kIpA, 10, 0x2000)), hash(later));
}

TEST(TunnelFlowHash, TruncatedAndGarbageFramesStayInBounds) {
  const Bytes frames[] = {tcp4_frame(40000, 80), udp6_frame(1, 2), tcp4_frame(1, 2, kIpA, 0, 0, {{.vid = 5}, {.vid = 6}})};
  for (const Bytes& f : frames) {
    for (size_t n = 0; n <= 60 && n <= f.size(); ++n) EXPECT_EQ(hash(f, n), hash(f, n)) << n;
  }
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) {
    Bytes b(rng() % 61);
    for (auto& x : b) x = static_cast<uint8_t>(rng());
    if (b.size() > 13 && (i & 1)) net::store_be16(&b[12], (i & 2) ? 0x0800 : 0x86dd);
    if (b.size() > 14 && (i & 4)) b[14] = 0x45;
    EXPECT_EQ(hash(b), hash(b));
  }
  EXPECT_EQ(net::inner_flow_hash(nullptr, 0), net::inner_flow_hash(nullptr, 0));
  // Frames cut at different lengths before the ports are not all one value.
  std::set<uint32_t> cut;
  for (size_t n = 0; n <= 14; ++n) cut.insert(hash(frames[0], n));
  EXPECT_EQ(cut.size(), 15u);
}

TEST(TunnelFlowHash, SourcePortsStayInTheDynamicRange) {
  for (uint32_t h : {0u, 1u, 16383u, 16384u, 49151u, 65535u, 0x7fffffffu, 0xffffffffu}) {
    const uint16_t p = net::tunnel_src_port(h);
    EXPECT_GE(p, 49152) << h;
    EXPECT_LE(p, 65535) << h;
  }
  EXPECT_EQ(net::tunnel_src_port(0), 49152);
  EXPECT_EQ(net::tunnel_src_port(16383), 65535);
  std::mt19937 rng(1);
  for (int i = 0; i < 10000; ++i) {
    const uint16_t p = net::tunnel_src_port(hash(tcp4_frame(static_cast<uint16_t>(rng()), 80)));
    ASSERT_GE(p, 49152);
  }
}

}  // namespace
}  // namespace kvnet::testing
