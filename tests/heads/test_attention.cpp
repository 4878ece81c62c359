// MultiHeadAttention against a naive per-head softmax(Q K^T / sqrt(d) + bias) V written here, on
// both the fused and the plain path; per-head capture, masking, mean-ablation, importance, and the
// analysis helpers against loops.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "heads_test_util.h"
#include "pesuite/heads/attention.h"
#include "pesuite/core/error.h"
#include "pesuite/heads/head_analysis.h"
#include "pesuite/heads/positional.h"

using namespace pesuite::heads;
using pesuite::core::InputError;
using pesuite::test::max_abs_diff;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// The reference: explicit projections, a loop over heads, softmax of the scores plus `bias`
// ([B, H, N, M], -inf = masked), and the output projection.
torch::Tensor naive(MultiHeadAttentionImpl& m, const torch::Tensor& x, const torch::Tensor& ctx_in,
                    const torch::Tensor& bias, const PositionalTermPtr& rot = nullptr,
                    const TokenLayout& layout = {}) {
  const auto H = m.heads(), hd = m.head_dim(), inner = H * hd;
  auto ctx = ctx_in.defined() ? ctx_in : x;
  auto W = m.qkv->weight, b = m.qkv->bias;
  auto q = torch::matmul(x, W.narrow(0, 0, inner).t()) + b.narrow(0, 0, inner);
  auto k = torch::matmul(ctx, W.narrow(0, inner, inner).t()) + b.narrow(0, inner, inner);
  auto v = torch::matmul(ctx, W.narrow(0, 2 * inner, inner).t()) + b.narrow(0, 2 * inner, inner);
  std::vector<torch::Tensor> outs;
  for (std::int64_t h = 0; h < H; ++h) {
    auto qh = q.narrow(2, h * hd, hd), kh = k.narrow(2, h * hd, hd), vh = v.narrow(2, h * hd, hd);
    if (rot) {
      auto r = rot->rotate(qh.unsqueeze(1), kh.unsqueeze(1), layout);
      qh = r.first.squeeze(1), kh = r.second.squeeze(1);
    }
    auto s = torch::bmm(qh, kh.transpose(1, 2)) / std::sqrt(double(hd));
    if (bias.defined()) s = s + bias.select(1, h);
    outs.push_back(torch::bmm(torch::softmax(s, -1), vh));
  }
  auto o = torch::cat(outs, 2);
  return torch::matmul(o, m.proj->weight.t()) + m.proj->bias;
}

MultiHeadAttention make(std::int64_t dim, std::int64_t heads, bool fused, PositionalTermPtr pe = nullptr,
                        bool causal = false) {
  torch::manual_seed(3);
  MultiHeadAttention m(MultiHeadAttentionOptions(dim, heads).fused(fused).causal(causal), pe);
  m->to(pesuite::test::device());
  m->eval();
  return m;
}

torch::Tensor causal_bias(std::int64_t B, std::int64_t H, std::int64_t N, std::int64_t M, std::int64_t start = 0) {
  auto b = torch::zeros({B, H, N, M}, torch::kFloat32);
  for (std::int64_t i = 0; i < N; ++i)
    for (std::int64_t j = 0; j < M; ++j)
      if (j > i + start) b.index_put_({torch::indexing::Slice(), torch::indexing::Slice(), i, j}, -kInf);
  return b.to(pesuite::test::device());
}

torch::Tensor padding_bias(const torch::Tensor& pad, std::int64_t H, std::int64_t N) {
  auto cpu = pad.to(torch::kCPU);
  const auto B = pad.size(0), M = pad.size(1);
  auto b = torch::zeros({B, H, N, M}, torch::kFloat32);
  for (std::int64_t i = 0; i < B; ++i)
    for (std::int64_t j = 0; j < M; ++j)
      if (cpu[i][j].item<bool>()) b.index_put_({i, torch::indexing::Slice(), torch::indexing::Slice(), j}, -kInf);
  return b.to(pesuite::test::device());
}

