#pragma once
// Hooks through which core::linear and the attention's q / k / v split (heads/attention.cpp) reach
// fused GPU ops that live in a library core does not link (the ViT fast path's CUDA kernels,
// vision/cuda/). While a FusedHooks::Scope is alive on this thread, every core::linear calls
// `linear` (with the bf16 weight copies when a WeightCopies::Scope is open too) and the attention
// calls `split_qkv`; an unset hook keeps the LibTorch composition. A hook computes exactly what it
// replaces; only its kernels (and so its speed and rounding) differ.
//
//   pesuite::core::FusedHooks hooks;
//   hooks.linear = &my_linear;                 // y = x W^T + b, differentiable
//   {
//     pesuite::core::FusedHooks::Scope use(hooks);
//     y = pesuite::core::linear(layer, x);     // my_linear(x, layer->weight, layer->bias)
//   }
#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>

namespace pesuite::core {

struct FusedHooks {
  // y = x W^T + b as at::linear (b may be undefined); differentiable in x, w and b.
  at::Tensor (*linear)(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) = nullptr;
  // qkv [B, N, 3 * heads * hd] -> {q, k, v}, each [B, heads, N, hd], with the values of
  // qkv.view({B, N, 3, heads, hd}).permute({2, 0, 3, 1, 4}).unbind(0) (timm's split); differentiable.
  std::array<at::Tensor, 3> (*split_qkv)(const at::Tensor& qkv, std::int64_t heads) = nullptr;

  // While alive, this thread's core::linear and attention use these hooks (nesting restores the
  // outer ones).
  class Scope {
   public:
    explicit Scope(const FusedHooks& hooks);
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    const FusedHooks* previous_;
  };
  // The hooks of the innermost live Scope on this thread, or nullptr.
  static const FusedHooks* active();
};

}  // namespace pesuite::core
