#include "daemon/capture_wire.h"

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

}  // namespace kvnet::daemon
