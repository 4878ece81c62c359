// Classification pieces: average precision against a hand-computed example, top-k, soft targets,
// and mixup / cutmix (targets still sum to 1, the batch is a function of the seed).
#include <gtest/gtest.h>

#include <cmath>

#include "pesuite/core/error.h"
#include "pesuite/vision/classification.h"

using namespace pesuite;
using namespace pesuite::vision;

TEST(Classification, AveragePrecisionByHand) {
  // Ranked: + - + - - +  (3 positives). Precision at each rank 1, 1/2, 2/3, 2/4, 2/5, 3/6; made
  // monotone from the right: 1, 2/3, 2/3, 1/2, 1/2, 1/2. Recall rises at ranks 1, 3, 6 by 1/3 each:
  // AP = 1/3 (1 + 2/3 + 1/2) = 13/18.
  auto scores = torch::tensor({0.9, 0.8, 0.7, 0.6, 0.5, 0.4});
  auto targets = torch::tensor({1., 0., 1., 0., 0., 1.});
  EXPECT_NEAR(average_precision(scores, targets), 13.0 / 18.0, 1e-12);
  // Order of the input does not matter, only the ranking.
  auto perm = torch::tensor({3, 0, 5, 1, 4, 2});
  EXPECT_NEAR(average_precision(scores.index_select(0, perm), targets.index_select(0, perm)), 13.0 / 18.0, 1e-12);
  // An ignored entry (-1, VOC "difficult") is left out even at the top of the ranking.
  EXPECT_NEAR(average_precision(torch::tensor({0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4}), torch::tensor({-1., 1., 0., 1., 0., 0., 1.})),
              13.0 / 18.0, 1e-12);
  EXPECT_TRUE(std::isnan(average_precision(torch::tensor({0.3, 0.2}), torch::tensor({0., 0.}))));

  // mAP: class 0 as above, class 1 ranked perfectly (AP 1), class 2 without positives (left out).
  auto s = torch::stack({scores, torch::tensor({0.1, 0.2, 0.3, 0.9, 0.8, 0.0}), scores}, 1);
  auto t = torch::stack({targets, torch::tensor({0., 0., 0., 1., 1., 0.}), torch::zeros_like(targets)}, 1);
  MapResult r = mean_average_precision(s, t);
  ASSERT_EQ(r.per_class.size(), 3u);
  EXPECT_NEAR(r.per_class[1], 1.0, 1e-12);
  EXPECT_TRUE(std::isnan(r.per_class[2]));
  EXPECT_NEAR(r.map, (13.0 / 18.0 + 1.0) / 2.0, 1e-12);
  EXPECT_THROW(mean_average_precision(s, t.slice(1, 0, 2)), pesuite::core::InputError);
}

TEST(Classification, AveragePrecisionWithTiesByHand) {
  // Scores 0.9 0.8 0.8 0.7 0.5 0.5 with targets + (- +) - (+ -): 3 positives. Thresholds (a tie is
  // one): >= 0.9: 1 of 1, recall 1/3; >= 0.8: 2 of 3, recall 2/3; >= 0.7: 2 of 4, recall 2/3;
  // >= 0.5: 3 of 6, recall 1. Precision made monotone from the right: 1, 2/3, 1/2, 1/2.
  // AP = 1/3 * 1 + 1/3 * 2/3 + 0 * 1/2 + 1/3 * 1/2 = 13/18.
  const auto scores = torch::tensor({0.9, 0.8, 0.8, 0.7, 0.5, 0.5});
  const auto targets = torch::tensor({1., 0., 1., 0., 1., 0.});
  EXPECT_NEAR(average_precision(scores, targets), 13.0 / 18.0, 1e-12);
  // Inside a tie the order does not matter: the positive first would have given 5/6 with a
  // stable sort (precision 1 at recall 2/3).
  const auto swapped = torch::tensor({1., 1., 0., 0., 0., 1.});  // + (+ -) - (- +)
  EXPECT_NEAR(average_precision(scores, swapped), 13.0 / 18.0, 1e-12);
  // Every score tied: one threshold, precision = prevalence. 2 positives of 5: AP = 2/5.
  EXPECT_NEAR(average_precision(torch::full({5}, 0.3), torch::tensor({0., 1., 0., 1., 0.})), 0.4, 1e-12);
  // mAP over two classes of the same scores: class 0 as above (13/18), class 1 all tied at the top
  // with one positive among the first three entries, then the rest: scores 1 1 1 0 0 0, targets
  // 0 0 1 0 0 0 -> one threshold holds the positive at precision 1/3, recall 1: AP 1/3.
  const auto s2 = torch::stack({scores, torch::tensor({1., 1., 1., 0., 0., 0.})}, 1);
  const auto t2 = torch::stack({targets, torch::tensor({0., 0., 1., 0., 0., 0.})}, 1);
  const MapResult r = mean_average_precision(s2, t2);
  EXPECT_NEAR(r.per_class[1], 1.0 / 3.0, 1e-12);
  EXPECT_NEAR(r.map, (13.0 / 18.0 + 1.0 / 3.0) / 2.0, 1e-12);
  // Row order of the whole set does not matter either.
  const auto perm = torch::tensor({5, 2, 4, 0, 3, 1});
  EXPECT_NEAR(mean_average_precision(s2.index_select(0, perm), t2.index_select(0, perm)).map, r.map, 1e-12);
}

