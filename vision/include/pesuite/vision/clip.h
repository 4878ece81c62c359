#pragma once
// CLIP (Radford et al. 2021) as openai/CLIP's model.py builds it for ViT image towers, with the
// same parameter names as its state dict, so that a converted OpenAI or OpenCLIP checkpoint
// (scripts/convert/clip_to_safetensors.py) loads strictly:
//   visual.conv1.weight, visual.class_embedding, visual.positional_embedding, visual.ln_pre.*,
//   visual.transformer.resblocks.N.{attn.in_proj_weight, attn.in_proj_bias, attn.out_proj.*,
//   ln_1.*, mlp.c_fc.*, mlp.c_proj.*, ln_2.*}, visual.ln_post.*, visual.proj,
//   token_embedding.weight, positional_embedding, transformer.resblocks.N.*, ln_final.*,
//   text_projection, logit_scale.
//
//   using namespace pesuite::vision;
//   Clip model = create_clip("ViT-B/32");               // or load_clip("ViT-B-32.safetensors")
//   model->eval();
//   ClipTokenizer tok(vocab_path);
//   auto text = model->encode_text(tok.tokenize({"a photo of a cat"}, model->options.context_length()).tokens);
//   auto image = model->encode_image(images);             // [B, 3, 224, 224], normalised with kClipMean / kClipStd
//   ClipOutput out = model(images, tokens);               // out.logits_per_image [B_img, B_txt]
//
// Attention is an in-file nn.MultiheadAttention equivalent (batch first, OpenAI's names), with
// the suite's per-head capture and interventions (heads::CaptureOptions / HeadIntervention) and an
// explicit trace for the decomposition (vision/decompose.h). Any input size divisible by the patch
// works: the positional table is resized bicubically to the new grid (antialiased, corners not
// aligned, the class row kept), as open_clip's resize_pos_embed does when it loads a checkpoint.
#include <torch/torch.h>

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "pesuite/heads/attention.h"
#include "pesuite/heads/positional.h"
#include "pesuite/core/safetensors.h"
#include "pesuite/vision/clip_tokenizer.h"

namespace pesuite::vision {

// OpenAI's image normalisation (per RGB channel, on [0, 1] pixels).
inline constexpr std::array<double, 3> kClipMean{0.48145466, 0.4578275, 0.40821073};
inline constexpr std::array<double, 3> kClipStd{0.26862954, 0.26130258, 0.27577711};

struct ClipOptions {
  TORCH_ARG(std::int64_t, embed_dim) = 512;
  // image tower
  TORCH_ARG(std::int64_t, image_size) = 224;  // training size: sets the positional table's grid
  TORCH_ARG(std::int64_t, patch_size) = 32;
  TORCH_ARG(std::int64_t, vision_width) = 768;
  TORCH_ARG(std::int64_t, vision_layers) = 12;
  TORCH_ARG(std::int64_t, vision_heads) = 0;  // 0 = width / 64 (OpenAI's rule)
  // text tower
  TORCH_ARG(std::int64_t, context_length) = 77;
  TORCH_ARG(std::int64_t, vocab_size) = 49408;
  TORCH_ARG(std::int64_t, text_width) = 512;
  TORCH_ARG(std::int64_t, text_layers) = 12;
  TORCH_ARG(std::int64_t, text_heads) = 0;  // 0 = width / 64
  TORCH_ARG(double, mlp_ratio) = 4.0;
  // "quick_gelu" (x * sigmoid(1.702 x): OpenAI's models and OpenCLIP's *-quickgelu) or "gelu"
  // (exact erf GELU: OpenCLIP models named without -quickgelu, e.g. LAION's ViT-B-32).
  TORCH_ARG(std::string, activation) = "quick_gelu";

