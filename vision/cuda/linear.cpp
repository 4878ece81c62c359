// FastOps::linear (fast_ops.h): y = x W^T + b with a backward whose bias gradient is one vectorised
// column pass (linear.cu) instead of LibTorch's row reduction (85 us against about 25 for a
// [50432, 576] bf16 gradient on an H100: deit_tiny's 36 per step cost 3.2 ms, 13 % of the step).
#include <torch/torch.h>

#include <ATen/autocast_mode.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/csrc/autograd/graph_task.h>

#include "glue.h"
#include "linear_kernels.h"
#include "shared_parts.h"

namespace pesuite::vision::fused {

at::Tensor bias_grad(const at::Tensor& g2, at::ScalarType dtype) {
  const auto rows = g2.size(0), cols = g2.size(1);
  auto part = at::empty({column_sums_chunks(rows), cols}, g2.options().dtype(at::kFloat));
  const bool ok = column_sums(kernel_dtype(g2.scalar_type()), g2.data_ptr(), part.data_ptr<float>(), rows, cols, current_stream(g2));
  TORCH_CHECK(ok, "linear backward: unsupported dtype ", g2.scalar_type());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return part.sum(0).to(dtype);
}

namespace {

// x, w and b all defined (see linear() below), in one dtype. x is kept in saved_data rather than
// save_for_backward so that the backward can let go of it once the weight gradient is computed and
// before the input gradient is allocated: for fc2 that is the GELU's output, [tokens, 4 dim], and
// the input gradient is as large, so the training peak (at the last block's fc2, at the start of
// the backward) holds one of them instead of both. With retain_graph it is kept. The version check
// that save_for_backward would make is made here.
struct LinearFunction : public torch::autograd::Function<LinearFunction> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
    ctx->save_for_backward({w});
    ctx->saved_data["x"] = x;
    ctx->saved_data["x_version"] = static_cast<std::int64_t>(x._version());
    ctx->saved_data["bias_dtype"] = static_cast<std::int64_t>(b.scalar_type());
    return at::linear(x, w, b);  // the bias in the GEMM's epilogue
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::tensor_list grads) {
    const auto w = ctx->get_saved_variables()[0];
    const auto& g = grads[0];
    TORCH_CHECK(ctx->saved_data.count("x") == 1, "linear backward: called a second time (backward with retain_graph keeps its input)");
    auto x = ctx->saved_data["x"].toTensor();
    TORCH_CHECK(x._version() == ctx->saved_data["x_version"].toInt(),
                "linear backward: its input was modified in place after the forward (version ", x._version(), ", saved at ",
                ctx->saved_data["x_version"].toInt(), ")");
    if (!torch::autograd::get_current_graph_task_keep_graph()) ctx->saved_data.erase("x");
    if (!g.defined()) return {at::Tensor(), at::Tensor(), at::Tensor()};
    c10::cuda::CUDAGuard on_device(g.device());
    const auto out = w.size(0), in = w.size(1);
    const auto g2 = g.to(w.scalar_type()).reshape({-1, out}).contiguous();
    const auto x_sizes = x.sizes().vec();
    at::Tensor dx, dw, db;
    if (ctx->needs_input_grad(1)) dw = at::mm(g2.t(), x.reshape({-1, in}));
    x.reset();  // its last reader: freed here unless a retained graph or the caller still holds it
    if (ctx->needs_input_grad(0)) {
      // A tensor of its own, not a view of the product: the next backward (bias_gelu's, for fc2) may
      // then write over it (glue.h, sole_handle).
      dx = at::empty(x_sizes, g2.options());
      auto dx2 = dx.view({-1, in});
      at::mm_out(dx2, g2, w);
    }
    if (ctx->needs_input_grad(2))
      db = bias_grad(g2, static_cast<at::ScalarType>(ctx->saved_data["bias_dtype"].toInt()));
    return {dx, dw, db};
  }
};

}  // namespace

at::Tensor linear(const at::Tensor& x_in, const at::Tensor& w_in, const at::Tensor& b_in) {
  check_cuda(x_in, "linear: x");
  check_cuda(w_in, "linear: weight");
  TORCH_CHECK(w_in.dim() == 2 && x_in.dim() >= 1 && x_in.size(-1) == w_in.size(1), "linear: x ", x_in.sizes(), " and weight ",
              w_in.sizes(), " do not multiply");
  TORCH_CHECK(!b_in.defined() || b_in.numel() == w_in.size(0), "linear: bias has ", b_in.numel(), " elements, the weight ",
              w_in.size(0), " rows");
  // What autocast does for at::linear: every operand in its dtype; off, the operands' common dtype.
  at::ScalarType dtype = w_in.scalar_type();
  if (at::autocast::is_autocast_enabled(at::kCUDA)) dtype = at::autocast::get_autocast_dtype(at::kCUDA);
  else if (x_in.scalar_type() != dtype || (b_in.defined() && b_in.scalar_type() != dtype)) return at::linear(x_in, w_in, b_in);
  const auto x = x_in.to(dtype), w = w_in.to(dtype), b = b_in.defined() ? b_in.to(dtype) : b_in;
  // Without a bias (fc1: its bias rides in the GELU kernel) there is no bias gradient to speed up,
  // and LibTorch 2.x's custom functions refuse undefined tensor inputs ("tensor does not have a device").
  const bool grad = torch::GradMode::is_enabled() && (x.requires_grad() || w.requires_grad() || (b.defined() && b.requires_grad()));
  constexpr std::int64_t kFewRows = 4096;
  if (const auto in = w.size(1); !grad && b.defined() && dtype == at::kFloat && x.dim() >= 2 && in > w.size(0) && x.numel() / in <= kFewRows) {
    // float32 inference on few rows through a narrowing Linear (fc2): at::linear puts the bias in cuBLASLt's
    // epilogue, and at batch 1 ([197, 768] x [768, 192]) cuBLASLt then picks a split-K kernel with a
    // memset, a scaling pass and an epilogue kernel (21 us on an H100) where the plain product
    // takes 6 and the bias added after it 2 (deit_tiny's batch-1 latency profile,
    // results/vit-fast-path/memory-2026-12-07/profile-latency/). qkv, proj and the head keep the epilogue.
    auto sizes = x.sizes().vec();
    sizes.back() = w.size(0);
    return at::mm(x.reshape({-1, in}), w.t()).add_(b).view(sizes);
  }
  if (!grad || !b.defined()) return at::linear(x, w, b);
  return LinearFunction::apply(x, w, b);
}

}  // namespace pesuite::vision::fused
