// Fuzz target image_info: bytes as `qemu-img info --output=json`'s answer and
// as `qemu-img convert -p`'s output (vm/image.h).
//
// Invariants: no crash; an info that parses has a format; one that is
// refused says why, one that is not is qcow2 or raw with no backing file
// and a size; a progress is at most 100.00%.
#include <cstdint>
#include <string>

#include "fuzz_check.h"
#include "vm/image.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kvnet::vm;
  const std::string text(reinterpret_cast<const char*>(data), size);
  if (auto i = parse_image_info(text); i) {
    FUZZ_CHECK(!i->format.empty(), "an info without a format");
    if (image_refusal(*i).empty())
      FUZZ_CHECK((i->format == "qcow2" || i->format == "raw") && i->backing.empty() && i->virtual_size > 0,
                 "a base image that should have been refused");
  }
  if (auto p = parse_convert_progress(text); p) FUZZ_CHECK(*p <= 10000, "progress %u", *p);
  (void)check_image_name(text);
  return 0;
}
