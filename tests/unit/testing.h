// Helpers shared by unit tests: frame builders and a datapath harness whose
// ports record what they send.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "dp/datapath.h"
#include "net/bytes.h"
#include "net/headers.h"

namespace kvnet::testing {

// The message of a failed Status, "" for a success (for EXPECT_EQ and <<).
inline std::string error_of(const Status& s) { return s ? "" : s.error().message; }

using Bytes = std::vector<uint8_t>;

// Big-endian appends, for building frames and headers by hand.
inline void put16(Bytes& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}
inline void put32(Bytes& b, uint32_t v) {
  put16(b, static_cast<uint16_t>(v >> 16));
  put16(b, static_cast<uint16_t>(v));
}

inline net::Mac mac(uint64_t v) { return net::Mac::from_u64(v); }

struct Tag {
  uint16_t tpid = net::kEthTypeVlan;
  uint16_t vid = 0;
  uint8_t pcp = 0;
};

// An Ethernet frame: dst, src, optional tags (outermost first), EtherType,
// and payload bytes (0xab) up to `len` total (at least 60).
inline Bytes eth(uint64_t dst, uint64_t src, std::vector<Tag> tags = {}, uint16_t type = 0x0800, size_t len = 60) {
  Bytes b;
  auto put16 = [&](uint16_t v) {
    b.push_back(static_cast<uint8_t>(v >> 8));
    b.push_back(static_cast<uint8_t>(v));
  };
  for (int i = 40; i >= 0; i -= 8) b.push_back(static_cast<uint8_t>(dst >> i));
  for (int i = 40; i >= 0; i -= 8) b.push_back(static_cast<uint8_t>(src >> i));
  for (const Tag& t : tags) {
    put16(t.tpid);
    put16(static_cast<uint16_t>((t.pcp << 13) | t.vid));
  }
  put16(type);
  while (b.size() < len) b.push_back(0xab);
  return b;
}

// Records every frame a port sends.
class CaptureBackend final : public dp::PortBackend {
 public:
  explicit CaptureBackend(std::vector<Bytes>* sink) : sink_(sink) {}
  uint32_t send(net::FrameBatch& batch, net::FramePool& pool) override {
    for (uint32_t i = 0; i < batch.count; ++i) sink_->emplace_back(batch[i]->data(), batch[i]->data() + batch[i]->len());
    const uint32_t n = batch.count;
    pool.put(batch);
    return n;
  }

 private:
  std::vector<Bytes>* sink_;
};

// A datapath whose non-patch ports capture their output by port name.
class Harness {
 public:
  explicit Harness(size_t pool = 4096) : dp(pool) {}

  dp::Bridge& bridge(const std::string& name, dp::BridgeType t, dp::BridgeSettings s = {}) {
    return dp.add_bridge(name, t, s);
  }
  dp::Port& port(dp::Bridge& br, const std::string& name, dp::VlanConfig v = {}, uint32_t mtu = 1500) {
    return dp.add_port(br, name, dp::KindTag{"pcap"}, mtu, v, std::make_unique<CaptureBackend>(&out[name]));
  }
  // A patch pair between two bridges.
  std::pair<dp::Port*, dp::Port*> patch(dp::Bridge& a, const std::string& an, dp::VlanConfig av, dp::Bridge& b,
                                        const std::string& bn, dp::VlanConfig bv) {
    dp::Port& x = dp.add_port(a, an, dp::kPatchKind, 1500, av, nullptr);
    dp::Port& y = dp.add_port(b, bn, dp::kPatchKind, 1500, bv, nullptr);
    dp.connect_patch(x, y);
    return {&x, &y};
  }
  // Sends one frame into `port` at time `ts_ns`.
  void send(const std::string& port, const Bytes& frame, uint64_t ts_ns = 0) {
    dp::Port* p = dp.find_port(port);
    net::Frame* f = dp.pool().get();
    f->assign(frame.data(), frame.size());
    f->meta.ts_ns = ts_ns;
    net::FrameBatch b;
    b.add(f);
    dp.receive(*p, b);
  }
  // Frames sent by `port` since the last take().
  std::vector<Bytes> take(const std::string& port) {
    auto v = std::move(out[port]);
    out[port].clear();
    return v;
  }
  const dp::PortCounters& counters(const std::string& port) { return dp.find_port(port)->counters; }

  dp::Datapath dp;
  std::map<std::string, std::vector<Bytes>> out;
};

inline dp::VlanConfig access(uint16_t pvid) {
  dp::VlanConfig c;
  c.mode = dp::VlanMode::kAccess;
  c.pvid = pvid;
  return c;
}
inline dp::VlanSet vset(std::initializer_list<uint16_t> v) {
  dp::VlanSet s;
  for (auto x : v) s.set(x);
  return s;
}
inline dp::VlanConfig trunk(uint16_t pvid, std::initializer_list<uint16_t> allowed) {
  dp::VlanConfig c;
  c.mode = dp::VlanMode::kTrunk;
  c.pvid = pvid;
  c.allowed = vset(allowed);
  return c;
}
inline dp::VlanConfig hybrid(uint16_t pvid, std::initializer_list<uint16_t> tagged,
                             std::initializer_list<uint16_t> untagged) {
  dp::VlanConfig c;
  c.mode = dp::VlanMode::kHybrid;
  c.pvid = pvid;
  c.tagged = vset(tagged);
  c.untagged = vset(untagged);
  return c;
}

}  // namespace kvnet::testing
