// Reading small files the control plane keeps next to its processes
// (pidfiles, logs, leases, generated configurations).
//
// Missing or unreadable files read as empty: callers treat "no file" and
// "empty file" alike (a process that never wrote its log, a lease not yet
// obtained). Never for the datapath.
#pragma once

#include <cstddef>
#include <string>

namespace kvnet {

// At most `max` bytes of the file at `path` ("" if it cannot be read).
std::string read_file(const std::string& path, size_t max = 16 << 20);
// The last non-empty line of the file (a process's reason for exiting).
std::string last_line(const std::string& path);

}  // namespace kvnet
