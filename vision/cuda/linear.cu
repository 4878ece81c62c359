// The Linear backward's bias gradient (linear_kernels.h): column sums in one vectorised pass
// (column_pass.cuh).
#include "column_pass.cuh"
#include "linear_kernels.h"

namespace pesuite::vision::fused {

std::int64_t column_sums_chunks(std::int64_t rows) { return column_sum_chunks(rows); }

bool column_sums(Dtype type, const void* x, float* part, std::int64_t rows, std::int64_t cols, void* stream) {
  if (cols <= 0) return true;
  return dispatch_dtype(type, [&](auto tag) {
    using T = typename decltype(tag)::type;
    launch_column_pass<T, false>(nullptr, nullptr, static_cast<const T*>(x), nullptr, nullptr, part, rows, cols,
                                 static_cast<cudaStream_t>(stream));
  });
}

}  // namespace pesuite::vision::fused
