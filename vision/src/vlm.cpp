// The captioning VLM (vlm.h): vocabulary, resampler, gated cross-attention LM, presets, files.
#include "pesuite/vision/vlm.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "pesuite/core/error.h"
#include "pesuite/core/params.h"

namespace pesuite::vision {
namespace {
std::string vlm_shape(const torch::Tensor& t) { return t.defined() ? c10::str(t.sizes()) : std::string("undefined"); }
}  // namespace

// ---- vocabulary ----------------------------------------------------------------------------------

VlmVocab::VlmVocab(std::vector<std::int64_t> ids) {
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  for (auto id : ids)
    if (id < 0 || id >= ClipTokenizer::kVocabSize)
      throw core::InputError("vlm vocabulary: CLIP id " + std::to_string(id) + " is outside [0, " + std::to_string(ClipTokenizer::kVocabSize) + ")");
  clip_ids_ = std::move(ids);
}

VlmVocab VlmVocab::from_texts(const ClipTokenizer& tok, const std::vector<std::string>& texts) {
  std::set<std::int64_t> ids;
  for (const auto& t : texts)
    for (auto id : tok.encode(t)) ids.insert(id);
  return VlmVocab(std::vector<std::int64_t>(ids.begin(), ids.end()));
}

VlmVocab VlmVocab::from_table(const torch::Tensor& table, const std::string& source) {
  if (!table.defined() || table.dim() != 1 || table.size(0) < kSpecials || table.scalar_type() != torch::kInt64)
    throw core::InputError(source + ": tensor 'vocab' must be int64 [V] with V >= 3 (the VLM's vocabulary)");
  auto t = table.contiguous();
  const auto* p = t.data_ptr<std::int64_t>();
  std::vector<std::int64_t> ids(p + kSpecials, p + t.size(0));
  for (std::size_t i = 1; i < ids.size(); ++i)
    if (ids[i] <= ids[i - 1]) throw core::InputError(source + ": tensor 'vocab' is not in ascending CLIP id order at row " + std::to_string(i + kSpecials));
  return VlmVocab(std::move(ids));
}

torch::Tensor VlmVocab::table() const {
  std::vector<std::int64_t> t(static_cast<std::size_t>(kSpecials), -1);
  t.insert(t.end(), clip_ids_.begin(), clip_ids_.end());
  return torch::tensor(t, torch::kInt64);
}

std::optional<std::int64_t> VlmVocab::id_of(std::int64_t clip_id) const {
  auto it = std::lower_bound(clip_ids_.begin(), clip_ids_.end(), clip_id);
  if (it == clip_ids_.end() || *it != clip_id) return std::nullopt;
  return kSpecials + (it - clip_ids_.begin());
}

std::vector<std::int64_t> VlmVocab::encode(const ClipTokenizer& tok, const std::string& text, const std::string& what) const {
  const auto clip = tok.encode(text);
  if (clip.empty()) throw core::InputError(what + " '" + text + "': no BPE token to put in the prompt (empty after CLIP's normalisation)");
  std::vector<std::int64_t> out;
  for (auto c : clip) {
    auto id = id_of(c);
    if (!id)
      throw core::InputError(what + " '" + text + "': BPE token '" + tok.decode({c}) + "' (CLIP id " + std::to_string(c) +
                             ") is not in the VLM's vocabulary (" + std::to_string(size()) + " ids, the words of its training text)");
    out.push_back(*id);
  }
  return out;
}

std::string VlmVocab::decode(const ClipTokenizer& tok, const std::vector<std::int64_t>& ids) const {
  std::string out;
  std::vector<std::int64_t> run;
  auto flush = [&] {
    if (!run.empty()) out += tok.decode(run);
    run.clear();
  };
  for (auto id : ids) {
    if (id < 0 || id >= size()) throw core::InputError("vlm: token id " + std::to_string(id) + " is outside the vocabulary of " + std::to_string(size()));
    if (id < kSpecials) {
      flush();
      out += id == kImage ? "<image>" : id == kEndOfChunk ? "<|endofchunk|>" : "<pad>";
    } else {
      run.push_back(clip_ids_[static_cast<std::size_t>(id - kSpecials)]);
    }
  }
  flush();
  return out;
}

torch::Tensor VlmVocab::sequence(const ClipTokenizer& tok, const std::vector<std::string>& texts) const {
  std::vector<std::int64_t> ids;
  for (const auto& t : texts) {
    ids.push_back(kImage);
    auto e = encode(tok, t, "text");
    ids.insert(ids.end(), e.begin(), e.end());
    ids.push_back(kEndOfChunk);
  }
  return torch::tensor(ids, torch::kInt64);
}

// ---- parts ----------------------------------------------------------------------------------------

VlmFeedForwardImpl::VlmFeedForwardImpl(std::int64_t dim, double mult) {
  const auto inner = static_cast<std::int64_t>(std::llround(static_cast<double>(dim) * mult));
  norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim})));
  fc1 = register_module("fc1", torch::nn::Linear(torch::nn::LinearOptions(dim, inner).bias(false)));
  fc2 = register_module("fc2", torch::nn::Linear(torch::nn::LinearOptions(inner, dim).bias(false)));
}

