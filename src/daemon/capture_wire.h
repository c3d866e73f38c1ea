// The capture stream's wire format (kvnetd writes, kvnetctl reads): the
// messages daemon/capture_stream.h describes. Part of the client library
// (kvnet_client, daemon/api_client.h).
//
// Thread-safety: a Decoder is one reader's; the put_* functions are pure.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "io/capture.h"

namespace kvnet::daemon {

namespace capture_wire {

inline constexpr char kPacket = 'p', kStats = 's', kEnd = 'e';
inline constexpr size_t kHeaderLen = 5;
inline constexpr size_t kMaxMessage = 16u << 20;

void put_packet(std::string& out, const io::ByteRing::Header& h, const uint8_t* data);
void put_json(std::string& out, char type, const nlohmann::json& j);

struct Message {
  char type = 0;
  // kPacket:
  uint64_t ts_ns = 0;
  uint32_t orig_len = 0;
  uint8_t dir = 0;
  std::string_view data;  // valid until the next feed()/next()
  // kStats, kEnd:
  nlohmann::json info;
};

// Cuts a byte stream into messages. next(): a message, nothing yet (more
// bytes needed), or an error for a malformed stream.
class Decoder {
 public:
  void feed(const char* p, size_t n) { buf_.append(p, n); }
  Result<std::optional<Message>> next();

 private:
  std::string buf_;
  size_t off_ = 0;
};

}  // namespace capture_wire

}  // namespace kvnet::daemon
