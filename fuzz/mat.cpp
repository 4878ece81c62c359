// MATLAB .mat files through libmatio (datasets/src/matio/mat_file.cpp): the variables the head-pose
// loaders read.
#include "fuzz_util.h"
#include "pesuite/datasets/mat_file.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* d, std::size_t n) {
  const auto path = pesuite::fuzz::write_file("x.mat", d, n);
  pesuite::fuzz::expect_input_errors([&] {
    pesuite::datasets::MatFile mat(path);
    for (const char* name : {"Pose_Para", "pt2d", "pt3d_68", "roi"})
      if (mat.has(name)) {
        const auto m = mat.matrix(name);
        if (m.data.size() != m.rows * m.cols) __builtin_trap();
        m.require_finite();
      }
  });
  return 0;
}
