// heads::decompose on synthetic residual streams: every readout (class-token pooling, averaging
// before or after the norm, projections with and without bias) is exactly the sum of its terms,
// each term is the paper's formula, and malformed streams are InputErrors.
#include <gtest/gtest.h>

#include "pesuite/heads/decomposition.h"
#include "pesuite/core/error.h"

using namespace pesuite;
using namespace pesuite::heads;

namespace {

double max_diff(const torch::Tensor& a, const torch::Tensor& b) { return (a - b).abs().max().item<double>(); }

// Random parts and attention layers; the residual is their sum (attention outputs computed from
// probabilities, values and the out-projection).
ResidualStream random_stream(std::int64_t B, std::int64_t N, std::int64_t D, std::int64_t H, std::int64_t hd,
                             std::int64_t parts, std::int64_t layers, bool bias) {
  auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  ResidualStream s;
  s.residual = torch::zeros({B, N, D}, f64);
  for (std::int64_t p = 0; p < parts; ++p) {
    s.parts.push_back({"part." + std::to_string(p), torch::randn({B, N, D}, f64)});
    s.residual += s.parts.back().value;
  }
  for (std::int64_t l = 0; l < layers; ++l) {
    AttentionPart a;
    a.name = "attn." + std::to_string(l);
    a.probs = torch::softmax(torch::randn({B, H, N, N}, f64) * 2, -1);
    a.values = torch::randn({B, H, N, hd}, f64);
    a.out_weight = torch::randn({D, H * hd}, f64) / std::sqrt(static_cast<double>(H * hd));
    if (bias) a.out_bias = torch::randn({D}, f64);
    auto o = torch::matmul(a.probs, a.values).transpose(1, 2).reshape({B, N, H * hd});
    auto out = torch::matmul(o, a.out_weight.t());
    if (bias) out = out + a.out_bias;
    s.residual += out;
    s.attention.push_back(a);
  }
  return s;
}

}  // namespace

TEST(Decomposition, EveryReadoutIsTheSumOfItsTerms) {
  torch::manual_seed(0);
  const std::int64_t B = 3, N = 6, D = 8, H = 2, hd = 3, E = 5;
  auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  for (bool bias : {false, true})
    for (int pooling = 0; pooling < 3; ++pooling)
      for (bool proj : {false, true}) {
        auto s = random_stream(B, N, D, H, hd, 3, 2, bias);
        Readout r;
        r.norm_weight = torch::randn({D}, f64);
        r.norm_bias = torch::randn({D}, f64);
        if (pooling == 0) r.pool = torch::zeros({N}, f64).index_fill_(0, torch::tensor({0}), 1.0);  // class token
        if (pooling == 1) r.pool = torch::full({N}, 1.0 / N, f64), r.norm_then_pool = true;       // timm GAP
        if (pooling == 2) r.pool = torch::softmax(torch::randn({B, N}, f64), 1);                  // any weights, pool then norm
        if (proj) r.proj = torch::randn({D, E}, f64), r.proj_bias = torch::randn({E}, f64);
        auto d = decompose(s, r, DecomposeOptions().track_source(0));
        const std::string what = "bias " + std::to_string(bias) + " pooling " + std::to_string(pooling) + " proj " +
                                  std::to_string(proj);
        EXPECT_LT(max_diff(d.total(), d.output), 1e-12) << what;
        EXPECT_LT(max_diff(d.output, read_out(s.residual, r)), 1e-14) << what;
        EXPECT_EQ(d.tokens.sizes(), (std::vector<std::int64_t>{B, 2, N, H, proj ? E : D}));
        EXPECT_LT(max_diff(d.tokens.sum(2), d.heads), 1e-12);
        EXPECT_LT(max_diff(d.tokens.select(2, 0), d.source_heads), 1e-15);
        auto n = decompose(s, r, DecomposeOptions().spatial(false).normalize(true));
        EXPECT_FALSE(n.tokens.defined());
        EXPECT_FALSE(n.source_heads.defined());
        EXPECT_LT(max_diff(n.total(), n.output), 1e-12) << what;
        EXPECT_LT(max_diff(n.output.norm(2, 1), torch::ones({B}, f64)), 1e-12) << what;
      }
}

