// The ViT's GPU fast path (train.fast_path): the fused CUDA kernels (vision/cuda/, fast_ops.h)
// against the unfused LibTorch ops, values and gradients in float32 and bfloat16; the fast ViT
// forward against the plain one; a 200-step training run fast vs unfused; and the bf16 weight
// copies (core/weight_copies.h), whose autograd also runs on the CPU.
//
// Tolerances, as max |ours - reference| / max |reference| per tensor:
//   float32: values 1e-5, gradients 1e-4 (summation order only);
//   bfloat16: values 1e-2, gradients 2e-2 (the reference is float32 math on the same bf16 inputs;
//   ours rounds the sum and the output to bf16, 2^-8 relative each).
// Kernel tests skip (with the reason) without a CUDA device or without the kernels' library; set
// PESUITE_REQUIRE_FAST_OPS=1 (scripts/gpu/vit-fast-check.sh does) to make a missing library a failure.
#include <gtest/gtest.h>

#include <array>
#include <cstdlib>
#include <optional>
#include <string>

#include "pesuite/core/fused_hooks.h"
#include "pesuite/core/optim.h"
#include "pesuite/core/torch_compat.h"
#include "pesuite/core/weight_copies.h"
#include "pesuite/vision/fast_ops.h"
#include "pesuite/vision/vit.h"

#if __has_include(<torch/cuda.h>)
#include <torch/cuda.h>
#endif
#if PESUITE_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

using namespace pesuite;

namespace {

constexpr double kF32Values = 1e-5, kF32Grads = 1e-4, kBf16Values = 1e-2, kBf16Grads = 2e-2;

double rel_err(const torch::Tensor& got, const torch::Tensor& want) {
  auto g = got.detach().to(torch::kFloat64).cpu(), w = want.detach().to(torch::kFloat64).cpu();
  EXPECT_EQ(g.sizes(), w.sizes());
  const double scale = std::max(w.abs().max().item<double>(), 1e-12);
  return (g - w).abs().max().item<double>() / scale;
}

// The kernels, or the reason the test cannot run (GTEST_SKIP in the caller).
const vision::FastOps* kernels_or_reason(std::string& why) {
  if (!torch::cuda::is_available()) {
    why = "no CUDA device: the fused kernels run on the GPU machine (scripts/gpu/vit-fast-check.sh)";
    return nullptr;
  }
  const auto* ops = vision::fast_ops();
  if (ops == nullptr) why = vision::fast_ops_status();
  return ops;
}

#define FAST_OPS_OR_SKIP(ops)                                                                     \
  std::string why_;                                                                               \
  const vision::FastOps* ops = kernels_or_reason(why_);                                           \
  if (ops == nullptr) {                                                                           \
    const char* req = std::getenv("PESUITE_REQUIRE_FAST_OPS");                                    \
    if (req != nullptr && *req == '1' && torch::cuda::is_available()) FAIL() << why_;             \
    GTEST_SKIP() << why_;                                                                         \
  }

struct AddNormCase {
  torch::Dtype x, y, out;
  bool with_y;
  double values, grads;
  // 192 x 517: the register-cached kernels, several blocks of rows; other widths pick the other
  // paths (see AddLayerNormEveryPath). 517 is not a multiple of any tile.
  std::int64_t cols = 192, rows = 517;
};

void check_add_layer_norm(const vision::FastOps& ops, const AddNormCase& c) {
  SCOPED_TRACE(std::string("x ") + c10::toString(c.x) + ", y " + c10::toString(c.y) + ", out " + c10::toString(c.out) +
               (c.with_y ? "" : ", no y") + ", " + std::to_string(c.rows) + " x " + std::to_string(c.cols));
  torch::manual_seed(3);
  const auto dev = torch::Device(torch::kCUDA);
  const std::int64_t rows = c.rows, cols = c.cols;
  auto x = (torch::randn({rows, cols}, dev) * 2 + 0.5).to(c.x).view({rows, 1, cols}).requires_grad_(true);
  auto y = torch::randn({rows, 1, cols}, dev).to(c.y).requires_grad_(true);
  auto w = (1 + 0.3 * torch::randn({cols}, dev)).requires_grad_(true);
  auto b = (0.1 * torch::randn({cols}, dev)).requires_grad_(true);
  auto [s, out] = ops.add_layer_norm(x, c.with_y ? y : torch::Tensor(), w, b, 1e-6, c.out);
  ASSERT_EQ(out.scalar_type(), c.out);
  ASSERT_EQ(s.scalar_type(), c.x);
  auto gs = torch::randn(s.sizes(), dev).to(c.x), gout = torch::randn(out.sizes(), dev).to(c.out);
  torch::autograd::backward({s, out}, {gs, gout});

  // Reference: float32 math on the same inputs (the sum rounded to x's dtype, as it is stored).
  auto xr = x.detach().to(torch::kFloat32).requires_grad_(true);
  auto yr = y.detach().to(torch::kFloat32).requires_grad_(true);
  auto wr = w.detach().clone().requires_grad_(true), br = b.detach().clone().requires_grad_(true);
  auto sr = c.with_y ? xr + yr : xr * 1;
  auto outr = torch::layer_norm(sr, {cols}, wr, br, 1e-6);
  torch::autograd::backward({sr, outr}, {gs.to(torch::kFloat32), gout.to(torch::kFloat32)});

  EXPECT_LT(rel_err(s, sr), c.values);
  EXPECT_LT(rel_err(out, outr), c.values);
  EXPECT_LT(rel_err(x.grad(), xr.grad()), c.grads);
  if (c.with_y) {
    ASSERT_TRUE(y.grad().defined());
    EXPECT_EQ(y.grad().scalar_type(), c.y);
    EXPECT_LT(rel_err(y.grad(), yr.grad()), c.grads);
  }
  EXPECT_EQ(w.grad().scalar_type(), torch::kFloat32);
  EXPECT_LT(rel_err(w.grad(), wr.grad()), c.grads);
  EXPECT_LT(rel_err(b.grad(), br.grad()), c.grads);

  // Without gradients: the same values through the plain forward.
  torch::NoGradGuard no_grad;
  auto [s2, out2] = ops.add_layer_norm(x.detach(), c.with_y ? y.detach() : torch::Tensor(), w.detach(), b.detach(), 1e-6, c.out);
  EXPECT_TRUE(torch::equal(out2, out.detach()));
}

}  // namespace

TEST(FastOps, AddLayerNormMatchesUnfusedFloat32) {
  FAST_OPS_OR_SKIP(ops);
  check_add_layer_norm(*ops, {torch::kFloat32, torch::kFloat32, torch::kFloat32, true, kF32Values, kF32Grads});
  check_add_layer_norm(*ops, {torch::kFloat32, torch::kFloat32, torch::kFloat32, false, kF32Values, kF32Grads});
}

