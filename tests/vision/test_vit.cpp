// ViT / CPVT: any encoding plugs in, any input size works without fine-tuning, the presets match
// the papers' shapes, and PEG sits where CPVT puts it.
#include <gtest/gtest.h>

#include <algorithm>

#include "pesuite/core/error.h"
#include "pesuite/heads/pe_registry.h"
#include "pesuite/heads/positional.h"
#include "pesuite/vision/vit.h"

using namespace pesuite;
using namespace pesuite::vision;

namespace {
ViTOptions small(const std::string& pe) {
  return ViTOptions().img_size(28).patch_size(4).in_chans(1).dim(48).depth(2).heads(3).num_classes(5).pe(pe);
}
// The image with its patch x patch tiles moved by a fixed permutation of grid cells.
torch::Tensor shuffle_patches(const torch::Tensor& x, std::int64_t patch) {
  const auto B = x.size(0), C = x.size(1), gh = x.size(2) / patch, gw = x.size(3) / patch;
  auto tiles = x.view({B, C, gh, patch, gw, patch}).permute({0, 1, 2, 4, 3, 5}).reshape({B, C, gh * gw, patch, patch});
  auto perm = torch::randperm(gh * gw, torch::TensorOptions().dtype(torch::kInt64));
  return tiles.index_select(2, perm).view({B, C, gh, gw, patch, patch}).permute({0, 1, 2, 4, 3, 5}).reshape(x.sizes());
}
// Without an encoding a ViT is blind to where a patch sits (patch embedding, attention and
// class-token or average pooling are all permutation-equivariant): shuffling the patches changes
// nothing. Every encoding must make the output depend on the positions.
// At initialisation some encodings are nearly silent (a learned table of std 0.02, a zero relative
// bias table, a small Fourier MLP), so the check redraws every parameter with std 0.3 (and puts
// them back after): any positional path then shows, while a model without one stays equivariant up
// to float rounding. Differences are relative to the output's largest magnitude.
void expect_position_sensitivity(ViT& m, const std::string& pe, int size) {
  torch::NoGradGuard ng;
  std::vector<torch::Tensor> saved;
  for (auto& p : m->parameters()) {
    saved.push_back(p.clone());
    p.normal_(0, 0.3);
  }
  auto x = torch::randn({2, 1, size, size});
  const auto y = m(x);
  const auto diff = (y - m(shuffle_patches(x, 4))).abs().max().item<double>() / y.abs().max().item<double>();
  auto params = m->parameters();
  for (std::size_t i = 0; i < params.size(); ++i) params[i].copy_(saved[i]);
  if (pe == "none")
    EXPECT_LT(diff, 1e-6) << "no encoding, yet the output depends on the patch order (at " << size << " px)";
  else
    EXPECT_GT(diff, 1e-4) << pe << " at " << size << " px: shuffling the patches barely changes the output (relative " << diff << ")";
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
      expect_position_sensitivity(m, pe, size);
    }
  }
}

TEST(ViT, RelativeBiasTableFollowsTheGrid) {
  // relbias2d's bias between two tokens is the table's row of their grid offset (dy, dx); the
  // class token has its own three rows. Checked entry by entry against a naive lookup.
  torch::manual_seed(0);
  const std::int64_t H = 3, h = 4, w = 5, cells = (2 * h - 1) * (2 * w - 1);
  heads::RelBias2D rb(heads::RelBias2DOptions(H, h, w).class_token(true));
  ASSERT_EQ(rb->table.size(0), cells + 3);
  const auto n = 1 + h * w;
  const auto b = rb->bias(n, n, heads::TokenLayout::grid(h, w, 1), torch::TensorOptions().dtype(torch::kFloat32));
  ASSERT_EQ(b.sizes(), (std::vector<std::int64_t>{H, n, n}));
  const auto t = rb->table.detach();
  for (std::int64_t hd = 0; hd < H; ++hd) {
    EXPECT_EQ(b[hd][0][0].item<float>(), t[cells + 2][hd].item<float>());
    for (std::int64_t p = 0; p < h * w; ++p) {
      EXPECT_EQ(b[hd][0][1 + p].item<float>(), t[cells][hd].item<float>());
      EXPECT_EQ(b[hd][1 + p][0].item<float>(), t[cells + 1][hd].item<float>());
      for (std::int64_t q = 0; q < h * w; ++q) {
        const auto row = (p / w - q / w + h - 1) * (2 * w - 1) + (p % w - q % w + w - 1);
        ASSERT_EQ(b[hd][1 + p][1 + q].item<float>(), t[row][hd].item<float>()) << "head " << hd << " tokens " << p << ", " << q;
      }
    }
  }
  // On a larger grid the (dy, dx) part is resized: the bias is still a function of the offset alone
  // (equal offsets, equal bias), and resizing to the training grid changes nothing.
  const std::int64_t h2 = 6, w2 = 7, n2 = 1 + h2 * w2;
  const auto b2 = rb->bias(n2, n2, heads::TokenLayout::grid(h2, w2, 1), torch::TensorOptions().dtype(torch::kFloat32));
  for (std::int64_t p = 0; p + w2 + 1 < h2 * w2; p += 5)
    if (p % w2 + 1 < w2)  // token p and the token one row down and one column right, vs the pair shifted by (1, 1)
      EXPECT_TRUE(torch::equal(b2.select(1, 1 + p).select(1, 1 + p + w2 + 1), b2.select(1, 1).select(1, 1 + w2 + 1))) << p;
  auto copy = rb->table.detach().clone();
  rb->resize(h, w);
  EXPECT_TRUE(torch::allclose(rb->table, copy, 0, 1e-6));
  // And the ViT uses it: shuffled patches give other logits.
  ViT m(small("relbias2d"));
  m->eval();
  for (int size : {28, 44}) expect_position_sensitivity(m, "relbias2d", size);
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
  EXPECT_THROW(create_vit("deit_huge"), pesuite::core::InputError);
  EXPECT_THROW(ViT(small("learned").img_size(30)), pesuite::core::InputError);
  EXPECT_THROW(ViT(small("nosuchpe")), pesuite::core::InputError);
  EXPECT_THROW(ViT(small("peg").pe_after_blocks({5})), pesuite::core::InputError);
  ViT m(small("none"));
  EXPECT_THROW(m(torch::randn({1, 3, 28, 28})), pesuite::core::InputError);
  EXPECT_THROW(m(torch::randn({1, 1, 30, 30})), pesuite::core::InputError);
}