class AttentionPaths : public ::testing::TestWithParam<bool> {};

}  // namespace

TEST_P(AttentionPaths, EqualsNaiveWithoutMasks) {
  auto m = make(32, 4, GetParam());
  auto x = torch::randn({3, 7, 32}, pesuite::test::f32());
  EXPECT_LT(max_abs_diff(m(x), naive(*m, x, {}, {})), 1e-5);
}

TEST_P(AttentionPaths, EqualsNaiveCausal) {
  auto m = make(32, 4, GetParam(), nullptr, /*causal=*/true);
  auto x = torch::randn({2, 9, 32}, pesuite::test::f32());
  EXPECT_LT(max_abs_diff(m(x), naive(*m, x, {}, causal_bias(2, 4, 9, 9))), 1e-5);
}

TEST_P(AttentionPaths, EqualsNaiveWithKeyPadding) {
  auto m = make(32, 4, GetParam());
  auto x = torch::randn({3, 6, 32}, pesuite::test::f32());
  auto pad = torch::zeros({3, 6}, torch::kBool);
  pad[0][5] = true, pad[0][4] = true, pad[2][0] = true;
  pad = pad.to(pesuite::test::device());
  AttentionArgs a;
  a.key_padding_mask = pad;
  EXPECT_LT(max_abs_diff(m(x, a), naive(*m, x, {}, padding_bias(pad, 4, 6))), 1e-5);
}

TEST_P(AttentionPaths, EqualsNaivePaddingPlusCausalPlusAlibi) {
  auto alibi = Alibi(AlibiOptions(4));
  auto m = make(32, 4, GetParam(), alibi.ptr(), /*causal=*/true);
  auto x = torch::randn({2, 6, 32}, pesuite::test::f32());
  auto pad = torch::zeros({2, 6}, torch::kBool);
  pad[1][5] = true;
  pad = pad.to(pesuite::test::device());
  AttentionArgs a;
  a.key_padding_mask = pad;
  // ALiBi written out: -m_h |i - j| with the paper's slopes for 4 heads (1/4, 1/16, 1/64, 1/256).
  auto ab = torch::zeros({1, 4, 6, 6});
  const double slopes[4] = {0.25, 1.0 / 16, 1.0 / 64, 1.0 / 256};
  for (int h = 0; h < 4; ++h)
    for (int i = 0; i < 6; ++i)
      for (int j = 0; j < 6; ++j) ab[0][h][i][j] = -slopes[h] * std::abs(i - j);
  auto bias = ab.to(pesuite::test::device()) + causal_bias(2, 4, 6, 6) + padding_bias(pad, 4, 6);
  EXPECT_LT(max_abs_diff(m(x, a), naive(*m, x, {}, bias)), 1e-5);
}

TEST_P(AttentionPaths, EqualsNaiveCrossAttentionAndExtraBias) {
  auto m = make(16, 2, GetParam());
  auto x = torch::randn({2, 5, 16}, pesuite::test::f32());
  auto ctx = torch::randn({2, 8, 16}, pesuite::test::f32());
  auto extra = torch::randn({2, 2, 5, 8}, pesuite::test::f32());
  AttentionArgs a;
  a.context = ctx;
  a.attn_bias = extra;
  EXPECT_LT(max_abs_diff(m(x, a), naive(*m, x, ctx, extra)), 1e-5);
}

TEST_P(AttentionPaths, EqualsNaiveCausalDecodingOffset) {
  // 3 queries at positions 4..6 over 7 keys: query i sees keys 0..4+i.
  auto m = make(16, 2, GetParam(), nullptr, true);
  auto x = torch::randn({1, 3, 16}, pesuite::test::f32());
  auto ctx = torch::randn({1, 7, 16}, pesuite::test::f32());
  AttentionArgs a;
  a.context = ctx;
  a.layout = TokenLayout::sequence(0, 4);
  EXPECT_LT(max_abs_diff(m(x, a), naive(*m, x, ctx, causal_bias(1, 2, 3, 7, 4))), 1e-5);
}