TEST(Classification, MeanAveragePrecisionWithIgnoreMaskByHand) {
  // Ignoring an entry takes it out of its class's ranking (VOC's "difficult"), checked by hand.
  // Class 0 ranks rows 0..4 as + - - + -; ignoring row 1 leaves + - + -: precision 1, 1/2, 2/3, 1/2,
  // monotone from the right 1, 2/3, 2/3, 1/2; recall rises by 1/2 at ranks 1 and 3: AP = 5/6.
  // Without the mask: precision 1, 1/2, 1/3, 1/2, 2/5 -> monotone 1, 1/2, 1/2, 1/2, 2/5: AP = 3/4.
  // Class 1 ranks rows 1, 2, 3, 4, 0 as + - - + -; ignoring row 3 gives + - + -: the same 5/6 and 3/4.
  // Class 2: every score ties (one threshold: all five enter the ranking together); its only
  // positive, row 2, is ignored: NaN, left out of the mean; without the mask the one threshold has
  // recall 1 at precision 1/5: AP = 1/5 (not 1/3, which the input order would give).
  auto s = torch::tensor({{0.9, 0.1, 0.5}, {0.8, 0.9, 0.5}, {0.7, 0.8, 0.5}, {0.6, 0.7, 0.5}, {0.5, 0.6, 0.5}});
  auto t = torch::tensor({{1., 0., 0.}, {0., 1., 0.}, {0., 0., 1.}, {1., 0., 0.}, {0., 1., 0.}});
  auto ignore = torch::zeros({5, 3}, torch::kBool);
  ignore[1][0] = true;
  ignore[3][1] = true;
  ignore[2][2] = true;
  MapResult r = mean_average_precision(s, t, ignore);
  ASSERT_EQ(r.per_class.size(), 3u);
  EXPECT_NEAR(r.per_class[0], 5.0 / 6.0, 1e-12);
  EXPECT_NEAR(r.per_class[1], 5.0 / 6.0, 1e-12);
  EXPECT_TRUE(std::isnan(r.per_class[2]));
  EXPECT_NEAR(r.map, 5.0 / 6.0, 1e-12);
  MapResult plain = mean_average_precision(s, t);
  EXPECT_NEAR(plain.per_class[0], 3.0 / 4.0, 1e-12);
  EXPECT_NEAR(plain.per_class[1], 3.0 / 4.0, 1e-12);
  EXPECT_NEAR(plain.per_class[2], 1.0 / 5.0, 1e-12);
  // The mask is the same as -1 targets.
  EXPECT_EQ(mean_average_precision(s, torch::where(ignore, torch::full_like(t, -1.0), t)).per_class[0], r.per_class[0]);
  EXPECT_THROW(mean_average_precision(s, t, ignore.slice(0, 0, 4)), pesuite::core::InputError);
}

