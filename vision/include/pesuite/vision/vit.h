#pragma once
// Vision transformers whose positional encoding is a parameter: ViT / DeiT, CPVT (PEG after block
// 0, or after blocks 0-4), CPVT-GAP (no class token, global average pool). Any encoding of the
// heads/ registry plugs in by spec: absolute ones (learned, sincos2d, fourier) are added to the
// patch tokens, conditional ones (peg) run after the chosen blocks, attention terms (rope2d,
// relbias2d, alibi) go into every block's attention. Any input size divisible by the patch size
// works; a learned table is resized bicubically on the fly.
//
//   using namespace pesuite::vision;
//   ViT model = create_vit("cpvt_tiny", [](ViTOptions& o) { o.num_classes(10); });
//   torch::Tensor logits = model(images);           // [B, 3, 224, 224] -> [B, 10]
//   ViT small = ViT(ViTOptions().img_size(28).patch_size(4).in_chans(1).dim(96).depth(4).heads(3)
//                       .num_classes(10).pe("peg"));
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "pesuite/heads/attention.h"
#include "pesuite/heads/pe_registry.h"

namespace pesuite::core {
class WeightCopies;
}

namespace pesuite::vision {

struct FastOps;  // fast_ops.h

struct ViTOptions {
  TORCH_ARG(std::int64_t, img_size) = 224;  // training size (sets the learned table's grid)
  TORCH_ARG(std::int64_t, patch_size) = 16;
  TORCH_ARG(std::int64_t, in_chans) = 3;
  TORCH_ARG(std::int64_t, num_classes) = 1000;
  TORCH_ARG(std::int64_t, dim) = 192;
  TORCH_ARG(std::int64_t, depth) = 12;
  TORCH_ARG(std::int64_t, heads) = 3;
  TORCH_ARG(double, mlp_ratio) = 4.0;
  TORCH_ARG(double, drop_path) = 0.0;  // stochastic depth, linearly increasing over blocks
  TORCH_ARG(double, dropout) = 0.0;
  // A heads/ registry spec: learned | sincos2d | fourier | peg | rope2d | relbias2d | none | ...
  TORCH_ARG(std::string, pe) = "learned";
  // Conditional encodings (PEG) run after these blocks (CPVT: {0}; CPVT 0-4: {0,1,2,3,4}); -1 =
  // before block 0, on the patch embeddings (CPVT's position ablation). Strictly increasing.
  TORCH_ARG(std::vector<std::int64_t>, pe_after_blocks) = std::vector<std::int64_t>{0};
  TORCH_ARG(bool, class_token) = true;  // false: CPVT-GAP (mean of the tokens after the final norm)
  // LayerNorm weight/bias gradients (column sums) as one matrix product on CUDA where that is faster
  // (heads/layer_norm.h); false = LibTorch's
  // LayerNorm throughout (benchmarks compare the two).
  TORCH_ARG(bool, column_norm_grads) = true;
};

// Drops a residual branch per sample with probability p while training (Huang et al. 2016).
torch::Tensor drop_path(const torch::Tensor& x, double p, bool training);

class BlockImpl : public torch::nn::Module {
 public:
  BlockImpl(const ViTOptions& options, double drop_path);
  torch::Tensor forward(const torch::Tensor& x, const heads::AttentionArgs& args);
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
  heads::MultiHeadAttention attn{nullptr};
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
  double drop_path_ = 0;
  bool column_norm_grads_ = true;
};
TORCH_MODULE(Block);

class ViTImpl : public torch::nn::Module {
 public:
  explicit ViTImpl(const ViTOptions& options);
  torch::Tensor forward(const torch::Tensor& images);  // [B, C, H, W] -> logits [B, classes]
  torch::Tensor forward_features(const torch::Tensor& images);  // pooled features [B, dim]
  // The token layout for an input of this size (grid of patches, class token in front or not).
  heads::TokenLayout layout_for(std::int64_t height, std::int64_t width) const;
  // Parameters that should get no weight decay (biases, norms, tokens, positional tables, PEG).
  std::vector<torch::Tensor> no_decay_parameters() { return parameters_by_decay(false); }
  std::vector<torch::Tensor> decay_parameters() { return parameters_by_decay(true); }
  std::vector<torch::Tensor> parameters_by_decay(bool decay);
  // AdamW's two parameter groups: decay_parameters() with `options`, no_decay_parameters() with the
  // same options and weight decay 0 (the trainer's and bench vit's optimiser).
  std::vector<torch::optim::OptimizerParamGroup> adamw_groups(const torch::optim::AdamWOptions& options);
  // Every block's attention, in order (for capture, head masks, head importance).
  std::vector<heads::MultiHeadAttention> attention_layers();

