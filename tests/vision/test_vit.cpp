// ViT / CPVT: any encoding plugs in, any input size works without fine-tuning, the presets match
// the papers' shapes, and PEG sits where CPVT puts it.
#include <gtest/gtest.h>

#include "pesuite/heads/error.h"
#include "pesuite/vision/vit.h"

using namespace pesuite;
using namespace pesuite::vision;

namespace {
ViTOptions small(const std::string& pe) {
  return ViTOptions().img_size(28).patch_size(4).in_chans(1).dim(48).depth(2).heads(3).num_classes(5).pe(pe);
}
std::int64_t count_params(torch::nn::Module& m) {
  std::int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}
}  // namespace

TEST(ViT, EveryEncodingAtTrainingAndLargerSizes) {
  torch::manual_seed(0);
  for (const std::string pe : {"none", "learned", "sincos2d", "fourier", "rope2d", "peg"}) {
    ViT m(small(pe));
    m->eval();
    for (int size : {28, 44, 56}) {
      auto y = m(torch::randn({2, 1, size, size}));
      EXPECT_EQ(y.sizes(), (std::vector<int64_t>{2, 5})) << pe << " at " << size;
      EXPECT_TRUE(torch::isfinite(y).all().item<bool>()) << pe << " at " << size;
    }
  }
}

TEST(ViT, FixedGridBiasWorksAtItsSizeAndSaysSoElsewhere) {
  ViT m(small("relbias2d"));
  m->eval();
  EXPECT_EQ(m(torch::randn({2, 1, 28, 28})).size(1), 5);
  EXPECT_THROW(m(torch::randn({2, 1, 44, 44})), InputError);  // its bias table is per grid offset
}

TEST(ViT, DeitAndCpvtTinyHaveThePapersSizes) {
  // DeiT-Ti: 5.7 M parameters; CPVT-Ti swaps the learned table (197 x 192) for a 3x3 depthwise
  // conv (192 * 9 + 192) after block 0.
  ViT deit = create_vit("deit_tiny_patch16");
  ViT cpvt = create_vit("cpvt_tiny");
  const auto nd = count_params(*deit), nc = count_params(*cpvt);
  EXPECT_NEAR(nd / 1e6, 5.72, 0.01);
  EXPECT_EQ(nd - nc, 197 * 192 - (192 * 9 + 192));
  ViT gap = create_vit("cpvt_gap_tiny");
  EXPECT_EQ(count_params(*cpvt) - count_params(*gap), 192);  // no class token
  ViT pos04 = create_vit("cpvt_tiny_pos0to4");
  EXPECT_EQ(count_params(*pos04) - nc, 4 * (192 * 9 + 192));
}

TEST(ViT, PegAfterBlockZeroSeesTheGrid) {
  torch::manual_seed(1);
  ViT m(small("peg"));
  m->eval();
  auto x = torch::randn({1, 1, 28, 28});
  auto base = m(x);
  // Zeroing the PEG's convolution must change the output (it is in the path) ...
  {
    torch::NoGradGuard g;
    for (auto& p : m->named_parameters())
      if (p.key().find("pos_block0") != std::string::npos) p.value().zero_();
  }
  EXPECT_FALSE(torch::allclose(m(x), base));
  // ... and a GAP model has no class token.
  ViT gap(small("peg").class_token(false));
  EXPECT_FALSE(gap->cls_token.defined());
  EXPECT_EQ(gap->layout_for(28, 28).prefix, 0);
}

TEST(ViT, NoDecayGroupHoldsNormsBiasesTokensAndPositions) {
  ViT m(small("learned"));
  std::int64_t total = 0, split = 0;
  for (const auto& p : m->parameters()) total += p.numel();
  for (const auto& p : m->no_decay_parameters()) split += p.numel();
  for (const auto& p : m->decay_parameters()) split += p.numel();
  EXPECT_EQ(total, split);
  bool table_in_no_decay = false;
  for (const auto& p : m->no_decay_parameters()) table_in_no_decay |= p.dim() == 2 && p.size(0) == 1 + 49;
  EXPECT_TRUE(table_in_no_decay);
}

TEST(ViT, BadInputsAreClearErrors) {
  EXPECT_THROW(create_vit("deit_huge"), InputError);
  EXPECT_THROW(ViT(small("learned").img_size(30)), InputError);
  EXPECT_THROW(ViT(small("nosuchpe")), InputError);
  EXPECT_THROW(ViT(small("peg").pe_after_blocks({5})), InputError);
  ViT m(small("none"));
  EXPECT_THROW(m(torch::randn({1, 3, 28, 28})), InputError);
  EXPECT_THROW(m(torch::randn({1, 1, 30, 30})), InputError);
}