 public:
  std::int64_t resolved_vision_heads() const { return vision_heads() > 0 ? vision_heads() : vision_width() / 64; }
  std::int64_t resolved_text_heads() const { return text_heads() > 0 ? text_heads() : text_width() / 64; }
};

// ---- building blocks (OpenAI's module names) ----------------------------------------------------

// What ClipAttention's explicit path computes, for decompositions.
struct ClipAttentionTrace {
  torch::Tensor out;     // [B, N, D] the layer's output (out_proj applied, bias included)
  torch::Tensor probs;   // [B, H, N, N]
  torch::Tensor values;  // [B, H, N, hd] value vectors (bias included)
};

// nn.MultiheadAttention's self-attention (in_proj_weight [3D, D]: q, k, v rows, each split into
// heads of D / H rows; out_proj), batch first.
class ClipAttentionImpl : public torch::nn::Module {
 public:
  ClipAttentionImpl(std::int64_t width, std::int64_t heads);
  torch::Tensor forward(const torch::Tensor& x, bool causal = false);  // [B, N, D] -> [B, N, D]
  // The explicit composition with probabilities and values; no capture, no intervention.
  ClipAttentionTrace trace(const torch::Tensor& x, bool causal = false);

  // Same meaning as heads::MultiHeadAttention's (contributions: [B, H, N, D], their sum over heads
  // plus out_proj.bias is the output).
  void set_capture(const heads::CaptureOptions& capture) { capture_options_ = capture; }
  const heads::AttentionCapture& captured() const { return captured_; }
  void clear_capture() { captured_ = heads::AttentionCapture(); capture_options_ = heads::CaptureOptions(); }
  void set_intervention(const heads::HeadIntervention& intervention);
  void clear_intervention() { intervention_ = heads::HeadIntervention(); }

  std::int64_t heads() const { return heads_; }
  std::int64_t head_dim() const { return width_ / heads_; }

  torch::Tensor in_proj_weight, in_proj_bias;
  torch::nn::Linear out_proj{nullptr};

 private:
  std::int64_t width_, heads_;
  heads::CaptureOptions capture_options_;
  heads::AttentionCapture captured_;
  heads::HeadIntervention intervention_;
};
TORCH_MODULE(ClipAttention);

class ClipMlpImpl : public torch::nn::Module {
 public:
  ClipMlpImpl(std::int64_t width, std::int64_t hidden, const std::string& activation);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Linear c_fc{nullptr}, c_proj{nullptr};
  bool quick_gelu = true;
};
TORCH_MODULE(ClipMlp);

// x + attn(ln_1(x)), then + mlp(ln_2(x)).
class ClipResidualBlockImpl : public torch::nn::Module {
 public:
  ClipResidualBlockImpl(std::int64_t width, std::int64_t heads, double mlp_ratio, const std::string& activation);
  torch::Tensor forward(const torch::Tensor& x, bool causal = false);
  torch::nn::LayerNorm ln_1{nullptr}, ln_2{nullptr};
  ClipAttention attn{nullptr};
  ClipMlp mlp{nullptr};
};
TORCH_MODULE(ClipResidualBlock);

class ClipTransformerImpl : public torch::nn::Module {
 public:
  ClipTransformerImpl(std::int64_t width, std::int64_t layers, std::int64_t heads, double mlp_ratio,
                      const std::string& activation);
  torch::Tensor forward(const torch::Tensor& x, bool causal = false);  // batch first
  ClipResidualBlock block(std::int64_t i) const;
  std::int64_t layers() const { return static_cast<std::int64_t>(resblocks->size()); }
  torch::nn::ModuleList resblocks;
};
TORCH_MODULE(ClipTransformer);

// OpenAI's VisionTransformer: conv1 patchify (no bias), class embedding, positional embedding,
// ln_pre, transformer, ln_post on the class token, proj.
class ClipVisionTransformerImpl : public torch::nn::Module {
 public:
  explicit ClipVisionTransformerImpl(const ClipOptions& options);
  torch::Tensor forward(const torch::Tensor& images);  // [B, 3, H, W] -> [B, embed_dim]
  // ln_pre's output, the transformer's input: [B, 1 + h*w, width].
  torch::Tensor embed(const torch::Tensor& images);
  // The positional table at a grid of h x w patches: [1 + h*w, width] (resized when h x w differs
  // from the training grid).
  torch::Tensor positional_embedding_for(std::int64_t grid_h, std::int64_t grid_w) const;
  heads::TokenLayout layout_for(std::int64_t height, std::int64_t width) const;
  std::vector<ClipAttention> attention_layers() const;

