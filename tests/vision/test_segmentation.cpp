// Zero-shot segmentation maps and the paper's metrics on hand-made cases.
#include <gtest/gtest.h>

#include <cmath>

#include "pesuite/core/error.h"
#include "pesuite/vision/segmentation.h"

using namespace pesuite;
using namespace pesuite::vision;

namespace {
torch::Tensor t2(std::vector<double> v, std::int64_t h, std::int64_t w) {
  return torch::tensor(v, torch::kFloat64).view({h, w});
}
double max_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}
}  // namespace

TEST(Segmentation, StepAveragePrecisionIsSklearns) {
  auto ap = [](std::vector<double> s, std::vector<int> y) {
    return step_average_precision(torch::tensor(s, torch::kFloat64), torch::tensor(y, torch::kInt32));
  };
  EXPECT_NEAR(ap({0.9, 0.8, 0.7, 0.6}, {1, 0, 1, 0}), 0.5 + 0.5 * 2.0 / 3.0, 1e-15);
  EXPECT_NEAR(ap({0.5, 0.5, 0.5, 0.1}, {1, 0, 1, 0}), 2.0 / 3.0, 1e-15);  // a tie is one threshold
  EXPECT_NEAR(ap({0.1, 0.2, 0.3}, {1, 1, 1}), 1.0, 1e-15);
  EXPECT_NEAR(ap({0.3, 0.2, 0.1}, {0, 0, 1}), 1.0 / 3.0, 1e-15);
  EXPECT_EQ(ap({0.3, 0.2}, {0, 0}), 0.0);  // no positive: sklearn's nan, the paper's nan_to_num
  EXPECT_THROW(step_average_precision(torch::ones({3}), torch::ones({2})), pesuite::core::InputError);
}

TEST(Segmentation, MeterOnAHandMadeCase) {
  // heatmap [[1, .5], [0, .2]] (mean .425): foreground predicted at the top row; mask: top left.
  SegmentationMeter m;
  m.add(t2({1, 0.5, 0, 0.2}, 2, 2), t2({1, 0, 0, 0}, 2, 2));
  EXPECT_EQ(m.correct, 3);
  EXPECT_EQ(m.labeled, 4);
  EXPECT_NEAR(m.pixel_accuracy(), 0.75, 1e-12);
  EXPECT_EQ(m.intersection[1], 1);  // foreground: 1 of a union of 2
  EXPECT_EQ(m.union_[1], 2);
  EXPECT_EQ(m.intersection[0], 2);  // background: 2 of 3
  EXPECT_EQ(m.union_[0], 3);
  EXPECT_NEAR(m.mean_iou(), (0.5 + 2.0 / 3.0) / 2, 1e-12);
  // AP over both channels: scores (1 - h, h) = (0, .5, 1, .8, 1, .5, 0, .2), labels (0, 1, 1, 1, 1, 0, 0, 0):
  // thresholds 1 (2 of 2 positive), .8 (3 of 3), .5 (4 of 5): .5 * 1 + .25 * 1 + .25 * .8.
  EXPECT_NEAR(m.mean_ap(), 0.95, 1e-12);
  // A second, perfect image; counts add up over the dataset, AP is averaged over images.
  m.add(t2({0, 1, 0, 0}, 2, 2), t2({0, 1, 0, 0}, 2, 2));
  EXPECT_EQ(m.images(), 2);
  EXPECT_NEAR(m.pixel_accuracy(), 7.0 / 8, 1e-12);
  EXPECT_NEAR(m.mean_iou(), (5.0 / 6 + 2.0 / 3) / 2, 1e-12);
  EXPECT_NEAR(m.mean_ap(), (0.95 + 1.0) / 2, 1e-12);
  // An explicit threshold.
  SegmentationMeter t;
  t.add(t2({1, 0.5, 0, 0.2}, 2, 2), t2({1, 0, 0, 0}, 2, 2), 0.6);
  EXPECT_EQ(t.correct, 4);
  EXPECT_THROW(t.add(torch::zeros({2, 2}), torch::zeros({2, 3})), pesuite::core::InputError);
}

