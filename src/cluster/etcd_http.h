// The HTTP side of the etcd client, shared by EtcdClient and EtcdWatch
// (internal to src/cluster: includes httplib).
#pragma once

#include <httplib.h>

#include <chrono>
#include <memory>
#include <string>

#include "cluster/etcd.h"

namespace kvnet::cluster {

// A connection to one endpoint: TLS with the options' CA and client
// certificate for https, the options' connect timeout, `read_timeout` for
// answers.
std::unique_ptr<httplib::ClientImpl> make_http(const Endpoint& ep, const EtcdOptions& o,
                                               std::chrono::milliseconds read_timeout);
// Why a request to `ep` failed in words ("connection refused", "TLS
// handshake failed ...").
std::string transport_error(httplib::Error err, const Endpoint& ep, const EtcdOptions& o,
                            std::chrono::milliseconds read_timeout);

}  // namespace kvnet::cluster