torch::Tensor VlmFeedForwardImpl::forward(const torch::Tensor& x) { return fc2(torch::gelu(fc1(norm(x)))); }

namespace {
heads::MultiHeadAttentionOptions no_bias_attention(std::int64_t dim, std::int64_t heads) {
  if (heads <= 0 || dim % heads) throw core::InputError("vlm: width " + std::to_string(dim) + " does not split into " + std::to_string(heads) + " heads");
  return heads::MultiHeadAttentionOptions(dim, heads).qkv_bias(false).out_bias(false);
}
}  // namespace

PerceiverResamplerImpl::PerceiverResamplerImpl(std::int64_t dim, std::int64_t n_latents, std::int64_t n_layers, std::int64_t heads,
                                               double mlp_ratio) {
  latents = register_parameter("latents", torch::randn({n_latents, dim}));
  norm_media = register_module("norm_media", torch::nn::ModuleList());
  norm_latents = register_module("norm_latents", torch::nn::ModuleList());
  attn = register_module("attn", torch::nn::ModuleList());
  ff = register_module("ff", torch::nn::ModuleList());
  for (std::int64_t i = 0; i < n_layers; ++i) {
    norm_media->push_back(torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim})));
    norm_latents->push_back(torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim})));
    attn->push_back(heads::MultiHeadAttention(no_bias_attention(dim, heads)));
    ff->push_back(VlmFeedForward(dim, mlp_ratio));
  }
  norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim})));
}

torch::Tensor PerceiverResamplerImpl::forward(const torch::Tensor& x) {
  const auto B = x.size(0);
  auto lat = latents.unsqueeze(0).expand({B, latents.size(0), latents.size(1)});
  for (std::size_t i = 0; i < attn->size(); ++i) {
    auto m = norm_media[i]->as<torch::nn::LayerNorm>()->forward(x);
    auto l = norm_latents[i]->as<torch::nn::LayerNorm>()->forward(lat);
    heads::AttentionArgs args;
    args.context = torch::cat({m, l}, 1);  // Flamingo: keys and values from the media and the latents
    lat = lat + attn[i]->as<heads::MultiHeadAttention>()->forward(l, args);
    lat = lat + ff[i]->as<VlmFeedForward>()->forward(lat);
  }
  return norm(lat);
}

GatedCrossAttentionImpl::GatedCrossAttentionImpl(std::int64_t dim, std::int64_t media_dim, std::int64_t heads, double mlp_ratio, double gate_init) {
  norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim})));
  attn = register_module("attn", heads::MultiHeadAttention(no_bias_attention(dim, heads).kv_dim(media_dim)));
  ff = register_module("ff", VlmFeedForward(dim, mlp_ratio));
  attn_gate = register_parameter("attn_gate", torch::full({1}, gate_init));
  ff_gate = register_parameter("ff_gate", torch::full({1}, gate_init));
}

