#include "ctl/vm_spec.h"

#include <charconv>
#include <filesystem>

#include "ctl/topology.h"
#include "net/bytes.h"

namespace kvnet::ctl {
namespace {

// FNV-1a: a stable hash for derived names and MACs (never std::hash, whose
// values may change between library versions).
uint32_t stable_hash(const std::string& s) {
  uint32_t h = 2166136261u;
  for (unsigned char c : s) h = (h ^ c) * 16777619u;
  return h;
}

std::string hex(uint32_t v, int digits) {
  static const char* kHex = "0123456789abcdef";
  std::string out(static_cast<size_t>(digits), '0');
  for (int i = digits - 1; i >= 0; --i, v >>= 4) out[static_cast<size_t>(i)] = kHex[v & 15];
  return out;
}

bool truthy(const std::string& v, bool& out) {
  if (v == "true" || v == "yes" || v == "on" || v == "1") return out = true, true;
  if (v == "false" || v == "no" || v == "off" || v == "0") return out = false, true;
  return false;
}

}  // namespace

const char* to_string(Accel a) {
  switch (a) {
    case Accel::kKvm: return "kvm";
    case Accel::kTcg: return "tcg";
    case Accel::kAuto: break;
  }
  return "auto";
}

Result<Accel> parse_accel(const std::string& s) {
  if (s == "auto") return Accel::kAuto;
  if (s == "kvm") return Accel::kKvm;
  if (s == "tcg") return Accel::kTcg;
  return Error{"accel '" + s + "' is not auto, kvm or tcg"};
}

Result<uint64_t> parse_memory(const std::string& s) {
  uint64_t n = 0;
  const char* end = s.data() + s.size();
  auto [p, ec] = std::from_chars(s.data(), end, n);
  const std::string rule = "memory '" + s + "' is not a size (256M, 1G, or MiB)";
  if (ec != std::errc() || p == s.data()) return Error{rule};
  std::string unit(p, end);
  uint64_t mb = 0;
  constexpr uint64_t kCap = uint64_t{1} << 40;  // keeps the arithmetic below from overflowing
  if (n > kCap) return Error{"memory '" + s + "' is out of range 64M-1T"};
  if (unit.empty() || unit == "M" || unit == "m" || unit == "MiB" || unit == "MB") mb = n;
  else if (unit == "G" || unit == "g" || unit == "GiB" || unit == "GB") mb = n * 1024;
  else if (unit == "T" || unit == "t" || unit == "TiB" || unit == "TB") mb = n * 1024 * 1024;
  else if (unit == "K" || unit == "k" || unit == "KiB" || unit == "KB") {
    if (n % 1024) return Error{"memory '" + s + "' is not a whole number of MiB"};
    mb = n / 1024;
  } else {
    return Error{rule};
  }
  if (mb < kMinVmMemoryMb || mb > kMaxVmMemoryMb) return Error{"memory '" + s + "' is out of range 64M-1T"};
  return mb;
}

std::string format_memory(uint64_t mb) {
  if (mb % (1024 * 1024) == 0) return std::to_string(mb / (1024 * 1024)) + "T";
  if (mb % 1024 == 0) return std::to_string(mb / 1024) + "G";
  return std::to_string(mb) + "M";
}

std::string default_mac(const std::string& vm, size_t index) {
  const uint32_t h = stable_hash(vm + "/" + std::to_string(index));
  return net::Mac::from_u64(0x525400000000ULL | (h & 0xffffff)).str();
}

std::string nic_id(const std::string& vm, size_t index) {
  const std::string plain = vm + "-" + std::to_string(index);
  if (plain.size() <= 12) return plain;  // "qbr" + 12 = 15, the kernel's limit
  const std::string suffix = "-" + std::to_string(index);
  return vm.substr(0, 12 - 4 - suffix.size()) + hex(stable_hash(vm) & 0xffff, 4) + suffix;
}

Status check_vm(const VmSpec& vm) {
  const std::string ctx = "vm '" + vm.name + "': ";
  if (auto s = check_name(vm.name); !s) return Error{ctx + s.error().message};
  if (vm.memory_mb < kMinVmMemoryMb || vm.memory_mb > kMaxVmMemoryMb)
    return Error{ctx + "memory " + format_memory(vm.memory_mb) + " is out of range 64M-1T"};
  if (vm.vcpus < 1 || vm.vcpus > kMaxVcpus)
    return Error{ctx + "vcpus " + std::to_string(vm.vcpus) + " is out of range 1-255"};
  if (vm.machine != "q35" && vm.machine != "pc")
    return Error{ctx + "machine '" + vm.machine + "' is not q35 or pc"};
  if (!vm.kernel.empty() && !vm.disk.empty())
    return Error{ctx + "give either 'kernel' (with 'initrd' and 'cmdline') or 'disk', not both"};
  if (vm.kernel.empty() && !vm.initrd.empty()) return Error{ctx + "'initrd' needs 'kernel'"};
  if (!vm.disk.empty() && !vm.cmdline.empty())
    return Error{ctx + "'cmdline' applies to a kernel, not to a disk image (its boot loader has its own)"};
  for (const auto* p : {&vm.kernel, &vm.initrd, &vm.disk})
    if (!p->empty() && !std::filesystem::path(*p).is_absolute())
      return Error{ctx + "path '" + *p + "' must be absolute"};
  if (vm.cmdline.find('\n') != std::string::npos) return Error{ctx + "'cmdline' must be one line"};
  if (vm.nics.size() > kMaxNics)
    return Error{ctx + std::to_string(vm.nics.size()) + " NICs are more than " + std::to_string(kMaxNics)};
  for (size_t i = 0; i < vm.nics.size(); ++i) {
    const NicSpec& n = vm.nics[i];
    const std::string nctx = ctx + "nic " + std::to_string(i) + ": ";
    if (n.bridge.empty() || n.port.empty()) return Error{nctx + "needs a bridge and a port"};
    if (auto s = check_name(n.port); !s) return Error{nctx + s.error().message};
    auto m = net::Mac::parse(n.mac);
    if (!m) return Error{nctx + "mac '" + n.mac + "' is not a MAC address (aa:bb:cc:dd:ee:ff)"};
    if (m->is_multicast() || m->is_zero()) return Error{nctx + "mac '" + n.mac + "' must be a unicast MAC"};
    if (!n.ip.empty() && n.ip != "dhcp")  // dhcp: kvnet's guest image asks a DHCP server (a gateway's dnsmasq)
      if (auto s = check_cidr(n.ip); !s) return Error{nctx + s.error().message};
    if (!n.gw.empty())
      if (auto s = check_ip(n.gw); !s) return Error{nctx + s.error().message};
    for (size_t j = 0; j < i; ++j) {
      if (vm.nics[j].port == n.port) return Error{nctx + "port '" + n.port + "' is nic " + std::to_string(j) + "'s too"};
      if (vm.nics[j].mac == n.mac) return Error{nctx + "mac " + n.mac + " is nic " + std::to_string(j) + "'s too"};
      if (!n.gw.empty() && !vm.nics[j].gw.empty())
        return Error{nctx + "only one NIC may set the default route ('gw'); nic " + std::to_string(j) + " does"};
    }
  }
  return Ok{};
}

Fields vm_fields(const VmSpec& vm) {
  Fields f{{"memory", format_memory(vm.memory_mb)}, {"vcpus", std::to_string(vm.vcpus)}};
  if (vm.accel != Accel::kAuto) f.push_back({"accel", to_string(vm.accel)});
  if (vm.machine != "q35") f.push_back({"machine", vm.machine});
  if (!vm.kernel.empty()) f.push_back({"kernel", vm.kernel});
  if (!vm.initrd.empty()) f.push_back({"initrd", vm.initrd});
  if (!vm.cmdline.empty()) f.push_back({"cmdline", vm.cmdline});
  if (!vm.disk.empty()) f.push_back({"disk", vm.disk});
  if (vm.autostart) f.push_back({"autostart", "true"});
  for (size_t i = 0; i < vm.nics.size(); ++i) {
    const NicSpec& n = vm.nics[i];
    std::string v = "bridge=" + n.bridge + ",port=" + n.port + ",mac=" + n.mac;
    if (!n.ip.empty()) v += ",ip=" + n.ip;
    if (!n.gw.empty()) v += ",gw=" + n.gw;
    if (n.qbr) v += ",qbr=yes";
    f.push_back({"nic" + std::to_string(i), v});
  }
  return f;
}

Result<NicRequest> parse_nic_arg(const std::string& text) {
  NicRequest r;
  bool seen_bridge = false;
  size_t pos = 0;
  // Values of VLAN list keys (allowed=10,20) contain commas: a part without
  // '=' continues such a value.
  std::vector<std::pair<std::string, std::string>> kvs;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string::npos) comma = text.size();
    const std::string part = text.substr(pos, comma - pos);
    pos = comma + 1;
    const auto eq = part.find('=');
    if (eq == std::string::npos) {
      const bool list = !kvs.empty() && (kvs.back().first == "allowed" || kvs.back().first == "tagged" ||
                                         kvs.back().first == "untagged" || kvs.back().first == "cvlans");
      if (!list || part.empty()) return Error{"--nic '" + text + "': '" + part + "' is not KEY=VALUE"};
      kvs.back().second += "," + part;
      continue;
    }
    kvs.emplace_back(part.substr(0, eq), part.substr(eq + 1));
  }
  for (const auto& [k, v] : kvs) {
    if (v.empty()) return Error{"--nic '" + text + "': '" + k + "' has no value"};
    if (k == "bridge") {
      r.nic.bridge = v;
      seen_bridge = true;
    } else if (k == "port") {
      r.nic.port = v;
    } else if (k == "mac") {
      auto m = net::Mac::parse(v);
      if (!m) return Error{"--nic '" + text + "': mac '" + v + "' is not a MAC address (aa:bb:cc:dd:ee:ff)"};
      r.nic.mac = m->str();
    } else if (k == "ip") {
      r.nic.ip = v;
    } else if (k == "gw") {
      r.nic.gw = v;
    } else if (k == "qbr") {
      if (!truthy(v, r.nic.qbr)) return Error{"--nic '" + text + "': qbr '" + v + "' is not yes or no"};
    } else if (k == "sg") {  // a security group of the NIC's port; repeatable
      bool merged = false;
      for (auto& [pk, pv] : r.port_settings)
        if (pk == "security_groups") {
          pv += "," + v;
          merged = true;
        }
      if (!merged) r.port_settings.emplace_back("security_groups", v);
    } else if (k == "type") {
      return Error{"--nic '" + text + "': a NIC's port is always the VM's TAP (no 'type')"};
    } else {
      r.port_settings.emplace_back(k, v);  // the port's own keys (vlan_mode, pvid, ...), checked there
    }
  }
  if (!seen_bridge) return Error{"--nic '" + text + "': needs bridge=BR"};
  return r;
}

}  // namespace kvnet::ctl
