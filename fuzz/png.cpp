// PNG through libpng (datasets/src/png.cpp).
#include "fuzz_util.h"
#include "pesuite/datasets/png.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* d, std::size_t n) {
  const auto path = pesuite::fuzz::write_file("x.png", d, n);
  pesuite::fuzz::expect_input_errors([&] { pesuite::datasets::read_png_rgb(path); });
  return 0;
}
