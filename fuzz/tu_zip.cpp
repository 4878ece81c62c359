// A TU dataset as its official zip (libzip, then the TU text parser: datasets/src/tu.cpp, text_source.cpp).
#include "fuzz_util.h"
#include "pesuite/datasets/graph_dataset.h"
#include "pesuite/datasets/spec.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* d, std::size_t n) {
  const auto path = pesuite::fuzz::write_file("DS.zip", d, n);
  pesuite::fuzz::expect_input_errors([&] { pesuite::datasets::load_tu(pesuite::datasets::parse_spec("tu:" + path)); });
  return 0;
}