TEST(FastOps, AddLayerNormMatchesUnfusedBFloat16) {
  FAST_OPS_OR_SKIP(ops);
  // The fast path's case under autocast: float32 residual stream, bf16 branch, bf16 normed output.
  check_add_layer_norm(*ops, {torch::kFloat32, torch::kBFloat16, torch::kBFloat16, true, kBf16Values, kBf16Grads});
  check_add_layer_norm(*ops, {torch::kBFloat16, torch::kBFloat16, torch::kBFloat16, true, kBf16Values, kBf16Grads});
  check_add_layer_norm(*ops, {torch::kBFloat16, torch::kBFloat16, torch::kFloat32, false, kBf16Values, kBf16Grads});
  check_add_layer_norm(*ops, {torch::kHalf, torch::kHalf, torch::kHalf, true, kBf16Values, kBf16Grads});
}

TEST(FastOps, AddLayerNormEveryPath) {
  FAST_OPS_OR_SKIP(ops);
  using torch::kBFloat16;
  using torch::kFloat32;
  const double v = kBf16Values, g = kBf16Grads;
  // Register-cached kernels: the 2-, 3- and 6-group instantiations (groups of 4 columns per lane;
  // widths 4 and 500 leave lanes idle, 384 and 768 are ViT-S / -B), and fewer rows than a block's warps.
  for (std::int64_t cols : {4, 384, 500, 768}) check_add_layer_norm(*ops, {kFloat32, kBFloat16, kBFloat16, true, v, g, cols, 517});
  check_add_layer_norm(*ops, {kFloat32, kBFloat16, kBFloat16, true, v, g, 192, 3});
  check_add_layer_norm(*ops, {kFloat32, kFloat32, kFloat32, false, kF32Values, kF32Grads, 384, 70});
  // Scalar kernels: a width that is not a multiple of 4, one over kQuadMaxCols, and float16.
  check_add_layer_norm(*ops, {kFloat32, kBFloat16, kBFloat16, true, v, g, 190, 517});
  check_add_layer_norm(*ops, {kFloat32, kBFloat16, kBFloat16, true, v, g, 1000, 130});
  check_add_layer_norm(*ops, {kFloat32, kFloat32, kFloat32, true, kF32Values, kF32Grads, 1000, 130});
}

namespace {
void check_bias_gelu(const vision::FastOps& ops, torch::Dtype dtype, double values, double grads) {
  SCOPED_TRACE(c10::toString(dtype));
  torch::manual_seed(5);
  const auto dev = torch::Device(torch::kCUDA);
  auto h = (torch::randn({3, 347, 768}, dev) * 2).to(dtype).requires_grad_(true);
  auto bias = (0.5 * torch::randn({768}, dev)).requires_grad_(true);  // float32, as fc1's bias under autocast
  auto out = ops.bias_gelu(h, bias);
  ASSERT_EQ(out.scalar_type(), dtype);
  auto g = torch::randn(out.sizes(), dev).to(dtype);
  out.backward(g);

  auto hr = h.detach().to(torch::kFloat32).requires_grad_(true);
  auto br = bias.detach().clone().requires_grad_(true);
  auto outr = torch::gelu(hr + br);  // approximate = "none": the erf form
  outr.backward(g.to(torch::kFloat32));
  EXPECT_LT(rel_err(out, outr), values);
  EXPECT_LT(rel_err(h.grad(), hr.grad()), grads);
  EXPECT_EQ(bias.grad().scalar_type(), torch::kFloat32);
  EXPECT_LT(rel_err(bias.grad(), br.grad()), grads);
  // Not the tanh approximation: the two differ by up to ~5e-4 around |x| ~ 2, well above float32 rounding.
  if (dtype == torch::kFloat32) {
    auto tanh_form = torch::gelu(hr.detach() + br.detach(), "tanh");
    EXPECT_GT((out.detach() - tanh_form).abs().max().item<double>(), 1e-4);
  }
}
}  // namespace

TEST(FastOps, BiasGeluMatchesUnfusedErfGelu) {
  FAST_OPS_OR_SKIP(ops);
  check_bias_gelu(*ops, torch::kFloat32, kF32Values, kF32Grads);
  check_bias_gelu(*ops, torch::kBFloat16, kBf16Values, kBf16Grads);
}

// The in-place form (inference) writes exactly what the out-of-place one returns, into h, on both
// kernels (768 columns: vector, 100: scalar), and refuses a tensor that needs a gradient.
TEST(FastOps, BiasGeluInPlaceMatchesOutOfPlace) {
  FAST_OPS_OR_SKIP(ops);
  ASSERT_NE(ops->bias_gelu_, nullptr);
  const auto dev = torch::Device(torch::kCUDA);
  for (const std::int64_t cols : {768, 100})
    for (const auto dtype : {torch::kFloat32, torch::kBFloat16}) {
      SCOPED_TRACE(std::to_string(cols) + " " + c10::toString(dtype));
      torch::manual_seed(7);
      auto h = torch::randn({2, 197, cols}, dev).to(dtype);
      auto bias = torch::randn({cols}, dev);
      torch::NoGradGuard no_grad;
      const auto want = ops->bias_gelu(h, bias);
      const auto* before = h.data_ptr();
      auto& out = ops->bias_gelu_(h, bias);
      EXPECT_EQ(out.data_ptr(), before);
      EXPECT_TRUE(torch::equal(h, want));
    }
  auto needs_grad = torch::randn({4, 8}, dev).requires_grad_(true);
  EXPECT_THROW(ops->bias_gelu_(needs_grad, torch::zeros({8}, dev)), c10::Error);
}

// A cols % 8 != 0 row (100) takes the scalar kernels; 768 the vector ones.
TEST(FastOps, BiasGeluScalarPathMatchesUnfused) {
  FAST_OPS_OR_SKIP(ops);
  const auto dev = torch::Device(torch::kCUDA);
  for (const auto dtype : {torch::kFloat32, torch::kBFloat16}) {
    SCOPED_TRACE(c10::toString(dtype));
    torch::manual_seed(6);
    auto h = torch::randn({37, 100}, dev).to(dtype).requires_grad_(true);
    auto bias = torch::randn({100}, dev).requires_grad_(true);
    auto out = ops->bias_gelu(h, bias);
    auto g = torch::randn(out.sizes(), dev).to(dtype);
    out.backward(g);
    auto hr = h.detach().to(torch::kFloat32).requires_grad_(true);
    auto br = bias.detach().clone().requires_grad_(true);
    torch::gelu(hr + br).backward(g.to(torch::kFloat32));
    const bool f32 = dtype == torch::kFloat32;
    EXPECT_LT(rel_err(out, torch::gelu(hr.detach() + br.detach())), f32 ? kF32Values : kBf16Values);
    EXPECT_LT(rel_err(h.grad(), hr.grad()), f32 ? kF32Grads : kBf16Grads);
    EXPECT_LT(rel_err(bias.grad(), br.grad()), f32 ? kF32Grads : kBf16Grads);
  }
}