torch::Tensor GatedCrossAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& media, const torch::Tensor& media_bias,
                                               const torch::Tensor& has_media) {
  heads::AttentionArgs args;
  args.context = media;
  args.attn_bias = media_bias;
  auto a = attn(norm(x), args) * has_media.unsqueeze(-1).to(x.dtype());
  auto h = x + torch::tanh(attn_gate) * a;
  return h + torch::tanh(ff_gate) * ff(h);
}

VlmDecoderLayerImpl::VlmDecoderLayerImpl(std::int64_t dim, std::int64_t heads, double mlp_ratio, heads::PositionalTermPtr positional) {
  const auto inner = static_cast<std::int64_t>(std::llround(static_cast<double>(dim) * mlp_ratio));
  ln_1 = register_module("ln_1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim})));
  ln_2 = register_module("ln_2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim})));
  if (heads <= 0 || dim % heads) throw core::InputError("vlm: lm_width " + std::to_string(dim) + " does not split into " + std::to_string(heads) + " heads");
  attn = register_module("attn", heads::MultiHeadAttention(heads::MultiHeadAttentionOptions(dim, heads).causal(true), positional));
  fc1 = register_module("fc1", torch::nn::Linear(dim, inner));
  fc2 = register_module("fc2", torch::nn::Linear(inner, dim));
}

torch::Tensor VlmDecoderLayerImpl::forward(const torch::Tensor& x) {
  auto h = x + attn(ln_1(x));
  return h + fc2(torch::gelu(fc1(ln_2(h))));
}

// ---- the model --------------------------------------------------------------------------------------

VlmImpl::VlmImpl(const VlmOptions& o, const VlmVocab& v) : options(o), vocab_(v) {
  auto positive = [](std::int64_t value, const char* key) {
    if (value <= 0) throw core::InputError(std::string("vlm: ") + key + " must be positive, got " + std::to_string(value));
  };
  positive(o.latents(), "latents");
  positive(o.lm_layers(), "lm_layers");
  positive(o.context_length(), "context_length");
  positive(o.xattn_every(), "xattn_every");
  if (o.lm_pe() != "rope" && o.lm_pe() != "learned") throw core::InputError("vlm: lm_pe '" + o.lm_pe() + "' is not one of rope, learned");
  ClipOptions co;
  co.image_size(o.image_size()).patch_size(o.patch_size()).vision_width(o.vision_width()).vision_layers(o.vision_layers());
  co.vision_heads(o.vision_heads()).mlp_ratio(o.mlp_ratio()).embed_dim(1);  // OpenAI's QuickGELU, so that a CLIP tower (clip train) can start it
  visual = register_module("visual", ClipVisionTransformer(co));
  visual->proj.set_requires_grad(false);  // CLIP's pooled projection: the VLM reads the patch tokens
  resampler = register_module("resampler", PerceiverResampler(o.vision_width(), o.latents(), o.resampler_layers(),
                                                                o.resampler_heads(), o.mlp_ratio()));
  const auto D = o.lm_width();
  token_embedding = register_module("token_embedding", torch::nn::Embedding(v.size(), D));
  {
    torch::NoGradGuard ng;
    token_embedding->weight.normal_(0, 0.02);  // tied with the output layer
  }
  heads::PositionalTermPtr rope;
  if (o.lm_pe() == "rope") {
    if (o.lm_heads() <= 0 || D % o.lm_heads() || (D / o.lm_heads()) % 2)
      throw core::InputError("vlm: lm_width / lm_heads must be an even head width for RoPE");
    rope = heads::RoPE1D(heads::RoPE1DOptions(D / o.lm_heads())).ptr();
  } else {
    positional_embedding = register_parameter("positional_embedding", torch::randn({o.context_length(), D}) * 0.02);
  }
  xattn = register_module("xattn", torch::nn::ModuleList());
  layers = register_module("layers", torch::nn::ModuleList());
  for (std::int64_t i = 0; i < o.lm_layers(); ++i) {
    if (i % o.xattn_every() == 0) xattn->push_back(GatedCrossAttention(D, o.vision_width(), o.lm_heads(), o.mlp_ratio(), o.gate_init()));
    layers->push_back(VlmDecoderLayer(D, o.lm_heads(), o.mlp_ratio(), rope));
  }
  ln_final = register_module("ln_final", torch::nn::LayerNorm(torch::nn::LayerNormOptions({D})));
  vocab = register_buffer("vocab", v.table());
}

torch::Tensor VlmImpl::vision_tokens(const torch::Tensor& images, const torch::Tensor& prompts) {
  const auto S = options.image_size();
  if (!images.defined() || images.dim() != 4 || images.size(1) != 3 || images.size(2) != S || images.size(3) != S)
    throw core::InputError("vlm: images must be [B, 3, " + std::to_string(S) + ", " + std::to_string(S) + "], got " +
                           (images.defined() ? vlm_shape(images) : std::string("undefined")));
  auto x = visual->embed(images);
  if (prompts.defined()) {
    const auto B = x.size(0);
    x = torch::cat({x.narrow(1, 0, 1), prompts.unsqueeze(0).expand({B, prompts.size(0), prompts.size(1)}).to(x.dtype()), x.narrow(1, 1, x.size(1) - 1)}, 1);
  }
  x = visual->transformer(x, false);
  const auto skip = 1 + (prompts.defined() ? prompts.size(0) : 0);
  return visual->ln_post(x.narrow(1, skip, x.size(1) - skip));
}

torch::Tensor VlmImpl::resample(const torch::Tensor& tokens) { return resampler(tokens); }

torch::Tensor VlmImpl::media_index(const torch::Tensor& ids) { return ids.eq(VlmVocab::kImage).to(torch::kInt64).cumsum(1) - 1; }

torch::Tensor VlmImpl::lm_logits(const torch::Tensor& ids, const torch::Tensor& media) {
  if (ids.dim() != 2 || ids.scalar_type() != torch::kInt64) throw core::InputError("vlm: token ids must be int64 [B, T], got " + vlm_shape(ids));
  const auto B = ids.size(0), T = ids.size(1);
  if (media.dim() != 4 || media.size(0) != B || media.size(3) != options.vision_width())
    throw core::InputError("vlm: media must be [" + std::to_string(B) + ", M, latents, " + std::to_string(options.vision_width()) + "], got " +
                           vlm_shape(media));
  if (positional_embedding.defined() && T > options.context_length())
    throw core::InputError("vlm: " + std::to_string(T) + " tokens exceed the learned table's context of " + std::to_string(options.context_length()));
  const auto M = media.size(1), L = media.size(2);
  auto idx = media_index(ids);
  if (idx.max().item<std::int64_t>() >= M)
    throw core::InputError("vlm: a row has more <image> tokens than the " + std::to_string(M) + " images given");
  auto x = token_embedding(ids);
  if (positional_embedding.defined()) x = x + positional_embedding.narrow(0, 0, T).unsqueeze(0);
  // Each token reads the latents of its own (most recent) image; tokens before any image read
  // nothing (their output is zeroed; letting them attend everywhere first keeps softmax finite).
  auto key_image = torch::arange(M, idx.options()).repeat_interleave(L);  // [M*L]
  auto has = idx.ge(0);
  auto allowed = idx.unsqueeze(-1).eq(key_image.view({1, 1, -1})) | has.logical_not().unsqueeze(-1);
  auto bias = torch::zeros({B, 1, T, M * L}, x.options()).masked_fill(allowed.logical_not().unsqueeze(1), -std::numeric_limits<float>::infinity());
  auto flat = media.reshape({B, M * L, media.size(3)}).to(x.dtype());
  const auto every = options.xattn_every();
  for (std::size_t i = 0; i < layers->size(); ++i) {
    if (static_cast<std::int64_t>(i) % every == 0)
      x = xattn[i / static_cast<std::size_t>(every)]->as<GatedCrossAttention>()->forward(x, flat, bias, has);
    x = layers[i]->as<VlmDecoderLayer>()->forward(x);
  }
  return torch::matmul(ln_final(x), token_embedding->weight.t());
}

torch::Tensor VlmImpl::forward(const torch::Tensor& images, const torch::Tensor& ids) {
  return lm_logits(ids, resample(vision_tokens(images)).unsqueeze(1));
}

std::vector<GatedCrossAttention> VlmImpl::cross_attention_blocks() const {
  std::vector<GatedCrossAttention> out;
  for (const auto& m : *xattn) out.push_back(GatedCrossAttention(std::dynamic_pointer_cast<GatedCrossAttentionImpl>(m)));
  return out;
}

// ---- presets, files ---------------------------------------------------------------------------------
namespace {

struct VlmPreset {
  VlmModelInfo info;
  VlmOptions options;
};

const std::vector<VlmPreset>& vlm_presets() {
  static const std::vector<VlmPreset> rows = {
      {{"vlm_micro_32", "32 px scenes on 2 CPU cores: patch 4 (8 x 8 grid), ViT 2 x 64; resampler 1 layer, 16 latents; LM 2 x 64 (2 heads, RoPE)"},
       VlmOptions().image_size(32).patch_size(4).vision_width(64).vision_layers(2).vision_heads(1).latents(16).resampler_layers(1)
           .resampler_heads(1).lm_width(64).lm_layers(2).lm_heads(2).context_length(48)},
      {{"vlm_tiny_64", "64 px scenes: patch 8 (8 x 8 grid), ViT 4 x 128; resampler 2 layers, 32 latents; LM 3 x 128 (2 heads, RoPE)"},
       VlmOptions().image_size(64).patch_size(8).vision_width(128).vision_layers(4).vision_heads(2).latents(32).resampler_layers(2)
           .resampler_heads(2).lm_width(128).lm_layers(3).lm_heads(2).context_length(64)},
      {{"vlm_small_64", "64 px scenes on a GPU: patch 4 (16 x 16 grid, as OpenFlamingo's ViT-L/14 at 224), ViT 6 x 256; resampler 2 layers, "
        "64 latents; LM 6 x 384 (6 heads, RoPE)"},
       VlmOptions().image_size(64).patch_size(4).vision_width(256).vision_layers(6).vision_heads(4).latents(64).resampler_layers(2)
           .resampler_heads(4).lm_width(384).lm_layers(6).lm_heads(6).context_length(160)},
  };
  return rows;
}

std::int64_t vlm_meta_int(const core::Metadata& m, const std::string& key, const std::string& source) {
  auto it = m.find(key);
  if (it == m.end()) throw core::InputError(source + ": metadata '" + key + "' is missing (not a VLM file of `vlm train`?)");
  try {
    std::size_t used = 0;
    const auto v = std::stoll(it->second, &used);
    if (used != it->second.size()) throw std::invalid_argument("trailing");
    return v;
  } catch (const std::exception&) {
    throw core::InputError(source + ": metadata '" + key + "' is not an integer: '" + it->second + "'");
  }
}

}  // namespace

const std::vector<VlmModelInfo>& list_vlm_models() {
  static const std::vector<VlmModelInfo> out = [] {
    std::vector<VlmModelInfo> v;
    for (const auto& p : vlm_presets()) v.push_back(p.info);
    return v;
  }();
  return out;
}

VlmOptions vlm_preset(const std::string& name) {
  std::string valid;
  for (const auto& p : vlm_presets()) {
    if (p.info.name == name) return p.options;
    valid += (valid.empty() ? "" : ", ") + p.info.name;
  }
  throw core::InputError("vlm model '" + name + "' is unknown (valid: " + valid + ")");
}

Vlm create_vlm(const std::string& name, const VlmVocab& vocab, const std::function<void(VlmOptions&)>& adjust) {
  auto o = vlm_preset(name);
  if (adjust) adjust(o);
  return Vlm(o, vocab);
}

core::Metadata vlm_metadata(const VlmOptions& o) {
  char ratio[32];
  std::snprintf(ratio, sizeof ratio, "%.17g", o.mlp_ratio());
  return {{"format", "pesuite-vlm"},
          {"image_size", std::to_string(o.image_size())},
          {"patch_size", std::to_string(o.patch_size())},
          {"vision_width", std::to_string(o.vision_width())},
          {"vision_layers", std::to_string(o.vision_layers())},
          {"vision_heads", std::to_string(o.vision_heads())},
          {"latents", std::to_string(o.latents())},
          {"resampler_layers", std::to_string(o.resampler_layers())},
          {"resampler_heads", std::to_string(o.resampler_heads())},
          {"lm_width", std::to_string(o.lm_width())},
          {"lm_layers", std::to_string(o.lm_layers())},
          {"lm_heads", std::to_string(o.lm_heads())},
          {"context_length", std::to_string(o.context_length())},
          {"lm_pe", o.lm_pe()},
          {"xattn_every", std::to_string(o.xattn_every())},
          {"mlp_ratio", ratio}};
}

VlmOptions vlm_options_from_metadata(const core::Metadata& m, const std::string& source) {
  auto fmt = m.find("format");
  if (fmt == m.end() || fmt->second != "pesuite-vlm")
    throw core::InputError(source + ": not a VLM file (metadata 'format' is not 'pesuite-vlm')");
  VlmOptions o;
  o.image_size(vlm_meta_int(m, "image_size", source)).patch_size(vlm_meta_int(m, "patch_size", source));
  o.vision_width(vlm_meta_int(m, "vision_width", source)).vision_layers(vlm_meta_int(m, "vision_layers", source));
  o.vision_heads(vlm_meta_int(m, "vision_heads", source)).latents(vlm_meta_int(m, "latents", source));
  o.resampler_layers(vlm_meta_int(m, "resampler_layers", source)).resampler_heads(vlm_meta_int(m, "resampler_heads", source));
  o.lm_width(vlm_meta_int(m, "lm_width", source)).lm_layers(vlm_meta_int(m, "lm_layers", source)).lm_heads(vlm_meta_int(m, "lm_heads", source));
  o.context_length(vlm_meta_int(m, "context_length", source)).xattn_every(vlm_meta_int(m, "xattn_every", source));
  auto pe = m.find("lm_pe");
  if (pe == m.end()) throw core::InputError(source + ": metadata 'lm_pe' is missing");
  o.lm_pe(pe->second);
  auto r = m.find("mlp_ratio");
  if (r == m.end()) throw core::InputError(source + ": metadata 'mlp_ratio' is missing");
  try {
    o.mlp_ratio(std::stod(r->second));
  } catch (const std::exception&) {
    throw core::InputError(source + ": metadata 'mlp_ratio' is not a number: '" + r->second + "'");
  }
  return o;
}

void save_vlm(const std::string& path, const Vlm& model, const core::Metadata& extra) {
  auto meta = vlm_metadata(model->options);
  for (const auto& [k, v] : extra) meta[k] = v;
  core::save_module(path, *model, meta);
}

Vlm load_vlm(const std::string& path) {
  auto file = core::load_safetensors(path);
  const auto options = vlm_options_from_metadata(file.metadata, path);
  auto it = file.tensors.find("vocab");
  if (it == file.tensors.end()) throw core::InputError(path + ": tensor 'vocab' (the VLM's vocabulary) is missing");
  Vlm model(options, VlmVocab::from_table(it->second, path));
  core::load_module_state(*model, file.tensors, path);
  return model;
}

}  // namespace pesuite::vision
