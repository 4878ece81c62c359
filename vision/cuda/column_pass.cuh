#pragma once
// One pass over the columns of a [rows, cols] matrix that sums every column (partial sums over row
// chunks, float32 [chunks, cols]; the caller adds the chunks up), optionally writing the GELU
// backward of each element on the way: the bias gradient of a Linear (plain) or of bias + GELU.
// Blocks of 32 x 8 threads: a thread owns V adjacent columns (one 16-byte vector) and walks its
// chunk's rows 8 apart; the 8 row lanes of a column are added in shared memory at the end.
//
//   column_pass_vec<__nv_bfloat16, false><<<grid, dim3(32, 8)>>>(nullptr, nullptr, g, nullptr, nullptr,
//                                                              part, rows, cols / 8, rows_per_chunk);
#include <cstdint>

#include "vec.cuh"

namespace pesuite::vision::fused {

constexpr int kPassColThreads = 32;
constexpr int kPassRowLanes = 8;
constexpr float kSqrtHalf = 0.70710678118654752440f;   // 1 / sqrt(2)
constexpr float kInvSqrt2Pi = 0.39894228040143267794f;  // 1 / sqrt(2 pi)

__device__ __forceinline__ float gelu_erf(float v) { return 0.5f * v * (1.f + erff(v * kSqrtHalf)); }
// d/dv [v Phi(v)] = Phi(v) + v phi(v), as ATen's GeluBackward (approximate = "none").
__device__ __forceinline__ float gelu_erf_grad(float v) {
  const float cdf = 0.5f * (1.f + erff(v * kSqrtHalf));
  const float pdf = expf(-0.5f * v * v) * kInvSqrt2Pi;
  return cdf + v * pdf;
}

// The launch shape the 32 x 8-thread column kernels share: blocks over `col_threads` column threads
// (one vector or one element each) and over column_sum_chunks(rows) row chunks.
struct ColumnGrid {
  dim3 grid;
  std::int64_t rows_per_chunk;
};
inline ColumnGrid column_grid(std::int64_t rows, std::int64_t col_threads) {
  const std::int64_t chunks = column_sum_chunks(rows);
  return {dim3(static_cast<unsigned int>((col_threads + kPassColThreads - 1) / kPassColThreads), static_cast<unsigned int>(chunks)),
          (rows + chunks - 1) / chunks};
}

// The rows [r0, r1) of this block's chunk.
__device__ __forceinline__ void chunk_rows(std::int64_t rows, std::int64_t rows_per_chunk, std::int64_t& r0, std::int64_t& r1) {
  r0 = static_cast<std::int64_t>(blockIdx.y) * rows_per_chunk;
  r1 = r0 + rows_per_chunk < rows ? r0 + rows_per_chunk : rows;
}

// kGelu: grad_h = grad_out * gelu'(h + bias) is written and summed, and gelu(h + bias) into
// gelu_out when it is not null (the MLP that recomputes its GELU: the values come from the same
// read of h); otherwise grad_out is summed (h, bias, grad_h, gelu_out unused). vecs = cols / V.
// grad_h may be grad_out (the backward writes over its incoming gradient): each element is read
// once, by the thread that then writes it, so neither pointer is __restrict__.
template <typename T, bool kGelu>
__global__ void __launch_bounds__(kPassColThreads * kPassRowLanes)
    column_pass_vec(const T* __restrict__ h, const float* __restrict__ bias, const T* grad_out,
                    T* grad_h, T* __restrict__ gelu_out, float* __restrict__ part, std::int64_t rows,
                    std::int64_t vecs, std::int64_t rows_per_chunk) {
  constexpr int V = VecWidth<T>::value;
  __shared__ float sums[kPassRowLanes][kPassColThreads * V + 1];
  const std::int64_t cv = static_cast<std::int64_t>(blockIdx.x) * kPassColThreads + threadIdx.x;  // vector column
  const std::int64_t cols = vecs * V;
  std::int64_t r0, r1;
  chunk_rows(rows, rows_per_chunk, r0, r1);
  float acc[V];
#pragma unroll
  for (int j = 0; j < V; ++j) acc[j] = 0.f;
  if (cv < vecs) {
    float b[V];
    if constexpr (kGelu) {
#pragma unroll
      for (int j = 0; j < V; ++j) b[j] = bias[cv * V + j];
    }
    for (std::int64_t r = r0 + threadIdx.y; r < r1; r += kPassRowLanes) {
      const std::int64_t i = r * cols + cv * V;
      float g[V];
      load_vec<T>(grad_out + i, g);
      if constexpr (kGelu) {
        float x[V];
        load_vec<T>(h + i, x);
#pragma unroll
        for (int j = 0; j < V; ++j) x[j] += b[j];
        if (gelu_out != nullptr) {
          float y[V];
#pragma unroll
          for (int j = 0; j < V; ++j) y[j] = gelu_erf(x[j]);
          store_vec<T>(gelu_out + i, y);
        }
#pragma unroll
        for (int j = 0; j < V; ++j) g[j] = to_float(from_float<T>(g[j] * gelu_erf_grad(x[j])));  // as stored
        store_vec<T>(grad_h + i, g);
      }
#pragma unroll
      for (int j = 0; j < V; ++j) acc[j] += g[j];
    }
  }
#pragma unroll
  for (int j = 0; j < V; ++j) sums[threadIdx.y][threadIdx.x * V + j] = acc[j];
  __syncthreads();
  // Each of the 256 threads finishes columns of the block's tile: the 8 lanes added in order.
  const int tid = threadIdx.y * kPassColThreads + threadIdx.x;
  for (int k = tid; k < kPassColThreads * V; k += kPassColThreads * kPassRowLanes) {
    const std::int64_t c = static_cast<std::int64_t>(blockIdx.x) * kPassColThreads * V + k;
    if (c >= cols) continue;
    float t = 0.f;
#pragma unroll
    for (int lane = 0; lane < kPassRowLanes; ++lane) t += sums[lane][k];
    part[static_cast<std::int64_t>(blockIdx.y) * cols + c] = t;
  }
}

// The same with one column per thread, for any row length and alignment.
template <typename T, bool kGelu>
__global__ void __launch_bounds__(kPassColThreads * kPassRowLanes)
    column_pass_scalar(const T* __restrict__ h, const float* __restrict__ bias, const T* grad_out,
                       T* grad_h, T* __restrict__ gelu_out, float* __restrict__ part, std::int64_t rows,
                       std::int64_t cols, std::int64_t rows_per_chunk) {
  __shared__ float sums[kPassRowLanes][kPassColThreads + 1];
  const std::int64_t c = static_cast<std::int64_t>(blockIdx.x) * kPassColThreads + threadIdx.x;
  std::int64_t r0, r1;
  chunk_rows(rows, rows_per_chunk, r0, r1);
  float acc = 0.f;
  if (c < cols) {
    const float b = kGelu ? bias[c] : 0.f;
    for (std::int64_t r = r0 + threadIdx.y; r < r1; r += kPassRowLanes) {
      const std::int64_t i = r * cols + c;
      float g = to_float(grad_out[i]);
      if constexpr (kGelu) {
        const float x = to_float(h[i]) + b;
        if (gelu_out != nullptr) gelu_out[i] = from_float<T>(gelu_erf(x));
        const T stored = from_float<T>(g * gelu_erf_grad(x));
        grad_h[i] = stored;
        g = to_float(stored);  // the bias gradient is the sum of grad_h as stored, as Linear's backward
      }
      acc += g;
    }
  }
  sums[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && c < cols) {
    float t = 0.f;
    for (int lane = 0; lane < kPassRowLanes; ++lane) t += sums[lane][threadIdx.x];
    part[static_cast<std::int64_t>(blockIdx.y) * cols + c] = t;
  }
}

// Launches the vector kernel where the layout allows, else the scalar one, over
// column_sum_chunks(rows) row chunks.
template <typename T, bool kGelu>
void launch_column_pass(const T* h, const float* bias, const T* grad_out, T* grad_h, T* gelu_out, float* part,
                        std::int64_t rows, std::int64_t cols, cudaStream_t stream) {
  const dim3 block(kPassColThreads, kPassRowLanes);
  if (vector_ok<T>(cols, {h, grad_out, grad_h, gelu_out})) {
    const std::int64_t vecs = cols / VecWidth<T>::value;
    const auto g = column_grid(rows, vecs);
    column_pass_vec<T, kGelu><<<g.grid, block, 0, stream>>>(h, bias, grad_out, grad_h, gelu_out, part, rows, vecs,
                                                            g.rows_per_chunk);
  } else {
    const auto g = column_grid(rows, cols);
    column_pass_scalar<T, kGelu><<<g.grid, block, 0, stream>>>(h, bias, grad_out, grad_h, gelu_out, part, rows, cols,
                                                               g.rows_per_chunk);
  }
}

}  // namespace pesuite::vision::fused
