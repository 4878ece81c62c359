#pragma once
// The ViT's fused CUDA kernels (vision/cuda/), reached through a table of functions that the CUDA
// library fills when it is loaded. The library is built only where CMake finds a CUDA compiler
// (libpesuite_vision_cuda.so beside libpesuite_vision.so) and loaded on first use, so nothing else
// links it: a CPU build, or a CUDA build whose kernels failed to compile, runs the unfused ops.
//
//   if (const auto* ops = pesuite::vision::fast_ops()) {
//     auto [sum, normed] = ops->add_layer_norm(x, branch, ln->weight, ln->bias, 1e-6, at::kBFloat16);
//     auto hidden = ops->bias_gelu(at::linear(normed, fc1->weight), fc1->bias);  // exact (erf) GELU
//   } else {
//     std::cerr << pesuite::vision::fast_ops_status() << "\n";  // why not
//   }
#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>
#include <string>
#include <utility>

namespace pesuite::vision {

struct FastOps {
  // (s, layer_norm(s)) with s = x + y (y may be undefined: s = x). Statistics in float32; s in x's
  // dtype, the normed output in `out_dtype` (at::ScalarType::Undefined: x's). Differentiable in
  // x, y, weight, bias (both defined, [x.size(-1)]). CUDA tensors, last dimension normalised.
  std::pair<at::Tensor, at::Tensor> (*add_layer_norm)(const at::Tensor& x, const at::Tensor& y, const at::Tensor& weight,
                                                     const at::Tensor& bias, double eps, at::ScalarType out_dtype) = nullptr;
  // gelu(h + bias) with the exact (erf) GELU, in h's dtype; bias [h.size(-1)] of any float dtype.
  // Differentiable in h and bias.
  at::Tensor (*bias_gelu)(const at::Tensor& h, const at::Tensor& bias) = nullptr;
  // The same written into h (contiguous), for tensors that need no gradient (inference: one
  // [tokens, 4 C] buffer fewer at the MLP, the peak of a ViT forward). Returns h.
  at::Tensor& (*bias_gelu_)(at::Tensor& h, const at::Tensor& bias) = nullptr;
  // y = gelu(h + b1) W2^T + b2 (a ViT MLP after fc1 without its bias), keeping only h for the
  // backward, which recomputes the GELU: one [tokens, hidden] activation fewer per block for one
  // more elementwise pass (ViTImpl::set_recompute_gelu). W2, b2 are cast to h's dtype;
  // differentiable in all four.
  at::Tensor (*gelu_linear)(const at::Tensor& h, const at::Tensor& b1, const at::Tensor& w2, const at::Tensor& b2) = nullptr;
  // y = x W^T + b as at::linear (b may be undefined), with a backward that sums the bias gradient
  // in a vectorised column pass (LibTorch's reduction over the rows is 4x slower than memory speed
  // on an H100). Under CUDA autocast x, W and b are cast to its dtype first. core::FusedHooks::linear.
  at::Tensor (*linear)(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) = nullptr;
  // qkv [B, N, 3 H hd] -> q, k, v [B, H, N, hd] as views (timm's view / permute / unbind), with a
  // backward that writes the [B, N, 3 H hd] gradient in one pass (instead of a stack and a copy).
  // core::FusedHooks::split_qkv.
  std::array<at::Tensor, 3> (*split_qkv)(const at::Tensor& qkv, std::int64_t heads) = nullptr;
  // CPVT's PEG (heads::PEG with padding) on x + y without leaving the token layout: tokens
  // [B, prefix + height * width, C], s = x + y (y may be undefined), out = s + dwconv_KxK(s) + bias
  // over the grid (zero padding; weight [C, 1, K, K] with K 3, 5 or 7; bias may be undefined), the
  // prefix tokens passed through; in x's dtype, arithmetic in float32. Differentiable in x, y,
  // weight and bias.
  at::Tensor (*add_peg)(const at::Tensor& x, const at::Tensor& y, const at::Tensor& weight, const at::Tensor& bias,
                        std::int64_t prefix, std::int64_t height, std::int64_t width) = nullptr;
};

// The kernels, loading the CUDA library on the first call; nullptr when it is not there.
const FastOps* fast_ops();
// "loaded <path>" or why fast_ops() is null (not built, dlopen's error).
std::string fast_ops_status();
// Called by the CUDA library when it is loaded.
void register_fast_ops(const FastOps& ops);

}  // namespace pesuite::vision