// gelu_linear (the MLP that recomputes its GELU) against gelu(h + b1) then at::linear: values and
// the four gradients, float32 and bf16 (h in bf16 with float32 fc2 parameters: what the ViT passes
// when it has no weight copies), on vector (768) and scalar (100) hidden widths.
TEST(FastOps, GeluLinearMatchesBiasGeluThenLinear) {
  FAST_OPS_OR_SKIP(ops);
  ASSERT_NE(ops->gelu_linear, nullptr);
  const auto dev = torch::Device(torch::kCUDA);
  for (const std::int64_t hid : {768, 100})
    for (const auto dtype : {torch::kFloat32, torch::kBFloat16}) {
      SCOPED_TRACE(std::to_string(hid) + " " + c10::toString(dtype));
      torch::manual_seed(9);
      auto h = torch::randn({3, 197, hid}, dev).to(dtype).requires_grad_(true);
      auto b1 = (0.5 * torch::randn({hid}, dev)).requires_grad_(true);
      auto w2 = (0.05 * torch::randn({192, hid}, dev)).requires_grad_(true);
      auto b2 = torch::randn({192}, dev).requires_grad_(true);
      auto y = ops->gelu_linear(h, b1, w2, b2);
      ASSERT_EQ(y.scalar_type(), dtype);
      auto g = torch::randn(y.sizes(), dev).to(dtype);
      y.backward(g);
      auto hr = h.detach().to(torch::kFloat32).requires_grad_(true);
      auto b1r = b1.detach().clone().requires_grad_(true), w2r = w2.detach().clone().requires_grad_(true);
      auto b2r = b2.detach().clone().requires_grad_(true);
      auto yr = at::linear(torch::gelu(hr + b1r), w2r, b2r);
      yr.backward(g.to(torch::kFloat32));
      const bool f32 = dtype == torch::kFloat32;
      EXPECT_LT(rel_err(y, yr), f32 ? kF32Values : kBf16Values);
      EXPECT_LT(rel_err(h.grad(), hr.grad()), f32 ? kF32Grads : kBf16Grads);
      for (const auto& [p, r] : {std::pair{b1, b1r}, std::pair{w2, w2r}, std::pair{b2, b2r}}) {
        EXPECT_EQ(p.grad().scalar_type(), torch::kFloat32);
        EXPECT_LT(rel_err(p.grad(), r.grad()), f32 ? kF32Grads : kBf16Grads);
      }
      // Without autograd: the same values, and h untouched.
      torch::NoGradGuard no_grad;
      const auto h_before = h.detach().clone();
      EXPECT_TRUE(torch::equal(ops->gelu_linear(h.detach(), b1.detach(), w2.detach(), b2.detach()), y.detach()));
      EXPECT_TRUE(torch::equal(h.detach(), h_before));
    }
}

namespace {
// ops.linear against at::linear: values and the three gradients, for x of rank 3, with and without
// a bias, in float32 and in bf16 (float32 operands under bf16 autocast: what the ViT's head does;
// bf16 operands: what the weight copies give). out = 576 takes the vector column pass, 37 the scalar one.
void check_linear(const vision::FastOps& ops, std::int64_t out, bool bias, bool bf16) {
  SCOPED_TRACE("out " + std::to_string(out) + (bias ? " bias" : " no bias") + (bf16 ? " bf16" : " fp32"));
  torch::manual_seed(8);
  const auto dev = torch::Device(torch::kCUDA);
  auto x = torch::randn({4, 197, 192}, dev).requires_grad_(true);
  auto w = (torch::randn({out, 192}, dev) * 0.1).requires_grad_(true);
  auto b = bias ? (torch::randn({out}, dev)).requires_grad_(true) : torch::Tensor();
  auto xr = x.detach().clone().requires_grad_(true), wr = w.detach().clone().requires_grad_(true);
  auto br = bias ? b.detach().clone().requires_grad_(true) : torch::Tensor();
  torch::Tensor y, yr;
  {
    std::optional<core::AutocastGuard> amp;
    if (bf16) amp.emplace(dev, torch::kBFloat16);
    y = ops.linear(x, w, b);
    yr = at::linear(xr, wr, br);
  }
  ASSERT_EQ(y.scalar_type(), yr.scalar_type());
  auto g = torch::randn(y.sizes(), dev).to(y.scalar_type());
  y.backward(g);
  yr.backward(g);
  // The same GEMMs; only the bias gradient's summation order differs from LibTorch's.
  EXPECT_LT(rel_err(y, yr), bf16 ? kBf16Values : kF32Values);
  EXPECT_LT(rel_err(x.grad(), xr.grad()), bf16 ? kBf16Grads : kF32Grads);
  EXPECT_LT(rel_err(w.grad(), wr.grad()), bf16 ? kBf16Grads : kF32Grads);
  if (bias) {
    EXPECT_EQ(b.grad().scalar_type(), torch::kFloat32);
    EXPECT_LT(rel_err(b.grad(), br.grad()), bf16 ? kBf16Grads : kF32Grads);
  }
  // Inference (float32, 788 rows: a narrowing Linear adds its bias after the product).
  torch::NoGradGuard no_grad;
  std::optional<core::AutocastGuard> amp;
  if (bf16) amp.emplace(dev, torch::kBFloat16);
  const auto yi = ops.linear(x, w, b);
  EXPECT_EQ(yi.sizes(), yr.sizes());
  EXPECT_LT(rel_err(yi, yr), bf16 ? kBf16Values : kF32Values);
}
}  // namespace

TEST(FastOps, LinearMatchesAtLinear) {
  FAST_OPS_OR_SKIP(ops);
  ASSERT_NE(ops->linear, nullptr);
  for (const std::int64_t out : {576, 37})
    for (const bool bias : {true, false})
      for (const bool bf16 : {false, true}) check_linear(*ops, out, bias, bf16);
}

