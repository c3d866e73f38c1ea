// etcd's watch through the JSON gateway: one long POST /v3/watch whose
// answer is a stream of JSON objects, one per watch response.
//
// A watch starts at a revision (the one after the last the caller applied)
// and delivers every change of the keys under a prefix in revision order,
// each response a batch of events of one or more revisions. It ends when
// the stream does (the member stopped, a timeout, stop()); the caller
// resumes from the revision after its last. A start revision etcd has
// compacted away ends the watch with `compacted`: the caller reads
// everything again (a range) and watches from there.
//
// Everything read from the stream is checked: a response that is not the
// JSON etcd sends ends the watch with an error, never a crash.
//
// Thread-safety: run() on one thread (it blocks); interrupt() and stop()
// from any other.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/result.h"
#include "cluster/etcd.h"

namespace httplib {
class ClientImpl;
}

namespace kvnet::cluster {

struct WatchEvent {
  bool deleted = false;
  KeyValue kv;  // deleted: key and mod_revision only
};

// One message of the watch stream.
struct WatchMessage {
  int64_t revision = 0;  // the store's revision when it was sent (header)
  bool created = false;
  bool canceled = false;
  int64_t compact_revision = 0;  // canceled because the start revision is compacted
  std::string cancel_reason;
  std::vector<WatchEvent> events;
};
// Parses one message ({"result": {...}} or {"error": ...}); an error
// message of etcd's is an Error with its text.
Result<WatchMessage> parse_watch_message(const std::string& text);

// Cuts a byte stream into top-level JSON objects (etcd writes them one
// after another, with or without newlines). An object larger than `max`
// bytes, or bytes outside an object that are not white space, are an error.
class JsonObjectSplitter {
 public:
  explicit JsonObjectSplitter(size_t max) : max_(max) {}
  // Calls `each` with every object completed by `data`; stops at the first
  // error, or when `each` returns false (feed then returns Ok).
  Status feed(const char* data, size_t len, const std::function<bool(const std::string&)>& each);

 private:
  size_t max_;
  std::string cur_;
  int depth_ = 0;
  bool in_string_ = false, escaped_ = false;
};

// Why a watch ended.
struct WatchEnd {
  bool stopped = false;          // stop() was called
  int64_t compacted = 0;         // the start revision is gone: read again from here
  std::string why;               // otherwise: what ended the stream
};

class EtcdWatch {
 public:
  explicit EtcdWatch(EtcdOptions o);
  ~EtcdWatch();

  // Watches every key under `prefix` from `start_revision` (0: from now).
  // `on_message` gets each message in order (events and progress); it
  // returns false to end the watch. Blocks until the watch ends; tries the
  // endpoints in order to open it.
  WatchEnd run(const std::string& prefix, int64_t start_revision,
               const std::function<bool(const WatchMessage&)>& on_message);
  // Ends the stream run() reads (any thread): run() returns, the caller
  // may run() again (a member that went silent).
  void interrupt();
  // Ends run() for good (any thread): this and every later run() return
  // `stopped` at once.
  void stop();

 private:
  EtcdOptions o_;
  EtcdClient auth_;  // for the auth token only
  std::mutex mu_;
  httplib::ClientImpl* active_ = nullptr;  // guarded by mu_: the stream run() reads
  std::atomic<bool> stop_{false};
};

}  // namespace kvnet::cluster
