// A LINQS citation graph (datasets/src/linqs.cpp): "<content>\n--8<--\n<cites>" as DS.content and DS.cites.
#include "fuzz_util.h"
#include "pesuite/datasets/graph_dataset.h"
#include "pesuite/datasets/spec.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* d, std::size_t n) {
  pesuite::fuzz::clear_scratch();
  const auto parts = pesuite::fuzz::split_parts(d, n, 2);
  pesuite::fuzz::write_file("cora/DS.content", parts[0].bytes);
  if (parts[1].present) pesuite::fuzz::write_file("cora/DS.cites", parts[1].bytes);
  pesuite::fuzz::expect_input_errors([&] {
    pesuite::datasets::load_linqs(pesuite::datasets::parse_spec("linqs:" + pesuite::fuzz::scratch() + "/cora"));
  });
  return 0;
}
