// CLIP with OpenAI's parameter names: attention, blocks, towers, presets, checkpoint files.
#include "pesuite/vision/clip.h"

#include <cmath>
#include <limits>
#include <set>

#include "pesuite/core/error.h"
#include "pesuite/core/torch_compat.h"

namespace pesuite::vision {
namespace {

std::string shape_str(const torch::Tensor& t) { return c10::str(t.sizes()); }

struct Explicit {
  torch::Tensor probs, values, o;  // [B, H, N, N], [B, H, N, hd], [B, H, N, hd]
};

// softmax(q k^T / sqrt(hd) + causal mask) v with nn.MultiheadAttention's packed projection.
Explicit explicit_attention(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b, std::int64_t H,
                            bool causal) {
  const auto B = x.size(0), N = x.size(1), D = x.size(2), hd = D / H;
  auto t = at::linear(x, w, b).view({B, N, 3, H, hd}).permute({2, 0, 3, 1, 4}).unbind(0);
  auto scores = torch::matmul(t[0] * (1.0 / std::sqrt(static_cast<double>(hd))), t[1].transpose(-2, -1));
  if (causal)
    scores = scores.masked_fill(torch::ones({N, N}, x.options().dtype(torch::kBool)).triu(1),
                                -std::numeric_limits<double>::infinity());
  Explicit e;
  e.probs = torch::softmax(scores, -1);
  e.values = t[2];
  e.o = torch::matmul(e.probs, e.values);
  return e;
}

void check_tokens(const torch::Tensor& x, std::int64_t width, const char* who) {
  if (!x.defined() || x.dim() != 3 || x.size(2) != width)
    throw core::InputError(std::string(who) + ": input must be [B, N, " + std::to_string(width) + "], got " +
                     (x.defined() ? shape_str(x) : std::string("undefined")));
}

}  // namespace

// ---- attention ---------------------------------------------------------------------------------

ClipAttentionImpl::ClipAttentionImpl(std::int64_t width, std::int64_t heads) : width_(width), heads_(heads) {
  if (width <= 0 || heads <= 0 || width % heads)
    throw core::InputError("clip attention: width " + std::to_string(width) + " is not divisible by heads " + std::to_string(heads));
  // nn.MultiheadAttention's _reset_parameters: xavier-uniform in_proj, zero biases.
  in_proj_weight = register_parameter("in_proj_weight", torch::empty({3 * width, width}));
  in_proj_bias = register_parameter("in_proj_bias", torch::zeros({3 * width}));
  out_proj = register_module("out_proj", torch::nn::Linear(width, width));
  torch::NoGradGuard ng;
  torch::nn::init::xavier_uniform_(in_proj_weight);
  out_proj->bias.zero_();
}

void ClipAttentionImpl::set_intervention(const heads::HeadIntervention& intervention) {
  const auto H = heads_, hd = head_dim();
  if (intervention.keep.defined()) {
    const auto& k = intervention.keep;
    if (!((k.dim() == 1 && k.size(0) == H) || (k.dim() == 2 && k.size(1) == H)))
      throw core::InputError("clip attention intervention: keep must be [H] or [B, H] with H = " + std::to_string(H) + ", got " +
                       shape_str(k));
  }
  if (intervention.mean.defined()) {
    const auto& m = intervention.mean;
    if (!(m.dim() >= 2 && m.dim() <= 4 && m.size(-1) == hd && m.size(m.dim() == 4 ? 1 : 0) == H))
      throw core::InputError("clip attention intervention: mean must be [H, hd], [H, N, hd] or [B, H, N, hd] with H = " +
                       std::to_string(H) + ", hd = " + std::to_string(hd) + ", got " + shape_str(m));
    if (!intervention.keep.defined()) throw core::InputError("clip attention intervention: a mean needs a keep mask");
  }
  intervention_ = intervention;
}

ClipAttentionTrace ClipAttentionImpl::trace(const torch::Tensor& x, bool causal) {
  check_tokens(x, width_, "clip attention");
  auto e = explicit_attention(x, in_proj_weight, in_proj_bias, heads_, causal);
  ClipAttentionTrace t;
  t.probs = e.probs;
  t.values = e.values;
  t.out = core::linear(out_proj, e.o.transpose(1, 2).reshape({x.size(0), x.size(1), width_}));
  return t;
}

torch::Tensor ClipAttentionImpl::forward(const torch::Tensor& x, bool causal) {
  check_tokens(x, width_, "clip attention");
  const auto B = x.size(0), N = x.size(1), H = heads_, hd = head_dim();
  const auto& cap = capture_options_;
  const bool plain = !cap.probs() && !cap.head_outputs() && !cap.contributions() && !intervention_.active();
  if (plain) {  // the fused kernel on LibTorch 2.x, the matmul composition on 1.13
    auto t = at::linear(x, in_proj_weight, in_proj_bias).view({B, N, 3, H, hd}).permute({2, 0, 3, 1, 4}).unbind(0);
    auto o = core::sdpa(t[0], t[1], t[2], std::nullopt, 0.0, causal, is_training());
    return core::linear(out_proj, o.transpose(1, 2).reshape({B, N, width_}));
  }
  auto e = explicit_attention(x, in_proj_weight, in_proj_bias, H, causal);
  auto o = e.o;
  o = intervention_.apply(o);
  const bool det = cap.detach();
  auto keep_t = [det](const torch::Tensor& t) { return det ? t.detach() : t; };
  captured_.probs = cap.probs() ? keep_t(e.probs) : torch::Tensor();
  captured_.head_outputs = cap.head_outputs() ? keep_t(o) : torch::Tensor();
  captured_.contributions = cap.contributions()
                                ? keep_t(torch::einsum("bhnk,dhk->bhnd", {o, out_proj->weight.view({width_, H, hd})}))
                                : torch::Tensor();
  return core::linear(out_proj, o.transpose(1, 2).reshape({B, N, width_}));
}

// ---- MLP, block, transformer --------------------------------------------------------------------

ClipMlpImpl::ClipMlpImpl(std::int64_t width, std::int64_t hidden, const std::string& activation) {
  if (activation != "quick_gelu" && activation != "gelu")
    throw core::InputError("clip: activation must be quick_gelu or gelu, got '" + activation + "'");
  quick_gelu = activation == "quick_gelu";
  c_fc = register_module("c_fc", torch::nn::Linear(width, hidden));
  c_proj = register_module("c_proj", torch::nn::Linear(hidden, width));
}

torch::Tensor ClipMlpImpl::forward(const torch::Tensor& x) {
  auto h = core::linear(c_fc, x);
  h = quick_gelu ? h * torch::sigmoid(1.702 * h) : torch::gelu(h);
  return core::linear(c_proj, h);
}

ClipResidualBlockImpl::ClipResidualBlockImpl(std::int64_t width, std::int64_t heads, double mlp_ratio,
                                             const std::string& activation) {
  ln_1 = register_module("ln_1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({width})));
  attn = register_module("attn", ClipAttention(width, heads));
  ln_2 = register_module("ln_2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({width})));
  mlp = register_module("mlp", ClipMlp(width, static_cast<std::int64_t>(std::llround(width * mlp_ratio)), activation));
}

torch::Tensor ClipResidualBlockImpl::forward(const torch::Tensor& x, bool causal) {
  auto h = x + attn(ln_1(x), causal);
  return h + mlp(ln_2(h));
}

ClipTransformerImpl::ClipTransformerImpl(std::int64_t width, std::int64_t layers, std::int64_t heads, double mlp_ratio,
                                         const std::string& activation) {
  if (layers < 0) throw core::InputError("clip: layers must be >= 0");
  resblocks = register_module("resblocks", torch::nn::ModuleList());
  for (std::int64_t i = 0; i < layers; ++i) resblocks->push_back(ClipResidualBlock(width, heads, mlp_ratio, activation));
}

ClipResidualBlock ClipTransformerImpl::block(std::int64_t i) const {
  return ClipResidualBlock(resblocks->ptr<ClipResidualBlockImpl>(static_cast<std::size_t>(i)));
}

torch::Tensor ClipTransformerImpl::forward(const torch::Tensor& x, bool causal) {
  auto h = x;
  for (std::int64_t i = 0; i < layers(); ++i) h = block(i)->forward(h, causal);
  return h;
}

// ---- image tower --------------------------------------------------------------------------------

ClipVisionTransformerImpl::ClipVisionTransformerImpl(const ClipOptions& o) : options(o) {
  const auto W = o.vision_width(), heads = o.resolved_vision_heads();
  if (o.patch_size() <= 0 || o.image_size() <= 0 || o.image_size() % o.patch_size())
    throw core::InputError("clip: image_size " + std::to_string(o.image_size()) + " is not a multiple of patch_size " +
                     std::to_string(o.patch_size()));
  if (heads <= 0 || W % heads)
    throw core::InputError("clip: vision_width " + std::to_string(W) + " does not split into " + std::to_string(heads) + " heads");
  const auto grid = o.image_size() / o.patch_size();
  const double scale = 1.0 / std::sqrt(static_cast<double>(W));
  conv1 = register_module("conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(3, W, o.patch_size()).stride(o.patch_size()).bias(false)));
  class_embedding = register_parameter("class_embedding", torch::randn({W}) * scale);
  positional_embedding = register_parameter("positional_embedding", torch::randn({grid * grid + 1, W}) * scale);
  ln_pre = register_module("ln_pre", torch::nn::LayerNorm(torch::nn::LayerNormOptions({W})));
  transformer = register_module("transformer", ClipTransformer(W, o.vision_layers(), heads, o.mlp_ratio(), o.activation()));
  ln_post = register_module("ln_post", torch::nn::LayerNorm(torch::nn::LayerNormOptions({W})));
  proj = register_parameter("proj", torch::randn({W, o.embed_dim()}) * scale);
}

torch::Tensor ClipVisionTransformerImpl::positional_embedding_for(std::int64_t grid_h, std::int64_t grid_w) const {
  const auto G = options.image_size() / options.patch_size(), W = options.vision_width();
  if (grid_h == G && grid_w == G) return positional_embedding;
  namespace F = torch::nn::functional;
  auto img = positional_embedding.narrow(0, 1, G * G).reshape({1, G, G, W}).permute({0, 3, 1, 2});
  auto out = F::interpolate(img, F::InterpolateFuncOptions()
                                     .size(std::vector<std::int64_t>{grid_h, grid_w})
                                     .mode(torch::kBicubic)
                                     .align_corners(false)
                                     .antialias(true));
  return torch::cat({positional_embedding.narrow(0, 0, 1), out.permute({0, 2, 3, 1}).reshape({grid_h * grid_w, W})}, 0);
}

heads::TokenLayout ClipVisionTransformerImpl::layout_for(std::int64_t height, std::int64_t width) const {
  return heads::TokenLayout::grid(height / options.patch_size(), width / options.patch_size(), 1);
}

torch::Tensor ClipVisionTransformerImpl::embed(const torch::Tensor& images) {
  const auto p = options.patch_size();
  if (!images.defined() || images.dim() != 4 || images.size(1) != 3)
    throw core::InputError("clip: images must be [B, 3, H, W], got " + (images.defined() ? shape_str(images) : std::string("undefined")));
  if (images.size(2) % p || images.size(3) % p || images.size(2) == 0 || images.size(3) == 0)
    throw core::InputError("clip: image size " + std::to_string(images.size(2)) + "x" + std::to_string(images.size(3)) +
                     " is not a positive multiple of the patch size " + std::to_string(p));
  const auto B = images.size(0), W = options.vision_width(), gh = images.size(2) / p, gw = images.size(3) / p;
  auto x = conv1(images.to(conv1->weight.dtype())).reshape({B, W, gh * gw}).permute({0, 2, 1});
  x = torch::cat({class_embedding.view({1, 1, W}).expand({B, 1, W}), x}, 1);
  x = x + positional_embedding_for(gh, gw).unsqueeze(0);
  return ln_pre(x);
}

torch::Tensor ClipVisionTransformerImpl::forward(const torch::Tensor& images) {
  auto x = transformer(embed(images), false);
  return torch::matmul(ln_post(x.select(1, 0)), proj);
}

std::vector<ClipAttention> ClipVisionTransformerImpl::attention_layers() const {
  std::vector<ClipAttention> out;
  for (std::int64_t i = 0; i < transformer->layers(); ++i) out.push_back(transformer->block(i)->attn);
  return out;
}

// ---- CLIP ---------------------------------------------------------------------------------------

ClipImpl::ClipImpl(const ClipOptions& o) : options(o) {
  const auto Wt = o.text_width(), heads = o.resolved_text_heads();
  if (heads <= 0 || Wt % heads)
    throw core::InputError("clip: text_width " + std::to_string(Wt) + " does not split into " + std::to_string(heads) + " heads");
  if (o.context_length() < 2 || o.vocab_size() <= 0 || o.embed_dim() <= 0)
    throw core::InputError("clip: context_length must be >= 2, vocab_size and embed_dim > 0");
  visual = register_module("visual", ClipVisionTransformer(o));
  transformer = register_module("transformer", ClipTransformer(Wt, o.text_layers(), heads, o.mlp_ratio(), o.activation()));
  token_embedding = register_module("token_embedding", torch::nn::Embedding(o.vocab_size(), Wt));
  positional_embedding = register_parameter("positional_embedding", torch::empty({o.context_length(), Wt}));
  ln_final = register_module("ln_final", torch::nn::LayerNorm(torch::nn::LayerNormOptions({Wt})));
  text_projection = register_parameter("text_projection", torch::empty({Wt, o.embed_dim()}));
  logit_scale = register_parameter("logit_scale", torch::full({}, std::log(1.0 / 0.07)));

  // OpenAI's initialize_parameters (the text tower; the image tower keeps its module defaults).
  torch::NoGradGuard ng;
  token_embedding->weight.normal_(0.0, 0.02);
  positional_embedding.normal_(0.0, 0.01);
  const double w = static_cast<double>(Wt), L = static_cast<double>(std::max<std::int64_t>(o.text_layers(), 1));
  const double proj_std = std::pow(w, -0.5) * std::pow(2.0 * L, -0.5), attn_std = std::pow(w, -0.5),
               fc_std = std::pow(2.0 * w, -0.5);
  for (std::int64_t i = 0; i < transformer->layers(); ++i) {
    auto b = transformer->block(i);
    b->attn->in_proj_weight.normal_(0.0, attn_std);
    b->attn->out_proj->weight.normal_(0.0, proj_std);
    b->mlp->c_fc->weight.normal_(0.0, fc_std);
    b->mlp->c_proj->weight.normal_(0.0, proj_std);
  }
  text_projection.normal_(0.0, std::pow(w, -0.5));
}

torch::Tensor ClipImpl::encode_image(const torch::Tensor& images) { return visual(images); }

torch::Tensor ClipImpl::encode_text(const torch::Tensor& tokens, bool check_ids) {
  const auto ctx = options.context_length();
  if (!tokens.defined() || tokens.dim() != 2 || tokens.size(1) != ctx || tokens.is_floating_point())
    throw core::InputError("clip: text tokens must be integer [B, " + std::to_string(ctx) + "] (tokenize with context " +
                     std::to_string(ctx) + "), got " + (tokens.defined() ? shape_str(tokens) : std::string("undefined")));
  auto ids = tokens.to(token_embedding->weight.device(), torch::kInt64);
  if (check_ids && ids.numel() > 0) {
    const auto lo = ids.min().item<std::int64_t>(), hi = ids.max().item<std::int64_t>();
    if (lo < 0 || hi >= options.vocab_size())
      throw core::InputError("clip: token ids must be in [0, " + std::to_string(options.vocab_size()) + "), got " +
                       std::to_string(lo < 0 ? lo : hi));
  }
  auto x = token_embedding(ids) + positional_embedding.unsqueeze(0);
  x = ln_final(transformer(x, /*causal=*/true));
  auto eot = ids.argmax(-1);  // <|endoftext|> has the largest id of every row
  auto rows = torch::arange(ids.size(0), ids.options());
  return torch::matmul(x.index({rows, eot}), text_projection);
}

ClipOutput ClipImpl::forward(const torch::Tensor& images, const torch::Tensor& tokens) {
  ClipOutput out;
  out.image_embeds = encode_image(images);
  out.text_embeds = encode_text(tokens);
  auto i = out.image_embeds / out.image_embeds.norm(2, 1, true);
  auto t = out.text_embeds / out.text_embeds.norm(2, 1, true);
  out.logits_per_image = logit_scale.exp() * torch::matmul(i, t.t());
  return out;
}

std::vector<ClipAttention> ClipImpl::text_attention_layers() const {
  std::vector<ClipAttention> out;
  for (std::int64_t i = 0; i < transformer->layers(); ++i) out.push_back(transformer->block(i)->attn);
  return out;
}

torch::Tensor zero_shot_weights(Clip& model, const ClipTokenizer& tokenizer, const std::vector<std::string>& classnames,
                                const std::vector<std::string>& templates, bool* truncated) {
  if (classnames.empty()) throw core::InputError("zero_shot_weights: no class names");
  if (templates.empty()) throw core::InputError("zero_shot_weights: no templates");
  for (const auto& t : templates)
    if (t.find("{}") == std::string::npos) throw core::InputError("zero_shot_weights: template '" + t + "' has no {} for the class name");
  torch::NoGradGuard no_grad;
  if (truncated) *truncated = false;
  std::vector<torch::Tensor> rows;
  for (const auto& name : classnames) {
    std::vector<std::string> prompts;
    for (auto t : templates) {
      for (auto at = t.find("{}"); at != std::string::npos; at = t.find("{}", at + name.size())) t.replace(at, 2, name);
      prompts.push_back(t);
    }
    auto tok = tokenizer.tokenize(prompts, model->options.context_length());
    if (truncated && tok.any_truncated()) *truncated = true;
    auto e = model->encode_text(tok.tokens);
    e = e / e.norm(2, 1, true);
    auto m = e.mean(0);
    rows.push_back(m / m.norm());
  }
  return torch::stack(rows);
}

// ---- presets ------------------------------------------------------------------------------------
namespace {

struct Preset {
  ClipModelInfo info;
  ClipOptions options;
};

ClipOptions openai(std::int64_t embed, std::int64_t image, std::int64_t patch, std::int64_t vwidth, std::int64_t vlayers,
                   std::int64_t twidth) {
  return ClipOptions().embed_dim(embed).image_size(image).patch_size(patch).vision_width(vwidth).vision_layers(vlayers)
      .context_length(77).vocab_size(49408).text_width(twidth).text_layers(12);
}

ClipOptions scenes(std::int64_t patch, std::int64_t width, std::int64_t text_layers) {
  return ClipOptions().embed_dim(256).image_size(64).patch_size(patch).vision_width(width).vision_layers(6)
      .context_length(32).vocab_size(49408).text_width(width).text_layers(text_layers);
}

const std::vector<Preset>& presets() {
  static const std::vector<Preset> table = {
      {{"ViT-B/32", "OpenAI ViT-B/32: 224 px, patch 32, 12 x 768 (12 heads); text 12 x 512 (8 heads); embed 512"},
       openai(512, 224, 32, 768, 12, 512)},
      {{"ViT-B/16", "OpenAI ViT-B/16: 224 px, patch 16, 12 x 768 (12 heads); text 12 x 512 (8 heads); embed 512"},
       openai(512, 224, 16, 768, 12, 512)},
      {{"ViT-L/14", "OpenAI ViT-L/14: 224 px, patch 14, 24 x 1024 (16 heads); text 12 x 768 (12 heads); embed 768"},
       openai(768, 224, 14, 1024, 24, 768)},
      {{"ViT-L/14@336px", "OpenAI ViT-L/14 at 336 px (24 x 24 patches)"}, openai(768, 336, 14, 1024, 24, 768)},
      {{"clip_micro_patch8_64", "64 px scenes on a CPU: patch 8 (8 x 8 grid), 4 x 128 (2 heads); text 2 x 128, context 32; embed 128"},
       ClipOptions().embed_dim(128).image_size(64).patch_size(8).vision_width(128).vision_layers(4).context_length(32)
           .vocab_size(49408).text_width(128).text_layers(2)},
      {{"clip_tiny_patch8_64", "64 px scenes: patch 8 (8 x 8 grid), 6 x 192 (3 heads); text 4 x 192, context 32; embed 256"},
       scenes(8, 192, 4)},
      {{"clip_small_patch8_64", "64 px scenes: patch 8 (8 x 8 grid), 6 x 256 (4 heads); text 6 x 256, context 32; embed 256"},
       scenes(8, 256, 6)},
      {{"clip_small_patch4_64", "64 px scenes: patch 4 (16 x 16 grid, finer heatmaps), 6 x 256 (4 heads); text 6 x 256, context 32"},
       scenes(4, 256, 6)},
  };
  return table;
}

std::int64_t meta_int(const core::Metadata& m, const std::string& key, std::int64_t fallback, const std::string& source) {
  auto it = m.find(key);
  if (it == m.end()) return fallback;
  try {
    std::size_t used = 0;
    const auto v = std::stoll(it->second, &used);
    if (used == it->second.size()) return v;
  } catch (const std::exception&) {
  }
  throw core::InputError(source + ": metadata '" + key + "' must be an integer, got '" + it->second + "'");
}

const torch::Tensor& need(const core::TensorMap& s, const std::string& name, std::int64_t rank, const std::string& source) {
  auto it = s.find(name);
  if (it == s.end()) throw core::InputError(source + ": tensor '" + name + "' is missing (not an OpenAI-named ViT CLIP state dict?)");
  if (it->second.dim() != rank)
    throw core::InputError(source + ": tensor '" + name + "' has shape " + shape_str(it->second) + ", expected " +
                     std::to_string(rank) + " dimensions");
  return it->second;
}

std::int64_t count_layers(const core::TensorMap& s, const std::string& prefix) {
  std::set<std::int64_t> seen;
  for (const auto& [name, t] : s) {
    (void)t;
    if (name.rfind(prefix, 0) != 0) continue;
    const auto rest = name.substr(prefix.size());
    const auto dot = rest.find('.');
    try {
      seen.insert(std::stoll(rest.substr(0, dot)));
    } catch (const std::exception&) {
    }
  }
  return static_cast<std::int64_t>(seen.size());
}

}  // namespace

const std::vector<ClipModelInfo>& list_clip_models() {
  static const std::vector<ClipModelInfo> infos = [] {
    std::vector<ClipModelInfo> v;
    for (const auto& p : presets()) v.push_back(p.info);
    return v;
  }();
  return infos;
}

ClipOptions clip_preset(const std::string& name) {
  for (const auto& p : presets())
    if (p.info.name == name) return p.options;
  std::string valid;
  for (const auto& p : presets()) valid += (valid.empty() ? "" : ", ") + p.info.name;
  throw core::InputError("clip model '" + name + "' is unknown (valid: " + valid + ")");
}

Clip create_clip(const std::string& name, const std::function<void(ClipOptions&)>& adjust) {
  auto o = clip_preset(name);
  if (adjust) adjust(o);
  return Clip(o);
}

ClipOptions clip_options_from_state(const core::TensorMap& s, const core::Metadata& m, const std::string& source) {
  if (s.count("visual.layer1.0.conv1.weight") || s.count("visual.attnpool.positional_embedding"))
    throw core::InputError(source + ": a ResNet image tower (visual.layer1..., visual.attnpool) is not supported, only ViT CLIP");
  const auto& conv = need(s, "visual.conv1.weight", 4, source);
  const auto& vpos = need(s, "visual.positional_embedding", 2, source);
  const auto& tproj = need(s, "text_projection", 2, source);
  const auto& tpos = need(s, "positional_embedding", 2, source);
  const auto& tok = need(s, "token_embedding.weight", 2, source);
  const auto& lnf = need(s, "ln_final.weight", 1, source);
  ClipOptions o;
  o.vision_width(conv.size(0)).patch_size(conv.size(3));
  const auto grid = static_cast<std::int64_t>(std::llround(std::sqrt(static_cast<double>(vpos.size(0) - 1))));
  if (grid * grid + 1 != vpos.size(0))
    throw core::InputError(source + ": tensor 'visual.positional_embedding' has shape " + shape_str(vpos) +
                     ", expected [grid * grid + 1, width] (a square grid plus the class token)");
  o.image_size(grid * o.patch_size());
  o.vision_layers(count_layers(s, "visual.transformer.resblocks."));
  o.embed_dim(tproj.size(1)).context_length(tpos.size(0)).vocab_size(tok.size(0)).text_width(lnf.size(0));
  o.text_layers(count_layers(s, "transformer.resblocks."));
  const auto fc = s.find("visual.transformer.resblocks.0.mlp.c_fc.weight");
  if (fc != s.end() && fc->second.dim() == 2 && o.vision_width() > 0)
    o.mlp_ratio(static_cast<double>(fc->second.size(0)) / static_cast<double>(o.vision_width()));
  o.vision_heads(meta_int(m, "vision_heads", 0, source)).text_heads(meta_int(m, "text_heads", 0, source));
  for (const auto& [key, width, heads] : {std::tuple<const char*, std::int64_t, std::int64_t>{"vision_heads", o.vision_width(), o.vision_heads()},
                                          {"text_heads", o.text_width(), o.text_heads()}})
    if (heads == 0 && width % 64)
      throw core::InputError(source + ": width " + std::to_string(width) + " is not a multiple of 64; the head count must be in the metadata ('" +
                       key + "')");
  auto act = m.find("activation");
  if (act != m.end()) {
    if (act->second != "quick_gelu" && act->second != "gelu")
      throw core::InputError(source + ": metadata 'activation' must be quick_gelu or gelu, got '" + act->second + "'");
    o.activation(act->second);
  }
  return o;
}

core::Metadata clip_metadata(const ClipOptions& o) {
  char ratio[32];
  std::snprintf(ratio, sizeof ratio, "%.17g", o.mlp_ratio());
  return {{"format", "pesuite-clip"},
          {"embed_dim", std::to_string(o.embed_dim())},
          {"image_size", std::to_string(o.image_size())},
          {"patch_size", std::to_string(o.patch_size())},
          {"vision_width", std::to_string(o.vision_width())},
          {"vision_layers", std::to_string(o.vision_layers())},
          {"vision_heads", std::to_string(o.resolved_vision_heads())},
          {"context_length", std::to_string(o.context_length())},
          {"vocab_size", std::to_string(o.vocab_size())},
          {"text_width", std::to_string(o.text_width())},
          {"text_layers", std::to_string(o.text_layers())},
          {"text_heads", std::to_string(o.resolved_text_heads())},
          {"mlp_ratio", ratio},
          {"activation", o.activation()}};
}

Clip load_clip(const std::string& path) {
  auto file = core::load_safetensors(path);
  Clip model(clip_options_from_state(file.tensors, file.metadata, path));
  core::load_module_state(*model, file.tensors, path);
  return model;
}

void save_clip(const std::string& path, const Clip& model) { core::save_module(path, *model, clip_metadata(model->options)); }

}  // namespace pesuite::vision
