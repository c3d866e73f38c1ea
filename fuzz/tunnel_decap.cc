// Fuzz target tunnel_decap: arbitrary bytes as a received tunnel packet for
// every decapsulation parser of net/tunnel.h: net::vxlan_parse,
// net::geneve_parse, net::gre_parse, net::ipv4_gre_parse, and
// net::inner_flow_hash on the whole input and on every inner frame found.
//
// Input: the packet, as the socket hands it over (the UDP payload for VXLAN
// and Geneve, the GRE header for gre_parse, the IPv4 header for
// ipv4_gre_parse). Every parser sees the same bytes, so one input can be a
// good packet for one and garbage for the others.
//
// Invariants: no out-of-bounds read (ASan; libFuzzer's input buffer is
// exactly `size` bytes); a refused packet carries only its reason; an
// accepted one has an inner frame of at least 14 bytes inside the packet
// (ending at its end, except behind an IPv4 header, whose total length ends
// it); VXLAN's inner frame starts at 8; Geneve's options are a multiple of 4,
// at most 252 bytes, and end where the inner frame starts; a GRE header is at
// most 16 bytes; the returned IPv4 source is the header's. Round trips: the
// header each build function writes from what was parsed (VXLAN/Geneve VNI
// and options, GRE key), followed by the same inner frame, parses again to the
// same VNI, key, options and inner frame. The flow hash is deterministic.
#include <cstdint>
#include <cstring>
#include <vector>

#include "fuzz_check.h"
#include "net/tunnel.h"

