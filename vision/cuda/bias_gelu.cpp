// FastOps::bias_gelu (fast_ops.h): the autograd function around the bias + exact GELU kernels
// (bias_gelu.cu).
#include <torch/torch.h>

#include <c10/cuda/CUDAGuard.h>

#include "bias_gelu_kernels.h"
#include "glue.h"
#include "shared_parts.h"

namespace pesuite::vision::fused {

// h contiguous, b float32 contiguous [cols] (bias_gelu_prepared).
at::Tensor bias_gelu_values(const at::Tensor& h, const at::Tensor& b, bool in_place) {
  auto out = in_place ? h : at::empty_like(h);
  const auto cols = h.size(-1), rows = h.numel() / cols;
  const bool ok = bias_gelu_forward(kernel_dtype(h.scalar_type()), h.data_ptr(), b.data_ptr<float>(), out.data_ptr(), rows, cols,
                                    current_stream(h));
  TORCH_CHECK(ok, "bias_gelu: unsupported dtype");
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

std::pair<at::Tensor, at::Tensor> bias_gelu_grads(const at::Tensor& h, const at::Tensor& b, const at::Tensor& grad_out,
                                                  at::Tensor* values, bool overwrite_grad_out) {
  const auto g = grad_out.to(h.scalar_type()).contiguous();
  const auto cols = h.size(-1), rows = h.numel() / cols;
  // Each element of g is read once, by the thread that then writes its dh (column_pass.cuh).
  auto grad_h = overwrite_grad_out && g.is_same(grad_out) && g.sizes() == h.sizes() ? g : at::empty_like(h);
  if (values != nullptr) *values = at::empty_like(h);
  auto part = at::empty({bias_gelu_chunks(rows), cols}, h.options().dtype(at::kFloat));
  const bool ok = bias_gelu_backward(kernel_dtype(h.scalar_type()), h.data_ptr(), b.data_ptr<float>(), g.data_ptr(),
                                     grad_h.data_ptr(), part.data_ptr<float>(), rows, cols, current_stream(h),
                                     values != nullptr ? values->data_ptr() : nullptr);
  TORCH_CHECK(ok, "bias_gelu backward: unsupported dtype");
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return {grad_h, part.sum(0)};
}

std::pair<at::Tensor, at::Tensor> bias_gelu_prepared(const at::Tensor& h, const at::Tensor& bias) {
  check_cuda(h, "bias_gelu: h");
  check_cuda(bias, "bias_gelu: bias");
  TORCH_CHECK(h.dim() >= 1 && h.size(-1) > 0, "bias_gelu: h needs a non-empty last dimension");
  TORCH_CHECK(bias.numel() == h.size(-1), "bias_gelu: bias has ", bias.numel(), " elements, h's rows ", h.size(-1));
  return {h.contiguous(), bias.to(at::kFloat).contiguous()};
}

namespace {

struct BiasGeluFunction : public torch::autograd::Function<BiasGeluFunction> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& h_in, const at::Tensor& bias) {
    c10::cuda::CUDAGuard on_device(h_in.device());
    auto [h, b] = bias_gelu_prepared(h_in, bias);
    ctx->save_for_backward({h, b});
    ctx->saved_data["bias_dtype"] = static_cast<std::int64_t>(bias.scalar_type());
    return bias_gelu_values(h, b);
  }

  // grads by reference: the engine's gradient buffer, which dh may take over (glue.h, sole_handle).
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::tensor_list& grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& h = saved[0];
    const auto& b = saved[1];
    c10::cuda::CUDAGuard on_device(h.device());
    if (!grads[0].defined()) return {at::Tensor(), at::Tensor()};
    auto [grad_h, grad_b] = bias_gelu_grads(h, b, grads[0], nullptr, sole_handle(grads[0]));
    return {grad_h, grad_b.to(static_cast<at::ScalarType>(ctx->saved_data["bias_dtype"].toInt()))};
  }
};

}  // namespace

at::Tensor bias_gelu(const at::Tensor& h, const at::Tensor& bias) {
  if (torch::GradMode::is_enabled() && (h.requires_grad() || bias.requires_grad())) return BiasGeluFunction::apply(h, bias);
  c10::cuda::CUDAGuard on_device(h.device());
  auto [hc, b] = bias_gelu_prepared(h, bias);
  return bias_gelu_values(hc, b);
}

at::Tensor& bias_gelu_(at::Tensor& h, const at::Tensor& bias) {
  TORCH_CHECK(!(torch::GradMode::is_enabled() && (h.requires_grad() || bias.requires_grad())),
              "bias_gelu_: in place is for tensors that need no gradient (use bias_gelu)");
  TORCH_CHECK(h.is_contiguous(), "bias_gelu_: h must be contiguous to be written in place");
  c10::cuda::CUDAGuard on_device(h.device());
  auto [hc, b] = bias_gelu_prepared(h, bias);
  bias_gelu_values(hc, b, /*in_place=*/true);
  return h;
}

}  // namespace pesuite::vision::fused
