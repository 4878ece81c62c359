#pragma once
// Pieces of the autograd functions that more than one of them uses (C++ side; the kernels are in
// the .cu files): bias + GELU's values and gradients (bias_gelu.cpp) and a Linear's bias gradient
// (linear.cpp), reused by the MLP function that recomputes its GELU (gelu_linear.cpp).
//
//   auto [h, b] = bias_gelu_prepared(h_in, bias);       // contiguous h, float32 bias
//   auto hidden = bias_gelu_values(h, b);                // gelu(h + b)
//   auto [dh, db] = bias_gelu_grads(h, b, dhidden);      // db: float32 column sums
//   at::Tensor hidden;
//   auto [dh2, db2] = bias_gelu_grads(h, b, dhidden, &hidden);  // and gelu(h + b) on the way
//   auto [dh3, db3] = bias_gelu_grads(h, b, dhidden, nullptr, sole_handle(dhidden));  // dh over dhidden
//   auto db_fc2 = bias_grad(g.reshape({-1, out}), at::kFloat);
#include <ATen/core/Tensor.h>

#include <utility>

namespace pesuite::vision::fused {

// h checked (CUDA, a non-empty last dimension matching the bias) and contiguous; the bias in float32.
std::pair<at::Tensor, at::Tensor> bias_gelu_prepared(const at::Tensor& h, const at::Tensor& bias);
// gelu(h + b) for prepared h, b: a new tensor, or written into h when in_place.
at::Tensor bias_gelu_values(const at::Tensor& h, const at::Tensor& b, bool in_place = false);
// (dh, db) from the output gradient: dh in h's dtype, db float32; with `values`, gelu(h + b) is
// written there too, from the same read of h. With overwrite_grad_out (the caller holds the only
// handle on grad_out), dh is written over grad_out when it is already in h's dtype and contiguous:
// one [tokens, 4 C] buffer less at the backward's peak.
std::pair<at::Tensor, at::Tensor> bias_gelu_grads(const at::Tensor& h, const at::Tensor& b, const at::Tensor& grad_out,
                                                  at::Tensor* values = nullptr, bool overwrite_grad_out = false);
// Column sums of g2 [rows, cols] (contiguous) in `dtype`: a Linear's bias gradient.
at::Tensor bias_grad(const at::Tensor& g2, at::ScalarType dtype);

}  // namespace pesuite::vision::fused
