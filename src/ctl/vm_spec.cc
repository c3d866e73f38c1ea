#include "ctl/vm_spec.h"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <map>
#include <set>

#include "ctl/document.h"
#include "ctl/objects.h"
#include "ctl/plan.h"
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

namespace {

// "256M", "1G", "1T", "1048576K", "512" (MiB) -> MiB. Why not: "size" (not
// one), "range" (past 1 TiB of units), "whole" (K that is no whole MiB).
Result<uint64_t> size_mib(const std::string& s) {
  uint64_t n = 0;
  const char* end = s.data() + s.size();
  auto [p, ec] = std::from_chars(s.data(), end, n);
  if (ec != std::errc() || p == s.data()) return Error{"size"};
  if (n > (uint64_t{1} << 40)) return Error{"range"};  // keeps the arithmetic below from overflowing
  const std::string unit(p, end);
  if (unit.empty() || unit == "M" || unit == "m" || unit == "MiB" || unit == "MB") return n;
  if (unit == "G" || unit == "g" || unit == "GiB" || unit == "GB") return n * 1024;
  if (unit == "T" || unit == "t" || unit == "TiB" || unit == "TB") return n * 1024 * 1024;
  if (unit == "K" || unit == "k" || unit == "KiB" || unit == "KB") {
    if (n % 1024) return Error{"whole"};
    return n / 1024;
  }
  return Error{"size"};
}

// size_mib within [lo, hi] MiB, its errors told as "<what> 'S' ...".
Result<uint64_t> bounded_size(const std::string& s, const std::string& what, const std::string& examples,
                              uint64_t lo, uint64_t hi, const std::string& range) {
  const std::string w = what + " '" + s + "' ";
  auto mb = size_mib(s);
  if (!mb && mb.error().message == "size") return Error{w + "is not a size (" + examples + ")"};
  if (!mb && mb.error().message == "whole") return Error{w + "is not a whole number of MiB"};
  if (!mb || *mb < lo || *mb > hi) return Error{w + "is out of range " + range};
  return *mb;
}

}  // namespace

Result<uint64_t> parse_memory(const std::string& s) {
  return bounded_size(s, "memory", "256M, 1G, or MiB", kMinVmMemoryMb, kMaxVmMemoryMb, "64M-1T");
}

Result<uint64_t> parse_disk_size(const std::string& s) {
  return bounded_size(s, "disk size", "8G, 512M, or MiB", 1, kMaxDiskMb, "1M-64T");
}

