// Fuzz target gateway_spec: bytes as topology YAML whose `gateways:`
// (ctl/gateway_spec.h) become what kvnetd hands the kernel and dnsmasq
// (daemon/gateway_config.h): each gateway's dnsmasq configuration file and
// the nftables ruleset of all of them; the input also goes through the
// lease file parser, as dnsmasq's leases file would.
//
// Invariants: no crash; every line of a dnsmasq configuration is a comment
// or one of the options kvnetd writes, "interface=" names the gateway and
// nothing else -- a name, an address or a range can never start a line of
// its own (an injected "dhcp-script=" would run as root); the ruleset's
// lines never start with a statement kvnetd does not write either.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <sstream>
#include <string>

#include "ctl/topology.h"
#include "daemon/gateway_config.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kvnet;
  const std::string text(reinterpret_cast<const char*>(data), size);
  for (const auto& l : daemon::parse_leases(text)) FUZZ_CHECK(!l.ip.empty() && !l.mac.empty(), "an empty lease");
  ctl::ParseOptions opts;
  opts.allow_dangling_patches = true;
  auto t = ctl::parse_topology(text, "fuzz.yaml", "/fuzz", opts);
  if (std::getenv("KVNET_FUZZ_VERBOSE"))
    std::fprintf(stderr, "%s\n", t ? (std::to_string(t->gateways.size()) + " gateways").c_str() : t.error().message.c_str());
  if (!t || t->gateways.empty()) return 0;
  static const std::set<std::string> kKeys = {
      "pid-file", "interface", "except-interface", "bind-interfaces", "no-hosts", "dhcp-range", "dhcp-option",
      "dhcp-authoritative", "dhcp-leasefile", "log-facility", "log-dhcp"};
  for (const auto& gw : t->gateways) {
    const std::string conf =
        daemon::dnsmasq_conf(gw, daemon::DnsmasqPaths::under("/var/lib/kvnet/gateways", gw.name));
    std::istringstream in(conf);
    int interfaces = 0;
    for (std::string line; std::getline(in, line);) {
      if (line.empty() || line[0] == '#') continue;
      const std::string key = line.substr(0, line.find('='));
      FUZZ_CHECK(kKeys.count(key), "gateway '%s': a line kvnetd does not write: %s", gw.name.c_str(), line.c_str());
      if (key == "interface") {
        ++interfaces;
        FUZZ_CHECK(line == "interface=" + gw.name, "interface line %s", line.c_str());
      }
    }
    FUZZ_CHECK(interfaces == 1, "%d interface lines", interfaces);
  }
  const std::string nft = daemon::nft_ruleset(t->gateways, "kvnet");
  std::istringstream in(nft);
  for (std::string line; std::getline(in, line);) {
    const auto b = line.find_first_not_of('\t');
    if (b == std::string::npos) continue;
    const std::string word = line.substr(b, line.find(' ', b) - b);
    static const std::set<std::string> kWords = {"table", "delete", "chain", "type", "}", "ip", "iifname", "oifname",
                                                 "ct", "tcp", "udp", "meta"};
    FUZZ_CHECK(kWords.count(word), "a ruleset line kvnetd does not write: %s", line.c_str());
  }
  return 0;
}