namespace {

using namespace kvnet;
using net::TunnelError;
using net::TunnelRx;

void check_refusal(const TunnelRx& rx, const char* who) {
  if (rx.error == TunnelError::kNone) return;
  FUZZ_CHECK(rx.error < TunnelError::kCount, "%s: error %d", who, static_cast<int>(rx.error));
  FUZZ_CHECK(rx.vni == 0 && !rx.has_key && rx.options_len == 0 && rx.option_count == 0 && !rx.critical &&
                 !rx.oam && rx.inner_off == 0 && rx.inner_len == 0,
             "%s: refused (%s) but carries fields", who, net::to_string(rx.error).data());
}

void check_inner(const TunnelRx& rx, size_t size, bool to_end, const char* who) {
  FUZZ_CHECK(rx.inner_len >= 14, "%s: inner frame of %zu bytes", who, rx.inner_len);
  FUZZ_CHECK(rx.inner_off <= size && rx.inner_len <= size - rx.inner_off, "%s: inner [%zu, +%zu) past %zu bytes",
             who, rx.inner_off, rx.inner_len, size);
  FUZZ_CHECK(!to_end || rx.inner_off + rx.inner_len == size, "%s: inner frame ends before the packet", who);
}

// `header` (from a build function) followed by the inner frame `rx` found in
// `data`, in an exactly-sized heap buffer.
std::vector<uint8_t> rewrap(const uint8_t* header, size_t header_len, const uint8_t* data, const TunnelRx& rx) {
  std::vector<uint8_t> b(header_len + rx.inner_len);
  std::memcpy(b.data(), header, header_len);
  std::memcpy(b.data() + header_len, data + rx.inner_off, rx.inner_len);
  return b;
}

void check_same_inner(const TunnelRx& again, const TunnelRx& rx, size_t header_len, const char* who) {
  FUZZ_CHECK(again.error == TunnelError::kNone, "%s: rebuilt packet refused: %s", who,
             net::to_string(again.error).data());
  FUZZ_CHECK(again.inner_off == header_len && again.inner_len == rx.inner_len, "%s: rebuilt inner frame moved", who);
}

void vxlan(const uint8_t* data, size_t size) {
  const TunnelRx rx = net::vxlan_parse(data, size);
  check_refusal(rx, "vxlan");
  if (rx.error != TunnelError::kNone) return;
  check_inner(rx, size, true, "vxlan");
  FUZZ_CHECK(rx.inner_off == net::kVxlanHeaderLen, "vxlan: inner frame at %zu", rx.inner_off);
  FUZZ_CHECK(rx.vni <= net::kMaxVni, "vxlan: vni %u", rx.vni);

  uint8_t h[net::kVxlanHeaderLen];
  net::vxlan_build(h, rx.vni);
  FUZZ_CHECK(h[0] == 0x08 && h[1] == 0 && h[2] == 0 && h[3] == 0 && h[7] == 0, "vxlan: built flags/reserved");
  FUZZ_CHECK(std::memcmp(h + 4, data + 4, 3) == 0, "vxlan: built VNI bytes differ from the parsed ones");
  const auto b = rewrap(h, sizeof h, data, rx);
  const TunnelRx again = net::vxlan_parse(b.data(), b.size());
  check_same_inner(again, rx, sizeof h, "vxlan");
  FUZZ_CHECK(again.vni == rx.vni, "vxlan: vni %u became %u", rx.vni, again.vni);
}

void geneve(const uint8_t* data, size_t size) {
  const TunnelRx rx = net::geneve_parse(data, size);
  check_refusal(rx, "geneve");
  if (rx.error != TunnelError::kNone) return;
  check_inner(rx, size, true, "geneve");
  FUZZ_CHECK(rx.options_len <= net::kGeneveMaxOptionsLen && rx.options_len % 4 == 0, "geneve: options_len %u",
             unsigned{rx.options_len});
  FUZZ_CHECK(net::kGeneveHeaderLen + rx.options_len == rx.inner_off, "geneve: options end at %zu, inner at %zu",
             net::kGeneveHeaderLen + rx.options_len, rx.inner_off);
  FUZZ_CHECK(rx.option_count <= rx.options_len / 4, "geneve: %u options in %u bytes", unsigned{rx.option_count},
             unsigned{rx.options_len});
  FUZZ_CHECK(rx.oam == bool(data[1] & 0x80) && rx.critical == bool(data[1] & 0x40), "geneve: O/C bits");

  uint8_t h[net::kGeneveHeaderLen + net::kGeneveMaxOptionsLen];
  const size_t n = net::geneve_build(h, rx.vni, data + net::kGeneveHeaderLen, rx.options_len);
  FUZZ_CHECK(n == rx.inner_off, "geneve: built %zu header bytes, parsed %zu", n, rx.inner_off);
  FUZZ_CHECK(std::memcmp(h + 8, data + 8, rx.options_len) == 0, "geneve: options not copied as they were");
  const auto b = rewrap(h, n, data, rx);
  const TunnelRx again = net::geneve_parse(b.data(), b.size());
  check_same_inner(again, rx, n, "geneve");
  FUZZ_CHECK(again.vni == rx.vni && again.options_len == rx.options_len && again.option_count == rx.option_count,
             "geneve: vni %u/%u, options %u/%u, count %u/%u after the round trip", rx.vni, again.vni,
             unsigned{rx.options_len}, unsigned{again.options_len}, unsigned{rx.option_count},
             unsigned{again.option_count});
  FUZZ_CHECK(!again.oam, "geneve: build set O");
}

// The GRE header at data[0, size) parsed as `rx`; `base` is where it starts
// in `data` (after an IPv4 header).
void gre_round_trip(const uint8_t* data, size_t base, const TunnelRx& rx, const char* who) {
  const size_t gre_len = rx.inner_off - base;
  FUZZ_CHECK(gre_len >= 4 && gre_len <= net::kGreMaxHeaderLen && gre_len % 4 == 0, "%s: GRE header of %zu bytes",
             who, gre_len);
  FUZZ_CHECK(rx.has_key || rx.vni == 0, "%s: a key without the K bit", who);
  uint8_t h[net::kGreMaxHeaderLen];
  const size_t n = net::gre_build(h, rx.has_key, rx.vni);
  FUZZ_CHECK(n == (rx.has_key ? 8u : 4u), "%s: gre_build wrote %zu bytes", who, n);
  const auto b = rewrap(h, n, data, rx);
  const TunnelRx again = net::gre_parse(b.data(), b.size());
  check_same_inner(again, rx, n, who);
  FUZZ_CHECK(again.has_key == rx.has_key && again.vni == rx.vni, "%s: key %d/%08x became %d/%08x", who,
             rx.has_key, rx.vni, again.has_key, again.vni);
}

void gre(const uint8_t* data, size_t size) {
  const TunnelRx rx = net::gre_parse(data, size);
  check_refusal(rx, "gre");
  if (rx.error != TunnelError::kNone) return;
  check_inner(rx, size, true, "gre");
  gre_round_trip(data, 0, rx, "gre");
}

void ipv4_gre(const uint8_t* data, size_t size) {
  constexpr uint32_t kUnset = 0x5a5a5a5a;
  uint32_t src = kUnset;
  const TunnelRx rx = net::ipv4_gre_parse(data, size, &src);
  check_refusal(rx, "ipv4_gre");
  const bool ip_checked = rx.error == TunnelError::kNone || rx.error == TunnelError::kBadFlags ||
                          rx.error == TunnelError::kBadOptions || rx.error == TunnelError::kShortInner;
  if (ip_checked) {
    FUZZ_CHECK(size >= 20 && std::memcmp(&src, data + 12, 4) == 0, "ipv4_gre: source address not returned");
  } else if (rx.error == TunnelError::kNotIp || rx.error == TunnelError::kFragment) {
    FUZZ_CHECK(src == kUnset, "ipv4_gre: source written for a bad IP header");
  }
  if (rx.error != TunnelError::kNone) return;
  const size_t ihl = size_t{data[0] & 0x0fu} * 4;
  const size_t total = size_t{data[2]} << 8 | data[3];
  FUZZ_CHECK((data[0] >> 4) == 4 && ihl >= 20 && data[9] == net::kIpProtoGre, "ipv4_gre: accepted a non-GRE header");
  FUZZ_CHECK(total <= size && rx.inner_off + rx.inner_len == total, "ipv4_gre: inner frame does not end at %zu",
             total);
  FUZZ_CHECK((data[6] & 0x3f) == 0 && data[7] == 0, "ipv4_gre: accepted a fragment");
  check_inner(rx, size, false, "ipv4_gre");
  // What gre_parse says about the GRE header alone must agree.
  const TunnelRx inner = net::gre_parse(data + ihl, total - ihl);
  FUZZ_CHECK(inner.error == TunnelError::kNone && inner.inner_off + ihl == rx.inner_off && inner.vni == rx.vni,
             "ipv4_gre: disagrees with gre_parse");
  gre_round_trip(data, ihl, rx, "ipv4_gre");
}

void flow_hash(const uint8_t* data, size_t size) {
  const uint32_t h = net::inner_flow_hash(data, size);
  std::vector<uint8_t> copy(data, data + size);
  FUZZ_CHECK(net::inner_flow_hash(copy.data(), copy.size()) == h, "inner_flow_hash differs for the same bytes");
  const uint16_t port = net::tunnel_src_port(h);
  FUZZ_CHECK(port >= 49152, "tunnel_src_port %u", unsigned{port});
  // Every inner frame the parsers found, from an exactly-sized copy.
  for (auto parse : {net::vxlan_parse, net::geneve_parse, net::gre_parse}) {
    const TunnelRx rx = parse(data, size);
    if (rx.error != TunnelError::kNone) continue;
    std::vector<uint8_t> f(data + rx.inner_off, data + rx.inner_off + rx.inner_len);
    net::inner_flow_hash(f.data(), f.size());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  vxlan(data, size);
  geneve(data, size);
  gre(data, size);
  ipv4_gre(data, size);
  flow_hash(data, size);
  return 0;
}