namespace {
// The CUDA caching allocator's allocated bytes on device 0 in MiB: now, or the peak since reset_peak().
double allocated_mib(bool peak) {
#if PESUITE_WITH_CUDA
  const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(0);  // by value: a member of the temporary would dangle
  const auto& all = stats.allocated_bytes[0];
  return static_cast<double>(peak ? all.peak : all.current) / (1024.0 * 1024.0);
#else
  (void)peak;
  return 0;
#endif
}
void reset_peak() {
#if PESUITE_WITH_CUDA
  c10::cuda::CUDACachingAllocator::resetPeakStats(0);
#endif
}
// Hooks on autograd nodes: PeakProbe reads the peak when its node starts; PeakReset reads the
// allocated MiB and resets the peak.
struct PeakProbe : torch::autograd::FunctionPreHook {
  explicit PeakProbe(double* p) : out(p) {}
  torch::autograd::variable_list operator()(const torch::autograd::variable_list& g) override {
    *out = allocated_mib(true);
    return g;
  }
  double* out;
};
struct PeakReset : torch::autograd::FunctionPreHook {
  explicit PeakReset(double* p) : out(p) {}
  torch::autograd::variable_list operator()(const torch::autograd::variable_list& g) override {
    *out = allocated_mib(false);
    reset_peak();
    return g;
  }
  double* out;
};

// The memory the backward of ops.linear holds: x [8192, 1024] bf16 (16 MiB) feeds a Linear to 64
// outputs. Returns the peak reached up to the moment x's gradient exists, above what was allocated
// when the backward began (x included), and checks the gradients against at::linear's.
double linear_backward_peak_above_start(const vision::FastOps& ops, bool retain_graph) {
  const auto dev = torch::Device(torch::kCUDA);
  torch::manual_seed(11);
  auto a = torch::randn({8192, 1024}, dev).requires_grad_(true);
  auto w = (torch::randn({64, 1024}, dev) * 0.05).to(torch::kBFloat16).requires_grad_(true);
  auto b = torch::randn({64}, dev).to(torch::kBFloat16).requires_grad_(true);
  auto x = a.to(torch::kBFloat16);  // an intermediate: only the Linear holds it after the forward
  auto loss = ops.linear(x, w, b).to(torch::kFloat32).sum();
  x.reset();
  // Sum <- ToCopy (the output's cast) <- the Linear <- ToCopy (a's cast): the last one starts once
  // the Linear's input gradient exists, and reads the peak so far.
  auto* cast = loss.grad_fn()->next_edges()[0].function->next_edges()[0].function->next_edges()[0].function.get();
  EXPECT_NE(cast, nullptr);
  double peak = 0;
  if (cast != nullptr) cast->add_pre_hook(std::make_unique<PeakProbe>(&peak));
  torch::cuda::synchronize();
  reset_peak();
  const double start = allocated_mib(false);
  loss.backward({}, retain_graph);
  torch::cuda::synchronize();
  if (retain_graph) {  // a second backward reads the kept input: the same gradient again
    const auto first = a.grad().clone();
    a.grad().zero_();
    loss.backward();
    EXPECT_TRUE(torch::equal(a.grad(), first));
  }
  EXPECT_LT(rel_err(a.grad(), torch::ones({8192, 64}, dev).mm(w.detach().to(torch::kFloat32))), kBf16Grads);
  return peak - start;
}
}  // namespace

// ops.linear's backward computes the weight gradient first and lets go of its input before it
// allocates the input gradient (linear.cpp): at fc2 that is one [tokens, 4 dim] buffer less at the
// training peak. With retain_graph the input is kept (and a second backward gives the same
// gradients); an input changed in place after the forward is refused, as save_for_backward would.
TEST(FastOps, LinearBackwardLetsGoOfItsInputFirst) {
  FAST_OPS_OR_SKIP(ops);
  constexpr double kInputMib = 16;  // x: 8192 x 1024 bf16
  const double released = linear_backward_peak_above_start(*ops, false);
  const double kept = linear_backward_peak_above_start(*ops, true);
  EXPECT_LT(released, 0.5 * kInputMib) << "the input gradient was allocated while the input was still held";
  EXPECT_GT(kept, 0.9 * kInputMib) << "with retain_graph the input must stay";
  const auto dev = torch::Device(torch::kCUDA);
  auto x = torch::randn({16, 32}, dev).requires_grad_(true);
  auto w = torch::randn({8, 32}, dev).requires_grad_(true), b = torch::randn({8}, dev).requires_grad_(true);
  auto h = x * 1;
  auto y = ops->linear(h, w, b);
  {
    torch::NoGradGuard no_grad;
    h.add_(1);
  }
  try {
    y.sum().backward();
    ADD_FAILURE() << "a changed input went unnoticed";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("modified in place after the forward"), std::string::npos) << e.what();
  }
}

// bias_gelu's backward writes its input gradient over the incoming gradient when it holds the only
// handle on it (glue.h, sole_handle): here the incoming gradient is the fresh bf16 cast of the
// loss's, so the node needs no buffer of its own, and the values are those of the unfused ops.
TEST(FastOps, BiasGeluBackwardWritesOverItsIncomingGradient) {
  FAST_OPS_OR_SKIP(ops);
  const auto dev = torch::Device(torch::kCUDA);
  torch::manual_seed(12);
  constexpr double kMib = 16;  // [8192, 1024] bf16
  auto a = torch::randn({8192, 1024}, dev).requires_grad_(true);
  auto bias = (0.1 * torch::randn({1024}, dev)).requires_grad_(true);
  auto weights = torch::randn({8192, 1024}, dev);
  auto h = a.to(torch::kBFloat16);
  auto loss = (ops->bias_gelu(h, bias).to(torch::kFloat32) * weights).sum();
  h.reset();
  // Sum <- Mul <- ToCopy (the output's cast) <- bias_gelu <- ToCopy (a's cast): the peak from the
  // moment bias_gelu's node starts (its incoming gradient made) to the moment the next one starts.
  auto* bias_gelu_node = loss.grad_fn()->next_edges()[0].function->next_edges()[0].function->next_edges()[0].function.get();
  ASSERT_NE(bias_gelu_node, nullptr);
  ASSERT_NE(bias_gelu_node->next_edges()[0].function, nullptr);
  double entry = 0, peak = 0;
  bias_gelu_node->add_pre_hook(std::make_unique<PeakReset>(&entry));
  bias_gelu_node->next_edges()[0].function->add_pre_hook(std::make_unique<PeakProbe>(&peak));
  loss.backward();
  torch::cuda::synchronize();
  EXPECT_LT(peak - entry, 0.5 * kMib) << "bias_gelu's backward allocated its own input-gradient buffer";
  // The same gradients as the unfused ops.
  auto ar = a.detach().clone().requires_grad_(true), br = bias.detach().clone().requires_grad_(true);
  auto hr = ar.to(torch::kBFloat16).to(torch::kFloat32) + br;
  (torch::gelu(hr) * weights).sum().backward();
  EXPECT_LT(rel_err(a.grad(), ar.grad()), kBf16Grads);
  EXPECT_LT(rel_err(bias.grad(), br.grad()), kBf16Grads);
}

