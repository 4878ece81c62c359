#pragma once
// 16-byte vector loads and stores through float (8 bf16 / fp16 values or 4 float32 ones per
// access), for the memory-bound fused kernels: a warp then moves 512 contiguous bytes per access
// instead of 64. Callers check `vector_ok` (row length a multiple of the width, 16-byte aligned
// pointers) and keep a scalar path for the rest.
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

template <typename T>
__device__ __forceinline__ void load_vec(const T* p, float (&out)[VecWidth<T>::value]) {
  const uint4 raw = *reinterpret_cast<const uint4*>(p);
  const T* e = reinterpret_cast<const T*>(&raw);
#pragma unroll
  for (int i = 0; i < VecWidth<T>::value; ++i) out[i] = to_float(e[i]);
}

template <typename T>
__device__ __forceinline__ void store_vec(T* p, const float (&in)[VecWidth<T>::value]) {
  uint4 raw;
  T* e = reinterpret_cast<T*>(&raw);
#pragma unroll
  for (int i = 0; i < VecWidth<T>::value; ++i) e[i] = from_float<T>(in[i]);
  *reinterpret_cast<uint4*>(p) = raw;
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
