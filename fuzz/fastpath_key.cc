// Fuzz target fastpath_key: an arbitrary frame through io::fastpath_key, the
// kernel fast path's flow key as kvnetd computes it (the entry an install
// writes, the one trace looks up).
//
// Input: one byte of options (bit 0: key on the 5-tuple), then the frame.
//
// Invariants: no out-of-bounds access (ASan); the key is computed only for
// what the programs look up: not ARP, at most two tags, the MAC header
// within the frame; without the 5-tuple its L3/L4 fields stay zero; the same
// frame gives the same key (nothing uninitialized reaches it).
#include <cstdint>
#include <cstring>

#include "fuzz_check.h"
#include "io/fastpath_key.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kvnet;
  if (size < 1) return 0;
  const bool l4 = data[0] & 1;
  const uint8_t* frame = data + 1;
  const size_t len = size - 1;
  kvfp_key k;
  uint32_t l2 = 0;
  const bool ok = io::fastpath_key(frame, len, 7, l4, k, &l2);
  if (!ok) return 0;
  FUZZ_CHECK(len >= 14 && l2 >= 14 && l2 <= len, "MAC header of %u bytes in a frame of %zu", l2, len);
  FUZZ_CHECK(k.ifindex == 7, "ifindex %u", k.ifindex);
  FUZZ_CHECK(k.ethertype != 0x0806 && k.ethertype != 0x8035, "ARP keyed: 0x%04x", k.ethertype);
  FUZZ_CHECK((l2 - 14) / 4 <= 2 && (l2 - 14) % 4 == 0, "MAC header of %u bytes", l2);
  FUZZ_CHECK(!k.tpid[1] || k.tpid[0], "an inner tag without an outer one");
  FUZZ_CHECK(k.l4 == (l4 ? 1 : 0), "l4 flag %u", k.l4);
  if (!l4) {
    static const uint8_t zero[36] = {};
    FUZZ_CHECK(k.proto == 0 && k.sport == 0 && k.dport == 0 && std::memcmp(k.saddr, zero, 16) == 0 &&
                   std::memcmp(k.daddr, zero, 16) == 0,
               "L3/L4 fields set without l4");
  }
  kvfp_key again;
  FUZZ_CHECK(io::fastpath_key(frame, len, 7, l4, again, nullptr) && std::memcmp(&k, &again, sizeof k) == 0,
             "the same frame gave another key");
  return 0;
}