TEST_P(AttentionPaths, EqualsNaiveWithRope2DAndClassToken) {
  auto rope = RoPE2D(RoPE2DOptions(8));
  auto m = make(32, 4, GetParam(), rope.ptr());
  auto layout = TokenLayout::grid(3, 4, 1);
  auto x = torch::randn({2, 13, 32}, pesuite::test::f32());
  AttentionArgs a;
  a.layout = layout;
  EXPECT_LT(max_abs_diff(m(x, a), naive(*m, x, {}, {}, rope.ptr(), layout)), 1e-5);
}

// Gradients (input, projections, a learned bias table) against the naive composition: the plain
// path reorders the qkv weight rows, scales inside the GEMM and adds the bias in place.
TEST_P(AttentionPaths, GradientsEqualNaive) {
  const int h = 3, w = 2;
  auto rel = RelBias2D(RelBias2DOptions(4, h, w).class_token(true));
  rel->to(pesuite::test::device());
  auto m = make(32, 4, GetParam(), rel.ptr(), false);
  auto layout = TokenLayout::grid(h, w, 1);
  auto x = torch::randn({2, 7, 32}, pesuite::test::f32()).requires_grad_(true);
  auto g = torch::randn({2, 7, 32}, pesuite::test::f32());
  AttentionArgs a;
  a.layout = layout;
  auto grads = [&](const torch::Tensor& y) {
    for (auto& p : m->parameters()) p.mutable_grad() = torch::Tensor();
    x.mutable_grad() = torch::Tensor();
    (y * g).sum().backward();
    std::vector<torch::Tensor> out = {x.grad().clone()};
    for (auto& p : m->parameters()) out.push_back(p.grad().clone());
    return out;
  };
  auto got = grads(m(x, a));
  auto bias = rel->bias(7, 7, layout, pesuite::test::f32()).unsqueeze(0).expand({2, 4, 7, 7});
  auto want = grads(naive(*m, x, {}, bias));
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_LT(max_abs_diff(got[i], want[i]), 1e-5) << i;
}

INSTANTIATE_TEST_SUITE_P(FusedAndPlain, AttentionPaths, ::testing::Values(true, false));

TEST(Attention, FusedEqualsPlainForEveryTerm) {
  auto layout = TokenLayout::grid(4, 4, 1);
  std::vector<PositionalTermPtr> terms = {
      NoPE().ptr(), Alibi(AlibiOptions(4)).ptr(), Kerple(KerpleOptions(4, KerpleKind::Log)).ptr(),
      Kerple(KerpleOptions(4, KerpleKind::Power)).ptr(), T5Bias(T5BiasOptions(4)).ptr(),
      RelBias2D(RelBias2DOptions(4, 4, 4).class_token(true)).ptr(), Alibi2D(Alibi2DOptions(4)).ptr(),
      RelBias2D(RelBias2DOptions(4, 3, 5).class_token(true)).ptr(),  // resized to 4x4 on the fly
      RoPE1D(RoPE1DOptions(8)).ptr(),
      RoPE2D(RoPE2DOptions(8)).ptr()};
  auto x = torch::randn({2, 17, 32}, pesuite::test::f32());
  auto pad = torch::zeros({2, 17}, torch::kBool);
  pad[1][16] = true;
  AttentionArgs a;
  a.layout = layout;
  a.key_padding_mask = pad.to(pesuite::test::device());
  for (const auto& t : terms) {
    t->to(pesuite::test::device());
    auto m = make(32, 4, true, t);
    auto fused = m(x, a);
    m->options.fused(false);
    auto plain = m(x, a);
    EXPECT_LT(max_abs_diff(fused, plain), 1e-5) << t->name();
    // Capturing probabilities takes the plain path and must not change the result either.
    m->options.fused(true);
    m->set_capture(CaptureOptions().probs(true));
    EXPECT_LT(max_abs_diff(m(x, a), fused), 1e-5) << t->name();
  }
}

