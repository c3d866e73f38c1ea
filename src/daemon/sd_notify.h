// systemd's readiness protocol (sd_notify(3)) without libsystemd: one
// datagram such as "READY=1" to the AF_UNIX socket named by NOTIFY_SOCKET
// ('@' first: an abstract socket). kvnetd sends READY=1 once it serves its
// API (the unit is Type=notify, dist/kvnetd.service), STOPPING=1 when it
// stops and RELOADING=1 / READY=1 around a SIGHUP's log reopening.
//
// Without NOTIFY_SOCKET (not started by systemd) it does nothing.
//
// Thread-safety: any thread.
#pragma once

#include <string_view>

#include "base/result.h"

namespace kvnet::daemon {

// Sends `state` ("READY=1", "STATUS=...", several lines allowed) if
// NOTIFY_SOCKET is set; an error names the socket.
Status sd_notify(std::string_view state);

}  // namespace kvnet::daemon
