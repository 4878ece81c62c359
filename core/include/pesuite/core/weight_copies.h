#pragma once
// Low-precision copies of Linear weights and biases, refreshed once per optimiser step, so that a
// forward under bf16 autocast reads them directly instead of casting every fp32 master weight in
// every forward (autocast's cast cache lives for one autocast scope only). Autograd still delivers
// the fp32 master gradients: a copy enters the graph through a function whose backward is the
// incoming gradient cast to the master's dtype (what the autocast cast's backward is too).
//
// Only core::linear (torch_compat.h) reads them, and only while a Scope is alive on this thread;
// the caller opens a Scope only where autocast to the copies' dtype is on (fp32 forwards must not
// see bf16 weights).
//
//   pesuite::core::WeightCopies copies(linear_weights_and_biases, torch::kBFloat16);
//   {
//     pesuite::core::AutocastGuard amp(device, torch::kBFloat16);
//     pesuite::core::WeightCopies::Scope use(copies);
//     loss = loss_of(model(x));          // every core::linear reads the bf16 copies
//   }
//   loss.backward();                      // fp32 gradients on the master weights
//   opt.step();
//   copies.refresh();                     // once per step (inside a captured CUDA graph too)
#include <ATen/core/Tensor.h>

#include <unordered_map>
#include <vector>

namespace pesuite::core {

class WeightCopies {
 public:
  WeightCopies() = default;
  // Copies of these tensors (float32 masters; others are left out) in `dtype`, filled now.
  WeightCopies(const std::vector<at::Tensor>& masters, at::ScalarType dtype);
  WeightCopies(const WeightCopies&) = delete;
  WeightCopies& operator=(const WeightCopies&) = delete;

  void refresh();  // copies <- masters, without autograd; call after every optimiser step
  // The copy of `master` as a differentiable stand-in for it (backward: gradient in the master's
  // dtype, to the master); an undefined tensor when `master` has no copy.
  at::Tensor get(const at::Tensor& master) const;
  std::size_t size() const { return masters_.size(); }
  at::ScalarType dtype() const { return dtype_; }

  // While alive, core::linear on this thread reads these copies (nesting restores the outer one).
  class Scope {
   public:
    explicit Scope(const WeightCopies& copies);
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    const WeightCopies* previous_;
  };
  static const WeightCopies* active();

 private:
  std::vector<at::Tensor> masters_, copies_;
  std::unordered_map<const void*, std::size_t> index_;  // master TensorImpl -> position
  at::ScalarType dtype_ = at::kBFloat16;
};

}  // namespace pesuite::core