TEST(Attention, CapturedProbabilitiesAreRowStochasticAndIgnorePadding) {
  auto m = make(16, 2, true);
  auto x = torch::randn({2, 5, 16}, pesuite::test::f32());
  auto pad = torch::zeros({2, 5}, torch::kBool);
  pad[0][3] = true;
  AttentionArgs a;
  a.key_padding_mask = pad.to(pesuite::test::device());
  m->set_capture(CaptureOptions().probs(true));
  m(x, a);
  auto p = m->captured().probs;
  ASSERT_EQ(p.sizes(), (std::vector<std::int64_t>{2, 2, 5, 5}));
  EXPECT_LT(max_abs_diff(p.sum(-1), torch::ones({2, 2, 5})), 1e-6);
  EXPECT_EQ(p.select(0, 0).select(-1, 3).abs().max().item<double>(), 0.0);
}

namespace {
// Runs m on x capturing head outputs and contributions; returns the output.
torch::Tensor run_capture(MultiHeadAttention& m, const torch::Tensor& x) {
  m->set_capture(CaptureOptions().head_outputs(true).contributions(true));
  return m(x);
}
}  // namespace

TEST(HeadIntervention, ContributionsSumToOutput) {
  auto m = make(24, 3, true, RoPE1D(RoPE1DOptions(8)).ptr());
  auto x = torch::randn({2, 6, 24}, pesuite::test::f32());
  auto out = run_capture(m, x);
  const auto& c = m->captured();
  ASSERT_EQ(c.contributions.sizes(), (std::vector<std::int64_t>{2, 3, 6, 24}));
  ASSERT_EQ(c.head_outputs.sizes(), (std::vector<std::int64_t>{2, 3, 6, 8}));
  EXPECT_LT(max_abs_diff(c.contributions.sum(1) + m->proj->bias, out), 1e-5);
  // Each contribution is that head's output through its own columns of the out-projection.
  for (std::int64_t h = 0; h < 3; ++h) {
    auto ref = torch::matmul(c.head_outputs.select(1, h), m->proj->weight.narrow(1, h * 8, 8).t());
    EXPECT_LT(max_abs_diff(c.contributions.select(1, h), ref), 1e-5);
  }
}

TEST(HeadIntervention, MaskRemovesExactlyThatHeadsContribution) {
  auto m = make(24, 3, true);
  auto x = torch::randn({2, 6, 24}, pesuite::test::f32());
  auto full = run_capture(m, x);
  auto contrib = m->captured().contributions.clone();
  for (std::int64_t h = 0; h < 3; ++h) {
    HeadIntervention iv;
    iv.keep = torch::ones({3});
    iv.keep[h] = 0;
    m->set_intervention(iv);
    auto masked = run_capture(m, x);
    EXPECT_LT(max_abs_diff(masked, full - contrib.select(1, h)), 1e-5) << "head " << h;
    EXPECT_EQ(m->captured().head_outputs.select(1, h).abs().max().item<double>(), 0.0);
  }
  // [B, H]: remove head 0 in sample 0 and head 2 in sample 1.
  HeadIntervention iv;
  iv.keep = torch::ones({2, 3});
  iv.keep[0][0] = 0, iv.keep[1][2] = 0;
  m->set_intervention(iv);
  auto masked = m(x);
  EXPECT_LT(max_abs_diff(masked[0], full[0] - contrib[0][0]), 1e-5);
  EXPECT_LT(max_abs_diff(masked[1], full[1] - contrib[1][2]), 1e-5);
  m->clear_intervention();
  EXPECT_LT(max_abs_diff(m(x), full), 1e-6);
}

