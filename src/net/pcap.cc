#include "net/pcap.h"

#include <cerrno>
#include <cstring>

#include "net/bytes.h"

namespace kvnet::net {
namespace {

constexpr uint32_t kMagicUsec = 0xa1b2c3d4;
constexpr uint32_t kMagicNsec = 0xa1b23c4d;
constexpr uint32_t kMagicPcapng = 0x0a0d0d0a;
constexpr uint32_t kMaxRecord = 256 * 1024;  // larger captured lengths mean a corrupt file

struct FileHeader {
  uint32_t magic;
  uint16_t major;
  uint16_t minor;
  int32_t thiszone;
  uint32_t sigfigs;
  uint32_t snaplen;
  uint32_t linktype;
};
static_assert(sizeof(FileHeader) == 24);

struct RecordHeader {
  uint32_t ts_sec;
  uint32_t ts_frac;
  uint32_t caplen;
  uint32_t len;
};
static_assert(sizeof(RecordHeader) == 16);

}  // namespace

PcapReader::~PcapReader() {
  if (f_) std::fclose(f_);
}

uint32_t PcapReader::fix32(uint32_t v) const { return swapped_ ? byteswap32(v) : v; }

Status PcapReader::open(const std::string& path) {
  path_ = path;
  f_ = std::fopen(path.c_str(), "rb");
  if (!f_) {
    error_ = path + ": cannot open: " + std::strerror(errno);
    return Error{error_};
  }
  FileHeader h;
  if (std::fread(&h, sizeof h, 1, f_) != 1) {
    error_ = path + ": not a pcap file (shorter than the 24-byte file header)";
    return Error{error_};
  }
  if (h.magic == kMagicPcapng) {
    error_ = path + ": pcapng files are not supported; convert with 'editcap -F pcap IN OUT' or 'tcpdump -r IN -w OUT'";
    return Error{error_};
  }
  switch (h.magic) {
    case kMagicUsec: break;
    case kMagicNsec: nsec_ = true; break;
    case byteswap32(kMagicUsec): swapped_ = true; break;
    case byteswap32(kMagicNsec): swapped_ = nsec_ = true; break;
    default: {
      char buf[96];
      std::snprintf(buf, sizeof buf, ": not a pcap file (magic 0x%08x)", h.magic);
      error_ = path + buf;
      return Error{error_};
    }
  }
  const uint32_t raw_linktype = fix32(h.linktype);
  const uint32_t linktype = raw_linktype & 0xffff;  // upper bits: FCS length and flags
  if (linktype == kLinktypeEthernet && (raw_linktype & 0x04000000)) {
    error_ = path + ": frames carry an Ethernet FCS, which kvnet does not read (recapture without FCS)";
    return Error{error_};
  }
  if (linktype != kLinktypeEthernet) {
    error_ = path + ": link type " + std::to_string(linktype) + " is not Ethernet (1)";
    return Error{error_};
  }
  snaplen_ = fix32(h.snaplen);
  return Ok{};
}

bool PcapReader::next(PcapRecord& rec) {
  if (!f_ || !error_.empty()) return false;
  RecordHeader r;
  const size_t got = std::fread(&r, 1, sizeof r, f_);
  if (got == 0 && std::feof(f_)) return false;
  if (got != sizeof r) {
    error_ = path_ + ": record " + std::to_string(count_ + 1) + ": truncated record header";
    return false;
  }
  const uint32_t caplen = fix32(r.caplen);
  if (caplen > kMaxRecord) {
    error_ = path_ + ": record " + std::to_string(count_ + 1) + ": captured length " +
             std::to_string(caplen) + " exceeds " + std::to_string(kMaxRecord) + " (corrupt file?)";
    return false;
  }
  rec.data.resize(caplen);
  if (caplen && std::fread(rec.data.data(), 1, caplen, f_) != caplen) {
    error_ = path_ + ": record " + std::to_string(count_ + 1) + ": truncated data (" +
             std::to_string(caplen) + " bytes announced)";
    return false;
  }
  const uint64_t frac = fix32(r.ts_frac);
  rec.ts_ns = uint64_t{fix32(r.ts_sec)} * 1000000000ULL + (nsec_ ? frac : frac * 1000ULL);
  rec.orig_len = fix32(r.len);
  ++count_;
  return true;
}

PcapWriter::~PcapWriter() {
  if (f_) std::fclose(f_);
}

Status PcapWriter::open(const std::string& path, bool nanosecond, uint32_t snaplen) {
  path_ = path;
  nsec_ = nanosecond;
  snaplen_ = snaplen;
  f_ = std::fopen(path.c_str(), "wb");
  if (!f_) {
    error_ = path + ": cannot create: " + std::strerror(errno);
    return Error{error_};
  }
  FileHeader h{nsec_ ? kMagicNsec : kMagicUsec, 2, 4, 0, 0, snaplen_, kLinktypeEthernet};
  if (std::fwrite(&h, sizeof h, 1, f_) != 1) {
    error_ = path + ": write failed: " + std::strerror(errno);
    return Error{error_};
  }
  return Ok{};
}

bool PcapWriter::write(uint64_t ts_ns, const uint8_t* data, uint32_t len) {
  if (!f_ || !error_.empty()) return false;
  const uint32_t caplen = len < snaplen_ ? len : snaplen_;
  const uint64_t sec = ts_ns / 1000000000ULL, ns = ts_ns % 1000000000ULL;
  RecordHeader r{static_cast<uint32_t>(sec), static_cast<uint32_t>(nsec_ ? ns : ns / 1000), caplen, len};
  if (std::fwrite(&r, sizeof r, 1, f_) != 1 || std::fwrite(data, 1, caplen, f_) != caplen) {
    error_ = path_ + ": write failed: " + std::strerror(errno);
    return false;
  }
  return true;
}

Status PcapWriter::flush() {
  if (!error_.empty()) return Error{error_};
  if (!f_) return Error{path_ + ": not open"};
  if (std::fflush(f_) != 0) {
    error_ = path_ + ": write failed: " + std::strerror(errno);
    return Error{error_};
  }
  return Ok{};
}

Status PcapWriter::close() {
  if (f_ && std::fclose(f_) != 0 && error_.empty()) error_ = path_ + ": close failed: " + std::strerror(errno);
  f_ = nullptr;
  return status();
}

}  // namespace kvnet::net
