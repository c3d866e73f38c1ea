#include "daemon/capture_stream.h"

#include "net/bytes.h"

namespace kvnet::daemon {

using json = nlohmann::json;

namespace capture_wire {
namespace {

void put_header(std::string& out, char type, size_t len) {
  uint8_t h[kHeaderLen];
  h[0] = static_cast<uint8_t>(type);
  net::store_be32(h + 1, static_cast<uint32_t>(len));
  out.append(reinterpret_cast<const char*>(h), sizeof h);
}

}  // namespace

void put_packet(std::string& out, const io::ByteRing::Header& h, const uint8_t* data) {
  put_header(out, kPacket, 13 + h.caplen);
  uint8_t meta[13];
  net::store_be32(meta, static_cast<uint32_t>(h.ts_ns >> 32));
  net::store_be32(meta + 4, static_cast<uint32_t>(h.ts_ns));
  net::store_be32(meta + 8, h.orig_len);
  meta[12] = h.dir;
  out.append(reinterpret_cast<const char*>(meta), sizeof meta);
  out.append(reinterpret_cast<const char*>(data), h.caplen);
}

void put_json(std::string& out, char type, const json& j) {
  const std::string text = j.dump(-1, ' ', false, json::error_handler_t::replace);
  put_header(out, type, text.size());
  out += text;
}

Result<std::optional<Message>> Decoder::next() {
  if (off_ > (1u << 20) && off_ * 2 > buf_.size()) {  // drop what was read, now and then
    buf_.erase(0, off_);
    off_ = 0;
  }
  if (buf_.size() - off_ < kHeaderLen) return std::optional<Message>();
  const auto* p = reinterpret_cast<const uint8_t*>(buf_.data() + off_);
  const uint32_t len = net::load_be32(p + 1);
  if (len > kMaxMessage) return Error{"malformed capture stream: a message of " + std::to_string(len) + " bytes"};
  if (buf_.size() - off_ < kHeaderLen + len) return std::optional<Message>();
  Message m;
  m.type = static_cast<char>(p[0]);
  const uint8_t* body = p + kHeaderLen;
  off_ += kHeaderLen + len;
  switch (m.type) {
    case kPacket:
      if (len < 13) return Error{"malformed capture stream: a short frame message"};
      m.ts_ns = (static_cast<uint64_t>(net::load_be32(body)) << 32) | net::load_be32(body + 4);
      m.orig_len = net::load_be32(body + 8);
      m.dir = body[12];
      m.data = std::string_view(reinterpret_cast<const char*>(body + 13), len - 13);
      return std::optional<Message>(std::move(m));
    case kStats:
    case kEnd:
      m.info = json::parse(std::string_view(reinterpret_cast<const char*>(body), len), nullptr, false);
      if (m.info.is_discarded() || !m.info.is_object()) return Error{"malformed capture stream: bad counters"};
      return std::optional<Message>(std::move(m));
    default:
      return Error{"malformed capture stream: unknown message type " + std::to_string(static_cast<int>(p[0]))};
  }
}

}  // namespace capture_wire

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