TEST(Segmentation, ConstantMapsAreNaNAndScoredAsThePaper) {
  auto n = normalize_heatmap(t2({-1, 1, 3, 1}, 2, 2));
  EXPECT_LT(max_diff(n, t2({0, 1.0 / 3, 1, 1.0 / 3}, 2, 2)), 1e-15);
  auto c = normalize_heatmap(torch::stack({t2({-2, -1, -3, -1}, 2, 2), t2({0, 2, 4, 6}, 2, 2)}));
  EXPECT_TRUE(torch::isnan(c[0]).all().item<bool>());  // clipped to all zeros: 0 / 0
  EXPECT_LT(max_diff(c[1], t2({0, 1.0 / 3, 2.0 / 3, 1}, 2, 2)), 1e-15);
  SegmentationMeter m;
  m.add(c[0], t2({1, 0, 0, 0}, 2, 2));
  EXPECT_EQ(m.correct, 3);                 // everything background
  EXPECT_NEAR(m.mean_ap(), 0.5, 1e-12);    // all scores 0: AP = share of positives
}

TEST(Segmentation, UpsamplingIsBilinearWithoutAlignedCorners) {
  auto up = upsample_heatmap(torch::tensor({0.0, 1.0}, torch::kFloat64).view({1, 1, 2}), 1, 4);
  EXPECT_LT(max_diff(up, torch::tensor({0.0, 0.25, 0.75, 1.0}, torch::kFloat64).view({1, 1, 4})), 1e-15);
  EXPECT_THROW(upsample_heatmap(torch::zeros({2, 2}), 4, 4), pesuite::core::InputError);
}

TEST(Segmentation, AttentionRolloutByHand) {
  // One layer, N = 4 tokens (class + 1 x 3 patches).
  auto layout = heads::TokenLayout::grid(1, 3, 1);
  auto p = torch::full({1, 2, 4, 4}, 0.25, torch::kFloat64);
  p[0][0][0] = torch::tensor({0.1, 0.2, 0.3, 0.4}, torch::kFloat64);
  p[0][1][0] = torch::tensor({0.1, 0.2, 0.3, 0.4}, torch::kFloat64);
  auto r0 = attention_rollout({p}, layout, 0.0);
  EXPECT_LT(max_diff(r0, torch::tensor({0.2, 0.3, 0.4}, torch::kFloat64).view({1, 1, 3})), 1e-15);
  auto r5 = attention_rollout({p}, layout, 0.5);  // 0.5 I + 0.5 P: class row (.55, .1, .15, .2)
  EXPECT_LT(max_diff(r5, torch::tensor({0.1, 0.15, 0.2}, torch::kFloat64).view({1, 1, 3})), 1e-15);
  // Two layers multiply: rollout = A2 A1.
  auto q = torch::softmax(torch::randn({1, 2, 4, 4}, torch::kFloat64), -1);
  auto a1 = 0.5 * torch::eye(4, torch::kFloat64) + 0.5 * p[0].mean(0);
  auto a2 = 0.5 * torch::eye(4, torch::kFloat64) + 0.5 * q[0].mean(0);
  auto expected = torch::matmul(a2, a1)[0].narrow(0, 1, 3).view({1, 1, 3});
  EXPECT_LT(max_diff(attention_rollout({p, q}, layout), expected), 1e-15);
  EXPECT_THROW(attention_rollout({}, layout), pesuite::core::InputError);
  EXPECT_THROW(attention_rollout({p}, heads::TokenLayout::grid(2, 2, 1)), pesuite::core::InputError);
}

