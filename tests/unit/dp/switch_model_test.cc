// A randomized test of the VLAN-aware learning switch (dp::SwitchBridge)
// against a small, independent model of its rules.
//
// The model (`SwitchModel`) is written from the specification of the rules,
// not from dp/vlan.h: port membership and the send rule are plain if/else per
// mode over std::set, the FDB is a std::map keyed by (VLAN, MAC), and frames
// are byte vectors it edits itself. For many seeds the test builds one switch
// with random ports, sends random frames (tagged, priority-tagged, untagged,
// 0x88a8, bad and reserved addresses, runts), and compares, frame by frame and
// port by port, the exact bytes every port sent, and the port counters.
//
// Reproduce one seed with KVNET_SWITCH_MODEL_SEED=<seed>; soak with
// KVNET_SWITCH_MODEL_SEEDS=<n> (seeds 1..n instead of 1..200).
//
// Clarification the model makes (the spec does not say): a frame carries a tag
// only if it is long enough for the tag and the EtherType after it (18 bytes);
// a 14-17 byte frame whose EtherType is 0x8100 is an untagged frame.
//
// QinQ follows Open vSwitch 3.x (issue 6 §9): while switched, a frame has its
// VLAN and maybe an inner tag (a 0x8100 tag left at the front of its bytes;
// none = inner VLAN 0). Access ports send inner VLAN 0 only (an inner priority
// tag is removed); dot1q-tunnel ports with cvlans send inner VLANs in cvlans
// only and drop untagged/priority-tagged input; a service tag has PCP 0.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "dp/counters.h"
#include "dp/vlan.h"
#include "testing.h"

namespace kvnet {
namespace {

using testing::Bytes;
using testing::put16;

// ------------------------------------------------------------------ the model

enum class ModelMode { kAccess, kTrunk, kHybrid, kTunnel };

struct ModelPort {
  ModelMode mode = ModelMode::kAccess;
  uint16_t pvid = 1;
  std::optional<std::set<uint16_t>> allowed;  // trunk; not given = {pvid}
  std::set<uint16_t> tagged;                  // hybrid
  std::set<uint16_t> untagged;                // hybrid
  std::optional<std::set<uint16_t>> cvlans;   // dot1q-tunnel; not given = all
  uint16_t qinq_tpid = 0x88a8;                // dot1q-tunnel
};

// Does port `p` carry VLAN `v`?
bool model_member(const ModelPort& p, uint16_t v) {
  if (p.mode == ModelMode::kAccess || p.mode == ModelMode::kTunnel) return v == p.pvid;
  if (p.mode == ModelMode::kTrunk) {
    if (p.allowed) return p.allowed->count(v) > 0;
    return v == p.pvid;
  }
  return p.tagged.count(v) > 0 || p.untagged.count(v) > 0;
}

// Does a frame of VLAN `v` (which `p` carries) leave `p` untagged?
bool model_sends_untagged(const ModelPort& p, uint16_t v) {
  if (p.mode == ModelMode::kAccess || p.mode == ModelMode::kTunnel) return true;
  if (p.mode == ModelMode::kTrunk) return v == p.pvid;
  if (p.untagged.count(v) > 0) return true;
  return p.tagged.count(v) > 0 && v == p.pvid;
}

// Does `p` (which carries the frame's VLAN) send a frame whose inner VLAN is `inner`?
bool model_takes_inner(const ModelPort& p, uint16_t inner) {
  if (p.mode == ModelMode::kAccess) return inner == 0;
  if (p.mode == ModelMode::kTunnel) return !p.cvlans || p.cvlans->count(inner) > 0;
  return true;
}

bool starts_with_tag(const Bytes& f) { return f.size() >= 18 && f[12] == 0x81 && f[13] == 0x00; }

uint64_t read_mac(const Bytes& f, size_t at) {
  uint64_t m = 0;
  for (size_t i = 0; i < 6; ++i) m = (m << 8) | f[at + i];
  return m;
}

struct ModelResult {
  std::vector<std::optional<Bytes>> out;  // per port: the frame it sends, if any
  std::optional<dp::Drop> drop;           // counted on the ingress port
};

class SwitchModel {
 public:
  explicit SwitchModel(std::vector<ModelPort> ports) : ports_(std::move(ports)) {}

