// Fuzz target cloud_seed: bytes as what a user gives for a VM's cloud-init
// seed (vm/cloudinit.h): an --ssh-key file, a --user-data file, and the
// values the seed's YAML carries. The input is also cut at NUL bytes into
// hostname, instance-id, MAC, ip, gw, DNS, MTU and a key comment, rendered,
// and the YAML parsed back with yaml-cpp.
//
// Invariants: no crash, no exception; parsed keys are at most 100, each of a
// known type, and parse again to themselves; the rendered meta-data,
// vendor-data and network-config are printable ASCII and parse as YAML maps
// in which the hostname, instance-id, key and MAC come back as they went in
// (when they are UTF-8) and there is one ethernets entry per NIC with an ip;
// the final message starts with the console's ready marker.
#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/text.h"
#include "fuzz_check.h"
#include "vm/cloudinit.h"
#include "vm/console.h"

namespace {

bool printable_ascii(const std::string& s) {
  for (char c : s)
    if (c != '\n' && (c < 0x20 || c > 0x7e)) return false;
  return true;
}

YAML::Node parse(const std::string& text, const char* what) {
  FUZZ_CHECK(printable_ascii(text), "%s is not printable ASCII", what);
  try {
    YAML::Node n = YAML::Load(text);
    FUZZ_CHECK(n.IsMap(), "%s is not a map", what);
    return n;
  } catch (const YAML::Exception& e) {
    FUZZ_CHECK(false, "%s does not parse: %s", what, e.what());
  }
  return {};
}

// Whether yaml-cpp writes `s` as it is: UTF-8 without the noncharacters it
// turns into U+FFFD (U+FDD0-U+FDEF, U+xFFFE, U+xFFFF).
bool utf8(const std::string& s) {
  if (kvnet::valid_utf8(s) != s) return false;
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<uint8_t>(s[i]);
    const size_t n = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
    uint32_t cp = n == 1 ? c : c & (0x3f >> (n - 1));
    for (size_t k = 1; k < n; ++k) cp = cp << 6 | (static_cast<uint8_t>(s[i + k]) & 0x3f);
    if ((cp >= 0xfdd0 && cp <= 0xfdef) || (cp & 0xfffe) == 0xfffe) return false;
    i += n;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kvnet::vm;
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  if (auto keys = parse_ssh_public_keys(text); keys) {
    FUZZ_CHECK(!keys->empty() && keys->size() <= kMaxSshKeys, "%zu keys", keys->size());
    std::string again;
    for (const auto& k : *keys) again += k + "\n";
    auto keys2 = parse_ssh_public_keys(again);
    FUZZ_CHECK(keys2 && *keys2 == *keys, "normalized keys do not parse to themselves");
  }
  if (check_user_data(text))
    FUZZ_CHECK(!text.empty() && text.size() <= kMaxUserData, "user-data of %zu bytes accepted", text.size());

  std::vector<std::string> f;
  for (size_t start = 0; f.size() < 8;) {
    const size_t nul = text.find('\0', start);
    f.emplace_back(text.substr(start, nul == std::string_view::npos ? std::string_view::npos : nul - start));
    if (nul == std::string_view::npos) break;
    start = nul + 1;
  }
  f.resize(8);
  SeedInput in;
  in.hostname = f[0];
  in.instance_id = f[1];
  in.ssh_keys = {"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA " + f[7]};
  SeedNic nic{
      .mac = f[2], .ip = f[3], .gw = f[4], .dns = {f[5], "10.0.0.1"}, .mtu = static_cast<uint32_t>(f[6].size())};
  in.nics = {nic, SeedNic{.mac = "52:54:00:00:00:02", .ip = ""}, SeedNic{.mac = "52:54:00:00:00:03", .ip = "dhcp"}};

  const YAML::Node meta = parse(meta_data(in), "meta-data");
  if (utf8(in.hostname))
    FUZZ_CHECK(meta["local-hostname"].as<std::string>() == in.hostname, "the hostname does not round-trip");
  if (utf8(in.instance_id))
    FUZZ_CHECK(meta["instance-id"].as<std::string>() == in.instance_id, "the instance-id does not round-trip");
  if (utf8(in.ssh_keys[0]))
    FUZZ_CHECK(meta["public-keys"][0].as<std::string>() == in.ssh_keys[0], "the key does not round-trip");

  const YAML::Node vendor = parse(vendor_data(in), "vendor-data");
  FUZZ_CHECK(vendor["final_message"].as<std::string>().starts_with(kReadyMarker), "no ready marker");

  const YAML::Node net = parse(network_config(in), "network-config");
  FUZZ_CHECK(net["version"].as<int>() == 2, "not version 2");
  const YAML::Node eth = net["ethernets"];
  FUZZ_CHECK(eth.IsMap() && eth.size() == (in.nics[0].ip.empty() ? 1u : 2u), "wrong number of ethernets");
  FUZZ_CHECK(eth["nic2"]["dhcp4"].as<bool>(), "nic2 is not dhcp");
  FUZZ_CHECK(!eth["nic1"], "an unconfigured NIC was rendered");
  if (!in.nics[0].ip.empty() && utf8(in.nics[0].mac)) {
    std::string mac = in.nics[0].mac;
    for (char& c : mac)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    FUZZ_CHECK(eth["nic0"]["match"]["macaddress"].as<std::string>() == mac, "the MAC does not round-trip");
  }
  return 0;
}
