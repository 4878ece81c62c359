// Optimiser steps without per-parameter kernel storms on the GPU.
//
// FusedAdamW is a torch::optim::AdamW (same options, same per-parameter state: exp_avg,
// exp_avg_sq, step count, so checkpoints and every caller of the base class keep working) whose
// step() runs ATen's fused multi-tensor AdamW kernel when every parameter is a float32 CUDA tensor
// (LibTorch >= 2.1): one launch per group instead of about ten per parameter. Elsewhere (CPU,
// LibTorch 1.13, amsgrad, a closure) it is the base class's step, bit for bit.
// clip_grad_norm is torch::nn::utils::clip_grad_norm_ without the host synchronisation and with
// two multi-tensor kernels on CUDA.
//
//   pesuite::core::FusedAdamW opt(model->parameters(), torch::optim::AdamWOptions(1e-3).weight_decay(0.05));
//   loss.backward();
//   pesuite::core::clip_grad_norm(model->parameters(), 1.0);
//   opt.step();
#pragma once

#include <torch/torch.h>

#include <stdexcept>
#include <unordered_map>
#include <vector>

#include "pesuite/core/torch_compat.h"

namespace pesuite::core {

class FusedAdamW : public torch::optim::AdamW {
 public:
  using torch::optim::AdamW::AdamW;

  // For steps replayed as a CUDA graph (cuda_graph.h): a captured step would keep the learning rate
  // of the capture, so with set_graph_safe(true) the fused kernel reads it from one device tensor per
  // group, which stage_lr() fills from the options outside the graph (call it before every step);
  // replays advance the step counts on the device only, so replayed() advances the host counts (the
  // ones checkpoints save) for the parameters the last step updated. No-ops where the step is not
  // the fused kernel.
  void set_graph_safe(bool on) { graph_safe_ = on; }
  // Whether step() runs the fused kernel for these parameters (float32 CUDA, no amsgrad, LibTorch
  // >= 2.1); only such steps can be captured.
  bool uses_fused_kernel() const {
#if PESUITE_FUSED_ADAMW_CUDA
    return fusable();
#else
    return false;
#endif
  }
  void stage_lr() {
#if PESUITE_FUSED_ADAMW_CUDA
    if (!graph_safe_ || !fusable()) return;
    lr_tensors_.resize(param_groups().size());
    for (std::size_t g = 0; g < param_groups().size(); ++g) {
      const auto lr = static_cast<const torch::optim::AdamWOptions&>(param_groups()[g].options()).lr();
      auto& t = lr_tensors_[g];
      if (!t.defined()) t = torch::empty({}, param_groups()[g].params().front().options());
      t.fill_(lr);
    }
#endif
  }
  void replayed() {
#if PESUITE_FUSED_ADAMW_CUDA
    for (const auto& p : last_stepped_) {
      auto& s = static_cast<torch::optim::AdamWParamState&>(*state_.at(optimizer_state_key(p)));
      s.step(s.step() + 1);
      ++device_steps_[p.unsafeGetTensorImpl()].first;
    }
#endif
  }

  torch::Tensor step(LossClosure closure = nullptr) override {
#if PESUITE_FUSED_ADAMW_CUDA
    if (closure == nullptr && fusable()) {
      fused_step();
      return {};
    }
#endif
    return torch::optim::AdamW::step(closure);
  }

 private:
#if PESUITE_FUSED_ADAMW_CUDA
  bool fusable() const {
    bool any = false;
    for (const auto& group : param_groups()) {
      if (static_cast<const torch::optim::AdamWOptions&>(group.options()).amsgrad()) return false;
      for (const auto& p : group.params()) {
        if (!p.is_cuda() || p.scalar_type() != torch::kFloat32) return false;
        any = true;
      }
    }
    return any;
  }

