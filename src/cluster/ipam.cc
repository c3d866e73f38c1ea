#include "cluster/ipam.h"

#include <set>

#include "ctl/gateway_spec.h"

namespace kvnet::cluster {

namespace {
std::string bare(const std::string& a) { return a.substr(0, a.find('/')); }
}  // namespace

Result<std::string> claim_address(EtcdClient& c, const std::string& prefix, const NetworkRecord& net,
                                  const std::string& want, const std::string& holder) {
  const std::string w = "network '" + net.name + "': ";
  std::optional<ctl::Ipv4Net> subnet;
  if (!net.subnet.empty()) {
    auto s = ctl::parse_ipv4_cidr(net.subnet);
    if (!s) return Error{w + "subnet: " + s.error().message};
    subnet = *s;
  }
  auto claim = [&](const std::string& addr) -> Result<bool> {  // true: ours now
    const std::string key = ipam_key(net.name, addr, prefix);
    auto t = c.txn({Compare::absent(key)}, {TxnOp::put(key, holder)}, {TxnOp::get(key)});
    if (!t) return t.error();
    if (t->succeeded) return true;
    if (!t->ranges.empty() && !t->ranges[0].kvs.empty() && t->ranges[0].kvs[0].value == holder) return true;  // ours already
    return false;
  };
  if (!want.empty()) {
    std::string addr = bare(want);
    std::string len = want.find('/') == std::string::npos ? "" : want.substr(want.find('/') + 1);
    if (subnet) {
      auto parsed = ctl::parse_ipv4(addr);
      if (!parsed) return Error{w + "address '" + addr + "': " + parsed.error().message};
      const uint32_t a = *parsed;
      if (!subnet->contains(a)) return Error{w + "address " + addr + " is not in its subnet " + net.subnet};
      if (a == subnet->network || a == subnet->broadcast())
        return Error{w + "address " + addr + " is the subnet's " + (a == subnet->network ? "network" : "broadcast") + " address"};
      if (!len.empty() && len != std::to_string(subnet->prefix))
        return Error{w + "address " + want + ": the subnet's prefix length is " + std::to_string(subnet->prefix)};
      len = std::to_string(subnet->prefix);
    } else if (len.empty()) {
      return Error{w + "address " + want + ": give its prefix length (A/LEN): the network has no subnet"};
    }
    auto r = claim(addr);
    if (!r) return r.error();
    if (!*r) {
      auto held = c.get(ipam_key(net.name, addr, prefix));
      const std::string by = held && !held->kvs.empty() ? held->kvs[0].value : "another port";
      return Error{w + "address " + addr + " is taken by " + by};
    }
    return addr + "/" + len;
  }
  if (!subnet) return Error{w + "it has no subnet to allocate from: give the address (--ip A/LEN)"};
  auto held = c.get(prefix + "ipam/" + net.name + "/", true);
  if (!held) return held.error();
  std::set<std::string> taken;
  for (const auto& kv : held->kvs) taken.insert(kv.key.substr(kv.key.rfind('/') + 1));
  for (uint32_t a = subnet->network + 1; a < subnet->broadcast(); ++a) {
    const std::string addr = ctl::ipv4_str(a);
    if (taken.count(addr)) continue;
    auto r = claim(addr);
    if (!r) return r.error();
    if (*r) return addr + "/" + std::to_string(subnet->prefix);
    taken.insert(addr);  // another host took it meanwhile: the next one
  }
  return Error{w + "no free address left in " + net.subnet};
}

Status release_address(EtcdClient& c, const std::string& prefix, const std::string& network, const std::string& address,
                       const std::string& holder) {
  const std::string key = ipam_key(network, bare(address), prefix);
  auto t = c.txn({Compare::value_is(key, holder)}, {TxnOp::del(key)});
  if (!t) return t.error();
  return Ok{};
}

}  // namespace kvnet::cluster