// split_qkv gives timm's views (the same values) and, backwards, exactly the gradient LibTorch's
// unbind / permute / view composition gives: from contiguous gradients (the vector path), from
// transposed ones (strided, the scalar path), and with k's gradient missing (zeros).
TEST(FastOps, SplitQkvMatchesUnbind) {
  FAST_OPS_OR_SKIP(ops);
  ASSERT_NE(ops->split_qkv, nullptr);
  const auto dev = torch::Device(torch::kCUDA);
  const std::int64_t B = 3, N = 50, H = 3, D = 64;
  for (const auto dtype : {torch::kBFloat16, torch::kFloat32})
    for (const int variant : {0, 1, 2}) {  // contiguous grads, transposed grads, k unused
      SCOPED_TRACE(std::string(c10::toString(dtype)) + " variant " + std::to_string(variant));
      torch::manual_seed(9);
      auto qkv = torch::randn({B, N, 3 * H * D}, dev).to(dtype).requires_grad_(true);
      auto ref = qkv.detach().clone().requires_grad_(true);
      auto got = ops->split_qkv(qkv, H);
      auto want = ref.view({B, N, 3, H, D}).permute({2, 0, 3, 1, 4}).unbind(0);
      torch::Tensor loss_got, loss_want;
      for (int s = 0; s < 3; ++s) {
        ASSERT_EQ(got[s].sizes(), want[s].sizes());
        EXPECT_TRUE(torch::equal(got[s], want[s]));
        if (variant == 2 && s == 1) continue;
        auto w = torch::randn({B, H, N, D}, dev).to(dtype);
        if (variant == 1) w = torch::randn({B, H, D, N}, dev).to(dtype).transpose(2, 3);  // strided gradient
        auto lg = (got[s] * w).sum(), lw = (want[s] * w).sum();
        loss_got = loss_got.defined() ? loss_got + lg : lg;
        loss_want = loss_want.defined() ? loss_want + lw : lw;
      }
      loss_got.backward();
      loss_want.backward();
      EXPECT_TRUE(torch::equal(qkv.grad(), ref.grad()));
    }
}

// The PEG kernels against heads::PEG on x + y (float32 math on the same inputs): values and the
// gradients of x, y, the depthwise weight and the bias. Grids that are not square, channel counts
// that leave lanes idle (40), a class token or none, kernels 3 and 5, the fast path's dtypes (a
// float32 residual stream plus a bf16 branch) and others, and enough rows for several weight chunks.
TEST(FastOps, PegMatchesPlainPeg) {
  FAST_OPS_OR_SKIP(ops);
  ASSERT_NE(ops->add_peg, nullptr);
  const auto dev = torch::Device(torch::kCUDA);
  struct Case {
    torch::Dtype x;
    std::optional<torch::Dtype> y;
    std::int64_t B, prefix, H, W, C, K;
  };
  const std::array<Case, 7> cases{{{torch::kFloat32, torch::kBFloat16, 3, 1, 5, 7, 40, 3},
                                   {torch::kFloat32, std::nullopt, 2, 0, 6, 4, 192, 3},
                                   {torch::kFloat32, torch::kFloat32, 2, 1, 7, 5, 64, 5},
                                   {torch::kBFloat16, torch::kBFloat16, 3, 1, 5, 7, 40, 3},
                                   {torch::kBFloat16, std::nullopt, 2, 2, 4, 4, 96, 5},
                                   {torch::kFloat32, torch::kBFloat16, 24, 1, 14, 14, 64, 3},
                                   {torch::kFloat32, std::nullopt, 1, 1, 2, 3, 33, 7}}};
  for (const auto& c : cases) {
    const bool bf16 = c.x == torch::kBFloat16 || (c.y && *c.y == torch::kBFloat16);
    SCOPED_TRACE(std::string(c10::toString(c.x)) + (c.y ? std::string(" + ") + c10::toString(*c.y) : "") + " B" +
                 std::to_string(c.B) + " prefix " + std::to_string(c.prefix) + " " + std::to_string(c.H) + "x" +
                 std::to_string(c.W) + " C" + std::to_string(c.C) + " K" + std::to_string(c.K));
    torch::manual_seed(21);
    const auto N = c.prefix + c.H * c.W;
    auto x = torch::randn({c.B, N, c.C}, dev).to(c.x).requires_grad_(true);
    auto y = c.y ? torch::randn({c.B, N, c.C}, dev).to(*c.y).requires_grad_(true) : torch::Tensor();
    heads::PEG peg(heads::PEGOptions(c.C).kernel(c.K));
    peg->to(dev);
    auto w = peg->conv->weight.detach().clone().requires_grad_(true);
    auto b = (0.1 * torch::randn({c.C}, dev)).requires_grad_(true);
    auto out = ops->add_peg(x, y, w, b, c.prefix, c.H, c.W);
    ASSERT_EQ(out.scalar_type(), c.x);
    auto xr = x.detach().to(torch::kFloat32).requires_grad_(true);
    auto yr = c.y ? y.detach().to(torch::kFloat32).requires_grad_(true) : torch::Tensor();
    {
      torch::NoGradGuard no_grad;
      peg->conv->bias.copy_(b);
    }
    heads::TokenLayout layout;
    layout.prefix = c.prefix;
    layout.height = c.H;
    layout.width = c.W;
    auto want = peg->forward(c.y ? xr + yr : xr, layout);
    EXPECT_LE(rel_err(out, want), bf16 ? kBf16Values : kF32Values);
    auto gout = torch::randn(want.sizes(), dev);
    (out.to(torch::kFloat32) * gout).sum().backward();
    (want * gout).sum().backward();
    const double tol = bf16 ? kBf16Grads : kF32Grads;
    EXPECT_LE(rel_err(x.grad(), xr.grad()), tol) << "x";
    if (c.y) EXPECT_LE(rel_err(y.grad(), yr.grad()), tol) << "y";
    EXPECT_LE(rel_err(w.grad(), peg->conv->weight.grad()), tol) << "weight";
    EXPECT_LE(rel_err(b.grad(), peg->conv->bias.grad()), tol) << "bias";
    // Without gradients: the same values, no saved sum.
    torch::NoGradGuard no_grad;
    EXPECT_TRUE(torch::equal(ops->add_peg(x, y, w, b, c.prefix, c.H, c.W), out.detach()));
  }
  // Under bf16 autocast the backward keeps the float32 sum as bf16 (peg.cpp): the same values, and
  // gradients within bf16's tolerance of the float32-kept ones (the weight gradient reads the sum).
  torch::manual_seed(22);
  auto x = torch::randn({24, 197, 64}, dev).requires_grad_(true);
  auto y = torch::randn({24, 197, 64}, dev).to(torch::kBFloat16).requires_grad_(true);
  auto w = (0.2 * torch::randn({64, 1, 3, 3}, dev)).requires_grad_(true);
  auto b = (0.1 * torch::randn({64}, dev)).requires_grad_(true);
  auto gout = torch::randn({24, 197, 64}, dev);
  auto grads_of = [&](bool amp) {
    for (auto* t : {&x, &y, &w, &b})
      if (t->grad().defined()) t->mutable_grad() = torch::Tensor();
    torch::Tensor out;
    {
      std::optional<core::AutocastGuard> guard;
      if (amp) guard.emplace(dev, torch::kBFloat16);
      out = ops->add_peg(x, y, w, b, 1, 14, 14);
    }
    (out * gout).sum().backward();
    return std::make_pair(out.detach(), std::vector<torch::Tensor>{x.grad(), y.grad(), w.grad(), b.grad()});
  };
  const auto [out_f32, kept_f32] = grads_of(false);
  const auto [out_amp, kept_bf16] = grads_of(true);
  EXPECT_TRUE(torch::equal(out_amp, out_f32));
  for (std::size_t i = 0; i < kept_f32.size(); ++i) EXPECT_LE(rel_err(kept_bf16[i], kept_f32[i]), kBf16Grads) << "gradient " << i;
}