TEST(Decomposition, TermsFollowThePapersFormula) {
  // Class-token pooling, then LayerNorm, then a projection without bias (CLIP's readout): each
  // term is gamma * (c - s mu) / sigma + s beta, projected, with s = 1 / K for a part and
  // 1 / (K H M) for an attention term c = p[h, 0, m] v[h, m] W_O^h + b_O / (H M).
  torch::manual_seed(1);
  const std::int64_t B = 2, N = 5, D = 6, H = 3, hd = 2, E = 4;
  auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  auto s = random_stream(B, N, D, H, hd, 2, 2, true);
  Readout r;
  r.pool = torch::zeros({N}, f64).index_fill_(0, torch::tensor({0}), 1.0);
  r.norm_weight = torch::randn({D}, f64);
  r.norm_bias = torch::randn({D}, f64);
  r.norm_eps = 1e-5;
  r.proj = torch::randn({D, E}, f64);
  auto d = decompose(s, r);
  const double K = 4;
  for (std::int64_t b = 0; b < B; ++b) {
    auto z = s.residual[b][0];
    const double mu = z.mean().item<double>(), sigma = std::sqrt(z.var(false).item<double>() + 1e-5);
    auto lin = [&](const torch::Tensor& c, double share) {
      return torch::matmul(r.norm_weight * (c - share * mu) / sigma + share * r.norm_bias, r.proj);
    };
    for (std::int64_t p = 0; p < 2; ++p)
      EXPECT_LT(max_diff(d.parts[b][p], lin(s.parts[static_cast<std::size_t>(p)].value[b][0], 1 / K)), 1e-12);
    for (std::int64_t l = 0; l < 2; ++l)
      for (std::int64_t h = 0; h < H; ++h)
        for (std::int64_t m = 0; m < N; ++m) {
          const auto& a = s.attention[static_cast<std::size_t>(l)];
          auto c = a.probs[b][h][0][m].item<double>() * torch::matmul(a.out_weight.narrow(1, h * hd, hd), a.values[b][h][m]) +
                   a.out_bias / static_cast<double>(H * N);
          EXPECT_LT(max_diff(d.tokens[b][l][m][h], lin(c, 1 / (K * H * N))), 1e-12);
        }
  }
}

TEST(Decomposition, MalformedStreamsAreInputErrors) {
  torch::manual_seed(2);
  auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  auto s = random_stream(2, 4, 6, 2, 3, 1, 1, true);
  Readout r;
  r.pool = torch::full({4}, 0.25, f64);
  EXPECT_NO_THROW(decompose(s, r));
  auto bad = s;
  bad.parts[0].value = torch::zeros({2, 4, 5}, f64);
  EXPECT_THROW(decompose(bad, r), pesuite::core::InputError);
  bad = s;
  bad.attention[0].out_weight = torch::zeros({6, 7}, f64);
  EXPECT_THROW(decompose(bad, r), pesuite::core::InputError);
  bad = s;
  bad.attention[0].values = torch::zeros({2, 2, 3, 3}, f64);
  EXPECT_THROW(decompose(bad, r), pesuite::core::InputError);
  Readout rp = r;
  rp.pool = torch::ones({5}, f64);
  EXPECT_THROW(decompose(s, rp), pesuite::core::InputError);
  rp = r;
  rp.proj = torch::ones({5, 3}, f64);
  EXPECT_THROW(decompose(s, rp), pesuite::core::InputError);
  EXPECT_THROW(decompose(s, r, DecomposeOptions().track_source(4)), pesuite::core::InputError);
  EXPECT_THROW(decompose(ResidualStream(), r), pesuite::core::InputError);
  EXPECT_THROW(TermMeans().mean(), pesuite::core::InputError);
  auto d = decompose(s, r);
  AblationSpec spec;
  spec.source_terms = true;  // nothing tracked
  EXPECT_THROW(mean_ablate(d, mean_terms(d), spec), pesuite::core::InputError);
  EXPECT_THROW(d.part_index("mlp.9"), pesuite::core::InputError);
}
