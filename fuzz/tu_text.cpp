// A TU dataset as a folder of text files (datasets/src/tu.cpp): the input holds the files in this
// order, separated by "\n--8<--\n": A, graph_indicator, graph_labels, node_labels, edge_labels,
// node_attributes, edge_attributes, graph_attributes (missing trailing parts: files absent).
#include "fuzz_util.h"
#include "pesuite/datasets/graph_dataset.h"
#include "pesuite/datasets/spec.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* d, std::size_t n) {
  static const char* files[] = {"A", "graph_indicator", "graph_labels", "node_labels", "edge_labels",
                                "node_attributes", "edge_attributes", "graph_attributes"};
  pesuite::fuzz::clear_scratch();
  const auto parts = pesuite::fuzz::split_parts(d, n, 8);
  std::string dir;
  for (std::size_t i = 0; i < parts.size(); ++i)
    if (parts[i].present) dir = pesuite::fuzz::write_file(std::string("DS/DS_") + files[i] + ".txt", parts[i].bytes);
  dir = pesuite::fuzz::scratch() + "/DS";
  pesuite::fuzz::expect_input_errors([&] { pesuite::datasets::load_tu(pesuite::datasets::parse_spec("tu:" + dir)); });
  return 0;
}