namespace {
vision::ViTOptions fast_test_vit(const std::string& pe) {
  return vision::ViTOptions().img_size(32).patch_size(4).in_chans(3).dim(96).depth(4).heads(3).num_classes(10).pe(pe);
}
// Every parameter of `plain` redrawn (biases start at zero: a lost bias would not show), then
// copied into `fast`: two models with the same, non-trivial weights.
void share_redrawn_parameters(vision::ViT& plain, vision::ViT& fast) {
  torch::NoGradGuard no_grad;
  auto a = plain->parameters(), b = fast->parameters();
  for (std::size_t i = 0; i < a.size(); ++i) b[i].copy_(a[i].add_(torch::randn_like(a[i]) * 0.1));
}

// After both backwards: every parameter of `fast` has a float32 gradient (the masters') within
// `tolerance` (rel_err) of the plain model's.
void expect_gradients_follow(vision::ViT& plain, vision::ViT& fast, double tolerance) {
  auto fast_params = fast->named_parameters();
  for (const auto& item : plain->named_parameters()) {
    const auto& g = fast_params[item.key()].grad();
    ASSERT_TRUE(g.defined()) << item.key();
    EXPECT_EQ(g.scalar_type(), torch::kFloat32) << item.key();
    EXPECT_LT(rel_err(g, item.value().grad()), tolerance) << item.key();
  }
}
}  // namespace

// The whole fast forward and backward against the plain model with the same weights: float32
// (kernels only) and bf16 autocast (kernels + weight copies), DeiT-style and CPVT-style (PEG).
TEST(FastOps, FastViTFollowsPlainViT) {
  FAST_OPS_OR_SKIP(ops);
  const auto dev = torch::Device(torch::kCUDA);
  for (const std::string pe : {"learned", "peg"})
    for (const bool bf16 : {false, true}) {
      SCOPED_TRACE(pe + (bf16 ? " bf16" : " fp32"));
      torch::manual_seed(11);
      vision::ViT plain(fast_test_vit(pe)), fast(fast_test_vit(pe));
      share_redrawn_parameters(plain, fast);
      plain->to(dev);
      fast->to(dev);
      fast->set_fast_path(true);
      auto images = torch::randn({8, 3, 32, 32}, dev);
      auto run = [&](vision::ViT& m) {
        std::optional<core::AutocastGuard> amp;
        if (bf16) amp.emplace(dev, torch::kBFloat16);
        auto logits = m->forward(images).to(torch::kFloat32);
        return logits;
      };
      auto lp = run(plain), lf = run(fast);
      EXPECT_LT(rel_err(lf, lp), bf16 ? 5e-2 : 1e-4);
      lp.square().sum().backward();
      lf.square().sum().backward();
      expect_gradients_follow(plain, fast, bf16 ? 0.1 : 1e-3);
    }
}

// The bf16 weight copies belong to training: an eval-mode model under bf16 autocast casts its
// weights in each forward and holds no copies (an eval-only process's memory); the first training
// forward makes them, and eval then reads them. A copy and autocast's cast round the same fp32
// weight the same way, so the eval logits are identical with and without them.
TEST(FastOps, WeightCopiesComeWithTheFirstTrainingForward) {
  FAST_OPS_OR_SKIP(ops);
  const auto dev = torch::Device(torch::kCUDA);
  torch::manual_seed(12);
  vision::ViT model(fast_test_vit("peg"));
  model->to(dev);
  model->set_fast_path(true);
  auto images = torch::randn({4, 3, 32, 32}, dev);
  auto eval_logits = [&] {
    torch::NoGradGuard no_grad;
    core::AutocastGuard amp(dev, torch::kBFloat16);
    return model->forward(images);
  };
  model->eval();
  const auto before = eval_logits();
  EXPECT_FALSE(model->holds_weight_copies());
  {
    torch::NoGradGuard no_grad;
    (void)model->forward(images);  // fp32: no copies either
  }
  EXPECT_FALSE(model->holds_weight_copies());
  model->train();
  {
    core::AutocastGuard amp(dev, torch::kBFloat16);
    (void)model->forward(images);
  }
  EXPECT_TRUE(model->holds_weight_copies());
  model->eval();
  EXPECT_TRUE(torch::equal(eval_logits(), before));
  model->set_fast_path(true);  // a new fast path starts without copies again
  EXPECT_FALSE(model->holds_weight_copies());
}

// 200 AdamW steps on a learnable synthetic task, bf16 autocast, fast path vs unfused: the mean loss
// of the last 20 steps agrees within 0.1 (absolute; both start near ln 10 = 2.3 and must fall
// below 1.5, so a broken gradient cannot pass; bf16 rounding makes the two runs drift apart a little).
TEST(FastOps, TrainingFollowsUnfusedFor200Steps) {
  FAST_OPS_OR_SKIP(ops);
  const auto dev = torch::Device(torch::kCUDA);
  torch::manual_seed(21);
  const std::int64_t n = 1024, batch = 64;
  // Each class has a fixed random pattern; an image is its class's pattern under noise: learnable.
  auto labels = torch::randint(10, {n}, torch::TensorOptions().device(dev).dtype(torch::kInt64));
  auto patterns = torch::randn({10, 3, 32, 32}, dev);
  auto images = patterns.index_select(0, labels) * 0.5 + torch::randn({n, 3, 32, 32}, dev);
  auto train = [&](bool fast) {
    torch::manual_seed(7);
    vision::ViT model(fast_test_vit("peg"));
    model->to(dev);
    if (fast) model->set_fast_path(true);
    const auto o = torch::optim::AdamWOptions(1e-3).weight_decay(0.05);
    core::FusedAdamW opt(model->adamw_groups(o), o);
    std::vector<double> losses;
    for (int step = 0; step < 200; ++step) {
      const auto idx = torch::arange(step * batch, (step + 1) * batch, dev) % n;
      opt.zero_grad();
      torch::Tensor loss;
      {
        core::AutocastGuard amp(dev, torch::kBFloat16);
        loss = torch::nn::functional::cross_entropy(model->forward(images.index_select(0, idx)).to(torch::kFloat32),
                                                    labels.index_select(0, idx));
      }
      loss.backward();
      opt.step();
      model->refresh_weight_copies();
      losses.push_back(loss.item<double>());
    }
    double tail = 0;
    for (int i = 180; i < 200; ++i) tail += losses[i] / 20;
    return std::make_pair(losses.front(), tail);
  };
  const auto [first_plain, tail_plain] = train(false);
  const auto [first_fast, tail_fast] = train(true);
  std::cout << "[ INFO     ] 200 steps: unfused loss " << first_plain << " -> " << tail_plain << ", fast path " << first_fast
            << " -> " << tail_fast << std::endl;
  EXPECT_LT(tail_plain, 1.5);
  EXPECT_LT(tail_fast, 1.5);
  EXPECT_NEAR(tail_fast, tail_plain, 0.1);
}

