// Direct-term decompositions of CLIP's image embedding and of ViT / DeiT / CPVT logits: the terms
// sum to the model's output (1e-5 in float32, 1e-10 in float64), single terms match a naive
// computation of the paper's formula, and mean-ablation replaces exactly the chosen terms.
#include <gtest/gtest.h>

#include "pesuite/core/error.h"
#include "pesuite/vision/decompose.h"

using namespace pesuite;
using namespace pesuite::vision;

namespace {

double max_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}
double max_abs(const torch::Tensor& a) { return a.to(torch::kFloat64).abs().max().item<double>(); }

// A small CLIP image tower whose biases and norms are not at their (trivial) initial values.
Clip small_clip(std::uint64_t seed) {
  torch::manual_seed(seed);
  Clip m = create_clip("clip_tiny_patch8_64", [](ClipOptions& o) { o.vision_layers(3); });
  torch::NoGradGuard g;
  for (auto& p : m->visual->named_parameters())
    if (p.key().find("ln_") != std::string::npos || p.key().find("bias") != std::string::npos)
      p.value().add_(torch::randn_like(p.value()) * 0.3);
  m->eval();
  return m;
}

ViT small_vit(const std::string& pe, bool class_token, std::vector<std::int64_t> after = {0}) {
  torch::manual_seed(5);
  ViT m(ViTOptions().img_size(16).patch_size(4).in_chans(3).dim(24).depth(3).heads(3).num_classes(7).pe(pe)
            .class_token(class_token).pe_after_blocks(after));
  torch::NoGradGuard g;
  for (auto& p : m->named_parameters()) p.value().add_(torch::randn_like(p.value()) * 0.1);
  m->eval();
  return m;
}

}  // namespace

TEST(ClipDecomposition, TermsSumToTheImageEmbedding) {
  Clip m = small_clip(0);
  torch::NoGradGuard g;
  for (auto size : {64, 80}) {
    auto images = torch::randn({3, 3, size, size});
    auto d = decompose_clip_image(m->visual, images);
    const auto L = 3, M = 1 + (size / 8) * (size / 8), H = 3;
    EXPECT_EQ(d.part_names, (std::vector<std::string>{"embedding", "mlp.0", "mlp.1", "mlp.2"}));
    EXPECT_EQ(d.tokens.sizes(), (std::vector<std::int64_t>{3, L, M, H, 256}));
    const double scale = max_abs(d.output);
    EXPECT_LT(max_diff(d.output, m->visual(images)), 1e-5 * scale) << size;
    EXPECT_LT(max_diff(d.total(), d.output), 1e-5 * scale) << size;
    EXPECT_LT(max_diff(d.tokens.sum(2), d.heads), 1e-5 * scale);
    EXPECT_TRUE(torch::equal(d.source_heads, d.tokens.select(2, 0)));
  }
  // Normalised by the representation's norm, as prs_hook.py's finalize.
  auto images = torch::randn({2, 3, 64, 64});
  auto n = decompose_clip_image(m->visual, images, heads::DecomposeOptions().normalize(true));
  auto y = m->visual(images);
  EXPECT_LT(max_diff(n.output, y / y.norm(2, 1, true)), 1e-6);
  EXPECT_LT(max_diff(n.total(), n.output), 1e-6);
  EXPECT_LT(max_diff(n.scale, y.norm(2, 1)), 1e-4);
}

TEST(ClipDecomposition, ExactInFloat64) {
  Clip m = small_clip(1);
  m->to(torch::kFloat64);
  torch::NoGradGuard g;
  auto images = torch::randn({2, 3, 72, 56}, torch::kFloat64);
  auto d = decompose_clip_image(m->visual, images);
  EXPECT_LT(max_diff(d.total(), d.output), 1e-10);
  EXPECT_LT(max_diff(d.output, m->visual(images)), 1e-10);
}

