#include "ctl/kinds/system.h"

#include "ctl/topology.h"
#include "io/af_packet.h"

namespace kvnet::ctl {
namespace {

class SystemKind final : public PortKind {
 public:
  std::string_view name() const override { return "system"; }
  std::string_view summary() const override { return "an existing kernel interface (veth end, NIC), via AF_PACKET"; }
  std::span<const KeyHelp> keys() const override { return {}; }
  bool container_port() const override { return true; }

  std::shared_ptr<const PortOptions> parse(const OptionReader&) const override {
    return std::make_shared<NoOptions>();
  }
  void emit(const PortOptions&, Fields&) const override {}
  bool same_backend(const PortOptions&, const PortOptions&) const override { return true; }
  Result<std::unique_ptr<dp::PortBackend>> open(const PortSpec& p) const override {
    auto s = io::AfPacketBackend::open(p.name);
    if (!s) return Error{"port '" + p.name + "': " + s.error().message};
    return std::unique_ptr<dp::PortBackend>(std::move(*s));
  }
};

}  // namespace

const PortKind& system_kind() {
  static const SystemKind k;
  return k;
}

}  // namespace kvnet::ctl
