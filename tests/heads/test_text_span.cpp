// TextSpan on synthetic heads whose answer is known.
#include <gtest/gtest.h>

#include "pesuite/core/error.h"
#include "pesuite/heads/text_span.h"

using namespace pesuite;
using namespace pesuite::heads;

namespace {
torch::Tensor unit_rows(torch::Tensor t) { return t / t.norm(2, 1, true); }
}  // namespace

TEST(TextSpan, RecoversTheTextsAHeadIsMadeOf) {
  // A head whose outputs over 400 images are 3 a_i t_3 + 2 b_i t_17 + c_i t_40 + an offset + small
  // noise, among 50 random unit texts in 32 dimensions: TextSpan picks 3, 17, 40 in that order,
  // and those three explain nearly all of the variance.
  torch::manual_seed(0);
  const std::int64_t I = 400, E = 32, T = 50;
  auto texts = unit_rows(torch::randn({T, E}, torch::kFloat64));
  auto coef = torch::randn({I, 3}, torch::kFloat64) * torch::tensor({3.0, 2.0, 1.0}, torch::kFloat64);
  auto basis = torch::stack({texts[3], texts[17], texts[40]});
  auto outputs = torch::matmul(coef, basis) + torch::randn({E}, torch::kFloat64) * 0.5 +
                 0.01 * torch::randn({I, E}, torch::kFloat64);
  // rank 4, not 3: the SVD is of the uncentred outputs (as the paper's), so the offset takes one
  // of the top directions.
  for (std::int64_t rank : {80, 4}) {
    auto r = text_span(outputs, texts.to(torch::kFloat32), TextSpanOptions().rank(rank).iterations(5));
    // Projected onto a 4-dimensional subspace, the texts run out of directions after 4 picks.
    ASSERT_EQ(r.texts.size(), rank == 4 ? 4u : 5u);
    EXPECT_EQ(std::vector<std::int64_t>(r.texts.begin(), r.texts.begin() + 3), (std::vector<std::int64_t>{3, 17, 40})) << rank;
    EXPECT_GT(r.stddev[0], r.stddev[1]);
    EXPECT_GT(r.stddev[1], r.stddev[2]);
    const double first3 = r.explained[0] + r.explained[1] + r.explained[2];
    EXPECT_GT(first3, 0.999) << rank;
    double total = 0;
    for (double e : r.explained) total += e;
    EXPECT_LE(total, 1.0 + 1e-12);
    // The reconstruction is the mean plus the removed components: within the noise of the outputs.
    EXPECT_LT((r.reconstruction - outputs).abs().max().item<double>(), 0.1) << rank;
  }
}

TEST(TextSpan, AFullBasisReconstructsExactly) {
  // With as many independent texts as dimensions and every direction kept, the removed components
  // span everything: the reconstruction is the outputs themselves.
  torch::manual_seed(1);
  auto outputs = torch::randn({30, 8}, torch::kFloat64);
  auto texts = torch::randn({8, 8}, torch::kFloat64);
  auto r = text_span(outputs, texts, TextSpanOptions().rank(8).iterations(8));
  EXPECT_EQ(r.texts.size(), 8u);
  EXPECT_LT((r.reconstruction - outputs).abs().max().item<double>(), 1e-10);
  double total = 0;
  for (double e : r.explained) total += e;
  EXPECT_NEAR(total, 1.0, 1e-10);
  // Every text picked once, and asking for more stops when nothing is left.
  auto sorted = r.texts;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, (std::vector<std::int64_t>{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(text_span(outputs, texts, TextSpanOptions().rank(8).iterations(12)).texts.size(), 8u);
}

TEST(TextSpan, TextsOutsideTheHeadsSpanAreNeverPicked) {
  // Outputs in the first 4 coordinates; a text pool of 4 in-span directions and 4 huge texts along
  // the other coordinates: projected onto the outputs' singular subspace those vanish.
  torch::manual_seed(2);
  auto outputs = torch::zeros({100, 8}, torch::kFloat64);
  outputs.narrow(1, 0, 4).copy_(torch::randn({100, 4}, torch::kFloat64));
  auto texts = torch::zeros({8, 8}, torch::kFloat64);
  texts.narrow(0, 0, 4).narrow(1, 0, 4).copy_(torch::eye(4, torch::kFloat64));
  texts.narrow(0, 4, 4).narrow(1, 4, 4).copy_(torch::eye(4, torch::kFloat64) * 100);
  auto r = text_span(outputs, texts, TextSpanOptions().rank(4).iterations(8));
  EXPECT_EQ(r.texts.size(), 4u);
  for (auto t : r.texts) EXPECT_LT(t, 4);
}

TEST(TextSpan, BadInputsAreInputErrors) {
  auto o = torch::randn({10, 4});
  EXPECT_THROW(text_span(o, torch::zeros({0, 4})), pesuite::core::InputError);  // empty text pool
  EXPECT_THROW(text_span(o, torch::randn({3, 5})), pesuite::core::InputError);
  EXPECT_THROW(text_span(torch::randn({1, 4}), torch::randn({3, 4})), pesuite::core::InputError);
  EXPECT_THROW(text_span(o, torch::randn({3, 4}), TextSpanOptions().rank(0)), pesuite::core::InputError);
  EXPECT_THROW(text_span(o, torch::randn({3, 4}), TextSpanOptions().iterations(-1)), pesuite::core::InputError);
}
