#pragma once
// Launchers of CPVT's PEG on the token layout (peg.cu), raw pointers in: tokens [B, N, C]
// contiguous, N = prefix + H * W (prefix tokens first, then the patch grid row by row), a K x K
// depthwise convolution with zero padding (K odd: 3, 5 or 7) over the grid plus the residual, the
// prefix tokens passed through. No transposes, no NCHW copy, no cat: the plain PEG (heads/
// absolute_pe.cpp) spends 6 kernels forward and more backward on those. The autograd function
// around them is peg.cpp; users call FastOps::add_peg (fast_ops.h).
//
//   using namespace pesuite::vision::fused;
//   // s = x + y (x: f32, y: bf16); out = s + dwconv3x3(s) + bias on the grid, s on the prefix
//   peg_forward(Dtype::f32, Dtype::bf16, x, y, w, bias, s, out, B, 1, 14, 14, 384, 3, stream);
#include <cstdint>

#include "dtype.h"

namespace pesuite::vision::fused {

// s = x + y (y may be null: s = x), out = s + conv(s) + bias on the grid tokens and out = s on the
// prefix tokens, both in x's type. w: float32 [C, K, K]; bias: float32 [C] or null. `s` (x's type,
// may be null) receives the sum, which the backward needs as the convolution's input. Returns
// false for a dtype or K it does not know.
bool peg_forward(Dtype x_type, Dtype y_type, const void* x, const void* y, const float* w, const float* bias, void* s,
                 void* out, std::int64_t B, std::int64_t prefix, std::int64_t H, std::int64_t W, std::int64_t C, int K,
                 void* stream);

// Row groups of the backward's weight-gradient partial sums (the caller sizes `parts` with it).
std::int64_t peg_weight_chunks(std::int64_t B, std::int64_t H);

// The backward, g the output's gradient and s the forward's sum (both x's type):
//   ds = g + conv_transposed(g) on the grid, ds = g on the prefix; written to grad_x (x's type)
//   and, when not null, grad_y (y's type);
//   parts: float32 [peg_weight_chunks(B, H), K * K + 1, C], the partial sums of the weight
//   gradient (tap by tap) and of the bias gradient (last row); the caller sums over the chunks.
bool peg_backward(Dtype x_type, Dtype y_type, const void* g, const void* s, const float* w, void* grad_x, void* grad_y,
                  float* parts, std::int64_t B, std::int64_t prefix, std::int64_t H, std::int64_t W, std::int64_t C, int K,
                  void* stream);

}  // namespace pesuite::vision::fused
