// Fuzz target cluster_store: bytes as what kvnetd reads from etcd -- the
// watch stream (cut into JSON objects, each a watch message), and a record
// of another host at a key of the cluster's layout -- and as --cluster's
// endpoint list.
//
// Invariants: no crash; the splitter never hands out more bytes than it
// was fed, and each object it hands out starts with '{' and ends with '}';
// a host record that parses has a valid name equal to its key's and an IP
// address; a security group that parses has its key's name, at most 1000
// rules with distinct ids, and reads back the same from what it writes; endpoints that parse have a host and a port in range and a URL
// that parses again to the same.
#include <cstdint>
#include <string>

#include "cluster/etcd.h"
#include "cluster/etcd_watch.h"
#include "cluster/records.h"
#include "cluster/state.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kvnet::cluster;
  const std::string text(reinterpret_cast<const char*>(data), size);

  JsonObjectSplitter split(4096);
  size_t out = 0;
  ClusterState state;
  // Fed in two pieces: an object may straddle a read.
  const size_t half = size / 2;
  for (auto [from, len] : {std::pair{size_t{0}, half}, {half, size - half}}) {
    auto s = split.feed(text.data() + from, len, [&](const std::string& obj) {
      out += obj.size();
      FUZZ_CHECK(obj.front() == '{' && obj.back() == '}', "an object that is not one");
      if (auto m = parse_watch_message(obj); m) state.apply(*m);
      return true;
    });
    if (!s) break;
  }
  FUZZ_CHECK(out <= size, "handed out %zu bytes of %zu", out, size);
  for (const auto& [name, h] : state.up()) FUZZ_CHECK(h.name == name, "host '%s' under '%s'", h.name.c_str(), name.c_str());

  if (auto h = parse_host("/kvnet/hosts/h1", text); h) {
    FUZZ_CHECK(h->name == "h1", "the record's name differs from the key's");
    FUZZ_CHECK(!h->underlay_ip.empty(), "no underlay address");
  }
  if (auto g = parse_group("/kvnet/sgs/web", text); g) {
    FUZZ_CHECK(g->name == "web", "the group's name differs from the key's");
    FUZZ_CHECK(g->rules.size() <= kMaxGroupRules, "%zu rules", g->rules.size());
    for (size_t i = 0; i < g->rules.size(); ++i)
      for (size_t j = i + 1; j < g->rules.size(); ++j)
        FUZZ_CHECK(g->rules[i].id && g->rules[i].id != g->rules[j].id, "rule ids not distinct");
    auto again = parse_group("/kvnet/sgs/web", group_to_json(*g).dump());
    FUZZ_CHECK(again && *again == *g, "a group does not read back as written");
  }
  if (auto eps = parse_endpoints(text); eps) {
    for (const auto& e : *eps) {
      FUZZ_CHECK(!e.host.empty() && e.port > 0, "an endpoint without host or port");
      auto again = parse_endpoints(e.url);
      FUZZ_CHECK(again && again->size() == 1 && (*again)[0].url == e.url, "'%s' does not parse again", e.url.c_str());
    }
  }
  auto d = base64_decode(text);
  if (d) FUZZ_CHECK(base64_decode(base64_encode(*d)) == d, "base64 round trip");
  return 0;
}
