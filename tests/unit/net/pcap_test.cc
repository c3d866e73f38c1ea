// Classic pcap reading and writing: round trips at both resolutions, files in
// the other byte order, and every way a file can be refused.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>

#include "net/pcap.h"
#include "testing.h"

namespace kvnet::testing {
namespace {

using net::PcapReader;
using net::PcapRecord;
using net::PcapWriter;

// A unique path under the test temp dir, removed when it goes out of scope.
class TempFile {
 public:
  TempFile() {
    static std::atomic<int> n{0};
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = ::testing::TempDir() + "kvnet_pcap_" + std::to_string(getpid()) + "_" +
            (info ? std::string(info->name()) : "x") + "_" + std::to_string(n++) + ".pcap";
  }
  ~TempFile() { std::remove(path_.c_str()); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const std::string& path() const { return path_; }
  void write(const Bytes& b) const {
    std::ofstream o(path_, std::ios::binary | std::ios::trunc);
    o.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
    ASSERT_TRUE(o.good());
  }
  Bytes read() const {
    std::ifstream i(path_, std::ios::binary);
    return Bytes(std::istreambuf_iterator<char>(i), std::istreambuf_iterator<char>());
  }

 private:
  std::string path_;
};

// Builds pcap files byte by byte in either byte order.
struct PcapBytes {
  bool big_endian = false;
  Bytes b;

