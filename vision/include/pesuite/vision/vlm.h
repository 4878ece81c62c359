#pragma once
// A small captioning vision-language model in OpenFlamingo's design (Awadalla et al. 2023, after
// Alayrac et al.'s Flamingo): an image tower (CLIP's ViT, clip.h) whose patch tokens a perceiver
// resampler turns into a fixed number of latents, and a causal language model (heads/ attention
// with RoPE or a learned table) that reads them through gated cross-attention blocks inserted
// before every decoder layer. Text is CLIP's BPE (clip_tokenizer.h) mapped into the model's own
// compact vocabulary (VlmVocab: the BPE ids its training text uses, plus <image> and
// <|endofchunk|>), so that the output layer is small enough for a CPU.
//
//   using namespace pesuite::vision;
//   ClipTokenizer tok(vocab_path);
//   VlmVocab vocab = VlmVocab::from_texts(tok, captions);           // + the PIN prompt words
//   Vlm vlm = create_vlm("vlm_micro_32", vocab);
//   auto ids = vocab.sequence(tok, {"a photo of a red apple."});    // <image> a photo ... <|endofchunk|>
//   auto logits = vlm(images, ids.unsqueeze(0));                   // [1, T, V]: one image per row
//   // the parts, for PIN and the baselines (pin.h):
//   auto tokens = vlm->vision_tokens(images);                      // [B, h*w, Dv] after ln_post
//   auto media = vlm->resample(tokens + pin()).unsqueeze(1);       // [B, 1, latents, Dv]
//   auto out = vlm->lm_logits(ids, media);                          // <image> k reads media k
//
// What the design implies (and the tests check): the resampler has no positional input, so its
// output does not depend on the order of the vision tokens; with both tanh gates of every
// cross-attention block at 0 (their initial value) the LM ignores the image exactly; text tokens
// before the first <image> see no image; a token after the k-th <image> sees only image k
// (OpenFlamingo's only_attend_immediate_media).
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "pesuite/core/safetensors.h"
#include "pesuite/heads/attention.h"
#include "pesuite/vision/clip.h"
#include "pesuite/vision/clip_tokenizer.h"

namespace pesuite::vision {

struct VlmOptions {
  // image tower (CLIP ViT)
  TORCH_ARG(std::int64_t, image_size) = 64;
  TORCH_ARG(std::int64_t, patch_size) = 8;
  TORCH_ARG(std::int64_t, vision_width) = 192;
  TORCH_ARG(std::int64_t, vision_layers) = 4;
  TORCH_ARG(std::int64_t, vision_heads) = 3;
  // perceiver resampler (Flamingo: 6 layers, 64 latents, 8 heads of 64)
  TORCH_ARG(std::int64_t, latents) = 32;
  TORCH_ARG(std::int64_t, resampler_layers) = 2;
  TORCH_ARG(std::int64_t, resampler_heads) = 4;
  // language model
  TORCH_ARG(std::int64_t, lm_width) = 256;
  TORCH_ARG(std::int64_t, lm_layers) = 4;
  TORCH_ARG(std::int64_t, lm_heads) = 4;
  TORCH_ARG(std::int64_t, context_length) = 64;  // RoPE works at any length; the learned table has this many rows
  TORCH_ARG(std::string, lm_pe) = "rope";         // rope (RoPE 1D, Su et al.) | learned (an absolute table)
  TORCH_ARG(std::int64_t, xattn_every) = 1;       // a gated cross-attention block before every n-th decoder layer
  TORCH_ARG(double, mlp_ratio) = 4.0;
  // Initial value of every tanh gate's parameter: 0 is OpenFlamingo's (the pretrained LM starts
  // unchanged); a VLM trained from scratch here may start them open so that the image tower gets
  // gradients from the first step. Initialisation only: not stored in files.
  TORCH_ARG(double, gate_init) = 0.0;

 public:
  std::int64_t grid() const { return image_size() / patch_size(); }  // vision tokens per side
};

// The model's vocabulary: CLIP BPE ids in ascending order after three specials.
class VlmVocab {
 public:
  static constexpr std::int64_t kPad = 0, kImage = 1, kEndOfChunk = 2, kSpecials = 3;
  VlmVocab() = default;
  // Sorted unique CLIP ids (InputError for ids outside CLIP's vocabulary).
  explicit VlmVocab(std::vector<std::int64_t> clip_ids);
  // Every CLIP id of the texts (their BPE, without start / end of text).
  static VlmVocab from_texts(const ClipTokenizer& tok, const std::vector<std::string>& texts);
  // The vocabulary a model stores (its `vocab` buffer): [V] int64, CLIP ids, -1 for the specials.
  static VlmVocab from_table(const torch::Tensor& table, const std::string& source);
  torch::Tensor table() const;

  std::int64_t size() const { return kSpecials + static_cast<std::int64_t>(clip_ids_.size()); }
  std::optional<std::int64_t> id_of(std::int64_t clip_id) const;
  // Model ids of a text's BPE; InputError naming `what` and the first BPE token the vocabulary
  // lacks, or when the text has no token at all.
  std::vector<std::int64_t> encode(const ClipTokenizer& tok, const std::string& text, const std::string& what) const;
  // Text of model ids (specials as <image>, <|endofchunk|>, <pad>).
  std::string decode(const ClipTokenizer& tok, const std::vector<std::int64_t>& ids) const;
  // <image> text <|endofchunk|> per text, concatenated (one chunk per image), as int64 [T].
  torch::Tensor sequence(const ClipTokenizer& tok, const std::vector<std::string>& texts) const;
  const std::vector<std::int64_t>& clip_ids() const { return clip_ids_; }