  void fused_step() {
    torch::NoGradGuard no_grad;
    last_stepped_.clear();
    for (std::size_t gi = 0; gi < param_groups().size(); ++gi) {
      auto& group = param_groups()[gi];
      const auto& o = static_cast<const torch::optim::AdamWOptions&>(group.options());
      std::vector<torch::Tensor> params, grads, avgs, sqs, steps;
      for (const auto& p : group.params()) {
        if (!p.grad().defined()) continue;  // no gradient this step: left alone, as the base class
        auto key = optimizer_state_key(p);
        auto it = state_.find(key);
        if (it == state_.end()) {
          auto s = std::make_unique<torch::optim::AdamWParamState>();
          s->step(0);
          s->exp_avg(torch::zeros_like(p, torch::MemoryFormat::Preserve));
          s->exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
          it = state_.emplace(key, std::move(s)).first;
        }
        auto& s = static_cast<torch::optim::AdamWParamState&>(*it->second);
        params.push_back(p);
        grads.push_back(p.grad());
        avgs.push_back(s.exp_avg());
        sqs.push_back(s.exp_avg_sq());
        steps.push_back(device_step(p, s.step()));
        s.step(s.step() + 1);  // the host count the checkpoint saves; the kernel reads the device copy
      }
      if (params.empty()) continue;
      at::_foreach_add_(steps, 1);
      if (graph_safe_) {
#if PESUITE_FUSED_ADAMW_TENSOR_LR
        if (gi >= lr_tensors_.size() || !lr_tensors_[gi].defined())
          throw std::logic_error("FusedAdamW: set_graph_safe(true) needs stage_lr() before step()");
        at::_fused_adamw_(params, grads, avgs, sqs, /*max_exp_avg_sqs=*/{}, steps, lr_tensors_[gi],
                          std::get<0>(o.betas()), std::get<1>(o.betas()), o.weight_decay(), o.eps(),
                          /*amsgrad=*/false, /*maximize=*/false);
#else
        throw std::logic_error("FusedAdamW: graph-safe steps need LibTorch >= 2.3 (a tensor learning rate)");
#endif
      } else {
        at::_fused_adamw_(params, grads, avgs, sqs, /*max_exp_avg_sqs=*/{}, steps, o.lr(), std::get<0>(o.betas()),
                          std::get<1>(o.betas()), o.weight_decay(), o.eps(), /*amsgrad=*/false, /*maximize=*/false);
      }
      for (const auto& p : params) ++device_steps_[p.unsafeGetTensorImpl()].first;
      last_stepped_.insert(last_stepped_.end(), params.begin(), params.end());
    }
  }

  // The fused kernel takes the step count as a device scalar; kept per parameter and rebuilt from
  // the host count when they disagree (a fresh optimiser, or state loaded from a checkpoint).
  torch::Tensor device_step(const torch::Tensor& p, std::int64_t count) {
    auto& [cached, t] = device_steps_[p.unsafeGetTensorImpl()];
    if (!t.defined() || cached != count) {
      t = torch::full({}, static_cast<double>(count), p.options());
      cached = count;
    }
    return t;
  }

  std::unordered_map<void*, std::pair<std::int64_t, torch::Tensor>> device_steps_;
  std::vector<torch::Tensor> lr_tensors_;    // per group, graph-safe mode
  std::vector<torch::Tensor> last_stepped_;  // the parameters of the last fused step
#endif
  bool graph_safe_ = false;
};

inline void clip_grad_norm(const std::vector<torch::Tensor>& params, double max_norm) {
#if PESUITE_TORCH2
  std::vector<torch::Tensor> grads;
  bool cuda = true;
  for (const auto& p : params)
    if (p.grad().defined()) {
      grads.push_back(p.grad());
      cuda = cuda && p.grad().is_cuda();
    }
  if (grads.empty()) return;
  if (cuda) {
    torch::NoGradGuard no_grad;
    auto norms = at::_foreach_norm(grads, 2);
    auto total = at::stack(norms).norm(2);
    auto coef = at::clamp_max((total + 1e-6).reciprocal() * max_norm, 1.0);
    at::_foreach_mul_(grads, coef);
    return;
  }
#endif
  torch::nn::utils::clip_grad_norm_(params, max_norm);
}

}  // namespace pesuite::core