TEST(ClipDecomposition, ATermIsTheAttentionWeightTimesTheProjectedValue) {
  // The paper's formula written out for one (layer, source, head): alpha * v W_O^h + b_O / (H M),
  // then ln_post linearised with the final residual's mean and std (share 1 / ((2L + 1) H M)),
  // then proj.
  Clip m = small_clip(2);
  m->to(torch::kFloat64);
  torch::NoGradGuard g;
  auto images = torch::randn({2, 3, 64, 64}, torch::kFloat64);
  auto s = clip_residual_stream(m->visual, images);
  auto d = decompose_clip_image(m->visual, images);
  const std::int64_t L = 3, H = 3, M = 65, hd = 64;
  const double K = 2 * L + 1;
  auto ln = m->visual->ln_post;
  for (std::int64_t b = 0; b < 2; ++b) {
    auto z = s.residual[b][0];
    const double mu = z.mean().item<double>();
    const double sigma = std::sqrt(z.var(/*unbiased=*/false).item<double>() + 1e-5);
    for (auto [l, h, src] : {std::tuple<std::int64_t, std::int64_t, std::int64_t>{0, 0, 0}, {1, 2, 17}, {2, 1, 64}}) {
      const auto& a = s.attention[static_cast<std::size_t>(l)];
      auto blk = m->visual->transformer->block(l);
      auto w_o = blk->attn->out_proj->weight.narrow(1, h * hd, hd);  // [W, hd]
      auto c = a.probs[b][h][0][src].item<double>() * torch::matmul(w_o, a.values[b][h][src]) +
               blk->attn->out_proj->bias / static_cast<double>(H * M);
      const double share = 1.0 / (K * H * M);
      auto lin = ln->weight * (c - share * mu) / sigma + share * ln->bias;
      auto expected = torch::matmul(lin, m->visual->proj);
      EXPECT_LT(max_diff(d.tokens[b][l][src][h], expected), 1e-12) << l << " " << h << " " << src;
    }
    // The embedding term: ln_pre's class-token output, share 1 / (2L + 1).
    auto e = s.parts[0].value[b][0];
    auto lin = ln->weight * (e - mu / K) / sigma + ln->bias / K;
    EXPECT_LT(max_diff(d.parts[b][0], torch::matmul(lin, m->visual->proj)), 1e-12);
  }
}

TEST(ClipDecomposition, MeanAblationReplacesExactlyTheChosenTerms) {
  Clip m = small_clip(3);
  m->to(torch::kFloat64);
  torch::NoGradGuard g;
  auto images = torch::randn({4, 3, 64, 64}, torch::kFloat64);
  auto d = decompose_clip_image(m->visual, images);
  auto mean = heads::mean_terms(d);
  // Nothing chosen: the output itself; everything chosen: the mean output for every image.
  EXPECT_LT(max_diff(heads::mean_ablate(d, mean, {}), d.output), 1e-10);
  heads::AblationSpec all;
  all.parts = {"embedding", "mlp.*"};
  all.layers = heads::AblationSpec::layers_range(0, 2);
  all.source_terms = true;  // overlaps the whole layers: counted once
  auto every = heads::mean_ablate(d, mean, all);
  EXPECT_LT(max_diff(every, d.output.mean(0, true).expand_as(every)), 1e-10);
  // The MLPs: output - sum of MLP terms + their means.
  heads::AblationSpec mlps;
  mlps.parts = {"mlp.*"};
  auto expect = d.output - d.parts.narrow(1, 1, 3).sum(1) + mean.parts.narrow(1, 1, 3).sum(1);
  EXPECT_LT(max_diff(heads::mean_ablate(d, mean, mlps), expect), 1e-10);
  // Class token -> class token attention in every layer.
  heads::AblationSpec cls;
  cls.source_terms = true;
  expect = d.output - d.tokens.select(2, 0).sum(std::vector<std::int64_t>{1, 2}) + d.tokens.select(2, 0).mean(0).sum(std::vector<std::int64_t>{0, 1});
  EXPECT_LT(max_diff(heads::mean_ablate(d, mean, cls), expect), 1e-10);
  // Layers 0..1 and one head of layer 2.
  heads::AblationSpec early;
  early.layers = heads::AblationSpec::layers_range(0, 1);
  early.heads = {{2, 1}};
  auto chosen = d.heads.narrow(1, 0, 2).sum(std::vector<std::int64_t>{1, 2}) + d.heads.select(1, 2).select(1, 1);
  expect = d.output - chosen + chosen.mean(0, true);
  EXPECT_LT(max_diff(heads::mean_ablate(d, mean, early), expect), 1e-10);
  // Streaming means over two batches equal the means of the whole.
  heads::TermMeans acc;
  acc.add(decompose_clip_image(m->visual, images.narrow(0, 0, 1)));
  acc.add(decompose_clip_image(m->visual, images.narrow(0, 1, 3)));
  EXPECT_EQ(acc.count(), 4);
  EXPECT_LT(max_diff(acc.mean().parts, mean.parts), 1e-12);
  EXPECT_LT(max_diff(acc.mean().source_heads, mean.source_heads), 1e-12);
  // Bad specifications.
  heads::AblationSpec bad;
  bad.parts = {"attn.*"};
  EXPECT_THROW(heads::mean_ablate(d, mean, bad), pesuite::core::InputError);
  bad.parts = {};
  bad.layers = {3};
  EXPECT_THROW(heads::mean_ablate(d, mean, bad), pesuite::core::InputError);
  bad.layers = {};
  bad.heads = {{0, 3}};
  EXPECT_THROW(heads::mean_ablate(d, mean, bad), pesuite::core::InputError);
}