  void u16(uint16_t v) {
    if (big_endian) b.insert(b.end(), {static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)});
    else b.insert(b.end(), {static_cast<uint8_t>(v), static_cast<uint8_t>(v >> 8)});
  }
  void u32(uint32_t v) {
    if (big_endian) {
      u16(static_cast<uint16_t>(v >> 16));
      u16(static_cast<uint16_t>(v));
    } else {
      u16(static_cast<uint16_t>(v));
      u16(static_cast<uint16_t>(v >> 16));
    }
  }
  PcapBytes& header(uint32_t magic = 0xa1b2c3d4, uint32_t linktype = 1, uint32_t snaplen = 65535) {
    u32(magic);
    u16(2);
    u16(4);
    u32(0);
    u32(0);
    u32(snaplen);
    u32(linktype);
    return *this;
  }
  PcapBytes& record(uint32_t sec, uint32_t frac, const Bytes& data, uint32_t orig_len = 0) {
    u32(sec);
    u32(frac);
    u32(static_cast<uint32_t>(data.size()));
    u32(orig_len ? orig_len : static_cast<uint32_t>(data.size()));
    b.insert(b.end(), data.begin(), data.end());
    return *this;
  }
};

Bytes frame(uint8_t fill, size_t len) {
  Bytes b = eth(0xffffffffffff, 0x525400000000 | fill, {}, 0x0800, len);
  b.back() = fill;
  return b;
}

// Reads every record; fails the test on a reader error.
std::vector<PcapRecord> read_all(const std::string& path, bool* nsec = nullptr) {
  PcapReader r;
  EXPECT_TRUE(r.open(path).ok()) << error_of(r.status());
  if (nsec) *nsec = r.nanosecond();
  std::vector<PcapRecord> out;
  PcapRecord rec;
  while (r.next(rec)) out.push_back(rec);
  EXPECT_EQ(error_of(r.status()), "");
  EXPECT_EQ(r.records_read(), out.size());
  EXPECT_FALSE(r.next(rec));  // stays at EOF
  return out;
}

// ---------------------------------------------------------------- round trips

TEST(Pcap, RoundTripMicroseconds) {
  TempFile t;
  const uint64_t ts[] = {0, 1'700'000'000'123'456'789ULL, 1'700'000'001'000'000'999ULL};
  const Bytes frames[] = {frame(1, 60), frame(2, 1514), frame(3, 64)};
  PcapWriter w;
  ASSERT_TRUE(w.open(t.path()).ok()) << error_of(w.status());
  EXPECT_TRUE(w.is_open());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(w.write(ts[i], frames[i].data(), static_cast<uint32_t>(frames[i].size())));
  ASSERT_TRUE(w.close().ok()) << error_of(w.status());
  EXPECT_FALSE(w.is_open());

  const Bytes raw = t.read();
  ASSERT_GE(raw.size(), 24u);
  EXPECT_EQ(raw[0], 0xd4);  // host (little-endian) order, microsecond magic
  EXPECT_EQ(raw[3], 0xa1);
  EXPECT_EQ(raw.size(), 24u + 3 * 16 + 60 + 1514 + 64);

  bool nsec = true;
  auto recs = read_all(t.path(), &nsec);
  EXPECT_FALSE(nsec);
  ASSERT_EQ(recs.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(recs[i].ts_ns, ts[i] / 1000 * 1000);  // truncated to the microsecond
    EXPECT_EQ(recs[i].data, frames[i]);
    EXPECT_EQ(recs[i].orig_len, frames[i].size());
  }
}

TEST(Pcap, RoundTripNanoseconds) {
  TempFile t;
  const uint64_t ts[] = {1, 1'700'000'000'123'456'789ULL, 4'000'000'000'999'999'999ULL};
  PcapWriter w;
  ASSERT_TRUE(w.open(t.path(), true).ok());
  for (int i = 0; i < 3; ++i) {
    const Bytes f = frame(static_cast<uint8_t>(i), 60 + static_cast<size_t>(i));
    ASSERT_TRUE(w.write(ts[i], f.data(), static_cast<uint32_t>(f.size())));
  }
  ASSERT_TRUE(w.close().ok());
  const Bytes raw = t.read();
  ASSERT_GE(raw.size(), 4u);
  EXPECT_EQ(raw[0], 0x4d);  // nanosecond magic
  EXPECT_EQ(raw[1], 0x3c);

  PcapReader r;
  ASSERT_TRUE(r.open(t.path()).ok()) << error_of(r.status());
  EXPECT_TRUE(r.nanosecond());
  EXPECT_EQ(r.snaplen(), 262144u);
  PcapRecord rec;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(r.next(rec)) << error_of(r.status());
    EXPECT_EQ(rec.ts_ns, ts[i]);  // exact
    EXPECT_EQ(rec.data, frame(static_cast<uint8_t>(i), 60 + static_cast<size_t>(i)));
  }
  EXPECT_FALSE(r.next(rec));
  EXPECT_EQ(error_of(r.status()), "");
  EXPECT_EQ(r.records_read(), 3u);
}

TEST(Pcap, SnaplenTruncatesCapturedBytesButKeepsOrigLen) {
  TempFile t;
  PcapWriter w;
  ASSERT_TRUE(w.open(t.path(), false, 32).ok());
  const Bytes f = frame(9, 100);
  ASSERT_TRUE(w.write(5'000'000'000ULL, f.data(), static_cast<uint32_t>(f.size())));
  ASSERT_TRUE(w.write(6'000'000'000ULL, f.data(), 0));  // empty record
  ASSERT_TRUE(w.close().ok());
  PcapReader r;
  ASSERT_TRUE(r.open(t.path()).ok());
  EXPECT_EQ(r.snaplen(), 32u);
  auto recs = read_all(t.path());
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[0].data, Bytes(f.begin(), f.begin() + 32));
  EXPECT_EQ(recs[0].orig_len, 100u);
  EXPECT_EQ(recs[0].ts_ns, 5'000'000'000ULL);
  EXPECT_TRUE(recs[1].data.empty());
  EXPECT_EQ(recs[1].orig_len, 0u);
}

TEST(Pcap, ReadsHandBuiltFilesInBothByteOrders) {
  for (bool be : {false, true}) {
    for (bool nsec : {false, true}) {
      SCOPED_TRACE(::testing::Message() << (be ? "big" : "little") << "-endian " << (nsec ? "nsec" : "usec"));
      PcapBytes p{be, {}};
      p.header(nsec ? 0xa1b23c4d : 0xa1b2c3d4, 1, 1500)
          .record(0x5f5e1000, 0x00012345, frame(1, 60), 1514)
          .record(0x5f5e1001, 7, frame(2, 61));
      if (be) {
        EXPECT_EQ(p.b[0], 0xa1);  // really big-endian on disk
      }
      TempFile t;
      t.write(p.b);
      PcapReader r;
      ASSERT_TRUE(r.open(t.path()).ok()) << error_of(r.status());
      EXPECT_EQ(r.nanosecond(), nsec);
      EXPECT_EQ(r.snaplen(), 1500u);
      PcapRecord rec;
      ASSERT_TRUE(r.next(rec)) << error_of(r.status());
      const uint64_t unit = nsec ? 1 : 1000;
      EXPECT_EQ(rec.ts_ns, 0x5f5e1000ULL * 1'000'000'000ULL + 0x12345ULL * unit);
      EXPECT_EQ(rec.orig_len, 1514u);
      EXPECT_EQ(rec.data, frame(1, 60));
      ASSERT_TRUE(r.next(rec)) << error_of(r.status());
      EXPECT_EQ(rec.ts_ns, 0x5f5e1001ULL * 1'000'000'000ULL + 7 * unit);
      EXPECT_EQ(rec.orig_len, 61u);
      EXPECT_EQ(rec.data, frame(2, 61));
      EXPECT_FALSE(r.next(rec));
      EXPECT_EQ(error_of(r.status()), "");
    }
  }
}

TEST(Pcap, HeaderOnlyFileHasNoRecords) {
  TempFile t;
  t.write(PcapBytes{}.header().b);
  EXPECT_TRUE(read_all(t.path()).empty());
}

// ---------------------------------------------------------------- rejections

// Opens `bytes` as a pcap file and returns the error (empty if it opened).
std::string open_error(const Bytes& bytes) {
  TempFile t;
  t.write(bytes);
  PcapReader r;
  const std::string err = error_of(r.open(t.path()));
  EXPECT_EQ(err, error_of(r.status()));
  if (!err.empty()) {
    EXPECT_NE(err.find(t.path()), std::string::npos) << "error names the file: " << err;
  }
  return err;
}

// Opens the file and reads until an error; returns {records read, error}.
std::pair<uint64_t, std::string> read_error(const Bytes& bytes) {
  TempFile t;
  t.write(bytes);
  PcapReader r;
  EXPECT_TRUE(r.open(t.path()).ok()) << error_of(r.status());
  PcapRecord rec;
  while (r.next(rec)) {
  }
  EXPECT_FALSE(r.next(rec));  // stays failed
  return {r.records_read(), error_of(r.status())};
}

TEST(Pcap, RejectsMissingFile) {
  PcapReader r;
  const std::string path = ::testing::TempDir() + "kvnet_no_such_dir_" + std::to_string(getpid()) + "/x.pcap";
  const std::string err = error_of(r.open(path));
  EXPECT_NE(err.find(path), std::string::npos);
  EXPECT_NE(err.find("cannot open"), std::string::npos) << err;
  PcapRecord rec;
  EXPECT_FALSE(r.next(rec));

  PcapWriter w;
  const std::string werr = error_of(w.open(path));
  EXPECT_NE(werr.find("cannot create"), std::string::npos) << werr;
  EXPECT_FALSE(w.write(0, rec.data.data(), 0));
}

TEST(Pcap, RejectsEmptyAndShortFiles) {
  EXPECT_NE(open_error({}).find("not a pcap file"), std::string::npos);
  Bytes h = PcapBytes{}.header().b;
  h.resize(23);
  EXPECT_NE(open_error(h).find("not a pcap file"), std::string::npos);
}

TEST(Pcap, RejectsBadMagic) {
  const std::string e = open_error(PcapBytes{}.header(0x12345678).b);
  EXPECT_NE(e.find("not a pcap file"), std::string::npos) << e;
  EXPECT_NE(e.find("0x12345678"), std::string::npos) << e;
  // A text file.
  const std::string text = "hello, this is not a capture file at all\n";
  EXPECT_NE(open_error(Bytes(text.begin(), text.end())).find("not a pcap file"), std::string::npos);
}

TEST(Pcap, RejectsPcapngWithAHint) {
  // A pcapng Section Header Block: type 0x0a0d0d0a, length, byte-order magic 0x1a2b3c4d...
  Bytes ng = {0x0a, 0x0d, 0x0d, 0x0a, 0x1c, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0,
              0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1c, 0, 0, 0};
  const std::string e = open_error(ng);
  EXPECT_NE(e.find("pcapng"), std::string::npos) << e;
  EXPECT_NE(e.find("tcpdump -r"), std::string::npos) << e;  // says how to convert
}

TEST(Pcap, RejectsNonEthernetLinktype) {
  for (bool be : {false, true}) {
    PcapBytes p{be, {}};
    const std::string e = open_error(p.header(0xa1b2c3d4, 101).b);  // LINKTYPE_RAW
    EXPECT_NE(e.find("link type 101"), std::string::npos) << e;
  }
  PcapBytes sll;
  EXPECT_NE(open_error(sll.header(0xa1b2c3d4, 113).b).find("not Ethernet"), std::string::npos);
}

TEST(Pcap, RejectsTruncatedRecordHeader) {
  PcapBytes p;
  p.header().record(1, 2, frame(1, 60));
  for (size_t cut : {1, 8, 15}) {
    Bytes b = p.b;
    b.insert(b.end(), cut, 0);  // a partial second record header
    auto [n, e] = read_error(b);
    EXPECT_EQ(n, 1u);
    EXPECT_NE(e.find("record 2: truncated record header"), std::string::npos) << e;
  }
}

TEST(Pcap, RejectsTruncatedRecordData) {
  PcapBytes p;
  p.header().record(1, 2, frame(1, 60));
  p.b.resize(p.b.size() - 1);
  auto [n, e] = read_error(p.b);
  EXPECT_EQ(n, 0u);
  EXPECT_NE(e.find("record 1: truncated data"), std::string::npos) << e;
  EXPECT_NE(e.find("60 bytes"), std::string::npos) << e;

  PcapBytes q{true, {}};  // header announces data, none follows (big-endian file)
  q.header().record(1, 2, frame(1, 60)).record(1, 3, frame(2, 60));
  q.b.resize(q.b.size() - 60);
  auto [n2, e2] = read_error(q.b);
  EXPECT_EQ(n2, 1u);
  EXPECT_NE(e2.find("record 2: truncated data"), std::string::npos) << e2;
}

TEST(Pcap, RejectsAbsurdCaplen) {
  for (bool be : {false, true}) {
    PcapBytes p{be, {}};
    p.header();
    p.u32(1);
    p.u32(0);
    p.u32(0x7fffffff);  // caplen
    p.u32(60);
    p.b.insert(p.b.end(), 60, 0);
    auto [n, e] = read_error(p.b);
    EXPECT_EQ(n, 0u);
    EXPECT_NE(e.find("exceeds"), std::string::npos) << e;
    EXPECT_NE(e.find("2147483647"), std::string::npos) << e;
  }
}

}  // namespace
}  // namespace kvnet::testing
