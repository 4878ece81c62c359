#pragma once
// Launcher of the q / k / v split's backward (split_qkv.cu), raw pointers in: the gradients of q, k
// and v, each [B, H, N, D] with any strides (in elements; null = zero), gathered into the gradient
// of the projection, [B, N, 3, H, D] contiguous, in one pass. The autograd function around it is
// split_qkv.cpp; users call FastOps::split_qkv (fast_ops.h).
//
//   using namespace pesuite::vision::fused;
//   QkvGrads g{{dq, dk, dv}, {{sb, sh, sn, sd}, ...}};
//   gather_qkv_grad(Dtype::bf16, g, dqkv, B, H, N, D, stream);
#include <cstdint>

#include "dtype.h"

namespace pesuite::vision::fused {

struct QkvGrads {
  const void* ptr[3] = {nullptr, nullptr, nullptr};  // q, k, v gradients; null: zero
  std::int64_t stride[3][4] = {};                      // (b, h, n, d) strides of each, in elements
};

bool gather_qkv_grad(Dtype type, const QkvGrads& grads, void* dqkv, std::int64_t B, std::int64_t H, std::int64_t N,
                     std::int64_t D, void* stream);

}  // namespace pesuite::vision::fused
