#pragma once
// The register-cached residual add + LayerNorm kernels (add_layer_norm.cu launches them where
// rows are a multiple of 4 elements, at most kQuadMaxCols long, and 16-byte aligned; the scalar
// kernels there take the rest). One warp per row; a lane owns G groups of 4 adjacent columns
// (group q = g * 32 + lane), loads them once into registers and reads nothing twice:
//  - forward: x (+ y) read once, s and out written once (the scalar kernel reads the row 3 times);
//  - backward: s, grad_out and grad_s read once, and the weight / bias gradients summed on the
//    way, per block of rows, so the separate weight pass over s and grad_out is gone.
//
//   add_ln_forward_quad<float, __nv_bfloat16, __nv_bfloat16, 2><<<blocks, dim3(32, 4), 0, st>>>(...);
#include <cstdint>

#include "vec.cuh"  // load_vec<T, 4> / store_vec<T, 4>: one 16-byte (float32) or 8-byte (16-bit) access

namespace pesuite::vision::fused {

constexpr int kQuadMaxCols = 768;  // G = 6 groups of 4 per lane: ViT-B's width
constexpr int kQuadWarps = 8;      // warps (rows in flight) per block of the backward

__device__ __forceinline__ void load_quad_or(const float* p, float fallback, float (&out)[4]) {
  if (p == nullptr) {
#pragma unroll
    for (int i = 0; i < 4; ++i) out[i] = fallback;
  } else {
    load_vec<float, 4>(p, out);
  }
}

template <typename TX, typename TY, typename TO, int G>
__global__ void __launch_bounds__(32 * 4)
    add_ln_forward_quad(const TX* x, const TY* y, const float* __restrict__ w, const float* __restrict__ b, TX* s,
                        TO* __restrict__ out, float* __restrict__ mean_out, float* __restrict__ rstd_out,
                        std::int64_t rows, std::int64_t cols, float eps) {
  const int lane = threadIdx.x;
  const std::int64_t row = static_cast<std::int64_t>(blockIdx.x) * blockDim.y + threadIdx.y;
  if (row >= rows) return;  // the whole warp leaves together
  const std::int64_t base = row * cols;
  const int quads = static_cast<int>(cols / 4);
  float v[G][4];
  float sum = 0.f;
#pragma unroll
  for (int g = 0; g < G; ++g) {
    const int q = g * 32 + lane;
    if (q >= quads) continue;
    load_vec<TX, 4>(x + base + 4 * q, v[g]);
    if (y != nullptr) {
      float t[4];
      load_vec<TY, 4>(y + base + 4 * q, t);
#pragma unroll
      for (int i = 0; i < 4; ++i) v[g][i] = to_float(from_float<TX>(v[g][i] + t[i]));  // as stored
      store_vec<TX, 4>(s + base + 4 * q, v[g]);
    }
#pragma unroll
    for (int i = 0; i < 4; ++i) sum += v[g][i];
  }
  const float mean = warp_sum(sum) / static_cast<float>(cols);
  float var = 0.f;
#pragma unroll
  for (int g = 0; g < G; ++g) {
    if (g * 32 + lane >= quads) continue;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const float d = v[g][i] - mean;
      var += d * d;
    }
  }
  const float rstd = rsqrtf(warp_sum(var) / static_cast<float>(cols) + eps);
#pragma unroll
  for (int g = 0; g < G; ++g) {
    const int q = g * 32 + lane;
    if (q >= quads) continue;
    float wq[4], bq[4], o[4];
    load_quad_or(w == nullptr ? nullptr : w + 4 * q, 1.f, wq);
    load_quad_or(b == nullptr ? nullptr : b + 4 * q, 0.f, bq);
#pragma unroll
    for (int i = 0; i < 4; ++i) o[i] = (v[g][i] - mean) * rstd * wq[i] + bq[i];
    store_vec<TO, 4>(out + base + 4 * q, o);
  }
  if (lane == 0) {
    mean_out[row] = mean;
    rstd_out[row] = rstd;
  }
}

