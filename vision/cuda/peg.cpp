// FastOps::add_peg (fast_ops.h): the autograd function around the PEG kernels (peg.cu).
#include <torch/torch.h>

#include <ATen/autocast_mode.h>
#include <c10/cuda/CUDAGuard.h>

#include "glue.h"
#include "peg_kernels.h"

namespace pesuite::vision::fused {
namespace {

struct PegShape {
  std::int64_t B, prefix, H, W, C;
  int K;
};

PegShape check_shape(const at::Tensor& x, const at::Tensor& y, const at::Tensor& weight, const at::Tensor& bias,
                     std::int64_t prefix, std::int64_t height, std::int64_t width) {
  check_cuda(x, "add_peg: x");
  TORCH_CHECK(x.dim() == 3, "add_peg: x must be [B, N, C], got ", x.sizes());
  TORCH_CHECK(prefix >= 0 && height > 0 && width > 0 && x.size(1) == prefix + height * width, "add_peg: ", x.size(1),
              " tokens are not ", prefix, " + ", height, " x ", width);
  if (y.defined()) {
    check_cuda(y, "add_peg: y");
    TORCH_CHECK(y.sizes() == x.sizes(), "add_peg: y ", y.sizes(), " differs from x ", x.sizes());
  }
  const auto C = x.size(2);
  check_cuda(weight, "add_peg: weight");
  if (bias.defined()) check_cuda(bias, "add_peg: bias");
  TORCH_CHECK(weight.dim() == 4 && weight.size(0) == C && weight.size(1) == 1 &&
                  weight.size(2) == weight.size(3),
              "add_peg: weight must be a depthwise [", C, ", 1, K, K] kernel, got ", weight.sizes());
  TORCH_CHECK(!bias.defined() || bias.numel() == C, "add_peg: bias has ", bias.numel(), " elements, not ", C);
  return {x.size(0), prefix, height, width, C, static_cast<int>(weight.size(2))};
}

// out = PEG(x + y); `s` (the convolution's input, which the backward needs) is x itself without y,
// else the sum, written by the kernel when keep_sum is set.
struct Forwarded {
  at::Tensor out, s, w;
};

Forwarded run_forward(const at::Tensor& x_in, const at::Tensor& y_in, const at::Tensor& weight, const at::Tensor& bias,
                      std::int64_t prefix, std::int64_t height, std::int64_t width, bool keep_sum) {
  const auto shape = check_shape(x_in, y_in, weight, bias, prefix, height, width);
  c10::cuda::CUDAGuard on_device(x_in.device());
  const auto x = x_in.contiguous();
  const bool has_y = y_in.defined(), has_bias = bias.defined();
  const auto y = has_y ? y_in.contiguous() : at::Tensor();
  Forwarded f;
  f.w = weight.to(at::kFloat).contiguous();
  const auto b = has_bias ? bias.to(at::kFloat).contiguous() : at::Tensor();
  f.s = has_y ? (keep_sum ? at::empty_like(x) : at::Tensor()) : x;
  f.out = at::empty_like(x);
  const bool ok = peg_forward(kernel_dtype(x.scalar_type()), kernel_dtype(has_y ? y.scalar_type() : x.scalar_type()),
                              x.data_ptr(), has_y ? y.data_ptr() : nullptr, f.w.data_ptr<float>(),
                              has_bias ? b.data_ptr<float>() : nullptr, has_y && keep_sum ? f.s.data_ptr() : nullptr,
                              f.out.data_ptr(), shape.B, prefix, height, width, shape.C, shape.K, current_stream(x));
  TORCH_CHECK(ok, "add_peg: unsupported dtypes or kernel size ", shape.K);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return f;
}

struct PegFunction : public torch::autograd::Function<PegFunction> {
  static torch::autograd::tensor_list forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x_in,
                                              const at::Tensor& y_in, const at::Tensor& weight, const at::Tensor& bias,
                                              std::int64_t prefix, std::int64_t height, std::int64_t width, bool has_y,
                                              bool has_bias, std::int64_t saved_sum_dtype) {
    auto f = run_forward(x_in, has_y ? y_in : at::Tensor(), weight, has_bias ? bias : at::Tensor(), prefix, height, width, true);
    const auto& w = f.w;
    // The sum is written for the backward alone; under autocast it is kept in autocast's dtype (the
    // input an autocast convolution would keep), half a float32 [B, N, C] less for the whole step.
    const auto keep_dtype = static_cast<at::ScalarType>(saved_sum_dtype);
    ctx->save_for_backward({has_y && keep_dtype != f.s.scalar_type() ? f.s.to(keep_dtype) : f.s, w});
    ctx->saved_data["s_dtype"] = static_cast<std::int64_t>(f.s.scalar_type());
    ctx->saved_data["layout"] = std::vector<std::int64_t>{prefix, height, width};
    ctx->saved_data["has_y"] = has_y;
    ctx->saved_data["has_bias"] = has_bias;
    ctx->saved_data["y_dtype"] = static_cast<std::int64_t>(has_y ? y_in.scalar_type() : x_in.scalar_type());
    ctx->saved_data["w_dtype"] = static_cast<std::int64_t>(weight.scalar_type());
    ctx->saved_data["b_dtype"] = static_cast<std::int64_t>(has_bias ? bias.scalar_type() : at::kFloat);
    return {f.out};
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto s = saved[0].to(static_cast<at::ScalarType>(ctx->saved_data["s_dtype"].toInt()));
    const auto& w = saved[1];
    const auto layout = ctx->saved_data["layout"].toIntVector();
    const bool has_y = ctx->saved_data["has_y"].toBool(), has_bias = ctx->saved_data["has_bias"].toBool();
    const auto y_dtype = static_cast<at::ScalarType>(ctx->saved_data["y_dtype"].toInt());
    c10::cuda::CUDAGuard on_device(s.device());
    const auto B = s.size(0), C = s.size(2), H = layout[1], W = layout[2];
    const int K = static_cast<int>(w.size(2));
    const auto g = grads[0].defined() ? grads[0].to(s.scalar_type()).contiguous() : at::zeros_like(s);
    auto grad_x = at::empty_like(s);
    // The same gradient reaches x and y; y gets its own buffer only in another dtype.
    const bool y_buffer = has_y && y_dtype != s.scalar_type();
    auto grad_y = y_buffer ? at::empty(s.sizes(), s.options().dtype(y_dtype)) : at::Tensor();
    auto parts = at::empty({peg_weight_chunks(B, H), K * K + 1, C}, s.options().dtype(at::kFloat));
    const bool ok = peg_backward(kernel_dtype(s.scalar_type()), kernel_dtype(y_dtype), g.data_ptr(), s.data_ptr(),
                                 w.data_ptr<float>(), grad_x.data_ptr(), y_buffer ? grad_y.data_ptr() : nullptr,
                                 parts.data_ptr<float>(), B, layout[0], H, W, C, K, current_stream(s));
    TORCH_CHECK(ok, "add_peg backward: unsupported dtypes or kernel size ", K);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    const auto sums = parts.sum(0);  // [K * K + 1, C]
    auto grad_w = sums.narrow(0, 0, K * K).t().reshape({C, 1, K, K})
                      .to(static_cast<at::ScalarType>(ctx->saved_data["w_dtype"].toInt()));
    at::Tensor grad_b;
    if (has_bias) grad_b = sums[K * K].to(static_cast<at::ScalarType>(ctx->saved_data["b_dtype"].toInt()));
    at::Tensor gy = has_y ? (y_buffer ? grad_y : grad_x) : at::Tensor();
    return {grad_x, gy, grad_w, grad_b, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor add_peg(const at::Tensor& x, const at::Tensor& y, const at::Tensor& weight, const at::Tensor& bias,
                   std::int64_t prefix, std::int64_t height, std::int64_t width) {
  const bool needs_grad = torch::GradMode::is_enabled() && (x.requires_grad() || (y.defined() && y.requires_grad()) ||
                                                           weight.requires_grad() || (bias.defined() && bias.requires_grad()));
  if (!needs_grad) return run_forward(x, y, weight, bias, prefix, height, width, false).out;
  // Undefined tensors are no autograd inputs: empty placeholders stand in for them.
  const auto y_arg = y.defined() ? y : at::empty({0}, x.options());
  const auto b_arg = bias.defined() ? bias : at::empty({0}, weight.options());
  auto saved_sum_dtype = x.scalar_type();
  if (at::autocast::is_autocast_enabled(at::kCUDA)) saved_sum_dtype = at::autocast::get_autocast_dtype(at::kCUDA);
  return PegFunction::apply(x, y_arg, weight, b_arg, prefix, height, width, y.defined(), bias.defined(),
                            static_cast<std::int64_t>(saved_sum_dtype))[0];
}

}  // namespace pesuite::vision::fused
