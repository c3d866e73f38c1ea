// Fuzz target api_request: one API request line, as kvnetd's control thread
// sees it (daemon/api.cc): cut at the first newline, parsed as JSON without
// exceptions, handed to daemon::Service::handle(), and the answer dumped.
//
// The Service is built in-process as tests/unit/daemon/service_test.cc does:
// a fake backend opener (ports named "missing*" fail to open), no container
// namespaces, the datapath run inline (Runtime not started). Its store is an
// in-memory SQLite database (":memory:"): the same code as a file, without an
// fsync per change. Every input starts from the same configuration (kBase):
// after a request that changed it, the Service is built anew.
//
// Invariants: no crash, no exception out of handle() or dump(); every answer
// is an object with a boolean "ok".
//
// The two daemon crashes this target found (issue 6 section 8: trace with
// in_port "BR/PORT", a ct-add name cut inside a UTF-8 character) are fixed;
// their inputs are in fuzz/corpus/api_request/ as regressions.
// KVNET_FUZZ_VERBOSE=1 prints every request and answer.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "daemon/api.h"
#include "daemon/service.h"
#include "fuzz_check.h"

namespace {

using namespace kvnet;
using json = nlohmann::json;

constexpr const char* kBase = R"(bridges:
  - name: br0
    mac_table_size: 16
    fdb: [{vlan: 10, mac: "02:00:00:00:00:01", port: a1}]
    ports:
      - {name: a1, type: internal, vlan_mode: access, pvid: 10}
      - {name: t1, type: system, vlan_mode: trunk, allowed: [10, 20-30]}
      - {name: h1, type: tap, vlan_mode: hybrid, pvid: 10, tagged: [20], untagged: [10]}
      - {name: q1, type: system, vlan_mode: dot1q-tunnel, pvid: 100, cvlans: [10]}
      - {name: ct-web, type: system}
      - {name: to-b, type: patch, peer: b/to-br0, vlan_mode: trunk, allowed: [10]}
  - name: b
    type: learning
    ports:
      - {name: to-br0, type: patch, peer: br0/to-b}
      - {name: b1, type: system}
  - name: h
    type: hub
containers:
  - {name: web, bridge: br0, port: ct-web, ip: 10.0.0.2/24}
)";

struct World {
  std::unique_ptr<dp::Datapath> dp;
  std::unique_ptr<io::Runtime> rt;
  std::unique_ptr<daemon::Service> svc;
  std::string base;  // export of kBase

  void build() {
    svc.reset();
    rt.reset();
    dp = std::make_unique<dp::Datapath>(64);
    rt = std::make_unique<io::Runtime>(*dp);  // not started: calls run inline
    auto store = ctl::Store::open(":memory:");
    FUZZ_CHECK(store.ok(), "%s", store.error().message.c_str());
    auto opener = [](const ctl::PortSpec& p) -> Result<std::unique_ptr<dp::PortBackend>> {
      if (p.name.rfind("missing", 0) == 0) return Error{"interface '" + p.name + "' does not exist"};
      return std::unique_ptr<dp::PortBackend>(std::make_unique<dp::DiscardBackend>());
    };
    svc = std::make_unique<daemon::Service>(std::move(*store), *rt, opener,
                                            daemon::ServiceOptions{.manage_containers = false});
    FUZZ_CHECK(svc->restore().ok(), "restore of an empty store failed");
    const json r = svc->handle({{"cmd", "apply"}, {"yaml", kBase}});
    FUZZ_CHECK(r.value("ok", false), "the base configuration does not apply: %s", r.dump().c_str());
    base = ctl::to_yaml(svc->config());
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World* world = [] {
    auto* w = new World();
    w->build();
    return w;
  }();
  std::string line(reinterpret_cast<const char*>(data), size);
  if (auto nl = line.find('\n'); nl != std::string::npos) line.resize(nl);

  // As ApiServer::handle_connection.
  const json req = json::parse(line, nullptr, false);
  if (req.is_discarded()) return 0;
  const json resp = world->svc->handle(req);
  FUZZ_CHECK(resp.is_object() && resp.contains("ok") && resp["ok"].is_boolean(), "answer without 'ok'");
  const std::string out = daemon::encode_answer(resp);  // as kvnetd writes it: must not throw
  if (std::getenv("KVNET_FUZZ_VERBOSE")) std::fprintf(stderr, "%s\n-> %s", line.c_str(), out.c_str());

  if (ctl::to_yaml(world->svc->config()) != world->base || !world->svc->vanished().empty()) world->build();
  return 0;
}
