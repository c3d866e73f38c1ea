// kvnetd's control logic: the configuration, its validation, its store and
// its application to the running datapath. The API server hands every
// request to `handle()`; tests call it directly.
//
// Every change follows one path: build the candidate configuration as a
// topology document, validate it with the same rules as a topology file
// (ctl/topology.h), open the kernel resources it adds (TAPs, AF_PACKET
// sockets, container namespaces), write it to SQLite in one transaction, and
// only then apply the difference to the datapath between two batches. A
// failure at any step before the last changes nothing.
//
// Thread-safety: the control thread only.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "base/result.h"
#include "ctl/store.h"
#include "ctl/topology.h"
#include "dp/datapath.h"
#include "io/runtime.h"

namespace kvnet::daemon {

using ctl::BridgeSpec;
using ctl::PortSpec;
using ctl::Store;
using ctl::Topology;

using json = nlohmann::json;

// Opens the backend of a non-patch port (TAP, AF_PACKET, pcap writer).
using BackendOpener = std::function<Result<std::unique_ptr<dp::PortBackend>>(const PortSpec&)>;
BackendOpener kernel_backends();  // the real ones

struct ServiceOptions {
  bool manage_containers = true;  // create/destroy namespaces for containers
};

class Service {
 public:
  Service(std::unique_ptr<Store> store, dp::Datapath& dp, io::Runtime& rt, BackendOpener opener,
          ServiceOptions opts = {});

  // Loads the stored configuration and builds it. Ports whose kernel
  // interface is gone are kept (configured, not forwarding) and listed.
  Status restore();
  // Dispatches one API request ({"cmd": ..., ...}); never throws.
  json handle(const json& req);
  // Closes everything kvnetd created (TAPs) when the daemon stops.
  void shutdown();
  // Parks ports whose device failed while running, then retries every port
  // whose interface is missing; returns how many came back.
  int retry_vanished();

  const Topology& config() const { return cur_; }
  const std::map<std::string, std::string>& vanished() const { return vanished_; }

 private:
  Result<json> dispatch(const std::string& cmd, const json& req);
  Status commit(const Topology& next);
  Result<Topology> candidate(const std::string& yaml) const;
  // Validates a whole candidate document and commits it.
  Result<json> change(const std::string& yaml);

  Result<json> add_br(const json& r);
  Result<json> del_br(const json& r);
  Result<json> add_port(const json& r);
  Result<json> del_port(const json& r);
  Result<json> set_port(const json& r);
  Result<json> set_bridge(const json& r);
  Result<json> fdb_add(const json& r, bool del);
  Result<json> fdb_show(const json& r);
  Result<json> fdb_flush(const json& r);
  Result<json> show();
  Result<json> stats(const json& r);
  Result<json> trace(const json& r);
  Result<json> apply(const json& r);
  Result<json> ct_add(const json& r);
  Result<json> ct_del(const json& r);

  std::unique_ptr<Store> store_;
  [[maybe_unused]] dp::Datapath& dp_;  // unused (clang warns): issue 6 section 5 removes it
  io::Runtime& rt_;
  BackendOpener opener_;
  ServiceOptions opts_;
  Topology cur_;
  std::map<std::string, std::string> vanished_;  // port -> why it has no backend
};

}  // namespace kvnet::daemon
