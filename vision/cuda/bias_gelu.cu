// Bias + exact GELU (bias_gelu_kernels.h): an elementwise forward; a backward over column tiles and
// row chunks that writes the input gradient and sums the bias gradient in the same pass.
#include "bias_gelu_kernels.h"
#include "convert.cuh"

namespace pesuite::vision::fused {
namespace {

constexpr int kThreads = 256;
constexpr int kColTile = 32;
constexpr int kRowLanes = 8;
constexpr float kSqrtHalf = 0.70710678118654752440f;  // 1 / sqrt(2)
constexpr float kInvSqrt2Pi = 0.39894228040143267794f;  // 1 / sqrt(2 pi)

__device__ __forceinline__ float gelu_erf(float v) { return 0.5f * v * (1.f + erff(v * kSqrtHalf)); }
// d/dv [v Phi(v)] = Phi(v) + v phi(v), as ATen's GeluBackward (approximate = "none").
__device__ __forceinline__ float gelu_erf_grad(float v) {
  const float cdf = 0.5f * (1.f + erff(v * kSqrtHalf));
  const float pdf = expf(-0.5f * v * v) * kInvSqrt2Pi;
  return cdf + v * pdf;
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    bias_gelu_forward_kernel(const T* __restrict__ h, const float* __restrict__ bias, T* __restrict__ out,
                             std::int64_t n, std::int64_t cols) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    out[i] = from_float<T>(gelu_erf(to_float(h[i]) + bias[i % cols]));
}

template <typename T>
__global__ void __launch_bounds__(kColTile * kRowLanes)
    bias_gelu_backward_kernel(const T* __restrict__ h, const float* __restrict__ bias, const T* __restrict__ grad_out,
                              T* __restrict__ grad_h, float* __restrict__ part_bias, std::int64_t rows, std::int64_t cols,
                              std::int64_t rows_per_chunk) {
  __shared__ float sb[kRowLanes][kColTile + 1];
  const std::int64_t c = static_cast<std::int64_t>(blockIdx.x) * kColTile + threadIdx.x;
  const std::int64_t r0 = static_cast<std::int64_t>(blockIdx.y) * rows_per_chunk;
  const std::int64_t r1 = r0 + rows_per_chunk < rows ? r0 + rows_per_chunk : rows;
  float db = 0.f;
  if (c < cols) {
    const float b = bias[c];
    for (std::int64_t r = r0 + threadIdx.y; r < r1; r += kRowLanes) {
      const std::int64_t i = r * cols + c;
      const T g = from_float<T>(to_float(grad_out[i]) * gelu_erf_grad(to_float(h[i]) + b));
      grad_h[i] = g;
      db += to_float(g);  // the bias gradient is the sum of grad_h as stored, as Linear's backward
    }
  }
  sb[threadIdx.y][threadIdx.x] = db;
  __syncthreads();
  if (threadIdx.y == 0 && c < cols) {
    float t = 0.f;
    for (int k = 0; k < kRowLanes; ++k) t += sb[k][threadIdx.x];
    part_bias[static_cast<std::int64_t>(blockIdx.y) * cols + c] = t;
  }
}

}  // namespace

bool bias_gelu_forward(Dtype type, const void* h, const float* bias, void* out, std::int64_t rows, std::int64_t cols,
                       void* stream) {
  const std::int64_t n = rows * cols;
  if (n <= 0) return true;
  auto st = static_cast<cudaStream_t>(stream);
  std::int64_t blocks = (n + kThreads - 1) / kThreads;
  if (blocks > 65535LL * 16) blocks = 65535LL * 16;  // grid-stride beyond this
  return dispatch_dtype(type, [&](auto tag) {
    using T = typename decltype(tag)::type;
    bias_gelu_forward_kernel<T><<<static_cast<unsigned int>(blocks), kThreads, 0, st>>>(
        static_cast<const T*>(h), bias, static_cast<T*>(out), n, cols);
  });
}

std::int64_t bias_gelu_chunks(std::int64_t rows) { return column_sum_chunks(rows); }

bool bias_gelu_backward(Dtype type, const void* h, const float* bias, const void* grad_out, void* grad_h,
                        float* part_bias, std::int64_t rows, std::int64_t cols, void* stream) {
  if (cols <= 0) return true;
  auto st = static_cast<cudaStream_t>(stream);
  const std::int64_t chunks = bias_gelu_chunks(rows);
  const std::int64_t rows_per_chunk = (rows + chunks - 1) / chunks;
  const dim3 grid(static_cast<unsigned int>((cols + kColTile - 1) / kColTile), static_cast<unsigned int>(chunks));
  const dim3 block(kColTile, kRowLanes);
  return dispatch_dtype(type, [&](auto tag) {
    using T = typename decltype(tag)::type;
    bias_gelu_backward_kernel<T><<<grid, block, 0, st>>>(static_cast<const T*>(h), bias, static_cast<const T*>(grad_out),
                                                          static_cast<T*>(grad_h), part_bias, rows, cols, rows_per_chunk);
  });
}

}  // namespace pesuite::vision::fused