 private:
  std::vector<std::int64_t> clip_ids_;
};

// ---- parts ----------------------------------------------------------------------------------------

// Flamingo's feed-forward: LayerNorm, Linear (no bias), GELU, Linear (no bias).
class VlmFeedForwardImpl : public torch::nn::Module {
 public:
  VlmFeedForwardImpl(std::int64_t dim, double mult);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::LayerNorm norm{nullptr};
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(VlmFeedForward);

// Flamingo's perceiver resampler: learned latents attend to [media tokens, latents] (queries from
// the latents; LayerNorms on both; no biases), a feed-forward, residuals; a final LayerNorm.
class PerceiverResamplerImpl : public torch::nn::Module {
 public:
  PerceiverResamplerImpl(std::int64_t dim, std::int64_t latents, std::int64_t layers, std::int64_t heads, double mlp_ratio);
  torch::Tensor forward(const torch::Tensor& x);  // [B, N, dim] -> [B, latents, dim]
  torch::Tensor latents;
  torch::nn::ModuleList norm_media, norm_latents, attn, ff;
  torch::nn::LayerNorm norm{nullptr};
};
TORCH_MODULE(PerceiverResampler);

// OpenFlamingo's GatedCrossAttentionBlock: x + tanh(attn_gate) * xattn(LN(x), media) then
// x + tanh(ff_gate) * ff(x), both gates initialised to 0. `media_bias` [B, 1, T, M*L] is 0 where a
// text token may read a media latent and -inf elsewhere; `has_media` [B, T] zeroes the attention
// output of tokens before the first <image>.
class GatedCrossAttentionImpl : public torch::nn::Module {
 public:
  GatedCrossAttentionImpl(std::int64_t dim, std::int64_t media_dim, std::int64_t heads, double mlp_ratio, double gate_init = 0.0);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& media, const torch::Tensor& media_bias, const torch::Tensor& has_media);
  torch::nn::LayerNorm norm{nullptr};
  heads::MultiHeadAttention attn{nullptr};
  VlmFeedForward ff{nullptr};
  torch::Tensor attn_gate, ff_gate;
};
TORCH_MODULE(GatedCrossAttention);

// Pre-LN causal decoder layer: x + attn(LN(x)), x + mlp(LN(x)) (GELU).
class VlmDecoderLayerImpl : public torch::nn::Module {
 public:
  VlmDecoderLayerImpl(std::int64_t dim, std::int64_t heads, double mlp_ratio, heads::PositionalTermPtr positional);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::LayerNorm ln_1{nullptr}, ln_2{nullptr};
  heads::MultiHeadAttention attn{nullptr};
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(VlmDecoderLayer);

// ---- the model --------------------------------------------------------------------------------------

class VlmImpl : public torch::nn::Module {
 public:
  VlmImpl(const VlmOptions& options, const VlmVocab& vocab);

  // Patch tokens of the image tower after ln_post (class token dropped): [B, h*w, vision_width].
  // `prompts` [P, vision_width] (VPT-shallow, Jia et al. 2022): extra tokens after the class token
  // at the transformer's input, dropped at its output. InputError for images that are not
  // [B, 3, image_size, image_size].
  torch::Tensor vision_tokens(const torch::Tensor& images, const torch::Tensor& prompts = {});
  torch::Tensor resample(const torch::Tensor& tokens);  // [B, N, Dv] -> [B, latents, Dv]
  // Logits [B, T, V] of ids [B, T] (model ids) with media [B, M, latents, Dv]: the token after
  // <image> number k (counting from 0 in its row) reads media k.
  torch::Tensor lm_logits(const torch::Tensor& ids, const torch::Tensor& media);
  // One image per row: lm_logits(ids, resample(vision_tokens(images)).unsqueeze(1)).
  torch::Tensor forward(const torch::Tensor& images, const torch::Tensor& ids);

  // Which image each token reads: [B, T] int64, -1 before the row's first <image>.
  static torch::Tensor media_index(const torch::Tensor& ids);
  std::vector<GatedCrossAttention> cross_attention_blocks() const;
  VlmVocab vocabulary() const { return vocab_; }

  VlmOptions options;
  ClipVisionTransformer visual{nullptr};
  PerceiverResampler resampler{nullptr};
  torch::nn::Embedding token_embedding{nullptr};
  torch::Tensor positional_embedding;  // lm_pe = learned: [context_length, lm_width]
  torch::nn::ModuleList xattn, layers;  // xattn[i] precedes layers[i * xattn_every]
  torch::nn::LayerNorm ln_final{nullptr};
  torch::Tensor vocab;  // buffer [V]: the CLIP id of each model id (-1 for the specials)

 private:
  VlmVocab vocab_;
};
TORCH_MODULE(Vlm);

// ---- presets, files ---------------------------------------------------------------------------------
struct VlmModelInfo {
  std::string name;
  std::string help;
};
const std::vector<VlmModelInfo>& list_vlm_models();
VlmOptions vlm_preset(const std::string& name);  // InputError listing the names
Vlm create_vlm(const std::string& name, const VlmVocab& vocab, const std::function<void(VlmOptions&)>& adjust = {});

// The options as safetensors metadata ("format": "pesuite-vlm") and back (InputError naming the
// source and the key that is missing or not a number).
core::Metadata vlm_metadata(const VlmOptions& options);
VlmOptions vlm_options_from_metadata(const core::Metadata& metadata, const std::string& source);
// `prefix` + tensor names; the vocabulary travels as the `vocab` buffer.
void save_vlm(const std::string& path, const Vlm& model, const core::Metadata& extra = {});
// Options from the metadata, vocabulary from the file's `vocab` tensor, then a strict load (a
// checkpoint of another size: InputError naming the tensor and both shapes).
Vlm load_vlm(const std::string& path);

}  // namespace pesuite::vision
