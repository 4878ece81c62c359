// Residual add + LayerNorm (add_layer_norm_kernels.h). Rows that allow it take the register-cached
// kernels (add_layer_norm_vec.cuh: every element read once, the weight gradients summed in the
// input-gradient pass); the scalar kernels here take the rest: one warp per row for the forward and
// the input gradient, column tiles over row chunks for the weight and bias gradients.
#include "add_layer_norm_kernels.h"

#include <initializer_list>
#include <type_traits>

#include "add_layer_norm_vec.cuh"
#include "column_pass.cuh"  // the weight-gradient kernel's 32 x 8 column layout

namespace pesuite::vision::fused {
namespace {

constexpr int kWarp = 32;
constexpr int kRowsPerBlock = 4;      // warps per block, one row each

template <typename TX, typename TY, typename TO>
__global__ void __launch_bounds__(kWarp * kRowsPerBlock)
    add_ln_forward_kernel(const TX* x, const TY* y, const float* __restrict__ w, const float* __restrict__ b, TX* s,
                          TO* __restrict__ out, float* __restrict__ mean_out, float* __restrict__ rstd_out,
                          std::int64_t rows, std::int64_t cols, float eps) {
  const int lane = threadIdx.x;
  const std::int64_t row = static_cast<std::int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.y;
  if (row >= rows) return;  // the whole warp leaves together
  const std::int64_t base = row * cols;
  // Pass 1: the sum, stored in x's type; the statistics are those of the stored values.
  float sum = 0.f;
  if (y != nullptr) {
    for (std::int64_t c = lane; c < cols; c += kWarp) {
      const TX v = from_float<TX>(to_float(x[base + c]) + to_float(y[base + c]));
      s[base + c] = v;
      sum += to_float(v);
    }
  } else {
    for (std::int64_t c = lane; c < cols; c += kWarp) sum += to_float(x[base + c]);
  }
  const float mean = warp_sum(sum) / static_cast<float>(cols);
  // Each lane reads back only what it wrote itself.
  const TX* src = y != nullptr ? s : x;
  float var = 0.f;
  for (std::int64_t c = lane; c < cols; c += kWarp) {
    const float d = to_float(src[base + c]) - mean;
    var += d * d;
  }
  var = warp_sum(var) / static_cast<float>(cols);
  const float rstd = rsqrtf(var + eps);
  for (std::int64_t c = lane; c < cols; c += kWarp) {
    float v = (to_float(src[base + c]) - mean) * rstd;
    if (w != nullptr) v *= w[c];
    if (b != nullptr) v += b[c];
    out[base + c] = from_float<TO>(v);
  }
  if (lane == 0) {
    mean_out[row] = mean;
    rstd_out[row] = rstd;
  }
}

template <typename TX, typename TY, typename TO>
__global__ void __launch_bounds__(kWarp * kRowsPerBlock)
    add_ln_backward_input_kernel(const TX* __restrict__ s, const TO* __restrict__ grad_out, const TX* __restrict__ grad_s,
                                 const float* __restrict__ w, const float* __restrict__ mean_in,
                                 const float* __restrict__ rstd_in, TX* __restrict__ grad_x, TY* __restrict__ grad_y,
                                 std::int64_t rows, std::int64_t cols) {
  const int lane = threadIdx.x;
  const std::int64_t row = static_cast<std::int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.y;
  if (row >= rows) return;
  const std::int64_t base = row * cols;
  const float mean = mean_in[row], rstd = rstd_in[row];
  float sum_g = 0.f, sum_gx = 0.f;
  for (std::int64_t c = lane; c < cols; c += kWarp) {
    const float xhat = (to_float(s[base + c]) - mean) * rstd;
    const float g = to_float(grad_out[base + c]) * (w != nullptr ? w[c] : 1.f);
    sum_g += g;
    sum_gx += g * xhat;
  }
  const float inv_cols = 1.f / static_cast<float>(cols);
  const float mean_g = warp_sum(sum_g) * inv_cols, mean_gx = warp_sum(sum_gx) * inv_cols;
  for (std::int64_t c = lane; c < cols; c += kWarp) {
    const float xhat = (to_float(s[base + c]) - mean) * rstd;
    const float g = to_float(grad_out[base + c]) * (w != nullptr ? w[c] : 1.f);
    float d = rstd * (g - mean_g - xhat * mean_gx);
    if (grad_s != nullptr) d += to_float(grad_s[base + c]);
    grad_x[base + c] = from_float<TX>(d);
    if (grad_y != nullptr) grad_y[base + c] = from_float<TY>(d);
  }
}

template <typename TX, typename TO>
__global__ void __launch_bounds__(kPassColThreads * kPassRowLanes)
    add_ln_backward_weight_kernel(const TX* __restrict__ s, const TO* __restrict__ grad_out,
                                  const float* __restrict__ mean_in, const float* __restrict__ rstd_in,
                                  float* __restrict__ part_w, float* __restrict__ part_b, std::int64_t rows,
                                  std::int64_t cols, std::int64_t rows_per_chunk) {
  __shared__ float sw[kPassRowLanes][kPassColThreads + 1];
  __shared__ float sb[kPassRowLanes][kPassColThreads + 1];
  const std::int64_t c = static_cast<std::int64_t>(blockIdx.x) * kPassColThreads + threadIdx.x;
  std::int64_t r0, r1;
  chunk_rows(rows, rows_per_chunk, r0, r1);
  float dw = 0.f, db = 0.f;
  if (c < cols) {
    for (std::int64_t r = r0 + threadIdx.y; r < r1; r += kPassRowLanes) {
      const float g = to_float(grad_out[r * cols + c]);
      const float xhat = (to_float(s[r * cols + c]) - mean_in[r]) * rstd_in[r];
      dw += g * xhat;
      db += g;
    }
  }
  sw[threadIdx.y][threadIdx.x] = dw;
  sb[threadIdx.y][threadIdx.x] = db;
  __syncthreads();
  if (threadIdx.y == 0 && c < cols) {
    float tw = 0.f, tb = 0.f;
    for (int i = 0; i < kPassRowLanes; ++i) {
      tw += sw[i][threadIdx.x];
      tb += sb[i][threadIdx.x];
    }
    part_w[static_cast<std::int64_t>(blockIdx.y) * cols + c] = tw;
    part_b[static_cast<std::int64_t>(blockIdx.y) * cols + c] = tb;
  }
}

unsigned int row_blocks(std::int64_t rows) { return static_cast<unsigned int>((rows + kRowsPerBlock - 1) / kRowsPerBlock); }

// The register-cached kernels (add_layer_norm_vec.cuh) take float32 / bfloat16 rows of a multiple
// of 4 elements, at most kQuadMaxCols, at 16-byte aligned addresses; float16 and the rest go scalar.
bool quad_ok(std::int64_t cols, std::initializer_list<Dtype> types, std::initializer_list<const void*> ptrs) {
  if (cols % 4 != 0 || cols > kQuadMaxCols) return false;
  for (Dtype t : types)
    if (t == Dtype::f16) return false;
  for (const void* p : ptrs)
    if (p != nullptr && reinterpret_cast<std::uintptr_t>(p) % 16 != 0) return false;
  return true;
}

// Calls f(std::integral_constant<int, G>{}) with the groups of 4 columns per lane for `cols`
// (cols <= kQuadMaxCols): 2 for ViT-Ti's 192, 3 for ViT-S's 384, 6 for ViT-B's 768.
template <typename F>
void dispatch_groups(std::int64_t cols, F&& f) {
  if (cols <= 256) {
    f(std::integral_constant<int, 2>{});
  } else if (cols <= 384) {
    f(std::integral_constant<int, 3>{});
  } else {
    f(std::integral_constant<int, 6>{});
  }
}

// dispatch_dtypes over float32 and bfloat16 only (quad_ok has refused float16).
template <typename F>
void dispatch_quad_dtypes(Dtype a, Dtype b, Dtype c, F&& f) {
  auto one = [](Dtype d, auto&& g) {
    if (d == Dtype::bf16) {
      g(TypeTag<__nv_bfloat16>{});
    } else {
      g(TypeTag<float>{});
    }
  };
  one(a, [&](auto ta) { one(b, [&](auto tb) { one(c, [&](auto tc) { f(ta, tb, tc); }); }); });
}

}  // namespace

bool add_layer_norm_forward(Dtype x_type, Dtype y_type, Dtype out_type, const void* x, const void* y, const float* w,
                            const float* b, void* s, void* out, float* mean, float* rstd, std::int64_t rows,
                            std::int64_t cols, float eps, void* stream) {
  if (rows <= 0 || cols <= 0) return true;
  auto st = static_cast<cudaStream_t>(stream);
  const dim3 block(kWarp, kRowsPerBlock);
  if (quad_ok(cols, {x_type, y_type, out_type}, {x, y, w, b, s, out})) {
    dispatch_quad_dtypes(x_type, y_type, out_type, [&](auto tx, auto ty, auto to) {
      using TX = typename decltype(tx)::type;
      using TY = typename decltype(ty)::type;
      using TO = typename decltype(to)::type;
      dispatch_groups(cols, [&](auto groups) {
        add_ln_forward_quad<TX, TY, TO, decltype(groups)::value><<<row_blocks(rows), block, 0, st>>>(
            static_cast<const TX*>(x), static_cast<const TY*>(y), w, b, static_cast<TX*>(s), static_cast<TO*>(out), mean,
            rstd, rows, cols, eps);
      });
    });
    return true;
  }
  return dispatch_dtypes(x_type, y_type, out_type, [&](auto tx, auto ty, auto to) {
    using TX = typename decltype(tx)::type;
    using TY = typename decltype(ty)::type;
    using TO = typename decltype(to)::type;
    add_ln_forward_kernel<TX, TY, TO><<<row_blocks(rows), block, 0, st>>>(
        static_cast<const TX*>(x), static_cast<const TY*>(y), w, b, static_cast<TX*>(s), static_cast<TO*>(out), mean, rstd,
        rows, cols, eps);
  });
}

std::int64_t add_layer_norm_weight_chunks(std::int64_t rows) { return column_sum_chunks(rows); }

bool add_layer_norm_backward(Dtype x_type, Dtype y_type, Dtype out_type, const void* s, const void* grad_out,
                             const void* grad_s, const float* w, const float* mean, const float* rstd, void* grad_x,
                             void* grad_y, float* part_w, float* part_b, std::int64_t rows, std::int64_t cols, void* stream) {
  if (rows <= 0 || cols <= 0) {
    if (part_w != nullptr && cols > 0) {  // no rows: the weight gradients are zero
      auto st = static_cast<cudaStream_t>(stream);
      const auto bytes = static_cast<std::size_t>(add_layer_norm_weight_chunks(rows) * cols) * sizeof(float);
      return cudaMemsetAsync(part_w, 0, bytes, st) == cudaSuccess && cudaMemsetAsync(part_b, 0, bytes, st) == cudaSuccess;
    }
    return true;
  }
  auto st = static_cast<cudaStream_t>(stream);
  const std::int64_t chunks = add_layer_norm_weight_chunks(rows);
  if (quad_ok(cols, {x_type, y_type, out_type}, {s, grad_out, grad_s, w, grad_x, grad_y, part_w, part_b})) {
    const std::int64_t rows_per_block = (rows + chunks - 1) / chunks;
    const std::size_t shared = part_w != nullptr ? static_cast<std::size_t>(kQuadWarps * cols) * sizeof(float) : 0;
    dispatch_quad_dtypes(x_type, y_type, out_type, [&](auto tx, auto ty, auto to) {
      using TX = typename decltype(tx)::type;
      using TY = typename decltype(ty)::type;
      using TO = typename decltype(to)::type;
      dispatch_groups(cols, [&](auto groups) {
        add_ln_backward_quad<TX, TY, TO, decltype(groups)::value>
            <<<static_cast<unsigned int>(chunks), dim3(kWarp, kQuadWarps), shared, st>>>(
                static_cast<const TX*>(s), static_cast<const TO*>(grad_out), static_cast<const TX*>(grad_s), w, mean, rstd,
                static_cast<TX*>(grad_x), static_cast<TY*>(grad_y), part_w, part_b, rows, cols, rows_per_block);
      });
    });
    return true;
  }
  const dim3 block(kWarp, kRowsPerBlock);
  bool known = dispatch_dtypes(x_type, y_type, out_type, [&](auto tx, auto ty, auto to) {
    using TX = typename decltype(tx)::type;
    using TY = typename decltype(ty)::type;
    using TO = typename decltype(to)::type;
    add_ln_backward_input_kernel<TX, TY, TO><<<row_blocks(rows), block, 0, st>>>(
        static_cast<const TX*>(s), static_cast<const TO*>(grad_out), static_cast<const TX*>(grad_s), w, mean, rstd,
        static_cast<TX*>(grad_x), static_cast<TY*>(grad_y), rows, cols);
  });
  if (!known || part_w == nullptr) return known;
  const auto g = column_grid(rows, cols);  // add_layer_norm_weight_chunks(rows) row chunks
  dispatch_dtype(x_type, [&](auto tx) {
    using TX = typename decltype(tx)::type;
    dispatch_dtype(out_type, [&](auto to) {
      using TO = typename decltype(to)::type;
      add_ln_backward_weight_kernel<TX, TO><<<g.grid, dim3(kPassColThreads, kPassRowLanes), 0, st>>>(
          static_cast<const TX*>(s), static_cast<const TO*>(grad_out), mean, rstd, part_w, part_b, rows, cols,
          g.rows_per_chunk);
    });
  });
  return true;
}

}  // namespace pesuite::vision::fused