TEST(HeadIntervention, MeanAblationSubstitutesTheGivenMean) {
  auto m = make(24, 3, true);
  auto x = torch::randn({2, 6, 24}, pesuite::test::f32());
  auto full = run_capture(m, x);
  auto contrib = m->captured().contributions.clone();
  auto mean = torch::randn({3, 8}, pesuite::test::f32());
  HeadIntervention iv;
  iv.keep = torch::tensor({1.0f, 0.0f, 1.0f});
  iv.mean = mean;
  m->set_intervention(iv);
  auto ablated = run_capture(m, x);
  const auto& c = m->captured();
  EXPECT_LT(max_abs_diff(c.head_outputs.select(1, 1), mean[1].expand({2, 6, 8})), 1e-6);
  auto mean_contrib = torch::matmul(mean[1], m->proj->weight.narrow(1, 8, 8).t());
  EXPECT_LT(max_abs_diff(ablated, full - contrib.select(1, 1) + mean_contrib), 1e-5);
  // The helper's mean over batch and tokens is the plain mean.
  auto ho = torch::randn({4, 3, 5, 8});
  EXPECT_LT(max_abs_diff(mean_head_outputs(ho, true), ho.mean(0).mean(1)), 1e-6);
  EXPECT_LT(max_abs_diff(mean_head_outputs(ho, false), ho.mean(0)), 1e-6);
}

TEST(HeadIntervention, BadShapesAreInputErrors) {
  auto m = make(24, 3, true);
  HeadIntervention iv;
  iv.keep = torch::ones({4});
  EXPECT_THROW(m->set_intervention(iv), pesuite::core::InputError);
  iv.keep = torch::ones({3});
  iv.mean = torch::ones({3, 7});
  EXPECT_THROW(m->set_intervention(iv), pesuite::core::InputError);
  EXPECT_THROW(m(torch::randn({2, 5, 23}, pesuite::test::f32())), pesuite::core::InputError);
  AttentionArgs a;
  a.key_padding_mask = torch::zeros({2, 4}, torch::kBool);
  EXPECT_THROW(m(torch::randn({2, 5, 24}, pesuite::test::f32()), a), pesuite::core::InputError);
  EXPECT_THROW(MultiHeadAttention(MultiHeadAttentionOptions(10, 3)), pesuite::core::InputError);
}

TEST(HeadImportance, IrrelevantHeadRanksLastAndIsPrunedFirst) {
  torch::manual_seed(0);
  std::vector<MultiHeadAttention> layers = {make(16, 4, true), make(16, 4, true)};
  {
    // Layer 1, head 2 reads nothing: its value rows are zero, so its output and gradient are 0.
    torch::NoGradGuard ng;
    layers[1]->qkv->weight.narrow(0, 2 * 16 + 2 * 4, 4).zero_();
    layers[1]->qkv->bias.narrow(0, 2 * 16 + 2 * 4, 4).zero_();
  }
  auto target_map = torch::randn({16, 16}, pesuite::test::f32());
  int calls = 0;
  auto loss = [&]() {
    ++calls;
    auto x = torch::randn({4, 6, 16}, pesuite::test::f32());
    auto y = layers[1](layers[0](x));
    return (y - torch::matmul(x, target_map)).pow(2).mean();
  };
  auto imp = head_importance(layers, loss, 3);
  EXPECT_EQ(calls, 3);
  ASSERT_EQ(imp.sizes(), (std::vector<std::int64_t>{2, 4}));
  EXPECT_EQ(imp[1][2].item<double>(), 0.0);
  auto ranked = rank_heads(imp);
  EXPECT_EQ(ranked.front(), std::make_pair(std::int64_t{1}, std::int64_t{2}));
  auto keep = prune_mask(imp, 1);
  EXPECT_EQ(keep.sum().item<double>(), 7.0);
  EXPECT_EQ(keep[1][2].item<double>(), 0.0);
  // Gates were switched off again and parameters got no gradient.
  EXPECT_FALSE(layers[0]->head_gates().defined());
  EXPECT_FALSE(layers[0]->qkv->weight.grad().defined());
  // Rows are L2-normalised.
  EXPECT_LT(max_abs_diff(imp.norm(2, 1), torch::ones({2}, torch::kFloat64)), 1e-9);
  apply_head_mask(layers, keep);
  auto x = torch::randn({1, 6, 16}, pesuite::test::f32());
  layers[1]->set_capture(CaptureOptions().head_outputs(true));
  layers[1](layers[0](x));
  EXPECT_EQ(layers[1]->captured().head_outputs.select(1, 2).abs().max().item<double>(), 0.0);
}

