// Small helpers for kernel network interfaces by name (ioctl-based): index,
// existence, up/down, MTU, link-layer type. All act in the caller's network namespace.
#pragma once

#include <string>

#include "base/result.h"

namespace kvnet::io {

int if_index(const std::string& name);  // 0 if it does not exist
bool if_exists(const std::string& name);
Status if_set_up(const std::string& name, bool up);
Result<int> if_mtu(const std::string& name);
Status if_set_mtu(const std::string& name, int mtu);
// The link-layer type (ARPHRD_*: 1 Ethernet, 772 loopback, 65534 none).
Result<int> if_hw_type(const std::string& name);

}  // namespace kvnet::io
