// safetensors: header length, JSON header, dtypes, shapes, offsets (core/src/safetensors.cpp).
#include "fuzz_util.h"
#include "pesuite/core/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* d, std::size_t n) {
  const std::string bytes(reinterpret_cast<const char*>(d), n);
  pesuite::fuzz::expect_input_errors([&] {
    const auto f = pesuite::core::parse_safetensors(bytes, "fuzz.safetensors");
    // What parsed must serialize and parse back to the same tensors.
    const auto again = pesuite::core::parse_safetensors(pesuite::core::serialize_safetensors(f.tensors, f.metadata), "again");
    if (again.tensors.size() != f.tensors.size()) __builtin_trap();
    for (const auto& [k, t] : f.tensors)
      if (!again.tensors.count(k) || !again.tensors.at(k).equal(t)) __builtin_trap();
  });
  return 0;
}