TEST(HeadImportance, GateGradientEqualsContributionInnerProduct) {
  // dL/dxi_h = <dL/dy, contribution_h>: the gate scales exactly one head's contribution.
  auto m = make(16, 4, true);
  auto x = torch::randn({2, 5, 16}, pesuite::test::f32());
  m->enable_head_gates();
  m->set_capture(CaptureOptions().contributions(true));
  auto y = m(x);
  auto g = torch::randn_like(y);
  auto grad = torch::autograd::grad({(y * g).sum()}, {m->head_gates()})[0];
  auto ref = (m->captured().contributions * g.unsqueeze(1)).sum(std::vector<std::int64_t>{0, 2, 3});
  EXPECT_LT(max_abs_diff(grad, ref), 1e-4);
}

TEST(HeadAnalysis, EntropyMatchesLoopsAndKnownCases) {
  auto p = torch::softmax(torch::randn({2, 3, 4, 5}, torch::kFloat64), -1);
  auto ent = attention_entropy(p);
  for (int h = 0; h < 3; ++h) {
    double s = 0;
    for (int b = 0; b < 2; ++b)
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 5; ++j) {
          const double v = p[b][h][i][j].item<double>();
          s -= v * std::log(v);
        }
    EXPECT_NEAR(ent[h].item<double>(), s / 8, 1e-12);
  }
  auto uniform = torch::full({1, 1, 3, 7}, 1.0 / 7, torch::kFloat64);
  EXPECT_NEAR(attention_entropy(uniform)[0].item<double>(), std::log(7.0), 1e-12);
  auto onehot = torch::zeros({1, 2, 3, 3}, torch::kFloat64);
  onehot.select(-1, 0).fill_(1);
  EXPECT_EQ(attention_entropy(onehot).abs().max().item<double>(), 0.0);
  // Query mask leaves padded queries out.
  auto qm = torch::zeros({2, 4}, torch::kBool);
  qm[0][3] = true;
  auto ent_m = attention_entropy(p, qm);
  auto per = -torch::xlogy(p, p).sum(-1);  // [B, H, Nq]
  auto ref = (per[0].narrow(1, 0, 3).sum(1) + per[1].sum(1)) / 7;
  EXPECT_LT(max_abs_diff(ent_m, ref), 1e-12);
}

TEST(HeadAnalysis, MeanDistanceAndClsMapsOnAGrid) {
  const std::int64_t h = 3, w = 4, pre = 1, N = pre + h * w;
  auto p = torch::softmax(torch::randn({2, 2, N, N}, torch::kFloat64), -1);
  auto layout = TokenLayout::grid(h, w, pre);
  auto d = mean_attention_distance(p, layout);
  for (int head = 0; head < 2; ++head) {
    double s = 0;
    for (int b = 0; b < 2; ++b)
      for (int i = 0; i < h * w; ++i)
        for (int j = 0; j < h * w; ++j) {
          const double dy = i / w - j / w, dx = i % w - j % w;
          s += p[b][head][pre + i][pre + j].item<double>() * std::sqrt(dy * dy + dx * dx);
        }
    EXPECT_NEAR(d[head].item<double>(), s / (2 * h * w), 1e-12);
  }
  auto maps = cls_attention_maps(p, layout);
  ASSERT_EQ(maps.sizes(), (std::vector<std::int64_t>{2, 2, h, w}));
  for (int r = 0; r < h; ++r)
    for (int c = 0; c < w; ++c) EXPECT_EQ(maps[1][0][r][c].item<double>(), p[1][0][0][pre + r * w + c].item<double>());
  EXPECT_EQ(cls_attention_maps(p[0], layout).sizes(), (std::vector<std::int64_t>{2, h, w}));
  EXPECT_THROW(cls_attention_maps(p, TokenLayout::grid(2, 2, 1)), pesuite::core::InputError);
}

