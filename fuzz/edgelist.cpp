// A plain edge list (datasets/src/edgelist.cpp), with the weight column and id base detected.
#include "fuzz_util.h"
#include "pesuite/datasets/graph_dataset.h"
#include "pesuite/datasets/spec.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* d, std::size_t n) {
  const auto path = pesuite::fuzz::write_file("g.txt", d, n);
  pesuite::fuzz::expect_input_errors([&] { pesuite::datasets::load_edgelist(pesuite::datasets::parse_spec("edgelist:" + path)); });
  return 0;
}