Status check_image_name(const std::string& name) {
  std::string shown;
  for (unsigned char c : name) shown += c >= 0x20 && c < 0x7f ? static_cast<char>(c) : '?';
  const std::string w = "image name '" + shown + "': ";
  if (name.empty()) return Error{"an image needs a name"};
  if (name.size() > 64) return Error{w + "longer than 64 bytes"};
  if (name[0] == '.' || name[0] == '-') return Error{w + "starts with '" + name.substr(0, 1) + "'"};
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
          c == '-'))
      return Error{w + "only letters, digits, '.', '_' and '-'"};
  return Ok{};
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
  if (vm.kernel.empty() && !vm.initrd.empty()) return Error{ctx + "'initrd' needs 'kernel'"};
  // With a disk and no kernel the disk's own boot loader reads its command
  // line; an image of the store may come with a kernel (kvnetctl image).
  if (!vm.disk.empty() && vm.kernel.empty() && vm.image.empty() && !vm.cmdline.empty())
    return Error{ctx + "'cmdline' applies to a kernel, not to a disk image (its boot loader has its own)"};
  if (!vm.image.empty())
    if (auto s = check_image_name(vm.image); !s) return Error{ctx + s.error().message};
  if (vm.disk_size_mb && vm.image.empty())
    return Error{ctx + "'disk_size' is the size of an image's overlay: it needs 'image'"};
  if (vm.disk_size_mb > kMaxDiskMb) return Error{ctx + "'disk_size' is more than 64T"};
  if ((!vm.ssh_keys.empty() || !vm.user_data.empty()) && vm.disk.empty() && vm.image.empty())
    return Error{ctx + "'ssh_keys' and 'user_data' go to cloud-init in the guest: they need 'image' or 'disk'"};
  if (vm.ssh_keys.size() > kMaxSshKeys) return Error{ctx + "more than " + std::to_string(kMaxSshKeys) + " ssh keys"};
  for (const auto& k : vm.ssh_keys)
    if (k.empty() || k.find_first_of("\r\n") != std::string::npos)
      return Error{ctx + "an ssh key is one non-empty line"};
  if (vm.user_data.size() > kMaxUserDataBytes) return Error{ctx + "'user_data' is larger than 1 MiB"};
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
    if (!n.network.empty()) {
      if (auto s = check_name(n.network); !s) return Error{nctx + "network: " + s.error().message};
      if (n.ip == "dhcp") return Error{nctx + "a network's addresses are allocated cluster-wide: leave out ip=dhcp"};
    }
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
  if (!vm.image.empty()) f.push_back({"image", vm.image});
  if (vm.disk_size_mb) f.push_back({"disk_size", format_memory(vm.disk_size_mb)});
  // Keys and user-data by what tells them apart (a plan line stays short).
  for (size_t i = 0; i < vm.ssh_keys.size(); ++i) {
    const std::string& k = vm.ssh_keys[i];
    const auto sp = k.find(' '), sp2 = sp == std::string::npos ? sp : k.find(' ', sp + 1);
    std::string v = k.substr(0, sp) + " " + hex(stable_hash(k), 8);
    if (sp2 != std::string::npos) v += " " + k.substr(sp2 + 1);
    f.push_back({"ssh_key" + std::to_string(i), v});
  }
  if (!vm.user_data.empty())
    f.push_back({"user_data", std::to_string(vm.user_data.size()) + " bytes " + hex(stable_hash(vm.user_data), 8)});
  if (vm.autostart) f.push_back({"autostart", "true"});
  for (size_t i = 0; i < vm.nics.size(); ++i) {
    const NicSpec& n = vm.nics[i];
    std::string v = "bridge=" + n.bridge + ",port=" + n.port + ",mac=" + n.mac;
    if (!n.ip.empty()) v += ",ip=" + n.ip;
    if (!n.gw.empty()) v += ",gw=" + n.gw;
    if (n.qbr) v += ",qbr=yes";
    if (!n.network.empty()) v += ",network=" + n.network;
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
    } else if (k == "network") {
      r.nic.network = v;
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
  if (!seen_bridge && r.nic.network.empty()) return Error{"--nic '" + text + "': needs bridge=BR or network=NET"};
  return r;
}


// ------------------------------------------------------------ the object type