  ClipOptions options;
  torch::nn::Conv2d conv1{nullptr};
  torch::Tensor class_embedding, positional_embedding, proj;
  torch::nn::LayerNorm ln_pre{nullptr}, ln_post{nullptr};
  ClipTransformer transformer{nullptr};
};
TORCH_MODULE(ClipVisionTransformer);

struct ClipOutput {
  torch::Tensor image_embeds;      // [B_img, E], unnormalised
  torch::Tensor text_embeds;       // [B_txt, E], unnormalised
  torch::Tensor logits_per_image;  // [B_img, B_txt] = exp(logit_scale) * cosine similarity
};

class ClipImpl : public torch::nn::Module {
 public:
  explicit ClipImpl(const ClipOptions& options);
  torch::Tensor encode_image(const torch::Tensor& images);  // [B, E], unnormalised
  // tokens: int64 [B, context_length] (ClipTokenizer::tokenize); the feature of each row's
  // <|endoftext|> (its largest id, as OpenAI's argmax) through text_projection. InputError for a
  // wrong context length or an id outside the vocabulary.
  // check_ids = false skips the id range check (two host syncs): for tokens this suite's tokenizer
  // made, and inside a captured CUDA graph, where a sync is not allowed.
  torch::Tensor encode_text(const torch::Tensor& tokens, bool check_ids = true);
  ClipOutput forward(const torch::Tensor& images, const torch::Tensor& tokens);
  std::vector<ClipAttention> text_attention_layers() const;

  ClipOptions options;
  ClipVisionTransformer visual{nullptr};
  ClipTransformer transformer{nullptr};
  torch::nn::Embedding token_embedding{nullptr};
  torch::Tensor positional_embedding, text_projection, logit_scale;
  torch::nn::LayerNorm ln_final{nullptr};
};
TORCH_MODULE(Clip);

// Zero-shot classifier weights, as OpenAI's prompt-engineering notebook builds them: for each class
// every template with "{}" replaced by the class name, tokenized with the model's context length,
// encoded, each embedding normalised, the class's mean normalised again. [K, E], no grad.
// InputError for no classes, no templates or a template without "{}". `truncated` (optional) is
// set when a prompt did not fit the context.
torch::Tensor zero_shot_weights(Clip& model, const ClipTokenizer& tokenizer, const std::vector<std::string>& classnames,
                                const std::vector<std::string>& templates = {"a photo of a {}."}, bool* truncated = nullptr);

// ---- presets, files -----------------------------------------------------------------------------
struct ClipModelInfo {
  std::string name;
  std::string help;
};
// OpenAI's ViT-B/32, ViT-B/16, ViT-L/14, ViT-L/14@336px shapes, and small models for 64 px scenes.
const std::vector<ClipModelInfo>& list_clip_models();
ClipOptions clip_preset(const std::string& name);  // core::InputError listing the names
Clip create_clip(const std::string& name, const std::function<void(ClipOptions&)>& adjust = {});

// The architecture a state dict describes, read from its shapes the way openai/CLIP's build_model
// does (widths, layer counts, patch, grid, context, vocabulary), with heads = width / 64 and
// QuickGELU unless the metadata says otherwise (keys as clip_metadata writes them). InputError
// naming the source and the tensor when one it needs is missing or has the wrong rank.
ClipOptions clip_options_from_state(const core::TensorMap& state, const core::Metadata& metadata, const std::string& source);
// The options as safetensors metadata (every ClipOptions field, plus "format": "pesuite-clip").
core::Metadata clip_metadata(const ClipOptions& options);
// Reads a converted checkpoint or one save_clip wrote: options from the file, then a strict load
// (missing, unexpected or mis-shaped tensors are InputErrors naming the tensor and both shapes).
Clip load_clip(const std::string& path);
void save_clip(const std::string& path, const Clip& model);

}  // namespace pesuite::vision
