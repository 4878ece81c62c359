// FastOps::add_layer_norm (fast_ops.h): the autograd function around the residual add + LayerNorm
// kernels (add_layer_norm.cu).
#include <torch/torch.h>

#include <c10/cuda/CUDAGuard.h>

#include "add_layer_norm_kernels.h"
#include "glue.h"

namespace pesuite::vision::fused {
namespace {

struct Forwarded {
  at::Tensor s, out, mean, rstd, w;
};

Forwarded run_forward(const at::Tensor& x_in, const at::Tensor& y_in, const at::Tensor& weight, const at::Tensor& bias,
                      double eps, at::ScalarType out_dtype) {
  check_cuda(x_in, "add_layer_norm: x");
  c10::cuda::CUDAGuard on_device(x_in.device());
  const auto x = x_in.contiguous();
  const auto cols = x.size(-1);
  TORCH_CHECK(cols > 0 && x.numel() % cols == 0, "add_layer_norm: x has an empty last dimension");
  const auto rows = x.numel() / cols;
  at::Tensor y;
  if (y_in.defined()) {
    check_cuda(y_in, "add_layer_norm: y");
    TORCH_CHECK(y_in.sizes() == x.sizes(), "add_layer_norm: y ", y_in.sizes(), " differs from x ", x.sizes());
    y = y_in.contiguous();
  }
  at::Tensor w, b;
  if (weight.defined()) {
    TORCH_CHECK(weight.numel() == cols, "add_layer_norm: weight has ", weight.numel(), " elements, x's rows ", cols);
    w = weight.to(at::kFloat).contiguous();
  }
  if (bias.defined()) {
    TORCH_CHECK(bias.numel() == cols, "add_layer_norm: bias has ", bias.numel(), " elements, x's rows ", cols);
    b = bias.to(at::kFloat).contiguous();
  }
  if (out_dtype == at::ScalarType::Undefined) out_dtype = x.scalar_type();
  Forwarded f;
  f.s = y.defined() ? at::empty_like(x) : x;
  f.out = at::empty(x.sizes(), x.options().dtype(out_dtype));
  f.mean = at::empty({rows}, x.options().dtype(at::kFloat));
  f.rstd = at::empty({rows}, x.options().dtype(at::kFloat));
  f.w = w;
  const bool ok = add_layer_norm_forward(kernel_dtype(x.scalar_type()), kernel_dtype(y.defined() ? y.scalar_type() : x.scalar_type()),
                                         kernel_dtype(out_dtype), x.data_ptr(), y.defined() ? y.data_ptr() : nullptr,
                                         w.defined() ? w.data_ptr<float>() : nullptr, b.defined() ? b.data_ptr<float>() : nullptr,
                                         y.defined() ? f.s.data_ptr() : nullptr, f.out.data_ptr(), f.mean.data_ptr<float>(),
                                         f.rstd.data_ptr<float>(), rows, cols, static_cast<float>(eps), current_stream(x));
  TORCH_CHECK(ok, "add_layer_norm: unsupported dtypes");
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return f;
}

// Outputs: {s, out} with y, {out} without (s is x then, and x's gradient is the norm's alone).
struct AddLayerNormFunction : public torch::autograd::Function<AddLayerNormFunction> {
  static torch::autograd::tensor_list forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& y,
                                              const at::Tensor& weight, const at::Tensor& bias, double eps,
                                              std::int64_t out_dtype, bool has_y) {
    // Without y, `y` is an empty placeholder (an undefined tensor is no autograd input).
    auto f = run_forward(x, has_y ? y : at::Tensor(), weight, bias, eps, static_cast<at::ScalarType>(out_dtype));
    ctx->save_for_backward({f.s, f.w, f.mean, f.rstd});
    ctx->saved_data["has_y"] = has_y;
    ctx->saved_data["y_dtype"] = static_cast<std::int64_t>(has_y ? y.scalar_type() : x.scalar_type());
    ctx->saved_data["x_dtype"] = static_cast<std::int64_t>(x.scalar_type());
    ctx->saved_data["out_dtype"] = static_cast<std::int64_t>(f.out.scalar_type());
    ctx->saved_data["w_dtype"] = static_cast<std::int64_t>(weight.defined() ? weight.scalar_type() : at::kFloat);
    ctx->saved_data["b_dtype"] = static_cast<std::int64_t>(bias.defined() ? bias.scalar_type() : at::kFloat);
    ctx->saved_data["has_w"] = weight.defined();
    ctx->saved_data["has_b"] = bias.defined();
    if (has_y) return {f.s, f.out};
    return {f.out};
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& s = saved[0];
    const auto& w = saved[1];
    const auto& mean = saved[2];
    const auto& rstd = saved[3];
    const bool has_y = ctx->saved_data["has_y"].toBool();
    const auto x_dtype = static_cast<at::ScalarType>(ctx->saved_data["x_dtype"].toInt());
    const auto y_dtype = static_cast<at::ScalarType>(ctx->saved_data["y_dtype"].toInt());
    const auto out_dtype = static_cast<at::ScalarType>(ctx->saved_data["out_dtype"].toInt());
    c10::cuda::CUDAGuard on_device(s.device());
    at::Tensor grad_s = has_y ? grads[0] : at::Tensor();
    at::Tensor grad_out = has_y ? grads[1] : grads[0];
    if (grad_s.defined()) grad_s = grad_s.to(x_dtype).contiguous();
    grad_out = grad_out.defined() ? grad_out.to(out_dtype).contiguous() : at::zeros(s.sizes(), s.options().dtype(out_dtype));
    const auto cols = s.size(-1);
    const auto rows = s.numel() / cols;
    auto grad_x = at::empty_like(s);
    // The same gradient reaches x and y; y gets its own buffer only in another dtype.
    const bool y_buffer = has_y && y_dtype != x_dtype;
    auto grad_y = y_buffer ? at::empty(s.sizes(), s.options().dtype(y_dtype)) : at::Tensor();
    const bool has_w = ctx->saved_data["has_w"].toBool(), has_b = ctx->saved_data["has_b"].toBool();
    // Both partial sums in one buffer, [2, chunks, cols], added up by one reduction.
    at::Tensor parts;
    if (has_w || has_b) parts = at::empty({2, add_layer_norm_weight_chunks(rows), cols}, s.options().dtype(at::kFloat));
    const bool ok = add_layer_norm_backward(
        kernel_dtype(x_dtype), kernel_dtype(y_dtype), kernel_dtype(out_dtype), s.data_ptr(), grad_out.data_ptr(),
        grad_s.defined() ? grad_s.data_ptr() : nullptr, w.defined() ? w.data_ptr<float>() : nullptr, mean.data_ptr<float>(),
        rstd.data_ptr<float>(), grad_x.data_ptr(), y_buffer ? grad_y.data_ptr() : nullptr,
        parts.defined() ? parts[0].data_ptr<float>() : nullptr, parts.defined() ? parts[1].data_ptr<float>() : nullptr, rows,
        cols, current_stream(s));
    TORCH_CHECK(ok, "add_layer_norm backward: unsupported dtypes");
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    at::Tensor grad_w, grad_b;
    if (parts.defined()) {
      const auto sums = parts.sum(1);
      if (has_w) grad_w = sums[0].to(static_cast<at::ScalarType>(ctx->saved_data["w_dtype"].toInt()));
      if (has_b) grad_b = sums[1].to(static_cast<at::ScalarType>(ctx->saved_data["b_dtype"].toInt()));
    }
    at::Tensor gy = has_y ? (y_buffer ? grad_y : grad_x) : at::Tensor();
    return {grad_x, gy, grad_w, grad_b, at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

std::pair<at::Tensor, at::Tensor> add_layer_norm(const at::Tensor& x, const at::Tensor& y, const at::Tensor& weight,
                                                 const at::Tensor& bias, double eps, at::ScalarType out_dtype) {
  TORCH_CHECK(weight.defined() && bias.defined(), "add_layer_norm: needs the norm's weight and bias");
  const bool needs_grad = torch::GradMode::is_enabled() &&
                          (x.requires_grad() || (y.defined() && y.requires_grad()) ||
                           (weight.defined() && weight.requires_grad()) || (bias.defined() && bias.requires_grad()));
  if (!needs_grad) {
    auto f = run_forward(x, y, weight, bias, eps, out_dtype);
    return {y.defined() ? f.s : x, f.out};
  }
  const auto y_arg = y.defined() ? y : at::empty({0}, x.options());
  auto outs = AddLayerNormFunction::apply(x, y_arg, weight, bias, eps, static_cast<std::int64_t>(out_dtype), y.defined());
  if (y.defined()) return {outs[0], outs[1]};
  return {x, outs[0]};
}

}  // namespace pesuite::vision::fused