namespace {

namespace fs = std::filesystem;

NicSpec read_nic(const DocReader& r, const YAML::Node& n, const std::string& vm, size_t index) {
  if (!n.IsMap()) r.fail(n, "nic " + std::to_string(index) + " must be a mapping");
  r.check_keys(n, {"bridge", "port", "mac", "ip", "gw", "qbr", "network"}, "a NIC");
  NicSpec c;
  if (n["network"]) {
    // On a cluster network: br-int, and the TAP's name as `vm add` gives it.
    c.network = r.scalar(n["network"], "network");
    c.bridge = n["bridge"] ? r.scalar(n["bridge"], "bridge") : kClusterBridge;
    c.port = n["port"] ? r.scalar(n["port"], "port") : "tap" + nic_id(vm, index);
  } else {
    if (!n["bridge"] || !n["port"]) r.fail(n, "nic " + std::to_string(index) + " needs 'bridge' and 'port'");
    c.bridge = r.scalar(n["bridge"], "bridge");
    c.port = r.scalar(n["port"], "port");
  }
  c.mac = default_mac(vm, index);
  if (n["mac"]) {
    const std::string mac = r.scalar(n["mac"], "mac");
    auto m = net::Mac::parse(mac);
    if (!m) r.fail(n["mac"], "mac '" + mac + "' is not a MAC address (aa:bb:cc:dd:ee:ff)");
    c.mac = m->str();
  }
  if (n["ip"]) c.ip = r.scalar(n["ip"], "ip");
  if (n["gw"]) c.gw = r.scalar(n["gw"], "gw");
  if (n["qbr"]) c.qbr = r.boolean(n["qbr"], "qbr");
  return c;
}

VmSpec read_vm(DocReader& r, const YAML::Node& n) {
  VmSpec v;
  v.name = r.named_object(
      n, "vm",
      {"name", "memory", "vcpus", "accel", "machine", "kernel", "initrd", "cmdline", "disk", "image", "disk_size",
       "ssh_keys", "user_data", "autostart", "nics"});
  const Loc loc = loc_of(n);
  v.line = loc.line;
  v.col = loc.col;
  if (n["memory"]) {
    auto m = parse_memory(r.scalar(n["memory"], "memory"));
    if (!m) r.fail(n["memory"], m.error().message);
    v.memory_mb = *m;
  }
  if (n["vcpus"]) v.vcpus = static_cast<uint32_t>(r.integer(n["vcpus"], "vcpus", 1, kMaxVcpus));
  if (n["accel"]) {
    auto a = parse_accel(r.scalar(n["accel"], "accel"));
    if (!a) r.fail(n["accel"], a.error().message);
    v.accel = *a;
  }
  if (n["machine"]) v.machine = r.scalar(n["machine"], "machine");
  // A VM's files are absolute paths (check_vm), also when the file itself
  // was given by a relative path (`kvnet validate dir/t.yaml`: base "dir").
  auto abs_path = [&](const std::string& p) {
    const std::string rp = r.path(p);
    std::error_code ec;
    const fs::path a = rp.empty() ? fs::path() : fs::absolute(rp, ec);
    return rp.empty() || ec ? rp : a.lexically_normal().string();
  };
  if (n["kernel"]) v.kernel = abs_path(r.scalar(n["kernel"], "kernel"));
  if (n["initrd"]) v.initrd = abs_path(r.scalar(n["initrd"], "initrd"));
  if (n["cmdline"]) v.cmdline = r.scalar(n["cmdline"], "cmdline");
  if (n["disk"]) v.disk = abs_path(r.scalar(n["disk"], "disk"));
  if (n["image"]) v.image = r.scalar(n["image"], "image");
  if (n["disk_size"]) {
    auto m = parse_disk_size(r.scalar(n["disk_size"], "disk_size"));
    if (!m) r.fail(n["disk_size"], m.error().message);
    v.disk_size_mb = *m;
  }
  if (n["ssh_keys"]) {
    if (!n["ssh_keys"].IsSequence()) r.fail(n["ssh_keys"], "'ssh_keys' must be a list of public keys");
    for (const auto& k : n["ssh_keys"]) v.ssh_keys.push_back(r.scalar(k, "ssh key"));
  }
  if (n["user_data"]) v.user_data = r.scalar(n["user_data"], "user_data");
  if (n["autostart"]) v.autostart = r.boolean(n["autostart"], "autostart");
  if (n["nics"]) {
    if (!n["nics"].IsSequence()) r.fail(n["nics"], "'nics' must be a list");
    for (const auto& nn : n["nics"]) v.nics.push_back(read_nic(r, nn, v.name, v.nics.size()));
  }
  if (auto s = check_vm(v); !s) r.fail(n, s.error().message.substr(r.context().size()));
  return v;
}


void emit_vm(YAML::Emitter& e, const VmSpec& v) {
  e << YAML::BeginMap;
  e << YAML::Key << "name" << YAML::Value << v.name;
  e << YAML::Key << "memory" << YAML::Value << format_memory(v.memory_mb);
  e << YAML::Key << "vcpus" << YAML::Value << v.vcpus;
  if (v.accel != Accel::kAuto) e << YAML::Key << "accel" << YAML::Value << to_string(v.accel);
  if (v.machine != "q35") e << YAML::Key << "machine" << YAML::Value << v.machine;
  if (!v.kernel.empty()) e << YAML::Key << "kernel" << YAML::Value << v.kernel;
  if (!v.initrd.empty()) e << YAML::Key << "initrd" << YAML::Value << v.initrd;
  if (!v.cmdline.empty()) e << YAML::Key << "cmdline" << YAML::Value << YAML::DoubleQuoted << v.cmdline;
  if (!v.disk.empty()) e << YAML::Key << "disk" << YAML::Value << v.disk;
  if (!v.image.empty()) e << YAML::Key << "image" << YAML::Value << v.image;
  if (v.disk_size_mb) e << YAML::Key << "disk_size" << YAML::Value << format_memory(v.disk_size_mb);
  if (!v.ssh_keys.empty()) {
    e << YAML::Key << "ssh_keys" << YAML::Value << YAML::BeginSeq;
    for (const auto& k : v.ssh_keys) e << YAML::DoubleQuoted << k;
    e << YAML::EndSeq;
  }
  if (!v.user_data.empty()) e << YAML::Key << "user_data" << YAML::Value << YAML::DoubleQuoted << v.user_data;
  if (v.autostart) e << YAML::Key << "autostart" << YAML::Value << true;
  e << YAML::Key << "nics" << YAML::Value;
  if (v.nics.empty()) e << YAML::Flow;
  e << YAML::BeginSeq;
  for (const auto& n : v.nics) {
    e << YAML::Flow << YAML::BeginMap;
    e << YAML::Key << "bridge" << YAML::Value << n.bridge;
    e << YAML::Key << "port" << YAML::Value << n.port;
    e << YAML::Key << "mac" << YAML::Value << YAML::DoubleQuoted << n.mac;
    if (!n.ip.empty()) e << YAML::Key << "ip" << YAML::Value << n.ip;
    if (!n.gw.empty()) e << YAML::Key << "gw" << YAML::Value << YAML::DoubleQuoted << n.gw;
    if (n.qbr) e << YAML::Key << "qbr" << YAML::Value << true;
    if (!n.network.empty()) e << YAML::Key << "network" << YAML::Value << n.network;
    e << YAML::EndMap;
  }
  e << YAML::EndSeq << YAML::EndMap;
}

void check_vm_refs(const DocChecker& c, const Topology& t, const VmSpec& v, std::set<std::string>& names,
                   std::map<std::string, std::string>& owners) {
  const std::string ctx = "vm '" + v.name + "': ";
  const Loc loc{v.line, v.col};
  if (auto s = check_vm(v); !s) c.fail(loc, "", s.error().message);
  if (!names.insert(v.name).second) c.fail(loc, "", "duplicate vm name '" + v.name + "'");
  for (size_t i = 0; i < v.nics.size(); ++i) {
    const NicSpec& n = v.nics[i];
    const std::string nctx = ctx + "nic " + std::to_string(i) + ": ";
    const BridgeSpec* b = t.find_bridge(n.bridge);
    if (!b) c.fail(loc, nctx, "bridge '" + n.bridge + "' does not exist");
    const PortSpec* p = b->find_port(n.port);
    if (!p) c.fail(loc, nctx, "port '" + n.port + "' is not a port of bridge '" + n.bridge + "'");
    if (!p->kind->container_port())
      c.fail(loc, nctx, "port '" + n.port + "' must be a system port (the VM's TAP), not " + std::string(p->kind->name()));
    auto [it, fresh] = owners.emplace(n.port, "vm '" + v.name + "'");
    if (!fresh) c.fail(loc, nctx, "port '" + n.port + "' belongs to " + it->second + " too");
    auto [mit, mfresh] = owners.emplace("mac " + n.mac, "vm '" + v.name + "'");
    if (!mfresh) c.fail(loc, nctx, "mac " + n.mac + " is used by " + mit->second + " too");
    if (n.qbr) {
      if (b->type != dp::BridgeType::kHub)
        c.fail(loc, nctx, "qbr: bridge '" + n.bridge + "' must be a hub (the NIC's own qbr bridge)");
      size_t patches = 0;
      for (const auto& bp : b->ports) {
        if (bp.kind->is_patch()) ++patches;
        else if (bp.name != n.port)
          c.fail(loc, nctx, "qbr: bridge '" + n.bridge + "' has port '" + bp.name + "' besides the NIC's and its patch");
      }
      if (patches != 1) c.fail(loc, nctx, "qbr: bridge '" + n.bridge + "' needs exactly one patch port (qvb)");
      auto [bit, bfresh] = owners.emplace("bridge " + n.bridge, "vm '" + v.name + "'");
      if (!bfresh) c.fail(loc, nctx, "qbr: bridge '" + n.bridge + "' belongs to " + bit->second + " too");
    }
  }
}

class VmObjects final : public ObjectType {
 public:
  std::string_view name() const override { return "vm"; }
  std::string_view section() const override { return "vms"; }

