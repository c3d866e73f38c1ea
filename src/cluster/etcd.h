// A client of etcd's v3 API through its JSON gateway (etcd 3.4: POST
// <endpoint>/v3/...; keys and values base64, 64-bit numbers as strings).
// kvnet writes no store of its own: etcd is the cluster's one source of
// truth, and this is the only code that speaks to it.
//
// What it covers: ranges (one key or a prefix, at a revision), put and
// delete, transactions (compare-and-swap: how names, VNIs and addresses
// stay unique without a lock service), leases (grant, one keepalive,
// revoke, time to live), the answering member's status, compaction, and
// etcd's user/password auth (a token, fetched again when etcd says it
// expired). The watch stream is etcd_watch.h.
//
// Endpoints: tried in order; a transport failure or an "unavailable" answer
// moves to the next one (a 3-member cluster losing a member, or its leader,
// answers from another). TLS: an https endpoint with a CA and optionally a
// client certificate and key, as production etcd runs.
//
// Errors: every failure is an Error whose message names the store and the
// cause; `unreachable` tells "no member answered" from "etcd refused the
// request" (the latter has etcd's own message and gRPC code).
//
// Thread-safety: one client per thread (it holds its connections). Every
// call blocks for at most connect + request timeout per endpoint. The
// process must ignore SIGPIPE (kvnetd does): OpenSSL writes to a TLS
// connection the server closed (a refused handshake) with write(2).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"

namespace kvnet::cluster {

// One etcd client URL, parsed: http(s)://host:port (IPv6 in brackets).
struct Endpoint {
  bool tls = false;
  std::string host;  // without brackets
  uint16_t port = 2379;
  std::string url;   // as given, normalized (no trailing slash)
};
// "http://a:2379,https://[fd00::1]:2379" -> endpoints; names the bad one.
Result<std::vector<Endpoint>> parse_endpoints(const std::string& csv);

struct EtcdOptions {
  std::vector<Endpoint> endpoints;
  std::string cacert, cert, key;  // TLS: the CA to trust; the client certificate and its key
  std::string user, password;     // etcd's auth (empty: none)
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds request_timeout{3000};
};
// The TLS files exist and are readable, and go with https endpoints.
Status check_options(const EtcdOptions& o);

// How a request failed.
struct EtcdFailure {
  bool unreachable = false;  // no member answered (connection, TLS, timeout, unavailable)
  int code = 0;              // etcd's gRPC code when it answered with an error
  std::string message;       // "cluster store unreachable at http://...: connection refused"
};

struct KeyValue {
  std::string key, value;
  int64_t create_revision = 0, mod_revision = 0, version = 0, lease = 0;
};

struct RangeResult {
  int64_t revision = 0;  // the store's revision the answer is of
  std::vector<KeyValue> kvs;
  int64_t count = 0;
  bool more = false;
};

// One comparison of a transaction (etcd's Compare).
struct Compare {
  enum class Target { kVersion, kCreate, kMod, kValue };
  enum class Op { kEqual, kGreater, kLess, kNotEqual };
  std::string key;
  Target target = Target::kCreate;
  Op op = Op::kEqual;
  int64_t number = 0;  // version / create / mod revision
  std::string value;   // kValue
  bool prefix = false;  // every key under `key` (etcd's range_end): each must pass; none passes as if absent
  static Compare absent(const std::string& key) { return {key, Target::kCreate, Op::kEqual, 0, "", false}; }
  static Compare present(const std::string& key) { return {key, Target::kCreate, Op::kGreater, 0, "", false}; }
  // No key under `prefix` exists.
  static Compare none_under(const std::string& prefix) { return {prefix, Target::kCreate, Op::kEqual, 0, "", true}; }
  static Compare mod_is(const std::string& key, int64_t rev) { return {key, Target::kMod, Op::kEqual, rev, "", false}; }
  static Compare value_is(const std::string& key, const std::string& v) {
    return {key, Target::kValue, Op::kEqual, 0, v, false};
  }
};

// One operation of a transaction's branch.
struct TxnOp {
  enum class Kind { kPut, kDelete, kRange };
  Kind kind = Kind::kPut;
  std::string key, value;
  bool prefix = false;  // kDelete / kRange: every key under `key`
  int64_t lease = 0;    // kPut
  static TxnOp put(const std::string& k, const std::string& v, int64_t lease = 0) { return {Kind::kPut, k, v, false, lease}; }
  static TxnOp del(const std::string& k, bool prefix = false) { return {Kind::kDelete, k, "", prefix, 0}; }
  static TxnOp get(const std::string& k, bool prefix = false) { return {Kind::kRange, k, "", prefix, 0}; }
};

struct TxnResult {
  bool succeeded = false;
  int64_t revision = 0;
  std::vector<RangeResult> ranges;  // of the branch's kRange ops, in order
};

struct LeaseGrant {
  int64_t id = 0;
  int64_t ttl = 0;
};

// The answering member's status (maintenance/status).
struct MemberStatus {
  std::string endpoint;  // which URL answered
  std::string version;
  uint64_t member_id = 0, leader = 0;
  int64_t revision = 0, raft_term = 0, db_size = 0;
};

// The smallest key after every key that starts with `prefix` (etcd's
// range_end for a prefix).
std::string prefix_end(const std::string& prefix);
std::string base64_encode(const std::string& s);
std::optional<std::string> base64_decode(const std::string& s);  // nullopt: not base64

class EtcdClient {
 public:
  explicit EtcdClient(EtcdOptions o);
  ~EtcdClient();
  EtcdClient(const EtcdClient&) = delete;
  EtcdClient& operator=(const EtcdClient&) = delete;