  ModelResult receive(size_t in, const Bytes& f) {
    ModelResult r;
    r.out.assign(ports_.size(), std::nullopt);
    if (f.size() < 14) {
      r.drop = dp::Drop::kRunt;
      return r;
    }
    const uint64_t dst = read_mac(f, 0);
    const uint64_t src = read_mac(f, 6);
    const bool src_multicast = (f[6] & 1) != 0;
    if (src_multicast || src == 0) {
      r.drop = dp::Drop::kBadSrcMac;
      return r;
    }
    if ((dst & ~uint64_t{0xf}) == 0x0180c2000000ULL) {
      r.drop = dp::Drop::kReservedDst;
      return r;
    }

    const bool has_tag = starts_with_tag(f);
    const uint16_t vid = has_tag ? static_cast<uint16_t>(((f[14] & 0x0f) << 8) | f[15]) : 0;
    uint8_t pcp = has_tag ? static_cast<uint8_t>(f[14] >> 5) : 0;
    Bytes bare = f;  // the frame while it is switched: without its tag
    if (has_tag) bare.erase(bare.begin() + 12, bare.begin() + 16);

    const ModelPort& p = ports_[in];
    uint16_t vlan = 0;
    uint16_t tpid = 0x8100;
    if (p.mode == ModelMode::kTunnel) {  // every frame joins the service VLAN
      if ((!has_tag || vid == 0) && p.cvlans) {
        r.drop = dp::Drop::kUntaggedNotInCvlans;
        return r;
      }
      if (vid == 4095) {
        r.drop = dp::Drop::kInvalidVid;
        return r;
      }
      if (vid != 0 && p.cvlans && !p.cvlans->count(vid)) {
        r.drop = dp::Drop::kCvlanNotAllowed;
        return r;
      }
      if (!has_tag || vid != 0 || pcp != 0) bare = f;  // the customer tag stays; a PCP-0 priority tag goes
      vlan = p.pvid;
      pcp = 0;  // the service tag's
      tpid = p.qinq_tpid;
    } else if (!has_tag || vid == 0) {
      if (!model_member(p, p.pvid)) {
        r.drop = dp::Drop::kUntaggedNotAllowed;
        return r;
      }
      vlan = p.pvid;
    } else if (p.mode == ModelMode::kAccess) {
      r.drop = dp::Drop::kTaggedOnAccess;
      return r;
    } else if (vid == 4095) {
      r.drop = dp::Drop::kInvalidVid;
      return r;
    } else if (!model_member(p, vid)) {
      r.drop = dp::Drop::kVlanNotAllowed;
      return r;
    } else {
      vlan = vid;
    }

    fdb_[{vlan, src}] = in;

    const bool inner_tag = starts_with_tag(bare);
    const uint16_t inner = inner_tag ? static_cast<uint16_t>(((bare[14] & 0x0f) << 8) | bare[15]) : 0;
    auto takes = [&](size_t q) { return model_member(ports_[q], vlan) && model_takes_inner(ports_[q], inner); };
    std::vector<size_t> targets;
    const bool dst_multicast = (f[0] & 1) != 0;
    auto known = fdb_.find({vlan, dst});
    if (dst_multicast || known == fdb_.end()) {
      for (size_t q = 0; q < ports_.size(); ++q)
        if (q != in && takes(q)) targets.push_back(q);
    } else if (known->second == in) {
      r.drop = dp::Drop::kToIngressPort;
      return r;
    } else if (takes(known->second)) {
      targets.push_back(known->second);
    }

    for (size_t q : targets) {
      if (ports_[q].mode == ModelMode::kAccess && inner_tag) {  // inner priority tag: removed
        Bytes t = bare;
        t.erase(t.begin() + 12, t.begin() + 16);
        r.out[q] = t;
      } else if (model_sends_untagged(ports_[q], vlan)) {
        r.out[q] = bare;
      } else {
        Bytes t = bare;
        const uint16_t tci = static_cast<uint16_t>((pcp << 13) | vlan);
        const uint8_t tag[4] = {static_cast<uint8_t>(tpid >> 8), static_cast<uint8_t>(tpid),
                                static_cast<uint8_t>(tci >> 8), static_cast<uint8_t>(tci)};
        t.insert(t.begin() + 12, tag, tag + 4);
        r.out[q] = t;
      }
    }
    return r;
  }