  void read(DocReader& r, const YAML::Node& list, Topology& t) const override {
    t.has_vms = true;
    r.list(list, "vms");
    for (const auto& vn : list) t.vms.push_back(read_vm(r, vn));
  }
  void write(YAML::Emitter& e, const Topology& t) const override {
    if (t.vms.empty()) return;
    e << YAML::Key << "vms" << YAML::Value << YAML::BeginSeq;
    for (const auto& v : t.vms) emit_vm(e, v);
    e << YAML::EndSeq;
  }
  void keep_unlisted(const Topology& from, Topology& to) const override {
    if (!to.has_vms) to.vms = from.vms;
  }

  // A NIC's port: a system port of its bridge, no container's or other
  // NIC's; MACs unique; a qbr hub is the NIC's alone.
  void check(const DocChecker& c) const override {
    const Topology& t = c.topology();
    std::set<std::string> names;
    std::map<std::string, std::string> owners;  // port / "mac M" / "bridge B" -> its owner
    for (const auto& ct : t.containers) owners.emplace(ct.port, "container '" + ct.name + "'");
    for (const auto& v : t.vms) {
      // A scoped edit (ctl/scope.h): the VMs with a NIC on its ports or on
      // a bridge it touches (a qbr bridge holds the NIC's port alone).
      if (!c.scope().whole() && std::none_of(v.nics.begin(), v.nics.end(), [&](const NicSpec& n) {
            return c.scope().has_port(n.port) || (n.qbr && c.scope().touches_bridge(n.bridge));
          }))
        continue;
      check_vm_refs(c, t, v, names, owners);
    }
  }

