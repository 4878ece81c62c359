// safetensors: header length, JSON header, dtypes, shapes, offsets (core/src/safetensors.cpp).
#include "fuzz_util.h"
#include "pesuite/core/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* d, std::size_t n) {
  const std::string bytes(reinterpret_cast<const char*>(d), n);
  pesuite::fuzz::expect_input_errors([&] {
    const auto f = pesuite::core::parse_safetensors(bytes, "fuzz.safetensors");
    // What parsed must serialize, parse back and serialize to the same bytes (bytes, not values:
    // a NaN payload is a legal tensor value that equal() would call different from itself).
    const std::string once = pesuite::core::serialize_safetensors(f.tensors, f.metadata);
    const auto again = pesuite::core::parse_safetensors(once, "again");
    if (again.tensors.size() != f.tensors.size()) __builtin_trap();
    if (pesuite::core::serialize_safetensors(again.tensors, again.metadata) != once) __builtin_trap();
  });
  return 0;
}
