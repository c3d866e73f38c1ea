#include "ctl/kinds/pcap.h"

#include <set>

#include "base/text.h"
#include "ctl/topology.h"
#include "dp/port.h"
#include "io/pcap_port.h"

namespace kvnet::ctl {
namespace {

constexpr KeyHelp kKeys[] = {
    {"rx", "capture file whose frames enter the port (kvnet replay)"},
    {"tx", "capture file the port's output is written to"},
};

class PcapKind final : public PortKind {
 public:
  std::string_view name() const override { return "pcap"; }
  std::string_view summary() const override { return "a capture file: replay reads rx, tx records what leaves"; }
  std::span<const KeyHelp> keys() const override { return kKeys; }
  bool offline() const override { return true; }

  std::shared_ptr<const PortOptions> parse(const OptionReader& in) const override {
    auto o = std::make_shared<PcapOptions>();
    if (in.has("rx")) o->rx = in.path("rx");
    if (in.has("tx")) o->tx = in.path("tx");
    return o;
  }
  void emit(const PortOptions& base, Fields& out) const override {
    const auto& o = static_cast<const PcapOptions&>(base);
    if (!o.rx.empty()) out.push_back({"rx", o.rx});
    if (!o.tx.empty()) out.push_back({"tx", o.tx});
  }
  Status validate(const PortSpec& p, const BridgeSpec&, const Topology& t,
                                      bool) const override {
    const auto* o = p.as<PcapOptions>();
    if (o->tx.empty() && o->rx.empty()) return Ok{};
    for (const std::string* f : {&o->rx, &o->tx})
      if (has_control(*f)) return Error{"file '" + printable(*f) + "' holds a control character or NUL"};
    // Every file is written by one port only, and never read while written.
    for (const auto& b : t.bridges)
      for (const auto& q : b.ports) {
        if (&q == &p) continue;
        const auto* qo = q.as<PcapOptions>();
        if (!qo) continue;
        if (!o->tx.empty() && qo->tx == o->tx) return Error{"tx file '" + o->tx + "' is written by another port too"};
        if (!o->rx.empty() && qo->tx == o->rx) return Error{"rx file '" + o->rx + "' is also a tx file"};
      }
    return Ok{};
  }
  bool same_backend(const PortOptions& a, const PortOptions& b) const override {
    const auto& x = static_cast<const PcapOptions&>(a);
    const auto& y = static_cast<const PcapOptions&>(b);
    return x.rx == y.rx && x.tx == y.tx;
  }
  Result<std::unique_ptr<dp::PortBackend>> open(const PortSpec& p) const override {
    const auto* o = p.as<PcapOptions>();
    const std::string who = "port '" + p.name + "': ";
    if (!o->rx.empty()) return Error{who + "kvnetd records pcap ports (tx); 'rx' replay is for 'kvnet replay'"};
    if (o->tx.empty()) return std::unique_ptr<dp::PortBackend>(std::make_unique<dp::DiscardBackend>());
    auto w = io::PcapTxBackend::open(o->tx, true, io::PcapClock::kWall);  // live: wall-clock time, flushed per batch
    if (!w) return Error{who + w.error().message};
    return std::unique_ptr<dp::PortBackend>(std::move(*w));
  }
};

}  // namespace

const PortKind& pcap_kind() {
  static const PcapKind k;
  return k;
}

}  // namespace kvnet::ctl
