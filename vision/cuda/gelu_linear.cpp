// FastOps::gelu_linear (fast_ops.h): a ViT MLP's second half, y = gelu(h + b1) W2^T + b2, that keeps
// only h for its backward and recomputes gelu(h + b1) there. bias_gelu followed by linear keeps
// both h and the GELU output (each [tokens, 4 C]); this keeps one. The backward's GELU-gradient
// pass, which reads h anyway, writes the GELU values too: one more [tokens, 4 C] write per block
// (train.recompute_gelu, docs/gpu-fast-path.md).
#include <torch/torch.h>

#include <c10/cuda/CUDAGuard.h>

#include "glue.h"
#include "shared_parts.h"

namespace pesuite::vision::fused {
namespace {

// h prepared (contiguous, bias float32); w2 and b2 in h's dtype.
struct GeluLinearFunction : public torch::autograd::Function<GeluLinearFunction> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& h_in, const at::Tensor& b1_in,
                            const at::Tensor& w2, const at::Tensor& b2) {
    c10::cuda::CUDAGuard on_device(h_in.device());
    auto [h, b1] = bias_gelu_prepared(h_in, b1_in);
    ctx->save_for_backward({h, b1, w2});
    ctx->saved_data["b1_dtype"] = static_cast<std::int64_t>(b1_in.scalar_type());
    ctx->saved_data["b2_dtype"] = static_cast<std::int64_t>(b2.scalar_type());
    return at::linear(bias_gelu_values(h, b1), w2, b2);  // the GELU output is freed here
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& h = saved[0];
    const auto& b1 = saved[1];
    const auto& w2 = saved[2];
    const auto& g = grads[0];
    if (!g.defined()) return {at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
    c10::cuda::CUDAGuard on_device(g.device());
    const auto out = w2.size(0), hid = w2.size(1);
    const auto g2 = g.to(w2.scalar_type()).reshape({-1, out}).contiguous();
    at::Tensor dh, db1, dw2, db2, hidden;
    if (ctx->needs_input_grad(0) || ctx->needs_input_grad(1)) {
      // One pass over h gives the GELU's input gradient (over the GELU output's gradient, which
      // nothing else holds) and, for fc2's weight gradient, its values.
      auto [gh, gb] = bias_gelu_grads(h, b1, at::mm(g2, w2).view(h.sizes()), ctx->needs_input_grad(2) ? &hidden : nullptr,
                                      /*overwrite_grad_out=*/true);
      dh = gh;
      db1 = gb.to(static_cast<at::ScalarType>(ctx->saved_data["b1_dtype"].toInt()));
    } else if (ctx->needs_input_grad(2)) {
      hidden = bias_gelu_values(h, b1);
    }
    if (ctx->needs_input_grad(2)) dw2 = at::mm(g2.t(), hidden.view({-1, hid}));
    if (ctx->needs_input_grad(3)) db2 = bias_grad(g2, static_cast<at::ScalarType>(ctx->saved_data["b2_dtype"].toInt()));
    return {dh, db1, dw2, db2};
  }
};

}  // namespace

at::Tensor gelu_linear(const at::Tensor& h, const at::Tensor& b1, const at::Tensor& w2_in, const at::Tensor& b2_in) {
  check_cuda(h, "gelu_linear: h");
  check_cuda(w2_in, "gelu_linear: fc2 weight");
  check_cuda(b2_in, "gelu_linear: fc2 bias");
  TORCH_CHECK(w2_in.dim() == 2 && h.dim() >= 1 && h.size(-1) == w2_in.size(1), "gelu_linear: h ", h.sizes(), " and fc2 weight ",
              w2_in.sizes(), " do not multiply");
  TORCH_CHECK(b2_in.numel() == w2_in.size(0), "gelu_linear: fc2 bias has ", b2_in.numel(), " elements, the weight ", w2_in.size(0),
              " rows");
  // fc2 in h's dtype (under autocast h is already autocast's dtype; the casts are autograd's).
  const auto w2 = w2_in.to(h.scalar_type()), b2 = b2_in.to(h.scalar_type());
  const bool grad = torch::GradMode::is_enabled() && (h.requires_grad() || b1.requires_grad() || w2.requires_grad() || b2.requires_grad());
  if (grad) return GeluLinearFunction::apply(h, b1, w2, b2);
  c10::cuda::CUDAGuard on_device(h.device());
  auto [hc, b1c] = bias_gelu_prepared(h, b1);
  return at::linear(bias_gelu_values(hc, b1c), w2, b2);
}

}  // namespace pesuite::vision::fused