TEST(Segmentation, DecompositionHeatmapByHand) {
  // B = 1, two layers, class token + 2 x 2 patches, one head, E = 2.
  heads::Decomposition d;
  d.tokens = torch::zeros({1, 2, 5, 1, 2}, torch::kFloat64);
  for (std::int64_t m = 0; m < 5; ++m) {
    d.tokens[0][0][m][0] = torch::tensor({1.0 * m, 0.0}, torch::kFloat64);  // layer 0: x = m
    d.tokens[0][1][m][0] = torch::tensor({0.0, 2.0 * m}, torch::kFloat64);  // layer 1: y = 2m
  }
  auto classes = torch::tensor({0}, torch::kInt64);
  auto embeds = torch::tensor({1.0, 0.0, 0.0, 1.0}, torch::kFloat64).view({2, 2});
  const auto layout = heads::TokenLayout::grid(2, 2, 1);
  // direction (1, 0) - (.5, .5) = (.5, -.5): map = .5 (x - y) = -.5 m for patch m = 1..4.
  auto all = decomposition_heatmap(d, embeds, classes, layout);
  EXPECT_LT(max_diff(all, torch::tensor({-0.5, -1.0, -1.5, -2.0}, torch::kFloat64).view({1, 2, 2})), 1e-15);
  auto first = decomposition_heatmap(d, embeds, classes, layout, {0});
  EXPECT_LT(max_diff(first, torch::tensor({0.5, 1.0, 1.5, 2.0}, torch::kFloat64).view({1, 2, 2})), 1e-15);
  EXPECT_THROW(decomposition_heatmap(d, embeds, classes, layout, {2}), pesuite::core::InputError);
  EXPECT_THROW(decomposition_heatmap(d, embeds, torch::tensor({2}, torch::kInt64), layout), pesuite::core::InputError);
  EXPECT_THROW(decomposition_heatmap(d, embeds, classes, heads::TokenLayout::grid(3, 3, 1)), pesuite::core::InputError);
  EXPECT_EQ(zero_shot_classify(torch::tensor({0.2, 0.9}, torch::kFloat64).view({1, 2}), embeds).item<std::int64_t>(), 1);
  // (image, class) pairs: image 0 with class 0, then with class 1 (direction (-.5, .5): map = .5 m).
  auto pairs = decomposition_heatmaps(d, embeds, torch::tensor({0, 0}, torch::kInt64), torch::tensor({0, 1}, torch::kInt64), layout);
  EXPECT_LT(max_diff(pairs, torch::tensor({-0.5, -1.0, -1.5, -2.0, 0.5, 1.0, 1.5, 2.0}, torch::kFloat64).view({2, 2, 2})), 1e-15);
  EXPECT_THROW(decomposition_heatmaps(d, embeds, torch::tensor({1}, torch::kInt64), classes, layout), pesuite::core::InputError);
  EXPECT_THROW(decomposition_heatmaps(d, embeds, torch::tensor({0, 0}, torch::kInt64), classes, layout), pesuite::core::InputError);
}

// Ignored pixels (COCO's crowd regions) count for neither class; the threshold stays the whole
// map's mean. Map (.9, .1, .8, .2), mean .5: predicted (1, 0, 1, 0); mask (1, 0, 0, 1); pixel 2
// ignored. Scored: predicted (1, 0, 0) against (1, 0, 1): 2 of 3 correct, IoU 1/2 for both classes;
// AP over (1 - map, background) and (map, foreground) of the 3 pixels: scores .9, .9 (both
// positive), .8, .2 (positive), .1, .1: 2/3 x 1 + 1/3 x 3/4 = 11/12.
TEST(Segmentation, IgnoredPixelsAreScoredAsNeither) {
  SegmentationMeter m;
  m.add(t2({0.9, 0.1, 0.8, 0.2}, 2, 2), t2({1, 0, 0, 1}, 2, 2), -1.0, t2({0, 0, 1, 0}, 2, 2));
  EXPECT_EQ(m.correct, 2);
  EXPECT_EQ(m.labeled, 3);
  EXPECT_NEAR(m.mean_iou(), 0.5, 1e-12);
  EXPECT_NEAR(m.mean_ap(), 11.0 / 12.0, 1e-12);
  SegmentationMeter all;  // nothing ignored: the plain scoring
  all.add(t2({0.9, 0.1, 0.8, 0.2}, 2, 2), t2({1, 0, 0, 1}, 2, 2), -1.0, t2({0, 0, 0, 0}, 2, 2));
  SegmentationMeter plain;
  plain.add(t2({0.9, 0.1, 0.8, 0.2}, 2, 2), t2({1, 0, 0, 1}, 2, 2));
  EXPECT_EQ(all.correct, plain.correct);
  EXPECT_EQ(all.mean_ap(), plain.mean_ap());
  EXPECT_THROW(m.add(t2({0.9, 0.1, 0.8, 0.2}, 2, 2), t2({1, 0, 0, 1}, 2, 2), -1.0, torch::zeros({3})), pesuite::core::InputError);
}
