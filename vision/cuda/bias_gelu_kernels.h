#pragma once
// Launchers of the bias + exact GELU kernels (bias_gelu.cu), raw pointers in: h is rows of `cols`
// contiguous elements, bias float32 [cols]; GELU is the erf form, x * Phi(x) (never the tanh
// approximation). The autograd function around them is bias_gelu.cpp; users call
// FastOps::bias_gelu (fast_ops.h).
//
//   using namespace pesuite::vision::fused;
//   bias_gelu_forward(Dtype::bf16, h, bias, out, rows, cols, stream);       // out = gelu(h + bias)
//   bias_gelu_backward(Dtype::bf16, h, bias, grad_out, grad_h, part_bias, rows, cols, stream);
#include <cstdint>

#include "dtype.h"

namespace pesuite::vision::fused {

// out = gelu(h + bias[col]) in h's type (math in float32); out may be h (in place).
bool bias_gelu_forward(Dtype type, const void* h, const float* bias, void* out, std::int64_t rows, std::int64_t cols,
                       void* stream);

// grad_h = grad_out * gelu'(h + bias) in h's type (grad_out has h's type too), and the bias
// gradient's partial column sums, float32 [bias_gelu_chunks(rows), cols] (the caller sums them).
// gelu_out, when not null, also gets gelu(h + bias) (the forward's values, recomputed on the way).
std::int64_t bias_gelu_chunks(std::int64_t rows);
bool bias_gelu_backward(Dtype type, const void* h, const float* bias, const void* grad_out, void* grad_h,
                        float* part_bias, std::int64_t rows, std::int64_t cols, void* stream, void* gelu_out = nullptr);

}  // namespace pesuite::vision::fused
