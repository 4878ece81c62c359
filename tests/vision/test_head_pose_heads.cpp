// Head-pose heads (vision/head_pose_heads.h): exact geometry (Gram-Schmidt, geodesic angle, the
// Euler convention of datasets/euler.h), Hopenet's bins and expectation, wrapped errors, the flip,
// and every backbone x head building, running and reaching finite gradients.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <set>

#include "pesuite/core/error.h"
#include "pesuite/datasets/euler.h"
#include "pesuite/vision/head_pose_heads.h"

using namespace pesuite;
using namespace pesuite::vision;

namespace {

constexpr double kPi = 3.14159265358979323846;

torch::Tensor to_tensor(const datasets::Matrix3& m) {
  auto t = torch::empty({3, 3}, torch::kFloat64);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) t[i][j] = m[i][j];
  return t;
}

void expect_finite_grads(torch::nn::Module& m, const std::string& what) {
  int with_grad = 0;
  for (const auto& p : m.named_parameters()) {
    if (!p.value().grad().defined()) continue;
    ++with_grad;
    EXPECT_TRUE(torch::isfinite(p.value().grad()).all().item<bool>()) << what << ": " << p.key();
  }
  EXPECT_GT(with_grad, 0) << what;
}

}  // namespace

TEST(HeadPoseHeads, GramSchmidtIsARotation) {
  torch::manual_seed(0);
  auto v = torch::randn({64, 6}, torch::kFloat64);
  auto r = rotation_from_6d(v);
  auto eye = torch::eye(3, torch::kFloat64).expand({64, 3, 3});
  EXPECT_LT((torch::matmul(r.transpose(1, 2), r) - eye).abs().max().item<double>(), 1e-12);
  EXPECT_LT((torch::linalg_det(r) - 1).abs().max().item<double>(), 1e-12);
  // The first column is the normalised first 3-vector; the second lies in the span of both inputs.
  auto x = v.slice(1, 0, 3) / v.slice(1, 0, 3).norm(2, 1, true);
  EXPECT_LT((r.select(2, 0) - x).abs().max().item<double>(), 1e-12);
  auto n = torch::cross(v.slice(1, 0, 3), v.slice(1, 3, 6), 1);
  EXPECT_LT((r.select(2, 1) * n).sum(1).abs().max().item<double>(), 1e-9);
  // 6D of a rotation's first two columns gives the rotation back.
  auto r0 = rotation_from_euler(torch::tensor({{30.0, -20.0, 10.0}}, torch::kFloat64));
  auto six = torch::cat({r0.select(2, 0), r0.select(2, 1)}, 1);
  EXPECT_LT((rotation_from_6d(six) - r0).abs().max().item<double>(), 1e-12);
}

TEST(HeadPoseHeads, GeodesicAngleIsTheClosedForm) {
  // Rotations about one axis by a and b are (a - b) apart; a general pair: acos((tr - 1) / 2) of A^T B.
  for (double a : {0.3, 1.0, 2.5}) {
    for (double b : {-0.4, 0.0, 0.2}) {
      auto ra = rotation_from_euler(torch::tensor({{0.0, 0.0, a * 180 / kPi}}, torch::kFloat64));
      auto rb = rotation_from_euler(torch::tensor({{0.0, 0.0, b * 180 / kPi}}, torch::kFloat64));
      EXPECT_NEAR(geodesic_angle(ra, rb).item<double>(), std::abs(a - b), 1e-6) << a << " " << b;
      EXPECT_NEAR(geodesic_degrees(ra, rb).item<double>(), std::abs(a - b) * 180 / kPi, 1e-4);
    }
  }
  const datasets::Matrix3 p = datasets::rotation_from_euler({40, -15, 25}), q = datasets::rotation_from_euler({-10, 30, 5});
  auto tp = to_tensor(p).unsqueeze(0), tq = to_tensor(q).unsqueeze(0);
  EXPECT_NEAR(geodesic_angle(tp, tq).item<double>() * 180 / kPi, datasets::geodesic_degrees(p, q), 1e-5);
  // The loss is the batch mean; equal rotations give acos(1 - eps) (6DRepNet's clamp), not 0.
  EXPECT_NEAR(geodesic_loss(torch::cat({tp, tp}), torch::cat({tq, tp})).item<double>(),
              (datasets::geodesic_degrees(p, q) * kPi / 180 + std::acos(1 - 1e-7)) / 2, 1e-6);
}

