// The q / k / v split's backward (split_qkv_kernels.h): each thread writes one 16-byte vector (or
// one element where the layout does not allow vectors) of the [B, N, 3, H, D] gradient, reading it
// from the strided q, k or v gradient. The output is written in order, so the writes coalesce.
#include "split_qkv_kernels.h"
#include "vec.cuh"

namespace pesuite::vision::fused {
namespace {

constexpr int kThreads = 256;

struct Layout {
  const void* src[3];
  std::int64_t stride[3][4];
  std::int64_t N;
  int H, DV;  // DV: vectors (or elements) per head row
};

template <typename T, int V>
__global__ void __launch_bounds__(kThreads) gather_qkv_grad_kernel(Layout L, T* __restrict__ out, std::int64_t total) {
  const std::int64_t t = static_cast<std::int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  if (t >= total) return;
  const int per_row = 3 * L.H * L.DV;
  const std::int64_t row = t / per_row;  // b * N + n
  const int within = static_cast<int>(t - row * per_row);
  const int s = within / (L.H * L.DV);
  const int h = (within / L.DV) % L.H;
  const int dv = within % L.DV;
  const std::int64_t b = row / L.N, n = row - b * L.N;
  T* dst = out + t * V;
  const T* src = static_cast<const T*>(L.src[s]);
  if constexpr (V == 1) {
    *dst = src == nullptr ? from_float<T>(0.f)
                          : src[b * L.stride[s][0] + h * L.stride[s][1] + n * L.stride[s][2] + dv * L.stride[s][3]];
  } else {
    if (src == nullptr) {
      *reinterpret_cast<uint4*>(dst) = make_uint4(0, 0, 0, 0);
    } else {
      const T* p = src + b * L.stride[s][0] + h * L.stride[s][1] + n * L.stride[s][2] + static_cast<std::int64_t>(dv) * V;
      *reinterpret_cast<uint4*>(dst) = *reinterpret_cast<const uint4*>(p);
    }
  }
}

}  // namespace

bool gather_qkv_grad(Dtype type, const QkvGrads& grads, void* dqkv, std::int64_t B, std::int64_t H, std::int64_t N,
                     std::int64_t D, void* stream) {
  if (B <= 0 || H <= 0 || N <= 0 || D <= 0) return true;
  auto st = static_cast<cudaStream_t>(stream);
  return dispatch_dtype(type, [&](auto tag) {
    using T = typename decltype(tag)::type;
    constexpr int V = VecWidth<T>::value;
    Layout L{};
    bool vec = D % V == 0 && reinterpret_cast<std::uintptr_t>(dqkv) % 16 == 0;
    for (int s = 0; s < 3; ++s) {
      L.src[s] = grads.ptr[s];
      for (int k = 0; k < 4; ++k) L.stride[s][k] = grads.stride[s][k];
      if (grads.ptr[s] != nullptr)  // whole vectors only along a contiguous, aligned head row
        vec = vec && grads.stride[s][3] == 1 && reinterpret_cast<std::uintptr_t>(grads.ptr[s]) % 16 == 0 &&
              grads.stride[s][0] % V == 0 && grads.stride[s][1] % V == 0 && grads.stride[s][2] % V == 0;
    }
    L.N = N;
    L.H = static_cast<int>(H);
    L.DV = static_cast<int>(vec ? D / V : D);
    const std::int64_t total = B * N * 3 * H * L.DV;
    const auto blocks = static_cast<unsigned int>((total + kThreads - 1) / kThreads);
    if (vec)
      gather_qkv_grad_kernel<T, V><<<blocks, kThreads, 0, st>>>(L, static_cast<T*>(dqkv), total);
    else
      gather_qkv_grad_kernel<T, 1><<<blocks, kThreads, 0, st>>>(L, static_cast<T*>(dqkv), total);
  });
}

}  // namespace pesuite::vision::fused