TEST(Classification, TopKAndSoftTargets) {
  auto logits = torch::tensor({{0.1, 0.5, 0.2, 0.9}, {2.0, 0.0, 1.0, -1.0}});
  auto labels = torch::tensor({2, 1}, torch::kLong);
  EXPECT_EQ(topk_correct(logits, labels, 1).sum().item<int64_t>(), 0);
  EXPECT_TRUE(topk_correct(logits, labels, 3)[0].item<bool>());   // 0.2 is third of row 0
  EXPECT_FALSE(topk_correct(logits, labels, 2)[1].item<bool>());  // 0.0 is third of row 1
  EXPECT_EQ(topk_correct(logits, labels, 5).sum().item<int64_t>(), 2);  // k capped at 4 classes

  auto t = smooth_one_hot(labels, 4, 0.1);
  EXPECT_TRUE(torch::allclose(t.sum(1), torch::ones({2})));
  EXPECT_NEAR(t[0][2].item<double>(), 0.9 + 0.025, 1e-6);
  const double e = 0.1;
  auto expected = (1 - e) * torch::nn::functional::cross_entropy(logits, labels) - e * torch::log_softmax(logits, 1).mean(1).mean();
  EXPECT_NEAR(soft_cross_entropy(logits, t).item<double>(), expected.item<double>(), 1e-6);

  // Multi-label BCE ignores entries of -1.
  auto ml = torch::tensor({{1., 0., -1.}, {0., 1., 1.}});
  auto lg = torch::tensor({{2., -1., 100.}, {-3., 0.5, 1.}});
  auto mask = torch::tensor({{1., 1., 0.}, {1., 1., 1.}});
  auto ref = torch::binary_cross_entropy_with_logits(lg, ml.clamp_min(0), mask, {}, at::Reduction::Sum) / 5.0;
  EXPECT_NEAR(multilabel_bce(lg, ml).item<double>(), ref.item<double>(), 1e-6);
}

TEST(Classification, MixupAndCutmixKeepTargetsNormalisedAndAreSeeded) {
  const int64_t b = 6, k = 5;
  // Sample i is the constant image i: after cutmix each pixel is i or b-1-i.
  auto images = torch::arange(b, torch::kFloat32).view({b, 1, 1, 1}).expand({b, 3, 8, 8}).contiguous();
  auto labels = torch::tensor({0, 1, 2, 3, 4, 0}, torch::kLong);
  auto targets = smooth_one_hot(labels, k, 0.1);
  for (const auto& opts : {MixOptions().mixup_alpha(0.8), MixOptions().cutmix_alpha(1.0),
                           MixOptions().mixup_alpha(0.8).cutmix_alpha(1.0).switch_prob(0.5)}) {
    for (std::uint64_t seed = 0; seed < 8; ++seed) {
      std::mt19937_64 rng(seed), again(seed);
      auto m = mix_batch(images, targets, opts, rng);
      auto m2 = mix_batch(images, targets, opts, again);
      ASSERT_TRUE(m.mixed);
      EXPECT_TRUE(torch::equal(m.images, m2.images));
      EXPECT_TRUE(torch::equal(m.targets, m2.targets));
      EXPECT_TRUE(torch::allclose(m.targets.sum(1), torch::ones({b}), 1e-6, 1e-6));
      EXPECT_GE(m.lambda, 0.0);
      EXPECT_LE(m.lambda, 1.0);
      if (m.cutmix) {
        // The fraction of pixels of sample 0 that came from sample b-1 is exactly 1 - lambda.
        const double from_partner = m.images[0].eq(static_cast<float>(b - 1)).to(torch::kDouble).mean().item<double>();
        EXPECT_NEAR(from_partner, 1.0 - m.lambda, 1e-9);
      } else {
        EXPECT_TRUE(torch::allclose(m.images[0], images[0] * m.lambda + images[b - 1] * (1 - m.lambda)));
      }
    }
  }
  // Different seeds give different batches; off means untouched.
  std::mt19937_64 r1(1), r2(2);
  EXPECT_NE(mix_batch(images, targets, MixOptions().mixup_alpha(0.8), r1).lambda,
            mix_batch(images, targets, MixOptions().mixup_alpha(0.8), r2).lambda);
  std::mt19937_64 r3(3);
  auto off = mix_batch(images, targets, MixOptions(), r3);
  EXPECT_FALSE(off.mixed);
  EXPECT_TRUE(torch::equal(off.targets, targets));
  // Beta samples have the right mean.
  std::mt19937_64 r4(4);
  double mean = 0;
  for (int i = 0; i < 20000; ++i) mean += sample_beta(2.0, 6.0, r4) / 20000;
  EXPECT_NEAR(mean, 0.25, 0.01);
}
