#pragma once
// Launchers of the residual-add + LayerNorm kernels (add_layer_norm.cu), raw pointers in: rows of
// `cols` contiguous elements, LayerNorm over each row, statistics in float32. The autograd
// function around them is add_layer_norm.cpp; users call FastOps::add_layer_norm (fast_ops.h).
//
//   using namespace pesuite::vision::fused;
//   // s = x + y (x: f32, y: bf16), out = (s - mean) * rstd * w + b written as bf16
//   add_layer_norm_forward(Dtype::f32, Dtype::bf16, Dtype::bf16, x, y, w, b, s, out, mean, rstd,
//                          rows, cols, 1e-6f, stream);
#include <cstdint>

#include "dtype.h"

namespace pesuite::vision::fused {

// s = x + y (stored in x's type; y may be null: then s is x and `s` may be null), out = LayerNorm(s)
// in out_type with the per-row mean and 1/std (float32, `rows` each). w, b: float32 [cols] or null
// (1 and 0). Returns false for a dtype it does not know.
bool add_layer_norm_forward(Dtype x_type, Dtype y_type, Dtype out_type, const void* x, const void* y, const float* w,
                            const float* b, void* s, void* out, float* mean, float* rstd, std::int64_t rows,
                            std::int64_t cols, float eps, void* stream);

// The backward. Input gradient: ds = grad_s + rstd * (g - mean(g) - xhat * mean(g * xhat)),
// g = grad_out * w, xhat from s (the forward's sum, or x) and the saved statistics; written to
// grad_x (x's type) and, when not null, grad_y (y's type). grad_s may be null (zero).
// Weight gradients, when part_w is not null: partial column sums of grad_out * xhat (part_w) and
// grad_out (part_b), float32 [add_layer_norm_weight_chunks(rows), cols] each; the caller sums over
// the chunks. Returns false for a dtype it does not know.
std::int64_t add_layer_norm_weight_chunks(std::int64_t rows);
bool add_layer_norm_backward(Dtype x_type, Dtype y_type, Dtype out_type, const void* s, const void* grad_out,
                             const void* grad_s, const float* w, const float* mean, const float* rstd, void* grad_x,
                             void* grad_y, float* part_w, float* part_b, std::int64_t rows, std::int64_t cols, void* stream);

}  // namespace pesuite::vision::fused
