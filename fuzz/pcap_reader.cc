// Fuzz target pcap_reader: arbitrary bytes as a capture file for
// net::PcapReader.
//
// The bytes go to a memfd, which the reader opens by its /proc/self/fd path
// as it would open a file; it reads every record up to the end or the first
// error. Each record read is written back with net::PcapWriter (to a second
// memfd) in the same resolution and read again.
//
// Invariants: a record is at most 256 KiB; reading stops with an error or at a
// clean end of file, and records_read() counts what was returned; what the
// writer writes, the reader reads back with the same bytes and, where the
// timestamp fits the format, the same time.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_check.h"
#include "net/pcap.h"

namespace {

using namespace kvnet;

// The message of a Status, for a FUZZ_CHECK's printf (valid for the
// statement that made the Status).
const char* why(const Status& s) { return s ? "" : s.error().message.c_str(); }

struct MemFile {
  int fd = -1;
  std::string path;
  explicit MemFile(const char* name) : fd(memfd_create(name, 0)), path("/proc/self/fd/" + std::to_string(fd)) {
    FUZZ_CHECK(fd >= 0, "memfd_create failed");
  }
  void set(const uint8_t* data, size_t size) {
    FUZZ_CHECK(ftruncate(fd, 0) == 0, "ftruncate failed");
    size_t off = 0;
    while (off < size) {
      const ssize_t n = pwrite(fd, data + off, size - off, static_cast<off_t>(off));
      FUZZ_CHECK(n > 0, "pwrite failed");
      off += static_cast<size_t>(n);
    }
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static MemFile* in_file = new MemFile("fuzz-pcap-in");
  static MemFile* out_file = new MemFile("fuzz-pcap-out");
  in_file->set(data, size);

  std::vector<net::PcapRecord> records;
  bool nsec = false;
  {
    net::PcapReader r;
    if (auto st = r.open(in_file->path); !st) {
      FUZZ_CHECK(!st.error().message.empty(), "open failed without an error");
      return 0;
    }
    nsec = r.nanosecond();
    net::PcapRecord rec;
    while (r.next(rec)) {
      FUZZ_CHECK(rec.data.size() <= 256 * 1024, "a %zu-byte record", rec.data.size());
      records.push_back(rec);
    }
    FUZZ_CHECK(r.records_read() == records.size(), "records_read %llu, returned %zu",
               static_cast<unsigned long long>(r.records_read()), records.size());
    FUZZ_CHECK(!r.next(rec), "next() returned a record after the end");
  }

  // Write what was read and read it back.
  FUZZ_CHECK(ftruncate(out_file->fd, 0) == 0, "ftruncate failed");
  {
    net::PcapWriter w;
    FUZZ_CHECK(w.open(out_file->path, nsec).ok(), "%s", why(w.status()));
    for (const auto& rec : records)
      FUZZ_CHECK(w.write(rec.ts_ns, rec.data.data(), static_cast<uint32_t>(rec.data.size())), "%s",
                 why(w.status()));
    FUZZ_CHECK(w.close().ok(), "%s", why(w.status()));
  }
  net::PcapReader r;
  FUZZ_CHECK(r.open(out_file->path).ok(), "%s", why(r.status()));
  net::PcapRecord back;
  for (const auto& rec : records) {
    FUZZ_CHECK(r.next(back), "a written record did not read back: %s", why(r.status()));
    FUZZ_CHECK(back.data == rec.data, "record bytes changed");
    const bool fits = rec.ts_ns / 1000000000ULL <= UINT32_MAX;
    const uint64_t want = nsec ? rec.ts_ns : rec.ts_ns / 1000 * 1000;
    FUZZ_CHECK(!fits || back.ts_ns == want, "timestamp %llu read back as %llu",
               static_cast<unsigned long long>(rec.ts_ns), static_cast<unsigned long long>(back.ts_ns));
  }
  FUZZ_CHECK(!r.next(back) && r.status().ok(), "extra data after the written records: %s", why(r.status()));
  return 0;
}
