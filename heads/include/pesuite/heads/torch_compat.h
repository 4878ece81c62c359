#pragma once
// The one place where LibTorch 1.13 (Debian, CPU) and LibTorch 2.x (pip, CUDA) differ for pesuite.
// Everything else calls these.
//
//   auto out = pesuite::compat::sdpa(q, k, v, bias, /*dropout=*/0.0, /*causal=*/false);
//   { pesuite::compat::AutocastGuard amp(device, torch::kBFloat16); loss = model->forward(x); }
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

namespace pesuite::compat {

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
inline torch::Tensor linear(const torch::nn::Linear& layer, const torch::Tensor& x) {
  return at::linear(x, layer->weight, layer->bias);
}

// Restricts which fused attention kernels compat::sdpa may pick for a scope (benchmarks: is the
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

}  // namespace pesuite::compat

namespace pesuite::compat {

// The key under which torch::optim::Optimizer::state() holds a parameter's state: the
// TensorImpl pointer itself on 2.x, its printed form on 1.13.
#if PESUITE_TORCH2
inline void* optimizer_state_key(const torch::Tensor& param) { return param.unsafeGetTensorImpl(); }
#else
inline std::string optimizer_state_key(const torch::Tensor& param) {
  return c10::guts::to_string(param.unsafeGetTensorImpl());
}
#endif

}  // namespace pesuite::compat

namespace pesuite::compat {

// ATen's fused multi-tensor AdamW (what torch.optim.AdamW(fused=True) calls): CUDA since 2.1,
// CPU since 2.4.
#if PESUITE_TORCH2 && (TORCH_VERSION_MAJOR > 2 || TORCH_VERSION_MINOR >= 1)
#define PESUITE_FUSED_ADAMW_CUDA 1
#else
#define PESUITE_FUSED_ADAMW_CUDA 0
#endif
#if PESUITE_TORCH2 && (TORCH_VERSION_MAJOR > 2 || TORCH_VERSION_MINOR >= 4)
#define PESUITE_FUSED_ADAMW_CPU 1
#else
#define PESUITE_FUSED_ADAMW_CPU 0
#endif

// AdamW (decoupled weight decay, no amsgrad) over groups of parameters with their own weight decay.
// Where ATen has the fused kernel for the parameters' device, one launch per group and step
// instead of about ten per parameter (LibTorch's torch::optim::AdamW loops over parameters, which
// on a GPU costs more than a small ViT's forward); elsewhere (1.13, CPU before 2.4)
// torch::optim::AdamW with the same groups. Same update either way.
//
//   compat::FastAdamW opt({{model->decay_parameters(), 0.05}, {model->no_decay_parameters(), 0.0}}, 5e-4);
//   opt.zero_grad(); loss.backward(); opt.step();
class FastAdamW {
 public:
  struct Group {
    std::vector<torch::Tensor> params;
    double weight_decay = 0.0;
  };
  FastAdamW(std::vector<Group> groups, double lr, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8,
            bool allow_fused = true)
      : groups_(std::move(groups)), lr_(lr), beta1_(beta1), beta2_(beta2), eps_(eps) {
    bool cuda = true, cpu = true, any = false;
    for (const auto& g : groups_)
      for (const auto& p : g.params) {
        any = true;
        cuda = cuda && p.is_cuda() && p.scalar_type() == torch::kFloat32;
        cpu = cpu && p.is_cpu() && p.scalar_type() == torch::kFloat32;
      }
    fused_ = allow_fused && any && ((PESUITE_FUSED_ADAMW_CUDA && cuda) || (PESUITE_FUSED_ADAMW_CPU && cpu));
    if (fused_) {
      for (auto& g : groups_) {
        State st;
        for (const auto& p : g.params) {
          st.exp_avg.push_back(torch::zeros_like(p, torch::MemoryFormat::Preserve));
          st.exp_avg_sq.push_back(torch::zeros_like(p, torch::MemoryFormat::Preserve));
          st.step.push_back(torch::zeros({}, p.options().dtype(torch::kFloat32)));
        }
        state_.push_back(std::move(st));
      }
    } else {
      std::vector<torch::optim::OptimizerParamGroup> pg;
      for (const auto& g : groups_)
        pg.emplace_back(g.params, std::make_unique<torch::optim::AdamWOptions>(options(g.weight_decay)));
      plain_ = std::make_unique<torch::optim::AdamW>(std::move(pg), options(0.0));
    }
  }

  // Gradients to none (as PyTorch's default): the next backward allocates them, no fill kernel.
  void zero_grad() {
    for (auto& g : groups_)
      for (auto& p : g.params) p.mutable_grad() = torch::Tensor();
  }

  void step() {
    if (!fused_) {
      plain_->step();
      return;
    }
#if PESUITE_FUSED_ADAMW_CUDA
    torch::NoGradGuard no_grad;
    for (size_t gi = 0; gi < groups_.size(); ++gi) {
      auto& g = groups_[gi];
      auto& st = state_[gi];
      std::vector<torch::Tensor> p, gr, m, v, t;
      for (size_t i = 0; i < g.params.size(); ++i) {
        if (!g.params[i].grad().defined()) continue;  // no gradient this step: left alone
        p.push_back(g.params[i]), gr.push_back(g.params[i].grad()), m.push_back(st.exp_avg[i]);
        v.push_back(st.exp_avg_sq[i]), t.push_back(st.step[i]);
      }
      if (p.empty()) continue;
      at::_foreach_add_(t, 1);
      at::_fused_adamw_(p, gr, m, v, /*max_exp_avg_sqs=*/{}, t, lr_, beta1_, beta2_, g.weight_decay, eps_,
                        /*amsgrad=*/false, /*maximize=*/false);
    }
#endif
  }

  void set_lr(double lr) {
    lr_ = lr;
    if (plain_)
      for (auto& g : plain_->param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
  }
  double lr() const { return lr_; }
  bool fused() const { return fused_; }

 private:
  torch::optim::AdamWOptions options(double weight_decay) const {
    return torch::optim::AdamWOptions(lr_).betas({beta1_, beta2_}).eps(eps_).weight_decay(weight_decay);
  }
  struct State {
    std::vector<torch::Tensor> exp_avg, exp_avg_sq, step;
  };
  std::vector<Group> groups_;
  std::vector<State> state_;
  std::unique_ptr<torch::optim::AdamW> plain_;
  double lr_, beta1_, beta2_, eps_;
  bool fused_ = false;
};

}  // namespace pesuite::compat