TEST(HeadPoseHeads, EulerConventionMatchesTheDatasets) {
  std::mt19937_64 rng(1);
  std::uniform_real_distribution<double> yaw(-89, 89), other(-80, 80), full(-179, 179);
  for (int i = 0; i < 200; ++i) {
    const bool full_range = i % 2;
    const datasets::EulerAngles e{full_range ? full(rng) : yaw(rng), other(rng), other(rng)};
    auto t = torch::tensor({{e.yaw, e.pitch, e.roll}}, torch::kFloat64);
    const auto r = datasets::rotation_from_euler(e);
    EXPECT_LT((rotation_from_euler(t)[0] - to_tensor(r)).abs().max().item<double>(), 1e-12);
    const auto back = datasets::euler_from_rotation(r, full_range);
    auto ours = euler_from_rotation(to_tensor(r).unsqueeze(0), full_range)[0];
    EXPECT_NEAR(ours[0].item<double>(), back.yaw, 1e-9);
    EXPECT_NEAR(ours[1].item<double>(), back.pitch, 1e-9);
    EXPECT_NEAR(ours[2].item<double>(), back.roll, 1e-9);
    EXPECT_LT(wrapped_abs_error(ours, t[0]).max().item<double>(), 1e-7) << e.yaw << " " << e.pitch << " " << e.roll;
  }
}

TEST(HeadPoseHeads, FlipNegatesYawAndRollAndConjugatesTheRotation) {
  auto a = torch::tensor({{30.0, -20.0, 10.0}, {-170.0, 45.0, -5.0}}, torch::kFloat64);
  auto f = flip_pose(a);
  EXPECT_TRUE(torch::equal(f, torch::tensor({{-30.0, -20.0, -10.0}, {170.0, 45.0, 5.0}}, torch::kFloat64)));
  // F R(a) F = R(flip(a)), F = diag(-1, 1, 1): the image flip as a rotation.
  EXPECT_LT((flip_rotation(rotation_from_euler(a)) - rotation_from_euler(f)).abs().max().item<double>(), 1e-12);
  const auto d = datasets::flip_angles({30, -20, 10});
  EXPECT_EQ(f[0][0].item<double>(), d.yaw);
  EXPECT_EQ(f[0][2].item<double>(), d.roll);
}

TEST(HeadPoseHeads, HopenetBinsAndExpectation) {
  // numpy.digitize(x, range(-99, 102, 3)) - 1
  auto bins = hopenet_bins(torch::tensor({-99.0, -98.9, -96.0, -0.5, 0.0, 2.99, 3.0, 98.9, 99.0, 150.0, -150.0}));
  EXPECT_EQ(std::vector<std::int64_t>(bins.data_ptr<std::int64_t>(), bins.data_ptr<std::int64_t>() + bins.numel()),
            (std::vector<std::int64_t>{0, 0, 1, 32, 33, 33, 34, 65, 65, 65, 0}));
  // A one-hot (very peaked) softmax at bin i decodes to i * 3 - 99, the value the released code
  // assigns that bin; a peak symmetric about bin i too.
  for (std::int64_t i : {0, 10, 33, 65}) {
    auto logits = torch::full({1, kHopenetBins}, -1e4);
    logits[0][i] = 0;
    EXPECT_NEAR(hopenet_expectation(logits).item<double>(), i * 3.0 - 99, 1e-4) << i;
    if (i > 0 && i < 65) {
      auto sym = torch::full({1, kHopenetBins}, -1e4);
      sym[0][i] = 2;
      sym[0][i - 1] = sym[0][i + 1] = 1;
      EXPECT_NEAR(hopenet_expectation(sym).item<double>(), i * 3.0 - 99, 1e-4) << i;
    }
  }
  // Uniform softmax: the mean index 32.5 -> -1.5.
  EXPECT_NEAR(hopenet_expectation(torch::zeros({1, kHopenetBins})).item<double>(), -1.5, 1e-5);
}

