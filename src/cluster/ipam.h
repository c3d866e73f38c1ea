// Addresses of a cluster network, allocated cluster-wide without a lock
// service: an address is held by the key ipam/<network>/<address>, created
// only if absent (one etcd transaction), so two hosts can never both hold
// one. Allocation takes the first free host address of the subnet (never
// the network or the broadcast address); a create that loses a race moves
// on to the next address.
//
// Thread-safety: as the EtcdClient given (one thread).
#pragma once

#include <string>

#include "base/result.h"
#include "cluster/etcd.h"
#include "cluster/records.h"

namespace kvnet::cluster {

// Claims `want` (A or A/LEN inside the subnet; "" = allocate the first free
// one) on `net` for `holder` ("host/port"). Returns A/LEN (LEN: the
// subnet's). A taken address is refused naming its holder; a network
// without a subnet takes any address given and allocates none.
Result<std::string> claim_address(EtcdClient& c, const std::string& prefix, const NetworkRecord& net,
                                  const std::string& want, const std::string& holder);
// Frees an address `holder` holds (A or A/LEN); another holder's stays.
Status release_address(EtcdClient& c, const std::string& prefix, const std::string& network, const std::string& address,
                       const std::string& holder);

}  // namespace kvnet::cluster
