// Dataset specs "format:path?key=value&..." (datasets/src/spec.cpp) and ${data} expansion.
#include "fuzz_util.h"
#include "pesuite/datasets/spec.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* d, std::size_t n) {
  const std::string text(reinterpret_cast<const char*>(d), n);
  pesuite::fuzz::expect_input_errors([&] {
    const auto spec = pesuite::datasets::parse_spec(pesuite::datasets::expand_data_root(text, "/data"));
    (void)spec;
  });
  return 0;
}
