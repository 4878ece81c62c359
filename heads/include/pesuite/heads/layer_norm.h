#pragma once
// LayerNorm over the last dimension whose backward computes the weight and bias gradients as
// one batched matrix product (diag(dy^T x_hat) and dy^T 1) instead of ATen's gamma/beta reduction kernel,
// which on a GPU reduces a tall [rows, dim] matrix with little parallelism over `dim` (a ViT-Ti
// has 50k rows of 192 at batch 256: that kernel is 18 % of a training step on an H200, and
// PyTorch's plain column sums, tried first, are slower still).
// The input gradient is ATen's own kernel; the forward is ATen's layer_norm. Same values as
// torch::layer_norm up to float summation order.
//
// Taken for CUDA tensors that need gradients and have width <= 256, where it is faster (the
// float32 product grows with width squared; see layer_norm.cpp for the measurements); everything
// else, CPU included (so CPU runs stay bit-identical), is torch::nn::LayerNorm itself.
//
//   torch::nn::LayerNorm ln(torch::nn::LayerNormOptions({192}).eps(1e-6));
//   auto y = pesuite::heads::layer_norm(ln, x);            // [.., 192]
#include <torch/torch.h>

namespace pesuite::heads {

// The product backward where it pays (CUDA input, grad mode on, affine, width <= 256); otherwise
// exactly ln->forward(x). `force_column_grads` takes the custom path on any device (tests).
torch::Tensor layer_norm(const torch::nn::LayerNorm& ln, const torch::Tensor& x, bool force_column_grads = false);

// The custom path itself, for a normalized shape of the last dimension only.
torch::Tensor layer_norm_column_grads(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                                      double eps);

}  // namespace pesuite::heads