  // --- keys ---
  Result<RangeResult> get(const std::string& key, bool prefix = false, int64_t revision = 0, int64_t limit = 0);
  Result<int64_t> put(const std::string& key, const std::string& value, int64_t lease = 0);  // the new revision
  Result<int64_t> del(const std::string& key, bool prefix = false);                         // how many went
  Result<TxnResult> txn(const std::vector<Compare>& when, const std::vector<TxnOp>& then,
                        const std::vector<TxnOp>& otherwise = {});
  Status compact(int64_t revision);

  // --- leases ---
  Result<LeaseGrant> grant(int64_t ttl_s);
  // One keepalive: the lease's TTL from now; 0 when the lease is gone
  // (expired or revoked: grant another and publish again).
  Result<int64_t> keepalive(int64_t lease);
  Status revoke(int64_t lease);

  // --- the store ---
  Result<MemberStatus> status();

  // How the last call failed (unreachable, etcd's code).
  const EtcdFailure& last_failure() const { return failure_; }
  // Whether the last call's answer came from a second sending, after one
  // that may have reached the store (no answer in time, a member that
  // timed out, a connection that broke after the request was written). A
  // conditional write sent twice may then fail its comparison against its
  // own first sending: the caller checks what the store holds.
  bool last_call_resent() const { return resent_; }
  const EtcdOptions& options() const { return o_; }
  // "http://a:2379, http://b:2379"
  std::string endpoints_text() const;
  // The endpoint that answered last (or the first).
  const Endpoint& current() const { return o_.endpoints[current_]; }
  // The auth token's header for another client of the same store (watch).
  Result<std::string> auth_token();

  // Calls the gateway: POST /v3/<path> with `body` (JSON text); the answer's
  // JSON text. Public for the watch and tests.
  Result<std::string> call(const std::string& path, const std::string& body);

 private:
  struct Conn;
  // `maybe_delivered`: a failure after the request may have reached the
  // store (not a failure to connect).
  Result<std::string> call_once(size_t ep, const std::string& path, const std::string& body, int* http_status,
                                bool* maybe_delivered = nullptr);
  Status authenticate(size_t ep);
  Error fail(bool unreachable, int code, const std::string& msg);

  EtcdOptions o_;
  std::vector<std::unique_ptr<Conn>> conns_;  // one per endpoint, made on first use
  size_t current_ = 0;
  std::string token_;
  EtcdFailure failure_;
  bool resent_ = false;  // last_call_resent()
};

}  // namespace kvnet::cluster
