// Bias + exact GELU (bias_gelu_kernels.h): an elementwise forward; a backward over column tiles and
// row chunks that writes the input gradient and sums the bias gradient in the same pass
// (column_pass.cuh). Both read and write whole 16-byte vectors where the row length allows.
#include "bias_gelu_kernels.h"
#include "column_pass.cuh"

namespace pesuite::vision::fused {
namespace {

constexpr int kThreads = 256;
constexpr std::int64_t kFewBlocks = 1024;  // below this many blocks the forward splits its rows finer

// h and out may be the same buffer (the in-place forward): each thread reads an element before it
// writes it and no thread touches another's, so neither pointer is __restrict__.
// Blocks of 32 x 8 threads as the column pass: a thread owns one vector of V columns (its bias
// values loaded once) and walks its chunk's rows 8 apart, so no index is divided.
template <typename T>
__global__ void __launch_bounds__(kPassColThreads * kPassRowLanes)
    bias_gelu_forward_vec(const T* h, const float* __restrict__ bias, T* out, std::int64_t rows,
                          std::int64_t vecs, std::int64_t rows_per_chunk) {
  constexpr int V = VecWidth<T>::value;
  const std::int64_t cv = static_cast<std::int64_t>(blockIdx.x) * kPassColThreads + threadIdx.x;
  if (cv >= vecs) return;
  const std::int64_t cols = vecs * V;
  std::int64_t r0, r1;
  chunk_rows(rows, rows_per_chunk, r0, r1);
  float b[V];
#pragma unroll
  for (int j = 0; j < V; ++j) b[j] = bias[cv * V + j];
  for (std::int64_t r = r0 + threadIdx.y; r < r1; r += kPassRowLanes) {
    const std::int64_t i = r * cols + cv * V;
    float x[V];
    load_vec<T>(h + i, x);
#pragma unroll
    for (int j = 0; j < V; ++j) x[j] = gelu_erf(x[j] + b[j]);
    store_vec<T>(out + i, x);
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    bias_gelu_forward_scalar(const T* h, const float* __restrict__ bias, T* out, std::int64_t n,
                             std::int64_t cols) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    out[i] = from_float<T>(gelu_erf(to_float(h[i]) + bias[i % cols]));
}

}  // namespace

bool bias_gelu_forward(Dtype type, const void* h, const float* bias, void* out, std::int64_t rows, std::int64_t cols,
                       void* stream) {
  const std::int64_t n = rows * cols;
  if (n <= 0) return true;
  auto st = static_cast<cudaStream_t>(stream);
  return dispatch_dtype(type, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* hp = static_cast<const T*>(h);
    T* op = static_cast<T*>(out);
    if (vector_ok<T>(cols, {h, out})) {
      const std::int64_t vecs = cols / VecWidth<T>::value;
      auto g = column_grid(rows, vecs);
      // Few rows (batch-1 inference: 197) make few of the reduction-sized chunks (64 rows), and most
      // SMs idle (4.1 us a call against 1.4 for compile's kernel, deit_tiny fp32, an H100). With no
      // sums to keep, a chunk can be one row per row lane: up to 1024 blocks.
      if (static_cast<std::int64_t>(g.grid.x) * g.grid.y < kFewBlocks) {
        const std::int64_t want = (kFewBlocks + g.grid.x - 1) / g.grid.x;
        const std::int64_t most = (rows + kPassRowLanes - 1) / kPassRowLanes;
        const std::int64_t chunks = want < most ? want : most;
        g.rows_per_chunk = (rows + chunks - 1) / chunks;
        g.grid.y = static_cast<unsigned int>((rows + g.rows_per_chunk - 1) / g.rows_per_chunk);
      }
      bias_gelu_forward_vec<T><<<g.grid, dim3(kPassColThreads, kPassRowLanes), 0, st>>>(hp, bias, op, rows, vecs, g.rows_per_chunk);
    } else {
      std::int64_t blocks = (n + kThreads - 1) / kThreads;
      if (blocks > 65535LL * 16) blocks = 65535LL * 16;  // grid-stride beyond this
      bias_gelu_forward_scalar<T><<<static_cast<unsigned int>(blocks), kThreads, 0, st>>>(hp, bias, op, n, cols);
    }
  });
}

std::int64_t bias_gelu_chunks(std::int64_t rows) { return column_sum_chunks(rows); }

bool bias_gelu_backward(Dtype type, const void* h, const float* bias, const void* grad_out, void* grad_h,
                        float* part_bias, std::int64_t rows, std::int64_t cols, void* stream, void* gelu_out) {
  if (cols <= 0) return true;
  return dispatch_dtype(type, [&](auto tag) {
    using T = typename decltype(tag)::type;
    launch_column_pass<T, true>(static_cast<const T*>(h), bias, static_cast<const T*>(grad_out), static_cast<T*>(grad_h),
                                static_cast<T*>(gelu_out), part_bias, rows, cols, static_cast<cudaStream_t>(stream));
  });
}

}  // namespace pesuite::vision::fused
