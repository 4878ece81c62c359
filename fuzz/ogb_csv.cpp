// An OGB graph-property folder (datasets/src/ogb.cpp): the input holds, separated by "\n--8<--\n",
// raw/num-node-list, num-edge-list, edge, node-feat, edge-feat, graph-label and
// split/scaffold/train, valid, test. A part that starts with gzip's magic is written as .csv.gz
// (read through zlib, text_source.cpp), any other as .csv.
#include "fuzz_util.h"
#include "pesuite/datasets/graph_dataset.h"
#include "pesuite/datasets/spec.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* d, std::size_t n) {
  static const char* files[] = {"raw/num-node-list", "raw/num-edge-list", "raw/edge", "raw/node-feat", "raw/edge-feat",
                                "raw/graph-label", "split/scaffold/train", "split/scaffold/valid", "split/scaffold/test"};
  pesuite::fuzz::clear_scratch();
  const auto parts = pesuite::fuzz::split_parts(d, n, 9);
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (!parts[i].present) continue;
    const auto& b = parts[i].bytes;
    const bool gz = b.size() >= 2 && static_cast<unsigned char>(b[0]) == 0x1f && static_cast<unsigned char>(b[1]) == 0x8b;
    pesuite::fuzz::write_file(std::string("ogbg_x/") + files[i] + (gz ? ".csv.gz" : ".csv"), b);
  }
  pesuite::fuzz::write_file("ogbg_x/raw/.keep", "", 0);
  pesuite::fuzz::expect_input_errors([&] {
    pesuite::datasets::load_ogb(pesuite::datasets::parse_spec("ogb:" + pesuite::fuzz::scratch() + "/ogbg_x"));
  });
  return 0;
}
