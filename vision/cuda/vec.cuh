#pragma once
// 16-byte vector loads and stores through float (8 bf16 / fp16 values or 4 float32 ones per
// access), for the memory-bound fused kernels: a warp then moves 512 contiguous bytes per access
// instead of 64. Callers check `vector_ok` (row length a multiple of the width, 16-byte aligned
// pointers) and keep a scalar path for the rest. load_vec<T, N> / store_vec<T, N> move N elements
// of any type in one access (4: the LayerNorm kernels' groups, 16 or 8 bytes).
//
//   constexpr int V = VecWidth<T>::value;
//   float v[V];
//   load_vec<T>(in + i, v);  ...  store_vec<T>(out + i, v);
#include <cstdint>

#include "convert.cuh"

namespace pesuite::vision::fused {

template <typename T>
struct VecWidth {
  static constexpr int value = 16 / static_cast<int>(sizeof(T));
};

// N adjacent elements moved as one access (N * sizeof(T) bytes, aligned to that).
template <typename T, int N>
struct alignas(N * sizeof(T)) Pack {
  T v[N];
};

template <typename T, int N = VecWidth<T>::value>
__device__ __forceinline__ void load_vec(const T* p, float (&out)[N]) {
  const Pack<T, N> raw = *reinterpret_cast<const Pack<T, N>*>(p);
#pragma unroll
  for (int i = 0; i < N; ++i) out[i] = to_float(raw.v[i]);
}

// Two 16-bit values as one 32-bit word (a first in memory), each rounded as from_float<T> rounds.
template <typename T>
__device__ __forceinline__ unsigned pack_word(float a, float b);
template <>
__device__ __forceinline__ unsigned pack_word<__nv_bfloat16>(float a, float b) {
  const __nv_bfloat162 h = __floats2bfloat162_rn(a, b);
  return *reinterpret_cast<const unsigned*>(&h);
}
template <>
__device__ __forceinline__ unsigned pack_word<__half>(float a, float b) {
  const __half2 h = __floats2half2_rn(a, b);
  return *reinterpret_cast<const unsigned*>(&h);
}

// The store is built from 32-bit words and issued as one vector store: written element by element
// (a Pack or a uint4 of 16-bit values), nvcc split it into 4- or 2-byte stores.
template <typename T, int N = VecWidth<T>::value>
__device__ __forceinline__ void store_vec(T* p, const float (&in)[N]) {
  constexpr int W = N * static_cast<int>(sizeof(T)) / 4;  // 32-bit words
  static_assert(W == 1 || W == 2 || W == 4, "store_vec: 4, 8 or 16 bytes");
  unsigned w[W];
#pragma unroll
  for (int k = 0; k < W; ++k) {
    if constexpr (sizeof(T) == 4) {
      w[k] = __float_as_uint(in[k]);
    } else {
      w[k] = pack_word<T>(in[2 * k], in[2 * k + 1]);
    }
  }
  // __stwb: st.global.wb, the default store, as one vector instruction (a plain uint4 assignment
  // of words built in registers is split by nvcc too).
  if constexpr (W == 4) {
    __stwb(reinterpret_cast<uint4*>(p), make_uint4(w[0], w[1], w[2], w[3]));
  } else if constexpr (W == 2) {
    __stwb(reinterpret_cast<uint2*>(p), make_uint2(w[0], w[1]));
  } else {
    __stwb(reinterpret_cast<unsigned*>(p), w[0]);
  }
}

// Whether rows of `cols` elements of T at these addresses can be read in whole vectors.
template <typename T>
inline bool vector_ok(std::int64_t cols, std::initializer_list<const void*> ptrs) {
  if (cols % VecWidth<T>::value != 0) return false;
  for (const void* p : ptrs)
    if (p != nullptr && reinterpret_cast<std::uintptr_t>(p) % 16 != 0) return false;
  return true;
}

}  // namespace pesuite::vision::fused