TEST(VitDecomposition, TermsSumToTheLogitsForEveryEncodingAndPooling) {
  struct Case {
    std::string pe;
    bool cls;
    std::vector<std::int64_t> after;
    std::vector<std::string> parts;
  };
  const std::vector<Case> cases = {
      {"learned", true, {0}, {"embedding", "pos_embed", "mlp.0", "mlp.1", "mlp.2"}},
      {"peg", true, {0}, {"embedding", "mlp.0", "peg.after_0", "mlp.1", "mlp.2"}},
      {"peg", false, {0, 1}, {"embedding", "mlp.0", "peg.after_0", "mlp.1", "peg.after_1", "mlp.2"}},
      {"peg", true, {-1}, {"embedding", "peg.before", "mlp.0", "mlp.1", "mlp.2"}},
      {"rope2d", true, {0}, {"embedding", "mlp.0", "mlp.1", "mlp.2"}},
      {"sincos2d", false, {0}, {"embedding", "pos_embed", "mlp.0", "mlp.1", "mlp.2"}},
  };
  for (const auto& c : cases) {
    const std::string what = c.pe + (c.cls ? " cls" : " gap");
    ViT m = small_vit(c.pe, c.cls, c.after);
    torch::NoGradGuard g;
    auto x = torch::randn({3, 3, 16, 16});
    auto d = decompose_vit(m, x);
    EXPECT_EQ(d.part_names, c.parts) << what;
    const double scale = max_abs(d.output);
    EXPECT_LT(max_diff(d.output, m(x)), 1e-5 * scale) << what;
    EXPECT_LT(max_diff(d.total(), d.output), 1e-5 * scale) << what;
    EXPECT_EQ(d.source_heads.defined(), c.cls) << what;
    // Larger input, in float64: exact.
    m->to(torch::kFloat64);
    auto x64 = torch::randn({2, 3, 24, 20}, torch::kFloat64);
    auto d64 = decompose_vit(m, x64);
    EXPECT_LT(max_diff(d64.total(), d64.output), 1e-10) << what;
    EXPECT_LT(max_diff(d64.output, m(x64)), 1e-10) << what;
  }
}

TEST(VitDecomposition, ClassTokenPegTermIsTheSharedBiasOnly) {
  // With a class token a PEG's contribution at the pooled token is exactly zero, so its term is
  // gamma * (0 - mu / K) / sigma + beta / K through the head: check against that closed form.
  ViT m = small_vit("peg", true, {0});
  m->to(torch::kFloat64);
  torch::NoGradGuard g;
  auto x = torch::randn({2, 3, 16, 16}, torch::kFloat64);
  auto s = vit_residual_stream(m, x);
  auto d = decompose_vit(m, x);
  const double K = static_cast<double>(s.parts.size() + s.attention.size());
  const auto p = d.part_index("peg.after_0");
  for (std::int64_t b = 0; b < 2; ++b) {
    EXPECT_EQ(max_abs(s.parts[static_cast<std::size_t>(p)].value[b][0]), 0.0);
    auto z = s.residual[b][0];
    const double mu = z.mean().item<double>(), sigma = std::sqrt(z.var(false).item<double>() + 1e-6);
    auto lin = m->norm->weight * (-mu / K) / sigma + m->norm->bias / K;
    auto expected = torch::matmul(m->head->weight, lin) + m->head->bias / K;
    EXPECT_LT(max_diff(d.parts[b][p], expected), 1e-12);
  }
}
