// Reading and writing classic libpcap capture files (the format tcpdump,
// tshark and scapy read and write by default).
//
// Readers accept both byte orders and both timestamp resolutions
// (magic 0xa1b2c3d4 = microseconds, 0xa1b23c4d = nanoseconds); timestamps are
// returned in nanoseconds. Only LINKTYPE_ETHERNET (1) is accepted. pcapng files
// are recognised and rejected with a message saying how to convert them.
// Writers emit host-order files with the resolution chosen at open.
//
// Errors: open, flush and close return a Status. The per-record calls
// (next, write) return bool, as a stream does; a failure is sticky and
// status() says what it was (next() returning false with status() ok is the
// clean end of the file).
//
// Thread-safety: one object per thread.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "base/result.h"

namespace kvnet::net {

inline constexpr uint32_t kLinktypeEthernet = 1;

struct PcapRecord {
  uint64_t ts_ns = 0;
  uint32_t orig_len = 0;       // length on the wire
  std::vector<uint8_t> data;   // captured bytes (may be shorter than orig_len)
};

class PcapReader {
 public:
  PcapReader() = default;
  ~PcapReader();
  PcapReader(const PcapReader&) = delete;
  PcapReader& operator=(const PcapReader&) = delete;

  // Opens and checks the file header; the error names the file.
  Status open(const std::string& path);
  // Reads the next record. Returns false at end of file or on error
  // (status() is ok at a clean end of file).
  bool next(PcapRecord& rec);
  Status status() const { return error_.empty() ? Status(Ok{}) : Status(Error{error_}); }
  bool nanosecond() const { return nsec_; }
  uint32_t snaplen() const { return snaplen_; }
  uint64_t records_read() const { return count_; }

 private:
  uint32_t fix32(uint32_t v) const;
  std::FILE* f_ = nullptr;
  std::string path_;
  std::string error_;
  bool swapped_ = false;
  bool nsec_ = false;
  uint32_t snaplen_ = 0;
  uint64_t count_ = 0;
};

class PcapWriter {
 public:
  PcapWriter() = default;
  ~PcapWriter();
  PcapWriter(const PcapWriter&) = delete;
  PcapWriter& operator=(const PcapWriter&) = delete;

  Status open(const std::string& path, bool nanosecond = false, uint32_t snaplen = 262144);
  // Appends one record; false once any write has failed (see status()).
  bool write(uint64_t ts_ns, const uint8_t* data, uint32_t len);
  // Hands buffered records to the kernel, so readers of a live capture see
  // them; an error if this or any earlier write failed.
  Status flush();
  Status close();  // flushes; an error if any write failed
  Status status() const { return error_.empty() ? Status(Ok{}) : Status(Error{error_}); }
  bool is_open() const { return f_ != nullptr; }

 private:
  std::FILE* f_ = nullptr;
  std::string path_;
  std::string error_;
  bool nsec_ = false;
  uint32_t snaplen_ = 0;
};

}  // namespace kvnet::net
