// CPVT's PEG on the token layout (peg_kernels.h). One thread owns one channel of one grid row and
// walks along the row with the K x K window in registers: each step loads one new column of K
// values (the other K * (K - 1) stay), so every token is read about K times, from L1 / L2, instead
// of K * K. Consecutive threads own consecutive channels: the loads of a warp are one contiguous
// run of the token. Each image's prefix tokens are one extra "row" (i == H) that is copied.
//
// The backward walks the same way with two windows (the output gradient for the input gradient,
// the forward's sum for the weight gradient) and sums the weight and bias gradients over the rows
// a block visits; the blocks' partial sums are added up by the caller.
#include <type_traits>

#include "convert.cuh"
#include "peg_kernels.h"

namespace pesuite::vision::fused {
namespace {

constexpr int kForwardThreads = 128;
constexpr int kWarps = 8;  // backward: warps of a block, each on its own rows, one channel per lane

struct Grid {
  std::int64_t prefix, H, W, C, batch;
  __device__ std::int64_t tokens() const { return prefix + H * W; }
};

// The value at grid cell (row, col) of image `base` (the offset of its first token's channel c),
// or 0 outside the grid (zero padding).
template <typename TX, typename TY, bool HasY>
__device__ __forceinline__ float cell(const TX* __restrict__ x, const TY* __restrict__ y, std::int64_t base, const Grid& g,
                                      std::int64_t row, std::int64_t col) {
  if (row < 0 || row >= g.H || col < 0 || col >= g.W) return 0.f;
  const std::int64_t o = base + (g.prefix + row * g.W + col) * g.C;
  float v = to_float(x[o]);
  if constexpr (HasY) v += to_float(y[o]);
  return v;
}

template <typename TX, typename TY, bool HasY, int K>
__global__ void __launch_bounds__(kForwardThreads)
    peg_forward_kernel(const TX* __restrict__ x, const TY* __restrict__ y, const float* __restrict__ w,
                       const float* __restrict__ bias, TX* __restrict__ s_out, TX* __restrict__ out, Grid g) {
  constexpr int R = K / 2;
  const std::int64_t c = static_cast<std::int64_t>(blockIdx.y) * kForwardThreads + threadIdx.x;
  if (c >= g.C) return;
  const std::int64_t b = blockIdx.x / (g.H + 1), i = blockIdx.x % (g.H + 1);
  const std::int64_t base = b * g.tokens() * g.C + c;
  if (i == g.H) {  // the prefix tokens: passed through
    for (std::int64_t p = 0; p < g.prefix; ++p) {
      const std::int64_t o = base + p * g.C;
      float v = to_float(x[o]);
      if constexpr (HasY) v += to_float(y[o]);
      if (s_out != nullptr) s_out[o] = from_float<TX>(v);
      out[o] = from_float<TX>(v);
    }
    return;
  }
  float wk[K * K];
#pragma unroll
  for (int t = 0; t < K * K; ++t) wk[t] = w[c * K * K + t];
  const float b0 = bias != nullptr ? bias[c] : 0.f;
  float win[K][K];  // win[a][e] = s(i + a - R, j + e - R) for the current column j
#pragma unroll
  for (int a = 0; a < K; ++a)
#pragma unroll
    for (int e = 0; e < K; ++e) win[a][e] = cell<TX, TY, HasY>(x, y, base, g, i + a - R, e - R);
  for (std::int64_t j = 0; j < g.W; ++j) {
    float acc = b0;
#pragma unroll
    for (int a = 0; a < K; ++a)
#pragma unroll
      for (int e = 0; e < K; ++e) acc += wk[a * K + e] * win[a][e];
    const float center = win[R][R];
    const std::int64_t o = base + (g.prefix + i * g.W + j) * g.C;
    if (s_out != nullptr) s_out[o] = from_float<TX>(center);
    out[o] = from_float<TX>(center + acc);
#pragma unroll
    for (int a = 0; a < K; ++a) {
#pragma unroll
      for (int e = 0; e + 1 < K; ++e) win[a][e] = win[a][e + 1];
      win[a][K - 1] = cell<TX, TY, HasY>(x, y, base, g, i + a - R, j + 1 + R);
    }
  }
}

// blockIdx.y: 32 channels, one per lane; blockIdx.x: a chunk of rows, warp w of it visiting rows
// blockIdx.x * kWarps + w + k * gridDim.x * kWarps (k = 0, 1, ...) of all images' H + 1 rows.
template <typename TX, typename TY, int K>
__global__ void __launch_bounds__(kWarps * 32)
    peg_backward_kernel(const TX* __restrict__ grad, const TX* __restrict__ s, const float* __restrict__ w,
                        TX* __restrict__ grad_x, TY* __restrict__ grad_y, float* __restrict__ parts, Grid g) {
  constexpr int R = K / 2, Taps = K * K;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const std::int64_t c = static_cast<std::int64_t>(blockIdx.y) * 32 + lane;
  const bool active = c < g.C;
  float dw[Taps + 1];  // weight gradient per tap, then the bias gradient
#pragma unroll
  for (int t = 0; t <= Taps; ++t) dw[t] = 0.f;
  if (active) {
    float wk[Taps];
#pragma unroll
    for (int t = 0; t < Taps; ++t) wk[t] = w[c * Taps + t];
    const std::int64_t all_rows = (g.H + 1) * g.batch;
    for (std::int64_t r = static_cast<std::int64_t>(blockIdx.x) * kWarps + warp; r < all_rows;
         r += static_cast<std::int64_t>(gridDim.x) * kWarps) {
      const std::int64_t b = r / (g.H + 1), i = r % (g.H + 1);
      const std::int64_t base = b * g.tokens() * g.C + c;
      if (i == g.H) {  // prefix tokens: their gradient passes through
        for (std::int64_t p = 0; p < g.prefix; ++p) {
          const std::int64_t o = base + p * g.C;
          grad_x[o] = grad[o];
          if (grad_y != nullptr) grad_y[o] = from_float<TY>(to_float(grad[o]));
        }
        continue;
      }
      // gw[a][e] = grad(i + a - R, j + e - R), sw[a][e] = s(i + a - R, j + e - R)
      float gw[K][K], sw[K][K];
#pragma unroll
      for (int a = 0; a < K; ++a)
#pragma unroll
        for (int e = 0; e < K; ++e) {
          gw[a][e] = cell<TX, TX, false>(grad, grad, base, g, i + a - R, e - R);
          sw[a][e] = cell<TX, TX, false>(s, s, base, g, i + a - R, e - R);
        }
      for (std::int64_t j = 0; j < g.W; ++j) {
        const float g0 = gw[R][R];
        // The input gradient: the output cells whose window holds (i, j), tap (a, e) reaching it
        // from (i - a + R, j - e + R) = gw[K - 1 - a][K - 1 - e].
        float acc = g0;
#pragma unroll
        for (int a = 0; a < K; ++a)
#pragma unroll
          for (int e = 0; e < K; ++e) {
            acc += wk[a * K + e] * gw[K - 1 - a][K - 1 - e];
            dw[a * K + e] += g0 * sw[a][e];
          }
        dw[Taps] += g0;
        const std::int64_t o = base + (g.prefix + i * g.W + j) * g.C;
        grad_x[o] = from_float<TX>(acc);
        if (grad_y != nullptr) grad_y[o] = from_float<TY>(acc);
#pragma unroll
        for (int a = 0; a < K; ++a) {
#pragma unroll
          for (int e = 0; e + 1 < K; ++e) {
            gw[a][e] = gw[a][e + 1];
            sw[a][e] = sw[a][e + 1];
          }
          gw[a][K - 1] = cell<TX, TX, false>(grad, grad, base, g, i + a - R, j + 1 + R);
          sw[a][K - 1] = cell<TX, TX, false>(s, s, base, g, i + a - R, j + 1 + R);
        }
      }
    }
  }
  // The block's sum over its warps, one tap at a time (shared memory stays small for K = 7).
  __shared__ float part[kWarps][32];
  for (int t = 0; t <= Taps; ++t) {
    part[warp][lane] = dw[t];
    __syncthreads();
    if (warp == 0 && active) {
      float sum = 0.f;
#pragma unroll
      for (int k = 0; k < kWarps; ++k) sum += part[k][lane];
      parts[(static_cast<std::int64_t>(blockIdx.x) * (Taps + 1) + t) * g.C + c] = sum;
    }
    __syncthreads();
  }
}

template <int K, typename F>
bool with_kernel_size(int k, F&& f) {
  if (k == K) {
    f(std::integral_constant<int, K>{});
    return true;
  }
  return false;
}

// Calls f(std::integral_constant<int, K>{}) for K in 3, 5, 7; false for another size.
template <typename F>
bool dispatch_kernel_size(int k, F&& f) {
  return with_kernel_size<3>(k, f) || with_kernel_size<5>(k, f) || with_kernel_size<7>(k, f);
}

// Calls f(TypeTag<TX>, TypeTag<TY>, std::integral_constant<int, K>) for the CUDA types of x_type and
// y_type and the kernel size k; false when any of them is unknown (f is not called then).
template <typename F>
bool dispatch_peg(Dtype x_type, Dtype y_type, int k, F&& f) {
  bool known = false;
  dispatch_dtype(x_type, [&](auto tx) {
    dispatch_dtype(y_type, [&](auto ty) { known = dispatch_kernel_size(k, [&](auto ks) { f(tx, ty, ks); }); });
  });
  return known;
}

}  // namespace

std::int64_t peg_weight_chunks(std::int64_t B, std::int64_t H) {
  // At least 16 rows (2 per warp) per block, at most 256 blocks per 32 channels.
  const std::int64_t rows = B * (H + 1);
  const std::int64_t chunks = (rows + 2 * kWarps - 1) / (2 * kWarps);
  return chunks < 1 ? 1 : (chunks > 256 ? 256 : chunks);
}

bool peg_forward(Dtype x_type, Dtype y_type, const void* x, const void* y, const float* w, const float* bias, void* s,
                 void* out, std::int64_t B, std::int64_t prefix, std::int64_t H, std::int64_t W, std::int64_t C, int K,
                 void* stream) {
  if (B <= 0 || C <= 0 || H <= 0 || W <= 0) return true;
  const Grid g{prefix, H, W, C, B};
  const dim3 grid(static_cast<unsigned>(B * (H + 1)), static_cast<unsigned>((C + kForwardThreads - 1) / kForwardThreads));
  auto st = static_cast<cudaStream_t>(stream);
  return dispatch_peg(x_type, y_type, K, [&](auto tx, auto ty, auto ks) {
    using TX = typename decltype(tx)::type;
    using TY = typename decltype(ty)::type;
    constexpr int KS = decltype(ks)::value;
    if (y != nullptr)
      peg_forward_kernel<TX, TY, true, KS><<<grid, kForwardThreads, 0, st>>>(
          static_cast<const TX*>(x), static_cast<const TY*>(y), w, bias, static_cast<TX*>(s), static_cast<TX*>(out), g);
    else
      peg_forward_kernel<TX, TY, false, KS><<<grid, kForwardThreads, 0, st>>>(
          static_cast<const TX*>(x), nullptr, w, bias, static_cast<TX*>(s), static_cast<TX*>(out), g);
  });
}

bool peg_backward(Dtype x_type, Dtype y_type, const void* g, const void* s, const float* w, void* grad_x, void* grad_y,
                  float* parts, std::int64_t B, std::int64_t prefix, std::int64_t H, std::int64_t W, std::int64_t C, int K,
                  void* stream) {
  if (B <= 0 || C <= 0 || H <= 0 || W <= 0) return true;
  const Grid grid_layout{prefix, H, W, C, B};
  const dim3 grid(static_cast<unsigned>(peg_weight_chunks(B, H)), static_cast<unsigned>((C + 31) / 32));
  auto st = static_cast<cudaStream_t>(stream);
  return dispatch_peg(x_type, y_type, K, [&](auto tx, auto ty, auto ks) {
    using TX = typename decltype(tx)::type;
    using TY = typename decltype(ty)::type;
    peg_backward_kernel<TX, TY, decltype(ks)::value><<<grid, kWarps * 32, 0, st>>>(
        static_cast<const TX*>(g), static_cast<const TX*>(s), w, static_cast<TX*>(grad_x), static_cast<TY*>(grad_y), parts,
        grid_layout);
  });
}

}  // namespace pesuite::vision::fused
