// MNIST / Fashion-MNIST IDX files (datasets/src/idx.cpp).
#include "fuzz_util.h"
#include "pesuite/datasets/idx.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* d, std::size_t n) {
  const auto path = pesuite::fuzz::write_file("t10k-images-idx3-ubyte", d, n);
  pesuite::fuzz::expect_input_errors([&] { pesuite::datasets::read_idx(path); });
  return 0;
}
