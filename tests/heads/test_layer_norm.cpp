// heads::layer_norm: the column-sum backward gives LibTorch's LayerNorm values and gradients.
#include <gtest/gtest.h>

#include "heads_test_util.h"
#include "pesuite/heads/layer_norm.h"

using namespace pesuite;

namespace {

struct Grads {
  torch::Tensor y, dx, dw, db;
};

Grads run(torch::nn::LayerNorm& ln, const torch::Tensor& x0, const torch::Tensor& dy, bool column) {
  ln->zero_grad();
  auto x = x0.detach().clone().requires_grad_(true);
  auto y = column ? heads::layer_norm(ln, x, /*force_column_grads=*/true) : ln->forward(x);
  y.backward(dy);
  return {y.detach(), x.grad(), ln->weight.grad().clone(), ln->bias.grad().clone()};
}

}  // namespace

TEST(LayerNorm, ColumnGradsMatchLibTorch) {
  const auto dev = test::device();
  torch::manual_seed(0);
  // The tall shapes take the segmented product with a remainder (15000 rows = 7 x 2142 + 6; 4099 = 2 x 2049 + 1).
  for (const auto& shape : {std::vector<std::int64_t>{4, 7, 24}, {3, 192}, {2, 5, 3, 16}, {5000, 3, 8}, {4099, 12}}) {
    const auto d = shape.back();
    torch::nn::LayerNorm ln(torch::nn::LayerNormOptions({d}).eps(1e-6));
    ln->to(dev);
    {
      torch::NoGradGuard g;  // non-trivial affine parameters
      ln->weight.normal_(1.0, 0.3);
      ln->bias.normal_(0.0, 0.3);
    }
    const auto opts = torch::TensorOptions().device(dev).dtype(torch::kFloat64);
    ln->to(torch::kFloat64);
    auto x = torch::randn(shape, opts) * 3 + 1, dy = torch::randn(shape, opts);
    const auto ref = run(ln, x, dy, false), ours = run(ln, x, dy, true);
    EXPECT_TRUE(torch::allclose(ours.y, ref.y, 1e-12, 1e-12));
    EXPECT_TRUE(torch::allclose(ours.dx, ref.dx, 1e-10, 1e-12));
    EXPECT_TRUE(torch::allclose(ours.dw, ref.dw, 1e-10, 1e-12)) << (ours.dw - ref.dw).abs().max();
    EXPECT_TRUE(torch::allclose(ours.db, ref.db, 1e-10, 1e-12));
    // Closed form for the bias: the column sums of dy.
    EXPECT_TRUE(torch::allclose(ours.db, dy.reshape({-1, d}).sum(0), 1e-12, 1e-12));
  }
}

TEST(LayerNorm, PlainPathOffCudaIsLibTorchsOwn) {
  torch::nn::LayerNorm ln(torch::nn::LayerNormOptions({8}));
  auto x = torch::randn({5, 8});
  // On CPU (not forced) the call is ln->forward itself: bit-identical.
  EXPECT_TRUE(torch::equal(heads::layer_norm(ln, x), ln->forward(x)));
  // A lower-precision input is normalised in float32, as autocast does, with the input's gradient dtype.
  auto xd = torch::randn({5, 8}, torch::kFloat64).requires_grad_(true);
  auto y = heads::layer_norm_column_grads(xd, ln->weight, ln->bias, 1e-5);
  EXPECT_EQ(y.scalar_type(), torch::kFloat32);
  y.sum().backward();
  EXPECT_EQ(xd.grad().scalar_type(), torch::kFloat64);
}