// ---- on any device ----------------------------------------------------------------------------

namespace {
// The fused ops' contracts written with LibTorch ops: the fast forward's structure (the residual
// add moved into the next norm, fc1's bias into the GELU, PEG between blocks) checked on the CPU.
std::pair<at::Tensor, at::Tensor> reference_add_layer_norm(const at::Tensor& x, const at::Tensor& y, const at::Tensor& w,
                                                           const at::Tensor& b, double eps, at::ScalarType out_dtype) {
  auto s = y.defined() ? x + y : x;
  auto out = torch::layer_norm(s, {s.size(-1)}, w, b, eps);
  if (out_dtype != at::ScalarType::Undefined) out = out.to(out_dtype);
  return {s, out};
}
at::Tensor reference_bias_gelu(const at::Tensor& h, const at::Tensor& bias) { return torch::gelu(h + bias); }
int reference_in_place_calls = 0, reference_gelu_linear_calls = 0;
at::Tensor reference_gelu_linear(const at::Tensor& h, const at::Tensor& b1, const at::Tensor& w2, const at::Tensor& b2) {
  ++reference_gelu_linear_calls;
  return at::linear(torch::gelu(h + b1), w2.to(h.scalar_type()), b2.to(h.scalar_type()));
}
at::Tensor& reference_bias_gelu_(at::Tensor& h, const at::Tensor& bias) {
  ++reference_in_place_calls;
  return h.add_(bias).copy_(torch::gelu(h));
}
int reference_linear_calls = 0, reference_split_calls = 0, reference_peg_calls = 0;
at::Tensor reference_linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  ++reference_linear_calls;
  return at::linear(x, w, b);
}
std::array<at::Tensor, 3> reference_split_qkv(const at::Tensor& qkv, std::int64_t heads) {
  ++reference_split_calls;
  auto t = qkv.view({qkv.size(0), qkv.size(1), 3, heads, qkv.size(2) / (3 * heads)}).permute({2, 0, 3, 1, 4}).unbind(0);
  return {t[0], t[1], t[2]};
}
// FastOps::add_peg written as the plain PEG's ops (a grid, zero padding).
at::Tensor reference_add_peg(const at::Tensor& x, const at::Tensor& y, const at::Tensor& weight, const at::Tensor& bias,
                             std::int64_t prefix, std::int64_t height, std::int64_t width) {
  ++reference_peg_calls;
  auto s = y.defined() ? x + y : x;
  const auto B = s.size(0), C = s.size(2);
  auto grid = s.narrow(1, prefix, height * width).transpose(1, 2).reshape({B, C, height, width});
  auto conv = torch::conv2d(grid, weight, bias, 1, weight.size(2) / 2, 1, C);
  auto out = (grid + conv).flatten(2).transpose(1, 2);
  return torch::cat({s.narrow(1, 0, prefix), out}, 1);
}
// Every fused op written with LibTorch ops: what set_fast_path(true, &ops) runs on the CPU.
vision::FastOps reference_ops() {
  vision::FastOps reference;
  reference.add_layer_norm = &reference_add_layer_norm;
  reference.bias_gelu = &reference_bias_gelu;
  reference.linear = &reference_linear;
  reference.split_qkv = &reference_split_qkv;
  reference.add_peg = &reference_add_peg;
  reference.bias_gelu_ = &reference_bias_gelu_;
  reference.gelu_linear = &reference_gelu_linear;
  return reference;
}
}  // namespace

TEST(FastPath, FastForwardStructureMatchesPlainForwardOnCpu) {
  const auto reference = reference_ops();
  for (const std::string pe : {"learned", "peg", "rope2d"})
    for (const bool gap : {false, true})
    for (const bool recompute : {false, true}) {
      SCOPED_TRACE(pe + (gap ? " gap" : " cls") + (recompute ? " recompute_gelu" : ""));
      torch::manual_seed(13);
      auto o = fast_test_vit(pe).class_token(!gap);
      if (pe == "peg") o.pe_after_blocks({0, 2});
      vision::ViT plain(o), fast(o);
      share_redrawn_parameters(plain, fast);
      fast->set_recompute_gelu(recompute);
      EXPECT_EQ(fast->set_fast_path(true, &reference), "the given ops");
      auto images = torch::randn({3, 3, 32, 32});
      reference_linear_calls = reference_split_calls = reference_peg_calls = 0;
      reference_in_place_calls = reference_gelu_linear_calls = 0;
      auto lp = plain->forward(images), lf = fast->forward(images);
      EXPECT_LT(rel_err(lf, lp), 1e-5);
      EXPECT_EQ(reference_in_place_calls, 0);  // autograd records this forward: GELU not in place
      // Every block's proj, fc1 and fc2 through the linear hook (the head stays at::linear); with
      // the fused attention kernel (LibTorch 2.x) also qkv, and every split through the split hook.
      // Without it (Debian's 1.13) the attention reads a reordered qkv weight, unhooked. With
      // recompute_gelu, fc2 runs inside gelu_linear instead.
      EXPECT_EQ(reference_gelu_linear_calls, recompute ? 4 : 0);
      EXPECT_EQ(reference_linear_calls, ((core::kHasFusedAttention ? 4 : 3) - (recompute ? 1 : 0)) * 4);
      EXPECT_EQ(reference_split_calls, core::kHasFusedAttention ? 4 : 0);
      EXPECT_EQ(reference_peg_calls, pe == "peg" ? 2 : 0);  // after blocks 0 and 2
      {
        torch::NoGradGuard no_grad;  // inference: every block's GELU in place, the same logits
        EXPECT_LT(rel_err(fast->forward(images), lp.detach()), 1e-5);
        EXPECT_EQ(reference_in_place_calls, 4);
      }
      lp.sum().backward();
      lf.sum().backward();
      expect_gradients_follow(plain, fast, 1e-4);
      fast->set_fast_path(false);
      EXPECT_TRUE(torch::equal(fast->forward(images), plain->forward(images)));
    }
}