TEST(HeadPoseHeads, HopenetLossIsCrossEntropyPlusAlphaMse) {
  torch::manual_seed(2);
  auto logits = torch::randn({4, 3, kHopenetBins}, torch::kFloat32);
  auto targets = torch::tensor({{10.0f, -20.0f, 5.0f}, {-60.0f, 30.0f, 0.0f}, {85.0f, -5.0f, -40.0f}, {0.0f, 0.0f, 0.0f}});
  const double alpha = 2;
  double ce = 0, mse = 0;  // naive: per angle, per sample
  for (int a = 0; a < 3; ++a) {
    for (int b = 0; b < 4; ++b) {
      const double t = targets[b][a].item<double>();
      const auto bin = static_cast<std::int64_t>(std::floor((t + 99) / 3));
      auto l = logits[b][a].to(torch::kFloat64);
      ce += (torch::logsumexp(l, 0) - l[bin]).item<double>() / 4;
      auto p = torch::softmax(l, 0);
      double e = 0;
      for (int k = 0; k < kHopenetBins; ++k) e += p[k].item<double>() * k;
      mse += std::pow(e * 3 - 99 - t, 2) / 4;
    }
  }
  const auto l = hopenet_loss(logits, targets, alpha);
  EXPECT_NEAR(l.parts.at("ce").item<double>(), ce, 1e-4);
  EXPECT_NEAR(l.parts.at("mse").item<double>(), mse, 1e-3 * mse);
  EXPECT_NEAR(l.total.item<double>(), ce + alpha * mse, 1e-3 * mse);
}

// A 0/1 face mask gives the sum of the kept faces' losses over the whole batch's size (what the
// semi-supervised step needs with the batch's shape unchanged), for every head; weights 1 give
// the plain loss.
TEST(HeadPoseHeads, FaceWeightsMaskTheBatchWithoutChangingItsShape) {
  torch::manual_seed(3);
  const auto targets = torch::tensor({{10.0f, -20.0f, 5.0f}, {-60.0f, 30.0f, -15.0f}, {80.0f, 0.0f, 40.0f}, {-5.0f, 45.0f, -70.0f}});
  const auto keep = torch::tensor({1.0f, 0.0f, 1.0f, 1.0f});
  const auto kept = torch::tensor({0, 2, 3}, torch::kInt64);
  for (const std::string head : {"hopenet", "6d", "fullrange"}) {
    HeadPoseNet net(HeadPoseOptions().backbone("resnet18").head(head));
    const auto raw = net->forward(torch::randn({4, 3, 64, 64})).detach();
    const double masked = net->loss(raw, targets, keep).total.item<double>();
    const double on_kept = net->loss(raw.index_select(0, kept), targets.index_select(0, kept)).total.item<double>();
    EXPECT_NEAR(masked, on_kept * 3 / 4, 1e-5 * std::abs(on_kept)) << head;
    EXPECT_NEAR(net->loss(raw, targets, torch::ones({4})).total.item<double>(), net->loss(raw, targets).total.item<double>(),
                1e-5 * std::abs(on_kept))
        << head;
    EXPECT_THROW(net->loss(raw, targets, torch::ones({3})), core::InputError) << head;
  }
}

