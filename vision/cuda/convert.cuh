#pragma once
// Loads and stores of float32 / bfloat16 / float16 through float, and the dispatch of a Dtype to
// its CUDA type, for the fused kernels (.cu files only).
//
//   float v = load<__nv_bfloat16>(p, i);  store<__half>(q, i, v);
//   dispatch_dtype(d, [&](auto tag) { using T = typename decltype(tag)::type; ... });
#include <cstdint>

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "dtype.h"

namespace pesuite::vision::fused {

template <typename T>
__device__ __forceinline__ float to_float(T v);
template <>
__device__ __forceinline__ float to_float<float>(float v) { return v; }
template <>
__device__ __forceinline__ float to_float<__nv_bfloat16>(__nv_bfloat16 v) { return __bfloat162float(v); }
template <>
__device__ __forceinline__ float to_float<__half>(__half v) { return __half2float(v); }

template <typename T>
__device__ __forceinline__ T from_float(float v);
template <>
__device__ __forceinline__ float from_float<float>(float v) { return v; }
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) { return __float2bfloat16(v); }  // round to nearest even
template <>
__device__ __forceinline__ __half from_float<__half>(float v) { return __float2half(v); }

__device__ __forceinline__ float warp_sum(float v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

template <typename T>
struct TypeTag {
  using type = T;
};

// Calls f(TypeTag<T>{}) with T the CUDA type of d; returns false for an unknown value.
template <typename F>
bool dispatch_dtype(Dtype d, F&& f) {
  switch (d) {
    case Dtype::f32: f(TypeTag<float>{}); return true;
    case Dtype::bf16: f(TypeTag<__nv_bfloat16>{}); return true;
    case Dtype::f16: f(TypeTag<__half>{}); return true;
  }
  return false;
}

// Calls f(TypeTag<A>{}, TypeTag<B>{}, TypeTag<C>{}) with the CUDA types of a, b and c; returns false
// when any of them is unknown (f is not called then).
template <typename F>
bool dispatch_dtypes(Dtype a, Dtype b, Dtype c, F&& f) {
  bool known = false;
  dispatch_dtype(a, [&](auto ta) {
    dispatch_dtype(b, [&](auto tb) { known = dispatch_dtype(c, [&](auto tc) { f(ta, tb, tc); }); });
  });
  return known;
}

// Row chunks of the column-sum kernels (LayerNorm's weight / bias gradients, the GELU's bias
// gradient): at least 64 rows (8 per thread) per block, at most 512 blocks; the caller sums the
// chunks' partial sums.
inline std::int64_t column_sum_chunks(std::int64_t rows) {
  constexpr std::int64_t kMaxChunks = 512;
  const std::int64_t chunks = (rows + 63) / 64;
  return chunks < 1 ? 1 : (chunks > kMaxChunks ? kMaxChunks : chunks);
}

}  // namespace pesuite::vision::fused
