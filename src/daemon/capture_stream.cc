#include "daemon/capture_stream.h"

#include "net/bytes.h"

namespace kvnet::daemon {

using json = nlohmann::json;


CaptureStream::CaptureStream(io::DatapathCommands& dp, uint32_t port_id, std::string port,
                             std::shared_ptr<io::Capture> cap, std::shared_ptr<size_t> live)
    : dp_(dp), port_id_(port_id), port_(std::move(port)), cap_(std::move(cap)), live_(std::move(live)) {
  ++*live_;
}

CaptureStream::~CaptureStream() {
  detach();
  --*live_;
}

void CaptureStream::detach() {
  if (!attached_) return;
  attached_ = false;
  // After this returns the datapath offers the tap nothing more: whatever
  // is in the ring is all there will be. A removed port took its taps along.
  if (!cap_->port_was_removed()) dp_.tap_remove(port_id_, cap_.get());
}

void CaptureStream::end(const std::string& why) {
  if (ending_) return;
  ending_ = true;
  why_ = why;
  detach();
}

json CaptureStream::counters() const { return json{{"captured", cap_->captured()}, {"dropped", cap_->dropped()}}; }

bool CaptureStream::pull(std::string& out, size_t max) {
  if (!ending_ && cap_->port_was_removed()) end("port '" + port_ + "' was deleted");
  if (!ending_ && cap_->count_reached()) end(std::to_string(cap_->options().count) + " packets captured (--count)");
  // A detached tap's ring is final: drain it all. Otherwise `max` at a time.
  while ((out.size() < max || ending_) && cap_->pop(h_, data_)) capture_wire::put_packet(out, h_, data_.data());
  if (ending_ && cap_->ring_empty()) {
    json e = counters();
    e["reason"] = why_;
    e["port_removed"] = cap_->port_was_removed();
    capture_wire::put_json(out, capture_wire::kEnd, e);
    return false;
  }
  const auto now = std::chrono::steady_clock::now();
  const uint64_t c = cap_->captured(), d = cap_->dropped();
  if ((c != sent_captured_ || d != sent_dropped_) && now - last_stats_ >= std::chrono::milliseconds(500)) {
    sent_captured_ = c;
    sent_dropped_ = d;
    last_stats_ = now;
    capture_wire::put_json(out, capture_wire::kStats, json{{"captured", c}, {"dropped", d}});
  }
  return true;
}

}  // namespace kvnet::daemon
