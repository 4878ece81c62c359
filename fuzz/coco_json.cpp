// COCO instances JSON (datasets/src/coco.cpp, nlohmann-json).
#include "fuzz_util.h"
#include "pesuite/datasets/image_record.h"
#include "pesuite/datasets/spec.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* d, std::size_t n) {
  const auto path = pesuite::fuzz::write_file("coco/instances.json", d, n);
  pesuite::fuzz::expect_input_errors([&] {
    pesuite::datasets::load_coco(pesuite::datasets::parse_spec("coco:" + path + "?images=" + pesuite::fuzz::scratch()));
  });
  return 0;
}