// Block k takes rows [k * rows_per_block, (k + 1) * rows_per_block), its warps kQuadWarps apart.
// part_w / part_b (float32 [gridDim.x, cols], or null when no weight gradient is wanted) get the
// block's sums of grad_out * xhat and grad_out. Dynamic shared memory: 2 * (kQuadWarps / 2) * cols
// floats when part_w is set.
template <typename TX, typename TY, typename TO, int G>
__global__ void __launch_bounds__(32 * kQuadWarps)
    add_ln_backward_quad(const TX* __restrict__ s, const TO* __restrict__ grad_out, const TX* __restrict__ grad_s,
                         const float* __restrict__ w, const float* __restrict__ mean_in, const float* __restrict__ rstd_in,
                         TX* __restrict__ grad_x, TY* __restrict__ grad_y, float* __restrict__ part_w,
                         float* __restrict__ part_b, std::int64_t rows, std::int64_t cols, std::int64_t rows_per_block) {
  extern __shared__ float halves[];  // [kQuadWarps / 2][2][cols]
  const int lane = threadIdx.x, warp = threadIdx.y;
  const int quads = static_cast<int>(cols / 4);
  const float inv_cols = 1.f / static_cast<float>(cols);
  const std::int64_t r0 = static_cast<std::int64_t>(blockIdx.x) * rows_per_block;
  const std::int64_t r1 = r0 + rows_per_block < rows ? r0 + rows_per_block : rows;
  float dw[G][4], db[G][4];
#pragma unroll
  for (int g = 0; g < G; ++g)
#pragma unroll
    for (int i = 0; i < 4; ++i) dw[g][i] = db[g][i] = 0.f;

  for (std::int64_t row = r0 + warp; row < r1; row += kQuadWarps) {
    const std::int64_t base = row * cols;
    const float mean = mean_in[row], rstd = rstd_in[row];
    float xhat[G][4], gw[G][4];  // xhat, then grad_out * w
    float sum_g = 0.f, sum_gx = 0.f;
#pragma unroll
    for (int g = 0; g < G; ++g) {
      const int q = g * 32 + lane;
      if (q >= quads) continue;
      float go[4], wq[4];
      load_vec<TX, 4>(s + base + 4 * q, xhat[g]);
      load_vec<TO, 4>(grad_out + base + 4 * q, go);
      load_quad_or(w == nullptr ? nullptr : w + 4 * q, 1.f, wq);
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        xhat[g][i] = (xhat[g][i] - mean) * rstd;
        dw[g][i] += go[i] * xhat[g][i];
        db[g][i] += go[i];
        gw[g][i] = go[i] * wq[i];
        sum_g += gw[g][i];
        sum_gx += gw[g][i] * xhat[g][i];
      }
    }
    const float mean_g = warp_sum(sum_g) * inv_cols, mean_gx = warp_sum(sum_gx) * inv_cols;
#pragma unroll
    for (int g = 0; g < G; ++g) {
      const int q = g * 32 + lane;
      if (q >= quads) continue;
      float d[4], gs[4];
      load_quad_or(nullptr, 0.f, gs);
      if (grad_s != nullptr) load_vec<TX, 4>(grad_s + base + 4 * q, gs);
#pragma unroll
      for (int i = 0; i < 4; ++i) d[i] = rstd * (gw[g][i] - mean_g - xhat[g][i] * mean_gx) + gs[i];
      store_vec<TX, 4>(grad_x + base + 4 * q, d);
      if (grad_y != nullptr) store_vec<TY, 4>(grad_y + base + 4 * q, d);
    }
  }
  if (part_w == nullptr) return;  // uniform over the block: no barrier is skipped by some threads only

  // The block's column sums: the upper half of the warps parks its sums in shared memory, the lower
  // half adds its own, then every thread finishes columns over the lower half, in warp order.
  constexpr int kHalf = kQuadWarps / 2;
  auto slot = [&](int k, int which, int c) -> float& { return halves[(k * 2 + which) * cols + c]; };
  auto put = [&](int k, bool add) {  // this warp's sums into slot k: stored, or added to what is there
#pragma unroll
    for (int g = 0; g < G; ++g) {
      const int q = g * 32 + lane;
      if (q >= quads) continue;
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        float& sw = slot(k, 0, 4 * q + i);
        float& sb = slot(k, 1, 4 * q + i);
        sw = add ? sw + dw[g][i] : dw[g][i];
        sb = add ? sb + db[g][i] : db[g][i];
      }
    }
  };
  if (warp >= kHalf) put(warp - kHalf, false);
  __syncthreads();
  if (warp < kHalf) put(warp, true);
  __syncthreads();
  for (int c = warp * 32 + lane; c < cols; c += 32 * kQuadWarps) {
    float tw = 0.f, tb = 0.f;
#pragma unroll
    for (int k = 0; k < kHalf; ++k) {
      tw += slot(k, 0, c);
      tb += slot(k, 1, c);
    }
    part_w[static_cast<std::int64_t>(blockIdx.x) * cols + c] = tw;
    part_b[static_cast<std::int64_t>(blockIdx.x) * cols + c] = tb;
  }
}

}  // namespace pesuite::vision::fused