// Every encoding the CLI accepts by name (--set model.pe=...) builds and runs at the training
// size and at 2x. alibi2d is checked once the heads registry has it.
TEST(ViT, EveryPeNameBuildsAndRunsAtTwoSizes) {
  torch::manual_seed(0);
  std::vector<std::string> names;
  for (const auto& info : heads::list_pes()) names.push_back(info.name);
  for (const std::string pe : {"learned", "sincos2d", "fourier", "rope2d", "alibi2d", "peg", "none"}) {
    if (std::find(names.begin(), names.end(), pe) == names.end()) {
      ADD_FAILURE() << pe << " is not in the heads PE registry";
      continue;
    }
    for (bool cls : {true, false}) {
      ViT m(small(pe).class_token(cls));
      m->eval();
      for (int size : {28, 56}) {
        auto y = m(torch::randn({2, 1, size, size}));
        EXPECT_EQ(y.sizes(), (std::vector<int64_t>{2, 5})) << pe << " at " << size;
        EXPECT_TRUE(torch::isfinite(y).all().item<bool>()) << pe << " at " << size;
        expect_position_sensitivity(m, pe, size);
      }
    }
  }
}

TEST(ViT, PegBeforeBlockZeroAndAtSeveralBlocks) {
  ViT before(small("peg").pe_after_blocks({-1}));
  bool found = false;
  for (const auto& p : before->named_parameters()) found |= p.key().rfind("pos_input.", 0) == 0;
  EXPECT_TRUE(found);
  EXPECT_EQ(before(torch::randn({1, 1, 28, 28})).size(1), 5);
  ViT both(small("peg:kernel=5,padding=false").pe_after_blocks({-1, 0, 1}));
  EXPECT_EQ(both->block_pe.size(), 3u);
  EXPECT_EQ(both(torch::randn({1, 1, 44, 44})).size(1), 5);
  EXPECT_THROW(ViT(small("peg").pe_after_blocks({1, 0})), pesuite::core::InputError);
  EXPECT_THROW(ViT(small("peg").pe_after_blocks({-2})), pesuite::core::InputError);
}

TEST(ViT, CaptureAttentionGivesEveryLayerAndGridMaps) {
  torch::manual_seed(2);
  for (bool cls : {true, false}) {
    ViT m(small("learned").class_token(cls));
    auto cap = capture_attention(m, torch::randn({1, 1, 28, 28}));
    ASSERT_EQ(cap.probs.size(), 2u);
    const std::int64_t n = 49 + (cls ? 1 : 0);
    EXPECT_EQ(cap.probs[1].sizes(), (std::vector<int64_t>{1, 3, n, n}));
    auto maps = attention_grid_maps(cap.probs[0], cap.layout);
    EXPECT_EQ(maps.sizes(), (std::vector<int64_t>{1, 3, 7, 7}));
    if (!cls) EXPECT_NEAR(maps.sum().item<double>(), 3.0, 1e-4);  // mean received attention sums to 1 per head
    for (auto& a : m->attention_layers()) EXPECT_FALSE(a->captured().probs.defined());  // capture cleared
  }
  // Similarity maps of an additive encoding: position i is most similar to itself (cosine 1).
  ViT learned(small("sincos2d"));
  auto sim = pe_similarity_maps(learned, 7, 7);
  ASSERT_TRUE(sim.defined());
  EXPECT_EQ(sim.sizes(), (std::vector<int64_t>{49, 7, 7}));
  EXPECT_NEAR(sim[10][1][3].item<double>(), 1.0, 1e-5);  // cell 10 = row 1, column 3
  ViT peg(small("peg"));
  EXPECT_FALSE(pe_similarity_maps(peg, 7, 7).defined());
}