// Stochastic depth in training: the fast forward draws the same per-sample masks in the same order
// as the plain one, also on the last block's class-token row ([B, D], where drop_path's mask is
// [B, 1]), so with one seed both give the same logits and gradients.
TEST(FastPath, FastForwardWithDropPathMatchesPlainOnCpu) {
  const auto reference = reference_ops();
  torch::manual_seed(17);
  auto o = fast_test_vit("peg").drop_path(0.5);
  vision::ViT plain(o), fast(o);
  share_redrawn_parameters(plain, fast);
  fast->set_fast_path(true, &reference);
  plain->train();
  fast->train();
  auto images = torch::randn({6, 3, 32, 32});
  torch::manual_seed(5);
  auto lp = plain->forward(images);
  torch::manual_seed(5);
  auto lf = fast->forward(images);
  EXPECT_LT(rel_err(lf, lp), 1e-5);
  torch::manual_seed(6);
  EXPECT_GT(rel_err(plain->forward(images), lp.detach()), 1e-3);  // the masks do change the logits
  lp.sum().backward();
  lf.sum().backward();
  expect_gradients_follow(plain, fast, 1e-4);
}

// The bf16 copy stands in for its master: forward reads the copy (no cast), backward delivers the
// float32 gradient to the master, refresh() follows the master's updates.
TEST(WeightCopies, CopyForwardMasterGradient) {
  torch::manual_seed(1);
  auto w = torch::randn({6, 4}).requires_grad_(true);
  auto b = torch::randn({6}).requires_grad_(true);
  auto other = torch::randn({3}).to(torch::kFloat64);  // not float32: left out
  core::WeightCopies copies({w, b, other}, torch::kBFloat16);
  EXPECT_EQ(copies.size(), 2u);
  EXPECT_FALSE(copies.get(other).defined());
  auto wc = copies.get(w);
  ASSERT_TRUE(wc.defined());
  EXPECT_EQ(wc.scalar_type(), torch::kBFloat16);
  EXPECT_TRUE(torch::equal(wc.detach(), w.detach().to(torch::kBFloat16)));
  auto x = torch::randn({5, 4}).to(torch::kBFloat16);
  auto y = torch::linear(x, wc, copies.get(b));
  auto g = torch::randn({5, 6});
  y.to(torch::kFloat32).backward(g);
  ASSERT_TRUE(w.grad().defined());
  EXPECT_EQ(w.grad().scalar_type(), torch::kFloat32);
  auto want = g.to(torch::kBFloat16).t().to(torch::kFloat32).matmul(x.to(torch::kFloat32));
  EXPECT_LT(rel_err(w.grad(), want), 1e-2);
  EXPECT_LT(rel_err(b.grad(), g.to(torch::kBFloat16).to(torch::kFloat32).sum(0)), 1e-2);
  {
    torch::NoGradGuard no_grad;
    w.add_(1.0);
  }
  EXPECT_FALSE(torch::equal(copies.get(w).detach(), w.detach().to(torch::kBFloat16)));
  copies.refresh();
  EXPECT_TRUE(torch::equal(copies.get(w).detach(), w.detach().to(torch::kBFloat16)));
}

// core::linear calls the linear hook only inside a FusedHooks::Scope (with the copies when a
// WeightCopies::Scope is open too); nesting restores the outer hooks.
TEST(FusedHooks, ScopeRoutesCoreLinear) {
  torch::nn::Linear lin(4, 3);
  core::WeightCopies copies({lin->weight, lin->bias}, torch::kBFloat16);
  auto x = torch::randn({2, 4});
  core::FusedHooks hooks, inner;
  hooks.linear = &reference_linear;
  reference_linear_calls = 0;
  EXPECT_TRUE(torch::equal(core::linear(lin, x), at::linear(x, lin->weight, lin->bias)));
  EXPECT_EQ(reference_linear_calls, 0);
  {
    core::FusedHooks::Scope use(hooks);
    EXPECT_EQ(core::FusedHooks::active(), &hooks);
    EXPECT_TRUE(torch::equal(core::linear(lin, x), at::linear(x, lin->weight, lin->bias)));
    EXPECT_EQ(reference_linear_calls, 1);
    {
      core::FusedHooks::Scope no_linear(inner);  // a Scope without a linear hook: at::linear
      core::linear(lin, x);
      EXPECT_EQ(reference_linear_calls, 1);
    }
    EXPECT_EQ(core::FusedHooks::active(), &hooks);
    core::WeightCopies::Scope use_copies(copies);
    EXPECT_EQ(core::linear(lin, x.to(torch::kBFloat16)).scalar_type(), torch::kBFloat16);  // the hook got the copies
    EXPECT_EQ(reference_linear_calls, 2);
  }
  EXPECT_EQ(core::FusedHooks::active(), nullptr);
}

// core::linear reads the copies only inside a Scope; the fast path on a CPU model is the plain
// forward (same values, bit for bit).
TEST(WeightCopies, ScopeRoutesCoreLinear) {
  torch::nn::Linear lin(4, 3);
  core::WeightCopies copies({lin->weight, lin->bias}, torch::kBFloat16);
  auto x = torch::randn({2, 4});
  EXPECT_EQ(core::linear(lin, x).scalar_type(), torch::kFloat32);
  {
    core::WeightCopies::Scope use(copies);
    EXPECT_EQ(core::WeightCopies::active(), &copies);
    auto y = core::linear(lin, x.to(torch::kBFloat16));
    EXPECT_EQ(y.scalar_type(), torch::kBFloat16);
  }
  EXPECT_EQ(core::WeightCopies::active(), nullptr);

  torch::manual_seed(4);
  vision::ViT plain(fast_test_vit("peg"));
  auto images = torch::randn({2, 3, 32, 32});
  auto before = plain->forward(images);
  const auto status = plain->set_fast_path(true);
  EXPECT_FALSE(status.empty());
  EXPECT_TRUE(torch::equal(plain->forward(images), before));
}

// Who holds the bf16 copies: nobody after set_fast_path; a CPU forward never makes them (they are
// read only on CUDA under bf16 autocast); hold_weight_copies makes them only with the fast path on,
// one bf16 copy of every Linear weight and bias.
TEST(WeightCopies, HeldOnlyWhenMadeOrTrainedOnCuda) {
  torch::manual_seed(5);
  vision::ViT model(fast_test_vit("peg"));
  model->hold_weight_copies();
  EXPECT_FALSE(model->holds_weight_copies());  // fast path off: nothing to read them
  model->set_fast_path(true);
  EXPECT_FALSE(model->holds_weight_copies());
  (void)model->forward(torch::randn({2, 3, 32, 32}));  // a CPU training forward
  EXPECT_FALSE(model->holds_weight_copies());
  model->hold_weight_copies();
  EXPECT_TRUE(model->holds_weight_copies());
  model->set_fast_path(false);
  EXPECT_FALSE(model->holds_weight_copies());
}