TEST(HeadAnalysis, PositionalSimilarityIsCosine) {
  auto e = torch::randn({7, 5}, torch::kFloat64);
  auto s = positional_similarity(e);
  for (int i = 0; i < 7; ++i)
    for (int j = 0; j < 7; ++j) {
      const double ref = (e[i] * e[j]).sum().item<double>() / (e[i].norm().item<double>() * e[j].norm().item<double>());
      EXPECT_NEAR(s[i][j].item<double>(), ref, 1e-12);
    }
  auto maps = positional_similarity_maps(torch::randn({1 + 6, 5}), TokenLayout::grid(2, 3, 1));
  ASSERT_EQ(maps.sizes(), (std::vector<std::int64_t>{6, 2, 3}));
  EXPECT_NEAR(maps[4][1][1].item<double>(), 1.0, 1e-6);
}

TEST(Attention, PositionalTermCanBeReplacedAndShared) {
  auto m = make(16, 2, true);
  auto x = torch::randn({1, 5, 16}, pesuite::test::f32());
  auto none = m(x);
  auto alibi = Alibi(AlibiOptions(2));
  alibi->to(pesuite::test::device());
  m->set_positional(alibi.ptr());
  m->set_positional(alibi.ptr());  // twice: replaces, never "already registered"
  EXPECT_EQ(m->positional()->name(), "alibi");
  EXPECT_GT(max_abs_diff(m(x), none), 1e-6);
  m->set_positional(nullptr);
  EXPECT_EQ(m->positional()->name(), "none");
  EXPECT_LT(max_abs_diff(m(x), none), 1e-6);
}

TEST(Attention, DropoutOnlyWhileTraining) {
  torch::manual_seed(1);
  MultiHeadAttention m(MultiHeadAttentionOptions(16, 2).dropout(0.5));
  m->to(pesuite::test::device());
  auto x = torch::randn({2, 6, 16}, pesuite::test::f32());
  m->eval();
  auto ref = naive(*m, x, {}, {});
  EXPECT_LT(max_abs_diff(m(x), ref), 1e-5);
  m->train();
  EXPECT_GT(max_abs_diff(m(x), ref), 1e-3);
  EXPECT_THROW(MultiHeadAttention(MultiHeadAttentionOptions(16, 2).dropout(1.0)), pesuite::core::InputError);
}

TEST(Attention, SeparateKeyValueWidth) {
  torch::manual_seed(2);
  MultiHeadAttention m(MultiHeadAttentionOptions(16, 2).kv_dim(10));
  m->to(pesuite::test::device());
  auto x = torch::randn({2, 3, 16}, pesuite::test::f32());
  auto ctx = torch::randn({2, 5, 10}, pesuite::test::f32());
  AttentionArgs a;
  a.context = ctx;
  auto y = m(x, a);
  // Reference with the q / kv weights written out.
  auto q = torch::matmul(x, m->q->weight.t()) + m->q->bias;
  auto kv = torch::matmul(ctx, m->kv->weight.t()) + m->kv->bias;
  std::vector<torch::Tensor> outs;
  for (int h = 0; h < 2; ++h) {
    auto qh = q.narrow(2, h * 8, 8), kh = kv.narrow(2, h * 8, 8), vh = kv.narrow(2, 16 + h * 8, 8);
    outs.push_back(torch::bmm(torch::softmax(torch::bmm(qh, kh.transpose(1, 2)) / std::sqrt(8.0), -1), vh));
  }
  auto ref = torch::matmul(torch::cat(outs, 2), m->proj->weight.t()) + m->proj->bias;
  EXPECT_LT(max_abs_diff(y, ref), 1e-5);
  EXPECT_THROW(m(x), pesuite::core::InputError);  // self-attention needs kv_dim == dim
}
