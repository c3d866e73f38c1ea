#include "ctl/kinds/tap.h"

#include "ctl/topology.h"
#include "io/tap.h"

namespace kvnet::ctl {
namespace {

// kvnet owns these devices: their kernel MTU is the port's `mtu`.
Result<std::unique_ptr<dp::PortBackend>> with_mtu(const PortSpec& p, std::unique_ptr<io::TapBackend> t) {
  if (auto s = t->set_device_mtu(p.mtu); !s) {
    t->abandon();
    return Error{"port '" + p.name + "': " + s.error().message};
  }
  return std::unique_ptr<dp::PortBackend>(std::move(t));
}

constexpr KeyHelp kTapKeys[] = {
    {"persistent", "true: the TAP outlives the port and kvnetd (default false)"},
};

class TapKind final : public PortKind {
 public:
  std::string_view name() const override { return "tap"; }
  std::string_view summary() const override { return "a kernel TAP device (a VM's NIC), created if missing"; }
  std::span<const KeyHelp> keys() const override { return kTapKeys; }
  bool exclusive_device() const override { return true; }

  std::shared_ptr<const PortOptions> parse(const OptionReader& in) const override {
    auto o = std::make_shared<TapOptions>();
    if (in.has("persistent")) o->persistent = in.boolean("persistent");
    return o;
  }
  void emit(const PortOptions& base, Fields& out) const override {
    if (static_cast<const TapOptions&>(base).persistent) out.push_back({"persistent", "true"});
  }
  bool same_backend(const PortOptions& a, const PortOptions& b) const override {
    return static_cast<const TapOptions&>(a).persistent == static_cast<const TapOptions&>(b).persistent;
  }
  Result<std::unique_ptr<dp::PortBackend>> open(const PortSpec& p) const override {
    const auto* o = p.as<TapOptions>();
    auto t = io::TapBackend::open(p.name, o->persistent ? io::TapLife::kPersistent : io::TapLife::kWithPort);
    if (!t) return Error{"port '" + p.name + "': " + t.error().message};
    return with_mtu(p, std::move(*t));
  }
};

class InternalKind final : public PortKind {
 public:
  std::string_view name() const override { return "internal"; }
  std::string_view summary() const override {
    return "an interface for the host (a TAP kvnetd keeps across restarts)";
  }
  std::span<const KeyHelp> keys() const override { return {}; }
  bool exclusive_device() const override { return true; }

  std::shared_ptr<const PortOptions> parse(const OptionReader&) const override {
    return std::make_shared<NoOptions>();
  }
  void emit(const PortOptions&, Fields&) const override {}
  bool same_backend(const PortOptions&, const PortOptions&) const override { return true; }
  Result<std::unique_ptr<dp::PortBackend>> open(const PortSpec& p) const override {
    auto t = io::TapBackend::open(p.name, io::TapLife::kWithConfig);
    if (!t) return Error{"port '" + p.name + "': " + t.error().message};
    return with_mtu(p, std::move(*t));
  }
};

}  // namespace

const PortKind& tap_kind() {
  static const TapKind k;
  return k;
}

const PortKind& internal_kind() {
  static const InternalKind k;
  return k;
}

}  // namespace kvnet::ctl
