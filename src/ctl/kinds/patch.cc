#include "ctl/kinds/patch.h"

#include "ctl/topology.h"

namespace kvnet::ctl {
namespace {

constexpr KeyHelp kKeys[] = {
    {"peer", "the other end, BRIDGE/PORT (a patch port naming this one back)"},
};

class PatchKind final : public PortKind {
 public:
  std::string_view name() const override { return "patch"; }
  std::string_view summary() const override { return "one end of a virtual cable to another kvnet bridge"; }
  std::span<const KeyHelp> keys() const override { return kKeys; }
  bool is_patch() const override { return true; }
  bool offline() const override { return true; }

  std::shared_ptr<const PortOptions> parse(const OptionReader& in) const override {
    if (!in.has("peer")) in.fail("", "a patch port needs 'peer: BRIDGE/PORT'");
    const std::string peer = in.str("peer");
    const auto slash = peer.find('/');
    if (slash == std::string::npos || slash == 0 || slash + 1 == peer.size())
      in.fail("peer", "peer '" + peer + "' must be BRIDGE/PORT");
    auto o = std::make_shared<PatchOptions>();
    o->peer_bridge = peer.substr(0, slash);
    o->peer_port = peer.substr(slash + 1);
    return o;
  }
  void emit(const PortOptions& base, Fields& out) const override {
    const auto& o = static_cast<const PatchOptions&>(base);
    out.push_back({"peer", o.peer_bridge + "/" + o.peer_port});
  }
  Status validate(const PortSpec& p, const BridgeSpec& b, const Topology& t,
                                      bool allow_dangling) const override {
    const auto* o = p.as<PatchOptions>();
    const BridgeSpec* pb = t.find_bridge(o->peer_bridge);
    if (!pb) {
      if (allow_dangling) return Ok{};
      return Error{"peer bridge '" + o->peer_bridge + "' does not exist"};
    }
    const PortSpec* pp = nullptr;
    for (const auto& q : pb->ports)
      if (q.name == o->peer_port) pp = &q;
    const std::string peer = o->peer_bridge + "/" + o->peer_port;
    if (!pp) {
      if (allow_dangling) return Ok{};
      return Error{"peer port '" + peer + "' does not exist"};
    }
    if (pp == &p) return Error{std::string("a patch port cannot be its own peer")};
    const auto* po = pp->as<PatchOptions>();
    if (!po) return Error{"peer '" + peer + "' is a " + std::string(pp->kind->name()) + " port, not a patch port"};
    if (po->peer_bridge != b.name || po->peer_port != p.name)
      return Error{"peer '" + peer + "' names '" + po->peer_bridge + "/" + po->peer_port + "' as its peer, not this port"};
    return Ok{};
  }
  bool same_backend(const PortOptions& a, const PortOptions& b) const override {
    const auto& x = static_cast<const PatchOptions&>(a);
    const auto& y = static_cast<const PatchOptions&>(b);
    return x.peer_bridge == y.peer_bridge && x.peer_port == y.peer_port;
  }
  Result<std::unique_ptr<dp::PortBackend>> open(const PortSpec& p) const override {
    return Error{"port '" + p.name + "': patch ports have no backend"};
  }
};

}  // namespace

const PortKind& patch_kind() {
  static const PatchKind k;
  return k;
}

}  // namespace kvnet::ctl
