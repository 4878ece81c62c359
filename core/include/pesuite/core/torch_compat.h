#pragma once
// The one place where LibTorch 1.13 (Debian, CPU) and LibTorch 2.x (pip, CUDA) differ for pesuite.
// Everything else calls these.
//
//   auto out = pesuite::core::sdpa(q, k, v, bias, /*dropout=*/0.0, /*causal=*/false);
//   { pesuite::core::AutocastGuard amp(device, torch::kBFloat16); loss = model->forward(x); }
#include <torch/torch.h>
#include <torch/version.h>

#include <memory>
#include <optional>
#include <vector>

#if TORCH_VERSION_MAJOR >= 2
#define PESUITE_TORCH2 1
#include <ATen/autocast_mode.h>  // at::autocast is not pulled in by torch/torch.h on 2.x
#include <sstream>
#else
#define PESUITE_TORCH2 0
#endif

namespace pesuite::core {

inline constexpr bool kHasFusedAttention = PESUITE_TORCH2;

// softmax(q k^T / sqrt(d) + bias) v over the last two dims of [B, H, N, d] tensors. `bias` is an
// additive float mask broadcastable to [B, H, Nq, Nk] (use -inf to mask). Fused kernel on 2.x,
// the plain composition on 1.13 (same result within float rounding).
// For the flash / memory-efficient kernels on CUDA: pass no bias when there is none (any mask
// rules flash out), keep the last dim contiguous (the kernels take the other strides as they
// are, so timm's permuted qkv views need no copy), and let causal masking be the flag.
inline torch::Tensor sdpa(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                          const std::optional<torch::Tensor>& bias, double dropout, bool causal,
                          bool training) {
#if PESUITE_TORCH2
  return at::scaled_dot_product_attention(q, k, v, bias, training ? dropout : 0.0, causal);
#else
  // Scale q, not the scores: one pass over [B, H, N, d] instead of [B, H, N, N], forward and backward.
  auto scores = torch::matmul(q * (1.0 / std::sqrt(static_cast<double>(q.size(-1)))), k.transpose(-2, -1));
  if (bias) scores = scores + *bias;
  if (causal) {
    auto m = torch::ones({q.size(-2), k.size(-2)}, q.options().dtype(torch::kBool)).triu(1);
    scores = scores.masked_fill(m, -std::numeric_limits<float>::infinity());
  }
  auto p = torch::softmax(scores, -1);
  if (training && dropout > 0) p = torch::dropout(p, dropout, true);
  return torch::matmul(p, v);
#endif
}

// y = x W^T + b through at::linear, which is what Python's nn.Linear calls: the bias rides in the
// GEMM's epilogue for inputs of any rank. Calling a torch::nn::Linear module goes through LibTorch's
// F::linear instead, which for 3-D inputs runs matmul and then `out += bias` as a separate kernel
// (under bf16 autocast a mixed-dtype one: 14 % of a ViT-Ti training step on an H100).
// Under a core::WeightCopies::Scope (weight_copies.h) the layer's low-precision copies are read
// instead of its float32 parameters (the fast path's bf16 forwards); under a core::FusedHooks::Scope
// (fused_hooks.h) its `linear` hook computes the product (the fast path's CUDA kernels).
torch::Tensor routed_linear(const torch::nn::Linear& layer, const torch::Tensor& x);
bool linear_is_routed();
inline torch::Tensor linear(const torch::nn::Linear& layer, const torch::Tensor& x) {
  if (linear_is_routed()) return routed_linear(layer, x);
  return at::linear(x, layer->weight, layer->bias);
}

// Restricts which fused attention kernels core::sdpa may pick for a scope (benchmarks: is the
// flash / memory-efficient kernel or the math composition faster for this shape and dtype?).
// LibTorch 2.x only; a no-op on 1.13, which has no kernels to choose from.
class SdpaBackendGuard {
 public:
  SdpaBackendGuard(bool flash, bool mem_efficient, bool math) {
#if PESUITE_TORCH2
    auto& ctx = at::globalContext();
    prev_[0] = ctx.userEnabledFlashSDP(), prev_[1] = ctx.userEnabledMemEfficientSDP(), prev_[2] = ctx.userEnabledMathSDP();
    ctx.setSDPUseFlash(flash), ctx.setSDPUseMemEfficient(mem_efficient), ctx.setSDPUseMath(math);
#else
    (void)flash, (void)mem_efficient, (void)math;
#endif
  }
  ~SdpaBackendGuard() {
#if PESUITE_TORCH2
    auto& ctx = at::globalContext();
    ctx.setSDPUseFlash(prev_[0]), ctx.setSDPUseMemEfficient(prev_[1]), ctx.setSDPUseMath(prev_[2]);
#endif
  }
  SdpaBackendGuard(const SdpaBackendGuard&) = delete;
  SdpaBackendGuard& operator=(const SdpaBackendGuard&) = delete;

 private:
  bool prev_[3] = {true, true, true};
};

// Mixed precision for a scope (CUDA only; a no-op on CPU and on 1.13).
class AutocastGuard {
 public:
  AutocastGuard(const torch::Device& device, torch::Dtype dtype) {
#if PESUITE_TORCH2 && (TORCH_VERSION_MAJOR > 2 || TORCH_VERSION_MINOR >= 4)
    if (device.is_cuda()) {
      prev_ = at::autocast::is_autocast_enabled(at::kCUDA);
      at::autocast::set_autocast_dtype(at::kCUDA, dtype);
      at::autocast::set_autocast_enabled(at::kCUDA, true);
      active_ = true;
    }
#endif
  }
  ~AutocastGuard() {
#if PESUITE_TORCH2 && (TORCH_VERSION_MAJOR > 2 || TORCH_VERSION_MINOR >= 4)
    if (active_) {
      at::autocast::set_autocast_enabled(at::kCUDA, prev_);
      at::autocast::clear_cache();
    }
#endif
  }
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  bool prev_ = false;
  bool active_ = false;
};

}  // namespace pesuite::core

namespace pesuite::core {

// The key under which torch::optim::Optimizer::state() holds a parameter's state: the
// TensorImpl pointer itself on 2.x, its printed form on 1.13.
#if PESUITE_TORCH2
inline void* optimizer_state_key(const torch::Tensor& param) { return param.unsafeGetTensorImpl(); }
#else
inline std::string optimizer_state_key(const torch::Tensor& param) {
  return c10::guts::to_string(param.unsafeGetTensorImpl());
}
#endif

}  // namespace pesuite::core

namespace pesuite::core {

// ATen's fused multi-tensor AdamW (what torch.optim.AdamW(fused=True) calls) on CUDA, since 2.1;
// core::FusedAdamW (optim.h) uses it.
#if PESUITE_TORCH2 && (TORCH_VERSION_MAJOR > 2 || TORCH_VERSION_MINOR >= 1)
#define PESUITE_FUSED_ADAMW_CUDA 1
#else
#define PESUITE_FUSED_ADAMW_CUDA 0
#endif
// Its overload that reads the learning rate from a tensor (CUDA graphs, optim.h), since 2.3.
#if PESUITE_FUSED_ADAMW_CUDA && (TORCH_VERSION_MAJOR > 2 || TORCH_VERSION_MINOR >= 3)
#define PESUITE_FUSED_ADAMW_TENSOR_LR 1
#else
#define PESUITE_FUSED_ADAMW_TENSOR_LR 0
#endif

}  // namespace pesuite::core
