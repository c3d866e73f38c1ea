// Bridges: the three ways kvnet switches frames between its ports.
//
//   hub       every frame that enters one port leaves through every other
//             port, unchanged (the seed's Linux bridge "in this figure").
//   learning  VLAN-unaware learning bridge (a Linux bridge's default): learns
//             source MACs, sends known unicast to one port, floods the rest.
//   switch    VLAN-aware learning switch (Open vSwitch NORMAL): every port
//             classifies frames into a VLAN on receive and applies its send
//             rule per VLAN (dp/vlan.h); the FDB is keyed by (VLAN, MAC).
//
// A bridge is one pipeline stage with one call: `process()` takes a batch of
// frames that entered on one of its ports, and hands every frame it forwards
// to `Datapath::enqueue()`. It owns every frame it is given.
//
// Thread-safety: runs on the datapath thread only.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dp/fdb.h"
#include "dp/port.h"
#include "net/frame.h"

namespace kvnet::dp {

class Datapath;

enum class BridgeType : uint8_t { kHub, kLearning, kSwitch };
std::string_view to_string(BridgeType t);
std::optional<BridgeType> parse_bridge_type(std::string_view s);

inline constexpr uint32_t kDefaultMacAgingSec = 300;
inline constexpr uint32_t kDefaultMacTableSize = 8192;

struct BridgeSettings {
  uint32_t mac_aging_sec = kDefaultMacAgingSec;
  uint32_t mac_table_size = kDefaultMacTableSize;
};

class Bridge {
 public:
  Bridge(Datapath& dp, std::string name, BridgeType type, const BridgeSettings& s);
  virtual ~Bridge() = default;
  Bridge(const Bridge&) = delete;
  Bridge& operator=(const Bridge&) = delete;

  // Switches a batch of frames that entered on `in` (a port of this bridge).
  virtual void process(Port& in, net::FrameBatch& batch) = 0;

  const std::string& name() const { return name_; }
  BridgeType type() const { return type_; }
  const std::vector<Port*>& ports() const { return ports_; }
  void attach(Port& p);
  void detach(Port& p);  // also forgets what the FDB learned on it
  Fdb* fdb() { return fdb_.get(); }  // null for hubs
  const BridgeSettings& settings() const { return settings_; }
  // New aging time applies at once; a new table size keeps the most recently
  // seen entries that fit (static entries first).
  void set_settings(const BridgeSettings& s);

 protected:
  // Drops runts and frames over the ingress MTU; parses the flow key.
  // Returns false (frame freed, counted) if the frame is dropped.
  bool admit(Port& in, net::Frame* f);
  // Learning/switch checks: source MAC and reserved destinations.
  bool admit_l2(Port& in, net::Frame* f);
  void drop(Port& p, net::Frame* f, Drop why, const char* detail);
  // Learns f's source in `vlan` on `in`; traces the result.
  void learn(Port& in, const net::Frame* f, uint16_t vlan);
  // Known unicast port for f in `vlan`, or kNoPort to flood.
  uint32_t lookup(const net::Frame* f, uint16_t vlan);
  // Sends f to every port in `targets`: copies for all but the last.
  template <typename Out>
  void fan_out(Port* const* targets, size_t n, net::Frame* f, Out&& out);

  Datapath& dp_;
  std::string name_;
  BridgeType type_;
  BridgeSettings settings_;
  std::vector<Port*> ports_;
  std::vector<Port*> scratch_;  // flood targets, sized to ports_
  bool busy_ = false;           // process() is never re-entered (the datapath defers patch hand-overs)
  std::unique_ptr<Fdb> fdb_;
};

class HubBridge final : public Bridge {
 public:
  HubBridge(Datapath& dp, std::string name, const BridgeSettings& s)
      : Bridge(dp, std::move(name), BridgeType::kHub, s) {}
  void process(Port& in, net::FrameBatch& batch) override;
};

class LearningBridge final : public Bridge {
 public:
  LearningBridge(Datapath& dp, std::string name, const BridgeSettings& s)
      : Bridge(dp, std::move(name), BridgeType::kLearning, s) {}
  void process(Port& in, net::FrameBatch& batch) override;
};

class SwitchBridge final : public Bridge {
 public:
  SwitchBridge(Datapath& dp, std::string name, const BridgeSettings& s)
      : Bridge(dp, std::move(name), BridgeType::kSwitch, s) {}
  void process(Port& in, net::FrameBatch& batch) override;

 private:
  bool classify(Port& in, net::Frame* f);  // ingress VLAN rule
  void egress(Port& out, net::Frame* f);   // egress VLAN rule, then enqueue
};

std::unique_ptr<Bridge> make_bridge(Datapath& dp, std::string name, BridgeType type, const BridgeSettings& s);

}  // namespace kvnet::dp