TEST(HeadPoseHeads, WrappedErrors) {
  EXPECT_NEAR(wrapped_abs_error(torch::tensor({179.0}), torch::tensor({-179.0})).item<double>(), 2, 1e-12);
  EXPECT_NEAR(wrapped_abs_error(torch::tensor({-179.0}), torch::tensor({179.0})).item<double>(), 2, 1e-12);
  EXPECT_NEAR(wrapped_abs_error(torch::tensor({10.0}), torch::tensor({-30.0})).item<double>(), 40, 1e-12);
  EXPECT_NEAR(wrapped_abs_error(torch::tensor({0.0}), torch::tensor({180.0})).item<double>(), 180, 1e-12);
  auto w = wrap_degrees(torch::tensor({180.0, -180.0, 540.0, -190.0, 359.0}));
  EXPECT_TRUE(torch::allclose(w, torch::tensor({-180.0, -180.0, -180.0, 170.0, -1.0})));
}

TEST(HeadPoseHeads, FullRangeHeadDecodesAndItsLossIsTheChord) {
  HeadPoseNet net(HeadPoseOptions().backbone("resnet18").head("fullrange"));
  // raw (sin, cos, pitch / 90, roll / 90)
  const double y = 170 * kPi / 180;
  auto raw = torch::tensor({{static_cast<float>(3 * std::sin(y)), static_cast<float>(3 * std::cos(y)), 0.5f, -0.25f}});
  auto a = net->angles(raw);
  EXPECT_NEAR(a[0][0].item<double>(), 170, 1e-4);
  EXPECT_NEAR(a[0][1].item<double>(), 45, 1e-4);
  EXPECT_NEAR(a[0][2].item<double>(), -22.5, 1e-4);
  // Target yaw -170 (20 degrees away across the wrap), pitch / roll exact: loss = 2 - 2 cos(20 deg).
  auto l = net->loss(raw, torch::tensor({{-170.0f, 45.0f, -22.5f}}));
  EXPECT_NEAR(l.total.item<double>(), 2 - 2 * std::cos(20 * kPi / 180), 1e-5);
}

TEST(HeadPoseHeads, EveryBackboneAndHeadTrains) {
  struct Case {
    std::string backbone, pe;
    std::int64_t size;
  };
  // ResNets at 64 px; ViT presets narrowed (dim 32, 2 blocks) at two patch grids, learned table and PEG.
  const std::vector<Case> cases{{"resnet18", "", 64}, {"resnet50", "", 64}, {"deit_tiny_patch16", "learned", 64},
                                {"cpvt_tiny", "peg", 64}, {"cpvt_gap_tiny", "peg", 48}, {"deit_tiny_patch16", "rope2d", 48}};
  for (const auto& c : cases) {
    for (const auto& head : head_pose_head_names()) {
      torch::manual_seed(0);
      auto o = HeadPoseOptions().backbone(c.backbone).head(head).alpha(1).img_size(c.size).pe(c.pe);
      if (!is_resnet_backbone(c.backbone)) o.dim(32).depth(2).heads(2);
      HeadPoseNet net(o);
      auto raw = net(torch::randn({2, 3, c.size, c.size}));
      const std::string what = c.backbone + "+" + c.pe + " " + head;
      auto l = net->loss(raw, torch::tensor({{20.0f, -10.0f, 5.0f}, {-60.0f, 30.0f, -15.0f}}));
      ASSERT_TRUE(std::isfinite(l.total.item<double>())) << what;
      l.total.backward();
      expect_finite_grads(*net, what);
      auto a = net->angles(raw.detach());
      ASSERT_EQ(a.sizes(), (std::vector<std::int64_t>{2, 3})) << what;
      auto r = net->rotation(raw.detach());
      EXPECT_LT((torch::linalg_det(r) - 1).abs().max().item<double>(), 1e-4) << what;
    }
  }
  // Hopenet with a ResNet keeps the released checkpoint's names.
  HeadPoseNet h(HeadPoseOptions().backbone("resnet50").head("hopenet"));
  std::set<std::string> names;
  for (const auto& p : h->named_parameters()) names.insert(p.key());
  for (const char* n : {"conv1.weight", "bn1.weight", "layer1.0.conv1.weight", "layer4.2.bn3.bias", "fc_yaw.weight", "fc_pitch.bias",
                        "fc_roll.weight"})
    EXPECT_TRUE(names.count(n)) << n;
  EXPECT_FALSE(names.count("fc.weight"));
}
