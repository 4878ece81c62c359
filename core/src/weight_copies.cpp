// WeightCopies (weight_copies.h): low-precision copies of Linear weights for autocast forwards.
#include "pesuite/core/weight_copies.h"

#include <torch/torch.h>

namespace pesuite::core {
namespace {

thread_local const WeightCopies* active_copies = nullptr;

// Forward: the copy itself (a view, so the copy's own autograd metadata stays untouched);
// backward: the gradient in the master's dtype, to the master.
struct CopyOfMaster : public torch::autograd::Function<CopyOfMaster> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& master, const torch::Tensor& copy) {
    ctx->saved_data["dtype"] = static_cast<std::int64_t>(master.scalar_type());
    return copy.view_as(copy);
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::tensor_list grads) {
    const auto dtype = static_cast<at::ScalarType>(ctx->saved_data["dtype"].toInt());
    return {grads[0].defined() ? grads[0].to(dtype) : torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

WeightCopies::WeightCopies(const std::vector<at::Tensor>& masters, at::ScalarType dtype) : dtype_(dtype) {
  torch::NoGradGuard no_grad;
  for (const auto& m : masters) {
    if (!m.defined() || m.scalar_type() != at::kFloat || index_.count(m.unsafeGetTensorImpl())) continue;
    index_[m.unsafeGetTensorImpl()] = masters_.size();
    masters_.push_back(m);
    copies_.push_back(m.detach().to(dtype).contiguous());
  }
}

void WeightCopies::refresh() {
  torch::NoGradGuard no_grad;
  for (std::size_t i = 0; i < masters_.size(); ++i) copies_[i].copy_(masters_[i]);
}

at::Tensor WeightCopies::get(const at::Tensor& master) const {
  if (!master.defined()) return {};
  auto it = index_.find(master.unsafeGetTensorImpl());
  if (it == index_.end()) return {};
  const auto& copy = copies_[it->second];
  if (!master.requires_grad() || !torch::GradMode::is_enabled()) return copy;
  return CopyOfMaster::apply(master, copy);
}

WeightCopies::Scope::Scope(const WeightCopies& copies) : previous_(active_copies) { active_copies = &copies; }
WeightCopies::Scope::~Scope() { active_copies = previous_; }
const WeightCopies* WeightCopies::active() { return active_copies; }

}  // namespace pesuite::core

// core::linear's branch (torch_compat.h), here so that torch_compat.h needs no more includes.
#include "pesuite/core/fused_hooks.h"
#include "pesuite/core/torch_compat.h"

namespace pesuite::core {

bool linear_is_routed() { return active_copies != nullptr || FusedHooks::active() != nullptr; }

torch::Tensor routed_linear(const torch::nn::Linear& layer, const torch::Tensor& x) {
  torch::Tensor w = layer->weight, b = layer->bias;
  if (const auto* copies = active_copies) {
    if (auto wc = copies->get(layer->weight); wc.defined()) {
      w = wc;
      if (auto bc = copies->get(layer->bias); bc.defined()) b = bc;
    }
  }
  const auto* hooks = FusedHooks::active();
  if (hooks != nullptr && hooks->linear != nullptr) return hooks->linear(x, w, b);
  return at::linear(x, w, b);
}

}  // namespace pesuite::core
