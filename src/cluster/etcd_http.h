// The HTTP side of the etcd client, shared by EtcdClient and EtcdWatch
// (internal to src/cluster: includes httplib).
#pragma once

#include <httplib.h>

#include <nlohmann/json.hpp>

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

// etcd's JSON: an int64 as a string or a number, 0 when absent (proto3
// leaves zeros out); bytes in base64, "" when absent; a key-value. Each
// throws std::invalid_argument naming the field when it is malformed.
int64_t json_int(const nlohmann::json& j, const char* key);
std::string json_bytes(const nlohmann::json& j, const char* key);
KeyValue json_kv(const nlohmann::json& j);

}  // namespace kvnet::cluster
