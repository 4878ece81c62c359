// NumPy .npy arrays (datasets/src/npy.cpp).
#include "fuzz_util.h"
#include "pesuite/datasets/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* d, std::size_t n) {
  const std::string bytes(reinterpret_cast<const char*>(d), n);
  pesuite::fuzz::expect_input_errors([&] { pesuite::datasets::parse_npy(bytes, "fuzz.npy"); });
  return 0;
}