  // The GPU fast path (train.fast_path; fast_ops.h): on CUDA inputs the blocks run the fused
  // residual-add + LayerNorm and bias + GELU(erf) kernels, and under bf16 autocast every Linear reads
  // bf16 copies of its weight and bias (core::WeightCopies) instead of casting them in each forward;
  // the first training-mode forward makes them, so an eval-only process holds none (see
  // hold_weight_copies). Call after moving the model to its device, and refresh_weight_copies()
  // after every optimiser step and after loading weights. Returns fast_ops_status(): what was
  // loaded, or why the kernels are not there (then the forward is the unfused one, with the weight
  // copies still in use).
  // `ops`: other implementations of the fused ops, used on inputs of any device (tests check the
  // fast forward's structure on the CPU with LibTorch reference ops); must outlive the model.
  std::string set_fast_path(bool on, const FastOps* ops = nullptr);
  bool fast_path() const { return fast_path_; }
  // With the fast path, training forwards keep only fc1's output for each MLP's backward and
  // recompute the GELU there (FastOps::gelu_linear; train.recompute_gelu): the peak activation
  // memory drops by one [B, N, 4 C] tensor per block, the step gets one elementwise pass longer.
  void set_recompute_gelu(bool on) { recompute_gelu_ = on; }
  bool recompute_gelu() const { return recompute_gelu_; }
  void refresh_weight_copies();
  bool holds_weight_copies() const { return weight_copies_ != nullptr; }
  // Makes the bf16 copies now (with the fast path on; after set_fast_path and loading weights): for
  // an eval-only process that puts batch-1 latency before memory, since without them each bf16
  // forward casts every Linear weight (docs/gpu-fast-path.md; `bench vit --weight-copies`).
  void hold_weight_copies();

  ViTOptions options;
  heads::PositionalEncoding pe;  // resolved spec (kind, params)
  torch::nn::Conv2d patch_embed{nullptr};
  torch::Tensor cls_token;
  std::shared_ptr<heads::TokenPE> input_pe;               // absolute encodings (or null)
  std::vector<std::shared_ptr<heads::TokenPE>> block_pe;  // conditional ones, one per listed block
  torch::nn::ModuleList blocks;
  torch::nn::LayerNorm norm{nullptr};
  torch::nn::Linear head{nullptr};

 private:
  torch::Tensor embed_tokens(const torch::Tensor& images, heads::AttentionArgs& args, std::size_t& next_pe);
  // The bf16 weight copies this forward reads (made here by the first training forward), or null.
  const core::WeightCopies* weight_copies_for(const torch::Tensor& images);
  torch::Tensor forward_features_plain(const torch::Tensor& images);
  torch::Tensor forward_features_fast(const torch::Tensor& images, const void* ops);
  torch::Tensor mlp_output(BlockImpl& blk, torch::Tensor& h, const FastOps& ops, const core::WeightCopies* copies);
  bool fast_path_ = false, recompute_gelu_ = false;
  const FastOps* fast_ops_override_ = nullptr;
  std::shared_ptr<core::WeightCopies> weight_copies_;
};
TORCH_MODULE(ViT);

// ---- analysis ---------------------------------------------------------------------------------
// One forward with attention probabilities captured in every block (eval mode, no grad); the
// capture is cleared afterwards.
struct ViTAttention {
  std::vector<torch::Tensor> probs;  // per block: [B, H, N, N]
  heads::TokenLayout layout;
  torch::Tensor logits;              // [B, classes]
};
ViTAttention capture_attention(ViT& model, const torch::Tensor& images);

// Per-head maps over the patch grid from one block's probabilities [B, H, N, N]: the class token's
// attention to each patch, or, without a class token (GAP), the mean attention each patch receives.
// [B, H, h, w].
torch::Tensor attention_grid_maps(const torch::Tensor& probs, const heads::TokenLayout& layout);

// The additive positional embedding of the model at a grid of height x width patches, as cosine
// similarity maps [h*w, h, w] (ViT paper, figure 7); undefined when the encoding adds no embedding
// to the tokens (peg, rope2d, attention biases, none).
torch::Tensor pe_similarity_maps(ViT& model, std::int64_t grid_h, std::int64_t grid_w);

// ---- registry ---------------------------------------------------------------------------------
struct ModelInfo {
  std::string name;
  std::string help;
};
const std::vector<ModelInfo>& list_vit_models();
// Named presets (deit_tiny_patch16, cpvt_small, cpvt_gap_tiny, vit_tiny_patch4_28, ...), with a
// hook to adjust options (classes, input size, pe) before the model is built. InputError for an
// unknown name, listing the valid ones.
ViT create_vit(const std::string& name, const std::function<void(ViTOptions&)>& adjust = {});
ViTOptions vit_preset(const std::string& name);

}  // namespace pesuite::vision
