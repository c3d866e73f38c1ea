// The datapath's MTU rules for GSO frames (issue 6 §8): a GSO frame is checked
// by the size of its segments, software segmentation cuts to the egress MTU,
// and a gso_type of only the ECN flag is not GSO.
#include <gtest/gtest.h>

#include "net/bytes.h"
#include "net/offload.h"
#include "testing.h"

namespace kvnet::testing {
namespace {

constexpr uint64_t kA = 0x525400000001, kBcast = 0xffffffffffff;

// An untagged TCP/IPv4 frame with `payload` bytes after a 20-byte TCP header.
Bytes tcp_frame(size_t payload) {
  Bytes b = eth(kBcast, kA, {}, 0x0800, 14 + 20 + 20 + payload);
  uint8_t* ip = b.data() + 14;
  ip[0] = 0x45;
  net::store_be16(ip + 2, static_cast<uint16_t>(b.size() - 14));
  ip[6] = ip[7] = 0;
  ip[8] = 64;
  ip[9] = net::kIpProtoTcp;
  const uint8_t addrs[] = {10, 0, 0, 1, 10, 0, 0, 2};
  std::copy(std::begin(addrs), std::end(addrs), ip + 12);
  uint8_t* tcp = ip + 20;
  std::fill(tcp, tcp + 20, 0);
  tcp[12] = 5 << 4;
  tcp[13] = 0x10;  // ACK
  return b;
}

struct GsoSwitch : ::testing::Test {
  Harness h;
  dp::Bridge& br = h.bridge("br", dp::BridgeType::kHub);

  // Sends `frame` into `port` with the given GSO type and size.
  void send(const std::string& port, const Bytes& frame, uint8_t gso_type, uint16_t gso_size) {
    net::Frame* f = h.dp.pool().get();
    ASSERT_TRUE(f->assign(frame.data(), frame.size()));
    f->meta.vnet.gso_type = gso_type;
    f->meta.vnet.gso_size = gso_size;
    f->meta.vnet.hdr_len = 54;
    net::FrameBatch b;
    b.add(f);
    h.dp.receive(*h.dp.find_port(port), b);
  }
};

TEST_F(GsoSwitch, GsoFrameIsCheckedBySegmentSizeNotItsLength) {
  h.port(br, "in", {}, 9000);
  h.port(br, "out", {}, 1500);
  send("in", tcp_frame(8000), net::kGsoTcpV4, 1460);  // segments: 20 + 20 + 1460 = 1500
  const auto out = h.take("out");
  ASSERT_EQ(out.size(), 6u);  // cut in software: the capture backend takes no offload
  for (const Bytes& s : out) EXPECT_LE(s.size() - 14, 1500u);
  EXPECT_EQ(h.counters("out").dropped(dp::Drop::kOversize), 0u);
}

TEST_F(GsoSwitch, GsoFrameWhoseSegmentsExceedTheEgressMtuIsOversize) {
  h.port(br, "in", {}, 9000);
  h.port(br, "out", {}, 1500);
  send("in", tcp_frame(8000), net::kGsoTcpV4, 4000);  // 4040-byte segments
  EXPECT_TRUE(h.take("out").empty());
  EXPECT_EQ(h.counters("out").dropped(dp::Drop::kOversize), 1u);
}

TEST_F(GsoSwitch, GsoFrameWhoseSegmentsExceedTheIngressMtuIsOversize) {
  h.port(br, "in", {}, 1500);
  h.port(br, "out", {}, 9000);
  send("in", tcp_frame(8000), net::kGsoTcpV4, 1461);  // one byte too many per segment
  EXPECT_TRUE(h.take("out").empty());
  EXPECT_EQ(h.counters("in").dropped(dp::Drop::kOversize), 1u);
}

TEST_F(GsoSwitch, GsoFrameWithUnreadableHeadersIsCheckedWhole) {
  h.port(br, "in", {}, 1500);
  h.port(br, "out", {}, 1500);
  Bytes f = tcp_frame(3000);
  f[14 + 20 + 12] = 4 << 4;  // TCP data offset 4: no segment size can be known
  send("in", f, net::kGsoTcpV4, 1000);
  EXPECT_TRUE(h.take("out").empty());
  EXPECT_EQ(h.counters("in").dropped(dp::Drop::kOversize), 1u);
}

TEST_F(GsoSwitch, EcnFlagAloneIsNotGsoAndGetsTheNormalMtuCheck) {
  h.port(br, "in", {}, dp::kMaxMtu);
  h.port(br, "out", {}, 1500);
  send("in", tcp_frame(8986), net::kGsoEcn, 1000);  // a 9040-byte frame that is not GSO
  EXPECT_TRUE(h.take("out").empty());
  EXPECT_EQ(h.counters("out").dropped(dp::Drop::kOversize), 1u);
  // On the ingress side too.
  h.port(br, "small", {}, 1500);
  send("small", tcp_frame(8986), net::kGsoEcn, 1000);
  EXPECT_EQ(h.counters("small").dropped(dp::Drop::kOversize), 1u);
  // A frame that fits goes through unchanged.
  send("in", tcp_frame(1000), net::kGsoEcn, 0);
  EXPECT_EQ(h.take("out"), std::vector<Bytes>{tcp_frame(1000)});
}

TEST_F(GsoSwitch, TcpGsoWithTheEcnFlagIsGso) {
  h.port(br, "in", {}, 9000);
  h.port(br, "out", {}, 1500);
  send("in", tcp_frame(8000), net::kGsoTcpV4 | net::kGsoEcn, 1460);
  EXPECT_EQ(h.take("out").size(), 6u);
  send("in", tcp_frame(8000), net::kGsoTcpV4 | net::kGsoEcn, 4000);
  EXPECT_TRUE(h.take("out").empty());
  EXPECT_EQ(h.counters("out").dropped(dp::Drop::kOversize), 1u);
}

}  // namespace
}  // namespace kvnet::testing
