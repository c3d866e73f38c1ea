// OVSDB's transport in kvnetd: Unix stream sockets (`--ovsdb unix:PATH`)
// whose connections carry RFC 7047 JSON-RPC, each one a session of an
// ovsdb::Server (ovsdb/server.h). One client of the control loop, like the
// API server (daemon/api.h), with the same habits toward bad peers:
//   - every connection is a non-blocking fd in the loop; what it sends is
//     split into messages (ovsdb::JsonSplitter) and handed to the server
//     one by one; replies and notifications are queued and written as the
//     peer reads them;
//   - a stream that is not JSON-RPC (not an object, bad JSON, a message
//     over the size limit) gets one error notification naming the problem
//     and is closed: the server cannot tell where the next message starts;
//   - a peer that does not read what it is sent is closed once its queue
//     passes `max_queued_bytes` (a monitor of a busy database grows it);
//   - more than `max_connections` at once: the newest is closed at accept.
// OVSDB sessions are long-lived (ovs-vswitchd's, ovsdbapp's), so there is
// no deadline per connection.
//
// A socket at the path that something answers on is refused, naming the
// process that holds it when it can be found (a real ovsdb-server on
// /var/run/openvswitch/db.sock).
//
// Thread-safety: the loop thread only.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "base/result.h"
#include "daemon/event_loop.h"
#include "ovsdb/jsonrpc.h"
#include "ovsdb/server.h"

namespace kvnet::daemon {

struct OvsdbLimits {
  size_t max_message_bytes = ovsdb::JsonSplitter::kDefaultMaxMessage;
  size_t max_queued_bytes = 256u << 20;
  size_t max_connections = 1024;
};

class OvsdbListener {
 public:
  OvsdbListener(EventLoop& loop, ovsdb::Server& server, OvsdbLimits limits = {});
  ~OvsdbListener();
  OvsdbListener(const OvsdbListener&) = delete;
  OvsdbListener& operator=(const OvsdbListener&) = delete;

  // Listens on the Unix socket at `path` (more than one path may be given,
  // one call each).
  Status listen(const std::string& path);
  size_t connections() const { return conns_.size(); }

 private:
  struct Conn {
    int fd = -1;
    uint64_t session = 0;
    ovsdb::JsonSplitter in;
    std::string out;
    size_t out_sent = 0;
    bool closing = false;  // write what is queued, then close
    explicit Conn(size_t max) : in(max) {}
  };
  struct Listening {
    int fd;
    std::string path;
  };

  void on_accept(int listen_fd);
  void on_ready(int fd, uint32_t events);
  void read_from(Conn& c);
  void queue(int fd, const std::string& bytes);
  void flush(Conn& c);
  void drop(int fd);
  void drop_later(int fd);
  // A transaction waiting with a timeout ("wait" with "timeout"): a timer
  // for the earliest deadline.
  void arm_expiry();

  EventLoop& loop_;
  ovsdb::Server& server_;
  OvsdbLimits limits_;
  std::vector<Listening> listening_;
  std::map<int, std::unique_ptr<Conn>> conns_;
  std::vector<std::pair<int, uint64_t>> to_drop_;  // fd, session
  EventLoop::TimerId drop_timer_ = 0;
  EventLoop::TimerId expiry_timer_ = 0;
  ovsdb::Server::Clock::time_point expiry_at_{};
  std::vector<char> read_buf_;  // every connection's reads, one at a time
};

// The process listening on the Unix socket at `path` ("ovsdb-server (PID
// 123)"), "" if it cannot be found (/proc/net/unix and /proc/*/fd).
std::string unix_socket_holder(const std::string& path);

}  // namespace kvnet::daemon