  // VMs are definitions: a removed VM that runs is killed by whoever applies
  // the plan; a changed one takes its new form at its next start.
  void plan(const Topology& cur, const Topology& next, PlanLines& lines, Plan& p) const override {
    if (!p.scope.whole()) return;  // a scoped edit changes ports and bridges only (ctl/scope.h)
    plan_named(
        cur.vms, next.vms, "vm", [](const VmSpec& a, const VmSpec& b) { return diff(vm_fields(a), vm_fields(b)); },
        lines, &p.vms_removed, &p.vms_added, &p.vms_changed);
  }

  std::string_view schema() const override {
    return "CREATE TABLE IF NOT EXISTS vms(name TEXT PRIMARY KEY, position INTEGER NOT NULL, spec TEXT NOT NULL);\n";
  }
  std::vector<const char*> tables() const override { return {"vms"}; }
  Status save(RowWriter& w, const Topology& t) const override {
    return save_spec_rows(w, "INSERT INTO vms VALUES(?,?,?)", t.vms, "vm", vm_to_yaml);
  }
  Status load(RowReader& r, Topology& t) const override {
    return load_spec_rows(r, "SELECT spec FROM vms ORDER BY position", t.vms, parse_vm);
  }
};

}  // namespace

const ObjectType& vm_type() {
  static const VmObjects kType;
  return kType;
}

std::string vm_to_yaml(const VmSpec& v) {
  YAML::Emitter e;
  e << YAML::Flow;
  emit_vm(e, v);
  return e.c_str();
}

Result<VmSpec> parse_vm(const std::string& yaml) {
  return guarded("", [&] {
    DocReader reader("", "/");
    VmSpec v = read_vm(reader, YAML::Load(yaml));
    v.line = v.col = 0;
    return v;
  });
}

}  // namespace kvnet::ctl