  const std::vector<ModelPort>& ports() const { return ports_; }

 private:
  std::vector<ModelPort> ports_;
  std::map<std::pair<uint16_t, uint64_t>, size_t> fdb_;
};

// ------------------------------------------------------------------ helpers

dp::VlanConfig to_config(const ModelPort& m) {
  dp::VlanConfig c;
  c.pvid = m.pvid;
  switch (m.mode) {
    case ModelMode::kAccess: c.mode = dp::VlanMode::kAccess; break;
    case ModelMode::kTrunk:
      c.mode = dp::VlanMode::kTrunk;
      if (m.allowed) {
        c.allowed = dp::VlanSet();
        for (uint16_t v : *m.allowed) c.allowed->set(v);
      }
      break;
    case ModelMode::kHybrid:
      c.mode = dp::VlanMode::kHybrid;
      for (uint16_t v : m.tagged) c.tagged.set(v);
      for (uint16_t v : m.untagged) c.untagged.set(v);
      break;
    case ModelMode::kTunnel:
      c.mode = dp::VlanMode::kDot1qTunnel;
      c.qinq_tpid = m.qinq_tpid;
      if (m.cvlans) {
        c.cvlans = dp::VlanSet();
        for (uint16_t v : *m.cvlans) c.cvlans->set(v);
      }
      break;
  }
  return c;
}

std::string set_str(const std::set<uint16_t>& s) {
  std::string r = "{";
  for (uint16_t v : s) r += (r.size() > 1 ? "," : "") + std::to_string(v);
  return r + "}";
}

std::string port_str(size_t i, const ModelPort& p) {
  std::string r = "p" + std::to_string(i) + ": ";
  switch (p.mode) {
    case ModelMode::kAccess: r += "access pvid=" + std::to_string(p.pvid); break;
    case ModelMode::kTrunk:
      r += "trunk pvid=" + std::to_string(p.pvid) + " allowed=" + (p.allowed ? set_str(*p.allowed) : "(default)");
      break;
    case ModelMode::kHybrid:
      r += "hybrid pvid=" + std::to_string(p.pvid) + " tagged=" + set_str(p.tagged) +
           " untagged=" + set_str(p.untagged);
      break;
    case ModelMode::kTunnel:
      r += "dot1q-tunnel pvid=" + std::to_string(p.pvid) + " cvlans=" + (p.cvlans ? set_str(*p.cvlans) : "(all)") +
           " qinq_tpid=" + (p.qinq_tpid == 0x8100 ? "0x8100" : "0x88a8");
      break;
  }
  return r;
}

std::string hex(const Bytes& b) {
  std::string r;
  char buf[4];
  for (size_t i = 0; i < b.size(); ++i) {
    if (i == 6 || i == 12 || (i > 12 && i % 2 == 0)) r += ' ';
    std::snprintf(buf, sizeof buf, "%02x", b[i]);
    r += buf;
  }
  return r + " (" + std::to_string(b.size()) + " bytes)";
}

std::string opt_hex(const std::optional<Bytes>& b) { return b ? hex(*b) : std::string("(nothing)"); }

std::string port_name(size_t i) { return "p" + std::to_string(i); }

// ------------------------------------------------------------------ random inputs

constexpr uint16_t kVlanPool[] = {1, 2, 3, 4, 10, 4094};
constexpr uint16_t kTagVids[] = {0, 1, 2, 3, 4, 10, 4094, 4095, 20};
constexpr uint64_t kUnicastMacs[] = {0x020000000001, 0x020000000002, 0x020000000003, 0x020000000004,
                                     0x020000000005, 0x0a0b0c0d0e0f};
constexpr uint64_t kSpecialMacs[] = {
    0xffffffffffff,  // broadcast
    0x01005e000001,  // IPv4 multicast
    0x333300000001,  // IPv6 multicast
    0x000000000000,  // all-zero
    0x0180c2000000,  // STP: reserved
    0x0180c200000e,  // LLDP: reserved
    0x0180c200000f,  // last reserved
    0x0180c2000010,  // first non-reserved 01:80:c2 group
    0x030000000001,  // multicast bit with a unicast-looking address
};

template <typename T, size_t N>
T pick(std::mt19937& rng, const T (&a)[N]) {
  return a[std::uniform_int_distribution<size_t>(0, N - 1)(rng)];
}

bool chance(std::mt19937& rng, int percent) { return std::uniform_int_distribution<int>(0, 99)(rng) < percent; }

ModelPort random_port(std::mt19937& rng) {
  ModelPort p;
  p.mode = static_cast<ModelMode>(std::uniform_int_distribution<int>(0, 3)(rng));
  p.pvid = pick(rng, kVlanPool);
  if (p.mode == ModelMode::kTrunk && !chance(rng, 25)) {
    p.allowed.emplace();
    for (uint16_t v : kVlanPool)
      if (chance(rng, 50)) p.allowed->insert(v);
  }
  if (p.mode == ModelMode::kTunnel) {
    if (chance(rng, 50)) p.qinq_tpid = 0x8100;
    if (chance(rng, 60)) {
      p.cvlans.emplace();
      for (uint16_t v : kTagVids)
        if (v >= 1 && v <= 4094 && chance(rng, 50)) p.cvlans->insert(v);
      if (p.cvlans->empty()) p.cvlans->insert(pick(rng, kVlanPool));
    }
  }
  if (p.mode == ModelMode::kHybrid) {
    for (uint16_t v : kVlanPool) {
      const int k = std::uniform_int_distribution<int>(0, 2)(rng);
      if (k == 0) p.tagged.insert(v);
      if (k == 1) p.untagged.insert(v);
    }
  }
  return p;
}

void put_mac(Bytes& b, uint64_t m) {
  for (int i = 40; i >= 0; i -= 8) b.push_back(static_cast<uint8_t>(m >> i));
}

Bytes random_frame(std::mt19937& rng) {
  auto byte = [&rng] { return static_cast<uint8_t>(std::uniform_int_distribution<int>(0, 255)(rng)); };
  Bytes b;
  // Harness::send passes b.data() to Frame::assign(), which memcpy()s from it:
  // keep it non-null for 0-byte frames (memcpy from nullptr is UB even for 0 bytes).
  b.reserve(64);
  const int kind = std::uniform_int_distribution<int>(0, 99)(rng);
  if (kind < 3) {  // runt
    const size_t n = std::uniform_int_distribution<size_t>(0, 13)(rng);
    for (size_t i = 0; i < n; ++i) b.push_back(byte());
    if (n > 6 && chance(rng, 50)) b[6] = 0x02;  // a plausible source
    return b;
  }
  const uint64_t dst = chance(rng, 50) ? pick(rng, kUnicastMacs) : pick(rng, kSpecialMacs);
  const uint64_t src = chance(rng, 88) ? pick(rng, kUnicastMacs) : pick(rng, kSpecialMacs);
  put_mac(b, dst);
  put_mac(b, src);
  if (kind < 6) {  // 14-17 bytes: a header, sometimes with a TPID that has no room for its tag
    put16(b, chance(rng, 60) ? uint16_t{0x8100} : uint16_t{0x0800});
    const size_t extra = std::uniform_int_distribution<size_t>(0, 3)(rng);
    for (size_t i = 0; i < extra; ++i) b.push_back(byte());
    return b;
  }
  // Up to three tags in front of the EtherType; only an outer 0x8100 is a tag.
  const int outer = std::uniform_int_distribution<int>(0, 99)(rng);
  int n_tags = 0;
  if (outer < 45) n_tags = 1 + (chance(rng, 20) ? 1 : 0);
  else if (outer < 55) n_tags = 1 + std::uniform_int_distribution<int>(0, 2)(rng);
  for (int i = 0; i < n_tags; ++i) {
    uint16_t tpid = 0x8100;
    if (i == 0 && outer >= 45) tpid = 0x88a8;
    if (i > 0 && chance(rng, 30)) tpid = 0x88a8;
    const uint16_t vid = pick(rng, kTagVids);
    const uint8_t pcp = static_cast<uint8_t>(std::uniform_int_distribution<int>(0, 7)(rng));
    put16(b, tpid);
    put16(b, static_cast<uint16_t>((pcp << 13) | vid));
  }
  constexpr uint16_t kTypes[] = {0x0800, 0x0806, 0x86dd, 0x88cc, 0x9000};
  const uint16_t type = pick(rng, kTypes);
  put16(b, type);
  const size_t l3 = b.size();
  size_t len = std::uniform_int_distribution<size_t>(b.size(), 128)(rng);
  if (chance(rng, 3)) len = std::uniform_int_distribution<size_t>(1000, 1514)(rng);
  while (b.size() < len) b.push_back(byte());
  // Often a plausible IPv4/IPv6 header, so the flow parser goes past L3 (the
  // switch must forward the bytes unchanged whatever they parse as).
  constexpr uint8_t kProtos[] = {1, 6, 17, 58};
  if (type == 0x0800 && b.size() >= l3 + 20 && chance(rng, 60)) {
    b[l3] = 0x45;
    b[l3 + 2] = static_cast<uint8_t>((b.size() - l3) >> 8);
    b[l3 + 3] = static_cast<uint8_t>(b.size() - l3);
    b[l3 + 6] = 0;  // not a fragment
    b[l3 + 9] = pick(rng, kProtos);
  } else if (type == 0x86dd && b.size() >= l3 + 40 && chance(rng, 60)) {
    b[l3] = 0x60;
    b[l3 + 4] = static_cast<uint8_t>((b.size() - l3 - 40) >> 8);
    b[l3 + 5] = static_cast<uint8_t>(b.size() - l3 - 40);
    b[l3 + 6] = pick(rng, kProtos);
  }
  return b;
}

// ------------------------------------------------------------------ the comparison

struct Counts {
  uint64_t rx = 0;
  uint64_t tx = 0;
  std::array<uint64_t, static_cast<size_t>(dp::Drop::kCount)> drops{};
  uint64_t total_drops() const {
    uint64_t t = 0;
    for (auto v : drops) t += v;
    return t;
  }
};

std::string drops_str(const std::array<uint64_t, static_cast<size_t>(dp::Drop::kCount)>& d) {
  std::string r;
  for (size_t i = 0; i < d.size(); ++i)
    if (d[i]) r += std::string(dp::kDropNames[i]) + "=" + std::to_string(d[i]) + " ";
  return r.empty() ? "none" : r;
}

// Runs one seed. Returns an empty string if the switch agreed with the model on
// every frame, otherwise a description of the first disagreement.
std::string run_seed(uint32_t seed, int n_frames) {
  std::mt19937 rng(seed);
  const size_t n_ports = std::uniform_int_distribution<size_t>(3, 6)(rng);
  std::vector<ModelPort> ports;
  for (size_t i = 0; i < n_ports; ++i) ports.push_back(random_port(rng));

  testing::Harness h(64);
  dp::Bridge& br = h.bridge("br", dp::BridgeType::kSwitch);
  for (size_t i = 0; i < n_ports; ++i) {
    const dp::VlanConfig c = to_config(ports[i]);
    if (auto st = dp::validate(c); !st)
      return "seed " + std::to_string(seed) + ": generated an invalid config: " + st.error().message;
    h.port(br, port_name(i), c);
  }
  SwitchModel model(ports);
  std::vector<Counts> counts(n_ports);

  auto describe = [&](int frame_no, size_t in, const Bytes& f) {
    std::ostringstream os;
    os << "seed " << seed << " (KVNET_SWITCH_MODEL_SEED=" << seed << "), frame #" << frame_no << " into p" << in
       << "\nports:\n";
    for (size_t i = 0; i < n_ports; ++i) os << "  " << port_str(i, ports[i]) << "\n";
    os << "frame: " << hex(f) << "\n";
    return os.str();
  };

  for (int k = 0; k < n_frames; ++k) {
    const size_t in = std::uniform_int_distribution<size_t>(0, n_ports - 1)(rng);
    const Bytes f = random_frame(rng);
    const ModelResult want = model.receive(in, f);
    h.send(port_name(in), f);

    Counts& ci = counts[in];
    ++ci.rx;
    if (want.drop) ++ci.drops[static_cast<size_t>(*want.drop)];

    std::string diff;
    for (size_t q = 0; q < n_ports; ++q) {
      std::vector<Bytes> got = h.take(port_name(q));
      if (want.out[q]) ++counts[q].tx;
      const bool same = got.size() == (want.out[q] ? 1u : 0u) && (got.empty() || got[0] == *want.out[q]);
      if (same) continue;
      diff += "p" + std::to_string(q) + " expected " + opt_hex(want.out[q]) + "\n";
      if (got.empty()) diff += "   got (nothing)\n";
      for (const Bytes& g : got) diff += "   got " + hex(g) + "\n";
    }
    for (size_t q = 0; q < n_ports; ++q) {
      const dp::PortCounters& pc = h.counters(port_name(q));
      const Counts& c = counts[q];
      if (pc.rx_packets != c.rx || pc.tx_packets != c.tx || pc.total_drops() != c.total_drops() ||
          pc.drops != c.drops) {
        diff += "p" + std::to_string(q) + " counters: expected rx=" + std::to_string(c.rx) +
                " tx=" + std::to_string(c.tx) + " drops: " + drops_str(c.drops) +
                "\n   got rx=" + std::to_string(pc.rx_packets) + " tx=" + std::to_string(pc.tx_packets) +
                " drops: " + drops_str(pc.drops) + "\n";
      }
    }
    if (!diff.empty()) {
      std::string why = want.drop ? "model: dropped (" + std::string(dp::to_string(*want.drop)) + ")\n" : "";
      return describe(k, in, f) + why + diff;
    }
  }
  return {};
}

// ------------------------------------------------------------------ model sanity

ModelPort m_access(uint16_t pvid) {
  ModelPort p;
  p.mode = ModelMode::kAccess;
  p.pvid = pvid;
  return p;
}
ModelPort m_trunk(uint16_t pvid, std::optional<std::set<uint16_t>> allowed) {
  ModelPort p;
  p.mode = ModelMode::kTrunk;
  p.pvid = pvid;
  p.allowed = std::move(allowed);
  return p;
}
ModelPort m_hybrid(uint16_t pvid, std::set<uint16_t> tagged, std::set<uint16_t> untagged) {
  ModelPort p;
  p.mode = ModelMode::kHybrid;
  p.pvid = pvid;
  p.tagged = std::move(tagged);
  p.untagged = std::move(untagged);
  return p;
}

constexpr uint64_t kA = 0x020000000001;
constexpr uint64_t kB = 0x020000000002;
constexpr uint64_t kC = 0x020000000003;
constexpr uint64_t kBcast = 0xffffffffffff;
using testing::eth;
using testing::Tag;

// Hand-computed expectations for the tag and strip rules of every mode.
TEST(SwitchModel, ModelTagsAndStripsPerMode) {
  // p0 access 10; p1 trunk pvid 1 allowed {1,10}; p2 hybrid pvid 10 tagged {10,20} untagged {1}.
  SwitchModel m({m_access(10), m_trunk(1, std::set<uint16_t>{1, 10}), m_hybrid(10, {10, 20}, {1})});

  // Untagged broadcast on the access port: VLAN 10; the trunk tags it (pcp 0);
  // the hybrid port strips it (10 is tagged there but is its pvid).
  auto r = m.receive(0, eth(kBcast, kA));
  EXPECT_FALSE(r.drop);
  EXPECT_FALSE(r.out[0]);
  EXPECT_EQ(r.out[1], eth(kBcast, kA, {Tag{0x8100, 10, 0}}, 0x0800, 64));
  EXPECT_EQ(r.out[2], eth(kBcast, kA));

  // Tagged 10 (pcp 5) on the trunk to A (learned on p0 in VLAN 10): only p0, untagged.
  r = m.receive(1, eth(kA, kB, {Tag{0x8100, 10, 5}}));
  EXPECT_FALSE(r.drop);
  EXPECT_FALSE(r.out[1]);
  EXPECT_FALSE(r.out[2]);
  EXPECT_EQ(r.out[0], eth(kA, kB, {}, 0x0800, 56));

  // Priority tag (VID 0, pcp 3) on the hybrid port counts as untagged: VLAN 10.
  // B is known on p1 in VLAN 10; the trunk sends it tagged 10 keeping pcp 3.
  r = m.receive(2, eth(kB, kC, {Tag{0x8100, 0, 3}}));
  EXPECT_FALSE(r.drop);
  EXPECT_EQ(r.out[1], eth(kB, kC, {Tag{0x8100, 10, 3}}));
  EXPECT_FALSE(r.out[0]);

  // Untagged broadcast on the trunk: VLAN 1 (its pvid); p2 sends 1 untagged, p0 does not carry 1.
  r = m.receive(1, eth(kBcast, kB, {}, 0x0806));
  EXPECT_FALSE(r.out[0]);
  EXPECT_EQ(r.out[2], eth(kBcast, kB, {}, 0x0806));

  // Tagged 20 on the hybrid port: p0 and p1 do not carry 20, nothing is sent.
  r = m.receive(2, eth(kBcast, kB, {Tag{0x8100, 20, 1}}));
  EXPECT_FALSE(r.drop);
  for (const auto& o : r.out) EXPECT_FALSE(o);

  // An inner tag stays: only the outer 0x8100 tag is removed or replaced.
  // Changed for issue 6 §9 (OVS): an access port never sends a frame that still
  // carries an inner tag (was: p0 sent it with the inner tag 7).
  r = m.receive(1, eth(kBcast, kB, {Tag{0x8100, 10, 2}, Tag{0x8100, 7, 1}}));
  EXPECT_FALSE(r.out[0]);
  EXPECT_EQ(r.out[2], eth(kBcast, kB, {Tag{0x8100, 7, 1}}, 0x0800, 56));
}

// Hand-computed drop decisions, including the reason counted.
TEST(SwitchModel, ModelDrops) {
  // p0 access 1; p1 trunk pvid 2 allowed {1}; p2 trunk pvid 1 (default allowed {1}).
  SwitchModel m({m_access(1), m_trunk(2, std::set<uint16_t>{1}), m_trunk(1, std::nullopt)});
  auto reason = [&](size_t in, const Bytes& f) { return m.receive(in, f).drop; };

  EXPECT_EQ(reason(0, Bytes(13, 0x02)), dp::Drop::kRunt);
  EXPECT_EQ(reason(0, eth(kBcast, 0x010000000001)), dp::Drop::kBadSrcMac);
  EXPECT_EQ(reason(0, eth(kBcast, 0)), dp::Drop::kBadSrcMac);
  EXPECT_EQ(reason(0, eth(0x0180c200000e, kA)), dp::Drop::kReservedDst);
  EXPECT_EQ(reason(0, eth(0x0180c2000000, kA)), dp::Drop::kReservedDst);
  EXPECT_EQ(reason(0, eth(0x0180c2000010, kA)), std::nullopt);  // not reserved: flooded
  EXPECT_EQ(reason(0, eth(kBcast, kA, {Tag{0x8100, 1, 0}})), dp::Drop::kTaggedOnAccess);
  EXPECT_EQ(reason(0, eth(kBcast, kA, {Tag{0x8100, 0, 4}})), std::nullopt);  // priority tag
  EXPECT_EQ(reason(0, eth(kBcast, kA, {Tag{0x88a8, 1, 0}})), std::nullopt);  // 0x88a8: untagged
  EXPECT_EQ(reason(1, eth(kBcast, kB, {Tag{0x8100, 4095, 0}})), dp::Drop::kInvalidVid);
  EXPECT_EQ(reason(1, eth(kBcast, kB, {Tag{0x8100, 2, 0}})), dp::Drop::kVlanNotAllowed);
  EXPECT_EQ(reason(1, eth(kBcast, kB)), dp::Drop::kUntaggedNotAllowed);  // pvid 2 not allowed
  EXPECT_EQ(reason(2, eth(kBcast, kC, {Tag{0x8100, 2, 0}})), dp::Drop::kVlanNotAllowed);

  // 0x88a8 frame leaves the trunk unchanged (VLAN 1 = pvid), and p1 tags it.
  auto r = m.receive(0, eth(kBcast, kA, {Tag{0x88a8, 5, 0}}));
  EXPECT_EQ(r.out[2], eth(kBcast, kA, {Tag{0x88a8, 5, 0}}));
  EXPECT_EQ(r.out[1], eth(kBcast, kA, {Tag{0x8100, 1, 0}, Tag{0x88a8, 5, 0}}, 0x0800, 64));

  // A (learned on p0 in VLAN 1) sent to A from p0: destination is the ingress port.
  EXPECT_EQ(reason(0, eth(kA, kC)), dp::Drop::kToIngressPort);
  // A frame to itself: learned first, then found on the ingress port.
  EXPECT_EQ(reason(2, eth(kB, kB)), dp::Drop::kToIngressPort);
}

// Learning is per (VLAN, MAC) and follows a station that moves.
TEST(SwitchModel, ModelLearnsPerVlanAndMoves) {
  // p0, p1: trunks carrying {1,10}, pvid 1; p2: access 1; p3: access 10.
  const std::set<uint16_t> both{1, 10};
  SwitchModel m({m_trunk(1, both), m_trunk(1, both), m_access(1), m_access(10)});
  auto sent_to = [](const ModelResult& r) {
    std::vector<size_t> v;
    for (size_t i = 0; i < r.out.size(); ++i)
      if (r.out[i]) v.push_back(i);
    return v;
  };
  // A in VLAN 1 on p2; A in VLAN 10 on p3.
  m.receive(2, eth(kBcast, kA));
  m.receive(3, eth(kBcast, kA));
  EXPECT_EQ(sent_to(m.receive(0, eth(kA, kB))), std::vector<size_t>{2});
  EXPECT_EQ(sent_to(m.receive(0, eth(kA, kB, {Tag{0x8100, 10, 0}}))), std::vector<size_t>{3});
  // A moves to p1 in VLAN 1 only.
  m.receive(1, eth(kBcast, kA));
  EXPECT_EQ(sent_to(m.receive(0, eth(kA, kB))), std::vector<size_t>{1});
  EXPECT_EQ(sent_to(m.receive(0, eth(kA, kB, {Tag{0x8100, 10, 0}}))), std::vector<size_t>{3});
  // Unknown destination in VLAN 10 floods to the other members of 10 only.
  EXPECT_EQ(sent_to(m.receive(0, eth(kC, kB, {Tag{0x8100, 10, 0}}))), (std::vector<size_t>{1, 3}));
  // Multicast destinations flood even if "learned" (they never are: bad source).
  EXPECT_EQ(sent_to(m.receive(2, eth(0x01005e000001, kB))), (std::vector<size_t>{0, 1}));
}

// ------------------------------------------------------------------ the random test

TEST(SwitchModel, RandomFramesMatchModel) {
  uint32_t n_seeds = 200;
  constexpr int kFramesPerSeed = 300;
  if (const char* s = std::getenv("KVNET_SWITCH_MODEL_SEEDS"))  // a longer soak: seeds 1..N
    n_seeds = static_cast<uint32_t>(std::strtoul(s, nullptr, 10));
  std::vector<uint32_t> seeds;
  if (const char* s = std::getenv("KVNET_SWITCH_MODEL_SEED")) {  // reproduce one seed
    seeds.push_back(static_cast<uint32_t>(std::strtoul(s, nullptr, 10)));
  } else {
    for (uint32_t i = 1; i <= n_seeds; ++i) seeds.push_back(i);
  }
  int failures = 0;
  std::string failing;
  for (uint32_t seed : seeds) {
    const std::string diff = run_seed(seed, kFramesPerSeed);
    if (diff.empty()) continue;
    failing += " " + std::to_string(seed);
    if (++failures <= 3) ADD_FAILURE() << diff;
  }
  EXPECT_EQ(failures, 0) << "failing seeds:" << failing;
}

}  // namespace
}  // namespace kvnet
